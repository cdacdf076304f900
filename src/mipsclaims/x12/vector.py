"""Byte-level kernel of the fast 837P path: clean bytes -> the canonical claim-line table.

The input is one buffer of whole segments (one or more interchanges, or a carried tail and
one piece of a large interchange), read as a numpy ``uint8`` array. No Python object is
made per segment or line. Four named steps:

1. **tokenize** (:class:`Tokens`): segment terminators and element separators found in
   one pass (``flatnonzero`` of either byte): each segment's first separator and count
   are differences of indices into that one array, so element ``k`` of a segment is one
   gather, with no binary search. :func:`_check_bytes` marks bytes the columnar reader
   would treat differently.
2. **tag** (:func:`_tags`): each segment's tag becomes a small integer code from its
   first four bytes, read as one unaligned big-endian integer.
3. **loop structure** (in :func:`_fields`): the streaming reader's state machine as
   integer columns: forward fills of loop markers and cumulative sums over tag masks give
   each segment its claim, service line and HL-level group.
4. **fields** (:func:`_fields`, then :func:`_assemble`): values are located per wanted
   segment kind, codes compared as packed integers, dates and amounts computed
   arithmetically from digit bytes (a date is one uint64). Envelopes of the interchanges
   whole in the buffer are checked here too (:func:`_envelope`). Strings are made only
   for the kept fields, handed to polars as Arrow arrays built in numpy (string views of
   short values, or offsets and bytes), so polars makes no object or copy per value; by
   then the per-segment arrays of steps 1-3 are freed (:meth:`Tokens.keep_bytes_only`).

The kernel does not quarantine or warn. It only *proves* input clean: any condition under
which the columnar reader could warn, quarantine, strip whitespace or apply a limit (and a
few more, to be safe) marks the segment where it was seen in ``Block.bad``. The driver
(:mod:`.fast`) then hands that interchange to the columnar reader, so quarantine rules,
limits and messages stay the columnar reader's own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nanoarrow
import numpy as np
import polars as pl
from numpy.lib.stride_tricks import as_strided

from ..claims import dependent_patient_id
from ..schema import CLAIM_LINE_SCHEMA, pseudonymise_ssn
from . import rules
from .columnar import (
    CLM,
    DMG,
    DTP,
    GE,
    GS,
    HI,
    HL,
    IEA,
    ISA,
    LX,
    NM1,
    OTHER,
    REF,
    SBR,
    SE,
    ST,
    SV1,
    TAGS,
)
from .envelope import Delimiters

#: A field's byte spans: (starts, ends), one entry per row.
Span = tuple[np.ndarray, np.ndarray]

#: Longest segment the fast path reads (conservative: far below the reader's limit).
MAX_FAST_SEGMENT = 2048

# Tag codes: the columnar reader's (one table, columnar.TAGS); envelope codes are the ones
# from ISA on. The kernel never makes columnar's DAMAGED, LONG or EMPTY codes: a segment
# it cannot tag is not proven clean.
ENVELOPE_NAMES = {v: k for k, v in TAGS.items() if v >= ISA}
# Other segments of 837P 5010 the fast path accepts (read as OTHER): the reader's one list
# of 837P tags (rules.KNOWN_TAGS), less TA1 and CR3, which it leaves to the columnar reader.
# Any tag not listed (a typo, a damaged tag) sends the interchange to the columnar reader.
_KNOWN = sorted(rules.KNOWN_TAGS - TAGS.keys() - {"TA1", "CR3"})
# Loop codes (the ``major`` column).
ENV, HL20, HL22, HL23, L2300, L2400, L2320 = range(7)
# NM101 entity codes the reader uses.
E85, EIL, EPR, EQC, E82, EOTHER = 1, 2, 3, 4, 5, 9


def _key(text: str) -> int:
    """A short ASCII value packed big-endian into an integer (what :meth:`Tokens.pack` gives)."""
    raw = text.encode("ascii")
    return int.from_bytes(raw.ljust(8, b"\0"), "big")


_TAG_KEYS = np.array(sorted(_key(t) for t in [*TAGS, *_KNOWN]), dtype=np.uint64)
_TAG_CODES = np.array(
    [TAGS.get(t, OTHER) for t in sorted([*TAGS, *_KNOWN], key=_key)], dtype=np.uint8
)
_POW10 = 10.0 ** np.arange(19)
_POW10_INT = 10 ** np.arange(19, dtype=np.int64)
# Padding after a buffer: a fixed-width read at any position stays inside the array.
_PAD = MAX_FAST_SEGMENT + 8
# Entries after the element separators (Tokens.e): elements 1.._E_PAD-1 can be read.
_E_PAD = 64
#: Bytes an Arrow string view holds in itself (columns with longer values are made from
#: offsets and bytes instead).
_INLINE = 12
# _MASKS[n]: keeps the first n bytes of a big-endian uint64.
_MASKS = np.array(
    [0, *(((1 << 64) - 1) ^ ((1 << (8 * (8 - n))) - 1) for n in range(1, 9))], dtype=np.uint64
)
#: The low k bytes of a little-endian uint64 (k = 0..8).
_LE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
_ONES = 0x0101010101010101  # one in every byte of a uint64


@dataclass
class Block:
    """What the kernel made of a buffer.

    ``table``: the canonical rows of every claim (extra column ``_ix``: the local number of
    the claim's interchange); ``bad``: the first segment index not proven clean (None: all
    clean); ``segments``: how many segments the buffer holds; ``isa``: segment index of
    each ISA; ``claims_before_isa``: CLMs before each ISA; ``envelope``: (segment index,
    tag, elements) of the envelope segments outside the buffer's whole interchanges (those
    are checked here, :func:`_envelope`; the driver checks the others in input order).
    """

    table: pl.DataFrame
    bad: int | None
    segments: int
    isa: np.ndarray
    claims_before_isa: np.ndarray
    claims: int
    envelope: list[tuple[int, str, list[str]]]
    transactions: np.ndarray  # per ISA: its STs when its IEA is in the buffer, else -1


class Tokens:
    """Step 1: segments and separators of a buffer, and element/component lookup.

    Terminators and element separators are found in one pass (their merged positions), so
    each segment's first separator and separator count are differences of indices, with no
    binary search. Short values are read as one unaligned big-endian integer at their start
    (``u64``/``u32``), longer ones as fixed-width rows of a strided view of the padded
    buffer (``rows``): one gather per field, whatever its width.
    """

    def __init__(self, data: bytes, d: Delimiters) -> None:
        a = np.frombuffer(data, dtype=np.uint8)
        n = len(a)
        self.a = a
        self.term = ord(d.segment)
        self.ele = ord(d.element)
        self.comp = ord(d.component)
        pad = np.zeros(n + _PAD, np.uint8)
        pad[:n] = a
        self.rows = as_strided(pad, shape=(n + 1, _PAD), strides=(1, 1), writeable=False)
        self.u64 = np.ndarray((n + 1,), ">u8", pad, 0, (1,))
        self.u32 = np.ndarray((n + 1,), ">u4", pad, 0, (1,))
        self.le64 = np.ndarray((n + 8,), "<u8", pad, 0, (1,))
        self.le32 = np.ndarray((n + 8,), "<u4", pad, 0, (1,))
        # Newlines (CR, LF) that are not a delimiter: whitespace between segments.
        self.nl_lut = np.zeros(256, bool)
        self.nl_lut[[10, 13]] = True
        self.nl_lut[[self.term, self.ele, self.comp]] = False
        p = np.flatnonzero((a == self.ele) | (a == self.term))
        is_t = a[p] == self.term
        ti = np.flatnonzero(is_t)  # index into p of each terminator
        t = p[ti]
        self.t = t  # terminator of each segment
        # Element separators, then padding: reading past a segment's last separator (an
        # absent element) stays inside the array with no clipping.
        self.e = np.concatenate([p[~is_t], np.zeros(_E_PAD, p.dtype)])
        prev = np.empty_like(ti)
        prev[:1] = -1
        prev[1:] = ti[:-1]
        # Segment i's separators are p[prev[i]+1 : ti[i]]; i terminators come before them.
        self.fe = prev + 1 - np.arange(len(ti))
        self.ne = ti - prev - 1
        s = np.empty_like(t)
        s[:1] = 0
        s[1:] = t[:-1] + 1
        # Whitespace between segments (newlines after terminators) is not part of a segment.
        if len(s):
            while True:
                m = (s < t) & self.nl_lut[a[np.minimum(s, n - 1)]]
                if not m.any():
                    break
                s[m] += 1
        self.s = s
        self.c = np.flatnonzero(a == self.comp)
        self._rows_of: np.ndarray | None = None  # the rows of the last element() call
        # Bytes over 127 seen (set by read_block's byte checks): the buffer is not clean,
        # and its strings are made with "?" for them (a String column must be UTF-8).
        self.non_ascii = False
        self._gathered: tuple[np.ndarray, ...] = ()

    def keep_bytes_only(self) -> None:
        """Frees the segment and separator positions (the largest arrays of a call) once
        no element is read any more; strings and windows need only the bytes."""
        empty = np.zeros(0, np.int64)
        self.t = self.s = self.e = self.fe = self.ne = self.c = empty
        self._rows_of, self._gathered = None, ()

    def element(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of element ``k`` of segments ``rows``; empty (start = end) if absent.

        Fields are read kind by kind (several elements of the same rows in a row), so the
        rows' separator index, count and terminator are gathered once per ``rows`` array."""
        if rows is not self._rows_of:
            self._rows_of = rows
            self._gathered = (self.fe[rows], self.ne[rows], self.t[rows])
        if not 1 <= k < _E_PAD:
            raise ValueError(f"element {k}: elements 1-{_E_PAD - 1} only")
        fe, ne, t = self._gathered
        at = fe + (k - 1)  # separator before element k (inside the padding when past the end)
        st = np.where(ne >= k, self.e[at] + 1, t)
        at += 1
        # An absent element ends where it starts (ne > k is false, so both are t).
        return st, np.where(ne > k, self.e[at], t)

    def component(
        self, st: np.ndarray, en: np.ndarray, j: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start, end, present) of component ``j`` (0-based) of the values ``[st, en)``."""
        c = self.c
        fc = np.searchsorted(c, st)
        nc = np.searchsorted(c, en) - fc
        if not len(c):
            return (st, en, np.ones(len(st), bool)) if j == 0 else (en, en, np.zeros(len(st), bool))
        top = len(c) - 1
        present = nc >= j
        cst = st if j == 0 else np.where(present, c[np.minimum(fc + j - 1, top)] + 1, en)
        cen = np.where(nc > j, c[np.minimum(fc + j, top)], en)
        return cst, np.where(present, cen, cst), present

    def window(self, st: np.ndarray, en: np.ndarray, width: int) -> np.ndarray:
        """Bytes of ``[st, en)`` left-aligned in ``width`` columns, zero-padded (n x width).

        Values longer than the padding (only in segments over the fast path's limit, which
        are never emitted) are cut there."""
        width = min(width, _PAD)
        w = self.rows[st, :width]
        w *= np.arange(width) < (en - st)[:, None]
        return w

    def pack(self, st: np.ndarray, en: np.ndarray) -> np.ndarray:
        """Values of up to 8 bytes packed big-endian into uint64 (longer: 2**64-1)."""
        size = en - st
        packed = self.u64[st].astype(np.uint64) & _MASKS[np.clip(size, 0, 8)]
        return np.where(size > 8, np.uint64(2**64 - 1), packed)

    def strings(self, st: np.ndarray, en: np.ndarray, upper: bool = False) -> pl.Series:
        """The values ``[st, en)`` as a String column, null where empty.

        Handed to polars as an Arrow array (no per-value step): when every value fits in
        12 bytes, as string views (polars' own layout, taken without a copy), one 16-byte
        view per value holding its length and bytes; otherwise as offsets and the values'
        bytes, cut from one fixed-width gather by a mask of each row's length.
        """
        n = len(st)
        size = (en - st).astype(np.int64)
        width = int(size.max()) if n else 0
        empty = size == 0
        nulls = int(empty.sum())
        valid = np.packbits(~empty, bitorder="little") if nulls else None
        if width <= _INLINE:
            # A view as two little-endian words: length | bytes 0-3 << 32, bytes 4-11;
            # bytes past the value's length are zero.
            words = np.empty((n, 2), np.uint64)
            head = self.le32[st].astype(np.uint64) & _LE_MASKS[np.minimum(size, 4)]
            np.bitwise_or(size.astype(np.uint64), head << np.uint64(32), out=words[:, 0])
            np.bitwise_and(self.le64[st + 4], _LE_MASKS[np.clip(size - 4, 0, 8)], out=words[:, 1])
            views = words.view(np.uint8).reshape(n, 16)
            self._clean(views[:, 4:], upper)
            buffers: list[Any] = [valid, views, b""]
            kind = nanoarrow.string_view()
        else:
            # Values over the padding (only in segments over the fast path's limit, never
            # emitted) are cut there, as ``window`` cuts them.
            width = min(width, _PAD)
            size = np.minimum(size, width)
            data = self.window(st, en, width)[np.arange(width) < size[:, None]]
            offsets = np.zeros(n + 1, np.int64)
            np.cumsum(size, out=offsets[1:])
            buffers = [valid, offsets, self._clean(data, upper)]
            kind = nanoarrow.large_string()
        return pl.Series(nanoarrow.c_array_from_buffers(kind, n, buffers, null_count=nulls))

    def _clean(self, values: np.ndarray, upper: bool) -> np.ndarray:
        """``values`` (bytes, modified in place) upper-cased, and with "?" for bytes over
        127 (a String column must be UTF-8; such a buffer is never clean anyway)."""
        if self.non_ascii:
            values[values > 127] = ord("?")
        if upper:
            values -= ((values >= 97) & (values <= 122)).view(np.uint8) * np.uint8(32)
        return values


def _ffill(events: np.ndarray, values: np.ndarray, default: int) -> np.ndarray:
    """Value of the last event at or before each row (``default`` before the first)."""
    idx = np.where(events, np.arange(len(events)), -1)
    np.maximum.accumulate(idx, out=idx)
    out = values[np.maximum(idx, 0)]
    return np.where(idx >= 0, out, default)


def _at(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``values[idx]``, 0 where ``idx`` is -1 (or ``values`` is empty)."""
    if not len(values):
        return np.zeros(len(idx), dtype=np.int64)
    return np.where(idx >= 0, values[np.maximum(idx, 0)], 0)


def _first_per_group(groups: np.ndarray, ok: np.ndarray, size: int) -> np.ndarray:
    """Row index of the first ``ok`` row of each group id (0..size-1), -1 where none.

    ``groups`` is non-decreasing (rows are in segment order)."""
    out = np.full(size, -1, dtype=np.int64)
    rows = np.flatnonzero(ok)
    g = groups[rows]
    first = np.ones(len(rows), bool)
    first[1:] = g[1:] != g[:-1]
    out[g[first]] = rows[first]
    return out


def _digits(tok: Tokens, st: np.ndarray, en: np.ndarray, width: int) -> tuple[np.ndarray, ...]:
    w = tok.window(st, en, width).astype(np.int64) - 48
    return tuple(w[:, i] for i in range(width))


def _dates(tok: Tokens, st: np.ndarray, en: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CCYYMMDD at ``[st, st+8)`` -> (valid, days since 1970-01-01). Valid means a calendar
    date in 1900-2099 (anything else is left to the columnar reader).

    The eight bytes are one big-endian uint64: all digits when every byte is 0x30-0x39,
    then digit pairs are combined in 16-bit lanes (CC, YY, MM, DD), with no 2-D array."""
    v = tok.pack(st, np.minimum(en, st + 8))
    high = np.uint64(0xF0 * _ONES)
    all_digits = ((v & high) == np.uint64(0x30 * _ONES)) & (
        ((v + np.uint64(6 * _ONES)) & high) == np.uint64(0x30 * _ONES)
    )
    d = v & np.uint64(0x0F * _ONES)
    lanes = np.uint64(0x00FF00FF00FF00FF)
    pairs = ((d >> np.uint64(8)) & lanes) * np.uint64(10) + (d & lanes)
    y = (pairs >> np.uint64(48)) * np.uint64(100) + ((pairs >> np.uint64(32)) & np.uint64(0xFFFF))
    y = y.astype(np.int64)
    m = ((pairs >> np.uint64(16)) & np.uint64(0xFFFF)).astype(np.int64)
    day = (pairs & np.uint64(0xFFFF)).astype(np.int64)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    mdays = _MONTH_DAYS[np.clip(m, 0, 12)] + ((m == 2) & leap)
    ok = all_digits & (y >= 1900) & (y <= 2099) & (m >= 1) & (m <= 12) & (day >= 1)
    ok &= day <= mdays
    # days_from_civil (proleptic Gregorian), vectorized.
    yy = y - (m <= 2)
    era = yy // 400
    yoe = yy - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ok, np.where(ok, days, 0).astype(np.int32)


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _period(tok: Tokens, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DTP02/DTP03 D8 or RD8 of segments ``rows`` -> (valid, start days, end days)."""
    qst, qen = tok.element(rows, 2)
    q = tok.pack(qst, qen)
    vst, ven = tok.element(rows, 3)
    n = ven - vst
    d8 = (q == _key("D8")) & (n == 8)
    rd8 = (q == _key("RD8")) & (n == 17)
    ok1, day1 = _dates(tok, vst, ven)
    ok2, day2 = np.zeros(len(rows), bool), day1.copy()
    ranges = np.flatnonzero(rd8)  # the second date only where there is one
    ok2[ranges], day2[ranges] = _dates(tok, vst[ranges] + 9, ven[ranges])
    dash = tok.a[np.minimum(vst + 8, len(tok.a) - 1)] == ord("-")
    valid = (d8 & ok1) | (rd8 & ok1 & ok2 & dash)
    return valid, day1, day2


def _numbers(tok: Tokens, st: np.ndarray, en: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decimal numbers ``-?digits[.digits]`` -> (valid or empty, value; NaN when empty).

    value = mantissa / 10**decimals: both exact, so the division is correctly rounded and
    equals parsing the text. More than 15 digits is not proven (left to the columnar path).
    """
    n = en - st
    width = int(min(max(n.max(), 1), 18)) if len(n) else 1
    w = tok.window(st, en, width)  # zero past each value: neither digit nor dot
    neg = w[:, 0] == ord("-")
    digit = (w - np.uint8(48)) <= 9  # uint8 arithmetic: bytes below "0" wrap past 9
    dot = w == ord(".")
    ndig = digit.sum(axis=1)
    ndot = dot.sum(axis=1)
    ok = (n <= 18) & (ndig >= 1) & (ndig <= 15) & (ndot <= 1) & (ndig + ndot + neg == n)
    # Digit i weighs 10 ** (digits after it): one weighted sum per row, exact in int64.
    later = ndig[:, None] - np.cumsum(digit, axis=1)
    mant = ((w - np.uint8(48)).astype(np.int64) * digit * _POW10_INT[later]).sum(axis=1)
    decimals = (digit & (np.cumsum(dot, axis=1) > 0)).sum(axis=1)
    value = mant / _POW10[np.minimum(decimals, 18)]
    value = np.where(neg, -value, value)
    empty = n == 0
    return ok | empty, np.where(empty | ~ok, np.nan, value)


def _check_bytes(tok: Tokens, delimiters: Delimiters, badmask: np.ndarray) -> None:
    """Marks in ``badmask`` the segments with a byte the columnar reader would treat
    differently: outside printable ASCII (not a delimiter), a newline not right after a
    terminator, a space next to a separator; and the trailing slot when the buffer does not
    end with a terminator. Sets ``tok.non_ascii``. (Its own function, so its position
    arrays are freed before the fields are read.)"""
    a, t = tok.a, tok.t
    n = len(t)
    # Printable ASCII, separators, and newlines only right after a terminator.
    # One pass finds every byte outside printable ASCII (uint8 arithmetic wraps bytes below
    # 32 past 94); the few found are delimiters, newlines or bad bytes.
    ctrl = np.flatnonzero((a - np.uint8(32)) > 94)
    cb = a[ctrl]
    tok.non_ascii = bool((cb > 127).any())
    delim = np.isin(cb, [tok.term, tok.ele, tok.comp, ord(delimiters.repetition or "*")])
    isnl = tok.nl_lut[cb]
    pos = [ctrl[~delim & ~isnl]]
    if len(a):
        # A newline only right after a terminator (or another such newline).
        nl = ctrl[isnl]
        before = a[np.maximum(nl - 1, 0)]
        pos.append(nl[(nl == 0) | ((before != tok.term) & ~tok.nl_lut[before])])
        # A space next to a separator or terminator would be stripped by the columnar path.
        sp = np.flatnonzero(a == 32)
        nxt = a[np.minimum(sp + 1, len(a) - 1)]
        prv = a[np.maximum(sp - 1, 0)]
        near = (nxt == tok.ele) | (nxt == tok.comp) | (nxt == tok.term)
        near |= (prv == tok.ele) | (prv == tok.comp)
        pos.append(sp[near])
    where = np.concatenate(pos)
    if len(where):
        badmask[np.minimum(np.searchsorted(t, where), n)] = True
    if not len(a) or a[-1] != tok.term:
        badmask[n] = True


def _tags(tok: Tokens, badmask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 2: (code, tag ok, length) per segment; a tag is two or three letters or digits,
    then the element separator, looked up as one packed integer. Marks bad tags and
    segments too short or over the fast path's limit in ``badmask``."""
    s, t = tok.s, tok.t
    n = len(t)
    length = t - s
    badmask[:n] |= (length <= 3) | (length > MAX_FAST_SEGMENT)
    # The first four bytes of each segment as one big-endian integer (b0 b1 b2 b3).
    head = tok.u32[s].astype(np.uint64)
    b0, b1 = head >> np.uint64(24), (head >> np.uint64(16)) & np.uint64(255)
    b2, b3 = (head >> np.uint64(8)) & np.uint64(255), head & np.uint64(255)
    three = b3 == tok.ele
    two = b2 == tok.ele
    key = np.where(
        three, (head >> np.uint64(8)) << np.uint64(40), (head >> np.uint64(16)) << np.uint64(48)
    )
    alnum = np.zeros(256, bool)
    alnum[48:58] = alnum[65:91] = True
    tagok = (three | two) & alnum[b0] & alnum[b1]
    tagok &= ~three | alnum[b2]
    at = np.minimum(np.searchsorted(_TAG_KEYS, key), len(_TAG_KEYS) - 1)
    tagok &= _TAG_KEYS[at] == key
    code = np.where(tagok, _TAG_CODES[at], OTHER)
    badmask[:n] |= ~tagok

    return code, tagok, length


def read_block(
    data: bytes,
    delimiters: Delimiters,
    *,
    final: bool,
    claim_seq0: int,
    source: str,
    controls: list[str],
    control0: str,
) -> Block:
    """Steps 1-4 over one buffer. ``controls``: ISA13 of each ISA in the buffer, in order;
    ``control0``: ISA13 of the interchange the buffer starts in (a carried tail)."""
    f = _fields(data, delimiters, final=final, controls=controls, control0=control0)
    # Only the bytes are needed from here on: the per-segment arrays of steps 1-3 (about
    # 100 MB for an 8 MB buffer) are freed before the table is built.
    f.tok.keep_bytes_only()
    table = _assemble(f.tok, claim_seq0=claim_seq0, source=source, **f.assemble)
    bad = f.bad
    ptr_bad = table.filter(~pl.col("_ptr_ok"))["claim_seq"]
    if len(ptr_bad):  # SV107 is not a list of pointers 1-12
        ptr_at = int(f.clm_rows[int(ptr_bad[0]) - claim_seq0])
        bad = ptr_at if bad is None else min(bad, ptr_at)
    table = table.drop("_ptr_ok")
    return Block(
        table,
        bad,
        f.segments,
        f.isa_rows,
        f.claims_before_isa,
        f.assemble["nkeep"],
        f.envelope,
        f.transactions,
    )


@dataclass
class _Fields:
    """What steps 1-4 leave for the table: the tokens (for the bytes), the arguments of
    :func:`_assemble`, and the driver's checks of the buffer."""

    tok: Tokens
    assemble: dict[str, Any]
    bad: int | None
    segments: int
    clm_rows: np.ndarray
    isa_rows: np.ndarray
    claims_before_isa: np.ndarray
    envelope: list[tuple[int, str, list[str]]]
    transactions: np.ndarray


def _fields(
    data: bytes, delimiters: Delimiters, *, final: bool, controls: list[str], control0: str
) -> _Fields:
    """Steps 1-4: tokens, byte checks, tags, loop structure and the fields' spans and
    values (a function of its own so that its per-segment arrays die when it returns)."""
    tok = Tokens(data, delimiters)
    a, s, t = tok.a, tok.s, tok.t
    n = len(t)
    badmask = np.zeros(n + 1, bool)  # per segment; the extra slot: trailing bytes
    # Whitespace as a separator (other than a newline terminator) is left to the columnar
    # reader, which strips whitespace around elements.
    spaced_delimiters = (delimiters.segment in " \t") or any(
        c in " \t\r\n"
        for c in (delimiters.element, delimiters.component, delimiters.repetition)
        if c
    )

    _check_bytes(tok, delimiters, badmask)
    code, tagok, length = _tags(tok, badmask)

    # The ISA's fixed-width fields are padded by design: no byte rule inside an ISA.
    is_isa = code == ISA
    badmask[:n] &= ~is_isa | ~tagok | (length > MAX_FAST_SEGMENT)
    badmask[:n] |= is_isa & ~tagok

    # Interchange structure: IEA is followed by ISA (or ends a final buffer), ISA preceded
    # by IEA (or starts the buffer).
    is_iea = code == IEA
    if n:
        nxt_code = np.append(code[1:], ISA if final else OTHER)
        badmask[:n] |= is_iea & (nxt_code != ISA)
        prv_code = np.insert(code[:-1], 0, IEA)
        badmask[:n] |= is_isa & (prv_code != IEA)
        if final:
            badmask[n - 1] |= not is_iea[n - 1]

    # -- step 3, loop structure.
    hl_rows = np.flatnonzero(code == HL)
    hl_level = np.full(n, -1, np.int8)
    lv = tok.pack(*tok.element(hl_rows, 3))
    lvcode = np.select(
        [lv == _key("20"), lv == _key("22"), lv == _key("23")], [HL20, HL22, HL23], -1
    )
    badmask[hl_rows[lvcode < 0]] = True
    hl_level[hl_rows] = lvcode
    nm1_rows = np.flatnonzero(code == NM1)
    ent = tok.pack(*tok.element(nm1_rows, 1))
    nm1_ent = np.select(
        [ent == _key(k) for k in ("85", "IL", "PR", "QC", "82")],
        [E85, EIL, EPR, EQC, E82],
        EOTHER,
    )
    entity_of = np.zeros(n, np.int8)
    entity_of[nm1_rows] = nm1_ent

    is_env = code >= ISA
    is_hl = code == HL
    is_clm = code == CLM
    in_claim = _ffill(is_clm | is_hl | is_env, is_clm, 0).astype(bool)
    marker = np.full(n, -1, np.int8)
    is_lx = code == LX
    marker[is_lx & in_claim] = L2400
    marker[is_clm] = L2300
    marker[is_hl] = hl_level[is_hl]
    marker[is_env] = ENV
    has1 = marker >= 0
    last1 = _ffill(has1, marker, -1)
    is_2320 = (code == SBR) & ~has1 & (last1 == L2300)
    marker[is_2320] = L2320
    has2 = marker >= 0
    major = _ffill(has2, marker, ENV)
    entity = _ffill(has2 | (code == NM1), np.where(has2, 0, entity_of), 0)
    badmask[:n] |= is_lx & ~in_claim  # an orphan LX: a warning in the columnar reader
    badmask[:n] |= is_hl & (hl_level < 0)

    gc = np.cumsum(is_clm) - 1
    gl = np.cumsum(is_lx) - 1
    is_st = code == ST
    start20 = (hl_level == HL20) | is_st
    start22 = start20 | (hl_level == HL22)
    start23 = start22 | (hl_level == HL23)
    # Segments before the first ST (an ISA, a GS; or any segment of a buffer whose first
    # segment is not proven clean) count as group 0: never a level value, never -1.
    g20, g22, g23 = (np.maximum(np.cumsum(x) - 1, 0) for x in (start20, start22, start23))

    # The first segment must open a transaction or interchange (a carry starts at ST).
    if n and code[0] not in (ISA, ST):
        badmask[0] = True

    # -- step 4, fields. Level attributes: first non-empty value per HL group.
    def first_value(
        rows: np.ndarray, k: int, groups: np.ndarray, size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        st, en = tok.element(rows, k)
        idx = _first_per_group(groups[rows], en > st, size)
        return _at(st, idx), _at(en, idx)

    n20, n22, n23 = (int(g[-1]) + 1 if n else 0 for g in (g20, g22, g23))
    nm_major = major[nm1_rows]
    sel = nm1_rows[(nm_major == HL20) & (nm1_ent == E85)]
    b_npi = first_value(sel, 9, g20, n20)
    ref_rows = np.flatnonzero((code == REF) & (major == HL20) & (entity == E85))
    r1 = tok.pack(*tok.element(ref_rows, 1))
    b_ei = first_value(ref_rows[r1 == _key("EI")], 2, g20, n20)
    b_sy = first_value(ref_rows[r1 == _key("SY")], 2, g20, n20)
    sbr_rows = np.flatnonzero((code == SBR) & (major == HL22))
    s_filing = first_value(sbr_rows, 9, g22, n22)
    il = nm1_rows[(nm_major == HL22) & (nm1_ent == EIL)]
    s_last, s_first, s_member = (first_value(il, k, g22, n22) for k in (3, 4, 9))
    s_payer = first_value(nm1_rows[(nm_major == HL22) & (nm1_ent == EPR)], 9, g22, n22)
    qc = nm1_rows[(nm_major == HL23) & (nm1_ent == EQC)]
    d_last, d_first = (first_value(qc, k, g23, n23) for k in (3, 4))
    dmg_s = np.flatnonzero((code == DMG) & (major == HL22) & (entity == EIL))
    dmg_d = np.flatnonzero((code == DMG) & (major == HL23) & (entity == EQC))
    s_dob, s_sex = (first_value(dmg_s, k, g22, n22) for k in (2, 3))
    d_dob, d_sex = (first_value(dmg_d, k, g23, n23) for k in (2, 3))
    has22 = np.zeros(n22, bool)
    has22[g22[hl_level == HL22]] = True
    has23 = np.zeros(n23, bool)
    has23[g23[hl_level == HL23]] = True

    # Claims.
    clm_rows = np.flatnonzero(is_clm)
    nc = len(clm_rows)
    c20, c22, c23 = g20[clm_rows], g22[clm_rows], g23[clm_rows]
    cid = tok.element(clm_rows, 1)
    c5 = tok.element(clm_rows, 5)
    cpos = tok.component(*c5, 0)
    cfreq = tok.component(*c5, 2)
    dependent = has23[c23] if nc else np.zeros(0, bool)

    def pick(dep: Span, sub: Span) -> Span:
        return (
            np.where(dependent, dep[0][c23], sub[0][c22]),
            np.where(dependent, dep[1][c23], sub[1][c22]),
        )

    p_last, p_first = pick(d_last, s_last), pick(d_first, s_first)
    p_dob, p_sex = pick(d_dob, s_dob), pick(d_sex, s_sex)
    dob_ok, dob_days = _dates(tok, *p_dob)
    dob_present = p_dob[1] > p_dob[0]
    dob_ok &= (p_dob[1] - p_dob[0]) == 8
    in2300 = in_claim & (major == L2300)
    in2400 = in_claim & (major == L2400)
    rend_rows = nm1_rows[in2300[nm1_rows] & (nm1_ent == E82)]
    c_rend = first_value(rend_rows, 9, gc, nc)
    dtp_rows = np.flatnonzero(code == DTP)
    dq = tok.pack(*tok.element(dtp_rows, 1))
    d434 = dtp_rows[in2300[dtp_rows] & (dq == _key("434"))]
    d472 = dtp_rows[in2400[dtp_rows] & (dq == _key("472"))]
    ok434, s434, e434 = _period(tok, d434)
    badmask[d434[~ok434]] = True
    first434 = _first_per_group(gc[d434], ok434, nc)
    c_start, c_end = _at(s434, first434), _at(e434, first434)
    has434 = first434 >= 0

    # Diagnoses (HI in 2300): qualifier:code composites, at most 12 elements per segment.
    hi_rows = np.flatnonzero((code == HI) & in2300)
    badmask[hi_rows[tok.ne[hi_rows] > 12]] = True
    dx_claim, dx_st, dx_en, dx_order = [], [], [], []
    for k in range(1, 13):
        rows = hi_rows[tok.ne[hi_rows] >= k]
        st, en = tok.element(rows, k)
        q0, q1, _ = tok.component(st, en, 0)
        c0, c1, cp = tok.component(st, en, 1)
        qk = tok.pack(q0, q1)
        badmask[rows[~cp | (c1 - c0 > 8)]] = True
        isdx = np.isin(qk, [_key(x) for x in ("ABK", "ABF", "BK", "BF")]) & (c1 > c0)
        dx_claim.append(gc[rows[isdx]])
        dx_st.append(c0[isdx])
        dx_en.append(c1[isdx])
        dx_order.append(rows[isdx] * 16 + k)
    dx_claim_a = np.concatenate(dx_claim) if dx_claim else np.zeros(0, np.int64)
    order = np.argsort(np.concatenate(dx_order), kind="stable") if dx_order else np.zeros(0, int)
    dx_claim_a = dx_claim_a[order]
    dx_st_a = np.concatenate(dx_st)[order]
    dx_en_a = np.concatenate(dx_en)[order]
    dxw = tok.window(dx_st_a, dx_en_a, 8)
    bad_dx = ((dxw == ord(".")) | (dxw == 32)).any(axis=1)
    badmask[clm_rows[dx_claim_a[bad_dx]]] = True
    n_dx = np.bincount(dx_claim_a, minlength=nc)[:nc] if nc else np.zeros(0, int)

    # Service lines.
    lx_rows = np.flatnonzero(is_lx & in_claim)
    lx_gl = gl[lx_rows]
    nl_ = int(gl[-1]) + 1 if n else 0
    lnum = tok.element(lx_rows, 1)
    lw = lnum[1] - lnum[0]
    ld = _digits(tok, *lnum, 6)
    lnum_ok = (lw >= 1) & (lw <= 6)
    line_number = np.zeros(len(lx_rows), np.int64)
    for i, x in enumerate(ld):
        inside = i < lw
        lnum_ok &= ~inside | ((x >= 0) & (x <= 9))
        line_number = np.where(inside, line_number * 10 + x, line_number)
    badmask[lx_rows[~lnum_ok]] = True
    sv1_all = np.flatnonzero(code == SV1)
    badmask[sv1_all[~in2400[sv1_all]]] = True
    sv1_rows = sv1_all[in2400[sv1_all]]
    sv1_count = np.bincount(gl[sv1_rows], minlength=nl_)
    sv1_of = np.full(nl_, -1, np.int64)
    sv1_of[gl[sv1_rows]] = sv1_rows
    bad_lines = sv1_count[lx_gl] != 1
    badmask[lx_rows[bad_lines]] = True
    sv = sv1_of[lx_gl]
    sv = np.where(sv >= 0, sv, lx_rows)  # placeholder rows of bad lines (never emitted)
    e1 = tok.element(sv, 1)
    proc = tok.component(*e1, 1)
    badmask[lx_rows[proc[1] <= proc[0]]] = True
    charge_ok, charge = _numbers(tok, *tok.element(sv, 2))
    units_ok, units = _numbers(tok, *tok.element(sv, 4))
    badmask[lx_rows[~charge_ok | ~units_ok]] = True
    pos_st, pos_en = tok.element(sv, 5)
    p7 = tok.element(sv, 7)
    ok472, s472, e472 = _period(tok, d472)
    badmask[d472[~ok472]] = True
    f472 = _first_per_group(gl[d472], ok472, nl_)[lx_gl] if nl_ else np.zeros(0, np.int64)
    has472 = f472 >= 0
    l_start, l_end = _at(s472, f472), _at(e472, f472)
    lrend_rows = nm1_rows[in2400[nm1_rows] & (nm1_ent == E82)]
    l_rend = first_value(lrend_rows, 9, gl, nl_)
    lr_st, lr_en = l_rend[0][lx_gl], l_rend[1][lx_gl]
    line_claim = gc[lx_rows]
    n_lines = np.bincount(line_claim, minlength=nc)[:nc] if nc else np.zeros(0, int)

    # Claim checks (the columnar reader would quarantine these claims).
    claim_bad = (cid[1] <= cid[0]) | ~has22[c22] | (s_member[1][c22] <= s_member[0][c22])
    claim_bad |= dob_present & ~dob_ok
    claim_bad |= (n_lines == 0) | (n_dx > 12)
    badmask[clm_rows[claim_bad]] = True
    badmask |= _diagnosed(tok, code, major, entity, in2300, g20, final)

    # A non-final buffer ends before an ST (the driver cut it there): bytes after its last
    # terminator are the newlines before that ST.
    bad_idx = np.flatnonzero(badmask if final else badmask[:n])
    bad = int(bad_idx[0]) if len(bad_idx) else None
    if spaced_delimiters:
        bad = 0

    inside, transactions, env_bad = _envelope(tok, code)
    if len(env_bad):
        first = int(env_bad[0])
        bad = first if bad is None else min(bad, first)
    envelope = []  # the rows the driver's EnvelopeTracker checks (not in a whole interchange)
    for row in np.flatnonzero(is_env & ~inside):
        text = bytes(a[s[row] : t[row]]).decode("latin-1")
        envelope.append((int(row), ENVELOPE_NAMES[int(code[row])], text.split(delimiters.element)))
    isa_rows = np.flatnonzero(is_isa)
    claims_before_isa = np.cumsum(is_clm)[isa_rows] - is_clm[isa_rows]
    ix = np.cumsum(is_isa) - (1 if n and is_isa[0] else 0)

    assemble = dict(
        nkeep=nc,
        lines=np.arange(len(lx_rows)),
        line_claim=line_claim,
        control=[control0, *controls],
        claim_ix=ix[clm_rows],
        cols={
            "cid": cid,
            "cpos": cpos[:2],
            "cfreq": cfreq[:2],
            "filing": (s_filing[0][c22], s_filing[1][c22]),
            "payer": (s_payer[0][c22], s_payer[1][c22]),
            "ei": (b_ei[0][c20], b_ei[1][c20]),
            "sy": (b_sy[0][c20], b_sy[1][c20]),
            "npi": (b_npi[0][c20], b_npi[1][c20]),
            "member": (s_member[0][c22], s_member[1][c22]),
            "last": p_last,
            "first": p_first,
            "sex": p_sex,
        },
        rend=(lr_st, lr_en, c_rend, b_npi, c20),
        dependent=dependent,
        dob=(dob_present, dob_days),
        claim_dates=(has434, c_start, c_end),
        dx=(dx_claim_a, dx_st_a, dx_en_a),
        line_cols={
            "number": line_number,
            "e1": e1,
            "pos": (pos_st, pos_en),
            "p7": p7,
            "charge": charge,
            "units": units,
            "dates": (has472, l_start, l_end),
        },
        starts_with_isa=bool(n and is_isa[0]),
    )
    return _Fields(
        tok,
        assemble,
        bad,
        n,
        clm_rows,
        isa_rows,
        claims_before_isa,
        envelope,
        transactions,
    )


def _diagnosed(
    tok: Tokens,
    code: np.ndarray,
    major: np.ndarray,
    entity: np.ndarray,
    in2300: np.ndarray,
    g20: np.ndarray,
    final: bool,
) -> np.ndarray:
    """Segments the readers warn about although they read them (issue 17 item 4), so not
    proven clean: an HI element of a 2300 HI that is not a composite (``HI*BK*8901``), a
    CLM without CLM05-3, a second non-empty REF*EI in a 2010AA, an IEA of more than two
    elements (one without its terminator runs into the next ISA), and (slot ``n``) a final
    buffer that does not end with a terminator (an IEA without its own)."""
    n = len(code)
    out = np.zeros(n + 1, bool)
    hi = np.flatnonzero((code == HI) & in2300)
    for k in range(1, 13):
        rows = hi[tok.ne[hi] >= k]
        st, en = tok.element(rows, k)
        out[rows[(en > st) & ~tok.component(st, en, 1)[2]]] = True
    clm = np.flatnonzero(code == CLM)
    freq = tok.component(*tok.element(clm, 5), 2)
    out[clm[freq[1] <= freq[0]]] = True
    ref = np.flatnonzero((code == REF) & (major == HL20) & (entity == E85))
    ref_st, ref_en = tok.element(ref, 2)
    ei = ref[(tok.pack(*tok.element(ref, 1)) == _key("EI")) & (ref_en > ref_st)]
    out[ei[1:][g20[ei[1:]] == g20[ei[:-1]]]] = True
    out[:n] |= (code == IEA) & (tok.ne > 2)
    out[n] = final and (not len(tok.a) or tok.a[-1] != tok.term)
    return out


def _dates_col(has: np.ndarray, days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date).set(pl.Series(~has), None)


def _assemble(
    tok: Tokens,
    *,
    nkeep: int,
    lines: np.ndarray,
    line_claim: np.ndarray,
    claim_seq0: int,
    source: str,
    control: list[str],
    claim_ix: np.ndarray,
    cols: dict[str, Any],
    rend: tuple[Any, ...],  # line spans, claim Span, billing-NPI Span, claim -> 2010AA
    dependent: np.ndarray,
    dob: tuple[np.ndarray, ...],
    claim_dates: tuple[np.ndarray, ...],
    dx: tuple[Any, ...],
    line_cols: dict[str, Any],
    starts_with_isa: bool,
) -> pl.DataFrame:
    """The canonical table of the first ``nkeep`` claims (their ``lines``), strings made
    once per claim (or once per distinct value) and gathered onto lines."""
    k = slice(0, nkeep)
    strs = {name: tok.strings(st[k], en[k]) for name, (st, en) in cols.items()}
    dep = dependent[k]
    birth = _dates_col(dob[0][k], dob[1][k])
    claims = pl.DataFrame(
        {
            "claim_id": strs["cid"],
            "frequency": strs["cfreq"].fill_null("1"),
            "filing_indicator": strs["filing"],
            "payer_id": strs["payer"],
            "billing_npi": strs["npi"],
            "sex": strs["sex"],
            "claim_pos": strs["cpos"],
            "birth_date": birth,
            "_ei": strs["ei"],
            "_sy": strs["sy"],
            "_member": strs["member"],
            "_last": strs["last"],
            "_first": strs["first"],
            "_dep": pl.Series(dep, dtype=pl.Boolean),
            "_cstart": _dates_col(claim_dates[0][k], claim_dates[1][k]),
            "_cend": _dates_col(claim_dates[0][k], claim_dates[2][k]),
        }
    )
    ssns = claims["_sy"].drop_nulls().unique().to_list()
    ssn_tin = (
        pl.col("_sy").replace_strict(
            ssns, [pseudonymise_ssn(x) for x in ssns], default=None, return_dtype=pl.String
        )
        if ssns
        else pl.lit(None, pl.String)
    )
    deps = claims.filter(pl.col("_dep")).select("_member", "_last", "_first", "birth_date")
    dep_ids = {
        row: dependent_patient_id(row[0], row[1] or "", row[2] or "", row[3])
        for row in deps.unique().iter_rows()
    }
    name = pl.concat_str(pl.col("_last"), pl.col("_first"), separator=", ", ignore_nulls=True)
    claims = claims.with_columns(
        tin=pl.coalesce(pl.col("_ei"), ssn_tin),
        patient_name=pl.when(name != "").then(name),
    )
    if dep_ids:
        ids = pl.DataFrame(
            {
                "_member": [r[0] for r in dep_ids],
                "_last": [r[1] for r in dep_ids],
                "_first": [r[2] for r in dep_ids],
                "birth_date": [r[3] for r in dep_ids],
                "_dep_id": list(dep_ids.values()),
            },
            schema={
                "_member": pl.String,
                "_last": pl.String,
                "_first": pl.String,
                "birth_date": pl.Date,
                "_dep_id": pl.String,
            },
        )
        claims = claims.join(
            ids,
            on=["_member", "_last", "_first", "birth_date"],
            how="left",
            maintain_order="left",
            nulls_equal=True,
        )
    else:
        claims = claims.with_columns(_dep_id=pl.lit(None, pl.String))
    claims = claims.with_columns(
        patient_id=pl.when(pl.col("_dep")).then(pl.col("_dep_id")).otherwise(pl.col("_member"))
    )
    # Diagnoses: one list per claim, in segment order.
    dx_claim, dx_st, dx_en = dx
    dsel = dx_claim < nkeep
    codes = pl.DataFrame(
        {"c": dx_claim[dsel], "code": tok.strings(dx_st[dsel], dx_en[dsel], upper=True)}
    )
    lists = codes.group_by("c", maintain_order=True).agg(diagnosis_codes=pl.col("code"))
    claims = (
        claims.with_row_index("c")
        .with_columns(pl.col("c").cast(pl.Int64))
        .join(
            lists.with_columns(pl.col("c").cast(pl.Int64)),
            on="c",
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("diagnosis_codes").fill_null(pl.lit([], pl.List(pl.String))))
        .drop("c")
    )

    # Lines.
    lc = line_claim[lines]
    lcols = {k2: v for k2, v in line_cols.items()}
    e1st, e1en = lcols["e1"][0][lines], lcols["e1"][1][lines]
    p7st, p7en = lcols["p7"][0][lines], lcols["p7"][1][lines]
    has472, l_start, l_end = (x[lines] for x in lcols["dates"])
    lr_st, lr_en, c_rend, b_npi, c20 = rend
    cr_st, cr_en = c_rend[0][lc], c_rend[1][lc]
    bn_st, bn_en = b_npi[0][c20[lc]], b_npi[1][c20[lc]]
    lr_st, lr_en = lr_st[lines], lr_en[lines]
    use_line = lr_en > lr_st
    use_claim = ~use_line & (cr_en > cr_st)
    r_st = np.where(use_line, lr_st, np.where(use_claim, cr_st, bn_st))
    r_en = np.where(use_line, lr_en, np.where(use_claim, cr_en, bn_en))
    frame = pl.DataFrame(
        {
            "_c": pl.Series(lc, dtype=pl.Int64),
            "line_number": pl.Series(lcols["number"][lines], dtype=pl.Int32),
            "_e1": tok.strings(e1st, e1en).fill_null(""),
            "line_pos": tok.strings(*(x[lines] for x in lcols["pos"])),
            "charge": pl.Series(lcols["charge"][lines], dtype=pl.Float64).fill_nan(None),
            "units": pl.Series(lcols["units"][lines], dtype=pl.Float64).fill_nan(None),
            "rendering_npi": tok.strings(r_st, r_en),
            "_e7": tok.strings(p7st, p7en).fill_null(""),
            "_lstart": _dates_col(has472, l_start),
            "_lend": _dates_col(has472, l_end),
        }
    )
    comp = chr(tok.comp)
    sv101 = pl.col("_e1").str.to_uppercase().str.split(comp, literal=True)
    frame = _by_value(
        frame,
        "_e1",
        procedure_code=sv101.list.get(1, null_on_oob=True),
        modifiers=sv101.list.slice(2, 4).list.eval(pl.element().filter(pl.element() != "")),
    )
    frame = _by_value(
        frame,
        "_e7",
        diagnosis_pointers=pl.col("_e7")
        .str.split(comp, literal=True)
        .cast(pl.List(pl.Int8), strict=False)
        .list.drop_nulls(),
        _ptr_ok=pl.col("_e7").str.contains(_POINTERS.replace("C", re.escape(comp))),
    )
    ctl = pl.Series(control, dtype=pl.String)
    cix = claim_ix[:nkeep] + (1 if starts_with_isa else 0)
    claims = claims.with_columns(
        interchange_control=ctl.gather(pl.Series(np.minimum(cix, len(control) - 1))),
        _ix=pl.Series(claim_ix[:nkeep], dtype=pl.Int64),
        claim_seq=pl.Series(np.arange(nkeep, dtype=np.int64) + claim_seq0),
    )
    joined = pl.concat([frame, claims.select(pl.all().gather(frame["_c"]))], how="horizontal")
    has_line = pl.col("_lstart").is_not_null()
    table = joined.select(
        source=pl.lit(source, pl.String),
        interchange_control="interchange_control",
        claim_seq="claim_seq",
        claim_id="claim_id",
        frequency="frequency",
        filing_indicator="filing_indicator",
        payer_id="payer_id",
        tin="tin",
        billing_npi="billing_npi",
        rendering_npi="rendering_npi",
        patient_id="patient_id",
        patient_name="patient_name",
        birth_date="birth_date",
        sex="sex",
        claim_pos="claim_pos",
        diagnosis_codes="diagnosis_codes",
        line_number="line_number",
        procedure_code="procedure_code",
        modifiers="modifiers",
        line_pos="line_pos",
        charge="charge",
        units="units",
        service_date=pl.when(has_line).then(pl.col("_lstart")).otherwise(pl.col("_cstart")),
        service_date_end=pl.when(has_line).then(pl.col("_lend")).otherwise(pl.col("_cend")),
        diagnosis_pointers="diagnosis_pointers",
        _ix="_ix",
        _ptr_ok="_ptr_ok",
    )
    return table.cast({k2: v for k2, v in CLAIM_LINE_SCHEMA.items()})


# Every non-empty component of SV107 is a pointer 1-12 (rules.POINTER_RE); C = component.
_POINTERS = r"^(?:(?:0?[1-9]|1[0-2])?(?:C(?:0?[1-9]|1[0-2])?)*)$"


def _by_value(frame: pl.DataFrame, column: str, **exprs: pl.Expr) -> pl.DataFrame:
    """``frame`` plus ``exprs`` of ``column``, computed once per distinct value."""
    distinct = frame.select(pl.col(column).unique()).with_columns(**exprs)
    return frame.join(distinct, on=column, how="left", maintain_order="left", nulls_equal=True)


# Envelope segments that may follow each envelope segment (non-envelope segments only
# between ST and SE).
_NEXT = {ISA: (GS,), GS: (ST,), ST: (SE,), SE: (ST, GE), GE: (GS, IEA), IEA: (ISA,)}
_FOLLOWS = np.zeros((IEA + 1, IEA + 1), bool)
for _tag, _nexts in _NEXT.items():
    _FOLLOWS[_tag, list(_nexts)] = True


def _envelope(tok: Tokens, code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The envelope checks of ``EnvelopeTracker`` for every interchange whose ISA and IEA
    are both in the buffer, vectorized (a many-interchange file costs no Python per
    interchange). Stricter than the tracker where it only warns or is silent, never looser:
    ISA GS ST..SE GE IEA order, GS01 HC and GS08 005010X222(A1), ST01 837 and ST03 empty or
    005010X222(A1), SE01/GE01/IEA01 counts written plainly, SE02/GE02/IEA02 equal to
    ST02/GS06/ISA13. Returns (per segment: inside such an interchange; per ISA: its STs,
    -1 when its IEA is not in the buffer; sorted rows that fail)."""
    n = len(code)
    is_env = code >= ISA
    env = np.flatnonzero(is_env)
    ec = code[env]
    isa_at = np.flatnonzero(ec == ISA)
    transactions = np.full(len(isa_at), -1, np.int64)
    inside = np.zeros(n, bool)
    # Non-envelope segments only inside a transaction (anywhere in the buffer).
    last_env = _ffill(is_env, code, ST)
    bad = [np.flatnonzero(~is_env & (last_env != ST))]
    if not len(isa_at):
        return inside, transactions, np.concatenate(bad)
    # Interchange k of the buffer: env entries isa_at[k] .. its IEA (the first IEA after).
    iea_at = np.flatnonzero(ec == IEA)
    nxt = np.minimum(np.searchsorted(iea_at, isa_at), len(iea_at))
    padded = np.append(iea_at, len(ec))
    whole = padded[nxt] < np.append(isa_at[1:], len(ec))  # its IEA before the next ISA
    k_env = np.cumsum(ec == ISA) - 1  # interchange of each env entry (-1: the carried one)
    in_whole = (k_env >= 0) & whole[np.maximum(k_env, 0)]
    rows = env[in_whole]
    if not len(rows):
        return inside, transactions, np.concatenate(bad)
    ecw = ec[in_whole]
    kw = k_env[in_whole]
    first_row = rows[np.searchsorted(kw, np.flatnonzero(whole))]
    last_row = env[iea_at[nxt[whole]]]
    span = np.zeros(n + 1, np.int64)
    np.add.at(span, first_row, 1)
    np.add.at(span, last_row + 1, -1)
    inside = np.cumsum(span)[:n] > 0
    # Order: each entry may follow the one before (an ISA's predecessor is checked in
    # read_block: an IEA or the buffer's start).
    prev = np.append(IEA, ecw[:-1])
    bad.append(rows[(ecw != ISA) & ~_FOLLOWS[prev, ecw]])

    def is_text(rows: np.ndarray, k: int, *texts: str) -> np.ndarray:
        st, en = tok.element(rows, k)
        ok = np.zeros(len(rows), bool)
        for text in texts:
            raw = text.encode("ascii")
            if not raw:
                ok |= en == st
                continue
            w = tok.window(st, en, max(len(raw), 1))
            ok |= ((en - st) == len(raw)) & (w == np.frombuffer(raw, np.uint8)).all(axis=1)
        return ok

    def same(rows: np.ndarray, k: int, other: np.ndarray, j: int) -> np.ndarray:
        st, en = tok.element(rows, k)
        ost, oen = tok.element(other, j)
        width = int(max((en - st).max(), 1)) if len(rows) else 1
        equal: np.ndarray = ((en - st) == (oen - ost)) & (
            tok.window(st, en, width) == tok.window(ost, oen, width)
        ).all(axis=1)
        return equal

    def count_is(rows: np.ndarray, k: int, expected: np.ndarray) -> np.ndarray:
        st, en = tok.element(rows, k)
        size = en - st
        w = tok.window(st, en, 9).astype(np.int64) - 48
        j = np.arange(9)
        inner = j < size[:, None]
        digits = ((w >= 0) & (w <= 9)) | ~inner
        value = np.zeros(len(rows), np.int64)
        for i in range(9):
            value = np.where(inner[:, i], value * 10 + w[:, i], value)
        plain = (size >= 1) & (size <= 9) & ((w[:, 0] != 0) | (size == 1))
        counted: np.ndarray = plain & digits.all(axis=1) & (value == expected)
        return counted

    last = {tag: _ffill(ecw == tag, rows, -1) for tag in (ISA, GS, ST)}
    st_seen = np.cumsum(ecw == ST)
    gs_seen = np.cumsum(ecw == GS)
    at = {tag: np.flatnonzero(ecw == tag) for tag in (GS, ST, SE, GE, IEA)}
    gs, st_ = rows[at[GS]], rows[at[ST]]
    bad.append(gs[~is_text(gs, 1, "HC") | ~is_text(gs, 8, "005010X222", "005010X222A1")])
    bad.append(st_[~is_text(st_, 1, "837") | ~is_text(st_, 3, "", "005010X222", "005010X222A1")])
    se = at[SE]
    se_ok = count_is(rows[se], 1, rows[se] - last[ST][se] + 1)
    se_ok &= same(rows[se], 2, last[ST][se], 2)
    bad.append(rows[se][~se_ok])
    # STs since the group's GS (env entry index of that GS: by its row).
    ge = at[GE]
    gs_entry = np.searchsorted(rows, last[GS][ge])
    ge_ok = count_is(rows[ge], 1, st_seen[ge] - st_seen[gs_entry])
    ge_ok &= same(rows[ge], 2, last[GS][ge], 6)
    bad.append(rows[ge][~ge_ok])
    iea = at[IEA]
    isa_entry = np.searchsorted(rows, last[ISA][iea])
    iea_ok = count_is(rows[iea], 1, gs_seen[iea] - gs_seen[isa_entry])
    iea_ok &= same(rows[iea], 2, last[ISA][iea], 13)
    bad.append(rows[iea][~iea_ok])
    per_isa = np.bincount(kw, weights=ecw == ST, minlength=len(isa_at)).astype(np.int64)
    transactions[whole] = per_isa[whole]
    return inside, transactions, np.unique(np.concatenate(bad))


def last_transaction_start(data: bytes, d: Delimiters) -> int:
    """Byte offset of the last ST segment of ``data`` (0 if none): where a buffer that does
    not end its interchange is cut, the rest carried into the next one.

    A segment starts after a terminator and any CR/LF (as :class:`Tokens` reads it), so an
    ``ST`` inside an element value is not taken for one."""
    term, ele = ord(d.segment), d.element.encode("latin-1")
    newline = {10, 13} - {term, ord(d.element), ord(d.component)}
    at = len(data)
    while (at := data.rfind(b"ST" + ele, 0, at)) > 0:
        j = at
        while j > 0 and data[j - 1] in newline:
            j -= 1
        if j > 0 and data[j - 1] == term:
            return at
    return 0
