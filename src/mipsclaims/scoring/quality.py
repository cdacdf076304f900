"""Quality category score: the best measures (six; an MVP four), the outcome rule, bonus and
improvement."""

from __future__ import annotations

from collections.abc import Iterable

from .models import ExcludedMeasure, MeasureScore, QualityScore

SMALL_PRACTICE_BONUS = 6.0
#: First performance year with the 6-point small-practice bonus in the quality category.
SMALL_PRACTICE_BONUS_FROM = 2023
MAX_IMPROVEMENT = 10.0
#: A prior achievement at or below this is compared as this (CMS's improvement-score floor).
IMPROVEMENT_FLOOR = 30.0


def _rank(score: MeasureScore) -> tuple[float, bool, bool, str]:
    return (-score.points, not score.is_outcome, not score.is_high_priority, score.measure_id)


def best_per_measure(scores: Iterable[MeasureScore]) -> list[MeasureScore]:
    """The same measure reported several ways keeps its highest points; best first."""
    best: dict[str, MeasureScore] = {}
    for s in scores:
        if s.measure_id not in best or _rank(s) < _rank(best[s.measure_id]):
            best[s.measure_id] = s
    return sorted(best.values(), key=_rank)


def select_counted(
    measures: list[MeasureScore], required: int, *, priority_applies: bool = True
) -> tuple[list[MeasureScore], str]:
    """Best ``required`` submitted measures, including an outcome (else high-priority) one.

    Without any outcome or high-priority measure, one required slot scores 0 (its measure is
    left out of the count) so a full set of six cannot hide the missing requirement.
    ``priority_applies=False`` (an MVP whose claims measures include neither kind) waives it.
    """
    submitted = [m for m in measures if m.status != "not_submitted"]
    top = submitted[:required]
    if not priority_applies:
        return top, "no outcome or high-priority claims measure available: requirement waived"
    for kind, test in (("outcome", "is_outcome"), ("high-priority", "is_high_priority")):
        candidates = [m for m in submitted if getattr(m, test)]
        if not candidates:
            continue
        if any(getattr(m, test) for m in top):
            chosen = next(m for m in top if getattr(m, test))
            return top, f"{kind} measure {chosen.measure_id} counted"
        best = candidates[0]
        top = (top[: required - 1] if len(top) == required else top) + [best]
        return sorted(
            top, key=_rank
        ), f"{kind} measure {best.measure_id} counted in place of a higher one"
    if len(top) == required:
        top = top[: required - 1]
    return top, "no outcome or high-priority measure reported: one required measure scores 0"


def improvement_percent(achievement: float, prior_achievement: float | None) -> float:
    """Improvement percentage points (0-10) over the prior year's achievement percent."""
    if prior_achievement is None:
        return 0.0
    base = max(prior_achievement, IMPROVEMENT_FLOOR)
    gain = (achievement - base) / base * MAX_IMPROVEMENT
    return round(min(MAX_IMPROVEMENT, max(0.0, gain)), 4)


def quality_score(
    scores: Iterable[MeasureScore],
    *,
    tin: str,
    npi: str | None,
    year: int,
    small_practice: bool = False,
    required_measures: int = 6,
    prior_achievement: float | None = None,
    program: str = "traditional",
    priority_applies: bool = True,
    population_health_points: float | None = None,
    excluded: Iterable[ExcludedMeasure] = (),
    notes: Iterable[str] = (),
) -> QualityScore:
    """Quality category score (percent) of one entity from its measure scores.

    ``scores`` are the measures the reporting option may count (``excluded`` those it may
    not, kept for the report). A population health measure (MVPs) adds its points to the
    numerator and 10 to the denominator.
    """
    measures = best_per_measure(scores)
    counted, requirement = select_counted(
        measures, required_measures, priority_applies=priority_applies
    )
    points = round(sum(m.points for m in counted), 4)
    submitted = any(m.status != "not_submitted" for m in measures)
    bonus = (
        SMALL_PRACTICE_BONUS
        if small_practice and submitted and year >= SMALL_PRACTICE_BONUS_FROM
        else 0.0
    )
    population = population_health_points or 0.0
    available = required_measures * 10.0 + (10.0 if population_health_points is not None else 0)
    achievement = min(100.0, (points + bonus + population) / available * 100.0)
    improvement = improvement_percent(
        min(100.0, (points + population) / available * 100.0), prior_achievement
    )
    notes = list(notes)
    if len(counted) < required_measures:
        notes.append(
            f"{len(counted)} of {required_measures} required measures count; each missing one "
            "scores 0 (CMS may lower the requirement when fewer measures apply)"
        )
    if prior_achievement is None:
        notes.append("improvement score not counted: prior year's quality score not given")
    return QualityScore(
        tin=tin,
        npi=npi,
        program=program,
        required_measures=required_measures,
        counted=counted,
        measures=measures,
        achievement_points=points,
        small_practice_bonus=bonus,
        population_health_points=population_health_points,
        available_points=available,
        achievement_percent=round(achievement, 4),
        improvement_percent=improvement,
        score=round(min(100.0, achievement + improvement), 4),
        outcome_requirement=requirement,
        excluded=list(excluded),
        notes=notes,
    )
