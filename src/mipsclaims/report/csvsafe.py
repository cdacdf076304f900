"""CSV output that a spreadsheet cannot turn into a formula (CSV injection).

A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is read as a formula
by Excel, LibreOffice and Sheets. Claim data is input-derived (claim ids, codes, names), so
every string cell we write is prefixed with a single quote when it starts with one of these.
Numbers are written as numbers: a negative count is a number, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import IO, Any

import polars as pl

DANGEROUS_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` prefixed with ``'`` when a spreadsheet would evaluate it."""
    if value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        return neutralise(" ".join("" if v is None else str(v) for v in value))
    return neutralise(str(value))


def write_rows(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows as CSV with every string cell neutralised."""
    # RFC 4180 line ends: the writer quotes any cell holding \r or \n, so rows never split.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([_cell(v) for v in row])


def write_frame(out: IO[str], frame: pl.DataFrame) -> None:
    """Write a polars frame as safe CSV (list columns joined with spaces)."""
    write_rows(out, frame.columns, frame.iter_rows())


def frame_to_csv(frame: pl.DataFrame) -> str:
    buffer = io.StringIO()
    write_frame(buffer, frame)
    return buffer.getvalue()
