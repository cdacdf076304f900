"""``mipsclaims report``, ``gaps`` and ``check``: what a practice sees, from files or a store.

Exit codes: 0 success; 1 ``check`` found eligible claims without a QDC; 2 usage error,
unreadable input or an output that cannot be written; 3 ``--strict`` and some claim could
not be read (nothing is written); 130 Ctrl-C. What could not be read is always summarised
on standard error. Messages name claims by position and hash, never by patient data.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from .. import atomicfile, interrupt
from ..atomicfile import atomic_path
from ..errors import InputError
from ..report.termsafe import SafeConsole, printable
from .common import STRICT, Level, errors, fail, report_reading
from .spark_run import ENGINE, MASTER, Engine

if TYPE_CHECKING:
    import polars as pl

    from ..engine import EngineResult
    from ..report import sources

console = SafeConsole()


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


def _note(message: str, quiet: bool) -> None:
    if not quiet:
        errors.print(message, highlight=False, markup=False, soft_wrap=True)


def _load(
    files: list[Path] | None, store: Path | None, quiet: bool, strict: bool
) -> sources.Loaded:
    from ..report import sources

    if not files and store is None:
        raise fail("give claim files, --store DIR, or both")
    try:
        loaded = sources.load(files or [], store, quiet=quiet)
    except InputError as exc:
        raise fail(str(exc)) from None
    report_reading(loaded.report, quiet=quiet, strict=strict)
    return loaded


def _evaluate(lines: pl.DataFrame, year: int, level: str, quiet: bool) -> EngineResult:
    from .. import specs
    from ..engine import as_level, evaluate_lines  # lazy: keeps `--help` fast
    from ..engine.facts import SpillError
    from ..report.progress import status

    try:
        with status(f"evaluating {lines.height:,} claim lines for {year}", quiet=quiet):
            return evaluate_lines(lines, year, level=as_level(level))
    except (specs.UnsupportedYearError, specs.SpecFileError, SpillError) as exc:
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
    strict: bool = False,
) -> EngineResult:
    """Read and evaluate in one streaming pass (report, gaps, check with a year): same
    result as ``_evaluate(_load(...).lines, ...)`` at a fraction of the memory.

    ``transform`` is applied to each batch of lines (a row-wise change only); ``loaded``
    receives the counts of what was read.
    """
    import polars as pl

    from .. import specs
    from ..engine import as_level, evaluate_lines
    from ..engine.facts import SpillError
    from ..report import sources

    if not files and store is None:
        raise fail("give claim files, --store DIR, or both")
    if loaded is None:
        loaded = sources.Loaded(lines=pl.DataFrame(), files=len(files or []))
    batches = sources.iter_batches(files or [], store, quiet=quiet, loaded=loaded)
    if transform is not None:
        batches = map(transform, batches)
    try:
        result = evaluate_lines(batches, year, level=as_level(level))
    except (InputError, specs.UnsupportedYearError, specs.SpecFileError, SpillError) as exc:
        raise fail(str(exc)) from None
    report_reading(loaded.report, quiet=quiet, strict=strict)
    return result


def _measures(text: str | None) -> list[str] | None:
    if not text:
        return None
    from ..specs import normalise_measure_id

    return [normalise_measure_id(m) for m in text.split(",") if m.strip()]


@contextmanager
def _console(output: Path | None) -> Iterator[Console]:
    """The terminal, or a plain-text console writing to ``output`` (atomically: the file
    appears, or an older one is replaced, only when everything was written)."""
    if output is None:
        yield console
        return
    try:
        with atomic_path(output) as path, path.open("w", encoding="utf-8") as fh:
            yield SafeConsole(file=fh, width=200, color_system=None)
    except OSError as exc:
        raise _cannot_write(output, exc) from None


def _cannot_write(output: Path, exc: OSError) -> typer.Exit:
    return fail(f"cannot write {output}: {exc.strerror or type(exc).__name__}")


def _to_stdout(text: str) -> None:
    """Write a CSV/JSON/HTML text to standard output; on a terminal without the control
    characters input may carry (they would act on the terminal), in a pipe as is."""
    interrupt.check()  # an interrupted command prints no result
    if sys.stdout.isatty():
        text = printable(text.replace("\r\n", "\n"))
    sys.stdout.write(text)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        _to_stdout(text)
        return
    try:
        atomicfile.write_text(output, text)
    except OSError as exc:
        raise _cannot_write(output, exc) from None


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
        result = _evaluate_files(files, store, year, level.value, quiet, strict=strict)
    if fmt is ReportFormat.json:
        _emit(export.to_json(result), output)
    elif fmt is ReportFormat.csv:
        _emit(export.to_csv(result), output)
    elif fmt is ReportFormat.html:
        from ..report.html import render_html, shown_scores
        from ..scoring import ScoringOptions

        scores = shown_scores(result, ScoringOptions(small_practice=small_practice))
        _emit(render_html(result, scores=scores), output)
        if output is not None:
            _note(f"wrote {output}", quiet)
    else:
        from ..report import terminal

        with _console(output) as target:
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
    from ..report.export import csv_with_spec
    from ..report.gaps import gap_frame
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
    result = _evaluate_files(files, store, year, level.value, quiet, strict=strict)
    worklist = gap_frame(result, show_phi=show_phi, measures=_measures(measures))
    if fmt is ListFormat.csv:
        _emit(csv_with_spec(worklist, year), output)
        return
    with _console(output) as target:
        print_gaps(worklist, year, target)


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
    import polars as pl

    from ..report import sources
    from ..report.check import missing_qdcs, per_claim_lines
    from ..report.export import csv_with_spec
    from ..report.terminal import print_missing

    if year is None:  # the year of the latest claim: every line is needed first
        loaded = _load(files, store, quiet, strict)
        year = _infer_year(loaded.lines)
        result = _evaluate(per_claim_lines(loaded.lines), year, "tin-npi", quiet)
    else:  # one streaming pass, like report
        loaded = sources.Loaded(lines=pl.DataFrame(), files=len(files or []))
        result = _evaluate_files(
            files,
            store,
            year,
            "tin-npi",
            quiet,
            transform=per_claim_lines,
            loaded=loaded,
            strict=strict,
        )
    chosen = _measures(measures)
    missing = missing_qdcs(result, chosen)
    eligible = result.instances
    if chosen:
        eligible = eligible.filter(pl.col("measure_id").is_in(chosen))
    if fmt is ListFormat.csv:
        _to_stdout(csv_with_spec(missing, year))
    else:
        print_missing(missing, year, console)
    if fmt is ListFormat.table or not quiet:
        summary = (
            f"{loaded.claims} claims, {eligible.height} eligible claim-measure pairs in {year}; "
            f"{missing.height} without a QDC"
        )
        (errors if fmt is ListFormat.csv else console).print(summary, highlight=False)
    raise typer.Exit(1 if missing.height else 0)
