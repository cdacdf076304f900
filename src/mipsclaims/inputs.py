"""Open whatever the user gave (837P, claim-line CSV or Parquet) as one canonical table.

Each path is sniffed by content, not by name: an ISA segment (after an optional byte-order
mark and whitespace) means 837P, the Parquet magic ``PAR1`` means Parquet, anything else
is read as a claim-line CSV (:mod:`mipsclaims.flatfile`). Tables are concatenated in the
order given, with ``claim_seq`` continuing across files so that later files win in
replacement/void processing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from . import flatfile, x12
from .errors import MipsClaimsError
from .schema import empty_claim_lines
from .x12.envelope import DEFAULT_BLOCK

__all__ = ["InputError", "iter_claim_lines", "iter_file_batches", "load_claim_lines", "sniff"]

PathLike = str | os.PathLike


class InputError(MipsClaimsError, ValueError):
    """An input that is not a readable claims file (missing, unreadable, wrong format)."""


def sniff(path: PathLike) -> str:
    """``"x12"``, ``"parquet"`` or ``"csv"`` from the first bytes of ``path``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputError(f"cannot open {os.fspath(path)}: {exc.strerror}") from None
    if head.startswith(flatfile.PARQUET_MAGIC):
        return "parquet"
    if head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"ISA"):
        return "x12"
    return "csv"


def iter_file_batches(
    path: PathLike,
    report: x12.ReadReport,
    *,
    claim_seq_start: int = 0,
    batch_bytes: int = DEFAULT_BLOCK,
) -> Iterator[pl.DataFrame]:
    """Canonical tables of one file in input order: 837P in batches of about
    ``batch_bytes`` (whole claims), a claim-line CSV/Parquet file as one table.

    Raises :class:`InputError` when the file cannot be read at all.
    """
    kind = sniff(path)
    try:
        if kind == "x12":
            yield from x12.iter_claim_line_batches(
                Path(path), report, batch_bytes=batch_bytes, claim_seq_start=claim_seq_start
            )
        else:
            yield flatfile.read_flat_claim_lines(
                path, report, claim_seq_start=claim_seq_start, fmt=kind
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
        for table in iter_file_batches(
            path, part, claim_seq_start=next_seq, batch_bytes=batch_bytes
        ):
            if table.height:
                top = max(top, int(table["claim_seq"].max()))
            yield table
        if sniff(path) == "x12":
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
