"""Test support: read 837P bytes with both reader paths and compare what they report."""

from __future__ import annotations

import os

import polars as pl

from mipsclaims import x12
from mipsclaims.claims import claims_to_frame


def read_both(
    data: bytes, batch_bytes: int
) -> tuple[pl.DataFrame, pl.DataFrame, x12.ReadReport, x12.ReadReport]:
    """(typed table, columnar table, streaming report, columnar report)."""
    stream_report, table_report = x12.ReadReport(), x12.ReadReport()
    typed = claims_to_frame(x12.iter_claims(data, stream_report))
    table = x12.read_claim_lines(data, table_report, batch_bytes=batch_bytes)
    return typed, table, stream_report, table_report


def assert_same_reports(a: x12.ReadReport, b: x12.ReadReport) -> None:
    """Same quarantined claims, errors, warnings (any order) and counts."""
    assert a.quarantined == b.quarantined
    assert sorted(map(str, a.warnings)) == sorted(map(str, b.warnings))
    assert a.errors == b.errors
    assert (a.claims_seen, a.claims_read, a.lines_read) == (
        b.claims_seen,
        b.claims_read,
        b.lines_read,
    )


def columnar_read(
    data: bytes, report: x12.ReadReport | None = None, batch: int = 1 << 20
) -> pl.DataFrame:
    """The whole table of the columnar reader alone (what ``MIPSCLAIMS_X12_READER``
    selects), read through the fast path's entry point."""
    from mipsclaims.x12 import fast

    saved = os.environ.get(fast.READER_ENV)
    os.environ[fast.READER_ENV] = "columnar"
    try:
        return fast.read_claim_lines(data, report, batch_bytes=batch)
    finally:
        if saved is None:
            del os.environ[fast.READER_ENV]
        else:
            os.environ[fast.READER_ENV] = saved
