"""``report --remit`` and ``gaps --remit``: the as-sent counts beside what CMS confirmed.

Reading 835s: each ``--remit`` path is an 835 file or a folder (every file in it, by
name); a store's ingested 835s come first. Unreadable claims of an 835 are noted (by
position and hash), never fatal; an input with no readable 835 at all is a usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from .. import api
from ..engine import as_level
from ..errors import MipsClaimsError
from ..x12.report import ReadReport
from .common import emit, fail, measure_list, note_unless, output_console, reading

if TYPE_CHECKING:
    from ..report.remit import RemitReport

__all__ = ["gaps_remit", "read_remittances", "report_remit"]


def read_remittances(remit: list[Path], store: Path | None, quiet: bool) -> pl.DataFrame:
    """Every 835 line of the store (if any), then of ``remit``, numbered in that order;
    what could not be read is noted."""
    report = ReadReport()
    try:
        table = api.remittances(remit, store=store, report=report)
    except MipsClaimsError as exc:
        raise fail(str(exc)) from None
    finally:
        problems = [str(q) for q in report.quarantined] + [str(e) for e in report.errors]
        if problems:
            note_unless(quiet, f"{len(problems)} 835 claim(s) or interchange(s) could not be read:")
            for message in problems[:20]:
                note_unless(quiet, f"  {message}")
    if not table.height and not report.sources:  # no 835 file, none in the store
        raise fail("give 835 files with --remit (or a store with ingested 835s)")
    claims = table["remit_seq"].n_unique()
    note_unless(quiet, f"835: {claims:,} claims ({table.height:,} rows) read")
    return table


def _remit_report(
    files: list[Path] | None,
    store: Path | None,
    remit: list[Path],
    year: int,
    level: str,
    quiet: bool,
    strict: bool = False,
) -> RemitReport:
    from ..report.progress import status

    with reading(files, store, quiet=quiet, strict=strict) as (report, bar):
        lines = api.read_claim_lines(files or None, store=store, report=report, progress=bar)
    remittances = read_remittances(remit, store, quiet)
    try:
        with status(f"reconciling {lines.height:,} claim lines with 835s", quiet=quiet):
            return api.remit_report(lines, remittances, year, as_level(level))
    except MipsClaimsError as exc:
        raise fail(str(exc)) from None


def report_remit(
    files: list[Path] | None,
    store: Path | None,
    remit: list[Path],
    year: int,
    level: str,
    fmt: str,
    output: Path | None,
    quiet: bool,
    strict: bool = False,
) -> None:
    """``report --remit``: the rows with confirmed-only figures (every format)."""
    from ..report.remit import print_remit, remit_csv, remit_json, with_remit_section

    rr = _remit_report(files, store, remit, year, level, quiet, strict)
    n_unmatched = rr.unmatched.height
    if n_unmatched:
        note_unless(quiet, f"{n_unmatched} 835 claim(s) answer no claim given here (CLP01 unknown)")
    if fmt == "json":
        emit(remit_json(rr), output)
    elif fmt == "csv":
        emit(remit_csv(rr), output)
    elif fmt == "html":
        from ..report.html import render_html

        html = render_html(rr.sent, scores=api.report_scores(rr.sent))
        emit(with_remit_section(html, rr), output)
        if output is not None:
            note_unless(quiet, f"wrote {output}")
    else:
        with output_console(output) as target:
            print_remit(rr, target)


def gaps_remit(
    files: list[Path] | None,
    store: Path | None,
    remit: list[Path],
    year: int,
    level: str,
    measures: str | None,
    fmt: str,
    output: Path | None,
    show_phi: bool,
    quiet: bool,
    strict: bool = False,
) -> None:
    """``gaps --remit``: every QDC not confirmed, with what to do about it."""
    from ..report.export import csv_with_spec
    from ..report.remit import at_risk_frame, print_at_risk

    rr = _remit_report(files, store, remit, year, level, quiet, strict)
    worklist = at_risk_frame(rr.reconciled, show_phi=show_phi, measures=measure_list(measures))
    if fmt == "csv":
        emit(csv_with_spec(worklist, year), output)
        return
    with output_console(output) as target:
        print_at_risk(worklist, year, target)
