"""``mipsclaims score``: points, quality score and projected final score (issue 9)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import scoring
from ..report.termsafe import SafeConsole
from ..scoring import Projection, ScoreReport, ScoringOptions
from .common import STRICT, Level, fail, report_reading

console = SafeConsole()

ZONE_STYLE = {"safe": "bold green", "neutral": "bold yellow", "at_risk": "bold red"}
ZONE_TEXT = {"safe": "SAFE", "neutral": "NEAR THE THRESHOLD", "at_risk": "AT RISK"}
CATEGORY_TEXT = {
    "quality": "Quality",
    "cost": "Cost",
    "improvement_activities": "Improvement activities",
    "promoting_interoperability": "Promoting interoperability",
}
LEVERS_SHOWN = 5


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _entity(p: Projection) -> Text:
    """The entity as literal text: a TIN read from a file may hold ``[/x]``, not markup."""
    return Text(f"TIN {p.tin}" + (f" / NPI {p.npi}" if p.npi else " (group)"))


def _print_projection(p: Projection) -> None:
    style = ZONE_STYLE[p.zone]
    console.rule(_entity(p))
    console.print(
        f"Projected final score [bold]{p.final_score:.2f}[/bold] of 100: "
        f"[{style}]{ZONE_TEXT[p.zone]}[/{style}] (threshold {p.threshold:g}, "
        f"margin {p.margin:g})",
        highlight=False,
    )
    console.print(f"Payment adjustment: {escape(p.adjustment.explanation)}", highlight=False)
    console.print(f"[dim]{escape(p.coverage.statement)}[/dim]", highlight=False)

    q = p.quality
    counted = {m.measure_id for m in q.counted}
    table = Table(title=Text(f"Quality measures ({q.outcome_requirement})"), title_justify="left")
    wide = console.width >= 110  # the title only where it fits; the id is enough otherwise
    table.add_column("measure", no_wrap=True)
    if wide:
        table.add_column("title", max_width=28, no_wrap=True, overflow="ellipsis")
    for header in ("elig.", "compl.", "rate", "points"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("why", min_width=16)
    table.add_column("best 6", no_wrap=True)
    for m in q.measures:
        cells = [
            Text(m.measure_id),
            *([Text(m.title)] if wide else []),
            str(m.eligible_population),
            _pct(m.data_completeness),
            _pct(m.performance_rate),
            f"{m.points:.2f}",
            Text(m.reason),
            "yes" if m.measure_id in counted else "",
        ]
        table.add_row(*cells)
    console.print(table)
    console.print(
        f"Quality: {q.achievement_points:.2f} points + {q.small_practice_bonus:g} bonus over "
        f"{q.required_measures * 10} = {q.achievement_percent:.2f}%, improvement "
        f"+{q.improvement_percent:.2f} -> [bold]{q.score:.2f}%[/bold]",
        highlight=False,
    )

    cats = Table(title=Text(f"Categories ({p.weights_situation})"), title_justify="left")
    for col in ("category", "score", "weight", "points", "source"):
        cats.add_column(col, justify="left" if col in ("category", "source") else "right")
    for c in p.categories:
        cats.add_row(
            CATEGORY_TEXT[c.category],
            "-" if c.score is None else f"{c.score:.2f}%",
            f"{c.weight:g}%",
            f"{c.points:.2f}",
            Text(c.source),
        )
    console.print(cats)

    if p.levers:
        levers = Table(title="What moves the score most", title_justify="left")
        for col in ("measure", "what it takes", "measure points", "final score"):
            levers.add_column(col, justify="left" if col != "final score" else "right")
        for lever in p.levers[:LEVERS_SHOWN]:
            levers.add_row(
                Text(lever.measure_id),
                Text(lever.action),
                f"{lever.measure_points_before:.2f} -> {lever.measure_points_after:.2f}",
                f"+{lever.final_score_gain:.2f}",
            )
        console.print(levers)
    for note in [*q.notes, *p.assumptions]:
        console.print(f"[dim]- {escape(note)}[/dim]", highlight=False)


def print_report(report: ScoreReport) -> None:
    """The terminal view of a score report (one section per entity)."""
    if not report.projections:
        console.print("No measure rows to score.")
    for projection in report.projections:
        _print_projection(projection)


def _evaluate(files: list[Path], year: int, level: str, strict: bool):
    """Evaluate claim files, saying on standard error what could not be read."""
    from ..engine import evaluate_lines  # lazy: scoring from --rows must not need the engine
    from ..report import sources as sources_mod

    loaded = sources_mod.Loaded(lines=pl.DataFrame(), files=len(files))
    try:
        result = evaluate_lines(
            sources_mod.iter_batches(files, None, quiet=True, loaded=loaded), year, level=level
        )
    except sources_mod.InputError as exc:
        raise fail(str(exc)) from None
    report_reading(loaded.report, strict=strict)
    return result


def score(
    sources: list[Path] = typer.Argument(
        None, help="Claim files (837P, CSV, Parquet) to evaluate; omit with --rows."
    ),
    year: int = typer.Option(..., "--year", "-y", help="Performance year (2023-2026)."),
    rows: Path | None = typer.Option(
        None, "--rows", help="Rows written by `mipsclaims report --format json|csv`."
    ),
    level: Level = typer.Option(Level.tin_npi, "--level", help="Entity level when evaluating."),
    small_practice: bool = typer.Option(
        False, "--small-practice", help="15 or fewer clinicians (3-point floor, bonus, weights)."
    ),
    ia: float | None = typer.Option(None, "--ia", help="Improvement activities points (0-40)."),
    pi: float | None = typer.Option(
        None, "--pi", help="Promoting interoperability score in percent; omit if reweighted."
    ),
    cost: float | None = typer.Option(
        None, "--cost", help="Cost score in percent; omit if not scored (reweighted)."
    ),
    margin: float = typer.Option(5.0, "--margin", help="Points around the threshold = neutral."),
    scaling_factor: float | None = typer.Option(
        None, "--scaling-factor", help="Assumed budget-neutrality factor for positive adjustments."
    ),
    prior_quality: float | None = typer.Option(
        None, "--prior-quality", help="Prior year's quality achievement percent (improvement)."
    ),
    required_measures: int = typer.Option(
        6, "--required-measures", help="Measures required (fewer only when fewer apply)."
    ),
    through_month: int | None = typer.Option(
        None, "--through-month", help="Last month the claims cover (1-12), for --rows input."
    ),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    strict: bool = STRICT,
) -> None:
    """Project the MIPS final score: measure points, quality score, payment zone and levers.

    Example: mipsclaims score claims/*.837 --year 2025 --small-practice --ia 40
    Example: mipsclaims score --rows rows.json --year 2025 --through-month 6 --format json
    """
    try:
        options = ScoringOptions(
            small_practice=small_practice,
            ia_points=ia,
            pi_score=pi,
            cost_score=cost,
            margin=margin,
            scaling_factor=scaling_factor,
            prior_quality_achievement=prior_quality,
            required_measures=required_measures,
            through_month=through_month,
        )
    except ValueError as exc:
        raise fail(f"invalid option: {exc}") from None
    if year not in scoring.THRESHOLDS:
        raise fail(f"no scoring for {year}; years: {', '.join(map(str, scoring.THRESHOLDS))}")
    if bool(sources) == (rows is not None):
        raise fail("give claim files or --rows FILE (one of them)")
    try:
        if rows is not None:
            report = scoring.score(scoring.read_rows(rows), year, options)
        else:
            result = _evaluate(list(sources), year, level.value, strict)
            report = scoring.score_result(result, year, options)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    if output is OutputFormat.json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)
