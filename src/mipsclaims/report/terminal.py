"""Rich tables for the terminal. Input-derived text is passed as ``Text`` so that a code
or name like ``[bold]`` is printed, never interpreted as markup."""

from __future__ import annotations

from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .export import ordered_rows


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _flag(ok: bool | None) -> Text:
    return Text("yes", style="green") if ok else Text("no", style="red")


def rows_table(result: Any, *, year: int, level: str) -> Table:
    """One line per entity × measure × stratum with counts, rates and the two flags."""
    table = Table(title=f"MIPS quality measures from claims, {year} ({level})", show_lines=False)
    headers = (
        "TIN", "NPI", "measure", "stratum", "eligible", "met", "not met", "excl.",
        "exc.", "no QDC", "completeness", "rate", "≥20 cases", "complete",
    )  # fmt: skip
    for h in headers:
        table.add_column(h, justify="right" if h not in {"TIN", "NPI", "measure"} else "left")
    rows = ordered_rows(result.rows)
    for r in rows.iter_rows(named=True):
        stratum = r.get("stratum_name") or r.get("stratum") or ""
        completeness = Text(pct(r["data_completeness"]))
        if not r["meets_data_completeness"]:
            completeness.stylize("red")
        table.add_row(
            Text(r["tin"] or ""),
            Text(r["npi"] or "(group)"),
            Text(
                r["measure_id"] + (f" {r['measure_title'][:38]}" if r.get("measure_title") else "")
            ),
            Text(stratum),
            str(r["eligible_population"]),
            str(r["performance_met"]),
            str(r["performance_not_met"]),
            str(r["denominator_exclusion"]),
            str(r["denominator_exception"]),
            str(r["not_reported"]),
            completeness,
            pct(r["performance_rate"]),
            _flag(r["meets_case_minimum"]),
            _flag(r["meets_data_completeness"]),
        )
    return table


def frame_table(frame: pl.DataFrame, title: str) -> Table:
    """Any small frame as a table (gap worklists, check results, scope)."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(column.replace("_", " "))
    for row in frame.iter_rows():
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    return table


def print_report(result: Any, *, year: int, level: str, console: Console) -> None:
    console.print(rows_table(result, year=year, level=level))
    scope = result.scope
    if scope.height:
        left_out = ", ".join(
            f"{r['reason']}: {r['claims']:,} claims" for r in scope.iter_rows(named=True)
        )
        console.print(Text(f"Claims by scope: {left_out}", style="dim"))
