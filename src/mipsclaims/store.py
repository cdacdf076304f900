"""Year-long tracking: an append-only Parquet dataset of claim lines, written atomically.

Layout::

    DIR/manifest.json                                   what the store holds (the truth)
    DIR/year=2025/month=03/<sha256 of the file>.parquet  lines of the claims dated that month

Each ingested file is identified by the SHA-256 of its bytes, so ingesting it again changes
nothing. Each claim is identified too (:data:`CLAIM_IDENTITY`: CLM01, frequency code, TIN,
patient and first/last service date), so the same claims in other bytes (other line
endings, another envelope, an unmasked CSV export) are skipped and counted as duplicates,
never stored twice. Within one file every claim is kept (measure-logic-decisions.md: two
originals with the same CLM01 are both counted). Claims get ``claim_seq`` = store ingest
order + position in the file, so the engine's input-order rules (replacement and void:
later wins) hold across files and months. A claim is filed under the month of its earliest
line service date; claims without one go to ``year=0000/month=00``.

A file is read and stored batch by batch (memory of about one batch): each batch's months
go to pieces in a private ``DIR/.ingest-*`` directory, merged per month when the file is
read. Crash safety: every part is written to a temporary name in its final directory
(:mod:`mipsclaims.atomicfile`), fsynced and moved into place with ``os.replace``; the
manifest is replaced last. Readers only read parts
the manifest lists, so a process killed mid-ingest leaves the store as it was before that
file (orphaned parts are overwritten, temporaries and batch pieces removed by the next
ingest). One writer at a
time: ingest holds an exclusive lock on ``DIR/.lock``.

The store holds the canonical claim-line table, PHI included: protect it like the claim files.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from .atomicfile import atomic_path
from .errors import MipsClaimsError
from .schema import CLAIM_LINE_SCHEMA, conform, empty_claim_lines, short_hash

if TYPE_CHECKING:
    from .x12.report import ReadReport

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_PAUSE_ENV = "MIPSCLAIMS_STORE_PAUSE_AT"  # test hook: "<stage>:<seconds>"


class StoreError(MipsClaimsError, RuntimeError):
    """The store is missing, unreadable or inconsistent."""


class LossError(StoreError):
    """``ingest_files(strict=True)``: a file had claims that could not be read (not
    ingested); ``report`` says which."""

    def __init__(self, message: str, report: ReadReport) -> None:
        super().__init__(message)
        self.report = report


#: What makes two claims the same claim, across files: a claim of a new file whose values
#: of these (first and last service date of its lines, nulls equal) match a stored claim's
#: is a duplicate and is not stored again.
CLAIM_IDENTITY = ("claim_id", "frequency", "tin", "patient_id", "_first_date", "_last_date")
#: Duplicates named one by one in an :class:`IngestResult` (the rest are counted).
DUPLICATES_LISTED = 20


@dataclass(frozen=True)
class IngestResult:
    source: str
    sha256: str
    added: bool  # False when the same bytes were ingested before
    claims: int
    lines: int
    parts: tuple[str, ...]
    problems: tuple[str, ...] = ()  # PHI-free messages of claims the reader left out
    duplicates: int = 0  # claims skipped: already in the store (CLAIM_IDENTITY)
    duplicate_refs: tuple[str, ...] = ()  # "claim #<position in file> (<hash>)", the first few
    report: ReadReport | None = None  # the reader's report of the file (None when not read)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pause(stage: str) -> None:
    """Sleep at ``stage`` when the test hook asks, so a test can kill us mid-write."""
    wanted = os.environ.get(_PAUSE_ENV, "")
    name, _, seconds = wanted.partition(":")
    if name == stage:
        time.sleep(float(seconds or 60))


def write_atomically(target: Path, write: Callable[[Path], object], stage: str) -> None:
    """Write via ``write(tmp)`` to a temp file beside ``target``, fsync, then replace."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, durable=True, before_replace=lambda: _pause(stage)) as tmp:
        try:
            write(tmp)
        except pl.exceptions.PolarsError as exc:  # polars reports a failed write (disk full) so
            raise OSError(f"writing {target.name} failed ({exc})") from None


def _empty_manifest() -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "next_seq": 0, "files": []}


def read_manifest(store: Path) -> dict[str, Any]:
    """The manifest, or an empty one when the store does not exist yet."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return _empty_manifest()
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({exc})") from None
    if data.get("format") != FORMAT_VERSION:
        raise StoreError(f"{path}: unknown store format {data.get('format')!r}")
    return data


def _write_manifest(store: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=1, sort_keys=True)
    write_atomically(
        store / MANIFEST, lambda tmp: tmp.write_text(text, encoding="utf-8"), "manifest"
    )


@contextmanager
def locked(store: Path) -> Iterator[None]:
    """Hold the store's exclusive lock (one writer at a time: claims and 835s alike)."""
    store.mkdir(parents=True, exist_ok=True)
    with (store / ".lock").open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _clean_temporaries(store: Path) -> None:
    for tmp in store.rglob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
    for leftover in store.glob(".ingest-*"):  # batches of an ingest that was killed
        shutil.rmtree(leftover, ignore_errors=True)


def _sequenced(frame: pl.DataFrame, start: int) -> pl.DataFrame:
    """Renumber claims start, start+1, ... in their input order (claim_seq, then row order)."""
    order = frame.select("claim_seq").unique(maintain_order=True).sort("claim_seq")
    mapping = order.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + start).alias("_new_seq"))
    return (
        frame.join(mapping, on="claim_seq", how="left", maintain_order="left")
        .with_columns(pl.col("_new_seq").alias("claim_seq"))
        .drop("_new_seq")
    )


def _identities(lines: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One row per claim (``claim_seq``) with its :data:`CLAIM_IDENTITY`."""
    return (
        lines.lazy()
        .group_by("claim_seq")
        .agg(
            pl.col("claim_id", "frequency", "tin", "patient_id").first(),
            pl.col("service_date").min().alias("_first_date"),
            pl.col("service_date_end").max().alias("_last_date"),
        )
    )


def _write_piece(frame: pl.DataFrame, path: Path) -> None:
    try:
        frame.write_parquet(path)
    except pl.exceptions.PolarsError as exc:  # polars' word for a failed write (disk full)
        raise OSError(f"writing {path.name} failed ({exc})") from None


def _stored_identities(store: Path, manifest: dict[str, Any]) -> pl.DataFrame:
    """The distinct :data:`CLAIM_IDENTITY` of every stored claim (identity columns only)."""
    parts = [store / rel for entry in manifest["files"] for rel in entry["parts"]]
    if not parts:
        return pl.DataFrame()
    stored = pl.scan_parquet(parts).select(
        "claim_seq", "claim_id", "frequency", "tin", "patient_id", "service_date",
        "service_date_end",
    )  # fmt: skip
    return _identities(stored).select(CLAIM_IDENTITY).unique().collect()


def _without_known(
    known: pl.DataFrame, lines: pl.DataFrame
) -> tuple[pl.DataFrame, list[tuple[int, str]]]:
    """``lines`` without the claims whose identity is ``known``, and those claims'
    (position, CLM01) in input order."""
    if not known.height or not lines.height:
        return lines, []
    dup = (
        _identities(lines)
        .join(known.lazy(), on=list(CLAIM_IDENTITY), how="semi", nulls_equal=True)
        .select("claim_seq", "claim_id")
        .sort("claim_seq")
        .collect()
    )
    if not dup.height:
        return lines, []
    kept = lines.filter(~pl.col("claim_seq").is_in(dup["claim_seq"].implode()))
    return kept, list(dup.iter_rows())


def _partition_keys(frame: pl.DataFrame) -> pl.DataFrame:
    claim_date = pl.col("service_date").min().over("claim_seq")
    return frame.with_columns(
        claim_date.dt.year().fill_null(0).alias("_year"),
        claim_date.dt.month().fill_null(0).alias("_month"),
    )


def ingest_frame(store: Path, frame: pl.DataFrame, *, sha256: str, source: str) -> IngestResult:
    """Append one file's canonical lines to the store (no-op when ``sha256`` is known);
    claims the store holds already (:data:`CLAIM_IDENTITY`) are skipped and counted."""
    return ingest_batches(store, [frame], sha256=sha256, source=source)


def ingest_batches(
    store: Path,
    batches: Iterable[pl.DataFrame],
    *,
    sha256: str,
    source: str,
    before_commit: Callable[[], None] | None = None,
) -> IngestResult:
    """:func:`ingest_frame` for a file read in batches of whole claims (input order), in
    memory of about one batch: each batch's months go to part files in a private
    directory inside the store, merged per month by polars' streaming sink into the final
    parts. ``before_commit`` runs after the last batch, before anything is put in place
    (raise there to abandon the file)."""
    store = Path(store)
    with locked(store):
        manifest = read_manifest(store)
        for entry in manifest["files"]:
            if entry["sha256"] == sha256:
                return IngestResult(
                    source, sha256, False, entry["claims"], entry["lines"],
                    tuple(entry["parts"]),
                )  # fmt: skip
        _clean_temporaries(store)
        known = _stored_identities(store, manifest)
        start = int(manifest["next_seq"])
        seq, n_lines, dup = start, 0, []
        months: dict[tuple[int, int], list[Path]] = {}
        with tempfile.TemporaryDirectory(prefix=".ingest-", dir=store) as tmp:
            for number, batch in enumerate(batches):
                lines, skipped = _without_known(known, conform(batch))
                dup.extend(skipped)
                if not lines.height:
                    continue
                lines = _partition_keys(_sequenced(lines, seq))
                seq += lines["claim_seq"].n_unique()
                n_lines += lines.height
                for (year, month), part in lines.sort("claim_seq", maintain_order=True).group_by(
                    ["_year", "_month"], maintain_order=True
                ):
                    piece = Path(tmp) / f"{int(year):04d}-{int(month):02d}-{number:06d}.parquet"
                    _write_piece(part.drop("_year", "_month"), piece)
                    months.setdefault((int(year), int(month)), []).append(piece)
            if before_commit is not None:
                before_commit()
            parts: list[str] = []
            for (year, month), pieces in sorted(months.items()):
                rel = f"year={year:04d}/month={month:02d}/{sha256}.parquet"
                merged = pl.concat([pl.scan_parquet(p) for p in pieces], how="vertical")
                write_atomically(store / rel, merged.sink_parquet, "part")
                parts.append(rel)
        claims = seq - start
        _pause("before-manifest")
        manifest["files"].append(
            {
                "sha256": sha256,
                "source": source,
                "claims": claims,
                "lines": n_lines,
                "seq_start": start,
                "parts": sorted(parts),
                "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
        if dup:
            manifest["files"][-1]["duplicates"] = len(dup)
        manifest["next_seq"] = start + claims
        _write_manifest(store, manifest)
        refs = tuple(
            f"claim #{seq} ({short_hash(claim_id or '')})"
            for seq, claim_id in dup[:DUPLICATES_LISTED]
        )
        return IngestResult(
            source, sha256, True, claims, n_lines, tuple(sorted(parts)),
            duplicates=len(dup), duplicate_refs=refs,
        )  # fmt: skip


def ingest_files(
    store: Path,
    paths: Iterable[Path],
    *,
    on_file: Callable[[Path, IngestResult], None] | None = None,
    strict: bool = False,
) -> list[IngestResult]:
    """Ingest claim files (837P or claim-line exports) in the order given.

    ``strict``: a file of which some claim or interchange could not be read is not
    ingested (:class:`LossError`; the files before it stay ingested).
    """
    from . import inputs, x12  # lazy: the readers are heavy and not needed to read a store

    results = []
    for path in paths:
        path = Path(path)
        digest = file_sha256(path)
        known = {e["sha256"] for e in read_manifest(Path(store))["files"]}
        if digest in known:
            result = ingest_frame(store, empty_claim_lines(), sha256=digest, source=path.name)
        else:
            report = x12.ReadReport()

            def check(report: x12.ReadReport = report, name: str = path.name) -> None:
                if strict and (not report.ok or report.claims_read < report.claims_seen):
                    raise LossError(f"{name}: not ingested, some claims could not be read", report)

            batches = inputs.iter_claim_lines([path], report)
            result = ingest_batches(
                store, batches, sha256=digest, source=path.name, before_commit=check
            )
            problems = [*report.quarantined, *report.errors]
            result = replace(result, problems=tuple(str(p) for p in problems), report=report)
        results.append(result)
        if on_file is not None:
            on_file(path, result)
    return results


#: Claims per batch of :func:`iter_store_batches` (about 3 lines each).
STORE_BATCH_CLAIMS = 50_000


def read_store_manifest(store: Path) -> dict[str, Any]:
    """The manifest of an existing store (a :class:`StoreError` when ``store`` is none):
    what a read of it holds to, so that one read sees one state of the store."""
    store = Path(store)
    if not (store / MANIFEST).exists():
        raise StoreError(f"{store}: not a mipsclaims store (no {MANIFEST}); run mipsclaims ingest")
    return read_manifest(store)


def _listed_parts(
    store: Path, manifest: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[list[Path]]]:
    """The manifest and, per ingested file in ingest order, its parts; a
    :class:`StoreError` when the store is not one or a listed part is missing."""
    store = Path(store)
    manifest = manifest if manifest is not None else read_store_manifest(store)
    per_file = [[store / rel for rel in entry["parts"]] for entry in manifest["files"]]
    missing = [str(p) for parts in per_file for p in parts if not p.exists()]
    if missing:
        raise StoreError(f"{store}: manifest lists missing parts: {', '.join(missing[:3])}")
    return manifest, per_file


def _scan_parts(parts: list[Path]) -> pl.LazyFrame:
    """The canonical lines of ``parts``, in claim_seq order (a claim's lines are in one
    part, in line order; a stable sort keeps them so)."""
    if not parts:
        return empty_claim_lines().lazy()
    frame = pl.concat([pl.scan_parquet(p) for p in parts], how="vertical_relaxed")
    return frame.select(
        [pl.col(name).cast(dtype) for name, dtype in CLAIM_LINE_SCHEMA.items()]
    ).sort(["claim_seq", "line_number"], maintain_order=True, nulls_last=True)


def scan_store(store: Path) -> pl.LazyFrame:
    """Every claim line the manifest lists, in claim_seq order (canonical schema), as a
    polars query: nothing is read until it is collected or streamed."""
    _, per_file = _listed_parts(store)
    return _scan_parts([p for parts in per_file for p in parts])


def read_store(store: Path) -> pl.DataFrame:
    """:func:`scan_store`, collected: the whole store in memory."""
    return scan_store(store).collect()


def store_size(manifest: dict[str, Any]) -> tuple[int, int]:
    """(claims, lines) a store's ``manifest`` lists."""
    files = manifest["files"]
    return sum(int(e["claims"]) for e in files), sum(int(e["lines"]) for e in files)


def iter_store_batches(
    store: Path,
    *,
    batch_claims: int = STORE_BATCH_CLAIMS,
    manifest: dict[str, Any] | None = None,
) -> Iterator[pl.DataFrame]:
    """The lines of :func:`scan_store` in batches of whole claims (about ``batch_claims``
    each, claim_seq order): each ingested file's claims hold the claim_seq range
    ``seq_start .. seq_start + claims`` of the manifest, read a window of it at a time
    from that file's parts (Parquet statistics skip what lies outside the window), so
    memory follows the batch, not the store. ``manifest``: the state to read (read once
    by the caller), else the store's now."""
    manifest, per_file = _listed_parts(store, manifest)  # a missing part fails here
    return _windows(manifest, per_file, batch_claims)


def _windows(
    manifest: dict[str, Any], per_file: list[list[Path]], batch_claims: int
) -> Iterator[pl.DataFrame]:
    for entry, parts in zip(manifest["files"], per_file, strict=True):
        if not parts:
            continue
        lines = _scan_parts(parts)
        first, claims = int(entry["seq_start"]), int(entry["claims"])
        for lo in range(first, first + claims, batch_claims):
            seq = pl.col("claim_seq")
            batch = lines.filter((seq >= lo) & (seq < lo + batch_claims)).collect()
            if batch.height:
                yield batch


__all__ = [
    "CLAIM_LINE_SCHEMA",
    "IngestResult",
    "LossError",
    "StoreError",
    "file_sha256",
    "ingest_batches",
    "ingest_files",
    "ingest_frame",
    "iter_store_batches",
    "read_manifest",
    "read_store",
    "read_store_manifest",
    "scan_store",
    "store_size",
]
