"""Rich tables for the terminal. Input-derived text is passed as ``Text`` so that a code
or name like ``[bold]`` is printed, never interpreted as markup."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import specs
from ..display import pct
from .export import ordered_rows

if TYPE_CHECKING:
    from ..engine.result import EngineResult


def print_provisional(year: int, console: Console) -> None:
    """The line a provisional year's terminal output starts with, and the source of an
    imported spec (nothing for a bundled published year)."""
    spec = specs.load(year)
    note = specs.provisional_note(spec)
    if note:
        console.print(Text(note, style="bold yellow"))
    if spec.imported:
        console.print(Text(f"{year} spec: {specs.source_line(spec)}", style="dim"))


def print_tables(
    tables: Iterable[Table], year: int, console: Console, closing: str | None = None
) -> None:
    """A terminal view of ``year``: the spec note, the tables, then a ``closing`` line."""
    print_provisional(year, console)
    for table in tables:
        console.print(table)
    if closing is not None:
        console.print(closing, highlight=False)


def _mark(text: str, ok: bool | None) -> Text:
    return Text(text + (" ✓" if ok else " ✗"), style="green" if ok else "red")


def rows_tables(result: EngineResult, *, width: int = 80) -> list[Table]:
    """One table per entity (TIN/NPI or TIN) of ``result``'s year: a line per measure and
    stratum.

    Seven columns; the measure title is cut to fit ``width`` (80 columns at least).
    """
    year = result.year
    tables = []
    rows = ordered_rows(result.rows)
    for (tin, npi), group in rows.group_by(["tin", "npi"], maintain_order=True):
        who = f"Clinician NPI {npi}, TIN {tin}" if npi else f"Group TIN {tin}"
        table = Table(
            title=Text(f"{who}: quality measures from claims, {year}"), title_justify="left"
        )
        table.caption = "a met · c not met · x excl. · b exc. · min = case minimum (20) · ✓ = met"
        table.add_column(
            "measure", max_width=max(16, width - 58), overflow="ellipsis", no_wrap=True
        )
        for header in ("elig.", "a/c/x/b", "no QDC", "compl.", "rate", "min"):
            table.add_column(header, justify="right", no_wrap=True)
        for r in group.iter_rows(named=True):
            label = r["measure_id"]
            if r.get("stratum"):
                label += f"/{r['stratum']}"
            if r.get("measure_title"):
                label += f" {r['measure_title']}"
            table.add_row(
                Text(label),
                str(r["eligible_population"]),
                f"{r['performance_met']}/{r['performance_not_met']}/"
                f"{r['denominator_exclusion']}/{r['denominator_exception']}",
                str(r["not_reported"]),
                _mark(pct(r["data_completeness"]), r["meets_data_completeness"]),
                pct(r["performance_rate"]),
                _mark("", r["meets_case_minimum"]),
            )
        tables.append(table)
    return tables


def print_report(result: EngineResult, *, console: Console) -> None:
    """``report``'s terminal view: the spec note, a table per entity, claims out of scope."""
    tables = rows_tables(result, width=console.width)
    print_provisional(result.year, console)
    if not tables:
        console.print(f"No eligible instances for any measure in {result.year}.")
    for table in tables:
        console.print(table)
    scope = result.scope
    if scope.height:
        left_out = ", ".join(
            f"{r['reason']}: {r['claims']:,} claim{'' if r['claims'] == 1 else 's'}"
            for r in scope.iter_rows(named=True)
        )
        console.print(Text(f"Claims by scope: {left_out}", style="dim"))


def worklist_tables(frame: pl.DataFrame, title: str) -> list[Table]:
    """A gap or check worklist for the terminal: one table per clinician, a row per gap.

    The QDCs that close a gap depend only on the measure, so they are listed once per
    measure under the table instead of in every row; columns that are empty in every row
    (stratum, patient when masked, QDCs found) are left out. CSV keeps every column.
    """
    from .gaps import MASKED

    tables = []
    for (tin, npi), group in frame.group_by(["tin", "npi"], maintain_order=True):
        who = f"NPI {npi}, TIN {tin}" if npi else f"TIN {tin}"
        table = Table(title=Text(f"{title}: {who} ({group.height})"), title_justify="left")
        columns = [("instance_date", "date"), ("claims", "claims"), ("claim", "claim")]
        columns += [("measure", "measure"), ("problem", "problem")]
        if "patient" in group.columns and (group["patient"] != MASKED).any():
            columns.append(("patient", "patient"))
        if "qdcs_found" in group.columns and (group["qdcs_found"].fill_null("") != "").any():
            columns.append(("qdcs_found", "QDCs found"))
        stratum = pl.col("stratum").fill_null("")
        rows = group.with_columns(
            pl.when(stratum != "")
            .then(pl.concat_str("measure_id", pl.lit("/"), stratum))
            .otherwise(pl.col("measure_id"))
            .alias("measure")
        )
        shown = [(c, h) for c, h in columns if c in rows.columns]
        for _, header in shown:
            table.add_column(header, overflow="fold")
        for row in rows.select(c for c, _ in shown).iter_rows():
            table.add_row(*(Text("" if v is None else str(v)) for v in row))
        legend = rows.select("measure", "closing_qdcs").unique(maintain_order=True)
        table.caption = Text(
            "\n".join(f"{m} closes with {codes}" for m, codes in legend.iter_rows() if codes),
            justify="left",
        )
        tables.append(table)
    return tables


def print_gaps(worklist: pl.DataFrame, year: int, console: Console) -> None:
    """``gaps``' terminal view of a :func:`~mipsclaims.report.gaps.gap_frame` worklist."""
    closing = f"{worklist.height} open gaps." if worklist.height else "No open gaps."
    print_tables(worklist_tables(worklist, f"Open gaps, {year}"), year, console, closing)


def print_missing(missing: pl.DataFrame, year: int, console: Console) -> None:
    """``check``'s terminal view of a :func:`~mipsclaims.report.check.missing_qdcs` list."""
    print_tables(worklist_tables(missing, "Eligible claims without a QDC"), year, console)
