"""835 remittances kept in a store beside its claims (``mipsclaims ingest`` of an 835).

Kept as their remittance-line tables (Parquet, no patient data: the reader skips it) in
``<store>/remit/``, one file per ingested 835, listed in ``remit/manifest.json`` in
ingest order with the file's SHA-256: the same bytes twice change nothing. Writes go
through the store's lock and atomic replace (:mod:`mipsclaims.store`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import polars as pl

from ..store import StoreError, file_sha256, locked, write_atomically
from ..x12.envelope import parse_isa
from ..x12.report import ReadReport
from .reader import REMIT_LINE_SCHEMA, read_remit_lines

__all__ = ["RemitIngest", "ingest_remittance", "is_835", "read_stored_remittances"]

FOLDER = "remit"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class RemitIngest:
    source: str
    sha256: str
    added: bool  # False when the same bytes were ingested before
    claims: int
    lines: int
    problems: tuple[str, ...] = ()  # PHI-free messages of claims the reader left out


def is_835(path: Path) -> bool:
    """True when the file is X12 whose first functional group is GS01 = HP (remittance)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    except OSError:
        return False
    if not head.startswith(b"ISA"):
        return False
    try:
        delims, _, end = parse_isa(head)
    except Exception:  # not a readable ISA: let the claim reader report it
        return False
    gs = head[end:].lstrip(b" \t\r\n")
    return gs.startswith(f"GS{delims.element}HP{delims.element}".encode("latin-1"))


def _manifest(store: Path) -> dict[str, Any]:
    path = store / FOLDER / MANIFEST
    if not path.exists():
        return {"format": 1, "files": []}
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable 835 manifest ({exc})") from None
    return data


def ingest_remittance(store: Path, path: Path) -> RemitIngest:
    """Add one 835 file to ``store`` (idempotent by content)."""
    store = Path(store)
    sha = file_sha256(path)
    with locked(store):
        manifest = _manifest(store)
        if any(f["sha256"] == sha for f in manifest["files"]):
            return RemitIngest(path.name, sha, False, 0, 0)
        report = ReadReport()
        table = read_remit_lines(path, report)
        problems = tuple(str(q) for q in report.quarantined) + tuple(str(e) for e in report.errors)
        if report.claims_seen == 0 and report.errors:
            raise StoreError(f"{path}: no 835 remittance could be read ({problems[0]})")
        part = f"{len(manifest['files']):06d}-{sha[:16]}.parquet"
        write_atomically(store / FOLDER / part, lambda tmp: table.write_parquet(tmp), "remit")
        manifest["files"].append(
            {"sha256": sha, "source": path.name, "part": part, "claims": report.claims_read}
        )
        text = json.dumps(manifest, indent=1, sort_keys=True)
        write_atomically(
            store / FOLDER / MANIFEST,
            lambda tmp: tmp.write_text(text, encoding="utf-8"),
            "remit-manifest",
        )
    return RemitIngest(path.name, sha, True, report.claims_read, report.lines_read, problems)


def read_stored_remittances(store: Path) -> pl.DataFrame:
    """Every stored 835 line in ingest order (``remit_seq`` numbered across files)."""
    store = Path(store)
    frames, seq = [], 0
    for entry in _manifest(store)["files"]:
        try:
            frame = pl.read_parquet(store / FOLDER / entry["part"])
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise StoreError(f"{store / FOLDER / entry['part']}: unreadable ({exc})") from None
        if frame.height:
            frame = frame.with_columns(pl.col("remit_seq").rank("dense").cast(pl.Int64) - 1 + seq)
            # polars types max() as any scalar; remit_seq is Int64, so an int
            seq = cast(int, frame["remit_seq"].max()) + 1
        frames.append(frame)
    if not frames:
        return pl.DataFrame(schema=REMIT_LINE_SCHEMA)
    return pl.concat(frames).cast(pl.Schema(REMIT_LINE_SCHEMA))
