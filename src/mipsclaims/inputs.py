"""Open whatever the user gave (837P, claim-line CSV or Parquet) as one canonical table.

Each path is sniffed by content, not by name, from its first 4 KB: an ISA segment (after
an optional byte-order mark and whitespace) means 837P, the Parquet magic ``PAR1`` means
Parquet, text means a claim-line CSV (:mod:`mipsclaims.flatfile`); anything else (NUL or
control bytes, an empty file) is refused at once, saying what it is not, without reading
the rest. Every format is read in batches, with ``progress(bytes_read)`` as it goes.
Tables are concatenated in the order given, with ``claim_seq`` continuing across files
so that later files win in replacement/void processing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import polars as pl

from . import flatfile, x12
from .errors import InputError
from .schema import empty_claim_lines
from .x12.envelope import DEFAULT_BLOCK

__all__ = ["InputError", "iter_claim_lines", "iter_file_batches", "load_claim_lines", "sniff"]

PathLike = str | os.PathLike[str]
Progress = Callable[[int], None]  # called with the bytes of the file read so far
SNIFF_BYTES = 4096


def sniff(path: PathLike) -> str:
    """``"x12"``, ``"parquet"`` or ``"csv"`` from the first bytes of ``path``; an
    :class:`InputError` for anything else (binary data, an empty file, a directory)."""
    name = os.fspath(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a claims file") from None
    except OSError as exc:
        raise InputError(f"cannot open {name}: {exc.strerror}") from None
    if head.startswith(flatfile.PARQUET_MAGIC):
        return "parquet"
    if head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"ISA"):
        return "x12"
    reason = flatfile.binary_reason(head)
    if reason is not None:
        raise InputError(
            f"{name}: not a claims file: not X12 837P (no ISA segment at the start), "
            f"not Parquet (no PAR1 mark), not a claim-line CSV ({reason})"
        )
    return "csv"


class _CountingReader:
    """A binary file that reports the bytes read so far (progress of the 837P reader)."""

    def __init__(self, handle: BinaryIO, progress: Progress) -> None:
        self._handle, self._progress, self._done = handle, progress, 0
        self.name = handle.name

    def read(self, size: int = -1) -> bytes:
        block = self._handle.read(size)
        self._done += len(block)
        self._progress(self._done)
        return block


def iter_file_batches(
    path: PathLike,
    report: x12.ReadReport,
    *,
    claim_seq_start: int = 0,
    batch_bytes: int = DEFAULT_BLOCK,
    progress: Progress | None = None,
    kind: str | None = None,
) -> Iterator[pl.DataFrame]:
    """Canonical tables of one file in input order, in batches of whole claims of about
    ``batch_bytes`` of input (``kind``: the :func:`sniff` result, if known).

    Raises :class:`InputError` when the file cannot be read at all.
    """
    kind = kind or sniff(path)
    try:
        if kind == "x12" and progress is None:
            yield from x12.iter_claim_line_batches(
                Path(path), report, batch_bytes=batch_bytes, claim_seq_start=claim_seq_start
            )
        elif kind == "x12" and progress is not None:
            try:
                handle = open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise InputError(f"cannot open {os.fspath(path)}: {exc.strerror}") from None
            with handle:
                yield from x12.iter_claim_line_batches(
                    _CountingReader(handle, progress),
                    report,
                    batch_bytes=batch_bytes,
                    claim_seq_start=claim_seq_start,
                )
        else:
            yield from flatfile.iter_flat_claim_lines(
                path,
                report,
                claim_seq_start=claim_seq_start,
                fmt=kind,
                batch_bytes=batch_bytes,
                progress=progress,
            )
    except (x12.X12Error, flatfile.FlatFileError) as exc:
        raise InputError(str(exc)) from None


def iter_claim_lines(
    sources: PathLike | Iterable[PathLike],
    report: x12.ReadReport | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK,
) -> Iterator[pl.DataFrame]:
    """The batches of :func:`load_claim_lines`, without holding them all (for the engine's
    streaming path); ``report`` collects every file's read report."""
    paths = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    report = report if report is not None else x12.ReadReport()
    next_seq = 0
    for path in paths:
        part = x12.ReadReport()
        top = next_seq - 1
        kind = sniff(path)
        for table in iter_file_batches(
            path, part, claim_seq_start=next_seq, batch_bytes=batch_bytes, kind=kind
        ):
            if table.height:
                # polars types max() as any scalar; claim_seq is Int64, so an int
                top = max(top, cast(int, table["claim_seq"].max()))
            yield table
        if kind == "x12":
            next_seq += part.claims_seen
        else:
            next_seq = max([top, *(q.claim_seq for q in part.quarantined)]) + 1
        report.merge(part)


def load_claim_lines(
    sources: PathLike | Iterable[PathLike], *, batch_bytes: int = DEFAULT_BLOCK
) -> tuple[pl.DataFrame, x12.ReadReport]:
    """One canonical claim-line table and one read report for all ``sources``, in order.

    Raises :class:`InputError` when a file cannot be read at all; malformed claims inside
    a readable file are quarantined in the report instead.
    """
    report = x12.ReadReport()
    frames = list(iter_claim_lines(sources, report, batch_bytes=batch_bytes))
    return (pl.concat(frames) if frames else empty_claim_lines()), report
