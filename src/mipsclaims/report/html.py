"""The self-contained HTML report: one file, no network, inline CSS and SVG.

jinja2 with autoescape renders every input-derived string (codes, titles, claim refs) as
text. Charts are SVG built here from the engine's ``monthly`` rows: numbers only, so no
input-derived text ever reaches an SVG attribute unescaped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import jinja2
import polars as pl

from .. import specs
from ..display import NO_VALUE, pct
from ..scoring.models import ExcludedMeasure, MeasureScore, ScoringOptions
from ..scoring.projection import THRESHOLDS, last_month, score_result
from .export import ordered_rows
from .gaps import gap_rows, open_instances

if TYPE_CHECKING:
    from ..engine.result import EngineResult
    from ..scoring import ScoreReport

GAPS_SHOWN = 12  # claims listed per measure and problem; all of them: `mipsclaims gaps`

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("mipsclaims.report", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


_ENV.filters["pct"] = pct
_ENV.globals["no_value"] = NO_VALUE


@dataclass
class Trend:
    """Inline SVG sparkline of year-to-date completeness and rate by month."""

    width: int = 260
    height: int = 70
    completeness: list[tuple[float, float]] = field(default_factory=list)
    rate: list[tuple[float, float]] = field(default_factory=list)
    threshold_y: float | None = None
    months: list[tuple[float, str]] = field(default_factory=list)

    @staticmethod
    def points(pairs: list[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)


_PAD, _W, _H = 8.0, Trend.width - 16.0, Trend.height - 20.0
_MONTHS = [(_PAD + (m - 1) * _W / 11, "JFMAMJJASOND"[m - 1]) for m in range(1, 13)]
KEYS = ["tin", "npi", "measure_id", "stratum"]


def _y(value: float) -> float:
    return _PAD + (1 - value) * _H


def trends(monthly: pl.DataFrame) -> dict[tuple[Any, ...], Trend]:
    """A :class:`Trend` per entity, measure and stratum, in one columnar pass.

    Month 1..12 maps to x, a fraction 0..1 to y (top = 1); months without a value
    (rate undefined) are left out of that line.
    """
    if not monthly.height:
        return {}
    points = (
        monthly.sort("month")
        .with_columns(
            (_PAD + (pl.col("month").cast(pl.Float64) - 1) * _W / 11).alias("_x"),
            (_PAD + (1 - pl.col("data_completeness")) * _H).alias("_yc"),
            (_PAD + (1 - pl.col("performance_rate")) * _H).alias("_yr"),
        )
        .group_by(KEYS, maintain_order=True)
        .agg(
            pl.col("_x").filter(pl.col("_yc").is_not_null()).alias("xc"),
            pl.col("_yc").drop_nulls().alias("yc"),
            pl.col("_x").filter(pl.col("_yr").is_not_null()).alias("xr"),
            pl.col("_yr").drop_nulls().alias("yr"),
        )
    )
    out = {}
    for *key, xc, yc, xr, yr in points.iter_rows():
        out[tuple(key)] = Trend(
            completeness=list(zip(xc, yc, strict=True)),
            rate=list(zip(xr, yr, strict=True)),
            months=_MONTHS,
        )
    return out


def trend(monthly: pl.DataFrame, threshold: float | None) -> Trend:
    """The trend of one series (rows of a single entity, measure and stratum)."""
    found = list(trends(monthly).values())
    t = found[0] if found else Trend(months=_MONTHS)
    t.threshold_y = None if threshold is None else _y(threshold)
    return t


@dataclass
class BenchmarkBar:
    """Where a rate sits among the benchmark percentiles (0..100 scale, CMS's)."""

    ticks: list[tuple[float, str]]
    marker: float | None
    inverse: bool
    kind: str


def benchmark_bar(measure: specs.Measure | None, rate: float | None) -> BenchmarkBar | None:
    """Ticks at the claims benchmark percentiles and a marker at the rate (display only:
    deciles and points come from ``mipsclaims.scoring``)."""
    if measure is None or measure.benchmark is None:
        return None
    b = measure.benchmark
    ticks = [(v, k) for k, v in sorted(b.percentiles.items(), key=lambda kv: int(kv[0]))]
    return BenchmarkBar(
        ticks=ticks,
        marker=None if rate is None else rate * 100,
        inverse=b.is_inverse,
        kind=b.kind,
    )


def gap_groups(open_: pl.DataFrame, year: int) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Gaps per entity, then per measure, stratum and problem: the closing QDCs said once,
    then the first ``GAPS_SHOWN`` instances (date, claims, QDCs found) and how many there are.

    Only the instances shown become worklist rows (claim references, QDC texts): a large
    batch has hundreds of thousands of gaps, and the page lists a dozen per group.
    """
    by = [*KEYS, "problem"]
    totals = open_.group_by(by, maintain_order=True).agg(pl.len().alias("total"))
    shown = open_.filter(pl.int_range(pl.len()).over(by) < GAPS_SHOWN)
    grouped = (
        gap_rows(shown, year)
        .group_by([*by, "closing_qdcs"], maintain_order=True)
        .agg(pl.struct("instance_date", "claims", "qdcs_found").alias("items"))
        .join(totals, on=by, how="left", nulls_equal=True, maintain_order="left")
        .select(*by, "closing_qdcs", "total", "items")
    )
    out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for g in grouped.to_dicts():
        out.setdefault((g["tin"], g["npi"]), []).append(g)
    return out


def _with_threshold(t: Trend | None, threshold: float | None) -> Trend:
    t = replace(t) if t is not None else Trend(months=_MONTHS)
    t.threshold_y = None if threshold is None else _y(threshold)
    return t


def _entity_key(row: dict[str, Any]) -> tuple[str, str | None]:
    return (row["tin"], row["npi"])


def build_context(
    result: EngineResult,
    *,
    scores: ScoreReport | None = None,
    generated: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything the template shows, grouped per clinician (or TIN).

    ``scores`` (or None): its projection per entity and its points per measure are shown
    beside the counts.
    """
    year = result.year
    try:
        spec = specs.load(year)
    except specs.UnsupportedYearError:
        spec = None
    rows = ordered_rows(result.rows)
    monthly = result.monthly
    open_ = open_instances(result.instances) if result.instances.height else None
    months = last_month(monthly)
    projections = {(p.tin, p.npi): p for p in scores.projections} if scores else {}
    points: dict[tuple[str, str | None, str, str | None], MeasureScore | ExcludedMeasure] = {
        (m.tin, m.npi, m.measure_id, m.stratum): m
        for p in projections.values()
        for m in p.quality.measures
    }
    for p in projections.values():  # measures the option cannot count show why (2026: 128)
        for left_out in p.quality.excluded:
            points.setdefault((p.tin, p.npi, left_out.measure_id, None), left_out)
    # One pass each over monthly and gaps (not a filter per row: a batch has many entities).
    keys = KEYS
    trend_of = trends(monthly)
    open_of = {}
    if open_ is not None:
        open_of = {tuple(r[:4]): r[4] for r in open_.group_by(keys).len().iter_rows()}
    entities: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows.iter_rows(named=True):
        key = _entity_key(row)
        entity = entities.setdefault(
            key,
            {
                "tin": row["tin"],
                "npi": row["npi"],
                "measures": [],
                "gaps": [],
                "gap_total": 0,
                "projection": projections.get(key),
            },
        )
        measure = spec.measures.get(row["measure_id"]) if spec else None
        row_key = (row["tin"], row["npi"], row["measure_id"], row["stratum"])
        open_gaps = open_of.get(row_key, 0)
        entity["measures"].append(
            {
                **row,
                "title": row.get("measure_title") or (measure.title if measure else ""),
                "threshold": row.get("data_completeness_threshold")
                or (spec.data_completeness_threshold if spec else None),
                "trend": _with_threshold(
                    trend_of.get(row_key), row.get("data_completeness_threshold")
                ),
                "bench": benchmark_bar(measure, row["performance_rate"]),
                "open_gaps": open_gaps,
                "score": points.get(row_key),
            }
        )
    if open_ is not None:
        for key, groups in gap_groups(open_, year).items():
            if key in entities:
                entities[key]["gap_total"] = sum(g["total"] for g in groups)
                entities[key]["gaps"] = groups
    findings = (
        result.findings.group_by("kind").len().sort("kind").rows() if result.findings.height else []
    )
    return {
        "year": year,
        "level": result.level,
        "entities": list(entities.values()),
        "scope": result.scope.to_dicts(),
        "findings": findings,
        "last_month": months,
        "gaps_shown": GAPS_SHOWN,
        "generated": (generated or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        "case_minimum": spec.case_minimum if spec else 20,
        "provisional_note": specs.provisional_note(spec) if spec else None,
        "spec_source": specs.source_line(spec) if spec and spec.imported else None,
    }


def shown_scores(result: EngineResult, options: ScoringOptions | None = None) -> ScoreReport | None:
    """The projection the report shows beside the counts: none for a year without a
    scoring threshold, or without rows to score."""
    if result.year not in THRESHOLDS or not result.rows.height:
        return None
    return score_result(result, options or ScoringOptions())


def render_html(
    result: EngineResult,
    *,
    scores: ScoreReport | None = None,
    generated: dt.datetime | None = None,
) -> str:
    """The report as one self-contained HTML document."""
    context = build_context(result, scores=scores, generated=generated)
    return _ENV.get_template("report.html.j2").render(**context)
