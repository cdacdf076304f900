"""``mipsclaims report``, ``gaps`` and ``check``: what a practice sees, from files or a store.

Exit codes: 0 success; 1 ``check`` found eligible claims without a QDC; 2 usage error,
unreadable input or an output that cannot be written; 3 ``--strict`` and some claim could
not be read (nothing is written); 130 Ctrl-C. What could not be read is always summarised
on standard error. Messages name claims by position and hash, never by patient data.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import (
    STRICT,
    Level,
    console,
    emit,
    errors,
    fail,
    measure_list,
    note_unless,
    output_console,
    reading,
    to_stdout,
)
from .spark_run import ENGINE, MASTER, Engine

if TYPE_CHECKING:
    from ..engine import EngineResult


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"


FILES = typer.Argument(
    None, help="Claim files: 837P, or claim-line CSV/Parquet.", show_default=False
)
STORE = typer.Option(
    None, "--store", help="A store made by `mipsclaims ingest` (with or instead of files)."
)
YEAR = typer.Option(2025, "--year", "-y", help="Performance year.")
LEVEL = typer.Option(Level.tin_npi, "--level", help="tin-npi (per clinician) or tin (group).")
OUT = typer.Option(None, "--output", "-o", help="Write to this file instead of the terminal.")
QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar or notes.")
MEASURES = typer.Option(None, "--measures", "-m", help="Only these measures, e.g. 128,134,181,226.")
REMIT = typer.Option(
    None,
    "--remit",
    help="835 remittance file or folder (repeatable): add what CMS confirmed (remark N365).",
)


def _evaluate(
    files: list[Path] | None, store: Path | None, year: int, level: str, quiet: bool, strict: bool
) -> EngineResult:
    """The report's engine result, read and evaluated in one streaming pass."""
    from .. import api
    from ..engine import as_level

    with reading(files, store, quiet=quiet, strict=strict) as (report, bar):
        return api.evaluate(
            files or None, year, as_level(level), store=store, report=report, progress=bar
        )


def report(
    files: list[Path] = FILES,
    store: Path | None = STORE,
    year: int = YEAR,
    level: Level = LEVEL,
    fmt: ReportFormat = typer.Option(ReportFormat.table, "--format", "-f", help="Output format."),
    output: Path | None = OUT,
    small_practice: bool = typer.Option(
        False, "--small-practice", help="Score as a small practice (15 or fewer clinicians)."
    ),
    specialty: str | None = typer.Option(
        None,
        "--specialty",
        help="HTML: rank only MVPs CMS lists for this specialty (e.g. 'Physical Therapy').",
    ),
    quiet: bool = QUIET,
    strict: bool = STRICT,
    remit: list[Path] | None = REMIT,
    engine: Engine = ENGINE,
    master: str = MASTER,
) -> None:
    """Counts, data completeness and rates per clinician and measure; the HTML report.

    With --remit, beside each row: completeness and rate counting only the QDCs an 835
    confirmed, and the QDCs at risk (see `gaps --remit`).

    Exit codes: 0 ok, 2 usage error, unreadable input or unwritable output, 3 --strict and
    some claim could not be read, 130 interrupted. --engine spark evaluates 837P files on a
    Spark cluster (table, json and csv; same output as the local engine).

    Example: mipsclaims report --year 2025 --format html -o report.html examples/pt-clinic-2025.837
    Example: mipsclaims report --store claims-store --year 2025 --format csv -o rows.csv
    """
    from ..report import export

    if remit:
        from .remit_cmd import report_remit

        return report_remit(
            files, store, remit, year, level.value, fmt.value, output, quiet, strict
        )
    if engine is Engine.spark:
        if fmt is ReportFormat.html:
            raise fail("--engine spark writes table, json and csv (html needs the local engine)")
        from .spark_run import evaluate_on_spark

        result = evaluate_on_spark(files, store, year, level.value, master, quiet, strict)
    else:
        result = _evaluate(files, store, year, level.value, quiet, strict)
    if fmt is ReportFormat.json:
        emit(export.to_json(result), output)
    elif fmt is ReportFormat.csv:
        emit(export.to_csv(result), output)
    elif fmt is ReportFormat.html:
        from .. import api
        from ..report.html import render_html
        from ..scoring import ScoringOptions

        options = ScoringOptions(small_practice=small_practice, specialty=specialty)
        scores = api.report_scores(result, options)
        emit(render_html(result, scores=scores), output)
        if output is not None:
            note_unless(quiet, f"wrote {output}")
    else:
        from ..report import terminal

        with output_console(output) as target:
            terminal.print_report(result, console=target)


def gaps(
    files: list[Path] = FILES,
    store: Path | None = STORE,
    year: int = YEAR,
    level: Level = LEVEL,
    measures: str | None = MEASURES,
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="table or csv."),
    output: Path | None = OUT,
    show_phi: bool = typer.Option(
        False, "--show-phi", help="Show patient ids and raw claim ids (CLM01). Handle with care."
    ),
    quiet: bool = QUIET,
    strict: bool = STRICT,
    remit: list[Path] | None = REMIT,
) -> None:
    """Worklist for billing staff: eligible visits missing a QDC or with conflicting QDCs.

    With --remit: instead, every QDC sent that no 835 confirmed, and what to do about it.

    Patients are masked and claims shown as claim #position (hash) unless --show-phi.
    Exit codes: 0 ok (with or without gaps), 2 usage error, unreadable input or unwritable
    output, 3 --strict and some claim could not be read.

    Example: mipsclaims gaps --year 2025 --measures 128,134 --format csv -o gaps.csv claims.837
    """
    from .. import api
    from ..engine import as_level
    from ..report.export import csv_with_spec
    from ..report.terminal import print_gaps

    if remit:
        from .remit_cmd import gaps_remit

        return gaps_remit(
            files,
            store,
            remit,
            year,
            level.value,
            measures,
            fmt.value,
            output,
            show_phi,
            quiet,
            strict,
        )
    with reading(files, store, quiet=quiet, strict=strict) as (report, bar):
        worklist = api.gaps(
            files or None,
            year,
            as_level(level.value),
            measures=measure_list(measures),
            show_phi=show_phi,
            store=store,
            report=report,
            progress=bar,
        )
    if fmt is ListFormat.csv:
        emit(csv_with_spec(worklist, year), output)
        return
    with output_console(output) as target:
        print_gaps(worklist, year, target)


def check(
    files: list[Path] = FILES,
    store: Path | None = STORE,
    year: int | None = typer.Option(
        None, "--year", "-y", help="Performance year (default: the year of the latest claim)."
    ),
    measures: str | None = MEASURES,
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="table or csv."),
    quiet: bool = QUIET,
    strict: bool = STRICT,
) -> None:
    """Before sending a batch: does every eligible claim carry a QDC for each measure?

    Exit code 0 when it does, 1 when some eligible claim has no QDC (listed), 2 on bad input,
    3 with --strict when some claim could not be read (it could not be checked either).
    Each claim is checked on its own, even when another claim of the patient has the QDC.
    With --year the input is read in one streaming pass (memory stays flat for big
    batches); without it, every line is read first to find the year of the latest claim.

    Example: mipsclaims check --measures 128,134,181,226 batch-2025-03.837
    """
    from .. import api
    from ..report.export import csv_with_spec
    from ..report.terminal import print_missing

    with reading(files, store, quiet=quiet, strict=strict) as (report, bar):
        checked = api.check(
            files or None,
            year,
            measures=measure_list(measures),
            store=store,
            report=report,
            progress=bar,
        )
    missing = checked.missing
    if fmt is ListFormat.csv:
        to_stdout(csv_with_spec(missing, checked.year))
    else:
        print_missing(missing, checked.year, console)
    if fmt is ListFormat.table or not quiet:
        summary = (
            f"{checked.claims} claims, {checked.eligible} eligible claim-measure pairs in "
            f"{checked.year}; "
            f"{missing.height} without a QDC"
        )
        (errors if fmt is ListFormat.csv else console).print(summary, highlight=False)
    raise typer.Exit(1 if missing.height else 0)
