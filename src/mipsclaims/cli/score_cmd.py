"""``mipsclaims score``: points, quality score and projected final score (issue 9)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import api, scoring
from ..engine.result import as_level
from ..report.termsafe import SafeConsole
from ..scoring import Projection, ScoreReport, ScoringOptions
from ..x12.report import ReadReport
from .common import STRICT, fail, report_reading

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


class ScoreLevel(StrEnum):
    """Entities to score: clinicians, the TIN (group), or both in one run."""

    tin_npi = "tin-npi"
    tin = "tin"
    both = "both"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _entity(p: Projection) -> Text:
    """The entity as literal text: a TIN read from a file may hold ``[/x]``, not markup."""
    return Text(f"TIN {p.tin}" + (f" / NPI {p.npi}" if p.npi else " (group)"))


def _print_projection(p: Projection) -> None:
    style = ZONE_STYLE[p.zone]
    console.rule(_entity(p))
    console.print(f"Reporting option: [bold]{p.reporting_option}[/bold]", highlight=False)
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
    table.add_column(f"best {q.required_measures}", no_wrap=True)
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
    for left_out in q.excluded:
        console.print(f"[dim]- {left_out.measure_id}: {left_out.reason}[/dim]", highlight=False)
    population = (
        f" + {q.population_health_points:g} population health"
        if q.population_health_points is not None
        else ""
    )
    available = q.available_points if q.available_points is not None else q.required_measures * 10
    console.print(
        f"Quality: {q.achievement_points:.2f} points + {q.small_practice_bonus:g} bonus"
        f"{population} over {available:g} = {q.achievement_percent:.2f}%, improvement "
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
    _print_options(p)


def _print_options(p: Projection) -> None:
    """The ranking of reporting options: what each would earn and which measures it uses."""
    if not p.reporting_options:
        return
    table = Table(
        title="Reporting options the claims allow (best projected quality score first)",
        title_justify="left",
    )
    for col in ("#", "option", "quality", "final", "uses", "not counted"):
        table.add_column(col, justify="right" if col in ("#", "quality", "final") else "left")
    for o in p.reporting_options:
        if o.kind == "traditional":
            name = "traditional MIPS"
            left_out = " ".join(f"{e.measure_id} (MVP only)" for e in o.excluded) or "-"
        else:
            name = f"{o.option} {o.title}"
            if o.specialties:
                name += f"\n[dim]for: {', '.join(o.specialties)}[/dim]"
            left_out = f"{len(o.outside)} outside the MVP" if o.outside else "-"
        table.add_row(
            str(o.rank),
            name,
            f"{o.quality_score:.2f}%",
            f"{o.final_score:.2f}",
            " ".join(o.uses) or "-",
            left_out,
        )
    console.print(table)
    console.print(
        "[dim]- an MVP must be registered with CMS and should fit the clinician's specialty "
        "(--specialty NAME ranks only MVPs CMS lists for it); it also sets the cost and "
        "improvement activity measures[/dim]",
        highlight=False,
    )


def print_report(report: ScoreReport) -> None:
    """The terminal view of a score report (one section per entity)."""
    if report.provisional:
        console.print(f"[bold yellow]{report.provisional}[/bold yellow]", highlight=False)
    if not report.projections:
        console.print("No measure rows to score.")
    for projection in report.projections:
        _print_projection(projection)


def score(
    sources: list[Path] = typer.Argument(
        None, help="Claim files (837P, CSV, Parquet) to evaluate; omit with --rows."
    ),
    year: int = typer.Option(..., "--year", "-y", help="Performance year (2023-2026)."),
    rows: Path | None = typer.Option(
        None, "--rows", help="Rows written by `mipsclaims report --format json|csv`."
    ),
    level: ScoreLevel = typer.Option(
        ScoreLevel.tin_npi,
        "--level",
        help="Entities when evaluating: tin-npi (clinicians), tin (group) or both.",
    ),
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
    mvp: str | None = typer.Option(
        None, "--mvp", help="Score under this MVP's quality rules (e.g. M1370)."
    ),
    population_health: float | None = typer.Option(
        None,
        "--population-health",
        help="MVP population health measure points (0-10, from CMS); omit to leave it out.",
    ),
    specialty: str | None = typer.Option(
        None,
        "--specialty",
        help="Rank only MVPs CMS lists for this specialty (e.g. 'Physical Therapy').",
    ),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    strict: bool = STRICT,
) -> None:
    """Project the MIPS final score: measure points, quality score, payment zone and levers.

    Example: mipsclaims score claims/*.837 --year 2025 --small-practice --ia 40
    Example: mipsclaims score --rows rows.json --year 2025 --through-month 6 --format json
    Example: mipsclaims score claims/*.837 --year 2026 --mvp M1370 --small-practice
    Example: mipsclaims score claims/*.837 --year 2026 --level both --specialty therapy

    Every projection also ranks the reporting options the claims allow: traditional MIPS
    and each MVP whose quality measures the claims are eligible for.
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
            mvp=mvp,
            population_health_points=population_health,
            specialty=specialty,
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
            read = ReadReport()
            both = level is ScoreLevel.both
            levels = [as_level(lv) for lv in (("tin-npi", "tin") if both else (level.value,))]
            report = api.score(list(sources), year, options, levels, report=read)
            report_reading(read, strict=strict)
    except (ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    if output is OutputFormat.json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)
