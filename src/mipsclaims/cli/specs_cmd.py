"""``mipsclaims specs``: import, build, list and show the normalised measure specs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .common import fail

if TYPE_CHECKING:
    from .. import specs

app = typer.Typer(help="Measure specs built from CMS's measure data.", no_args_is_help=True)
console = Console()

SPECS_DIR_HELP = (
    "Directory of imported specs (default: $MIPSCLAIMS_SPECS_DIR, else "
    "$XDG_DATA_HOME/mipsclaims/specs, else ~/.local/share/mipsclaims/specs)."
)


def use_specs_dir(folder: Path | None) -> None:
    """Point this process (every command, the API) at another imported-specs directory."""
    from .. import specs

    if folder is not None:
        os.environ[specs.SPECS_DIR_ENV] = str(folder)
        specs.reload()


def _load(year: int) -> specs.YearSpec:
    from .. import specs

    try:
        return specs.load(year)
    except specs.UnsupportedYearError as exc:
        raise typer.BadParameter(str(exc), param_hint="--year") from None
    except specs.SpecFileError as exc:
        raise fail(str(exc)) from None


def print_header(spec: specs.YearSpec) -> None:
    from .. import specs

    note = specs.provisional_note(spec)
    if note:
        console.print(f"[bold yellow]{escape(note)}[/bold yellow]")
    console.print(f"spec source: {escape(specs.source_line(spec))}", highlight=False)


@app.command("list")
def list_measures(
    year: int = typer.Option(2025, "--year", "-y", help="Performance year."),
    specs_dir: Path = typer.Option(None, "--specs-dir", help=SPECS_DIR_HELP),
) -> None:
    """List the Medicare Part B claims measures of a year, and where its spec came from.

    Example: mipsclaims specs list --year 2026
    """
    from .. import specs

    use_specs_dir(specs_dir)
    spec = _load(year)
    print_header(spec)
    title = f"Medicare Part B claims measures, {year} ({len(spec.measures)})"
    if spec.is_provisional:
        title += f", provisional: {spec.coding_year} codes"
    table = Table(title=title)
    for column in (
        "id",
        "title",
        "type",
        "calculation",
        "high priority",
        "inverse",
        "benchmark",
        "programs",
    ):
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
            "MVP / APP Plus only" if m.is_mvp_only else "",
        )
    console.print(table)
    console.print(
        f"imported years: {', '.join(map(str, specs.imported_years())) or 'none'} "
        f"(in {specs.user_specs_dir()})",
        highlight=False,
    )


@app.command("show")
def show_measure(
    measure_id: str = typer.Argument(..., help="Measure id, e.g. 226 or 047."),
    year: int = typer.Option(2025, "--year", "-y", help="Performance year."),
    specs_dir: Path = typer.Option(None, "--specs-dir", help=SPECS_DIR_HELP),
) -> None:
    """Show one measure's spec: metadata, eligibility options and QDC options.

    Example: mipsclaims specs show 226 --year 2025
    """
    use_specs_dir(specs_dir)
    spec = _load(year)
    try:
        m = spec.measure(measure_id)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0]), param_hint="MEASURE_ID") from None
    print_header(spec)
    console.print(f"[bold]{m.measure_id}[/bold] {m.title} ({year})")
    if m.allowed_programs:
        console.print(
            "programs: "
            + ", ".join(m.allowed_programs)
            + (" (not traditional MIPS: MVP or APP Plus only)" if m.is_mvp_only else "")
        )
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
    from .. import specs
    from ..specs import builder

    target = out or specs.specs_dir()
    written = builder.build_all(cms, target)
    for name, text in written.items():
        console.print(f"wrote {target / name} ({len(text):,} bytes)")


@app.command("import")
def import_spec(
    year: int = typer.Option(..., "--year", "-y", help="Performance year the files are for."),
    single_source: Path = typer.Option(
        ...,
        "--single-source",
        help="CMS's claims single source: YYYY_Claims_SingleSource_vN.csv or "
        "qpp-single-source-YYYY.json.",
    ),
    measures_data: Path = typer.Option(
        None, "--measures-data", help="CMS's measures-data JSON of the year (optional)."
    ),
    benchmarks: Path = typer.Option(
        None, "--benchmarks", help="CMS's benchmarks JSON of the year (optional)."
    ),
    mvp: Path = typer.Option(None, "--mvp", help="CMS's MVP JSON of the year (optional)."),
    specs_dir: Path = typer.Option(None, "--specs-dir", help=SPECS_DIR_HELP),
) -> None:
    """Build a year's spec from CMS files you downloaded; every command then uses it.

    Metadata and benchmarks you do not give are kept from the year's current spec. A bad
    file changes nothing.

    Example: mipsclaims specs import --year 2026 --single-source 2026_Claims_SingleSource_v1.csv
    """
    from .. import specs
    from ..specs import importer

    use_specs_dir(specs_dir)
    try:
        result = importer.import_year(
            year, single_source, measures_data=measures_data, benchmarks=benchmarks, mvp=mvp
        )
    except importer.SpecImportError as exc:
        raise fail(f"{exc} (nothing was changed)") from None
    except specs.SpecFileError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot write {specs.user_specs_dir()}: {exc.strerror}") from None
    spec = result.spec
    console.print(
        f"imported {year}: {len(spec.measures)} claims measures -> {result.path}", highlight=False
    )
    console.print(f"spec source: {escape(specs.source_line(spec))}", highlight=False)
    for note in result.left_out:
        console.print(f"[yellow]left out[/yellow] {escape(note)}")
