"""``mipsclaims report``, ``gaps`` and ``check``: what a practice sees, from files or a store.

Exit codes: 0 success; 1 ``check`` found eligible claims without a QDC; 2 usage error or
unreadable input. Messages name claims by position and hash, never by patient data.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.console import Console

from ..report import sources
from .common import Level, errors, fail
from .spark_run import ENGINE, MASTER, Engine

console = Console()


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


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        errors.print(message, highlight=False, markup=False, soft_wrap=True)


def _note_unreadable(loaded: sources.Loaded, quiet: bool) -> None:
    if loaded.quarantined:
        _note(f"{len(loaded.quarantined)} claim(s) or interchange(s) could not be read:", quiet)
        for message in loaded.quarantined[:20]:
            _note(f"  {message}", quiet)


def _load(files: list[Path] | None, store: Path | None, quiet: bool) -> sources.Loaded:
    if not files and store is None:
        raise fail("give claim files, --store DIR, or both")
    try:
        loaded = sources.load(files or [], store, quiet=quiet)
    except sources.InputError as exc:
        raise fail(str(exc)) from None
    _note_unreadable(loaded, quiet)
    return loaded


def _evaluate(lines: pl.DataFrame, year: int, level: str, quiet: bool):
    from .. import specs
    from ..engine import evaluate_lines  # lazy: keeps `--help` fast
    from ..engine.facts import SpillError
    from ..report.progress import status

    try:
        with status(f"evaluating {lines.height:,} claim lines for {year}", quiet=quiet):
            return evaluate_lines(lines, year, level=level)
    except (specs.UnsupportedYearError, SpillError) as exc:
        raise fail(str(exc)) from None


def _evaluate_files(
    files: list[Path] | None,
    store: Path | None,
    year: int,
    level: str,
    quiet: bool,
    *,
    transform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    loaded: sources.Loaded | None = None,
):
    """Read and evaluate in one streaming pass (report, gaps, check with a year): same
    result as ``_evaluate(_load(...).lines, ...)`` at a fraction of the memory.

    ``transform`` is applied to each batch of lines (a row-wise change only); ``loaded``
    receives the counts of what was read.
    """
    from .. import specs
    from ..engine import evaluate_lines
    from ..engine.facts import SpillError

    if not files and store is None:
        raise fail("give claim files, --store DIR, or both")
    if loaded is None:
        loaded = sources.Loaded(lines=pl.DataFrame(), files=len(files or []))
    batches = sources.iter_batches(files or [], store, quiet=quiet, loaded=loaded)
    if transform is not None:
        batches = map(transform, batches)
    try:
        result = evaluate_lines(batches, year, level=level)
    except (sources.InputError, specs.UnsupportedYearError, SpillError) as exc:
        raise fail(str(exc)) from None
    _note_unreadable(loaded, quiet)
    return result


def _measures(text: str | None) -> list[str] | None:
    if not text:
        return None
    from ..specs import normalise_measure_id

    return [normalise_measure_id(m) for m in text.split(",") if m.strip()]


@contextmanager
def _console(output: Path | None) -> Iterator[Console]:
    """The terminal, or a plain-text console writing to ``output`` (closed afterwards)."""
    if output is None:
        yield console
        return
    with output.open("w", encoding="utf-8") as fh:
        yield Console(file=fh, width=200, color_system=None)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


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
    quiet: bool = QUIET,
    engine: Engine = ENGINE,
    master: str = MASTER,
) -> None:
    """Counts, data completeness and rates per clinician and measure; the HTML report.

    Exit codes: 0 ok, 2 usage error or unreadable input. --engine spark evaluates 837P
    files on a Spark cluster (table, json and csv; same output as the local engine).

    Example: mipsclaims report --year 2025 --format html -o report.html examples/pt-clinic-2025.837
    Example: mipsclaims report --store claims-store --year 2025 --format csv -o rows.csv
    """
    from ..report import export

    if engine is Engine.spark:
        if fmt is ReportFormat.html:
            raise fail("--engine spark writes table, json and csv (html needs the local engine)")
        from .spark_run import evaluate_on_spark

        result = evaluate_on_spark(files, store, year, level.value, master, quiet)
    else:
        result = _evaluate_files(files, store, year, level.value, quiet)
    if fmt is ReportFormat.json:
        _emit(export.to_json(result, year=year, level=level.value), output)
    elif fmt is ReportFormat.csv:
        _emit(export.to_csv(result), output)
    elif fmt is ReportFormat.html:
        from .. import scoring
        from ..report.html import render_html

        scores = None
        if year in scoring.THRESHOLDS and result.rows.height:
            options = scoring.ScoringOptions(small_practice=small_practice)
            scores = scoring.score_result(result, year, options)
        _emit(render_html(result, year=year, level=level.value, scores=scores), output)
        if output is not None:
            _note(f"wrote {output}", quiet)
    else:
        from ..report import terminal

        with _console(output) as target:
            terminal.print_report(result, year=year, level=level.value, console=target)


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
) -> None:
    """Worklist for billing staff: eligible visits missing a QDC or with conflicting QDCs.

    Patients are masked and claims shown as claim #position (hash) unless --show-phi.
    Exit codes: 0 ok (with or without gaps), 2 usage error or unreadable input.

    Example: mipsclaims gaps --year 2025 --measures 128,134 --format csv -o gaps.csv claims.837
    """
    from ..report.csvsafe import frame_to_csv
    from ..report.gaps import gap_frame
    from ..report.terminal import worklist_tables

    result = _evaluate_files(files, store, year, level.value, quiet)
    worklist = gap_frame(result.instances, year, show_phi=show_phi, measures=_measures(measures))
    if fmt is ListFormat.csv:
        _emit(frame_to_csv(worklist), output)
        return
    with _console(output) as target:
        for table in worklist_tables(worklist, f"Open gaps, {year}"):
            target.print(table)
        if worklist.height:
            target.print(f"{worklist.height} open gaps.", highlight=False)
        else:
            target.print("No open gaps.")


def _infer_year(lines: pl.DataFrame) -> int:
    last = lines["service_date"].max() if lines.height else None
    return last.year if isinstance(last, dt.date) else dt.date.today().year


def check(
    files: list[Path] = FILES,
    store: Path | None = STORE,
    year: int | None = typer.Option(
        None, "--year", "-y", help="Performance year (default: the year of the latest claim)."
    ),
    measures: str | None = MEASURES,
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", "-f", help="table or csv."),
    quiet: bool = QUIET,
) -> None:
    """Before sending a batch: does every eligible claim carry a QDC for each measure?

    Exit code 0 when it does, 1 when some eligible claim has no QDC (listed), 2 on bad input.
    Each claim is checked on its own, even when another claim of the patient has the QDC.
    With --year the input is read in one streaming pass (memory stays flat for big
    batches); without it, every line is read first to find the year of the latest claim.

    Example: mipsclaims check --measures 128,134,181,226 batch-2025-03.837
    """
    from ..report.check import missing_qdcs, per_claim_lines
    from ..report.csvsafe import frame_to_csv
    from ..report.terminal import worklist_tables

    if year is None:  # the year of the latest claim: every line is needed first
        loaded = _load(files, store, quiet)
        year = _infer_year(loaded.lines)
        result = _evaluate(per_claim_lines(loaded.lines), year, "tin-npi", quiet)
    else:  # one streaming pass, like report
        loaded = sources.Loaded(lines=pl.DataFrame(), files=len(files or []))
        result = _evaluate_files(
            files, store, year, "tin-npi", quiet, transform=per_claim_lines, loaded=loaded
        )
    chosen = _measures(measures)
    missing = missing_qdcs(result.instances, year, chosen)
    eligible = result.instances
    if chosen:
        eligible = eligible.filter(pl.col("measure_id").is_in(chosen))
    if fmt is ListFormat.csv:
        sys.stdout.write(frame_to_csv(missing))
    else:
        for table in worklist_tables(missing, "Eligible claims without a QDC"):
            console.print(table)
    if fmt is ListFormat.table or not quiet:
        summary = (
            f"{loaded.claims} claims, {eligible.height} eligible claim-measure pairs in {year}; "
            f"{missing.height} without a QDC"
        )
        (errors if fmt is ListFormat.csv else console).print(summary, highlight=False)
    raise typer.Exit(1 if missing.height else 0)
