"""The one input layer: files (837P, claim-line CSV or Parquet), a store and in-memory
tables as one stream of canonical claim-line batches, with one read report.

Each path is sniffed by content, not by name, from its first 4 KB: an ISA segment (after
an optional byte-order mark and whitespace) means 837P, the Parquet magic ``PAR1`` means
Parquet, text means a claim-line CSV (:mod:`mipsclaims.flatfile`); anything else (NUL or
control bytes, an empty file) is refused at once, saying what it is not. Every path is
checked before any is read, so a wrong one fails before work is done.

**One ``claim_seq`` rule** (docs/architecture.md, "Input order"): ``claim_seq`` is a
claim's position in the whole input, counting every claim met, read or quarantined. A
store comes first (its claims are numbered ``0 .. next_seq - 1`` by ingest order), then
each source in the order given. A source that starts at ``s`` hands the next one
``max(s + claims it saw, 1 + the highest number it gave)``: for an 837P that is ``s +``
the CLM segments it met, for a CSV with its own ``claim_seq`` column one past its highest.
So a replacement or void in a later file is later than every claim before it, in an
earlier file or in the store, and the numbers in messages ("claim #N") are the numbers
the engine and the gap worklist use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

import polars as pl

from . import flatfile, interrupt, x12
from .errors import InputError
from .schema import conform, empty_claim_lines
from .x12.envelope import DEFAULT_BLOCK
from .x12.report import ReadReport

__all__ = [
    "InputError",
    "ReadProgress",
    "ReadReport",
    "Sources",
    "iter_claim_lines",
    "iter_file_batches",
    "load_claim_lines",
    "sniff",
]

PathLike = str | os.PathLike[str]
#: What :func:`iter_claim_lines` reads: a path, a canonical table, or a list of them.
Sources = PathLike | pl.DataFrame | pl.LazyFrame | Iterable[PathLike | pl.DataFrame]
Progress = Callable[[int], None]  # called with the bytes of the file read so far
SNIFF_BYTES = 4096


class ReadProgress(Protocol):
    """Where :func:`iter_claim_lines` says how far it got (a progress bar, for example)."""

    def reading(self, name: str) -> Progress:
        """A callback for the file ``name``, called with its bytes read so far."""

    def file_done(self, name: str, size: int, claims: int | None = None) -> None:
        """The file ``name`` (``size`` bytes) is read: ``claims`` claims."""


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
    """A binary file that reports the bytes read so far (progress of the 837P reader).

    It can be opened again from an offset (``reopen``), so the fast 837P reader, which
    re-reads what it hands to the columnar reader, reads it as it reads a path."""

    def __init__(self, handle: BinaryIO, progress: Progress, done: int = 0) -> None:
        self._handle, self._progress, self._done = handle, progress, done
        self.name = handle.name

    def read(self, size: int = -1, /) -> bytes:
        block = self._handle.read(size)
        self._done += len(block)
        self._progress(self._done)
        return block

    def reopen(self, offset: int, /) -> _CountingReader:
        handle = open(self.name, "rb")  # noqa: SIM115 - the caller closes it
        handle.seek(offset)
        return _CountingReader(handle, self._progress, offset)

    def close(self) -> None:
        self._handle.close()


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
            with open(path, "rb") as handle:
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
    except InputError:
        raise
    except (x12.X12Error, flatfile.FlatFileError, OSError, ValueError) as exc:
        # OSError: a file that vanished or failed mid-read; its name is in the message.
        raise InputError(_located(str(exc), path)) from None


def _located(message: str, path: PathLike) -> str:
    """``message`` naming ``path`` (errors of the readers mostly do already)."""
    name = os.fspath(path)
    return message if name in message or Path(name).name in message else f"{name}: {message}"


def _as_list(sources: Sources) -> list[PathLike | pl.DataFrame]:
    if isinstance(sources, str | os.PathLike | pl.DataFrame):
        return [sources]
    if isinstance(sources, pl.LazyFrame):
        return [sources.collect()]
    if isinstance(sources, bytes):
        raise TypeError("sources must be paths or claim-line tables, not bytes")
    items = list(sources)
    for item in items:
        if not isinstance(item, str | os.PathLike | pl.DataFrame):
            raise TypeError(
                f"sources must be paths or claim-line tables, not {type(item).__name__}"
            )
    return items


def _check_paths(paths: list[PathLike]) -> list[str]:
    """Every path's :func:`sniff` result, after checking that all exist (one message
    naming every missing one)."""
    missing = [os.fspath(p) for p in paths if not Path(p).exists()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    return [sniff(p) for p in paths]


def _store_batches(
    store: PathLike, manifest: dict[str, Any], report: x12.ReadReport
) -> Iterator[pl.DataFrame]:
    """The store's batches (its parts checked now), counted in ``report`` as read."""
    from . import store as store_mod  # lazy: only a store read needs it

    try:
        batches = store_mod.iter_store_batches(Path(store), manifest=manifest)
    except store_mod.StoreError as exc:
        raise InputError(str(exc)) from None
    claims, lines = store_mod.store_size(manifest)
    report.sources.append(os.fspath(store))
    report.claims_seen += claims
    report.claims_read += claims
    report.lines_read += lines
    return batches


def _next_start(start: int, seen: int, highest: int) -> int:
    """The ``claim_seq`` the next source starts at (the module's one rule)."""
    return max(start + seen, highest + 1)


def iter_claim_lines(
    sources: Sources = (),
    report: x12.ReadReport | None = None,
    *,
    store: PathLike | None = None,
    progress: ReadProgress | None = None,
    batch_bytes: int = DEFAULT_BLOCK,
) -> Iterator[pl.DataFrame]:
    """Canonical batches of whole claims: the ``store``'s claims (if any), then each
    source's in the order given, ``claim_seq`` numbered by the module's one rule.

    ``sources``: paths (837P, CSV, Parquet) and canonical tables, in input order.
    ``report`` collects what was read (the store counts as a source: its claims are read
    and seen) and what could not be (per file, PHI-free). ``progress`` hears each file's
    bytes as they are read. Raises :class:`InputError` (with the file, and where known the
    segment or row) when an input cannot be read at all: at once, before anything is
    read, when a path is missing or not a claims file or the store is not one. A Ctrl-C
    lost in a library stops the read between batches (:mod:`mipsclaims.interrupt`).
    """
    items = _as_list(sources)
    kinds = _check_paths([i for i in items if not isinstance(i, pl.DataFrame)])
    report = report if report is not None else x12.ReadReport()
    next_seq, stored = 0, iter(list[pl.DataFrame]())
    if store is not None:
        from . import store as store_mod

        try:  # read once: the whole read sees one state of the store
            manifest = store_mod.read_store_manifest(Path(store))
        except store_mod.StoreError as exc:
            raise InputError(str(exc)) from None
        next_seq = int(manifest["next_seq"])
        stored = _store_batches(store, manifest, report)
    return _read(stored, items, iter(kinds), report, next_seq, progress, batch_bytes)


def _read(
    stored: Iterator[pl.DataFrame],
    items: list[PathLike | pl.DataFrame],
    kinds: Iterator[str],
    report: x12.ReadReport,
    next_seq: int,
    progress: ReadProgress | None,
    batch_bytes: int,
) -> Iterator[pl.DataFrame]:
    """The batches of :func:`iter_claim_lines`, its inputs checked: the store's
    (``stored``), then each item's from ``next_seq`` on."""
    for batch in stored:
        interrupt.check()
        yield batch
    for item in items:
        start, highest = next_seq, next_seq - 1
        if isinstance(item, pl.DataFrame):
            table = conform(item)
            if table.height:
                table = table.with_columns(pl.col("claim_seq") + start)
                # polars types max() as any scalar; claim_seq is Int64, so an int
                highest = cast(int, table["claim_seq"].max())
                claims = table["claim_seq"].n_unique()
                report.claims_seen += claims
                report.claims_read += claims
                report.lines_read += table.height
            next_seq = _next_start(start, 0, highest)
            yield table
            continue
        part, name = x12.ReadReport(), Path(item).name
        claims = 0
        reading = progress.reading(name) if progress is not None else None
        for batch in iter_file_batches(
            item, part, claim_seq_start=start, batch_bytes=batch_bytes, progress=reading,
            kind=next(kinds),
        ):  # fmt: skip
            interrupt.check()  # a Ctrl-C lost somewhere stops the read here
            batch = conform(batch)
            if batch.height:  # a batch holds whole claims
                highest = max(highest, cast(int, batch["claim_seq"].max()))
                claims += batch["claim_seq"].n_unique()
            yield batch
        quarantined = [q.claim_seq for q in part.quarantined]
        next_seq = _next_start(start, part.claims_seen, max([highest, *quarantined]))
        report.merge(part)
        if progress is not None:
            progress.file_done(name, Path(item).stat().st_size, claims)


def load_claim_lines(
    sources: Sources = (),
    *,
    store: PathLike | None = None,
    batch_bytes: int = DEFAULT_BLOCK,
) -> tuple[pl.DataFrame, x12.ReadReport]:
    """One canonical claim-line table and one read report for the ``store`` and
    ``sources`` (as :func:`iter_claim_lines`, held whole: for small inputs and tests).

    Raises :class:`InputError` when an input cannot be read at all; malformed claims
    inside a readable file are quarantined in the report instead.
    """
    report = x12.ReadReport()
    frames = list(iter_claim_lines(sources, report, store=store, batch_bytes=batch_bytes))
    return (pl.concat(frames) if frames else empty_claim_lines()), report
