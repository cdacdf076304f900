"""Measure achievement points from claims benchmarks (scoring.md, docs/scoring-decisions.md).

Pure functions over the engine's report rows: no claims, no engine internals. Rates in the
rows are fractions; benchmark percentiles are percent, so rates are scaled by 100 here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from ..display import NO_VALUE_WORD, pct
from ..errors import MipsClaimsError
from ..schema import REPORT_ROW_KEYS
from ..specs import Measure, YearSpec
from ..specs import load as load_spec
from .models import MeasureScore, MeasureStatus

#: Measure types that satisfy the outcome requirement of the quality category.
OUTCOME_TYPES = frozenset({"outcome", "intermediateOutcome", "patientReportedOutcome"})
#: Percentile keys whose values are the inclusive lower bounds of deciles 2 ... 10.
DECILE_KEYS = ("10", "20", "30", "40", "50", "60", "70", "80", "90")
TOPPED_OUT_CAP = 7.0
SMALL_PRACTICE_POINTS = 3.0
#: Points floor for a new measure by its year of life (0 = first performance year).
NEW_MEASURE_FLOOR = {0: 7.0, 1: 5.0}
#: Rows must carry at least these columns (measure-logic.md section 8).
REQUIRED_COLUMNS = REPORT_ROW_KEYS


class ScoringInputError(MipsClaimsError, ValueError):
    """Rows that cannot be scored (missing columns, other year, unknown measure)."""


def _clean(value: float) -> float:
    """Strip float noise (0.07 * 100 = 7.000000000000001) before comparing with bounds."""
    return round(value, 9)


def _bounds(percentiles: Mapping[str, float], inverse: bool) -> list[float]:
    """Lower bounds of deciles 2..10 on a 'higher is better' scale (inverse rates mirrored)."""
    bounds = [float(percentiles[k]) for k in DECILE_KEYS]
    if inverse:
        bounds = [_clean(100.0 - b) for b in reversed(bounds)]
    return bounds


def decile_points(
    rate_percent: float, percentiles: Mapping[str, float], *, inverse: bool
) -> tuple[int, float]:
    """Decile and points (1.0-10.0, 4 decimals) of a rate against a claims benchmark.

    Decile d (2..9) runs from its lower bound up to the next decile's; points are
    d + the fraction of the way through it (82.31 in [73.08, 82.71) -> 8.9585). Repeated
    bounds are empty deciles: a rate on them lands in the highest. Decile 10 earns 10.
    Decile 1 interpolates from a rate of 0 (best for inverse: 100). Inverse measures are
    mirrored (100 - rate against 100 - bound), so for them a bound is inclusive from below.
    """
    bounds = _bounds(percentiles, inverse)
    score_rate = _clean(100.0 - rate_percent if inverse else rate_percent)
    decile = 1 + sum(1 for b in bounds if score_rate >= b)
    if decile == 10:
        return 10, 10.0
    lower = 0.0 if decile == 1 else bounds[decile - 2]
    upper = bounds[decile - 1]
    return decile, round(decile + (score_rate - lower) / (upper - lower), 4)


def next_decile_rate(
    rate_percent: float, percentiles: Mapping[str, float], *, inverse: bool
) -> float | None:
    """Rate (percent) at which the next decile starts; null in the top decile.

    For inverse measures it is the rate at or below which the next decile is reached.
    """
    decile, _ = decile_points(rate_percent, percentiles, inverse=inverse)
    if decile == 10:
        return None
    bound = _bounds(percentiles, inverse)[decile - 1]
    return _clean(100.0 - bound) if inverse else bound


def is_capped(measure: Measure) -> bool:
    """Topped out two years running caps at 7 unless CMS removed the cap for claims."""
    return measure.is_topped_out_by_program and not measure.is_seven_point_cap_removed


def new_measure_floor(measure: Measure, year: int) -> float | None:
    if measure.first_performance_year is None:
        return None
    return NEW_MEASURE_FLOOR.get(year - measure.first_performance_year)


def score_unit(
    unit: Mapping[str, Any],
    measure: Measure,
    year: int,
    *,
    small_practice: bool,
    dc_threshold: float,
    case_minimum: int,
) -> MeasureScore:
    """Points of one scoring unit: a row, or for 226 the rows combined by its algorithm."""
    population = int(unit["eligible_population"] or 0)
    reported = population - int(unit["not_reported"] or 0)
    rate = unit["performance_rate"]
    floor = new_measure_floor(measure, year)
    low = SMALL_PRACTICE_POINTS if small_practice else 0.0
    low_text = "3 points: small practice" if small_practice else "0 points"
    bench = measure.benchmark
    decile: int | None = None
    status: MeasureStatus

    if reported <= 0:
        status, points = "not_submitted", 0.0
        reason = "0 points: no quality-data code reported, measure not submitted"
    elif not unit["meets_data_completeness"]:
        status, points = "data_completeness", low
        reason = (
            f"{low_text}, data completeness {pct(unit['data_completeness'], none=NO_VALUE_WORD)} "
            f"below {dc_threshold * 100:g}%"
        )
    else:
        if not unit["meets_case_minimum"]:
            status, points = "case_minimum", low
            reason = f"{low_text}, under {case_minimum} cases"
        elif bench is None:
            status, points = "no_benchmark", low
            reason = f"{low_text}, no claims benchmark"
        elif rate is None:
            status, points = "no_rate", low
            reason = f"{low_text}, no performance rate (every reported instance excluded)"
        else:
            decile, raw = decile_points(
                float(rate) * 100.0, bench.percentiles, inverse=measure.is_inverse
            )
            if is_capped(measure) and raw > TOPPED_OUT_CAP:
                status, points = "capped", TOPPED_OUT_CAP
                reason = f"capped at 7: topped out (decile {decile}, {raw:.2f} points)"
            else:
                status, points = "benchmark", raw
                reason = f"decile {decile}, {raw:.2f} points"
        if floor is not None and floor > points:
            age = "first" if floor == NEW_MEASURE_FLOOR[0] else "second"
            status, points = "new_measure", floor
            reason = f"{floor:g} points: new measure, {age} year ({reason})"

    return MeasureScore(
        performance_year=year,
        tin=unit["tin"],
        npi=unit["npi"],
        measure_id=measure.measure_id,
        stratum=unit["stratum"],
        title=measure.title,
        is_outcome=measure.measure_type in OUTCOME_TYPES,
        is_high_priority=measure.is_high_priority,
        is_inverse=measure.is_inverse,
        eligible_population=population,
        performance_met=int(unit["performance_met"] or 0),
        performance_not_met=int(unit["performance_not_met"] or 0),
        denominator_exclusion=int(unit["denominator_exclusion"] or 0),
        denominator_exception=int(unit["denominator_exception"] or 0),
        reported=max(reported, 0),
        data_completeness=unit["data_completeness"],
        performance_rate=rate,
        meets_case_minimum=bool(unit["meets_case_minimum"]),
        meets_data_completeness=bool(unit["meets_data_completeness"]),
        status=status,
        decile=decile,
        points=points,
        reason=reason,
        benchmark_year=bench.benchmark_year if bench else None,
        benchmark_kind=bench.kind if bench else None,
    )


def _stratum_name(row: Mapping[str, Any], measure: Measure) -> str | None:
    name = row.get("stratum_name")
    if name:
        return str(name)
    group = row.get("stratum")
    if group is not None and str(group).isdigit() and int(group) < len(measure.strata):
        return measure.strata[int(group)].name
    return None


def _multi_rate_unit(rows: list[dict[str, Any]], measure: Measure) -> dict[str, Any] | None:
    """The one unit CMS scores of a multi-rate measure (measure-logic.md section 6)."""
    by_name = {_stratum_name(r, measure): r for r in rows}
    algorithm = measure.overall_algorithm
    if algorithm == "overallStratumOnly":
        return by_name.get("overall")
    if algorithm == "split":
        reporting, performance = by_name.get("reporting"), by_name.get("performance")
        if reporting is None or performance is None:
            return None
        return {
            **reporting,
            "stratum": performance["stratum"],
            "performance_met": performance["performance_met"],
            "performance_not_met": performance["performance_not_met"],
            "performance_rate": performance["performance_rate"],
        }
    raise ScoringInputError(
        f"measure {measure.measure_id}: overall algorithm {algorithm!r} is not supported"
    )


def check_rows(rows: pl.DataFrame, year: int, spec: YearSpec) -> None:
    """Fail early, with the reason, on rows that cannot be scored for ``year``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in rows.columns]
    if missing:
        raise ScoringInputError(f"rows lack column(s): {', '.join(missing)}")
    years = sorted({int(y) for y in rows["performance_year"].drop_nulls().to_list()})
    if years and years != [year]:
        raise ScoringInputError(
            f"rows are for performance year(s) {', '.join(map(str, years))}, not {year}"
        )
    unknown = sorted(set(rows["measure_id"].to_list()) - set(spec.measures))
    if unknown:
        raise ScoringInputError(
            f"measure(s) {', '.join(map(str, unknown))} are not {year} claims measures"
        )


def score_rows(
    rows: pl.DataFrame,
    year: int,
    *,
    small_practice: bool = False,
    spec: YearSpec | None = None,
) -> list[MeasureScore]:
    """Achievement points of every entity x measure in the engine's rows.

    ``spec`` defaults to ``specs.load(year)``; pass another to score against changed data.
    Multi-rate measures give one score per entity (the stratum their algorithm scores).
    """
    spec = spec or load_spec(year)
    check_rows(rows, year, spec)
    groups: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
    for row in rows.iter_rows(named=True):
        groups.setdefault((row["tin"], row["npi"], row["measure_id"]), []).append(row)
    scores = []
    for (_, _, measure_id), group in groups.items():
        measure = spec.measures[measure_id]
        units: Iterable[dict[str, Any] | None]
        units = [_multi_rate_unit(group, measure)] if measure.is_multi_rate else group
        for unit in units:
            if unit is None:
                continue
            scores.append(
                score_unit(
                    unit,
                    measure,
                    year,
                    small_practice=small_practice,
                    dc_threshold=spec.data_completeness_threshold,
                    case_minimum=spec.case_minimum,
                )
            )
    return scores


def instances_to_rate(met: int, not_met: int, target_percent: float, *, inverse: bool) -> int:
    """Not-met instances that must turn met (inverse: met turn not met) to reach a rate."""
    total = met + not_met
    target = target_percent / 100.0 * total
    if inverse:
        return max(0, met - math.floor(_clean(target)))
    return max(0, math.ceil(_clean(target)) - met)


def unit_of(score: MeasureScore, **changes: Any) -> dict[str, Any]:
    """The scoring unit behind a score, with changes: to ask "what if" of :func:`score_unit`."""
    unit = {
        "tin": score.tin,
        "npi": score.npi,
        "stratum": score.stratum,
        "eligible_population": score.eligible_population,
        "not_reported": score.eligible_population - score.reported,
        "performance_met": score.performance_met,
        "performance_not_met": score.performance_not_met,
        "denominator_exclusion": score.denominator_exclusion,
        "denominator_exception": score.denominator_exception,
        "data_completeness": score.data_completeness,
        "performance_rate": score.performance_rate,
        "meets_case_minimum": score.meets_case_minimum,
        "meets_data_completeness": score.meets_data_completeness,
    }
    unit.update(changes)
    return unit
