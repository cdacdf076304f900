"""``report --remit`` and ``gaps --remit``: the as-sent counts beside what CMS confirmed.

Reading 835s: each ``--remit`` path is an 835 file or a folder (every file in it, by
name); a store's ingested 835s come first. Unreadable claims of an 835 are noted (by
position and hash), never fatal; an input with no readable 835 at all is a usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import polars as pl

from ..report import sources
from .common import fail

if TYPE_CHECKING:
    from ..report.remit import RemitReport
from .report_cmd import _console, _emit, _load, _measures, _note

__all__ = ["gaps_remit", "read_remittances", "report_remit"]


def _paths(remit: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in remit:
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith(".")))
        elif p.is_file():
            out.append(p)
        else:
            raise fail(f"no such 835 file or folder: {p}")
    return out


def read_remittances(remit: list[Path], store: Path | None, quiet: bool) -> pl.DataFrame:
    """Every 835 line of the store (if any), then of ``remit``, numbered in that order."""
    from ..remit.reader import read_remit_lines
    from ..remit.store import read_stored_remittances
    from ..store import StoreError
    from ..x12.report import ReadReport, X12Error

    paths = _paths(remit)
    try:
        stored = read_stored_remittances(store) if store is not None else None
    except StoreError as exc:
        raise fail(str(exc)) from None
    if not paths and (stored is None or stored.height == 0):
        raise fail("give 835 files with --remit (or a store with ingested 835s)")
    report = ReadReport()
    try:
        table = read_remit_lines(paths, report) if paths else None
    except (OSError, X12Error) as exc:
        raise fail(str(exc)) from None
    problems = [str(q) for q in report.quarantined] + [str(e) for e in report.errors]
    if problems:
        _note(f"{len(problems)} 835 claim(s) or interchange(s) could not be read:", quiet)
        for message in problems[:20]:
            _note(f"  {message}", quiet)
    if paths and report.claims_seen == 0 and report.errors:
        raise fail("no 835 remittance could be read")
    frames = [f for f in (stored, table) if f is not None]
    if len(frames) == 2 and stored is not None and stored.height and table is not None:
        # polars types max() as any scalar; remit_seq is Int64, so an int
        offset = cast(int, stored["remit_seq"].max()) + 1
        frames[1] = table.with_columns(pl.col("remit_seq") + offset)
    out = pl.concat(frames)
    _note(f"835: {out['remit_seq'].n_unique():,} claims ({out.height:,} rows) read", quiet)
    return out


def _remit_report(
    files: list[Path] | None,
    store: Path | None,
    remit: list[Path],
    year: int,
    level: str,
    quiet: bool,
    strict: bool = False,
) -> RemitReport:
    from .. import specs
    from ..engine import as_level
    from ..report.progress import status
    from ..report.remit import remit_report

    loaded: sources.Loaded = _load(files, store, quiet, strict)
    remittances = read_remittances(remit, store, quiet)
    try:
        with status(f"reconciling {loaded.lines.height:,} claim lines with 835s", quiet=quiet):
            return remit_report(loaded.lines, remittances, year, as_level(level))
    except specs.UnsupportedYearError as exc:
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
        _note(f"{n_unmatched} 835 claim(s) answer no claim given here (CLP01 unknown)", quiet)
    if fmt == "json":
        _emit(remit_json(rr), output)
    elif fmt == "csv":
        _emit(remit_csv(rr), output)
    elif fmt == "html":
        from ..report.html import render_html, shown_scores

        html = render_html(rr.sent, scores=shown_scores(rr.sent))
        _emit(with_remit_section(html, rr), output)
        if output is not None:
            _note(f"wrote {output}", quiet)
    else:
        with _console(output) as target:
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
    worklist = at_risk_frame(rr.reconciled, show_phi=show_phi, measures=_measures(measures))
    if fmt == "csv":
        _emit(csv_with_spec(worklist, year), output)
        return
    with _console(output) as target:
        print_at_risk(worklist, year, target)
