"""Measure achievement points: every rule with hand-computed values (scoring.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipsclaims import specs
from mipsclaims.scoring import ScoringInputError, decile_points, next_decile_rate, score_rows
from mipsclaims.scoring.points import instances_to_rate
from support_scoring import NPI, TIN, frame, row

# Decile 8 starts at 73.08 and decile 9 at 82.71 (CMS submissions API example).
API_EXAMPLE = {
    "1": 0.5,
    "10": 10.0,
    "20": 20.0,
    "30": 30.0,
    "40": 40.0,
    "50": 50.0,
    "60": 60.0,
    "70": 73.08,
    "80": 82.71,
    "90": 95.0,
    "99": 100.0,
}


def one(rows, year=2025, **kw):
    [score] = score_rows(frame(*rows), year, **kw)
    return score


def test_cms_api_example_82_31_gives_8_9585():
    assert decile_points(82.31, API_EXAMPLE, inverse=False) == (8, 8.9585)


def test_lower_bounds_are_inclusive_and_top_decile_earns_10():
    assert decile_points(73.08, API_EXAMPLE, inverse=False) == (8, 8.0)
    assert decile_points(95.0, API_EXAMPLE, inverse=False) == (10, 10.0)
    assert decile_points(100.0, API_EXAMPLE, inverse=False) == (10, 10.0)


def test_decile_one_interpolates_from_zero():
    # 039 in 2025: decile 2 starts at 34.67; 17.335 is half way through decile 1.
    bench = specs.load(2025).measures["039"].benchmark
    assert decile_points(17.335, bench.percentiles, inverse=False) == (1, 1.5)
    assert decile_points(0.0, bench.percentiles, inverse=False) == (1, 1.0)


def test_repeated_bounds_are_empty_deciles():
    # 047 in 2024: every bound is 100, so 100% is decile 10 and 99% is decile 1.
    bench = specs.load(2024).measures["047"].benchmark
    assert decile_points(100.0, bench.percentiles, inverse=False) == (10, 10.0)
    assert decile_points(99.0, bench.percentiles, inverse=False) == (1, 1.99)


def test_inverse_measure_deciles_run_the_other_way():
    # 406 (inverse) in 2023: p80 = 16.67, p90 = 50, p10..p70 = 0.
    bench = specs.load(2023).measures["406"].benchmark
    assert decile_points(0.0, bench.percentiles, inverse=True) == (10, 10.0)
    # 10% -> mirrored 90 in decile 3 [83.33, 100): 3 + 6.67 / 16.67 = 3.4001
    assert decile_points(10.0, bench.percentiles, inverse=True) == (3, 3.4001)
    # 50% is on the bound of decile 2 (inclusive from below for inverse measures)
    assert decile_points(50.0, bench.percentiles, inverse=True) == (2, 2.0)
    # 60% -> mirrored 40 in decile 1 [0, 50): 1 + 40 / 50 = 1.8
    assert decile_points(60.0, bench.percentiles, inverse=True) == (1, 1.8)


def test_inverse_row_is_scored_inverse():
    # 001 2025: 5 of 30 poorly controlled = 16.67% -> 9 + (83.33 - 80) / 10 = 9.3333
    score = one([row("001", met=5, not_met=25, not_reported=10)])
    assert score.is_inverse and score.is_outcome
    assert (score.decile, score.points, score.status) == (9, 9.3333, "benchmark")
    assert score.reason == "decile 9, 9.33 points"


@pytest.mark.parametrize(
    ("measure_id", "rate", "expected"),
    [
        ("001", 10.0, (10, 10.0)),  # inverse: 10% or less earns 10
        ("001", 10.5, (9, 9.95)),
        ("001", 20.0, (9, 9.0)),
        ("001", 95.0, (1, 1.5)),
        ("236", 90.0, (10, 10.0)),  # 90% or more earns 10
        ("236", 85.0, (9, 9.5)),
        ("236", 89.99, (9, 9.999)),
        ("236", 5.0, (1, 1.5)),
    ],
)
def test_fixed_step_benchmarks(measure_id, rate, expected):
    measure = specs.load(2025).measures[measure_id]
    assert measure.benchmark.kind == "fixed-step"
    assert (
        decile_points(rate, measure.benchmark.percentiles, inverse=measure.is_inverse) == expected
    )


def test_topped_out_by_program_is_capped_at_7():
    # 128 in 2025 is topped out by program: 100% is decile 10 but earns 7.
    score = one([row("128", met=40, not_met=0)])
    assert (score.status, score.points, score.decile) == ("capped", 7.0, 10)
    assert score.reason == "capped at 7: topped out (decile 10, 10.00 points)"


def test_cap_does_not_touch_points_below_7():
    # 128 in 2025: decile 2 starts at 71.06; 20 of 40 = 50% -> 1 + 50 / 71.06 = 1.7036
    score = one([row("128", met=20, not_met=20)])
    assert (score.status, score.points) == ("benchmark", 1.7036)


def test_seven_point_cap_removed_uses_alternative_benchmark_uncapped():
    # 249 in 2025: cap removed for claims; bounds 86, 88, ... 99, 100.
    assert one([row("249", met=40, not_met=0)]).points == 10.0
    # 95% in decile 6 [94, 96): 6.5 points
    score = one([row("249", met=19, not_met=1)])
    assert (score.status, score.decile, score.points) == ("benchmark", 6, 6.5)


def test_2026_cap_removed_inverse_measure():
    # 406 in 2026: inverse, cap removed, bounds 0, 1, 2, ... (mirrored 100, 99, ...)
    score = one([row("406", met=1, not_met=199, year=2026)], year=2026)
    assert (score.decile, score.points) == (9, 9.5)


@pytest.mark.parametrize(
    ("small", "points", "reason"),
    [
        (False, 0.0, "0 points, data completeness 50.0% below 75%"),
        (True, 3.0, "3 points: small practice, data completeness 50.0% below 75%"),
    ],
)
def test_data_completeness_failure(small, points, reason):
    score = one([row("039", met=20, not_met=0, not_reported=20)], small_practice=small)
    assert (score.status, score.points, score.reason) == ("data_completeness", points, reason)


def test_2023_data_completeness_threshold_is_70_percent():
    # 28 of 40 = 70% meets in 2023 (and the rows say so).
    score = one([row("039", met=28, not_met=0, not_reported=12, year=2023)], year=2023)
    assert score.status == "benchmark"


@pytest.mark.parametrize(
    ("small", "points", "reason"),
    [
        (False, 0.0, "0 points, under 20 cases"),
        (True, 3.0, "3 points: small practice, under 20 cases"),
    ],
)
def test_case_minimum_failure(small, points, reason):
    score = one([row("039", met=19, not_met=0)], small_practice=small)
    assert (score.status, score.points, score.reason) == ("case_minimum", points, reason)


def test_exclusions_do_not_count_towards_case_minimum():
    score = one([row("039", met=15, not_met=0, exclusion=5, exception=5)])
    assert score.status == "case_minimum"


@pytest.mark.parametrize(("small", "points"), [(False, 0.0), (True, 3.0)])
def test_no_claims_benchmark(small, points):
    score = one([row("261", met=30, not_met=0)], small_practice=small)
    assert (score.status, score.points) == ("no_benchmark", points)
    assert score.reason.endswith("no claims benchmark")


def test_no_rate_when_every_reported_instance_is_excluded():
    # 18 exclusions of 20 leave 2 cases: the case minimum decides first
    score = one([row("039", met=0, not_met=0, exclusion=18, not_reported=2)], small_practice=True)
    assert (score.status, score.points) == ("case_minimum", 3.0)
    score = one([row("039", met=0, not_met=0, exception=30, meets_case_minimum=True)])
    assert (score.status, score.points) == ("no_rate", 0.0)


def test_not_submitted_earns_nothing_even_for_small_practice():
    score = one([row("039", met=0, not_met=0, not_reported=40)], small_practice=True)
    assert (score.status, score.points) == ("not_submitted", 0.0)


def _with_first_year(year: int, measure_id: str, first: int) -> specs.YearSpec:
    spec = specs.load(year)
    measure = spec.measures[measure_id].model_copy(update={"first_performance_year": first})
    return spec.model_copy(update={"measures": {**spec.measures, measure_id: measure}})


@pytest.mark.parametrize(("first", "points"), [(2025, 7.0), (2024, 5.0), (2023, 0.0)])
def test_new_measure_floor_when_complete(first, points):
    spec = _with_first_year(2025, "261", first)
    score = one([row("261", met=30, not_met=0)], spec=spec)
    assert score.points == points
    if points:
        assert score.status == "new_measure"
        assert score.reason.startswith(f"{points:g} points: new measure")


def test_new_measure_floor_needs_data_completeness_and_keeps_higher_points():
    spec = _with_first_year(2025, "039", 2025)
    incomplete = one([row("039", met=10, not_met=0, not_reported=30)], spec=spec)
    assert (incomplete.status, incomplete.points) == ("data_completeness", 0.0)
    best = one([row("039", met=40, not_met=0)], spec=spec)
    assert (best.status, best.points) == ("benchmark", 10.0)


def test_226_in_2023_scores_the_overall_stratum():
    rows = [
        row("226", met=40, not_met=0, stratum="00", year=2023),
        # overall: 80% -> decile 2 [68.18, 90.2): 2 + 11.82 / 22.02 = 2.5368
        row("226", met=32, not_met=8, stratum="01", year=2023),
        row("226", met=5, not_met=5, stratum="02", year=2023),
    ]
    for named in (False, True):
        names = ("screened", "overall", "combinedPopulations")
        given_rows = [
            {**r, "stratum_name": n if named else None} for r, n in zip(rows, names, strict=True)
        ]
        score = one(given_rows, year=2023)
        assert (score.stratum, score.decile, score.points) == ("01", 2, 2.5368)


def test_226_from_2024_splits_reporting_and_performance():
    performance = row("226", met=9, not_met=1, stratum="01", stratum_name="performance", year=2024)
    reporting = row("226", met=30, not_met=0, stratum="00", stratum_name="reporting", year=2024)
    other = row(
        "226", met=1, not_met=1, stratum="02", stratum_name="combinedPopulations", year=2024
    )
    # 90% -> 2024 decile 2 [78.17, 95.935): 2 + 11.83 / 17.765 = 2.6659
    score = one([reporting, performance, other], year=2024)
    assert (score.stratum, score.eligible_population, score.points) == ("01", 30, 2.6659)
    # performance stratum is under 20 cases, yet reporting decides the case minimum
    assert score.meets_case_minimum
    # reporting below 75% decides data completeness
    failing = row(
        "226", met=10, not_met=0, not_reported=20, stratum="00", stratum_name="reporting", year=2024
    )
    score = one([failing, performance, other], year=2024)
    assert score.status == "data_completeness"


def test_rows_are_scored_per_entity_with_group_rows():
    # group row at 50%: 039 2025 decile 2 [34.67, 54.64): 2 + 15.33 / 19.97 = 2.7677
    scores = score_rows(
        frame(row("039", met=40, not_met=0), row("039", met=20, not_met=20, npi=None)), 2025
    )
    assert {(s.tin, s.npi, s.points) for s in scores} == {(TIN, NPI, 10.0), (TIN, None, 2.7677)}


def test_bad_rows_are_refused_with_the_reason():
    good = frame(row("039", met=40, not_met=0))
    with pytest.raises(ScoringInputError, match="lack column"):
        score_rows(good.drop("not_reported"), 2025)
    with pytest.raises(ScoringInputError, match="2025, not 2024"):
        score_rows(good, 2024)
    with pytest.raises(ScoringInputError, match="999"):
        score_rows(frame(row("999", met=1, not_met=0)), 2025)


def test_next_decile_rate_and_instances_needed():
    # 039 2025 at 30/38 = 78.95%: decile 6 starts at 85.33 -> ceil(0.8533 * 38) - 30 = 3
    bench = specs.load(2025).measures["039"].benchmark
    assert next_decile_rate(30 / 38 * 100, bench.percentiles, inverse=False) == 85.33
    assert instances_to_rate(30, 8, 85.33, inverse=False) == 3
    # 001 inverse at 5/30: next decile at 10% or less -> 5 - floor(3) = 2
    bench = specs.load(2025).measures["001"].benchmark
    assert next_decile_rate(5 / 30 * 100, bench.percentiles, inverse=True) == 10.0
    assert instances_to_rate(5, 25, 10.0, inverse=True) == 2
    assert next_decile_rate(5.0, bench.percentiles, inverse=True) is None


RATES = st.floats(min_value=0, max_value=100, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(year=st.sampled_from([2023, 2024, 2025, 2026]), a=RATES, b=RATES)
def test_points_are_monotone_in_the_better_direction(year, a, b):
    for measure in specs.load(year).measures.values():
        if measure.benchmark is None:
            continue
        pct = measure.benchmark.percentiles
        lo, hi = sorted((a, b))
        worse, better = (hi, lo) if measure.is_inverse else (lo, hi)
        _, p_worse = decile_points(worse, pct, inverse=measure.is_inverse)
        _, p_better = decile_points(better, pct, inverse=measure.is_inverse)
        assert 1.0 <= p_worse <= p_better <= 10.0, measure.measure_id
