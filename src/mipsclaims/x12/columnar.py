"""Columnar path: 837P bytes -> the canonical claim-line table, in polars, batch by batch.

No Python object per segment or line. A piece of input is read as ONE string column of
segments (polars' CSV reader with the segment terminator as the line end and a byte absent
from the data as the separator). Each segment's tag becomes a small integer code from its
first four bytes; the loop context (the same rules as :mod:`.stream`) is computed on
integer columns only. Only the segment kinds we need (HL, NM1, REF, DMG, SBR, CLM, HI, LX,
SV1, DTP and the envelope) are split into elements, each subset once. Attributes of HL
loops, claims and service lines are aggregated per group id and placed onto claims and
lines by that id (ids are consecutive within a batch: slot arrays, no hash joins). String
work that repeats (procedure codes, pointers, diagnosis composites) is done once per
distinct value.

Whitespace around elements is not data. It is stripped only when a piece has any (a quick
byte scan); the common layout (newlines after terminators) needs no stripping at all.

Work that needs no reader state (cutting a piece, its segments and tags, the elements
split out of each kind of segment: :func:`_scan`) runs one piece ahead in a worker thread;
the main thread adds the loop context and builds the batch. Polars releases the GIL, so
the two overlap on two cores.

A batch stops at the last claim or HL boundary; the incomplete tail is carried into the
next batch with the attributes of the HL loops still open, so memory is bounded by the
batch size, not the file size. Byte offsets are computed only for segments a message
names.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, cast

import polars as pl

from ..claims import dependent_patient_id
from ..schema import CLAIM_LINE_SCHEMA, empty_claim_lines, pseudonymise_ssn, short_hash
from . import rules
from .envelope import DEFAULT_BLOCK, EnvelopeTracker, Piece, Source, iter_pieces
from .envelope import source_name as _source_name
from .report import CappedList, Issue, Location, QuarantinedClaim, ReadReport
from .stream import _raise_if_nothing_read

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

_WS = " \t\r\n"
_PADDING = rules.PADDING.encode()
# Segment tag codes (UInt8). Envelope tags are the codes from ISA on; EMPTY segments
# (nothing but whitespace and separators, as the streaming path skips them) are dropped.
# DAMAGED: a tag that is no 837P segment id; LONG: the chunker's stand-in for a skipped
# over-long segment (rules.LONG_TAG).
(OTHER, HL, NM1, REF, DMG, SBR, CLM, HI, LX, SV1, DTP, DAMAGED, LONG,
 ISA, GS, ST, SE, GE, IEA, EMPTY) = range(20)  # fmt: skip
TAGS = {
    "HL": HL,
    "NM1": NM1,
    "REF": REF,
    "DMG": DMG,
    "SBR": SBR,
    "CLM": CLM,
    "HI": HI,
    "LX": LX,
    "SV1": SV1,
    "DTP": DTP,
    "ISA": ISA,
    "GS": GS,
    "ST": ST,
    "SE": SE,
    "GE": GE,
    "IEA": IEA,
}
_TAG_NAMES = {v: k for k, v in TAGS.items()}
# Every tag the general rule may meet: 837P ids the reader does not use are OTHER.
_ALL_TAGS = {**dict.fromkeys(rules.KNOWN_TAGS, OTHER), **TAGS, rules.LONG_TAG: LONG}
# Loop codes of the forward-filled ``major`` column.
ENV, HL20, HL22, HL23, HL_OTHER, L2300, L2400, L2320 = range(8)
_HL_CODES = {"20": HL20, "22": HL22, "23": HL23}
# Entity codes (NM101) the reader cares about; other entities are 99.
_ENTITY = {"85": 1, "IL": 2, "PR": 3, "QC": 4, "82": 5}
_LEVEL_KEYS = {
    "20": ("npi", "EI", "SY"),
    "22": ("filing", "payer", "member", "last", "first", "dob", "sex"),
    "23": ("last", "first", "dob", "sex"),
}
# The elements the reader uses, per tag (None: HI keeps all its elements as one list).
_USED: dict[int, tuple[int, ...] | None] = {
    HL: (3,),
    NM1: (1, 3, 4, 9),
    REF: (1, 2),
    DMG: (2, 3),
    SBR: (9,),
    CLM: (1, 5),
    HI: None,
    LX: (1,),
    SV1: (1, 2, 4, 5, 7),
    DTP: (1, 2, 3),
    DAMAGED: (1, 3),
    LONG: (1,),
}
# Bytes that may serve as the CSV separator of the one-column read (must be absent).
_SPARE = [chr(c) for c in (*range(1, 9), 11, 12, *range(14, 32), 127)]
_U8 = pl.UInt8
_Subset = Callable[..., pl.DataFrame]  # (tag code, *kept context columns) -> frame
_WithCtx = Callable[..., pl.DataFrame]  # (subset, *context columns) -> subset + context


def _e(i: int) -> pl.Expr:
    """Element ``i`` of the segment (a column made by :func:`_split`; null when absent)."""
    return pl.col(f"e{i}")


def _nz(expr: pl.Expr) -> pl.Expr:
    """Null for empty strings, so that 'first non-empty' is 'first non-null'."""
    return pl.when(expr != "").then(expr)


def _segments(piece: Piece) -> pl.Series:
    """The segments of a piece, one string per terminator-separated part (left-stripped).

    Row ``k`` is part ``k`` of ``data.split(terminator)`` (a trailing empty part may be
    missing), which is what :class:`_Offsets` counts on.
    """
    data, term = piece.data, piece.delimiters.segment
    spare = next((c for c in _SPARE if c != term and c.encode() not in data), None)
    if spare is None or not data:
        # Series.str.split always splits on the literal string
        parts = pl.Series("s", [data.decode("utf-8", "replace")]).str.split(term)
        s = parts.explode()
    else:
        s = pl.read_csv(
            data,
            has_header=False,
            new_columns=["s"],
            separator=spare,
            eol_char=term,
            quote_char=None,
            infer_schema=False,
            encoding="utf8" if data.isascii() else "utf8-lossy",
        )["s"]
    return s.fill_null("").str.strip_chars_start(rules.PADDING)


def _tag_codes(s: pl.Series, ele: str) -> pl.Series:
    """Tag code of each (left-stripped) segment; EMPTY for segments the reader skips.

    The common shapes (``TAG`` + element separator, or a bare tag) are recognised from the
    first four bytes read as one integer; anything else (padded or unknown tags, empty
    segments) goes through the general rule: tag = text before the first element
    separator, stripped; a segment without tag and without elements 1-13 is skipped.
    """
    # Null when the segment is shorter than 4 bytes (or not ASCII): the general rule then.
    word = s.str.head(4).cast(pl.Binary).bin.reinterpret(dtype=pl.UInt32)
    chain: Then | ChainedThen | None = None
    for tag, code in TAGS.items():
        key = int.from_bytes((tag + ele).encode("latin-1"), "little")
        cond = pl.col("w3") == key if len(tag) == 2 else pl.col("w") == key
        when = pl.when(cond) if chain is None else chain.when(cond)
        chain = when.then(pl.lit(code, _U8))
    assert chain is not None  # TAGS is a non-empty constant
    words = pl.DataFrame({"w": word}).with_columns(w3=pl.col("w") & 0xFFFFFF)
    codes = words.select(chain.otherwise(pl.lit(None, _U8))).to_series()
    if not codes.null_count():
        return codes
    other = codes.is_null()
    rest = s.filter(other)
    e = re.escape(ele)
    general = (
        pl.DataFrame({"s": rest})
        .with_columns(
            tag=pl.col("s").str.split(ele, literal=True).list.first().str.strip_chars(_WS)
        )
        .select(
            pl.when(
                (pl.col("tag") == "")
                & pl.col("s").str.strip_chars_end(_WS).str.contains(f"^(?:{e}*$|{e}{{14}})")
            )
            .then(pl.lit(EMPTY, _U8))
            .otherwise(pl.col("tag").replace_strict(_ALL_TAGS, default=DAMAGED, return_dtype=_U8))
        )
        .to_series()
    )
    return codes.scatter(other.arg_true(), general)


def _padded(piece: Piece, segments: pl.Series) -> bool:
    """Whether any element or component may carry whitespace at its ends (else no strip).

    Whitespace right after a terminator (line ends, indentation) starts a segment and is
    already gone from ``segments``; a newline anywhere else is looked at byte-wise. Each
    byte-wise search starts with one whitespace byte, so absent or rare bytes cost little.
    """
    d = piece.delimiters
    data = piece.data
    term = d.segment.encode("latin-1")
    marks = re.escape(d.element + d.component + d.segment).encode("latin-1")
    seps = re.escape(d.element + d.component).encode("latin-1")
    # The ISA's fixed-width fields are padded by design; they are read by the chunker.
    start = data.find(term) + 1 if data.startswith(b"ISA") else 0
    for w in (b" ", b"\t", b"\r", b"\n"):
        if w == term or data.find(w, start) < 0:
            continue
        if w == b"\n" and not segments.str.contains("\n", literal=True).any():
            continue  # every newline follows a terminator
        ws = re.escape(w)
        # w before any separator, or w right after an element/component separator.
        pattern = ws + b"(?:[" + marks + b"]|(?<=[" + seps + b"]" + ws + b"))"
        if re.compile(pattern).search(data, start):
            return True
    return False


def _split(
    frame: pl.DataFrame,
    tag: int,
    ele: str,
    used: tuple[int, ...] | None,
    strip: bool,
    *keep: str,
) -> pl.DataFrame:
    """``keep`` columns and elements ``used`` (``e<i>``) of the ``tag`` segments of ``frame``.

    One query: filter, split, pick. With ``used=None`` the elements stay one list column
    ``p`` (element 0 is the tag). Otherwise the segment is split only up to the last
    element used (``splitn`` into a struct: about twice as fast as a list and ``get``).
    """
    parts = frame.lazy().filter(pl.col("code") == tag)
    if used is None:
        return parts.select(*keep, p=pl.col("s").str.split(ele, literal=True)).collect()
    # splitn's last field is the unsplit rest: split one further than the last used.
    fields = pl.col("s").str.splitn(ele, max(used) + 2).struct
    cols = {f"e{i}": fields.field(f"field_{i}") for i in used}
    if strip:
        cols = {k: v.str.strip_chars(_WS) for k, v in cols.items()}
    return parts.select(*keep, **cols).collect()


def _aligned(keys: pl.Series, source: pl.DataFrame, key: str, base: int) -> pl.DataFrame:
    """The other columns of ``source`` for each of ``keys`` (nulls where it has none).

    Group ids (claims, service lines, HL loops) are consecutive integers from ``base``
    within a batch, so a slot array replaces a hash join: each ``source`` row (unique
    ``key``) goes to slot ``key - base`` and is read back at ``keys - base``.
    """
    ids = [s for s in (keys, source[key]) if len(s)]
    # polars types min()/max() as any scalar; group ids are integer columns, so ints
    if any(cast(int, s.min()) < base for s in ids):
        raise AssertionError("group id below the batch's first id")  # a reader bug, never data
    top = max((cast(int, s.max()) for s in ids), default=base)
    slot = pl.Series("slot", [], pl.UInt32).extend_constant(None, top - base + 1)
    if source.height:
        rows = pl.int_range(source.height, dtype=pl.UInt32, eager=True)
        slot = slot.scatter(source[key] - base, rows)
    return source.drop(key).select(pl.all().gather(slot.gather(keys - base)))


def _first_of(group: str) -> pl.Expr:
    """First row of each run of equal ``group`` ids (rows are in segment order)."""
    col = pl.col(group)
    return (col != col.shift(1)).fill_null(True)


def _by_value(frame: pl.DataFrame, column: str, **exprs: pl.Expr) -> pl.DataFrame:
    """``frame`` plus ``exprs`` of ``column``, each computed once per distinct value.

    Procedure codes, pointer lists and diagnosis composites repeat a lot: string work on
    the distinct values and a join back is much cheaper than the same work on every row.
    """
    distinct = frame.select(pl.col(column).unique()).with_columns(**exprs)
    return frame.join(distinct, on=column, how="left", maintain_order="left", nulls_equal=True)


def _dates(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(rules.DATE_RE)).then(expr.str.to_date("%Y%m%d", strict=False))


def _with_period(frame: pl.DataFrame, qualifier: str, value: str) -> pl.DataFrame:
    """Adds ``start`` and ``end`` of a DTP D8/RD8 value; both null when malformed.

    Same rule as rules.parse_period. Dates repeat (a year has 365), so each distinct value
    is read once both ways (as D8 and as RD8) and each row picks by its qualifier.
    """
    text = pl.col(value).fill_null("")
    first = text.str.slice(0, 8).str.to_date("%Y%m%d", strict=False)
    second = text.str.slice(9, 8).str.to_date("%Y%m%d", strict=False)
    d8 = pl.when(text.str.contains(rules.DATE_RE)).then(first)
    rd8 = text.str.contains(rules.RANGE_RE) & first.is_not_null() & second.is_not_null()
    frame = _by_value(
        frame,
        value,
        _d8=d8,
        _rd8_start=pl.when(rd8).then(first),
        _rd8_end=pl.when(rd8).then(second),
    )
    is_range = (pl.col(qualifier) == "RD8").fill_null(False)
    return frame.with_columns(
        start=pl.when(is_range).then(pl.col("_rd8_start")).otherwise(pl.col("_d8")),
        end=pl.when(is_range).then(pl.col("_rd8_end")).otherwise(pl.col("_d8")),
    ).drop("_d8", "_rd8_start", "_rd8_end")


def _pointers_ok(comp: str) -> str:
    """Regex: every non-empty component (whitespace around allowed) is a valid pointer."""
    one = rules.POINTER_RE.removeprefix("^").removesuffix("$")
    ws, c = "[ \t\r\n]*", re.escape(comp)
    return f"^{ws}(?:{one}{ws})?(?:{c}{ws}(?:{one}{ws})?)*$"


class _Offsets:
    """Byte offsets of the segments of one piece, computed only when a message needs one."""

    def __init__(self, piece: Piece) -> None:
        self.piece = piece
        self.term = piece.delimiters.segment.encode("latin-1")
        self._ends: list[int] | None = None

    def __call__(self, raw_index: int) -> int:
        if self._ends is None:  # cumulative part lengths, terminators not counted (C speed)
            self._ends = list(itertools.accumulate(map(len, self.piece.data.split(self.term))))
        data = self.piece.data
        start = 0 if raw_index == 0 else self._ends[raw_index - 1] + raw_index * len(self.term)
        while start < len(data) and data[start] in _PADDING:
            start += 1
        return self.piece.byte_offset + start


@dataclass(frozen=True)
class _Scanned:
    """What a piece holds before any reader state is applied (see :func:`_scan`)."""

    frame: pl.DataFrame  # s (left-stripped text), code, raw (index in the piece)
    parts: dict[int, pl.DataFrame]  # per tag of _USED: i (row of frame), elements used
    padded: bool  # whether any element or component may carry whitespace at its ends


@dataclass(frozen=True)
class _Cut:
    piece: Piece
    scanned: _Scanned


def _scan(piece: Piece) -> _Scanned:
    """The stateless first step of a piece: its segments, their tag codes, and the elements
    the reader uses split out of each kind of segment (each kind once)."""
    s = _segments(piece)
    ele = piece.delimiters.element
    frame = pl.DataFrame({"s": s, "code": _tag_codes(s, ele)})
    frame = frame.with_columns(raw=pl.int_range(pl.len(), dtype=pl.Int64))
    if frame.select((pl.col("code") == EMPTY).any()).item():
        frame = frame.filter(pl.col("code") != EMPTY)
    padded = _padded(piece, s)
    rows = frame.with_row_index("i")
    parts = {tag: _split(rows, tag, ele, used, padded, "i") for tag, used in _USED.items()}
    return _Scanned(frame, parts, padded)


def _scanned_ahead(source: Source, report: ReadReport, batch_bytes: int) -> Iterator[_Cut]:
    """The pieces of ``source``, each with its :func:`_scan`. The next piece is cut and
    scanned in a worker thread while the caller processes this one (polars releases the
    GIL, so both cores work).

    What cutting adds to a report (failed or unterminated interchanges) goes to a scratch
    report first and into ``report`` when the piece after it is handed over, so that the
    entries keep the input's order.
    """
    scratch = ReadReport()
    pieces = iter_pieces(source, scratch, batch_bytes)

    def cut_and_scan() -> tuple[ReadReport, _Cut | None]:
        piece = next(pieces, None)
        return scratch.take(), (None if piece is None else _Cut(piece, _scan(piece)))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mipsclaims-x12") as pool:
        ahead = pool.submit(cut_and_scan)
        while True:
            noted, cut = ahead.result()
            report.merge(noted)
            if cut is None:
                return
            ahead = pool.submit(cut_and_scan)
            yield cut


@dataclass
class _Carry:
    """State between batches: counters and the attributes of the HL loops still open."""

    segment: int = 0
    claim_seq: int = 0
    line: int = 0
    group: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LEVEL_KEYS, 0))
    attrs: dict[str, pl.DataFrame] = field(default_factory=dict)
    tail: pl.DataFrame | None = None
    tail_parts: dict[int, pl.DataFrame] = field(default_factory=dict)
    # Per HL depth (1-3): the segment number where the open doubt began, or None.
    doubt: dict[int, int | None] = field(default_factory=dict)


class _Batcher:
    def __init__(self, source: Source, report: ReadReport, claim_seq_start: int) -> None:
        self.source = source
        self.name = _source_name(source)
        self.report = report
        self.tracker = EnvelopeTracker(self.name, report)
        self.carry = _Carry(claim_seq=claim_seq_start)
        for level, keys in _LEVEL_KEYS.items():
            self.carry.attrs[level] = _empty_level(keys, 0)
        self.skip = -1
        self.pieces: dict[int, _Offsets] = {}
        self.strip = False  # sticky: set once a piece has padded elements
        self.doubt_at: dict[int, tuple[int, str, str]] = {}  # segno -> offset, loop, reason

    def run(self, batch_bytes: int) -> Iterator[pl.DataFrame]:
        cuts = _scanned_ahead(self.source, self.report, batch_bytes)
        for number, cut in enumerate(cuts):
            piece = cut.piece
            self.pieces[number] = _Offsets(piece)
            rows, parts = self._tokenise(cut.scanned, piece, number)
            # The parts' ``i`` is a row of ``rows``: shifted when rows are put before them.
            if self.carry.tail is not None:
                rows = pl.concat([self.carry.tail, rows])
                parts = {
                    t: pl.concat([self.carry.tail_parts[t], _shifted(p, len(self.carry.tail))])
                    for t, p in parts.items()
                }
                self.carry.tail = None
            if rows.height and not piece.final:
                boundary = pl.col("code").is_in([CLM, HL]) | (pl.col("code") >= ISA)
                idx = rows.select(pl.arg_where(boundary).last()).item()
                if idx is not None:
                    self.carry.tail = rows.slice(idx)
                    rows = rows.slice(0, idx)
                    carried = pl.col("i") >= idx
                    self.carry.tail_parts = {
                        t: _shifted(p.filter(carried), -idx) for t, p in parts.items()
                    }
                    parts = {t: p.filter(~carried) for t, p in parts.items()}
            frame = self._process(rows, parts, piece) if rows.height else None
            # Forget pieces no carried row refers to (their offsets can't be asked for).
            keep = number if self.carry.tail is None else int(self.carry.tail["raw"][0]) >> 32
            for old in [k for k in self.pieces if k < min(keep, number)]:
                del self.pieces[old]
            if frame is not None and frame.height:
                yield frame

    def offset(self, raw: int) -> int:
        """Byte offset of the segment whose key is ``raw`` (piece number << 32 | index)."""
        return self.pieces[raw >> 32](raw & 0xFFFFFFFF)

    def _tokenise(
        self, scanned: _Scanned, piece: Piece, number: int
    ) -> tuple[pl.DataFrame, dict[int, pl.DataFrame]]:
        """Segments of a piece (text, tag code, raw key, segment number) and the elements
        used per tag (``i``: the segment's row in that frame), after the envelope was fed;
        the raw key of a segment is its piece number << 32 | its index in the piece."""
        frame = self._segments_of(scanned, piece, number)
        parts = scanned.parts
        if frame.height < scanned.frame.height:  # the interchange failed in this piece
            parts = {t: p.filter(pl.col("i") < frame.height) for t, p in parts.items()}
        return frame, parts

    def _segments_of(self, scanned: _Scanned, piece: Piece, number: int) -> pl.DataFrame:
        """The segments of a piece that belong to a readable interchange, numbered."""
        ele = piece.delimiters.element
        self.strip = self.strip or scanned.padded
        frame = scanned.frame.with_columns(pl.col("raw") + (number << 32))
        n = frame.height
        first = self.carry.segment + 1
        self.carry.segment += n
        frame = frame.with_columns(segno=pl.int_range(first, first + n, dtype=pl.Int64))
        if piece.interchange == self.skip:
            return frame.clear()
        envelope = frame.filter(pl.col("code") >= ISA).select(
            "code", "segno", "raw", parts=pl.col("s").str.split(ele, literal=True)
        )
        for code, segno, raw_i, parts in envelope.iter_rows():
            tag = _TAG_NAMES[code]
            el = [tag, *parts[1:]]
            problem = self.tracker.feed(tag, el, segno, partial(self.offset, raw_i))
            if problem:
                self.tracker.fail(segno, self.offset(raw_i), problem)
                self.skip = piece.interchange
                frame = frame.filter(pl.col("segno") < segno)
                break
        return frame

    def _process(
        self, rows: pl.DataFrame, parts: dict[int, pl.DataFrame], piece: Piece
    ) -> pl.DataFrame:
        carry = self.carry
        comp = piece.delimiters.component
        code = pl.col("code")
        n = rows.height

        # HL level and NM1 entity, computed on their subsets and scattered back.
        hl = parts[HL]
        hl_code = pl.Series("hl", [], pl.Int8).extend_constant(None, n)
        hl_code = hl_code.scatter(
            hl["i"],
            hl["e3"]
            .fill_null("")
            .replace_strict(_HL_CODES, default=HL_OTHER, return_dtype=pl.Int8),
        )
        # Damage (see rules.damaged_hl_level): damaged segments shaped like an HL are HLs.
        kind = _damage_kinds(parts, hl, n)
        damaged = kind.null_count() < n or any(v is not None for v in carry.doubt.values())
        if damaged:
            shaped = _shaped_hls(parts)
            hl_code = hl_code.scatter(shaped["i"], shaped["hl"])
            pseudo = _pseudo_claims(rows["code"], hl_code, kind)
            if pseudo.any():
                rows = rows.with_columns(
                    code=pl.when(pseudo).then(pl.lit(CLM, _U8)).otherwise(code)
                )
                parts = {**parts, CLM: _with_pseudo_clms(parts, pseudo)}
        nm1 = parts[NM1]
        nm1_code = pl.Series("nm1", [], pl.Int8).extend_constant(None, n)
        nm1_code = nm1_code.scatter(
            nm1["i"],
            nm1["e1"].fill_null("").replace_strict(_ENTITY, default=99, return_dtype=pl.Int8),
        )
        ctx = _context(rows.select("code", "segno", "raw"), hl_code, nm1_code, carry)

        def with_ctx(part: pl.DataFrame, *cols: str) -> pl.DataFrame:
            return pl.concat([part, ctx.select(pl.col(cols).gather(part["i"]))], how="horizontal")

        def subset(tag: int, *keep: str) -> pl.DataFrame:
            """The elements used of the ``tag`` segments, with context columns ``keep``."""
            return with_ctx(parts[tag], *keep).drop("i")

        levels = self._levels(ctx, nm1, with_ctx, subset)
        self._second_eis(subset(REF, "major", "entity", "g20", "segno", "raw"))

        orphans = ctx.filter((code == LX) & ~pl.col("in_claim")).select("segno", "raw")
        for segno, raw_i in orphans.iter_rows():
            self.report.warnings.append(
                Issue(
                    Location(self.name, segno, self.offset(raw_i)),
                    "service line (LX) outside a claim ignored",
                )
            )
        damage = self._damage(ctx.with_columns(kind=kind)) if damaged else None
        claims, lines, errors, notes = self._claims(nm1, levels, comp, with_ctx, subset, damage)
        claim_base = carry.claim_seq

        counts = ctx.select(clm=code.eq(CLM).sum(), lx=code.eq(LX).sum()).row(0)
        self.report.claims_seen += counts[0]
        carry.claim_seq += counts[0]
        carry.line += counts[1]
        for lv in _LEVEL_KEYS:
            last = levels[lv].tail(1)
            carry.group[lv] = int(last["g"].item())
            carry.attrs[lv] = last
        return self._assemble(claims, lines, errors, notes, piece, claim_base)

    def _levels(
        self, ctx: pl.DataFrame, nm1: pl.DataFrame, with_ctx: _WithCtx, subset: _Subset
    ) -> dict[str, pl.DataFrame]:
        """Attributes of every HL loop of each level in this batch (plus the carried one)."""
        major, ent = pl.col("major"), pl.col("entity")
        hl_majors = [HL20, HL22, HL23]
        cols = ("major", "entity", "g20", "g22", "g23")
        starts = ctx.filter(pl.col("s20") | pl.col("s22") | pl.col("s23"))
        people = with_ctx(nm1, *cols).filter(major.is_in(hl_majors))
        ref = subset(REF, *cols).filter((major == HL20) & (ent == _ENTITY["85"]))
        dmg = subset(DMG, *cols).filter(major.is_in([HL22, HL23]))
        sbr = subset(SBR, *cols).filter(major == HL22)
        levels = {}
        for lv, keys in _LEVEL_KEYS.items():
            g = pl.col(f"g{lv}")
            lv_code = _HL_CODES[lv]
            mine = (major == lv_code) & (g > self.carry.group[lv])
            parts = [
                starts.filter(pl.col(f"s{lv}") & (g > self.carry.group[lv])).select(
                    g=g, has=(pl.col("hl") == lv_code).fill_null(False)
                )
            ]
            if lv == "20":
                parts.append(
                    people.filter(mine & (ent == _ENTITY["85"])).select(g=g, npi=_nz(_e(9)))
                )
                parts.append(
                    ref.filter(mine).select(
                        g=g,
                        EI=pl.when(_e(1) == "EI").then(_nz(_e(2))),
                        SY=pl.when(_e(1) == "SY").then(_nz(_e(2))),
                    )
                )
            else:
                who = _ENTITY["IL"] if lv == "22" else _ENTITY["QC"]
                person = people.filter(mine & ent.is_in([who, _ENTITY["PR"]]))
                is_who = ent == who
                values = {
                    "last": pl.when(is_who).then(_nz(_e(3))),
                    "first": pl.when(is_who).then(_nz(_e(4))),
                }
                if lv == "22":
                    values["member"] = pl.when(is_who).then(_nz(_e(9)))
                    values["payer"] = pl.when(ent == _ENTITY["PR"]).then(_nz(_e(9)))
                    parts.append(sbr.filter(mine).select(g=g, filing=_nz(_e(9))))
                parts.append(person.select(g=g, **values))
                parts.append(
                    dmg.filter(mine & (ent == who)).select(g=g, dob=_nz(_e(2)), sex=_nz(_e(3)))
                )
            carried = self.carry.attrs[lv]
            schema = carried.schema
            parts = [p.cast({k: schema[k] for k in p.columns}) for p in parts]
            own = (
                pl.concat(parts, how="diagonal")
                .group_by("g", maintain_order=True)
                .agg(pl.col("has").first(), *(pl.col(k).drop_nulls().first() for k in keys))
                .select(*schema)
            )
            levels[lv] = pl.concat([carried, own.cast(schema)])
        return levels

    def _claims(
        self,
        nm1: pl.DataFrame,
        levels: dict[str, pl.DataFrame],
        comp: str,
        with_ctx: _WithCtx,
        subset: _Subset,
        damage: pl.DataFrame | None,
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Claim headers, service lines, the first error of each bad claim, and the
        warnings of each claim (``notes``: shown only for claims that are read)."""
        strip = self.strip
        major, ent = pl.col("major"), pl.col("entity")
        in_claim = pl.col("in_claim")
        in2300 = in_claim & (major == L2300)
        in2400 = in_claim & (major == L2400)
        where = ("gc", "segno", "raw")

        def comps(expr: pl.Expr) -> pl.Expr:
            return expr.str.split(comp, literal=True)

        def strp(expr: pl.Expr) -> pl.Expr:
            return expr.str.strip_chars(_WS) if strip else expr

        # Claim header (one row per CLM).
        clm = subset(CLM, "gc", "g20", "g22", "g23", "segno", "raw")
        clm05 = comps(_e(5))
        head = clm.select(
            "gc",
            "g20",
            "g22",
            "g23",
            "segno",
            "raw",
            claim_id=_nz(_e(1)),
            claim_pos=_nz(strp(clm05.list.get(0, null_on_oob=True))),
            frequency=_nz(strp(clm05.list.get(2, null_on_oob=True))),
        ).with_columns(no_frequency=pl.col("frequency").is_null())
        head = head.with_columns(pl.col("frequency").fill_null("1"))
        nm1 = with_ctx(nm1, "in_claim", "major", "entity", "gc", "gl")
        nm1 = nm1.filter((in2300 | in2400) & (ent == _ENTITY["82"]))
        claim_rend = (
            nm1.filter(major == L2300)
            .group_by("gc")
            .agg(claim_rend=_nz(_e(9)).drop_nulls().first())
        )
        dtp = subset(DTP, "in_claim", "major", *where, "gl")
        dtp = dtp.filter((in2300 & (_e(1) == "434")) | (in2400 & (_e(1) == "472")))
        dtp = _with_period(dtp, "e2", "e3")
        d434 = dtp.filter(major == L2300)
        claim_dates = d434.group_by("gc").agg(
            claim_start=pl.col("start").drop_nulls().first(),
            claim_end=pl.col("end").drop_nulls().first(),
        )
        hi = subset(HI, "in_claim", "major", *where).filter(in2300)
        sv1 = subset(SV1, "in_claim", "major", *where, "gl")
        sv1_2300 = sv1.filter(in2300).select(
            *where, loop=pl.lit("2300"), reason=pl.lit(rules.SV1_OUTSIDE_LINE)
        )
        sv1 = sv1.filter(in2400)
        hi_codes, hi_notes = _diagnoses(hi, comp)

        sv1 = sv1.with_columns(pl.col("e1", "e7").fill_null(""))
        # SV101 (procedure, modifiers) and SV107 (pointers): checked and split once per
        # distinct value, for the checks here and for the table.
        sv101 = comps(_e(1).str.to_uppercase())
        ptrs = comps(_e(7))
        if strip:
            sv101 = sv101.list.eval(pl.element().str.strip_chars(_WS))
            ptrs = ptrs.list.eval(pl.element().str.strip_chars(_WS))
        proc = sv101.list.get(1, null_on_oob=True)
        sv1 = _by_value(
            sv1,
            "e1",
            no_proc=proc.fill_null("") == "",
            procedure_code=proc,
            modifiers=sv101.list.slice(2, 4).list.eval(pl.element().filter(pl.element() != "")),
        )
        # Lines of claims whose pointers failed the check never reach the table.
        sv1 = _by_value(
            sv1,
            "e7",
            bad_ptr=~_e(7).str.contains(_pointers_ok(comp)),
            diagnosis_pointers=ptrs.cast(pl.List(pl.Int8), strict=False).list.drop_nulls(),
        )
        charge, units = _e(2).fill_null(""), _e(4).fill_null("")
        sv1_err = sv1.select(
            *where,
            loop=pl.lit("2400"),
            reason=pl.when(pl.col("no_proc"))
            .then(pl.lit(rules.NO_PROCEDURE))
            .when((charge != "") & ~charge.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_CHARGE))
            .when((units != "") & ~units.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_UNITS))
            .when(pl.col("bad_ptr"))
            .then(pl.lit(rules.BAD_POINTER)),
        ).filter(pl.col("reason").is_not_null())
        sv1_first = sv1.filter(_first_of("gl")).select(
            "gl",
            "procedure_code",
            "modifiers",
            "diagnosis_pointers",
            sv1_segno="segno",
            charge=_e(2),
            units=_e(4),
            pos=_e(5),
        )
        d472 = dtp.filter(major == L2400)
        dtp_err = pl.concat(
            [
                d434.filter(pl.col("start").is_null()).select(
                    *where, loop=pl.lit("2300"), reason=pl.lit(rules.BAD_CLAIM_DATE)
                ),
                d472.filter(pl.col("start").is_null()).select(
                    *where, loop=pl.lit("2400"), reason=pl.lit(rules.BAD_SERVICE_DATE)
                ),
            ]
        )
        dtp_first = (
            d472.filter(pl.col("start").is_not_null())
            .filter(_first_of("gl"))
            .select("gl", line_start="start", line_end="end")
        )
        rend = (
            nm1.filter(major == L2400)
            .select("gl", line_rend=_nz(_e(9)))
            .filter(pl.col("line_rend").is_not_null())
            .filter(_first_of("gl"))
        )
        lx = subset(LX, "in_claim", "major", *where, "gl")
        lx = lx.filter(in2400).select(*where, "gl", number=_e(1).fill_null(""))
        line_base = self.carry.line + 1  # the first LX of this batch
        lx = pl.concat(
            [lx, *(_aligned(lx["gl"], x, "gl", line_base) for x in (sv1_first, dtp_first, rend))],
            how="horizontal",
        )
        lx_err = lx.select(
            *where,
            loop=pl.lit("2400"),
            reason=pl.when(~pl.col("number").str.contains(rules.LINE_NUMBER_RE))
            .then(pl.lit(rules.BAD_LINE_NUMBER))
            .when(pl.col("sv1_segno").is_null())
            .then(pl.lit(rules.NO_SV1)),
        ).filter(pl.col("reason").is_not_null())

        n_lines = lx.group_by("gc").agg(n_lines=pl.len())
        claim_base = self.carry.claim_seq  # the first CLM of this batch
        parts = [head]
        parts += [
            _aligned(head["gc"], x, "gc", claim_base)
            for x in (claim_rend, claim_dates, hi_codes, n_lines)
        ]
        for lv, prefix in (("20", "b"), ("22", "s"), ("23", "d")):
            level = _aligned(head[f"g{lv}"], levels[lv], "g", self.carry.group[lv])
            parts.append(level.rename({n: f"{prefix}_{n}" for n in level.columns}))
        head = pl.concat(parts, how="horizontal")
        dependent = pl.col("d_has").fill_null(False)

        def who(key: str) -> pl.Expr:
            return pl.when(dependent).then(pl.col(f"d_{key}")).otherwise(pl.col(f"s_{key}"))

        head = head.with_columns(
            dependent=dependent,
            last=who("last"),
            first=who("first"),
            dob_text=who("dob"),
            sex=who("sex"),
        ).with_columns(birth_date=_dates(pl.col("dob_text")))
        clm_error = (
            pl.when(pl.col("claim_id").is_null())
            .then(pl.lit(rules.NO_CLAIM_ID))
            .when(~pl.col("s_has").fill_null(False))
            .then(pl.lit(rules.NOT_IN_SUBSCRIBER))
            .when(pl.col("s_member").is_null())
            .then(pl.lit(rules.NO_MEMBER_ID))
            .when(pl.col("dob_text").is_not_null() & pl.col("birth_date").is_null())
            .then(pl.lit(rules.BAD_BIRTH_DATE))
            .when(pl.col("n_lines").fill_null(0) == 0)
            .then(pl.lit(rules.NO_LINES))
            .when(pl.col("n_dx").fill_null(0) > 12)
            .then(pl.lit(rules.TOO_MANY_DX))
        )
        head = head.with_columns(clm_error=clm_error)
        errors = pl.concat(
            [
                head.filter(pl.col("clm_error").is_not_null()).select(
                    *where, loop=pl.lit("2300"), reason="clm_error"
                ),
                sv1_2300,
                sv1_err,
                dtp_err,
                lx_err,
            ]
        ).sort("segno")
        if damage is not None:  # damage first: it explains any other error of its claim
            errors = pl.concat([damage.sort("segno"), errors], how="diagonal_relaxed")
        errors = errors.unique("gc", keep="first", maintain_order=True).join(
            head.select("gc", "claim_id", "n_lines"), on="gc", how="left"
        )
        notes = pl.concat(
            [
                head.filter("no_frequency").select(*where, message=pl.lit(rules.NO_FREQUENCY)),
                hi_notes,
            ]
        )
        return head, lx, errors, notes

    def _damage(self, ctx: pl.DataFrame) -> pl.DataFrame:
        """Errors of the claims damage puts in doubt (the streaming path's ``doubt``).

        A damaged segment inside a claim fails that claim. Outside one, it (and an HL of
        unknown level, or a damaged segment shaped like an HL) puts the structure of its HL
        loop in doubt at that loop's depth, until an HL of that depth or higher or an
        envelope segment (the latest damage of a depth is where its doubt began); every
        claim opened meanwhile fails with the earliest doubt of any depth.
        """
        code, hl, kind = pl.col("code"), pl.col("hl"), pl.col("kind")
        in_claim, major = pl.col("in_claim"), pl.col("major")
        pseudo = (code == CLM) & kind.is_not_null()
        outer = major.shift(1).fill_null(ENV)  # a pseudo CLM's own loop is 2300 already
        starts_hl = hl.is_not_null() & kind.is_not_null()
        starts_out = kind.is_not_null() & hl.is_null() & (~in_claim | pseudo)
        f = ctx.with_columns(
            hl_depth=hl.replace_strict(_HL_DEPTH, default=None, return_dtype=pl.Int8),
            depth=pl.when(starts_hl)
            .then(hl.replace_strict(_HL_DEPTH, default=1, return_dtype=pl.Int8))
            .when(starts_out)
            .then(outer.replace_strict(_MAJOR_DEPTH, default=1, return_dtype=pl.Int8)),
            loop=pl.when(starts_hl)
            .then(hl.replace_strict(_HL_LOOP, default="", return_dtype=pl.String))
            .when(starts_out)
            .then(outer.replace_strict(_HL_LOOP, default="", return_dtype=pl.String))
            .when(kind.is_not_null() & in_claim)
            .then(major.replace_strict(_CLAIM_LOOP, default="", return_dtype=pl.String)),
            reason=kind.replace_strict(_KIND_REASON, default=None, return_dtype=pl.String),
        )
        # Where each doubt began: located now (offsets of old pieces are forgotten).
        begun = f.filter(pl.col("depth").is_not_null())
        for segno, raw_i, loop, reason in begun.select(
            "segno", "raw", "loop", "reason"
        ).iter_rows():
            self.doubt_at[segno] = (self.offset(raw_i), loop, reason)
        env = code >= ISA
        cols = []
        for k in (1, 2, 3):  # the latest start since the last ender, -1 for none
            ender = env | (pl.col("hl_depth") <= k).fill_null(False)
            carried = self.carry.doubt.get(k)
            mark = (
                pl.when(pl.col("depth") == k)
                .then(pl.col("segno"))
                .when(ender)
                .then(pl.lit(-1, pl.Int64))
                .forward_fill()
                .fill_null(-1 if carried is None else carried)
            )
            cols.append(pl.when(mark >= 0).then(mark).alias(f"d{k}"))
        f = f.with_columns(cols)
        last = f.tail(1)
        for k in (1, 2, 3):
            self.carry.doubt[k] = last[f"d{k}"].item() if last.height else self.carry.doubt.get(k)
        live = {v for v in self.carry.doubt.values() if v is not None}
        in_doubt = f.filter(code == CLM).select(
            "gc", "segno", at_seg=pl.min_horizontal("d1", "d2", "d3")
        )
        in_doubt = in_doubt.filter(pl.col("at_seg").is_not_null())
        rows = [(gc, seg, *self.doubt_at[seg]) for gc, _, seg in in_doubt.iter_rows()]
        for old in [seg for seg in self.doubt_at if seg not in live]:
            del self.doubt_at[old]
        doubt = pl.DataFrame(
            rows,
            schema={"gc": pl.Int64, "segno": pl.Int64, "at": pl.Int64, "loop": pl.String,
                    "reason": pl.String},
            orient="row",
        )  # fmt: skip
        inside = f.filter(kind.is_not_null() & in_claim & hl.is_null() & ~pseudo).select(
            "gc", "segno", "raw", "loop", "reason"
        )
        return pl.concat([doubt, inside], how="diagonal_relaxed")

    def _second_eis(self, ref: pl.DataFrame) -> None:
        """Warns at each non-empty REF*EI of a 2010AA loop after the first (which is used)."""
        major, ent = pl.col("major"), pl.col("entity")
        ei = ref.filter(
            (major == HL20) & (ent == _ENTITY["85"]) & (_e(1) == "EI") & (_nz(_e(2)).is_not_null())
        )
        if ei.height < 2:
            return
        later = ei.with_columns(
            n=pl.int_range(pl.len()).over("g20"), same=_e(2) == _e(2).first().over("g20")
        ).filter(pl.col("n") > 0)
        message = pl.col("same").replace_strict(
            {s: rules.second_ei_message(s) for s in (True, False)}, return_dtype=pl.String
        )
        self._warn_each(later.with_columns(message=message), "2010AA")

    def _warn_each(self, rows: pl.DataFrame, loop: str) -> None:
        """Warnings (``message``) at the segments of ``rows`` (``segno``, ``raw``), in row
        order; those past the list's cap are only counted (no location is computed)."""
        warnings = self.report.warnings
        room = rows.height
        if isinstance(warnings, CappedList):
            room = max(min(warnings.cap - len(warnings), rows.height), 0)
            warnings.dropped += rows.height - room
        for segno, raw_i, message in rows.head(room).select("segno", "raw", "message").iter_rows():
            warnings.append(Issue(Location(self.name, segno, self.offset(raw_i), loop), message))

    def _assemble(
        self,
        head: pl.DataFrame,
        lx: pl.DataFrame,
        errors: pl.DataFrame,
        notes: pl.DataFrame,
        piece: Piece,
        claim_base: int,
    ) -> pl.DataFrame:
        if "at" not in errors.columns:
            errors = errors.with_columns(at=pl.lit(None, pl.Int64))
        for gc, segno, raw_i, at, loop, reason, claim_id, lines in errors.select(
            "gc", "segno", "raw", "at", "loop", "reason", "claim_id", "n_lines"
        ).iter_rows():
            self.report.quarantined.append(
                QuarantinedClaim(
                    gc,
                    short_hash(claim_id or ""),
                    Location(self.name, segno, self.offset(raw_i) if at is None else at, loop),
                    reason,
                    lines or 0,
                )
            )
        if errors.height:
            bad = errors["gc"].implode()
            head = head.filter(~pl.col("gc").is_in(bad))
            lx = lx.filter(~pl.col("gc").is_in(bad))
            notes = notes.filter(~pl.col("gc").is_in(bad))
        self._warn_each(notes.sort("segno"), "2300")  # the claims read, in segment order
        if head.height == 0:
            return empty_claim_lines()
        head = _with_tin_and_patient(head).select(
            "gc",
            "claim_id",
            "frequency",
            "s_filing",
            "s_payer",
            "tin",
            "b_npi",
            "claim_rend",
            "patient_id",
            "patient_name",
            "birth_date",
            "sex",
            "claim_pos",
            "diagnosis_codes",
            "claim_start",
            "claim_end",
        )
        self.report.claims_read += head.height
        has_line_date = pl.col("line_start").is_not_null()
        lines = pl.concat([lx, _aligned(lx["gc"], head, "gc", claim_base)], how="horizontal")
        table = lines.select(
            source=pl.lit(self.name),
            interchange_control=pl.lit(piece.control),
            claim_seq=pl.col("gc"),
            claim_id=pl.col("claim_id"),
            frequency=pl.col("frequency"),
            filing_indicator=pl.col("s_filing"),
            payer_id=pl.col("s_payer"),
            tin=pl.col("tin"),
            billing_npi=pl.col("b_npi"),
            rendering_npi=pl.coalesce("line_rend", "claim_rend", "b_npi"),
            patient_id=pl.col("patient_id"),
            patient_name=pl.col("patient_name"),
            birth_date=pl.col("birth_date"),
            sex=pl.col("sex"),
            claim_pos=pl.col("claim_pos"),
            diagnosis_codes=pl.col("diagnosis_codes").fill_null(pl.lit([], pl.List(pl.String))),
            line_number=pl.col("number").cast(pl.Int32),
            procedure_code=pl.col("procedure_code"),
            modifiers=pl.col("modifiers"),
            line_pos=_nz(pl.col("pos")),
            # Lines of claims whose charge/units/pointers failed the checks never get here.
            charge=pl.col("charge").cast(pl.Float64, strict=False),
            units=pl.col("units").cast(pl.Float64, strict=False),
            service_date=pl.when(has_line_date)
            .then(pl.col("line_start"))
            .otherwise(pl.col("claim_start")),
            service_date_end=pl.when(has_line_date)
            .then(pl.col("line_end"))
            .otherwise(pl.col("claim_end")),
            diagnosis_pointers=pl.col("diagnosis_pointers"),
        )
        self.report.lines_read += table.height
        return table.cast(pl.Schema(CLAIM_LINE_SCHEMA))


_HL_DEPTH = {HL20: 1, HL22: 2, HL23: 3, HL_OTHER: 1}  # an unknown level may be an HL20
_MAJOR_DEPTH = {HL20: 1, HL22: 2, HL23: 3}
_HL_LOOP = {HL20: "2000A", HL22: "2000B", HL23: "2000C"}
_CLAIM_LOOP = {L2300: "2300", L2320: "2320", L2400: "2400"}
_KIND_REASON = {
    DAMAGED: rules.DAMAGED_SEGMENT,
    LONG: rules.LONG_SEGMENT,
    HL: rules.BAD_HL_LEVEL,
}


def _diagnoses(hi: pl.DataFrame, comp: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Diagnosis codes of HI01-HI12 and their count per claim; and the warnings of HI
    segments with elements that are not composites (``gc, segno, raw, message``).

    A composite with a diagnosis qualifier is a code. An element without a component
    separator is read as :func:`.rules.split_hi_codes` says: a bare qualifier followed by
    a bare non-qualifier element is one code (at the qualifier's position); any other bare
    element is not read. Each such HI segment is reported once. The pairing runs only when
    a batch has such an element.
    """
    parts = hi.select(
        "gc", h=pl.int_range(pl.len(), dtype=pl.UInt32), part=pl.col("p").list.slice(1, 12)
    ).explode("part")
    split = pl.col("part").str.split(comp, literal=True)
    stripped = pl.col("part").str.strip_chars(_WS)
    bare = ~pl.col("part").str.contains(comp, literal=True) & (stripped != "")
    parts = _by_value(
        parts,
        "part",
        q=split.list.get(0, null_on_oob=True).str.strip_chars(_WS),
        code=_normalised(split.list.get(1, null_on_oob=True)),
        bare=bare.fill_null(False),
    )
    composite = pl.col("q").is_in(rules.DIAGNOSIS_QUALIFIERS) & (pl.col("code") != "")
    notes = pl.DataFrame(
        schema={"gc": pl.Int64, "segno": pl.Int64, "raw": pl.Int64, "message": pl.String}
    )
    dx: pl.Expr = pl.when(composite).then("code")
    if parts["bare"].any():
        parts, notes = _paired(parts, hi)
        dx = pl.when(composite).then("code").when("pair").then("pair_code")
    codes = (
        parts.select("gc", dx=dx)
        .filter(pl.col("dx").is_not_null())
        .group_by("gc", maintain_order=True)
        .agg(diagnosis_codes=pl.col("dx"), n_dx=pl.len())
    )
    return codes, notes


def _normalised(expr: pl.Expr) -> pl.Expr:
    """A diagnosis code as compared: stripped, without dots and spaces, upper case."""
    return (
        expr.str.strip_chars(_WS)
        .str.replace_all(".", "", literal=True)
        .str.replace_all(" ", "", literal=True)
        .str.to_uppercase()
    )


def _paired(parts: pl.DataFrame, hi: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """HI elements (rows ``h``, ``part``, ``bare``) with ``pair`` (a bare qualifier whose
    next element is its code, ``pair_code``), and one warning per HI segment with a bare
    element (:func:`.rules.split_hi_message`)."""
    h = "h"
    stripped = pl.col("part").str.strip_chars(_WS)
    parts = _by_value(
        parts,
        "part",
        bare_q=stripped.is_in(rules.DIAGNOSIS_QUALIFIERS),  # a qualifier holds no separator
        bare_code=_normalised(pl.col("part")).fill_null(""),
    )
    # Rows are in segment, then element order: the next element of the same HI is the
    # next row when its ``h`` is the same (a shift, not a window per segment).
    same_next = (pl.col(h).shift(-1) == pl.col(h)).fill_null(False)
    same_prev = (pl.col(h).shift(1) == pl.col(h)).fill_null(False)
    nxt_code = pl.when(same_next).then(pl.col("bare_code").shift(-1)).otherwise(pl.lit(""))
    parts = parts.with_columns(
        pair=pl.col("bare_q")
        & same_next
        & pl.col("bare").shift(-1).fill_null(False)
        & ~pl.col("bare_q").shift(-1).fill_null(False)
        & (nxt_code != ""),
        pair_code=nxt_code,
    ).with_columns(
        unread=pl.col("bare")
        & ~pl.col("pair")
        & ~(same_prev & pl.col("pair").shift(1).fill_null(False))
    )
    counts = (
        parts.group_by(h, maintain_order=True)
        .agg(pairs=pl.col("pair").sum(), unread=pl.col("unread").sum())
        .filter((pl.col("pairs") > 0) | (pl.col("unread") > 0))
    )
    where = hi.select("gc", "segno", "raw").with_row_index(h)
    counts = counts.join(where, on=h, how="left", maintain_order="left")
    texts = counts.select("pairs", "unread").unique()
    messages = [rules.split_hi_message(p, u) for p, u in texts.iter_rows()]
    texts = texts.with_columns(message=pl.Series(messages, dtype=pl.String))
    notes = counts.join(texts, on=["pairs", "unread"], how="left", maintain_order="left")
    return parts, notes.select("gc", "segno", "raw", "message")


def _damage_kinds(parts: dict[int, pl.DataFrame], hl: pl.DataFrame, n: int) -> pl.Series:
    """Per row: the tag code of damage (DAMAGED, LONG, or HL for an HL of unknown level)."""
    kind = pl.Series("kind", [], _U8).extend_constant(None, n)
    bad_hl = hl.filter(~hl["e3"].fill_null("").is_in(rules.HL_LEVELS))["i"]
    for code, rows in ((DAMAGED, parts[DAMAGED]["i"]), (LONG, parts[LONG]["i"]), (HL, bad_hl)):
        if len(rows):
            kind = kind.scatter(rows, pl.Series([code] * len(rows), dtype=_U8))
    return kind


def _shaped_hls(parts: dict[int, pl.DataFrame]) -> pl.DataFrame:
    """Rows ``i`` of damaged segments that stand for an HL, and its level code."""
    d, long = parts[DAMAGED], parts[LONG]
    e1, e3 = pl.col("e1").fill_null("").str.strip_chars(_WS), pl.col("e3").fill_null("")
    e3 = e3.str.strip_chars(_WS)
    shaped = d.filter(e3.is_in(rules.HL_LEVELS) & e1.str.contains(rules.HL_ID_RE)).select(
        "i", hl=e3.replace_strict(_HL_CODES, return_dtype=pl.Int8)
    )
    long_hl = long.filter(e1 == "HL").select("i", hl=pl.lit(HL_OTHER, pl.Int8))
    return pl.concat([shaped, long_hl]).cast({"i": pl.UInt32})


def _pseudo_claims(code: pl.Series, hl: pl.Series, kind: pl.Series) -> pl.Series:
    """Damaged segments outside any claim that a service line follows (before any CLM, HL,
    envelope or other such segment): each is taken for a damaged CLM (the streaming path's
    ``_pseudo_claim``); only the first of a loop, as the claim it opens holds the rest."""
    c, h, k = pl.col("code"), pl.col("hl"), pl.col("kind")
    f = pl.DataFrame([code, hl.alias("hl"), kind.alias("kind")])
    boundary = (c == CLM) | h.is_not_null() | (c >= ISA)
    in_claim = pl.when(c == CLM).then(True).when(h.is_not_null() | (c >= ISA)).then(False)
    f = f.with_columns(
        in_claim=in_claim.forward_fill().fill_null(False), boundary=boundary
    ).with_columns(cand=k.is_not_null() & h.is_null() & ~pl.col("in_claim"))
    f = f.with_row_index("row")
    ev = f.filter(pl.col("cand") | (c == LX) | pl.col("boundary"))
    ev = ev.with_columns(p0=pl.col("cand") & (c == LX).shift(-1).fill_null(False))
    seen = pl.when(pl.col("p0")).then(True).when(pl.col("boundary")).then(False).forward_fill()
    ev = ev.filter(pl.col("p0") & ~seen.shift(1).fill_null(False))
    out = pl.Series("pseudo", [False] * len(code))
    return out.scatter(ev["row"], True) if ev.height else out


def _with_pseudo_clms(parts: dict[int, pl.DataFrame], pseudo: pl.Series) -> pl.DataFrame:
    """The CLM elements with the pseudo CLMs added (element 1 of a damaged segment)."""
    rows = pseudo.arg_true().cast(pl.UInt32)
    d = parts[DAMAGED].filter(pl.col("i").is_in(rows.implode())).select("i", "e1")
    long = parts[LONG].filter(pl.col("i").is_in(rows.implode())).select("i", e1=pl.lit(""))
    clm = parts[CLM]
    added = pl.concat([d, long]).with_columns(e5=pl.lit(None, pl.String))
    return pl.concat([clm, added.cast(clm.schema)]).sort("i")


def _context(
    f: pl.DataFrame, hl_code: pl.Series, nm1_code: pl.Series, carry: _Carry
) -> pl.DataFrame:
    """Loop context of every segment (the streaming path's state machine, column-wise).

    Integer columns only: ``major`` loop, last NM1 ``entity``, whether inside a claim, and
    group ids of claims (``gc``), service lines (``gl``) and HL levels (``g20/g22/g23``,
    with ``s<level>`` marking where a group starts).
    """
    code = pl.col("code")
    is_env = code >= ISA
    f = f.with_columns(hl=hl_code, nm1=nm1_code)
    f = f.with_columns(
        in_claim=pl.when(code == CLM)
        .then(True)
        .when(pl.col("hl").is_not_null() | is_env)
        .then(False)
        .forward_fill()
        .fill_null(False)
    ).with_columns(
        marker1=pl.when(is_env)
        .then(pl.lit(ENV, pl.Int8))
        .when(pl.col("hl").is_not_null())
        .then(pl.col("hl"))
        .when(code == CLM)
        .then(pl.lit(L2300, pl.Int8))
        .when((code == LX) & pl.col("in_claim"))  # an orphan LX opens no loop
        .then(pl.lit(L2400, pl.Int8))
    )
    f = f.with_columns(
        marker2=pl.when(pl.col("marker1").is_not_null())
        .then(pl.col("marker1"))
        .when((code == SBR) & (pl.col("marker1").forward_fill() == L2300))
        .then(pl.lit(L2320, pl.Int8))
    )
    hlc = pl.col("hl")
    start20 = ((hlc == HL20) | (code == ST)).fill_null(False)
    start22 = start20 | (hlc == HL22).fill_null(False)
    start23 = start22 | (hlc == HL23).fill_null(False)
    return f.with_columns(
        major=pl.col("marker2").forward_fill().fill_null(ENV),
        entity=pl.when(pl.col("marker2").is_not_null())
        .then(pl.lit(0, pl.Int8))
        .otherwise(pl.col("nm1"))
        .forward_fill()
        .fill_null(0),
        gc=_running_count(code == CLM) + (carry.claim_seq - 1),
        gl=_running_count(code == LX) + carry.line,
        g20=_running_count(start20) + carry.group["20"],
        g22=_running_count(start22) + carry.group["22"],
        g23=_running_count(start23) + carry.group["23"],
        s20=start20,
        s22=start22,
        s23=start23,
    ).drop("marker1", "marker2", "nm1")


def _shifted(part: pl.DataFrame, by: int) -> pl.DataFrame:
    """``part`` with its row numbers ``i`` moved by ``by`` rows."""
    return part.with_columns((pl.col("i").cast(pl.Int64) + by).cast(pl.UInt32))


def _running_count(condition: pl.Expr) -> pl.Expr:
    """How many rows so far (this one included) meet ``condition`` (cum_count is cheaper
    than a cumulative sum of booleans)."""
    return pl.when(condition).then(pl.lit(True)).cum_count().cast(pl.Int64)


def _with_tin_and_patient(head: pl.DataFrame) -> pl.DataFrame:
    """TIN (SSN pseudonymised), patient id and display name; Python only per distinct value."""
    ssns = head["b_SY"].drop_nulls().unique().to_list()
    ssn_tin = (
        pl.col("b_SY").replace_strict(
            ssns, [pseudonymise_ssn(s) for s in ssns], default=None, return_dtype=pl.String
        )
        if ssns
        else pl.lit(None, pl.String)
    )
    # Dependent ids: hashed per distinct (member, name, birth date), only for dependents.
    key = ["s_member", "last", "first", "birth_date"]
    dependents = head.with_row_index("_row").filter(pl.col("dependent")).select("_row", *key)
    keys = dependents.select(key).unique()
    ids = keys.with_columns(
        dep_id=pl.Series(
            [
                dependent_patient_id(m, last or "", first or "", b)
                for m, last, first, b in keys.iter_rows()
            ],
            dtype=pl.String,
        )
    )
    dependents = dependents.join(ids, on=key, how="left", nulls_equal=True)
    dep_id = pl.Series("dep_id", [], pl.String).extend_constant(None, head.height)
    if dependents.height:
        dep_id = dep_id.scatter(dependents["_row"], dependents["dep_id"])
    name = pl.concat_str(pl.col("last"), pl.col("first"), separator=", ", ignore_nulls=True)
    return head.with_columns(
        tin=pl.coalesce(pl.col("b_EI"), ssn_tin),
        patient_id=pl.when(pl.col("dependent")).then(dep_id).otherwise(pl.col("s_member")),
        patient_name=_nz(name),
    )


def _empty_level(keys: tuple[str, ...], group: int) -> pl.DataFrame:
    schema = {"g": pl.Int64, "has": pl.Boolean, **dict.fromkeys(keys, pl.String)}
    return pl.DataFrame([{"g": group, "has": False}], schema=schema)


def iter_claim_line_batches(
    source: Source,
    report: ReadReport | None = None,
    *,
    batch_bytes: int = DEFAULT_BLOCK,
    claim_seq_start: int = 0,
) -> Iterator[pl.DataFrame]:
    """Canonical claim-line tables of an 837P input, one per batch of about ``batch_bytes``.

    Peak memory is a small multiple of ``batch_bytes`` whatever the file size.
    """
    report = report if report is not None else ReadReport()
    batcher = _Batcher(source, report, claim_seq_start)
    report.sources.append(batcher.name)
    errors_before, inter_before = len(report.errors), report.interchanges
    yield from batcher.run(batch_bytes)
    _raise_if_nothing_read(report, errors_before, inter_before)
