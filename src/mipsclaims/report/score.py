"""``mipsclaims score``'s output: a :class:`~mipsclaims.scoring.ScoreReport` as terminal
tables (one section per entity) or as JSON.

Input-derived text (TINs, measure titles, reasons) is passed as ``Text`` or escaped, so
that a value like ``[/x]`` is printed, never read as markup. Missing values are
:data:`~mipsclaims.display.NO_VALUE_ASCII`: these tables are plain ASCII.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ..display import NO_VALUE_ASCII, pct
from ..scoring import Projection, ScoreReport

ZONE_STYLE = {"safe": "bold green", "neutral": "bold yellow", "at_risk": "bold red"}
ZONE_TEXT = {"safe": "SAFE", "neutral": "NEAR THE THRESHOLD", "at_risk": "AT RISK"}
CATEGORY_TEXT = {
    "quality": "Quality",
    "cost": "Cost",
    "improvement_activities": "Improvement activities",
    "promoting_interoperability": "Promoting interoperability",
}
LEVERS_SHOWN = 5


def _entity(p: Projection) -> Text:
    """The entity as literal text: a TIN read from a file may hold ``[/x]``, not markup."""
    return Text(f"TIN {p.tin}" + (f" / NPI {p.npi}" if p.npi else " (group)"))


def _print_projection(p: Projection, console: Console) -> None:
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
            pct(m.data_completeness, none=NO_VALUE_ASCII),
            pct(m.performance_rate, none=NO_VALUE_ASCII),
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
            pct(c.score, none=NO_VALUE_ASCII, digits=2, scale=1),
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
    _print_options(p, console)


def _print_options(p: Projection, console: Console) -> None:
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
            left_out = " ".join(f"{e.measure_id} (MVP only)" for e in o.excluded) or NO_VALUE_ASCII
        else:
            name = f"{o.option} {o.title}"
            if o.specialties:
                name += f"\n[dim]for: {', '.join(o.specialties)}[/dim]"
            left_out = f"{len(o.outside)} outside the MVP" if o.outside else NO_VALUE_ASCII
        table.add_row(
            str(o.rank),
            name,
            f"{o.quality_score:.2f}%",
            f"{o.final_score:.2f}",
            " ".join(o.uses) or NO_VALUE_ASCII,
            left_out,
        )
    console.print(table)
    console.print(
        "[dim]- an MVP must be registered with CMS and should fit the clinician's specialty "
        "(--specialty NAME ranks only MVPs CMS lists for it); it also sets the cost and "
        "improvement activity measures[/dim]",
        highlight=False,
    )


def print_score(report: ScoreReport, console: Console) -> None:
    """The terminal view of a score report (one section per entity)."""
    if report.provisional:
        console.print(f"[bold yellow]{report.provisional}[/bold yellow]", highlight=False)
    if not report.projections:
        console.print("No measure rows to score.")
    for projection in report.projections:
        _print_projection(projection, console)


def score_json(report: ScoreReport) -> str:
    """The score report as JSON (the models' own field names), without a trailing newline."""
    return report.model_dump_json(indent=2)
