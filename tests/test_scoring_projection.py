"""Projection: weights, final score, threshold zone, payment adjustment, levers, coverage."""

from __future__ import annotations

import polars as pl
import pytest

from mipsclaims.engine.result import FINDING_SCHEMA, INSTANCE_SCHEMA, SCOPE_SCHEMA, EngineResult
from mipsclaims.scoring import (
    ScoringOptions,
    category_weights,
    payment_adjustment,
    score,
    score_result,
    score_results,
    zone,
)
from support_scoring import NPI, TIN, frame, perfect, row


@pytest.mark.parametrize(
    ("small", "cost", "pi", "expected"),
    [
        (True, True, True, (30, 30, 15, 25)),
        (True, False, True, (55, 0, 15, 30)),
        (True, True, False, (40, 30, 30, 0)),
        (True, False, False, (50, 0, 50, 0)),
        (False, True, True, (30, 30, 15, 25)),
        (False, False, True, (55, 0, 15, 30)),
        (False, True, False, (55, 30, 15, 0)),
        (False, False, False, (85, 0, 15, 0)),
    ],
)
def test_weight_tables(small, cost, pi, expected):
    weights = category_weights(small_practice=small, cost_scored=cost, pi_scored=pi)
    assert tuple(weights.values()) == expected
    assert sum(weights.values()) == 100


@pytest.mark.parametrize(
    ("score_", "margin", "expected"),
    [
        (74.99, 0, "at_risk"),
        (75.0, 0, "neutral"),
        (75.01, 0, "safe"),
        (69.99, 5, "at_risk"),
        (70.0, 5, "neutral"),
        (80.0, 5, "neutral"),
        (80.01, 5, "safe"),
    ],
)
def test_zone_edges(score_, margin, expected):
    assert zone(score_, 75.0, margin) == expected


@pytest.mark.parametrize(
    ("final", "direction", "before"),
    [
        (74.99, "negative", -0.0016),  # -9 * 0.01 / 56.25
        (75.0, "neutral", 0.0),
        (75.01, "positive", 0.0036),  # 9 * 0.01 / 25
        (50.0, "negative", -4.0),  # -9 * 25 / 56.25
        (18.75, "negative", -9.0),  # a quarter of the threshold
        (0.0, "negative", -9.0),
        (100.0, "positive", 9.0),
    ],
)
def test_payment_adjustment(final, direction, before):
    adj = payment_adjustment(final, 2025, 75.0)
    assert (adj.direction, adj.percent_before_scaling, adj.payment_year) == (
        direction,
        before,
        2027,
    )
    if direction == "positive":
        assert adj.percent is None  # unknown until CMS sets the scaling factor
        assert payment_adjustment(final, 2025, 75.0, 0.25).percent == round(before * 0.25, 4)
    else:
        assert adj.percent == before


SIX_PERFECT = [
    perfect("001", inverse=True),  # outcome
    perfect("039"),
    perfect("112"),
    perfect("145"),
    perfect("236"),
    perfect("405"),
]


def project(rows, **options):
    report = score(frame(*rows), 2025, ScoringOptions(**options))
    return {(p.tin, p.npi): p for p in report.projections}


@pytest.mark.parametrize(
    ("cost", "pi", "final", "expected_zone", "direction"),
    [
        (99.9, 0.08, 74.99, "at_risk", "negative"),  # 30 + 29.97 + 15 + 0.02
        (100.0, 0.0, 75.0, "neutral", "neutral"),  # 30 + 30 + 15 + 0
        (100.0, 0.04, 75.01, "safe", "positive"),  # 30 + 30 + 15 + 0.01
    ],
)
def test_final_score_threshold_edges_end_to_end(cost, pi, final, expected_zone, direction):
    p = project(SIX_PERFECT, ia_points=40, cost_score=cost, pi_score=pi, margin=0)[(TIN, NPI)]
    assert p.quality.score == 100.0
    assert p.weights_situation == "all four scored"
    assert p.final_score == final
    assert (p.zone, p.adjustment.direction) == (expected_zone, direction)


def test_small_practice_projection_by_hand():
    # 039 at 50% (2.7677) and 001 at 16.67% (9.3333), small: (12.1010 + 6) / 60 = 30.1683%
    rows = [row("039", met=20, not_met=20), row("001", met=5, not_met=25, not_reported=10)]
    p = project(rows, small_practice=True, ia_points=20)[(TIN, NPI)]
    assert p.quality.score == pytest.approx(30.1683, abs=1e-4)
    # no cost and no PI, small: 50 / 0 / 50 / 0; IA 20 of 40 = 50%
    assert p.weights_situation == "no cost and no PI"
    assert p.final_score == pytest.approx(30.1683 * 0.5 + 50 * 0.5, abs=1e-3)
    assert p.zone == "at_risk"
    assert any("cost not given" in a for a in p.assumptions)


def test_missing_ia_is_assumed_zero_and_said_so():
    p = project(SIX_PERFECT)[(TIN, NPI)]
    # large, no cost, no PI: 85 x 100% + 15 x 0
    assert p.final_score == 85.0
    assert any("improvement activities not given" in a for a in p.assumptions)


def test_group_and_individual_entities_are_projected_separately():
    rows = [perfect("039"), perfect("039", npi=None), perfect("039", npi="2222222222")]
    projections = project(rows)
    assert set(projections) == {(TIN, NPI), (TIN, "2222222222"), (TIN, None)}


def test_levers_rank_what_moves_the_score_most():
    rows = [
        # 039 at 30/38: next decile at 85.33% needs 3 more met; 5.1433 -> 6
        row("039", met=30, not_met=8, not_reported=2),
        # 001 at 5/30: next decile at <= 10% needs 2 fewer poorly controlled; 9.3333 -> 10
        row("001", met=5, not_met=25, not_reported=10),
        # 112 at 50% data completeness: 10 more instances reach 75%
        row("112", met=20, not_met=0, not_reported=20),
    ]
    p = project(rows, ia_points=40)[(TIN, NPI)]
    by_kind = {(lv.measure_id, lv.kind): lv for lv in p.levers}
    dc = by_kind[("112", "data_completeness")]
    assert dc.instances_needed == 10
    assert (dc.measure_points_before, dc.measure_points_after) == (0.0, 10.0)
    # large, no cost, no PI: 10 points of 60 at 85% weight = +14.1667
    assert dc.final_score_gain == pytest.approx(14.1667, abs=1e-3)
    decile = by_kind[("039", "next_decile")]
    assert (decile.instances_needed, decile.measure_points_after) == (3, 6.0)
    assert by_kind[("001", "next_decile")].instances_needed == 2
    assert p.levers[0].measure_id == "112"
    gains = [lv.final_score_gain for lv in p.levers]
    assert gains == sorted(gains, reverse=True)


def test_case_minimum_lever():
    p = project([row("039", met=15, not_met=0)])[(TIN, NPI)]
    [lever] = p.levers
    assert (lever.kind, lever.instances_needed, lever.measure_points_after) == (
        "case_minimum",
        5,
        10.0,
    )


def test_capped_measure_at_7_has_no_lever():
    p = project([row("128", met=40, not_met=0)])[(TIN, NPI)]
    assert p.levers == []


def test_year_to_date_coverage_is_stated():
    p = project([perfect("039")], through_month=6)[(TIN, NPI)]
    assert p.coverage.months_covered == 6 and p.coverage.is_full_year is False
    assert "through June 2025 (6 of 12 months)" in p.coverage.statement
    assert p.coverage.benchmark_years == [2023]
    assert "built from 2023 data" in p.coverage.statement
    unknown = project([perfect("039")])[(TIN, NPI)]
    assert unknown.coverage.is_full_year is None
    assert "Months covered unknown" in unknown.coverage.statement


def _result(rows: pl.DataFrame, months: tuple[int, ...], *, year: int = 2025, level="tin-npi"):
    """An engine result of hand-made rows, with a monthly series of ``months``."""
    monthly = pl.concat(
        [rows.with_columns(pl.lit(m, dtype=pl.Int8).alias("month")) for m in months]
    )
    return EngineResult(
        year=year,
        level=level,
        rows=rows,
        monthly=monthly,
        instances=pl.DataFrame(schema=INSTANCE_SCHEMA),
        findings=pl.DataFrame(schema=FINDING_SCHEMA),
        scope=pl.DataFrame(schema=SCOPE_SCHEMA),
    )


def test_score_result_takes_year_and_months_from_the_result():
    report = score_result(_result(frame(perfect("039")), (1, 2, 3)))
    assert report.performance_year == 2025
    assert report.projections[0].coverage.through_month == 3
    assert report.projections[0].coverage.performance_year == 2025
    given = score_result(_result(frame(perfect("039")), (1, 2)), ScoringOptions(through_month=9))
    assert given.projections[0].coverage.through_month == 9


def test_score_results_scores_clinicians_and_group_together():
    clinician = frame(perfect("039"))
    group = clinician.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    report = score_results([_result(clinician, (1, 2, 3, 4)), _result(group, (1, 2), level="tin")])
    assert [(p.tin, p.npi) for p in report.projections] == [(TIN, None), (TIN, NPI)]
    # The months covered are the first result's (the clinicians' run reads the same claims).
    assert {p.coverage.through_month for p in report.projections} == {4}
    with pytest.raises(ValueError, match="different years"):
        score_results([_result(clinician, (1,)), _result(clinician, (1,), year=2024)])
    with pytest.raises(ValueError, match="no engine result"):
        score_results([])


def test_2026_rows_score_without_claims_logic():
    p = score(frame(perfect("039", year=2026)), 2026).projections[0]
    assert p.quality.measures[0].points == 10.0
    assert p.coverage.benchmark_years == [2024]
    assert p.adjustment.payment_year == 2028
