"""What every command shares: the entity level option, the error console, usage failure,
the summary of what could not be read (with ``--strict`` as an error exit), the progress
bar of a read, and where a command's output goes (terminal, standard output, a file
written atomically). Rendering and IO only: what is read and counted is the library's
(:mod:`mipsclaims.api`)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.text import Text

from .. import atomicfile, interrupt
from ..errors import MipsClaimsError
from ..report.progress import FileProgress, file_progress, wanted
from ..report.termsafe import SafeConsole, printable

if TYPE_CHECKING:
    from ..x12.report import ReadReport

errors = SafeConsole(stderr=True)
console = SafeConsole()

#: Exit code of ``--strict`` when a claim was quarantined or an interchange failed.
EXIT_STRICT = 3
#: Entries of each kind listed one by one after the per-reason counts.
LISTED = 20

STRICT = typer.Option(
    False,
    "--strict",
    help="Exit with code 3, writing nothing, when any claim or interchange could not be read.",
)


class Level(StrEnum):
    tin_npi = "tin-npi"
    tin = "tin"


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error (literally: it may quote input) and exit with 2."""
    errors.print(Text.assemble(("error: ", "red"), message), highlight=False, soft_wrap=True)
    return typer.Exit(2)


def note(message: str) -> None:
    """A line on standard error, printed literally (no markup, no control characters)."""
    errors.print(message, highlight=False, markup=False, soft_wrap=True)


def read_losses(report: ReadReport) -> list[str]:
    """PHI-free lines saying how many claims (and lines, when known) could not be read and
    why, counted by reason; empty when nothing was lost."""
    from ..x12.report import total  # polars and numpy only when a command reads input

    quarantined, failed = total(report.quarantined), total(report.errors)
    if not quarantined and not failed and report.claims_seen <= report.claims_read:
        return []
    lost = max(report.claims_seen - report.claims_read, quarantined)
    by_reason = report.quarantine_counts()  # every quarantined claim, listed or not
    lines_lost = sum(lines for _, _, lines in by_reason)
    text = f"{lost:,} of {report.claims_seen:,} claims could not be read"
    if lines_lost:
        text += f" ({lines_lost:,} service lines)"
    if failed:
        text += f"; {failed:,} interchange(s) failed (their claims are not counted above)"
    out = [f"warning: {text}; they are left out of every count:"]
    reasons: Counter[str] = Counter({reason: claims for reason, claims, _ in by_reason})
    reasons.update(e.message for e in report.errors)
    for reason, count in reasons.most_common():
        out.append(f"  {count:>6,} × {reason}")
    for item in [*report.errors, *report.quarantined][:LISTED]:
        out.append(f"  {item}")
    if quarantined + failed > LISTED:
        out.append(f"  ... and {quarantined + failed - LISTED:,} more")
    return out


def report_reading(report: ReadReport, *, quiet: bool = False, strict: bool = False) -> None:
    """Print what could not be read (always, even under ``--quiet``: a loss is never
    silent), then the warnings' count; with ``strict`` a loss is an exit with
    :data:`EXIT_STRICT`."""
    from ..x12.report import total

    losses = read_losses(report)
    for line in losses:
        note(line)
    warnings = total(report.warnings)
    if warnings and not quiet:
        kinds = Counter(w.message for w in report.warnings)
        note(f"{warnings:,} warning(s) while reading:")
        for reason, count in kinds.most_common(LISTED):
            note(f"  {count:>6,} × {reason}")
    if strict and losses:
        errors.print(
            Text.assemble(("error: ", "red"), "--strict: some claims could not be read"),
            highlight=False,
        )
        raise typer.Exit(EXIT_STRICT)


def note_unless(quiet: bool, message: str) -> None:
    """:func:`note`, unless the command was asked to be quiet."""
    if not quiet:
        note(message)


@contextmanager
def reading_bar(files: Sequence[Path] | None, quiet: bool) -> Iterator[FileProgress | None]:
    """The progress bar of reading ``files`` (bytes as they are read), or ``None`` when no
    one would see it (``--quiet``, standard error not a terminal): the readers then take
    their fastest path."""
    if not files or not wanted(quiet):
        yield None
        return
    sizes = [Path(p).stat().st_size for p in files if Path(p).is_file()]
    with file_progress(sum(sizes), quiet=quiet) as bar:
        yield bar


@contextmanager
def reading(
    files: Sequence[Path] | None, store: Path | None, *, quiet: bool, strict: bool
) -> Iterator[tuple[ReadReport, FileProgress | None]]:
    """Around a library call that reads claims: the read report and progress bar to give
    it; a library error is a usage failure (exit 2), and what could not be read is said
    afterwards (``--strict``: exit 3)."""
    if not files and store is None:
        raise fail("give claim files, --store DIR, or both")
    from ..x12.report import ReadReport  # polars and numpy only when a command reads input

    report = ReadReport()
    try:
        with reading_bar(files, quiet) as bar:
            yield report, bar
    except MipsClaimsError as exc:
        raise fail(str(exc)) from None
    report_reading(report, quiet=quiet, strict=strict)


def measure_list(text: str | None) -> list[str] | None:
    """``--measures 128,134`` as measure ids (``None``: every measure)."""
    if not text:
        return None
    from ..specs import normalise_measure_id

    return [normalise_measure_id(m) for m in text.split(",") if m.strip()]


def cannot_write(output: Path, exc: OSError) -> typer.Exit:
    return fail(f"cannot write {output}: {exc.strerror or type(exc).__name__}")


@contextmanager
def output_console(output: Path | None) -> Iterator[Console]:
    """The terminal, or a plain-text console writing to ``output`` (atomically: the file
    appears, or an older one is replaced, only when everything was written)."""
    if output is None:
        yield console
        return
    try:
        with atomicfile.atomic_path(output) as path, path.open("w", encoding="utf-8") as fh:
            yield SafeConsole(file=fh, width=200, color_system=None)
    except OSError as exc:
        raise cannot_write(output, exc) from None


def to_stdout(text: str) -> None:
    """Write a CSV/JSON/HTML text to standard output; on a terminal without the control
    characters input may carry (they would act on the terminal), in a pipe as is."""
    interrupt.check()  # an interrupted command prints no result
    if sys.stdout.isatty():
        text = printable(text.replace("\r\n", "\n"))
    sys.stdout.write(text)


def emit(text: str, output: Path | None) -> None:
    """``text`` to standard output, or to ``output`` atomically."""
    if output is None:
        to_stdout(text)
        return
    try:
        atomicfile.write_text(output, text)
    except OSError as exc:
        raise cannot_write(output, exc) from None
