"""``mipsclaims specs``: build, list and show the normalised measure specs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .. import specs
from ..specs import builder

app = typer.Typer(help="Measure specs built from CMS's measure data.", no_args_is_help=True)
console = Console()


def _load(year: int) -> specs.YearSpec:
    try:
        return specs.load(year)
    except specs.UnsupportedYearError as exc:
        raise typer.BadParameter(str(exc), param_hint="--year") from None


@app.command("list")
def list_measures(
    year: int = typer.Option(2025, "--year", "-y", help="Performance year."),
) -> None:
    """List the Medicare Part B claims measures of a year.

    Example: mipsclaims specs list --year 2025
    """
    spec = _load(year)
    table = Table(title=f"Medicare Part B claims measures, {year} ({len(spec.measures)})")
    for column in ("id", "title", "type", "calculation", "high priority", "inverse", "benchmark"):
        table.add_column(column)
    for m in spec.measures.values():
        bench = "none"
        if m.benchmark:
            bench = m.benchmark.kind + (" (topped out)" if m.benchmark.is_topped_out else "")
        table.add_row(
            m.measure_id,
            m.title,
            m.measure_type,
            m.calculation_type or "?",
            "yes" if m.is_high_priority else "",
            "yes" if m.is_inverse else "",
            bench,
        )
    console.print(table)


@app.command("show")
def show_measure(
    measure_id: str = typer.Argument(..., help="Measure id, e.g. 226 or 047."),
    year: int = typer.Option(2025, "--year", "-y", help="Performance year."),
) -> None:
    """Show one measure's spec: metadata, eligibility options and QDC options.

    Example: mipsclaims specs show 226 --year 2025
    """
    spec = _load(year)
    try:
        m = spec.measure(measure_id)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="MEASURE_ID") from None
    console.print(f"[bold]{m.measure_id}[/bold] {m.title} ({year})")
    console.print(
        f"type {m.measure_type}; metric {m.metric_type}; calculation {m.calculation_type}; "
        f"inverse {m.is_inverse}; high priority {m.is_high_priority}"
    )
    if m.strata:
        console.print("strata: " + ", ".join(s.name or "(unnamed)" for s in m.strata))
    if m.benchmark:
        b = m.benchmark
        console.print(
            f"claims benchmark ({b.kind}, benchmark year {b.benchmark_year}, topped out "
            f"{b.is_topped_out}, by program {b.is_topped_out_by_program}): "
            + ", ".join(f"p{k}={v:g}" for k, v in b.percentiles.items())
        )
    else:
        console.print("claims benchmark: none")
    for e in m.eligibility_options:
        age = f"age {e.min_age:g}" if e.min_age is not None else "any age"
        if e.max_age is not None:
            age += f"-{e.max_age:g}"
        console.print(
            f"\n[bold]eligibility option group {e.option_group}[/bold]: {age}"
            + (f", sex {e.sex}" if e.sex else "")
        )
        if e.diagnosis_codes:
            console.print(
                f"  diagnoses ({len(e.diagnosis_codes)}): "
                + " ".join(e.diagnosis_codes[:12])
                + (" ..." if len(e.diagnosis_codes) > 12 else "")
            )
        if e.diagnosis_exclusion_codes:
            console.print(f"  diagnosis exclusions ({len(e.diagnosis_exclusion_codes)})")
        console.print(
            f"  procedures ({len(e.procedure_codes)}): "
            + " ".join(p.code for p in e.procedure_codes[:20])
            + (" ..." if len(e.procedure_codes) > 20 else "")
        )
        if e.additional_procedure_codes:
            console.print("  also required on the claim: " + " ".join(e.additional_procedure_codes))
    console.print("\n[bold]quality-data codes[/bold]")
    for p in m.performance_options:
        codes = " + ".join(
            q.code + (f"-{'/'.join(q.modifiers)}" if q.modifiers else "") for q in p.quality_codes
        )
        console.print(f"  group {p.option_group} {p.option_type}: {codes}")


@app.command("build")
def build(
    cms: Path = typer.Option(..., "--cms", help="The shared CMS folder (with SOURCE.md)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default: measure_specs/)."),
) -> None:
    """Rebuild measure_specs/ from CMS's measure data, deterministically.

    Example: mipsclaims specs build --cms ../shared/cms
    """
    target = out or specs.specs_dir()
    written = builder.build_all(cms, target)
    for name, text in written.items():
        console.print(f"wrote {target / name} ({len(text):,} bytes)")
