"""CSV output that a spreadsheet cannot turn into a formula (CSV injection).

A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is read as a formula
by Excel, LibreOffice and Sheets. Claim data is input-derived (claim ids, codes, names), so
every string cell we write is prefixed with a single quote when it starts with one of these.
Numbers are written as numbers: a negative count is a number, not a formula.

Worklists run to hundreds of thousands of rows, so cells are made safe column by column in
polars and written by polars' CSV writer (RFC 4180: CRLF line ends, a cell is quoted when
it holds a comma, a quote, CR or LF), with no Python object per cell. The bytes are the
csv module's (a test compares them), except floats that Python would write with an
exponent (1e-05 is written 0.00001); reports hold rates and scores, which never need one.
"""

from __future__ import annotations

from typing import IO

import polars as pl

DANGEROUS_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Regex of a string that starts with a dangerous prefix.
_DANGEROUS = "^[" + "".join("\\" + c if c in "-\\^]" else c for c in DANGEROUS_PREFIXES) + "]"


def neutralise(value: str) -> str:
    """``value`` prefixed with ``'`` when a spreadsheet would evaluate it."""
    if value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value


def neutralised(expr: pl.Expr) -> pl.Expr:
    """A string expression with ``'`` before every value a spreadsheet would evaluate."""
    return pl.when(expr.str.contains(_DANGEROUS)).then(pl.lit("'") + expr).otherwise(expr)


def _cells(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` as CSV cells: numbers and dates as they are, booleans as true/false,
    lists joined with spaces, strings (and anything else) as text, every text neutralised."""
    col = pl.col(name)
    if dtype.is_numeric() or dtype.is_temporal():
        return col
    if dtype == pl.Boolean:
        return pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false"))
    if isinstance(dtype, pl.List | pl.Array):
        text = col.list.eval(pl.element().cast(pl.String).fill_null("")).list.join(" ")
    else:
        text = col.cast(pl.String)
    # Empty text as null: polars quotes an empty string, the csv module writes nothing.
    return neutralised(pl.when(text != "").then(text))


def safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column as safe CSV cells and every header neutralised."""
    return frame.select(
        _cells(name, dtype).alias(neutralise(name)) for name, dtype in frame.schema.items()
    )


def frame_to_csv(frame: pl.DataFrame) -> str:
    """``frame`` as safe CSV text (header, then one CRLF-ended line per row)."""
    return safe_frame(frame).write_csv(line_terminator="\r\n", null_value="")


def write_frame(out: IO[str], frame: pl.DataFrame) -> None:
    """Write ``frame`` as safe CSV to a text stream (see :func:`frame_to_csv`)."""
    out.write(frame_to_csv(frame))
