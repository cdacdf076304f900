"""What every command shares: the entity level option, the error console, usage failure,
and the summary of what could not be read (with ``--strict`` as an error exit)."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from ..report.termsafe import SafeConsole

if TYPE_CHECKING:
    from ..x12.report import ReadReport

errors = SafeConsole(stderr=True)

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
