"""The integer-coded phase-1 reduction equals the string-based one it replaced.

``reference_reduce`` is a frozen copy of the reduction before issue 17 item 3 (joins and
group-bys on code texts). On random canonical tables, messy on purpose (codes in lower case
or padded, irrelevant and null modifiers, several rendering NPIs per claim in interleaved
runs, lines out of order, blank keys, other years), every fact of a batch and every output
of the engine must be the same.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import schema
from mipsclaims.engine import evaluate_lines, pipeline
from mipsclaims.engine.facts import _KINDS, Reduced
from reference_reduce import reduce_reference

D = dt.date
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROCEDURES = ["99213", "90791", "92012", "22526", "70486", "97802", "88305", "78300", "99497"]
#: Quality codes of measures those procedures qualify for (and some of other years).
QDCS = ["G8733", "G8536", "G8535", "1123F", "1124F", "G9692", "G8783", "G8785", "M1211",
        "M1371", "G2081", "G9500", "G9552", "G9554", "5015F", "G9902", "G9906", "G9903",
        "G8431", "G8432", "G8433", "3570F", "G9991", "1100F", "G8427"]  # fmt: skip
OTHER = ["36415", "A0021", "XXXXX", ""]
DX = ["E1010", "E11.65", " m48.40xa", "M4840XA", "M4841XA", "Z0000", "F3010", "B20", "M81.8"]
#: Mostly no modifier; performance modifiers, exclusion modifiers, and others.
MODS = ["8P", "1P", "2P", "3P", "95", "GT", "FQ", "52", "73", "93", "GQ", "25"]


def _often(good: object, *others: object) -> st.SearchStrategy:
    """``good`` seven times in eight, else one of ``others`` (each a reason to drop a claim
    or a line, or a text to normalise)."""
    return st.sampled_from([good] * 7 * len(others) + list(others))


def _messy(code: str) -> st.SearchStrategy[str]:
    return _often(code, code.lower(), f" {code} ")


@st.composite
def line_tables(draw: st.DrawFn, year: int = 2025) -> pl.DataFrame:
    """A random canonical table of a few claims (claim fields repeated on their lines):
    mostly claims that count, some left out for every reason of scope."""
    rows = []
    for seq in range(draw(st.integers(1, 7))):
        several = st.lists(st.sampled_from(["1000000001", "1000000002", "", None]), min_size=2,
                           max_size=3)  # fmt: skip
        npis = draw(_often(["1000000001"], ["1000000002"]) | several)
        month = draw(st.integers(1, 12))
        claim = {
            "source": draw(st.sampled_from(["a.837", "b.837"])),
            "interchange_control": "000000001",
            "claim_seq": seq,
            "claim_id": draw(st.sampled_from(["C1", "C2", "C3", "C1", "", None])),
            "frequency": draw(_often("1", "7", "8", " 7", None)),
            "filing_indicator": draw(_often("MB", "mb ", "CI", None)),
            "payer_id": "X",
            "tin": draw(_often("111111111", "222222222", "", None)),
            "billing_npi": "1000000001",
            "patient_id": draw(_often("P1", "P2", "P3", "", None)),
            "patient_name": "DOE, JANE",
            "birth_date": draw(
                _often(D(1950, 5, 1), D(1960, 2, 29), D(2000, 1, 1), D(2021, 6, 30), None)
            ),
            "sex": draw(_often("F", "M", " f", "U", None)),
            "claim_pos": draw(_often("11", "02", "", None)),
            "diagnosis_codes": draw(st.lists(st.sampled_from(DX), max_size=3)),
        }
        for number in range(1, draw(st.integers(1, 5)) + 1):
            code = draw(
                st.one_of(
                    st.sampled_from(PROCEDURES).flatmap(_messy),
                    st.sampled_from(QDCS).flatmap(_messy),
                    st.sampled_from(QDCS),
                    st.sampled_from(OTHER),
                )
            )
            day = draw(_often(D(year, month, 1 + number), D(year - 1, 12, 30), None))
            mods = st.lists(st.sampled_from(MODS), min_size=1, max_size=3)
            rows.append(
                claim
                | {
                    "rendering_npi": draw(st.sampled_from(npis)),
                    "line_number": number,
                    "procedure_code": code,
                    "modifiers": draw(st.one_of(st.just([]), st.just([]), mods)),
                    "line_pos": draw(_often(None, "", "02", "11")),
                    "charge": draw(_often(0.0, 0.01, 12.5, None)),
                    "units": 1.0,
                    "service_date": day,
                    "service_date_end": day,
                    "diagnosis_pointers": [1],
                }
            )
    frame = pl.DataFrame(rows, schema=schema.CLAIM_LINE_SCHEMA, orient="row")
    if draw(st.booleans()):  # lines out of input order (a hand-built table may be)
        frame = frame.sample(fraction=1.0, shuffle=True, seed=draw(st.integers(0, 99)))
    return frame


def _canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in one order whatever the order they were built in (lists are not sort keys)."""
    frame = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    keys = [c for c, d in frame.schema.items() if not isinstance(d, pl.List)]
    return frame.sort(keys, nulls_last=True) if keys else frame


def assert_same_facts(new: Reduced, old: Reduced) -> None:
    for name in _KINDS:
        got, want = getattr(new, name), getattr(old, name)
        assert got.schema == want.schema, name
        assert_frame_equal(_canonical(got), _canonical(want))
    # The order phase 2 relies on: candidates by uid, ranks by (uid, mkey).
    assert new.claims["uid"].to_list() == list(range(new.claims.height))
    assert_frame_equal(new.claims, old.claims, categorical_as_str=True)
    assert_frame_equal(new.markers, old.markers)


#: A year and a random table dated in it (2023 has ICD-10 quality codes and more measures).
YEAR_TABLES = st.sampled_from([2025, 2023]).flatmap(
    lambda year: st.tuples(st.just(year), line_tables(year))
)


@SETTINGS
@given(YEAR_TABLES)
def test_reduction_equals_the_string_based_reference(year_lines):
    year, lines = year_lines
    t = pipeline._year_tables(year)
    assert_same_facts(pipeline._reduce(lines, year, t), reduce_reference(lines, year, t))


@SETTINGS
@given(YEAR_TABLES, st.sampled_from(["tin-npi", "tin"]))
def test_engine_results_equal_the_reference_reduction(year_lines, level):
    year, lines = year_lines
    new = evaluate_lines(lines, year, level=level)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "_reduce", reduce_reference)
        old = evaluate_lines(lines, year, level=level)
    for name in ("rows", "scope", "instances", "findings", "monthly"):
        assert_frame_equal(getattr(new, name), getattr(old, name))


def test_a_hand_built_batch_has_markers_and_findings_in_both():
    """Not vacuous: eligibility, a marker and findings are there, the same in both."""
    lines = _sample_table()
    t = pipeline._year_tables(2025)
    r = reduce_reference(lines, 2025, t)
    assert r.markers.height > 0 and r.markers["rank"].max() > 0
    kinds = {"qdc_nonzero_charge", "wasted_qdc", "conflicting_qdc"}
    assert set(r.findings["kind"].cast(pl.String)) >= kinds
    assert_same_facts(pipeline._reduce(lines, 2025, t), r)


def _sample_table() -> pl.DataFrame:
    """Hand-built: an elder-maltreatment screen (181) met by a charged QDC and excepted by
    another (a conflict); a wasted QDC."""
    base = {
        "source": "s.837", "interchange_control": "1", "claim_id": "C", "frequency": "1",
        "filing_indicator": "MB", "payer_id": "X", "tin": "111111111",
        "billing_npi": "1000000001", "rendering_npi": "1000000001", "patient_id": "P1",
        "patient_name": "DOE, JANE", "birth_date": D(1950, 1, 1), "sex": "F", "claim_pos": "11",
        "units": 1.0, "service_date": D(2025, 3, 1), "service_date_end": D(2025, 3, 1),
        "diagnosis_pointers": [1], "line_pos": None,
    }  # fmt: skip
    rows = [
        base | {"claim_seq": 0, "diagnosis_codes": ["E1010"], "line_number": 1,
                "procedure_code": "92012", "modifiers": [], "charge": 80.0},
        base | {"claim_seq": 0, "diagnosis_codes": ["E1010"], "line_number": 2,
                "procedure_code": "G8733", "modifiers": [], "charge": 5.0},
        base | {"claim_seq": 0, "diagnosis_codes": ["E1010"], "line_number": 3,
                "procedure_code": "G8535", "modifiers": [], "charge": 0.0},
        base | {"claim_seq": 1, "diagnosis_codes": [], "line_number": 1,
                "procedure_code": "36415", "modifiers": [], "charge": 3.0},
        base | {"claim_seq": 1, "diagnosis_codes": [], "line_number": 2,
                "procedure_code": "G8536", "modifiers": [], "charge": 0.0},
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=schema.CLAIM_LINE_SCHEMA, orient="row")


def test_interleaved_rendering_npis_make_one_split_each_in_npi_order():
    """Lines A B A of one claim: two splits, numbered by NPI; out-of-order lines sorted."""
    base = _sample_table().head(1)
    rows = [
        base.with_columns(
            pl.lit(seq, dtype=pl.Int64).alias("claim_seq"),
            pl.lit(npi).alias("rendering_npi"),
            pl.lit(number, dtype=pl.Int32).alias("line_number"),
            pl.lit(D(2025, 3, day)).alias("service_date"),
        )
        for seq, npi, number, day in [
            (0, "1000000009", 1, 9),
            (0, "1000000001", 2, 4),
            (0, "1000000009", 3, 2),
            (1, "1000000005", 1, 7),
        ]
    ]
    lines = pl.concat(rows)
    t = pipeline._year_tables(2025)
    for table in (lines, lines.reverse()):
        new = pipeline._reduce(table, 2025, t)
        assert new.claims.select("uid", "claim_seq", pl.col("npi").cast(pl.String)).rows() == [
            (0, 0, "1000000001"),
            (1, 0, "1000000009"),
            (2, 1, "1000000005"),
        ]
        assert new.claims["claim_date"].to_list() == [D(2025, 3, 4), D(2025, 3, 2), D(2025, 3, 7)]
        assert new.claims["n_lines"].to_list() == [1, 2, 1]
        assert new.keys.sort("claim_seq")["n_lines"].to_list() == [3, 1]
        assert_same_facts(new, reduce_reference(table, 2025, t))


def test_code_ids_cast_texts_as_given_and_normalise_only_misses():
    from mipsclaims.engine.codes import as_code, code_ids
    from mipsclaims.engine.scope import _normal_code, _normal_dx

    ids = code_ids(2025)
    codes = pl.Series(["99213", " g8733 ", "36415", "", None, "1123f"])
    got = as_code(codes, ids.enum, _normal_code).cast(pl.String).to_list()
    assert got == ["99213", "G8733", None, None, None, "1123F"]  # 36415: no code of 2025
    dx = pl.Series(["E10.10", " e1010", "Z00.00", "E1010"])
    assert as_code(dx, ids.enum, _normal_dx).cast(pl.String).to_list() == [
        "E1010", "E1010", None, "E1010"
    ]  # fmt: skip
    # Modifier bits in sort order: the lowest performance bit is the first in sort order.
    perf = [ids.mod_bits[m] for m in ("1P", "2P", "3P", "8P")]
    assert perf == sorted(perf) and len(set(ids.mod_bits.values())) == len(ids.mod_bits)
    assert ids.is_qdc[ids.enum.categories.to_list().index("G8733")]
    assert ids.is_denominator[ids.enum.categories.to_list().index("99213")]
