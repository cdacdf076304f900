"""Projected final score: category weights, threshold zone, payment adjustment, levers."""

from __future__ import annotations

import calendar
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, cast

import polars as pl

from ..specs import YearSpec, provisional_note
from ..specs import load as load_spec
from ..specs.mvp import MvpSet, load_mvps
from . import options as rules
from .models import (
    Category,
    CategoryScore,
    Coverage,
    Direction,
    Lever,
    LeverKind,
    MeasureScore,
    PaymentAdjustment,
    Projection,
    QualityScore,
    ReportingOption,
    ScoreReport,
    ScoringOptions,
    Zone,
)
from .points import instances_to_rate, next_decile_rate, score_rows, score_unit, unit_of
from .quality import quality_score

if TYPE_CHECKING:  # the engine is optional at import time; scoring runs on rows alone
    from ..engine import EngineResult

#: Performance threshold by performance year (75 for 2023 through 2028).
THRESHOLDS = {2023: 75.0, 2024: 75.0, 2025: 75.0, 2026: 75.0}
MAX_ADJUSTMENT = 9.0
IA_MAX_POINTS = 40.0
PAYMENT_YEAR_LAG = 2

CATEGORIES: tuple[Category, ...] = (
    "quality",
    "cost",
    "improvement_activities",
    "promoting_interoperability",
)
#: (small practice, cost scored, PI scored) -> weights in percent, in CATEGORIES order.
WEIGHTS: dict[tuple[bool, bool, bool], tuple[float, float, float, float]] = {
    (True, True, True): (30, 30, 15, 25),
    (True, False, True): (55, 0, 15, 30),
    (True, True, False): (40, 30, 30, 0),
    (True, False, False): (50, 0, 50, 0),
    (False, True, True): (30, 30, 15, 25),
    (False, False, True): (55, 0, 15, 30),
    (False, True, False): (55, 30, 15, 0),
    (False, False, False): (85, 0, 15, 0),
}


def category_weights(
    *, small_practice: bool, cost_scored: bool, pi_scored: bool
) -> dict[Category, float]:
    """Weights (percent) after reweighting categories that are not scored."""
    values = WEIGHTS[(small_practice, cost_scored, pi_scored)]
    return dict(zip(CATEGORIES, (float(v) for v in values), strict=True))


def weights_situation(*, cost_scored: bool, pi_scored: bool) -> str:
    if cost_scored and pi_scored:
        return "all four scored"
    if pi_scored:
        return "no cost"
    if cost_scored:
        return "no PI"
    return "no cost and no PI"


def threshold_for(year: int) -> float:
    try:
        return THRESHOLDS[year]
    except KeyError:
        raise ValueError(f"no performance threshold known for {year}") from None


def zone(final_score: float, threshold: float, margin: float) -> Zone:
    """Safe above threshold + margin, at risk below threshold - margin, else neutral."""
    if final_score > threshold + margin:
        return "safe"
    if final_score < threshold - margin:
        return "at_risk"
    return "neutral"


def payment_adjustment(
    final_score: float, year: int, threshold: float, scaling_factor: float | None = None
) -> PaymentAdjustment:
    """Estimated Part B payment adjustment in the payment year (performance year + 2).

    Below the threshold the adjustment falls linearly to -9% at a quarter of the threshold
    (and stays -9% down to 0); above it rises linearly to +9% at 100 before CMS's
    budget-neutrality scaling factor, which is known only after the year.
    """
    payment_year = year + PAYMENT_YEAR_LAG
    quarter = threshold / 4.0
    if final_score < threshold:
        if final_score <= quarter:
            before = -MAX_ADJUSTMENT
        else:
            before = -MAX_ADJUSTMENT * (threshold - final_score) / (threshold - quarter)
        before = round(before, 4)
        return PaymentAdjustment(
            payment_year=payment_year,
            direction="negative",
            percent_before_scaling=before,
            scaling_factor=None,
            percent=before,
            explanation=(
                f"below the threshold {threshold:g}: about {before:.2f}% on {payment_year} "
                "Part B payments"
            ),
        )
    if final_score == threshold:
        return PaymentAdjustment(
            payment_year=payment_year,
            direction="neutral",
            percent_before_scaling=0.0,
            scaling_factor=scaling_factor,
            percent=0.0,
            explanation=f"at the threshold {threshold:g}: no adjustment in {payment_year}",
        )
    before = round(MAX_ADJUSTMENT * (final_score - threshold) / (100.0 - threshold), 4)
    direction: Direction = "positive"
    if scaling_factor is None:
        percent = None
        text = (
            f"above the threshold {threshold:g}: positive in {payment_year}, "
            f"+{before:.2f}% x CMS's scaling factor (set after the year, usually well below 1)"
        )
    else:
        percent = round(before * scaling_factor, 4)
        text = (
            f"above the threshold {threshold:g}: about +{percent:.2f}% in {payment_year} "
            f"(+{before:.2f}% x scaling factor {scaling_factor:g})"
        )
    return PaymentAdjustment(
        payment_year=payment_year,
        direction=direction,
        percent_before_scaling=before,
        scaling_factor=scaling_factor,
        percent=percent,
        explanation=text,
    )


def _categories(
    quality: QualityScore, options: ScoringOptions
) -> tuple[list[CategoryScore], str, list[str]]:
    cost_scored = options.cost_score is not None
    pi_scored = options.pi_score is not None
    weights = category_weights(
        small_practice=options.small_practice, cost_scored=cost_scored, pi_scored=pi_scored
    )
    assumptions = []
    if options.ia_points is None:
        ia_score, ia_source = 0.0, "assumed 0 (not given)"
        assumptions.append("improvement activities not given: assumed 0 points (use --ia)")
    else:
        ia_score = min(100.0, options.ia_points / IA_MAX_POINTS * 100.0)
        ia_source = f"user: {options.ia_points:g} of {IA_MAX_POINTS:g} points"
    if not cost_scored:
        assumptions.append("cost not given: treated as not scored and reweighted (use --cost)")
    if not pi_scored:
        assumptions.append("promoting interoperability not given: treated as reweighted (use --pi)")
    scores: dict[Category, tuple[float | None, str]] = {
        "quality": (quality.score, "claims"),
        "cost": (options.cost_score, "user" if cost_scored else "not scored"),
        "improvement_activities": (ia_score, ia_source),
        "promoting_interoperability": (options.pi_score, "user" if pi_scored else "not scored"),
    }
    categories = [
        CategoryScore(
            category=c,
            score=scores[c][0],
            weight=weights[c],
            points=round((scores[c][0] or 0.0) * weights[c] / 100.0, 4),
            source=scores[c][1],
        )
        for c in CATEGORIES
    ]
    situation = weights_situation(cost_scored=cost_scored, pi_scored=pi_scored)
    return categories, situation, assumptions


def final_score_of(categories: list[CategoryScore]) -> float:
    return round(sum(c.points for c in categories), 4)


def _quality(
    scores: list[MeasureScore],
    tin: str,
    npi: str | None,
    spec: YearSpec,
    options: ScoringOptions,
    mvps: MvpSet | None,
    *,
    explain: bool = True,
) -> QualityScore:
    """Quality score under the option's rules: traditional MIPS, or ``options.mvp``.

    ``explain=False`` (ranking) leaves the measures outside an MVP out of ``excluded``.
    """
    year = spec.performance_year
    of_entity = functools.partial(
        quality_score,
        tin=tin,
        npi=npi,
        year=year,
        small_practice=options.small_practice,
        prior_achievement=options.prior_quality_achievement,
    )
    if options.mvp is None:
        kept, left_out = rules.traditional_measures(scores, spec, mvps)
        return of_entity(kept, required_measures=options.required_measures, excluded=left_out)
    mvp = rules.find_mvp(year, options.mvp, mvps)
    kept, left_out = rules.mvp_measures(scores, mvp, explain=explain)
    population = options.population_health_points if mvp.foundation_quality_measure_ids else None
    return of_entity(
        kept,
        required_measures=rules.mvp_required(mvp, small_practice=options.small_practice),
        program=mvp.mvp_id,
        priority_applies=rules.priority_available(mvp, spec),
        population_health_points=population,
        excluded=left_out,
        notes=rules.mvp_notes(
            mvp, small_practice=options.small_practice, population_given=population is not None
        ),
    )


def option_label(options: ScoringOptions, year: int, mvps: MvpSet | None = None) -> str:
    """How a projection names its reporting option ("traditional MIPS", "MVP M1370 ...")."""
    if options.mvp is None:
        return "traditional MIPS"
    mvp = rules.find_mvp(year, options.mvp, mvps)
    return f"MVP {mvp.mvp_id} {mvp.title}"


def _what_if(
    score: MeasureScore, spec: YearSpec, options: ScoringOptions
) -> list[tuple[LeverKind, str, int | None, MeasureScore]]:
    """Changed scores of one measure: (kind, action, instances needed, new score)."""
    measure = spec.measures[score.measure_id]

    def rescore(**changes: object) -> MeasureScore:
        return score_unit(
            unit_of(score, **changes),
            measure,
            spec.performance_year,
            small_practice=options.small_practice,
            dc_threshold=spec.data_completeness_threshold,
            case_minimum=spec.case_minimum,
        )

    out: list[tuple[LeverKind, str, int | None, MeasureScore]] = []
    threshold = spec.data_completeness_threshold
    if not score.meets_data_completeness and score.eligible_population > 0:
        needed = max(0, math.ceil(round(threshold * score.eligible_population, 9)) - score.reported)
        out.append(
            (
                "data_completeness",
                f"report quality-data codes for {needed} more eligible instance(s) to reach "
                f"{threshold * 100:g}% data completeness (rate assumed unchanged)",
                needed,
                rescore(meets_data_completeness=True),
            )
        )
    elif not score.meets_case_minimum:
        cases = (
            score.eligible_population - score.denominator_exclusion - score.denominator_exception
        )
        needed = max(0, spec.case_minimum - cases)
        out.append(
            (
                "case_minimum",
                f"{needed} more eligible case(s) to reach the case minimum of "
                f"{spec.case_minimum} (rate assumed unchanged)",
                needed,
                rescore(meets_case_minimum=True),
            )
        )
    if score.status in ("benchmark", "capped") and measure.benchmark is not None:
        rate = float(score.performance_rate or 0.0) * 100.0
        target = next_decile_rate(rate, measure.benchmark.percentiles, inverse=measure.is_inverse)
        if target is not None:
            needed = instances_to_rate(
                score.performance_met,
                score.performance_not_met,
                target,
                inverse=measure.is_inverse,
            )
            word = "at most" if measure.is_inverse else "at least"
            next_decile = (score.decile or 1) + 1
            out.append(
                (
                    "next_decile",
                    f"performance rate {word} {target:g}% (decile {next_decile}): "
                    f"{needed} more instance(s) {'not met' if measure.is_inverse else 'met'}",
                    needed,
                    rescore(performance_rate=target / 100.0),
                )
            )
    return out


def levers(
    quality: QualityScore,
    final_score: float,
    spec: YearSpec,
    options: ScoringOptions,
    mvps: MvpSet | None = None,
) -> list[Lever]:
    """For each measure, what reaching data completeness or the next decile is worth."""
    if mvps is None:
        mvps = load_mvps(spec.performance_year)
    found = []
    for score in quality.measures:
        for kind, action, needed, changed in _what_if(score, spec, options):
            if changed.points <= score.points:
                continue
            others = [m for m in quality.measures if m.measure_id != score.measure_id]
            new_quality = _quality(
                [*others, changed], quality.tin, quality.npi, spec, options, mvps
            )
            new_final = final_score_of(_categories(new_quality, options)[0])
            found.append(
                Lever(
                    measure_id=score.measure_id,
                    kind=kind,
                    action=action,
                    instances_needed=needed,
                    measure_points_before=score.points,
                    measure_points_after=changed.points,
                    quality_score_gain=round(new_quality.score - quality.score, 4),
                    final_score_gain=round(new_final - final_score, 4),
                )
            )
    found.sort(key=lambda lv: (-lv.final_score_gain, -lv.quality_score_gain, lv.measure_id))
    return found


def coverage(year: int, through_month: int | None, scores: list[MeasureScore]) -> Coverage:
    """What the projection rests on: months of claims and the benchmark years."""
    years = sorted({s.benchmark_year for s in scores if s.benchmark_year is not None})
    bench = (
        f"Benchmarks are CMS's {year} claims benchmarks, built from "
        f"{', '.join(map(str, years))} data."
        if years
        else "No measure here has a claims benchmark."
    )
    if through_month is None:
        period = (
            "Months covered unknown: treat this as year-to-date unless the claims are complete."
        )
        full = None
    elif through_month == 12:
        period = f"Covers all 12 months of {year}."
        full = True
    else:
        period = (
            f"Year to date: claims through {calendar.month_name[through_month]} {year} "
            f"({through_month} of 12 months); rates, case counts and points will move as the "
            "rest of the year is billed."
        )
        full = False
    return Coverage(
        performance_year=year,
        through_month=through_month,
        months_covered=through_month,
        is_full_year=full,
        benchmark_years=years,
        statement=f"{period} {bench}",
    )


def _entities(rows: pl.DataFrame) -> list[tuple[str, str | None]]:
    keys = rows.select("tin", "npi").unique(maintain_order=True)
    return sorted(
        ((t, n) for t, n in keys.iter_rows()),
        key=lambda k: (k[0], k[1] is not None, k[1] or ""),
    )


def _option(
    rank: int,
    quality: QualityScore,
    final: float,
    spec: YearSpec,
    mvps: MvpSet | None,
    entity_ids: set[str],
) -> ReportingOption:
    specialties: list[str] = []
    kind: Literal["traditional", "mvp"]
    if quality.program == rules.TRADITIONAL:
        kind, title = "traditional", "traditional MIPS"
        offered = None
    else:
        mvp = rules.find_mvp(spec.performance_year, quality.program, mvps)
        kind, title = "mvp", mvp.title
        offered = set(mvp.claims_measure_ids)
        specialties = rules.main_specialties(mvp)
    eligible = sorted(
        m.measure_id
        for m in quality.measures
        if m.eligible_population > 0 and (offered is None or m.measure_id in offered)
    )
    return ReportingOption(
        rank=rank,
        option=quality.program,
        kind=kind,
        title=title,
        specialties=specialties,
        quality_score=quality.score,
        final_score=final,
        required_measures=quality.required_measures,
        uses=[m.measure_id for m in quality.counted],
        eligible=eligible,
        outside=sorted(entity_ids - offered) if offered is not None else [],
        excluded=[e for e in quality.excluded if offered is None],
        notes=quality.notes,
    )


def reporting_options(
    scores: list[MeasureScore],
    tin: str,
    npi: str | None,
    spec: YearSpec,
    options: ScoringOptions,
    mvps: MvpSet | None = None,
) -> list[ReportingOption]:
    """Traditional MIPS and every MVP the entity's claims are eligible for, best first.

    Ranked by projected quality score, then final score; a tie keeps traditional MIPS
    first (nothing to register), then MVP ids in order. ``options.specialty`` keeps only
    the MVPs CMS lists for that specialty.
    """
    mvps = load_mvps(spec.performance_year) if mvps is None else mvps
    candidates: list[ScoringOptions] = [options.model_copy(update={"mvp": None})]
    candidates += [
        options.model_copy(update={"mvp": m.mvp_id})
        for m in rules.open_mvps(scores, mvps, options.specialty)
    ]
    entity_ids = {s.measure_id for s in scores}
    scored = []
    for order, candidate in enumerate(candidates):
        quality = _quality(scores, tin, npi, spec, candidate, mvps, explain=False)
        final = final_score_of(_categories(quality, candidate)[0])
        scored.append((-quality.score, -final, order, quality, final))
    scored.sort(key=lambda t: t[:3])
    return [
        _option(rank, quality, final, spec, mvps, entity_ids)
        for rank, (_, _, _, quality, final) in enumerate(scored, start=1)
    ]


def score(
    rows: pl.DataFrame,
    year: int,
    options: ScoringOptions | None = None,
    *,
    spec: YearSpec | None = None,
) -> ScoreReport:
    """Points, quality score and projected final score of every entity in the rows."""
    options = options or ScoringOptions()
    spec = spec or load_spec(year)
    threshold = threshold_for(year)
    mvps = load_mvps(year)
    if options.mvp is not None:
        rules.find_mvp(year, options.mvp, mvps)  # an unknown MVP fails before any work
    all_scores = score_rows(rows, year, small_practice=options.small_practice, spec=spec)
    by_entity: dict[tuple[str, str | None], list[MeasureScore]] = {}
    for s in all_scores:
        by_entity.setdefault((s.tin, s.npi), []).append(s)
    projections = []
    for tin, npi in _entities(rows):
        mine = by_entity.get((tin, npi), [])
        quality = _quality(mine, tin, npi, spec, options, mvps)
        categories, situation, assumptions = _categories(quality, options)
        final = final_score_of(categories)
        projections.append(
            Projection(
                performance_year=year,
                tin=tin,
                npi=npi,
                quality=quality,
                categories=categories,
                weights_situation=situation,
                final_score=final,
                threshold=threshold,
                margin=options.margin,
                zone=zone(final, threshold, options.margin),
                adjustment=payment_adjustment(final, year, threshold, options.scaling_factor),
                levers=levers(quality, final, spec, options, mvps),
                coverage=coverage(year, options.through_month, mine),
                assumptions=assumptions,
                reporting_option=option_label(options, year, mvps),
                reporting_options=reporting_options(mine, tin, npi, spec, options, mvps),
            )
        )
    return ScoreReport(
        performance_year=year,
        provisional=provisional_note(spec),
        options=options,
        projections=projections,
    )


def last_month(monthly: pl.DataFrame) -> int | None:
    """Last month with data in the engine's year-to-date series."""
    if monthly.is_empty() or "month" not in monthly.columns:
        return None
    value = monthly["month"].max()
    return None if value is None else cast(int, value)  # polars: any scalar; month is Int8


def score_result(result: EngineResult, options: ScoringOptions | None = None) -> ScoreReport:
    """Score an engine result in its year, taking the months covered from its monthly
    series unless ``options.through_month`` says."""
    return score_results([result], options)


def score_results(
    results: Sequence[EngineResult], options: ScoringOptions | None = None
) -> ScoreReport:
    """Score the entities of several results of one year in one report (``score --level
    both``: the clinicians, then the group). The months covered come from the first
    result's monthly series unless ``options.through_month`` says."""
    if not results:
        raise ValueError("no engine result to score")
    year = results[0].year
    if any(r.year != year for r in results):
        raise ValueError("results of different years cannot be scored together")
    options = options or ScoringOptions()
    if options.through_month is None:
        options = options.model_copy(update={"through_month": last_month(results[0].monthly)})
    rows = pl.concat([r.rows for r in results], how="vertical_relaxed")
    return score(rows, year, options)
