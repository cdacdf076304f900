"""Open whatever the user gave (837P, claim-line CSV or Parquet) as one canonical table.

Each path is sniffed by content, not by name: an ISA segment (after an optional byte-order
mark and whitespace) means 837P, the Parquet magic ``PAR1`` means Parquet, anything else
is read as a claim-line CSV (:mod:`mipsclaims.flatfile`). Tables are concatenated in the
order given, with ``claim_seq`` continuing across files so that later files win in
replacement/void processing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from . import flatfile, x12
from .schema import empty_claim_lines
from .x12.envelope import DEFAULT_BLOCK

__all__ = ["InputError", "load_claim_lines", "sniff"]

PathLike = str | os.PathLike


class InputError(ValueError):
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


def load_claim_lines(
    sources: PathLike | Iterable[PathLike], *, batch_bytes: int = DEFAULT_BLOCK
) -> tuple[pl.DataFrame, x12.ReadReport]:
    """One canonical claim-line table and one read report for all ``sources``, in order.

    Raises :class:`InputError` when a file cannot be read at all; malformed claims inside
    a readable file are quarantined in the report instead.
    """
    paths = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    report = x12.ReadReport()
    frames: list[pl.DataFrame] = []
    next_seq = 0
    for path in paths:
        kind = sniff(path)
        part = x12.ReadReport()
        try:
            if kind == "x12":
                table = x12.read_claim_lines(
                    Path(path), part, batch_bytes=batch_bytes, claim_seq_start=next_seq
                )
                next_seq += part.claims_seen
            else:
                table = flatfile.read_flat_claim_lines(
                    path, part, claim_seq_start=next_seq, fmt=kind
                )
                seqs = [q.claim_seq for q in part.quarantined]
                if table.height:
                    seqs.append(int(table["claim_seq"].max()))
                next_seq = max([next_seq - 1, *seqs]) + 1
        except (x12.X12Error, flatfile.FlatFileError) as exc:
            raise InputError(str(exc)) from None
        report.merge(part)
        frames.append(table)
    return (pl.concat(frames) if frames else empty_claim_lines()), report
