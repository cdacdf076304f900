"""Store: idempotent ingest, claim ordering across files, partitions, crash safety."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipsclaims import store
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame


def _claim(claim_id: str, day: dt.date, seq: int, frequency: str = "1") -> Claim:
    return Claim(
        claim_id=claim_id,
        frequency=frequency,
        filing_indicator="MB",
        tin="123456789",
        billing_npi="1111111111",
        patient=Patient(member_id=f"M{claim_id}", birth_date=dt.date(1950, 1, 1), sex="F"),
        diagnosis_codes=["M545"],
        lines=[
            ServiceLine(line_number=1, procedure_code="97161", charge=100.0, service_date=day),
            ServiceLine(line_number=2, procedure_code="G8431", charge=0.0, service_date=day),
        ],
        claim_seq=seq,
        source="x.837",
    )


def _frame(specs: list[tuple[str, dt.date]]) -> pl.DataFrame:
    return claims_to_frame(_claim(cid, day, i) for i, (cid, day) in enumerate(specs))


FILE_A = [("A1", dt.date(2025, 1, 5)), ("A2", dt.date(2025, 3, 9)), ("A3", dt.date(2025, 3, 1))]
FILE_B = [("B1", dt.date(2025, 3, 20)), ("A2", dt.date(2025, 2, 2))]


def test_ingest_partitions_by_claim_month_and_sequences_across_files(tmp_path: Path) -> None:
    a = store.ingest_frame(tmp_path, _frame(FILE_A), sha256="a" * 64, source="a.837")
    b = store.ingest_frame(tmp_path, _frame(FILE_B), sha256="b" * 64, source="b.837")
    assert (a.added, a.claims, a.lines) == (True, 3, 6)
    assert a.parts == (
        f"year=2025/month=01/{'a' * 64}.parquet",
        f"year=2025/month=03/{'a' * 64}.parquet",
    )
    assert b.parts == (
        f"year=2025/month=02/{'b' * 64}.parquet",
        f"year=2025/month=03/{'b' * 64}.parquet",
    )
    lines = store.read_store(tmp_path)
    claims = lines.unique("claim_seq", maintain_order=True).select("claim_seq", "claim_id")
    # Store order: file A's claims 0..2 in file order, then file B's 3..4.
    assert claims.rows() == [(0, "A1"), (1, "A2"), (2, "A3"), (3, "B1"), (4, "A2")]
    assert lines.schema == pl.Schema(store.CLAIM_LINE_SCHEMA)
    assert store.read_manifest(tmp_path)["next_seq"] == 5


def test_same_bytes_twice_changes_nothing(tmp_path: Path) -> None:
    store.ingest_frame(tmp_path, _frame(FILE_A), sha256="a" * 64, source="a.837")
    before = (tmp_path / store.MANIFEST).read_bytes()
    again = store.ingest_frame(tmp_path, _frame(FILE_A), sha256="a" * 64, source="copy.837")
    assert again.added is False
    assert (tmp_path / store.MANIFEST).read_bytes() == before
    assert store.read_store(tmp_path).height == 6


def test_claim_without_dates_goes_to_unknown_partition(tmp_path: Path) -> None:
    frame = _frame(FILE_A[:1]).with_columns(pl.lit(None, dtype=pl.Date).alias("service_date"))
    result = store.ingest_frame(tmp_path, frame, sha256="c" * 64, source="c")
    assert result.parts == (f"year=0000/month=00/{'c' * 64}.parquet",)


def test_read_store_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(store.StoreError, match="not a mipsclaims store"):
        store.read_store(tmp_path)
    store.ingest_frame(tmp_path, _frame(FILE_A), sha256="a" * 64, source="a")
    (tmp_path / f"year=2025/month=01/{'a' * 64}.parquet").unlink()
    with pytest.raises(store.StoreError, match="missing parts"):
        store.read_store(tmp_path)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["X", "Y", "Z"]),
                st.dates(dt.date(2024, 11, 1), dt.date(2025, 2, 28)),
            ),
            min_size=1,
            max_size=5,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_store_order_is_ingest_order_then_position(tmp_path_factory, files) -> None:
    """Claims keep ingest order, then file position; a claim an earlier file stored (same
    CLM01, patient and date here) is skipped and counted, one repeated within a file kept."""
    root = tmp_path_factory.mktemp("store")
    expected, stored = [], set()
    for i, spec in enumerate(files):
        result = store.ingest_frame(root, _frame(spec), sha256=f"{i:064d}", source=f"f{i}")
        new = [c for c in spec if c not in stored]
        assert result.duplicates == len(spec) - len(new)
        expected.extend(cid for cid, _ in new)
        stored.update(spec)
    lines = store.read_store(root)
    seqs = lines.unique("claim_seq", maintain_order=True)
    assert seqs["claim_id"].to_list() == expected
    assert seqs["claim_seq"].to_list() == list(range(len(expected)))


_KILLED_INGEST = textwrap.dedent(
    """
    import datetime as dt, sys
    sys.path.insert(0, {tests!r})
    from test_store import _frame
    from mipsclaims import store
    spec = [("K1", dt.date(2025, 4, 1)), ("K2", dt.date(2025, 5, 1))]
    store.ingest_frame({root!r}, _frame(spec), sha256="f" * 64, source="k.837")
    """
)


@pytest.mark.parametrize("stage", ["part", "before-manifest", "manifest"])
def test_killed_ingest_leaves_the_store_as_before(tmp_path: Path, stage: str) -> None:
    store.ingest_frame(tmp_path, _frame(FILE_A), sha256="a" * 64, source="a.837")
    before = store.read_store(tmp_path)
    manifest_before = (tmp_path / store.MANIFEST).read_bytes()
    code = _KILLED_INGEST.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    env = {**os.environ, "MIPSCLAIMS_STORE_PAUSE_AT": f"{stage}:60"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)

    # Wait until the writer reaches the paused stage, then kill it there.
    def paused() -> bool:
        if stage == "before-manifest":
            return bool(list(tmp_path.glob("year=2025/month=05/*.parquet")))
        return bool(list(tmp_path.rglob(".*.tmp-*")))

    deadline = time.monotonic() + 30
    while not paused():
        assert proc.poll() is None, "writer exited before the pause"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (tmp_path / store.MANIFEST).read_bytes() == manifest_before
    assert store.read_store(tmp_path).equals(before)
    # The next ingest completes and cleans up after the killed one.
    store.ingest_frame(tmp_path, _frame(FILE_B), sha256="b" * 64, source="b.837")
    assert not list(tmp_path.rglob(".*.tmp-*"))
    after = store.read_store(tmp_path)
    assert after.height == before.height + 4
    assert json.loads((tmp_path / store.MANIFEST).read_text())["next_seq"] == 5
