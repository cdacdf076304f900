"""Input opening, ISA delimiter detection, interchange-aligned chunking and envelope checks.

Shared by both reader paths so they agree on what is read: the chunker cuts the raw bytes
into pieces that never straddle a segment or an interchange (each piece carries the
delimiters of its ISA), and :class:`EnvelopeTracker` checks ISA/GS/ST/SE/GE/IEA segments
(the few envelope segments, fed in input order) for version, transaction set and counts.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast, runtime_checkable

import numpy as np

from . import rules
from .report import EnvelopeError, Issue, Location, ReadReport, X12Error

#: What the reader accepts: 837P 5010. X222 without the A1 errata is read too.
SUPPORTED_VERSION_PREFIX = "005010X222"
ENVELOPE_TAGS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
DEFAULT_BLOCK = 8 * 1024 * 1024  # batch size: ~120k lines and ~0.5 GB peak RSS per batch
#: Longest segment read (bytes between two terminators, so also the longest element). An 837P
#: segment is well under 1 KiB; a longer run is damage or hostile input (a file without
#: terminators would otherwise be buffered whole). It fails its interchange from there.
MAX_SEGMENT_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_WS = rules.PADDING.encode()  # whitespace and NUL padding between segments
_WS_RUN = re.compile(b"[" + re.escape(_WS) + b"]*")
_SHOWABLE = re.compile(r"[A-Za-z0-9]{0,15}")


def shown(value: str) -> str:
    """An envelope value for a message: quoted when it looks like a code, control number or
    count (at most 15 letters and digits), else only its length, so that damaged input
    cannot carry other data (PHI) into a message."""
    if _SHOWABLE.fullmatch(value):
        return repr(value)
    return f"<a value of {len(value)} characters>"


@runtime_checkable
class Readable(Protocol):
    """A binary file-like input: anything with ``read(size) -> bytes`` (an open file, a
    socket's file, the CLI's progress-counting wrapper)."""

    def read(self, size: int = -1, /) -> bytes: ...


class Reopenable(Readable, Protocol):
    """A :class:`Readable` that can be opened again from a byte offset (the CLI's progress
    counter over a file): the fast 837P reader re-reads what it hands to the columnar
    reader, so it needs this (or a path, or bytes) to read such an input itself."""

    def reopen(self, offset: int, /) -> Reopenable: ...

    def close(self) -> None: ...


Source = str | os.PathLike[str] | bytes | bytearray | memoryview | Readable | Iterable[bytes]


@dataclass(frozen=True)
class Delimiters:
    """The separators of one interchange, read from its ISA segment."""

    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"


@dataclass(frozen=True)
class Piece:
    """A run of whole segments of one interchange, decoded, with its position in the input."""

    data: bytes
    delimiters: Delimiters
    byte_offset: int
    interchange: int
    control: str  # ISA13
    final: bool  # the last piece of its interchange


@dataclass(frozen=True)
class Run:
    """Whole interchanges back to back, found for a block at once (``iter_pieces(runs=)``,
    the fast path only): each one exactly the final :class:`Piece` the per-interchange
    code would yield for it, so a run is that code's output with no Python per interchange.

    ``data`` runs from the first ISA through the last IEA's terminator, with the CR/LF (not
    a delimiter) the input has between interchanges.
    """

    data: bytes
    delimiters: Delimiters
    byte_offset: int  # of the first ISA in the input
    interchange: int  # the chunker's number of the first interchange (the others follow)
    offsets: np.ndarray  # byte offset of each ISA in the input (int64)
    ends: np.ndarray  # offset in the input just past each IEA's terminator
    controls: list[str]  # ISA13 of each, stripped as Piece.control is

    final = True  # ends its last interchange, as a final Piece does

    @property
    def count(self) -> int:
        return len(self.offsets)

    @property
    def last(self) -> int:
        """The chunker's number of the last interchange."""
        return self.interchange + len(self.offsets) - 1

    @property
    def control(self) -> str:
        return self.controls[0]

    def pieces(self) -> list[Piece]:
        """The final pieces the per-interchange code yields for these interchanges (one
        Python step each: for tests and for readers that want pieces)."""
        return [
            Piece(
                self.data[start - self.byte_offset : end - self.byte_offset],
                self.delimiters,
                start,
                self.interchange + i,
                control,
                True,
            )
            for i, (start, end, control) in enumerate(
                zip(self.offsets.tolist(), self.ends.tolist(), self.controls, strict=True)
            )
        ]


def source_name(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    if isinstance(source, bytes | bytearray | memoryview):
        return "<bytes>"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else "<stream>"


def iter_blocks(source: Source, block_size: int = DEFAULT_BLOCK) -> Iterator[bytes]:
    """The raw bytes of ``source`` in blocks (path, bytes, binary file or iterable of chunks)."""
    if isinstance(source, str | os.PathLike):
        try:
            handle = open(Path(source), "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise X12Error(f"cannot open {os.fspath(source)}: {exc.strerror}") from None
        with handle:
            yield from _read_blocks(handle, block_size)
    elif isinstance(source, bytes | bytearray | memoryview):
        # In blocks like a file: the chunker copies the rest of its buffer once per
        # interchange, so one block of the whole input would make that quadratic.
        view = memoryview(source).cast("B")
        for start in range(0, len(view), block_size):
            yield bytes(view[start : start + block_size])
    elif isinstance(source, Readable):
        yield from _read_blocks(source, block_size)
    else:
        for chunk in source:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise X12Error(f"chunks must be bytes, got {type(chunk).__name__}")
            yield bytes(chunk)


def _read_blocks(handle: Readable, block_size: int) -> Iterator[bytes]:
    while block := handle.read(block_size):
        if isinstance(block, str):
            raise X12Error("open the file in binary mode ('rb')")
        yield block


def parse_isa(buf: bytes) -> tuple[Delimiters, list[str], int]:
    """Delimiters, elements and length (through the terminator) of the ISA at ``buf[0]``.

    The element separator is the byte after "ISA"; ISA16 is the component separator and the
    byte after it the segment terminator. Counting separators (not fixed columns) also
    accepts ISAs whose fixed-width fields were trimmed.
    """
    if not buf.startswith(b"ISA") or len(buf) < 4:
        raise EnvelopeError("expected an ISA segment")
    ele = buf[3:4]
    fixed = len(buf) > _FIXED_ISA16 + 1 and buf.count(ele, 0, _FIXED_ISA16) == 16
    if fixed and _fixed_seps(buf) == (buf[3],) * len(_FIXED_SEPS):
        pos = _FIXED_ISA16 - 1  # the fixed-width layout (one count, no search per element)
    else:
        pos = 3
        for _ in range(15):
            pos = buf.find(ele, pos + 1, pos + 200)
            if pos < 0:
                raise EnvelopeError("ISA segment has fewer than 16 elements")
    if len(buf) < pos + 3:
        raise EnvelopeError("ISA segment is truncated")
    comp, term = buf[pos + 1 : pos + 2], buf[pos + 2 : pos + 3]
    text = buf[: pos + 2].decode("latin-1")
    elements = text.split(ele.decode("latin-1"))
    delims = _delimiters(ele, comp, term, elements[11].encode("latin-1"))
    if elements[12] != "00501":
        raise EnvelopeError(
            f"ISA12 version {shown(elements[12])} is not supported; this reader reads 837P "
            f"{SUPPORTED_VERSION_PREFIX}A1 (ISA12 00501)"
        )
    return delims, elements, pos + 3


# Separator positions of an ISA written at its fixed widths, and where ISA16 is.
_FIXED_SEPS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_FIXED_ISA16 = 104
_fixed_seps = operator.itemgetter(*_FIXED_SEPS)  # the bytes there, in one call


@functools.lru_cache(maxsize=64)
def _delimiters(ele: bytes, comp: bytes, term: bytes, rep: bytes) -> Delimiters:
    """The delimiters of an ISA's separator bytes (cached: a file repeats them)."""
    seps = {ele, comp, term}
    if len(seps) < 3 or any(s.isalnum() or s[0] > 0x7F for s in seps):
        raise EnvelopeError(
            f"ISA delimiters are not usable (element {ele!r}, component {comp!r}, segment {term!r})"
        )
    repetition = rep.decode("latin-1") if len(rep) == 1 and not rep.isalnum() else None
    if rep in seps:
        repetition = None
    return Delimiters(
        element=ele.decode("latin-1"),
        component=comp.decode("latin-1"),
        repetition=repetition,
        segment=term.decode("latin-1"),
    )


def _segment_start_before(buf: bytes, pos: int, term: bytes) -> bool:
    """True when only whitespace separates ``pos`` from the previous terminator."""
    i = pos - 1
    while i >= 0 and buf[i] in _WS and buf[i : i + 1] != term:
        i -= 1
    return i < 0 or buf[i : i + 1] == term


def long_segment(buf: bytes, start: int, end: int, term: bytes) -> int | None:
    """Start of the first segment of ``buf[start:end]`` longer than MAX_SEGMENT_BYTES, or None.

    ``start`` is a segment start; an unterminated run up to ``end`` counts as a segment.
    Cheap: one ``bytes.find`` per half-cap window (a few per megabyte), because a run of more
    than twice the window without a terminator always covers one whole window.
    """
    half = MAX_SEGMENT_BYTES // 2
    a = start
    while a < end:
        b = min(a + half, end)
        if buf.find(term, a, b) >= 0:
            a = b
            continue
        first = buf.rfind(term, start, a) + 1 or start
        nxt = buf.find(term, b, end)
        if (nxt if nxt >= 0 else end) - first > MAX_SEGMENT_BYTES:
            return first
        if nxt < 0:
            return None
        a = nxt + 1
    return None


#: Smallest block a run is looked for in (bytes); it doubles while runs fill their block.
RUN_MIN = 16 * 1024
_ISA_LEN = _FIXED_ISA16 + 2  # a fixed-width ISA through its terminator
_GAP_MAX = 8  # CR/LF kept between interchanges of one run (more: the next run)
_WS_MAX = 256  # whitespace after a terminator looked through (more: the run ends)
_IEA_MAX = 48  # longest IEA segment taken into a run
_WS_LUT = np.zeros(256, bool)
_WS_LUT[list(_WS)] = True
_SEP_COLUMNS = np.array(_FIXED_SEPS)
_CONTROL = slice(90, 99)  # ISA13 in the fixed layout


def _whole_run(
    buf: bytes, size: int, most: int
) -> tuple[Delimiters, np.ndarray, np.ndarray, list[str], np.ndarray] | None:
    """The interchanges at the start of ``buf[:size]`` that the per-interchange code would
    yield each as one final :class:`Piece` with nothing to note, found with array
    operations: (delimiters, ISA offsets, offsets past each IEA's terminator, ISA13s, whether
    each one joins the previous one in a run); None when not even the first qualifies.

    Taken (anything else ends the run, and the per-interchange code reads it, so its
    messages and locations stay its own): an ISA at its fixed widths with the delimiters,
    ISA11 and version 00501 of the first, its ISA13 printable ASCII; its IEA the next
    envelope segment (ISA or IEA at a segment start), short, with no ``I`` after its tag;
    at most ``most`` bytes in all (so no over-long segment and no cut piece); only
    whitespace (up to :data:`_WS_MAX` bytes) up to the next ISA. It joins the previous one
    when that whitespace is at most :data:`_GAP_MAX` CR/LF that are no delimiter (what the
    kernel reads between segments); other whitespace, dropped by the per-interchange code,
    starts a new run.
    """
    if len(buf) < _ISA_LEN or not buf.startswith(b"ISA"):
        return None
    # Not at the fixed widths: no run (cheaper than parse_isa, which the caller runs next).
    if _fixed_seps(buf) != (buf[3],) * len(_FIXED_SEPS) or buf.count(buf[3:4], 0, 104) != 16:
        return None
    try:
        delims, _, length = parse_isa(buf)
    except EnvelopeError:
        return None
    ele, comp, term, rep = buf[3], buf[104], buf[105], buf[82]
    if length != _ISA_LEN or buf.find(b"IEA" + buf[3:4], _ISA_LEN, size) < 0:
        return None
    a = np.frombuffer(buf, np.uint8, count=size)
    terms = np.flatnonzero(a == term)
    # Fixed-width windows (ISA, IEA, gaps) as rows of a strided view of a padded copy.
    padded = np.zeros(size + _ISA_LEN, np.uint8)
    padded[:size] = a
    rows = np.lib.stride_tricks.as_strided(padded, (size, _ISA_LEN), (1, 1), writeable=False)
    # Segment starts: after each terminator, past whitespace other than the terminator
    # (where _segment_start_before looks for IEA and ISA).
    ws = _WS_LUT.copy()
    ws[term] = False
    x = terms + 1
    for _ in range(2):  # CR, LF: every start at once
        x += (x < size) & ws[a[np.minimum(x, size - 1)]]
    spaced = np.flatnonzero((x < size) & ws[a[np.minimum(x, size - 1)]])
    for _ in range(_WS_MAX):  # longer whitespace: only those starts, a byte at a time
        if not len(spaced):
            break
        x[spaced] += 1
        spaced = spaced[(x[spaced] < size) & ws[a[np.minimum(x[spaced], size - 1)]]]
    head = a[np.minimum(x, size - 1)]
    unknown = ((x < size) & ws[head]) | (x + 4 > size)
    # Segments starting with "I" (or unknown): the only ones that can be ISA or IEA.
    ci = np.flatnonzero(unknown | (head == ord("I")))
    u32 = np.ndarray((size - 3,), ">u4", buf, 0, (1,))
    key = u32[np.minimum(x[ci], size - 4)]
    isa_key = int.from_bytes(b"ISA" + bytes([ele]), "big")
    iea_key = int.from_bytes(b"IEA" + bytes([ele]), "big")
    kind = np.where(key == isa_key, 0, np.where(key == iea_key, 1, 3))
    # An IEA's terminator is the next one; without it in the block the IEA is unknown.
    kind[unknown[ci] | ((kind == 1) & (ci + 1 >= len(terms)))] = 2
    env = ci[kind < 3]
    # The envelope segments must alternate ISA, IEA from the first ISA (at 0).
    kinds = np.concatenate(([0], kind[kind < 3]))
    pos = np.concatenate(([0], x[env]))
    seg = np.concatenate(([-1], env))
    wrong = np.flatnonzero(kinds != np.arange(len(kinds)) % 2)
    pairs = (int(wrong[0]) if len(wrong) else len(kinds)) // 2
    if pairs == 0:
        return None
    p = pos[0 : 2 * pairs : 2]
    iea = pos[1 : 2 * pairs : 2]
    t = terms[seg[1 : 2 * pairs : 2] + 1]  # each IEA's terminator
    e = t + 1
    good = (e - p <= most) & (p + _ISA_LEN <= size)
    w = rows[p]
    good &= (w[:, _SEP_COLUMNS] == ele).all(axis=1) & ((w[:, :104] == ele).sum(axis=1) == 16)
    good &= (w[:, 104] == comp) & (w[:, 105] == term) & (w[:, 82] == rep)
    good &= (w[:, 84:89] == np.frombuffer(b"00501", np.uint8)).all(axis=1)
    control = w[:, _CONTROL]
    good &= ((control >= 32) & (control <= 126)).all(axis=1)
    # The IEA: short, no "I" after its tag (so no ISA or IEA inside it).
    span = t - iea
    v = rows[iea, 1:_IEA_MAX]
    good &= (span <= _IEA_MAX) & ~((v == ord("I")) & (np.arange(1, _IEA_MAX) < span[:, None])).any(
        axis=1
    )
    # Between interchanges only whitespace: the next ISA is the segment start right after
    # the IEA's terminator. Joined in one run: at most _GAP_MAX CR/LF that are no delimiter.
    good[1:] &= p[1:] == x[seg[1 : 2 * pairs - 2 : 2] + 1]
    gap_ok = np.zeros(256, bool)
    gap_ok[[10, 13]] = True
    gap_ok[[ele, comp, term, rep]] = False
    gap = p[1:] - e[:-1]
    g = rows[np.minimum(e[:-1], size - 1), :_GAP_MAX]
    joins = np.ones(pairs, bool)
    joins[1:] = (gap <= _GAP_MAX) & (gap_ok[g] | (np.arange(_GAP_MAX) >= gap[:, None])).all(1)
    bad = np.flatnonzero(~good)
    k = int(bad[0]) if len(bad) else pairs
    if k == 0:
        return None
    text = np.ascontiguousarray(control[:k]).view("S9").ravel().astype(str)
    controls: list[str] = np.strings.strip(text).tolist()
    return delims, p[:k], e[:k], controls, joins[:k]


def _too_long(max_bytes: int = MAX_SEGMENT_BYTES) -> str:
    return (
        f"no segment terminator within {max_bytes} bytes (the segment length limit); "
        "the rest of the interchange is not read"
    )


def iter_pieces(
    source: Source, report: ReadReport, block_size: int = DEFAULT_BLOCK
) -> Iterator[Piece]:
    """Cut ``source`` into interchange-aligned pieces of whole segments (at most ~block_size).

    A segment longer than :data:`MAX_SEGMENT_BYTES` ends its interchange: the segments
    before it are yielded (as the interchange's final piece), an error is added to
    ``report`` and reading resumes at the next ISA.
    """
    return cast(Iterator[Piece], _cut(source, report, block_size, 0))  # no runs: pieces only


def iter_pieces_and_runs(
    source: Source, report: ReadReport, block_size: int, runs: int
) -> Iterator[Piece | Run]:
    """:func:`iter_pieces`, with interchanges that would each be one final piece with
    nothing to note found a block at a time and yielded together as a :class:`Run` of up
    to ``runs`` bytes (the block starts at :data:`RUN_MIN` and is twice what the last run
    took); the first interchange that does not qualify is read by the per-interchange code,
    exactly as by :func:`iter_pieces` (the fast path's chunker)."""
    return _cut(source, report, block_size, runs)


def _cut(source: Source, report: ReadReport, block_size: int, runs: int) -> Iterator[Piece | Run]:
    name = source_name(source)
    blocks = iter_blocks(source, block_size)
    buf = b""
    base = 0  # absolute offset of buf[0]
    eof = False
    interchange = -1
    first = True
    region = min(RUN_MIN, runs)

    def fill(size: int) -> None:
        """Read blocks until ``buf`` holds ``size`` bytes (one join, not one per block)."""
        nonlocal buf, eof
        parts, have = [buf], len(buf)
        while have < size and not eof:
            try:
                block = next(blocks)
            except StopIteration:
                eof = True
                break
            parts.append(block)
            have += len(block)
        if len(parts) > 1:
            buf = b"".join(parts)

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        try:
            block = next(blocks)
        except StopIteration:
            eof = True
            return False
        buf += block
        return True

    def skip_to_isa(start: int, term: bytes | None = None) -> bool:
        """Drop input up to the next "ISA" at or after ``buf[start]``; False at end of input.

        With ``term``, only an "ISA" that starts a segment counts.
        """
        nonlocal buf, base
        nxt = _find_next_isa(buf, start)
        while term and nxt > 0 and not _segment_start_before(buf, nxt, term):
            nxt = _find_next_isa(buf, nxt + 1)
        while nxt < 0 and not eof:
            keep = max(len(buf) - 3, start, 1)  # keep a possible "IS" split across blocks
            base += keep
            buf = buf[keep:]
            start = 0
            more()
            nxt = _find_next_isa(buf, 0)
            while term and nxt > 0 and not _segment_start_before(buf, nxt, term):
                nxt = _find_next_isa(buf, nxt + 1)
        if nxt < 0:
            return False
        base += nxt
        buf = buf[nxt:]
        return True

    while True:
        # Between interchanges: skip a BOM and whitespace, expect ISA.
        while len(buf) < 4096 and more():
            pass
        if first and buf.startswith(_BOM):
            buf, base = buf[3:], base + 3
        first = False
        stripped = buf.lstrip(_WS)
        base += len(buf) - len(stripped)
        buf = stripped
        if not buf:
            if eof:
                if interchange < 0:
                    raise X12Error(f"{name}: empty input, no X12 interchange found")
                return
            continue
        if runs and buf.startswith(b"ISA"):
            fill(region)
            found = _whole_run(buf, min(region, len(buf)), min(block_size, MAX_SEGMENT_BYTES))
            if found is not None:
                delims, starts, ends, controls, joins = found
                # One run per stretch joined by CR/LF (other whitespace is dropped).
                bounds = [0, *(np.flatnonzero(~joins[1:]) + 1).tolist(), len(starts)]
                for i, j in itertools.pairwise(bounds):
                    yield Run(
                        buf[starts[i] : ends[j - 1]],
                        delims,
                        base + int(starts[i]),
                        interchange + 1 + i,
                        starts[i:j] + base,
                        ends[i:j] + base,
                        controls[i:j],
                    )
                interchange += len(starts)
                taken = int(ends[-1])
                region = min(runs, max(RUN_MIN, 2 * taken))
                gap = _WS_RUN.match(buf, taken)  # dropped with the last IEA, as below
                taken = gap.end() if gap else taken
                base += taken
                buf = buf[taken:]
                continue
            region = min(RUN_MIN, runs)
        interchange += 1
        try:
            delims, elements, _ = parse_isa(buf)
        except EnvelopeError as exc:
            where = Location(name, -1, base)
            if interchange == 0 and not buf.startswith(b"ISA"):
                raise X12Error(f"{name}: not an X12 interchange (no ISA at byte {base})") from None
            report.interchanges += 1
            report.errors.append(Issue(where, f"interchange failed: {exc}"))
            if not skip_to_isa(1):
                return
            continue
        control = elements[13].strip()
        term = delims.segment.encode("latin-1")
        ele = delims.element.encode("latin-1")
        trailer_or_header = _trailer_or_header(ele)
        pos = 0
        bad: int | None = None
        while True:
            if bad is not None:
                head = buf[bad : bad + 16]
                bad += len(head) - len(head.lstrip(_WS))  # name the segment, not the newline
                tag = _tag_at(buf, bad, ele)
                if tag in ENVELOPE_TAGS:
                    break  # an envelope segment: the interchange fails (below)
                # Any other segment: skipped (up to its terminator, holding one block at a
                # time) and replaced by a stand-in the readers quarantine its loop for.
                if bad > pos:
                    yield Piece(buf[pos:bad], delims, base + pos, interchange, control, False)
                at, start = base + bad, bad
                while (t := buf.find(term, start)) < 0 and not eof:
                    base, buf, start = base + len(buf), b"", 0
                    more()
                marker = (rules.LONG_TAG + delims.element + tag + delims.segment).encode()
                if t < 0:  # no terminator until the end of the input
                    yield Piece(marker, delims, at, interchange, control, True)
                    report.errors.append(
                        Issue(
                            Location(name, -1, at),
                            f"interchange {shown(control)} failed: {_too_long()}",
                        )
                    )
                    return
                yield Piece(marker, delims, at, interchange, control, False)
                pos, bad = t + 1, None
                continue
            limit = max(pos + block_size, buf.find(term, pos) + 1)  # at least one segment
            end = _interchange_end(buf, pos, term, trailer_or_header, limit)
            if end is None and len(buf) > limit:
                # Big interchange: emit whole segments up to about block_size bytes.
                cut = buf.rfind(term, pos, limit)
                if cut >= pos:
                    bad = long_segment(buf, pos, cut + 1, term)
                    if bad is not None:
                        continue
                    yield Piece(buf[pos : cut + 1], delims, base + pos, interchange, control, False)
                    pos = cut + 1
                    continue
            if end is None and not eof:
                if len(buf) - (buf.rfind(term, pos) + 1 or pos) > MAX_SEGMENT_BYTES:
                    bad = long_segment(buf, pos, len(buf), term)
                    if bad is not None:
                        continue  # an unterminated run longer than the limit: skip it
                    break
                base += pos
                buf = buf[pos:]
                pos = 0
                more()
                continue
            if end is None or end < 0:
                # End of input, or a new ISA, before this one's IEA or its IEA's terminator.
                ahead = end is not None
                end = len(buf) if end is None else -end
                iea = _unterminated_iea(buf, pos, end, term, ele)
                if iea is not None:
                    message = rules.UNTERMINATED_IEA_BEFORE_ISA if ahead else rules.UNTERMINATED_IEA
                    at_byte = iea
                else:
                    message, at_byte = "interchange has no IEA trailer", end if ahead else pos
                report.warnings.append(Issue(Location(name, -1, base + at_byte), message))
            bad = long_segment(buf, pos, end, term)
            if bad is not None:
                continue
            yield Piece(buf[pos:end], delims, base + pos, interchange, control, True)
            # Whitespace after the IEA is dropped with it: one copy of the buffer's rest.
            gap = _WS_RUN.match(buf, end)
            end = gap.end() if gap else end
            base += end
            buf = buf[end:]
            break
        if bad is not None:  # an over-long envelope segment
            if bad > pos:
                yield Piece(buf[pos:bad], delims, base + pos, interchange, control, True)
            where = Location(name, -1, base + bad)
            report.errors.append(
                Issue(where, f"interchange {shown(control)} failed: {_too_long()}")
            )
            if not skip_to_isa(bad + 1, term):
                return


@functools.lru_cache(maxsize=16)
def _trailer_or_header(ele: bytes) -> re.Pattern[bytes]:
    """IEA or ISA followed by the element separator (compiled once per separator)."""
    return re.compile(b"I(?:EA|SA)" + re.escape(ele))


def _tag_at(buf: bytes, start: int, ele: bytes) -> str:
    """The tag of the segment at ``buf[start]`` when it is a known 837P tag, else ""."""
    first = buf[start : start + 4]
    tag = first.split(ele, 1)[0].strip(_WS).decode("latin-1") if ele in first else ""
    return tag if tag in rules.KNOWN_TAGS else ""


def _unterminated_iea(buf: bytes, pos: int, end: int, term: bytes, ele: bytes) -> int | None:
    """Offset in ``buf`` of an IEA segment that ends ``buf[pos:end]`` without a terminator
    (the interchange is complete: it is read, with a warning), else None."""
    start = buf.rfind(term, pos, end) + 1 or pos
    while start < end and buf[start] in _WS:
        start += 1
    return start if buf.startswith(b"IEA" + ele, start) else None


def _find_next_isa(buf: bytes, start: int) -> int:
    return buf.find(b"ISA", start)


def _interchange_end(
    buf: bytes, pos: int, term: bytes, trailer_or_header: re.Pattern[bytes], limit: int
) -> int | None:
    """Offset just past this interchange's IEA segment; -offset of a following ISA (one
    before the IEA, or before the IEA's terminator); None.

    Only segments starting before ``limit`` are searched. IEA and ISA are looked for in
    one pass (``trailer_or_header``, a regex of both tags and the element separator): each
    byte of a big interchange is scanned once, not once per tag.
    """
    i = pos + 1
    while (found := trailer_or_header.search(buf, i, limit + 4)) is not None:
        at = found.start()
        if _segment_start_before(buf, at, term):
            if buf[at + 1 : at + 2] == b"S":  # a new ISA before this one's IEA
                return -at
            t = buf.find(term, at)
            if t < 0:
                return None
            isa = trailer_or_header.search(buf, at + 1, t)
            if isa is not None and buf[isa.start() + 1 : isa.start() + 2] == b"S":
                return -isa.start()  # the IEA has no terminator: the next ISA ends it
            return t + 1
        i = at + 1
    return None


Offset = int | Callable[[], int]


@dataclass(frozen=True)
class _LazyLocation:
    name: str
    segment: int
    offset: Offset

    def resolve(self) -> Location:
        offset = self.offset() if callable(self.offset) else self.offset
        return Location(self.name, self.segment, offset)


class EnvelopeTracker:
    """Checks envelope segments in input order; says when an interchange must be skipped."""

    def __init__(self, name: str, report: ReadReport) -> None:
        self.name = name
        self.report = report
        self.isa13 = ""
        self.gs_count = 0
        self.gs06 = ""
        self.st_count = 0
        self.st02 = ""
        self.st_segment = 0

    def _warn(self, where: _LazyLocation, message: str) -> None:
        self.report.warnings.append(Issue(where.resolve(), message))

    def feed(self, tag: str, el: list[str], segment: int, offset: Offset) -> str | None:
        """Account for one envelope segment; return an error message to fail the interchange.

        ``offset`` may be a callable, resolved only when a message needs it.
        """
        where = _LazyLocation(self.name, segment, offset)
        get = lambda i: el[i].strip() if len(el) > i else ""  # noqa: E731
        if tag == "ISA":
            self.report.interchanges += 1
            self.isa13, self.gs_count = get(13), 0
        elif tag == "GS":
            self.gs_count += 1
            self.gs06, self.st_count = get(6), 0
            version = get(8)
            if get(1) != "HC" or not version.startswith(SUPPORTED_VERSION_PREFIX):
                return (
                    f"functional group GS01={shown(get(1))} GS08={shown(version)} is not an 837P "
                    f"{SUPPORTED_VERSION_PREFIX}A1 claim group"
                )
            if version not in (SUPPORTED_VERSION_PREFIX, SUPPORTED_VERSION_PREFIX + "A1"):
                self._warn(where, f"GS08 {shown(version)} read as {SUPPORTED_VERSION_PREFIX}A1")
        elif tag == "ST":
            self.st_count += 1
            self.report.transactions += 1
            self.st02, self.st_segment = get(2), segment
            version = get(3)
            if get(1) != "837" or (version and not version.startswith(SUPPORTED_VERSION_PREFIX)):
                return (
                    f"transaction set ST01={shown(get(1))} ST03={shown(version)} is not an 837P "
                    f"{SUPPORTED_VERSION_PREFIX}A1 claim"
                )
        elif tag == "SE":
            count = segment - self.st_segment + 1
            if get(1) != str(count):
                self._warn(
                    where, f"SE01 says {shown(get(1))} segments, the transaction has {count}"
                )
            if get(2) != self.st02:
                self._warn(where, f"SE02 {shown(get(2))} does not match ST02 {shown(self.st02)}")
        elif tag == "GE":
            if get(1) != str(self.st_count):
                self._warn(
                    where, f"GE01 says {shown(get(1))} transactions, the group has {self.st_count}"
                )
            if get(2) != self.gs06:
                self._warn(where, f"GE02 {shown(get(2))} does not match GS06 {shown(self.gs06)}")
        elif tag == "IEA":
            if get(1) != str(self.gs_count):
                self._warn(
                    where, f"IEA01 says {shown(get(1))} groups, the interchange has {self.gs_count}"
                )
            if get(2) != self.isa13:
                self._warn(where, f"IEA02 {shown(get(2))} does not match ISA13 {shown(self.isa13)}")
        return None

    def fail(self, segment: int, offset: Offset, message: str) -> None:
        where = _LazyLocation(self.name, segment, offset).resolve()
        self.report.errors.append(
            Issue(where, f"interchange {shown(self.isa13)} failed: {message}")
        )
