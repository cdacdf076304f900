"""The canonical claim-line table written out as CSV, JSON or Parquet, batch by batch.

What ``mipsclaims lines`` writes, for integrators too. Memory follows the reader's batch
size, not the input size: CSV and JSON are written as each batch comes, Parquet through
part files merged by polars' streaming sink. A file target goes through
:mod:`mipsclaims.atomicfile` (the one atomic writer): it appears only when every batch was
written and ``keep()`` agrees; a stream (standard output) is written as it goes.

CSV is the claim-line CSV :mod:`mipsclaims.flatfile` reads back (lists ``;``-separated),
with cells a spreadsheet would run as a formula prefixed with ``'``. PHI is the caller's
choice: pass :func:`mipsclaims.schema.mask_phi`'d batches to leave it out.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Literal

import polars as pl

from .atomicfile import atomic_path, written_directly
from .errors import MipsClaimsError
from .flatfile import to_flat_csv_frame
from .report.csvsafe import neutralised
from .schema import empty_claim_lines

__all__ = ["LinesFormat", "write_claim_lines"]

LinesFormat = Literal["csv", "json", "parquet"]


class _Abandoned(MipsClaimsError):
    """``keep()`` said no: the file is not put in place (never leaves this module)."""


def _neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """String cells a spreadsheet would run as a formula, prefixed with ``'`` (csvsafe)."""
    return frame.with_columns(
        neutralised(pl.col(c)).alias(c) for c, t in frame.schema.items() if t == pl.String
    )


def write_text(tables: Iterable[pl.DataFrame], fmt: LinesFormat, handle: BinaryIO) -> None:
    """Write the canonical tables as one CSV or one JSON array, batch by batch."""
    first = True
    if fmt == "json":
        handle.write(b"[")
    for table in tables:
        if fmt == "csv":
            frame = _neutralised(to_flat_csv_frame(table))
            frame.write_csv(handle, include_header=first, date_format="%Y-%m-%d")
        elif table.height:
            rows = table.write_json().encode()[1:-1]  # the objects of one JSON array
            handle.write(rows if first else b"," + rows)
        else:
            continue
        first = False
    if fmt == "json":
        handle.write(b"]")
    elif first:  # no lines: the header alone
        to_flat_csv_frame(empty_claim_lines()).write_csv(handle)


def write_parquet(tables: Iterable[pl.DataFrame], target: Path) -> None:
    """One Parquet file from many tables: each is spilled to a part file beside ``target``,
    then polars streams the parts into one file (no table is held with another)."""
    # Parts beside the output (they hold what it holds); in the temp directory for a link,
    # a device or a pipe.
    beside = None if written_directly(target) else target.parent
    with tempfile.TemporaryDirectory(prefix=".mipsclaims-parts-", dir=beside) as tmp:
        parts = []
        for number, table in enumerate(tables):
            part = Path(tmp) / f"{number:06d}.parquet"
            table.write_parquet(part)
            parts.append(part)
        if not parts:
            empty_claim_lines().write_parquet(target)
            return
        lazy = pl.concat([pl.scan_parquet(part) for part in parts], how="vertical")
        lazy.sink_parquet(target)


def write_claim_lines(
    tables: Iterable[pl.DataFrame],
    target: str | os.PathLike[str] | BinaryIO,
    fmt: LinesFormat = "csv",
    *,
    keep: Callable[[], bool] = lambda: True,
) -> bool:
    """Write ``tables`` (canonical batches in input order) to ``target`` in ``fmt``.

    A path is written atomically and put in place only when ``keep()``, asked after the
    last batch, is true (``lines --strict`` says no when a claim could not be read);
    returns whether it was. A binary stream is written as the batches come (CSV or JSON
    only) and always kept. Raises ``OSError`` when the target cannot be written (a
    Parquet write polars failed included); nothing half-written is left in place.
    """
    if not isinstance(target, str | os.PathLike):
        if fmt == "parquet":
            raise ValueError("parquet needs a file to write to, not a stream")
        write_text(tables, fmt, target)
        return True
    try:
        with atomic_path(target) as path:
            if fmt == "parquet":
                write_parquet(tables, path)
            else:
                with open(path, "wb") as handle:
                    write_text(tables, fmt, handle)
            if not keep():
                raise _Abandoned
    except _Abandoned:
        return False
    except pl.exceptions.ComputeError as exc:  # polars' word for a failed Parquet write
        raise OSError(f"{exc}") from None
    return True
