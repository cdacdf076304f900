"""The public API: evaluate's sources, check_claim, and their agreement with the engine."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mipsclaims
from mipsclaims.engine import closing_codes, evaluate_lines
from mipsclaims.specs import UnsupportedYearError
from support_engine import D, claim, counts, frame
from test_engine_properties import claims


def outcomes_of_check(check):
    return sorted(
        (m.npi, m.measure_id, m.stratum, m.outcome, tuple(m.qdcs_found)) for m in check.measures
    )


def outcomes_of_engine(lines: pl.DataFrame, year: int):
    inst = evaluate_lines(lines, year).instances
    per = (
        inst.group_by("npi", "measure_id", "stratum")
        .agg(
            pl.col("marker").unique(),
            pl.col("qdc_codes").list.explode(keep_nulls=False, empty_as_null=False).unique(),
        )
        .sort("npi", "measure_id", "stratum")
    )
    out = []
    for r in per.iter_rows(named=True):
        assert len(r["marker"]) == 1  # one claim: every instance of a measure has one marker
        qdcs = tuple(sorted(r["qdc_codes"]))
        out.append((r["npi"], r["measure_id"], r["stratum"], r["marker"][0], qdcs))
    return sorted(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([2023, 2025, 2026]).flatmap(lambda y: st.tuples(st.just(y), claims(1, y))))
def test_check_claim_agrees_with_evaluate(year_and_claims):
    year, (c,) = year_and_claims
    check = mipsclaims.check_claim(c, year)
    if c.filing_indicator != "MB":
        assert check.out_of_scope == "not_part_b" and check.measures == []
        return
    assert outcomes_of_check(check) == outcomes_of_engine(frame(c), year)
    for m in check.measures:
        assert m.missing == (m.outcome == "none")
        assert bool(m.choices) == m.missing


def _with_codes(c, codes):
    lines = list(c.lines)
    for code in codes:
        base, _, mod = code.partition("-")
        lines.append(
            lines[0].model_copy(
                update={
                    "line_number": len(lines) + 1,
                    "procedure_code": base,
                    "modifiers": [mod] if mod else [],
                }
            )
        )
    return c.model_copy(update={"lines": lines})


@pytest.mark.parametrize(
    ("lines", "dx"),
    [(["99213"], ["E1010", "M4840XA"]), (["90791"], []), (["70486"], []), (["22526"], [])],
)
def test_every_closing_choice_sets_its_meaning(lines, dx):
    # For each measure a claim misses, adding one choice's codes gives that choice's meaning.
    c = claim("A", lines, dx=dx)
    check = mipsclaims.check_claim(c, 2025)
    missing = [m for m in check.measures if m.missing]
    assert missing
    for m in missing:
        for choice in m.choices:
            again = mipsclaims.check_claim(_with_codes(c, choice.codes), 2025)
            got = {(x.measure_id, x.stratum): x.outcome for x in again.measures}
            assert got[(m.measure_id, m.stratum)] == choice.meaning, (m.measure_id, choice)


def test_closing_codes_forms_and_order():
    choices = closing_codes(2025, "24")
    assert [c.codes for c in choices if c.meaning == "met"] == [["5015F"]]
    assert [c.codes for c in choices if c.meaning == "not_met"] == [["5015F-8P"]]
    multi = closing_codes(2025, "226", "01")
    assert ["G9902", "G9906"] in [c.codes for c in multi]
    # Inverse measure 001: the most advantageous ("not met") first.
    assert closing_codes(2025, "001")[0].meaning == "not_met"
    assert closing_codes(2025, "047")[0].meaning == "met"


def test_check_claim_scope_and_phi():
    c = claim("CLM-77", ["99213"], filing="CI", patient="SECRET-MEMBER")
    check = mipsclaims.check_claim(c, 2025)
    assert check.out_of_scope == "not_part_b"
    assert "SECRET-MEMBER" not in check.model_dump_json()
    assert check.claim_ref.startswith("claim #0 (")
    other_year = mipsclaims.check_claim(claim("A", ["99213"], date=D(2024, 5, 1)), 2025)
    assert other_year.out_of_scope == "other_year"
    void = mipsclaims.check_claim(claim("A", ["99213"], frequency="8"), 2025)
    assert void.out_of_scope == "void_request"
    with pytest.raises(UnsupportedYearError, match="specs import"):
        mipsclaims.check_claim(c, 2027)


def test_evaluate_accepts_frames_lazy_frames_and_claims():
    cs = [claim("A", ["99213", "G8733"]), claim("B", ["99213"], patient="P2")]
    expected = (2, 1, 0, 0, 0, 1)
    assert counts(mipsclaims.evaluate(frame(*cs), 2025), "181") == expected
    assert counts(mipsclaims.evaluate(frame(*cs).lazy(), 2025), "181") == expected
    # Claims' own claim_seq (all 0 here) is replaced by their position.
    assert counts(mipsclaims.evaluate(cs, 2025), "181") == expected
    group = mipsclaims.evaluate(iter(cs), 2025, level="tin")
    assert counts(group, "181", npi=None) == expected
    with pytest.raises(TypeError):
        mipsclaims.evaluate([1, 2], 2025)
    with pytest.raises(ValueError, match="level must be 'tin-npi' or 'tin', not 'npi'"):
        mipsclaims.evaluate(cs, 2025, level="npi")  # type: ignore[arg-type]
    with pytest.raises(UnsupportedYearError, match="specs import"):
        mipsclaims.evaluate(cs, 2027)  # no spec until CMS publishes it and the user imports it


def test_evaluate_reads_files(tmp_path, x12_samples):
    pytest.importorskip("mipsclaims.inputs")
    paths = sorted(x12_samples.glob("*.txt"))[:2]
    result = mipsclaims.evaluate(paths, 2025)
    assert "evaluated" in result.scope["reason"].to_list()


@given(st.just(None))
@settings(max_examples=1, deadline=None)
def test_empty_input_gives_empty_tables(_):
    r = evaluate_lines(frame(), 2025)
    assert r.rows.height == 0 and r.monthly.height == 0 and r.instances.height == 0
    assert r.scope.row(0, named=True) == {"reason": "evaluated", "claims": 0, "lines": 0}
