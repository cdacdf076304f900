"""Fast path of the 837P reader: clean interchanges through the numpy kernel, the rest
through the columnar reader, unchanged.

The input is cut by the shared chunker (:func:`.envelope.iter_pieces_and_runs`), so
interchange boundaries are exactly the columnar reader's; runs of whole small interchanges
come as one :class:`.envelope.Run` and are taken with array operations, not one Python step
per interchange. Small interchanges are gathered into one buffer of about ``batch_bytes``
(a file of 10,000 one-claim interchanges is a few kernel calls, not 10,000); a large
interchange is read piece by piece, each buffer cut at its last ST and the rest carried
into the next one. Because the driver cuts each buffer before the kernel sees it, kernel
calls are independent: up to :data:`THREADS` run at once in worker threads, and their
results are checked (envelopes outside the kernel's whole interchanges through the shared
``EnvelopeTracker``), numbered and counted in input order, exactly as one at a time.

Fallback: the first interchange the kernel cannot prove clean (:mod:`.vector`), or that
the chunker or the envelope checks say anything about, is handed with everything after it
to :func:`.columnar.iter_claim_line_batches`, read from that interchange's first byte
with the claim numbering continued; segment numbers and byte offsets of what it reports
are moved to the whole input's. Rows of that interchange already produced (a large
interchange whose damage shows in a later piece) are dropped from the columnar output, and
the counts made for them taken back, so every row and every report entry is the columnar
reader's own. Inputs that cannot be re-read from an offset (file objects, iterables of
chunks) go to the columnar reader whole; an ``envelope.Reopenable`` (the CLI's progress
counter over a file) is re-opened instead.

``MIPSCLAIMS_X12_READER=columnar`` selects the columnar reader for every input (A/B).
"""

from __future__ import annotations

import bisect
import io
import os
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import numpy as np
import polars as pl

from ..schema import empty_claim_lines
from . import columnar
from .envelope import (
    DEFAULT_BLOCK,
    EnvelopeTracker,
    Piece,
    Reopenable,
    Run,
    Source,
    iter_pieces_and_runs,
    source_name,
)
from .report import CappedList, EnvelopeError, Issue, Location, QuarantineList, ReadReport
from .vector import Block, last_transaction_start, read_block

#: Environment variable that selects the reader: ``fast`` (default) or ``columnar``.
READER_ENV = "MIPSCLAIMS_X12_READER"
#: Block size of the chunker under the fast path: its buffer is sliced once per
#: interchange, so a small block keeps many small interchanges linear, not quadratic.
CHUNK_BYTES = 64 * 1024
#: Largest run of whole small interchanges the chunker finds at once
#: (``iter_pieces_and_runs``: array operations over the block, no Python per interchange);
#: at most one batch.
RUN_BYTES = 1024 * 1024
#: Whether interchanges larger than a batch are read by the kernel (piece by piece, each
#: buffer cut at its last ST, the rest carried) or by the columnar reader. Since the
#: kernel's rework it costs no more CPU than the columnar reader there and its buffers run
#: in parallel (docs/reader-fast-path.md), so the columnar reader is only the fallback.
KERNEL_LARGE_INTERCHANGES = True
#: A transaction longer than this many batches is not carried from piece to piece: its
#: interchange goes to the columnar reader, which bounds memory by the batch size.
MAX_CARRY_BATCHES = 4


#: Worker threads for kernel calls, which run ahead of the buffer whose tables are being
#: yielded (numpy and polars release the GIL in their kernels); 0 runs the kernel in the
#: caller's thread, one buffer at a time. Buffers are cut before the kernel sees them, so
#: calls are independent; tables, claim numbers and the report are checked and counted in
#: input order, the same as serially (a property test compares them). Two: on an idle
#: 2-core host parse-only of 1M lines takes 2.6 s instead of 3.8-4.1 s one at a time, for
#: about 10% more CPU (docs/reader-fast-path.md).
THREADS = 2


def _reopenable(source: Source) -> bool:
    return callable(getattr(source, "reopen", None))


def _rereadable(source: Source) -> bool:
    return isinstance(source, str | os.PathLike | bytes | bytearray | memoryview) or _reopenable(
        source
    )


def _from_claim(batches: Iterable[pl.DataFrame], first: int) -> Iterator[pl.DataFrame]:
    """The columnar reader's batches without the claims numbered below ``first`` (those
    the kernel already produced)."""
    for batch in batches:
        batch = batch.filter(pl.col("claim_seq") >= first)
        if batch.height:
            yield batch


@dataclass
class _Current:
    """The interchange the next buffer starts in, and what was produced of it so far."""

    number: int  # the chunker's interchange number
    start: int  # byte offset of its ISA in the input
    segments_before: int  # segments of the input before its ISA
    first_seq: int  # claim_seq of its first claim
    claims: int = 0  # claims produced (and counted) by the fast path
    lines: int = 0
    interchanges: int = 0  # envelope counts added to the report by the fast path
    transactions: int = 0


@dataclass
class _Job:
    """One kernel buffer: the pieces it holds, and the kernel's answer (a future)."""

    starts_with_isa: bool  # False: it starts with the carry of the previous buffer
    numbers: np.ndarray  # the chunker's number of each interchange that starts in it
    long_carry: bool  # what it carries on is over MAX_CARRY_BATCHES batches
    block: Future[Block]


class _Starts:
    """Byte offset of each interchange's ISA by the chunker's number: one entry per run
    (an array of offsets) or per interchange read piece by piece, found by bisection."""

    def __init__(self) -> None:
        self.numbers: list[int] = []  # first interchange of each entry, increasing
        self.offsets: list[np.ndarray | int] = []

    def add(self, piece: Piece | Run) -> None:
        self.numbers.append(piece.interchange)
        self.offsets.append(piece.offsets if isinstance(piece, Run) else piece.byte_offset)

    def get(self, number: int, default: int = 0) -> int:
        i = bisect.bisect_right(self.numbers, number) - 1
        if i < 0:
            return default
        entry, k = self.offsets[i], number - self.numbers[i]
        if isinstance(entry, int):
            return entry if k == 0 else default
        return int(entry[k]) if k < len(entry) else default


def _last(piece: Piece | Run) -> int:
    """The chunker's number of the last interchange ``piece`` holds."""
    return piece.last if isinstance(piece, Run) else piece.interchange


#: The answer for a buffer that was all carried (nothing for the kernel to read).
_NOTHING = Block(
    pl.DataFrame(),
    None,
    0,
    np.zeros(0, np.int64),
    np.zeros(0, np.int64),
    0,
    [],
    np.zeros(0, np.int64),
)


def _done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


class _FastReader:
    def __init__(
        self, source: Source, report: ReadReport, batch_bytes: int, claim_seq_start: int
    ) -> None:
        self.source = source
        self.name = source_name(source)
        self.report = report
        self.batch_bytes = batch_bytes
        self.seq = claim_seq_start
        self.first_seq = claim_seq_start
        self.segments = 0  # segments produced (the carry's are not counted yet)
        self.tracker_report = ReadReport()
        self.tracker = EnvelopeTracker(self.name, self.tracker_report)
        self.carry = b""
        self.cur: _Current | None = None
        self.starts = _Starts()
        self.seen = -1  # the chunker's number of the last interchange seen
        self.first_number: int | None = None
        self.jobs: list[_Job] = []
        self.depth = THREADS
        self.pool = ThreadPoolExecutor(THREADS, "mipsclaims-x12") if THREADS else None

    def _submit(self, fn: Callable[..., Block], *args: Any, **kwargs: Any) -> Future[Block]:
        if self.pool is None:
            return _done(fn(*args, **kwargs))
        return self.pool.submit(fn, *args, **kwargs)

    # ------------------------------------------------------------------ driver
    def run(self) -> Iterator[pl.DataFrame]:
        try:
            yield from self._run()
        finally:
            for job in self.jobs:
                job.block.cancel()
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _run(self) -> Iterator[pl.DataFrame]:
        scratch = ReadReport()
        pieces = iter_pieces_and_runs(
            self.source,
            scratch,
            min(CHUNK_BYTES, self.batch_bytes),
            runs=min(RUN_BYTES, self.batch_bytes),
        )
        pending: list[Piece | Run] = []
        size = 0
        prev: Piece | Run | None = None
        while True:
            piece = next(pieces, None)
            if scratch.warnings or scratch.errors or scratch.interchanges:
                # The chunker noted something after ``prev``: that interchange (with a gap or
                # damage after it) and the rest go to the columnar reader. A run is read
                # whole by the kernel first (its interchanges are whole, so the last one's
                # rows and counts are taken back when it is handed over).
                if prev is None:
                    yield from self._columnar(None, [])
                    return
                if isinstance(prev, Run):
                    before, rest = pending, []
                else:
                    before = [p for p in pending if p.interchange != prev.interchange]
                    rest = [p for p in pending if p.interchange == prev.interchange]
                if (yield from self._read(before)):
                    return
                yield from self._columnar(_last(prev), rest)
                return
            if piece is None:
                break
            if piece.interchange > self.seen:  # the first piece of an interchange, or a run
                self.starts.add(piece)
                if self.first_number is None:
                    self.first_number = piece.interchange
            self.seen = _last(piece)
            if pending and piece.delimiters != pending[0].delimiters:
                if (yield from self._read(pending, wait=False)):
                    return
                pending, size = [], 0
            pending.append(piece)
            size += len(piece.data)
            prev = piece
            if size >= self.batch_bytes and not piece.final and not KERNEL_LARGE_INTERCHANGES:
                big = piece.interchange
                if self.carry or all(p.interchange == big for p in pending):
                    before = []
                else:
                    before = [p for p in pending if p.interchange != big]
                if not before:  # one interchange larger than a batch
                    if not (yield from self._read([])):
                        yield from self._columnar(big, [])
                    return
                if (yield from self._read(before, wait=False)):
                    return
                pending = [p for p in pending if p.interchange == big]
                size = sum(len(p.data) for p in pending)
                continue
            if size >= self.batch_bytes:
                if (yield from self._read(pending, wait=False)):
                    return
                pending, size = [], 0
        if (yield from self._read(pending)):
            return
        if self.carry:  # an interchange whose last piece never came: cannot be clean
            yield from self._columnar(self.cur.number if self.cur else None, [])

    def _read(
        self, pending: list[Piece | Run], wait: bool = True
    ) -> Generator[pl.DataFrame, None, bool]:
        """Start the kernel on ``pending`` (in a worker thread) and yield, in input order,
        the tables of buffers it finished; with ``wait``, of every buffer started. From
        the first interchange that is not clean on, the columnar reader's tables of the
        rest of the input. Returns True when the input was handed over (the caller stops).
        """
        if pending:
            self.jobs.append(self._start(pending))
        while self.jobs and (wait or len(self.jobs) > self.depth):
            job = self.jobs.pop(0)
            block = job.block.result()
            if block is None:  # a transaction over MAX_CARRY_BATCHES batches, never read
                out, failed = [], self.cur.number if self.cur is not None else None
            else:
                out, failed = self._finish(job, block)
            yield from out
            if block is None or failed is not None:
                for later in self.jobs:  # read again by the columnar reader
                    later.block.cancel()
                self.jobs.clear()
                yield from self._columnar(failed, [])
                return True
        return False

    def _start(self, pending: list[Piece | Run]) -> _Job:
        """The buffer of carry + ``pending``, cut at its last ST unless it ends its
        interchange (the rest is carried), given to the kernel."""
        data = self.carry + b"".join(p.data for p in pending)
        final = pending[-1].final
        cut = len(data) if final else last_transaction_start(data, pending[0].delimiters)
        if cut == 0 and not self.carry:
            cut = len(data)  # an interchange's start and no ST after it: the kernel names why
        if cut == 0:
            # One transaction longer than the buffer: carried whole, nothing to read yet
            # (too long: handed over, memory stays bounded by the batch size).
            self.carry = data
            too_long = len(data) > MAX_CARRY_BATCHES * self.batch_bytes
            return _Job(False, np.zeros(0, np.int64), False, _done(None if too_long else _NOTHING))
        # The interchanges starting in the buffer: one array per run, one entry per first
        # piece of an interchange read piece by piece.
        numbers: list[np.ndarray] = []
        controls: list[str] = []
        for p in pending:
            if isinstance(p, Run):
                numbers.append(np.arange(p.interchange, p.last + 1))
                controls.extend(p.controls)
            elif self.starts.get(p.interchange, -1) == p.byte_offset:
                numbers.append(np.array([p.interchange]))
                controls.append(p.control)
        job = _Job(
            starts_with_isa=not self.carry,
            numbers=np.concatenate(numbers) if numbers else np.zeros(0, np.int64),
            long_carry=len(data) - cut > MAX_CARRY_BATCHES * self.batch_bytes,
            block=_done(None),
        )
        self.carry = data[cut:]
        job.block = self._submit(
            read_block,
            data[:cut],
            pending[0].delimiters,
            final=final,
            claim_seq0=0,
            source=self.name,
            controls=controls,
            control0=pending[0].control,
        )
        return job

    def _finish(self, job: _Job, block: Block) -> tuple[list[pl.DataFrame], int | None]:
        """What the kernel made of one buffer, checked and counted in input order: the
        tables of its clean interchanges, and the chunker number of the first one that is
        not (None: all clean)."""
        if block is _NOTHING:
            return [], None
        numbers, starts_with_isa = job.numbers, job.starts_with_isa
        # Local interchange j: the carried one (0 when the buffer starts with a carry),
        # then one per ISA of the buffer.
        offset = 0 if starts_with_isa else 1

        def number(local: int) -> int:
            if local < offset:
                assert self.cur is not None
                return self.cur.number
            return int(numbers[local - offset])

        bad = block.bad
        if len(block.isa) != len(numbers) or (
            len(numbers) and block.isa[0] != 0 and starts_with_isa
        ):
            bad = 0  # the kernel's segments do not match the chunker's interchanges
        limit = block.segments if bad is None else bad
        # Interchanges whole in the buffer were checked by the kernel: counted here, per
        # local interchange (index local + 1: the tracker's rows may fall before the first).
        whole = np.flatnonzero((block.transactions >= 0) & (block.isa < limit))
        n_isa = np.zeros(len(block.isa) + offset + 1, np.int64)
        n_st = np.zeros_like(n_isa)
        n_isa[whole + offset + 1] = 1
        n_st[whole + offset + 1] = block.transactions[whole]
        for i, tag, el in block.envelope:
            if i >= limit:
                break
            local = int(np.searchsorted(block.isa, i, "right")) - 1 + offset
            before = len(self.tracker_report.warnings), len(self.tracker_report.errors)
            problem = self.tracker.feed(tag, el, self.segments + i + 1, 0)
            after = len(self.tracker_report.warnings), len(self.tracker_report.errors)
            if problem or after != before:
                bad = i
                break
            n_isa[local + 1] += tag == "ISA"
            n_st[local + 1] += tag == "ST"
        table = block.table
        bad_local: int | None = None
        if bad is not None:
            bad_local = int((block.isa <= bad).sum()) - (1 if starts_with_isa else 0)
            table = table.filter(pl.col("_ix") < bad_local)
        elif job.long_carry:
            bad_local = len(block.isa) - (1 if starts_with_isa else 0)
            table = table.filter(pl.col("_ix") < bad_local)
        last_local = bad_local if bad_local is not None else len(block.isa) - (1 - offset)
        # Counts of interchanges before ``last_local`` are final; the last one's are kept
        # in ``cur`` (taken back if it is handed to the columnar reader).
        self.report.interchanges += int(n_isa[1 : last_local + 2].sum())
        self.report.transactions += int(n_st[1 : last_local + 2].sum())
        per = (
            table.group_by("_ix").agg(pl.col("claim_seq").n_unique(), pl.len())
            if table.height
            else None
        )
        claims = int(per["claim_seq"].sum()) if per is not None else 0
        lines = table.height
        self.report.claims_seen += claims
        self.report.claims_read += claims
        self.report.lines_read += lines
        seq0 = self.seq
        self.seq += claims
        # The interchange the next buffer starts in (or that fails).
        if last_local >= offset:
            isa_i = last_local - offset
            self.cur = _Current(
                number=number(last_local),
                start=self.starts.get(number(last_local)),
                segments_before=self.segments + int(block.isa[isa_i]),
                first_seq=seq0 + int(block.claims_before_isa[isa_i]),
            )
        assert self.cur is not None
        if per is not None:
            mine = per.filter(pl.col("_ix") == last_local)
            if mine.height:
                self.cur.claims += int(mine["claim_seq"][0])
                self.cur.lines += int(mine["len"][0])
        self.cur.interchanges += int(n_isa[last_local + 1])
        self.cur.transactions += int(n_st[last_local + 1])
        # The kernel numbers claims from 0 (buffers run ahead of the count).
        out = [table.drop("_ix").with_columns(pl.col("claim_seq") + seq0)] if table.height else []
        if bad_local is not None:
            return out, number(bad_local)
        self.segments += block.segments
        return out, None

    # ------------------------------------------------------------------ fallback
    def _columnar(self, number: int | None, rest: list[Piece | Run]) -> Iterator[pl.DataFrame]:
        """The columnar reader from interchange ``number`` (None: the whole input) on."""
        del rest
        report = self.report
        cur = self.cur if self.cur is not None and self.cur.number == number else None
        whole = number is None or number == self.first_number
        if cur is not None:
            # Take back what the fast path counted of this interchange.
            report.claims_seen -= cur.claims
            report.claims_read -= cur.claims
            report.lines_read -= cur.lines
            report.interchanges -= cur.interchanges
            report.transactions -= cur.transactions
            first_seq, segments_before, start = cur.first_seq, cur.segments_before, cur.start
            skip_below = cur.first_seq + cur.claims
        else:
            first_seq, segments_before = self.seq, self.segments
            start = self.starts.get(number, 0) if number is not None else 0
            skip_below = first_seq
        if whole:
            # From the first interchange: the columnar reader reads the input itself, into
            # the caller's report (its own "nothing could be read" check included).
            if report.sources and report.sources[-1] == self.name:
                report.sources.pop()
            # A path or bytes is read by the columnar reader as given; a re-openable
            # stream (already read) from its start again.
            again = self._open_at(0) if _reopenable(self.source) else self.source
            batches = columnar.iter_claim_line_batches(
                again, report, batch_bytes=self.batch_bytes, claim_seq_start=self.first_seq
            )
            try:
                yield from _from_claim(batches, skip_below)
            finally:
                if isinstance(again, _Named):
                    again.raw.close()
            return
        sub = self._open_at(start)
        # A scratch report, merged (locations moved) once the tail is read: the columnar
        # reader's own end-of-input check must see all of the tail's counts.
        scratch = ReadReport()
        batches = columnar.iter_claim_line_batches(
            sub, scratch, batch_bytes=self.batch_bytes, claim_seq_start=first_seq
        )
        try:
            yield from _from_claim(batches, skip_below)
        except EnvelopeError:
            pass  # every interchange of the tail failed; earlier ones were read
        finally:
            self._merge(scratch, _Shift(segments_before, start))
            sub.raw.close()

    def _open_at(self, start: int) -> _Named:
        """The input again from byte ``start``, under its own name (the caller closes it)."""
        if isinstance(self.source, bytes | bytearray | memoryview):
            return _Named(io.BytesIO(bytes(self.source)[start:]), self.name)
        if isinstance(self.source, str | os.PathLike):
            handle = open(Path(self.source), "rb")  # noqa: SIM115 - the caller closes it
            handle.seek(start)
            return _Named(handle, self.name)
        if _reopenable(self.source):
            return _Named(cast(Reopenable, self.source).reopen(start), self.name)
        # Only re-readable inputs reach the fast path (see _rereadable).
        raise TypeError(f"{self.name}: cannot re-read this input from an offset")

    def _merge(self, scratch: ReadReport, shift: _Shift) -> None:
        taken = scratch.take()
        taken.sources = []
        taken.quarantined = _moved(
            taken.quarantined, lambda q: replace(q, location=shift(q.location))
        )
        taken.warnings = _moved(taken.warnings, lambda w: Issue(shift(w.location), w.message))
        taken.errors = _moved(taken.errors, lambda e: Issue(shift(e.location), e.message))
        self.report.merge(taken)


T = TypeVar("T")


def _moved(items: list[T], move: Callable[[T], T]) -> CappedList:
    """``items`` with ``move`` applied, keeping the count of entries a cap dropped (and, for
    quarantined claims, the per-reason counts of every claim, listed or not)."""
    out: CappedList
    if isinstance(items, QuarantineList):
        out = QuarantineList()
        for item in items:
            CappedList.append(out, move(item))  # counted below, with the dropped ones
        out.counts = {reason: list(n) for reason, n in items.counts.items()}
    else:
        out = CappedList([move(x) for x in items])
    out.dropped += getattr(items, "dropped", 0)
    return out


@dataclass(frozen=True)
class _Shift:
    """Moves a location of a re-read tail to the whole input's segment numbers and bytes."""

    segments: int
    offset: int

    def __call__(self, where: Location) -> Location:
        segment = where.segment + self.segments if where.segment >= 0 else where.segment
        return replace(where, segment=segment, byte_offset=where.byte_offset + self.offset)


class _Named(io.BufferedIOBase):
    """A binary stream that reports the original input's name (for messages)."""

    def __init__(self, raw: IO[bytes] | Reopenable, name: str) -> None:
        super().__init__()
        self.raw = raw
        self.name = name

    def read(self, size: int | None = -1) -> bytes:
        return self.raw.read(-1 if size is None else size)

    def readable(self) -> bool:
        return True


def iter_claim_line_batches(
    source: Source,
    report: ReadReport | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK,
    claim_seq_start: int = 0,
) -> Iterator[pl.DataFrame]:
    """Canonical claim-line tables of an 837P input in batches (fast path, see module doc)."""
    report = report if report is not None else ReadReport()
    if os.environ.get(READER_ENV, "fast") == "columnar" or not _rereadable(source):
        yield from columnar.iter_claim_line_batches(
            source, report, batch_bytes=batch_bytes, claim_seq_start=claim_seq_start
        )
        return
    reader = _FastReader(source, report, batch_bytes, claim_seq_start)
    report.sources.append(reader.name)
    yield from reader.run()


def read_claim_lines(
    source: Source,
    report: ReadReport | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK,
    claim_seq_start: int = 0,
) -> pl.DataFrame:
    """The whole canonical claim-line table of an 837P input (bad claims go to ``report``)."""
    frames = list(
        iter_claim_line_batches(
            source, report, batch_bytes=batch_bytes, claim_seq_start=claim_seq_start
        )
    )
    return pl.concat(frames) if frames else empty_claim_lines()
