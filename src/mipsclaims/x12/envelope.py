"""Input opening, ISA delimiter detection, interchange-aligned chunking and envelope checks.

Shared by both reader paths so they agree on what is read: the chunker cuts the raw bytes
into pieces that never straddle a segment or an interchange (each piece carries the
delimiters of its ISA), and :class:`EnvelopeTracker` checks ISA/GS/ST/SE/GE/IEA segments
(the few envelope segments, fed in input order) for version, transaction set and counts.
"""

from __future__ import annotations

import functools
import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

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
        yield bytes(source)
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
    name = source_name(source)
    blocks = iter_blocks(source, block_size)
    buf = b""
    base = 0  # absolute offset of buf[0]
    eof = False
    interchange = -1
    first = True

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
