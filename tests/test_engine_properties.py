"""Hypothesis properties of the engine: counts depend on claims, not on how they arrive."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mipsclaims.engine import evaluate_lines
from support_engine import D, claim, frame

YEAR = 2025
PROCEDURES = ["99213", "90791", "92012", "22526", "70486", "97802", "88305", "78300"]
QDCS = [
    "G8733", "G8536", "G8535", "1123F", ("1123F", ["8P"]), ("1123F", ["1P"]), "G9692",
    "G8783", "G8785", "M1211", "M1371", "G2081", "G9500", "G9552", "G9554", "5015F",
    ("5015F", ["8P"]), "G9902", "G9906", "G9903", "G8431", "G8432", "G8433",
]  # fmt: skip
DX = ["E1010", "M4840XA", "M4841XA", "M4842XA", "Z0000", "F3010"]
BIRTHS = [D(1940, 5, 1), D(1960, 2, 29), D(1965, 3, 1), D(2000, 1, 1), None]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


#: 2023 adds its dropped measures (110, 111, 147, 155, 436) and ICD-10 exclusion QDCs.
EXTRA_2023 = {
    "procedures": ["90945", "78300", "92540", "70450"],
    "qdcs": ["G9991", "G9990", "3570F", ("3570F", ["8P"]), "1100F", "0518F", "G8482", "G9637"],
    "dx": ["B20", "M818", "O99345"],
}


@st.composite
def claims(draw, max_claims=8, year=YEAR):
    extra = EXTRA_2023 if year == 2023 else {"procedures": [], "qdcs": [], "dx": []}
    n = draw(st.integers(1, max_claims))
    out = []
    for i in range(n):
        procs = draw(
            st.lists(st.sampled_from(PROCEDURES + extra["procedures"]), min_size=1, max_size=2)
        )
        qdcs = draw(st.lists(st.sampled_from(QDCS + extra["qdcs"]), max_size=3))
        out.append(
            claim(
                f"C{i}",
                [*procs, *qdcs],
                date=D(year, draw(st.integers(1, 12)), draw(st.integers(1, 28))),
                dx=draw(st.lists(st.sampled_from(DX + extra["dx"]), max_size=3, unique=True)),
                patient=draw(st.sampled_from(["P1", "P2", "P3"])),
                birth=draw(st.sampled_from(BIRTHS)),
                sex=draw(st.sampled_from(["F", "M"])),
                npi=draw(st.sampled_from(["1000000001", "1000000002"])),
                filing=draw(st.sampled_from(["MB", "MB", "MB", "CI"])),
                pos=draw(st.sampled_from(["11", "02"])),
            )
        )
    return out


def sorted_rows(result) -> pl.DataFrame:
    return result.rows.sort("tin", "npi", "measure_id", "stratum", nulls_last=True)


@SETTINGS
@given(claims(), st.randoms(use_true_random=False))
def test_reordering_claims_and_lines_never_changes_counts(cs, rnd):
    base = evaluate_lines(frame(*cs), YEAR)
    shuffled = list(cs)
    rnd.shuffle(shuffled)
    lines = frame(*shuffled)
    lines = lines.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 1000))
    again = evaluate_lines(lines, YEAR)
    assert sorted_rows(again).equals(sorted_rows(base))
    assert again.monthly.height == base.monthly.height


@SETTINGS
@given(claims(), st.sampled_from(["P1", "P9"]))
def test_adding_a_non_measure_claim_never_changes_counts(cs, patient):
    base = evaluate_lines(frame(*cs), YEAR)
    extra = claim("X", ["A0021", "36415"], dx=["Z0000"], patient=patient)
    more = evaluate_lines(frame(*cs, extra), YEAR)
    assert sorted_rows(more).equals(sorted_rows(base))


@SETTINGS
@given(claims(), st.integers(0, 8))
def test_splitting_input_across_files_never_changes_counts(cs, cut):
    whole = frame(*cs)
    cut = min(cut, len(cs))
    first = frame(*[c.model_copy(update={"source": "a.837"}) for c in cs[:cut]])
    second = frame(*[c.model_copy(update={"source": "b.837"}) for c in cs[cut:]])
    second = second.with_columns(pl.col("claim_seq") + cut)
    split = pl.concat([first, second])
    assert sorted_rows(evaluate_lines(split, YEAR)).equals(sorted_rows(evaluate_lines(whole, YEAR)))


@SETTINGS
@given(claims(), st.sampled_from(["tin-npi", "tin"]))
def test_counts_add_up_and_rates_are_fractions(cs, level):
    r = evaluate_lines(frame(*cs), YEAR, level=level)
    for rows in (r.rows, r.monthly):
        total = (
            rows["performance_met"]
            + rows["performance_not_met"]
            + rows["denominator_exclusion"]
            + rows["denominator_exception"]
            + rows["not_reported"]
        )
        assert (total == rows["eligible_population"]).all()
        for col in ("data_completeness", "performance_rate"):
            values = rows[col].drop_nulls()
            assert ((values >= 0) & (values <= 1)).all()
    # Instances are the audit trail of the rows: same totals per marker.
    assert r.instances.height == int(r.rows["eligible_population"].sum())
    assert (r.instances["marker"] == "met").sum() == r.rows["performance_met"].sum()
    if level == "tin":
        assert r.rows["npi"].null_count() == r.rows.height
    # The last month of the year-to-date series is the year.
    if r.monthly.height:
        last = r.monthly.filter(pl.col("month") == r.monthly["month"].max()).drop("month")
        assert sorted_rows_frame(last).equals(sorted_rows_frame(r.rows))


def sorted_rows_frame(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.sort("tin", "npi", "measure_id", "stratum", nulls_last=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(claims(max_claims=10))
def test_monthly_series_equals_evaluating_claims_up_to_each_month(cs):
    r = evaluate_lines(frame(*cs), YEAR)
    for month in r.monthly["month"].unique().to_list():
        upto = [c for c in cs if min(sl.service_date for sl in c.lines).month <= month]
        direct = evaluate_lines(frame(*upto), YEAR).rows
        got = r.monthly.filter(pl.col("month") == month).drop("month")
        assert sorted_rows_frame(got).equals(sorted_rows_frame(direct))


@SETTINGS
@given(
    claims(max_claims=12),
    st.integers(1, 5),
    st.sampled_from(["tin-npi", "tin"]),
    st.randoms(use_true_random=False),
)
def test_facts_spilled_in_groups_of_patients_give_the_same_outputs(cs, group_claims, level, rnd):
    """Spilled to disk and counted in groups of patients (any group size), with batches
    in any order, every output is the one of the in-memory run: dtypes and order too."""
    import tempfile

    from polars.testing import assert_frame_equal

    from mipsclaims.engine import facts

    lines = frame(*cs)
    base = evaluate_lines(lines, YEAR, level=level)
    batches = lines.partition_by("claim_seq")
    rnd.shuffle(batches)
    saved = facts.SPILL_BYTES, facts.GROUP_CLAIMS, tempfile.TemporaryDirectory
    created: list[str] = []

    def recorded(*args, **kwargs):
        made = saved[2](*args, **kwargs)
        created.append(made.name)
        return made

    facts.SPILL_BYTES, facts.GROUP_CLAIMS = 0, group_claims
    tempfile.TemporaryDirectory = recorded  # type: ignore[misc]
    try:
        spilled = evaluate_lines(iter(batches), YEAR, level=level)
        for name in ("rows", "monthly", "instances", "findings", "scope"):
            assert_frame_equal(getattr(spilled, name), getattr(base, name))
    finally:
        facts.SPILL_BYTES, facts.GROUP_CLAIMS, tempfile.TemporaryDirectory = saved
    assert len(created) == 1
