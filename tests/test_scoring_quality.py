"""Quality category score: best six, outcome / high-priority rule, bonus, improvement."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipsclaims.scoring import MeasureScore, quality_score
from mipsclaims.scoring.quality import improvement_percent, select_counted


def ms(
    measure_id: str,
    points: float,
    *,
    outcome: bool = False,
    high_priority: bool = False,
    status: str = "benchmark",
) -> MeasureScore:
    return MeasureScore(
        performance_year=2025,
        tin="123456789",
        npi=None,
        measure_id=measure_id,
        stratum=None,
        title=f"measure {measure_id}",
        is_outcome=outcome,
        is_high_priority=high_priority or outcome,
        is_inverse=False,
        eligible_population=40,
        performance_met=40,
        performance_not_met=0,
        denominator_exclusion=0,
        denominator_exception=0,
        reported=0 if status == "not_submitted" else 40,
        data_completeness=1.0,
        performance_rate=1.0,
        meets_case_minimum=True,
        meets_data_completeness=True,
        status=status,
        points=points,
        reason="test",
    )


def q(scores, **kw):
    kw.setdefault("small_practice", False)
    return quality_score(scores, tin="123456789", npi=None, year=kw.pop("year", 2025), **kw)


def test_best_six_include_an_outcome_measure():
    scores = [ms(f"10{i}", 10 - i) for i in range(7)] + [ms("001", 2.0, outcome=True)]
    result = q(scores)
    ids = [m.measure_id for m in result.counted]
    # 100..104 (10, 9, 8, 7, 6 points) + outcome 001 (2) in place of 105 (5)
    assert ids == ["100", "101", "102", "103", "104", "001"]
    assert result.achievement_points == 42.0
    assert result.score == 70.0
    assert result.outcome_requirement == "outcome measure 001 counted in place of a higher one"


def test_high_priority_stands_in_when_no_outcome_measure():
    scores = [ms(f"10{i}", 10 - i) for i in range(7)] + [ms("155", 1.0, high_priority=True)]
    result = q(scores)
    assert result.counted[-1].measure_id == "155"
    assert result.achievement_points == 10 + 9 + 8 + 7 + 6 + 1


def test_outcome_already_in_best_six_changes_nothing():
    scores = [ms("001", 9.0, outcome=True)] + [ms(f"10{i}", 8 - i) for i in range(6)]
    result = q(scores)
    assert result.achievement_points == 9 + 8 + 7 + 6 + 5 + 4
    assert result.outcome_requirement == "outcome measure 001 counted"


def test_without_outcome_or_high_priority_one_slot_scores_zero():
    scores = [ms(f"10{i}", 10.0) for i in range(7)]
    result = q(scores)
    assert len(result.counted) == 5
    assert result.score == 83.3333  # 50 / 60


def test_fewer_than_six_measures_leave_empty_slots_at_zero():
    result = q([ms("001", 9.0, outcome=True), ms("039", 6.0)])
    assert result.score == 25.0  # 15 / 60
    assert any("2 of 6 required" in n for n in result.notes)
    assert q([ms("001", 9.0, outcome=True), ms("039", 6.0)], required_measures=2).score == 75.0


def test_same_measure_reported_twice_keeps_its_highest_points():
    result = q([ms("039", 3.0), ms("039", 8.0)])
    assert [m.points for m in result.measures] == [8.0]


def test_small_practice_bonus_is_six_points():
    scores = [ms("001", 9.0, outcome=True), ms("039", 6.0)]
    assert q(scores, small_practice=True).score == 35.0  # (15 + 6) / 60
    assert q(scores, small_practice=True).small_practice_bonus == 6.0
    assert q(scores, small_practice=False).small_practice_bonus == 0.0


def test_no_bonus_when_nothing_is_submitted():
    result = q([ms("039", 0.0, status="not_submitted")], small_practice=True)
    assert (result.small_practice_bonus, result.score, result.counted) == (0.0, 0.0, [])


def test_score_is_capped_at_100():
    scores = [ms("001", 10.0, outcome=True)] + [ms(f"10{i}", 10.0) for i in range(5)]
    result = q(scores, small_practice=True, prior_achievement=50.0)
    assert result.score == 100.0


@pytest.mark.parametrize(
    ("current", "prior", "expected"),
    [
        (60.0, 50.0, 2.0),  # (60 - 50) / 50 * 10
        (45.0, 20.0, 5.0),  # prior at or below 30 compares with 30: (45 - 30) / 30 * 10
        (100.0, 40.0, 10.0),  # capped at 10
        (40.0, 50.0, 0.0),  # no negative improvement
        (60.0, None, 0.0),  # prior unknown
    ],
)
def test_improvement_percent(current, prior, expected):
    assert improvement_percent(current, prior) == expected


def test_improvement_adds_to_the_achievement_percent():
    scores = [ms("001", 9.0, outcome=True)] + [ms(f"10{i}", 5.0) for i in range(5)]
    result = q(scores, prior_achievement=40.0)
    # achievement 34 / 60 = 56.67%; improvement (56.67 - 40) / 40 * 10 = 4.1667
    assert result.achievement_percent == pytest.approx(56.6667, abs=1e-4)
    assert result.improvement_percent == 4.1667
    assert result.score == pytest.approx(60.8334, abs=1e-4)


POINTS = st.floats(min_value=0, max_value=10, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    points=st.lists(st.tuples(POINTS, st.booleans(), st.booleans()), min_size=1, max_size=10),
    required=st.integers(min_value=1, max_value=6),
)
def test_selection_is_the_best_set_that_honours_the_requirement(points, required):
    scores = [ms(f"{i:03d}", p, outcome=o, high_priority=h) for i, (p, o, h) in enumerate(points)]
    ranked = sorted(scores, key=lambda m: -m.points)
    counted, _ = select_counted(sorted(scores, key=lambda m: (-m.points, m.measure_id)), required)
    assert len(counted) <= required
    assert sum(m.points for m in counted) <= sum(m.points for m in ranked[:required]) + 1e-9
    if any(m.is_outcome for m in scores):
        assert any(m.is_outcome for m in counted)
    elif any(m.is_high_priority for m in scores):
        assert any(m.is_high_priority for m in counted)
