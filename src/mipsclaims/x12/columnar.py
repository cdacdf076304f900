"""Columnar path: 837P bytes -> the canonical claim-line table, in polars, batch by batch.

No Python object per segment or line. A piece of input is cut into segments by polars'
CSV reader (segment terminator as the line end), each segment's tag is sliced off, and
the loop context (the same rules as :mod:`.stream`) is forward-filled over small integer
columns. Only then are the few segment kinds we need (HL, NM1, REF, DMG, SBR, CLM, HI,
LX, SV1, DTP) split into elements, each on its own subset. Attributes of HL loops, claims
and service lines are aggregated per group id and joined onto the lines.

A batch stops at the last claim or HL boundary; the incomplete tail is carried into the
next batch with the attributes of the HL loops still open, so memory is bounded by the
batch size, not the file size. Byte offsets are computed only for segments a message
names.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from ..claims import dependent_patient_id
from ..schema import CLAIM_LINE_SCHEMA, empty_claim_lines, pseudonymise_ssn, short_hash
from . import rules
from .envelope import DEFAULT_BLOCK, ENVELOPE_TAGS, EnvelopeTracker, Piece, Source, iter_pieces
from .envelope import source_name as _source_name
from .report import Issue, Location, QuarantinedClaim, ReadReport
from .stream import _raise_if_nothing_read

_WS = " \t\r\n"
_ENV = sorted(ENVELOPE_TAGS)
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


def _e(i: int) -> pl.Expr:
    """Element ``i`` of the segment (a column made by :func:`_fields`; null when absent)."""
    return pl.col(f"e{i}")


def _nz(expr: pl.Expr) -> pl.Expr:
    """Null for empty strings, so that 'first non-empty' is 'first non-null'."""
    return pl.when(expr != "").then(expr)


_NCOL = 14  # elements 0..13 kept: enough for HI01-HI12, ISA13 and every field we read
_ECOLS = tuple(f"e{i}" for i in range(1, _NCOL))


def _take(frame: pl.DataFrame, predicate: pl.Expr, *columns: str) -> pl.DataFrame:
    """Rows matching ``predicate``, only ``columns`` (projected before filtering)."""
    return frame.lazy().filter(predicate).select(columns).collect()


def _fields(frame: pl.DataFrame, used: tuple[int, ...], strip: bool = True) -> pl.DataFrame:
    """Strip the element columns ``used`` (whitespace around elements is not data)."""
    if not strip:
        return frame
    return frame.with_columns(pl.col(f"e{i}").str.strip_chars(_WS) for i in used)


def _padded(piece: Piece) -> bool:
    """Whether any element may carry whitespace at its ends (else stripping is skipped)."""
    d = piece.delimiters
    data = piece.data
    marks = (d.element.encode("latin-1"), d.segment.encode("latin-1"))
    # The ISA's fixed-width fields are padded by design; they are read by the chunker.
    start = data.find(marks[1]) + 1 if data.startswith(b"ISA") else 0
    return any(
        data.find(ws + mark, start) >= 0 or (mark == marks[0] and data.find(mark + ws, start) >= 0)
        for ws in (b" ", b"\t", b"\r", b"\n")
        for mark in marks
    )


def _dates(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(rules.DATE_RE)).then(expr.str.to_date("%Y%m%d", strict=False))


def _period(qualifier: pl.Expr, value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Start and end of a DTP D8/RD8 value; both null when malformed (rules.parse_period)."""
    is_range = qualifier == "RD8"
    shape_ok = pl.when(is_range).then(value.str.contains(rules.RANGE_RE))
    shape_ok = shape_ok.otherwise(value.str.contains(rules.DATE_RE))
    start = value.str.slice(0, 8).str.to_date("%Y%m%d", strict=False)
    end = pl.when(is_range).then(value.str.slice(9, 8)).otherwise(value.str.slice(0, 8))
    end = end.str.to_date("%Y%m%d", strict=False)
    ok = shape_ok & start.is_not_null() & end.is_not_null()
    return pl.when(ok).then(start), pl.when(ok).then(end)


def _hi_parts(hi: pl.DataFrame) -> pl.DataFrame:
    """HI composites as a list per segment (only the element columns that hold any)."""
    used = [c for c in _ECOLS[:12] if hi[c].null_count() < hi.height] or ["e1"]
    return hi.select("gc", part=pl.concat_list(used).list.drop_nulls())


def _number(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(rules.NUMBER_RE)).then(expr.cast(pl.Float64, strict=False))


class _Offsets:
    """Byte offsets of the segments of one piece, computed only when a message needs one."""

    def __init__(self, piece: Piece) -> None:
        self.piece = piece
        self.term = piece.delimiters.segment.encode("latin-1")
        self._ends: list[int] | None = None

    def __call__(self, raw_index: int) -> int:
        if self._ends is None:
            step = len(self.term)
            lengths = (len(part) + step for part in self.piece.data.split(self.term))
            self._ends = list(itertools.accumulate(lengths))
        data = self.piece.data
        start = 0 if raw_index == 0 else self._ends[raw_index - 1]
        while start < len(data) and data[start] in b" \t\r\n":
            start += 1
        return self.piece.byte_offset + start


@dataclass
class _Carry:
    """State between batches: counters and the attributes of the HL loops still open."""

    segment: int = 0
    claim_seq: int = 0
    line: int = 0
    group: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LEVEL_KEYS, 0))
    attrs: dict[str, pl.DataFrame] = field(default_factory=dict)
    tail: pl.DataFrame | None = None


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

    def run(self, batch_bytes: int) -> Iterator[pl.DataFrame]:
        for number, piece in enumerate(iter_pieces(self.source, self.report, batch_bytes)):
            self.pieces[number] = _Offsets(piece)
            self.strip = self.strip or _padded(piece)
            rows = self._tokenise(piece, number)
            if self.carry.tail is not None:
                rows = pl.concat([self.carry.tail, rows])
                self.carry.tail = None
            if rows.height and not piece.final:
                boundary = pl.col("tag").is_in(["CLM", "HL", *_ENV])
                idx = rows.select(pl.arg_where(boundary).last()).item()
                if idx is not None:
                    self.carry.tail = rows.slice(idx)
                    rows = rows.slice(0, idx)
            frame = self._process(rows, piece) if rows.height else None
            # Forget pieces no carried row refers to (their offsets can't be asked for).
            keep = number if self.carry.tail is None else int(self.carry.tail["raw"][0]) >> 32
            for old in [k for k in self.pieces if k < min(keep, number)]:
                del self.pieces[old]
            if frame is not None and frame.height:
                yield frame

    def offset(self, raw: int) -> int:
        """Byte offset of the segment whose key is ``raw`` (piece number << 32 | index)."""
        return self.pieces[raw >> 32](raw & 0xFFFFFFFF)

    def _tokenise(self, piece: Piece, number: int) -> pl.DataFrame:
        """Segments of a piece: raw index, segment number, stripped text and tag."""
        d = piece.delimiters
        ele = d.element
        # polars' CSV reader cuts segments (terminator = line end) into elements
        # (separator = element separator) in one parallel pass; the all-empty first row
        # fixes the column count, longer segments are truncated to the elements we read.
        header = (ele * (_NCOL - 1) + d.segment).encode("latin-1")
        table = pl.read_csv(
            header + piece.data,
            has_header=False,
            new_columns=["e0", *_ECOLS],
            separator=ele,
            eol_char=d.segment,
            quote_char=None,
            infer_schema=False,
            truncate_ragged_lines=True,
            encoding="utf8-lossy",
        ).slice(1)
        frame = (
            table.with_columns(
                tag=pl.col("e0").str.strip_chars(_WS).fill_null(""),
                raw=pl.int_range(pl.len(), dtype=pl.Int64) + (number << 32),
            )
            .drop("e0")
            .filter((pl.col("tag") != "") | pl.any_horizontal(pl.col(_ECOLS).is_not_null()))
        )
        n = frame.height
        first = self.carry.segment + 1
        self.carry.segment += n
        frame = frame.with_columns(segno=pl.int_range(first, first + n, dtype=pl.Int64))
        if piece.interchange == self.skip:
            return frame.clear()
        envelope = frame.filter(pl.col("tag").is_in(_ENV)).select("tag", "segno", "raw", *_ECOLS)
        for tag, segno, raw_i, *elements in envelope.iter_rows():
            el = [tag, *(e or "" for e in elements)]
            problem = self.tracker.feed(tag, el, segno, lambda r=raw_i: self.offset(r))
            if problem:
                self.tracker.fail(segno, self.offset(raw_i), problem)
                self.skip = piece.interchange
                frame = frame.filter(pl.col("segno") < segno)
                break
        return frame

    def _process(self, rows: pl.DataFrame, piece: Piece) -> pl.DataFrame:
        carry = self.carry
        ele, comp = piece.delimiters.element, piece.delimiters.component
        tag = pl.col("tag")
        rows = rows.with_row_index("i")
        # HL level and NM1 entity, computed on their subsets and scattered back.
        n = rows.height
        hl = _fields(_take(rows, tag == "HL", "i", "e3"), (3,), self.strip).select("i", code=_e(3))
        hl_code = pl.Series("hl", [None] * 0, pl.Int8).extend_constant(None, n)
        hl_code = hl_code.scatter(
            hl["i"],
            hl["code"]
            .fill_null("")
            .replace_strict(_HL_CODES, default=HL_OTHER, return_dtype=pl.Int8),
        )
        nm1 = _fields(_take(rows, tag == "NM1", "i", "e1"), (1,), self.strip).select(
            "i", code=_e(1)
        )
        nm1_code = pl.Series("nm1", [], pl.Int8).extend_constant(None, n)
        nm1_code = nm1_code.scatter(
            nm1["i"], nm1["code"].replace_strict(_ENTITY, default=99, return_dtype=pl.Int8)
        )
        is_env = tag.is_in(_ENV)
        f = rows.with_columns(hl=hl_code, nm1=nm1_code)
        f = f.with_columns(
            in_claim=pl.when(tag == "CLM")
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
            .when(tag == "CLM")
            .then(pl.lit(L2300, pl.Int8))
            .when((tag == "LX") & pl.col("in_claim"))  # an orphan LX opens no loop
            .then(pl.lit(L2400, pl.Int8))
        )
        f = f.with_columns(
            marker2=pl.when(pl.col("marker1").is_not_null())
            .then(pl.col("marker1"))
            .when((tag == "SBR") & (pl.col("marker1").forward_fill() == L2300))
            .then(pl.lit(L2320, pl.Int8))
        )
        hlc = pl.col("hl")
        start20 = (hlc == HL20) | (tag == "ST")
        start22 = start20 | (hlc == HL22)
        start23 = start22 | (hlc == HL23)
        f = f.with_columns(
            major=pl.col("marker2").forward_fill().fill_null(ENV),
            entity=pl.when(pl.col("marker2").is_not_null())
            .then(pl.lit(0, pl.Int8))
            .otherwise(pl.col("nm1"))
            .forward_fill()
            .fill_null(0),
            gc=tag.eq("CLM").cum_sum().cast(pl.Int64) + (carry.claim_seq - 1),
            gl=tag.eq("LX").cum_sum().cast(pl.Int64) + carry.line,
            g20=start20.fill_null(False).cum_sum().cast(pl.Int64) + carry.group["20"],
            g22=start22.fill_null(False).cum_sum().cast(pl.Int64) + carry.group["22"],
            g23=start23.fill_null(False).cum_sum().cast(pl.Int64) + carry.group["23"],
            s20=start20.fill_null(False),
            s22=start22.fill_null(False),
            s23=start23.fill_null(False),
        ).drop("marker1", "marker2", "nm1")

        levels = {lv: self._level(f, lv, ele) for lv in _LEVEL_KEYS}

        orphans = _take(f, (tag == "LX") & ~pl.col("in_claim"), "segno", "raw")
        for segno, raw_i in orphans.select("segno", "raw").iter_rows():
            self.report.warnings.append(
                Issue(
                    Location(self.name, segno, self.offset(raw_i)),
                    "service line (LX) outside a claim ignored",
                )
            )
        claims, lines, errors = self._claims(f, levels, comp)

        n_clm = int(f.select(tag.eq("CLM").sum()).item())
        n_lx = int(f.select(tag.eq("LX").sum()).item())
        self.report.claims_seen += n_clm
        carry.claim_seq += n_clm
        carry.line += n_lx
        for lv in _LEVEL_KEYS:
            last = levels[lv].tail(1)
            carry.group[lv] = int(last["g"].item())
            carry.attrs[lv] = last
        return self._assemble(claims, lines, errors, piece)

    def _level(self, f: pl.DataFrame, lv: str, ele: str) -> pl.DataFrame:
        """Attributes of every HL loop of level ``lv`` in this batch (plus the carried one)."""
        tag, ent = pl.col("tag"), pl.col("entity")
        g = f"g{lv}"
        code = _HL_CODES[lv]
        values: dict[str, pl.Expr] = {"has": (pl.col("hl") == code).fill_null(False)}
        if lv == "20":
            ref = (tag == "REF") & (ent == _ENTITY["85"])
            values["npi"] = pl.when((tag == "NM1") & (ent == _ENTITY["85"])).then(_nz(_e(9)))
            values["EI"] = pl.when(ref & (_e(1) == "EI")).then(_nz(_e(2)))
            values["SY"] = pl.when(ref & (_e(1) == "SY")).then(_nz(_e(2)))
        else:
            who = _ENTITY["IL"] if lv == "22" else _ENTITY["QC"]
            nm1 = (tag == "NM1") & (ent == who)
            dmg = (tag == "DMG") & (ent == who)
            values["last"] = pl.when(nm1).then(_nz(_e(3)))
            values["first"] = pl.when(nm1).then(_nz(_e(4)))
            values["dob"] = pl.when(dmg).then(_nz(_e(2)))
            values["sex"] = pl.when(dmg).then(_nz(_e(3)))
            if lv == "22":
                payer = (tag == "NM1") & (ent == _ENTITY["PR"])
                values["filing"] = pl.when(tag == "SBR").then(_nz(_e(9)))
                values["payer"] = pl.when(payer).then(_nz(_e(9)))
                values["member"] = pl.when(nm1).then(_nz(_e(9)))
        keys = ("has", *_LEVEL_KEYS[lv])
        base = self.carry.group[lv]
        useful = pl.col(f"s{lv}") | (
            (pl.col("major") == code) & tag.is_in(["NM1", "REF", "DMG", "SBR"])
        )
        subset = _take(
            f, useful & (pl.col(g) > base), g, "tag", "hl", "entity", "e1", "e2", "e3", "e4", "e9"
        )
        own = (
            _fields(subset, (1, 2, 3, 4, 9), self.strip)
            .select(g, **values)
            .group_by(g, maintain_order=True)
            .agg(pl.col("has").first(), pl.col(*_LEVEL_KEYS[lv]).drop_nulls().first())
            .rename({g: "g"})
            .select("g", *keys)
        )
        carried = self.carry.attrs[lv].select("g", *keys)
        return pl.concat([carried, own.cast(carried.schema)])

    def _claims(
        self, f: pl.DataFrame, levels: dict[str, pl.DataFrame], comp: str
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        tag, major, ent = pl.col("tag"), pl.col("major"), pl.col("entity")
        keys = ("gc", "gl", "segno", "raw")
        in_claim = pl.col("in_claim")
        in2400 = in_claim & (major == L2400)
        # Claim header (one row per CLM).
        clm05 = _e(5).str.split(comp, literal=True)
        clm = _take(f, tag == "CLM", "gc", "g20", "g22", "g23", "segno", "raw", "e1", "e5")
        head = _fields(clm, (1, 5), self.strip).select(
            "gc",
            "g20",
            "g22",
            "g23",
            "segno",
            "raw",
            claim_id=_nz(_e(1)),
            claim_pos=_nz(clm05.list.get(0, null_on_oob=True).str.strip_chars(_WS)),
            frequency=_nz(clm05.list.get(2, null_on_oob=True).str.strip_chars(_WS)).fill_null("1"),
        )
        in2300 = _fields(
            _take(
                f,
                in_claim & (major == L2300) & tag.is_in(["HI", "NM1", "DTP", "SV1"]),
                *keys,
                "tag",
                "entity",
                *_ECOLS,
            ),
            (1, 2, 3, 9),
            self.strip,
        )
        dtp434 = (tag == "DTP") & (_e(1) == "434")
        s434, e434 = _period(_e(2).fill_null(""), _e(3).fill_null(""))
        in2300 = in2300.with_columns(
            s434=pl.when(dtp434).then(s434),
            e434=pl.when(dtp434).then(e434),
            rend=pl.when((tag == "NM1") & (ent == _ENTITY["82"])).then(_nz(_e(9))),
        )
        claim_attrs = in2300.group_by("gc").agg(
            claim_rend=pl.col("rend").drop_nulls().first(),
            claim_start=pl.col("s434").drop_nulls().first(),
            claim_end=pl.col("e434").drop_nulls().first(),
        )
        hi = (
            _hi_parts(in2300.filter(tag == "HI"))
            .explode("part")
            .with_columns(part=pl.col("part").str.split(comp, literal=True))
            .filter(pl.col("part").list.len() > 1)
            .select(
                "gc",
                q=pl.col("part").list.get(0).str.strip_chars(_WS),
                code=pl.col("part")
                .list.get(1)
                .str.strip_chars(_WS)
                .str.replace_all(".", "", literal=True)
                .str.replace_all(" ", "", literal=True)
                .str.to_uppercase(),
            )
            .filter(pl.col("q").is_in(rules.DIAGNOSIS_QUALIFIERS) & (pl.col("code") != ""))
            .group_by("gc", maintain_order=True)
            .agg(diagnosis_codes=pl.col("code"), n_dx=pl.len())
        )
        row_err_2300 = in2300.select(
            "gc",
            "segno",
            "raw",
            loop=pl.lit("2300"),
            reason=pl.when(dtp434 & pl.col("s434").is_null())
            .then(pl.lit(rules.BAD_CLAIM_DATE))
            .when(tag == "SV1")
            .then(pl.lit(rules.SV1_OUTSIDE_LINE)),
        )

        # SV1: every one is checked, the first of each line is used.
        sv1 = _fields(
            _take(f, in2400 & (tag == "SV1"), *keys, "e1", "e2", "e4", "e5", "e7"),
            (1, 2, 4, 5, 7),
            self.strip,
        )
        sv101 = _e(1).fill_null("").str.split(comp, literal=True)
        ptrs = (
            _e(7)
            .fill_null("")
            .str.split(comp, literal=True)
            .list.eval(pl.element().str.strip_chars(_WS))
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        sv1 = sv1.with_columns(sv101=sv101, ptrs=ptrs, charge=_e(2), units=_e(4), pos=_e(5))
        proc = pl.col("sv101").list.get(1, null_on_oob=True).str.strip_chars(_WS).fill_null("")
        charge, units = pl.col("charge").fill_null(""), pl.col("units").fill_null("")
        sv1_err = sv1.select(
            "gc",
            "segno",
            "raw",
            loop=pl.lit("2400"),
            reason=pl.when(proc == "")
            .then(pl.lit(rules.NO_PROCEDURE))
            .when((charge != "") & ~charge.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_CHARGE))
            .when((units != "") & ~units.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_UNITS))
            .when(~pl.col("ptrs").list.eval(pl.element().str.contains(rules.POINTER_RE)).list.all())
            .then(pl.lit(rules.BAD_POINTER)),
        )
        sv1_first = sv1.filter(pl.col("gl").is_first_distinct()).select(
            "gl", "sv101", "ptrs", "charge", "units", "pos", sv1_segno="segno"
        )
        dtp = _fields(
            _take(f, in2400 & (tag == "DTP"), *keys, "e1", "e2", "e3"), (1, 2, 3), self.strip
        ).filter(_e(1) == "472")
        dtp = dtp.with_columns(pl.col("e2", "e3").fill_null(""))
        s472, e472 = _period(_e(2), _e(3))
        dtp = dtp.with_columns(s472=s472, e472=e472)
        dtp_err = dtp.filter(pl.col("s472").is_null()).select(
            "gc", "segno", "raw", loop=pl.lit("2400"), reason=pl.lit(rules.BAD_SERVICE_DATE)
        )
        dtp_first = (
            dtp.filter(pl.col("s472").is_not_null())
            .filter(pl.col("gl").is_first_distinct())
            .select("gl", line_start="s472", line_end="e472")
        )
        rend = (
            _fields(
                _take(f, in2400 & (tag == "NM1") & (ent == _ENTITY["82"]), "gl", "e9"),
                (9,),
                self.strip,
            )
            .with_columns(line_rend=_nz(_e(9)))
            .filter(pl.col("line_rend").is_not_null())
            .filter(pl.col("gl").is_first_distinct())
            .select("gl", "line_rend")
        )
        lx = (
            _fields(_take(f, in2400 & (tag == "LX"), *keys, "e1"), (1,), self.strip)
            .select("gc", "gl", "segno", "raw", number=_e(1).fill_null(""))
            .join(sv1_first, on="gl", how="left")
            .join(dtp_first, on="gl", how="left")
            .join(rend, on="gl", how="left")
        )
        lx_err = lx.select(
            "gc",
            "segno",
            "raw",
            loop=pl.lit("2400"),
            reason=pl.when(~pl.col("number").str.contains(rules.LINE_NUMBER_RE))
            .then(pl.lit(rules.BAD_LINE_NUMBER))
            .when(pl.col("sv1_segno").is_null())
            .then(pl.lit(rules.NO_SV1)),
        )

        l20, l22, l23 = (levels[k] for k in ("20", "22", "23"))
        n_lines = lx.group_by("gc").agg(n_lines=pl.len())
        head = (
            head.join(claim_attrs, on="gc", how="left")
            .join(hi, on="gc", how="left")
            .join(n_lines, on="gc", how="left")
            .join(l20.rename(lambda n: f"b_{n}"), left_on="g20", right_on="b_g", how="left")
            .join(l22.rename(lambda n: f"s_{n}"), left_on="g22", right_on="s_g", how="left")
            .join(l23.rename(lambda n: f"d_{n}"), left_on="g23", right_on="d_g", how="left")
        )
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
        errors = (
            pl.concat(
                [
                    head.select("gc", "segno", "raw", loop=pl.lit("2300"), reason="clm_error"),
                    row_err_2300,
                    sv1_err,
                    dtp_err,
                    lx_err,
                ]
            )
            .filter(pl.col("reason").is_not_null())
            .sort("segno")
            .unique("gc", keep="first", maintain_order=True)
            .join(head.select("gc", "claim_id"), on="gc", how="left")
        )
        return head, lx, errors

    def _assemble(
        self,
        head: pl.DataFrame,
        lx: pl.DataFrame,
        errors: pl.DataFrame,
        piece: Piece,
    ) -> pl.DataFrame:
        for gc, segno, raw_i, loop, reason, claim_id in errors.select(
            "gc", "segno", "raw", "loop", "reason", "claim_id"
        ).iter_rows():
            self.report.quarantined.append(
                QuarantinedClaim(
                    gc,
                    short_hash(claim_id or ""),
                    Location(self.name, segno, self.offset(raw_i), loop),
                    reason,
                )
            )
        if errors.height:
            head = head.filter(~pl.col("gc").is_in(errors["gc"].implode()))
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
        sv101 = pl.col("sv101")
        has_line_date = pl.col("line_start").is_not_null()
        table = lx.join(head, on="gc", how="inner").select(
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
            procedure_code=sv101.list.get(1).str.strip_chars(_WS).str.to_uppercase(),
            modifiers=sv101.list.slice(2, 4).list.eval(
                pl.element()
                .str.strip_chars(_WS)
                .str.to_uppercase()
                .filter(pl.element().str.strip_chars(_WS) != "")
            ),
            line_pos=_nz(pl.col("pos")),
            charge=_number(pl.col("charge")),
            units=_number(pl.col("units")),
            service_date=pl.when(has_line_date)
            .then(pl.col("line_start"))
            .otherwise(pl.col("claim_start")),
            service_date_end=pl.when(has_line_date)
            .then(pl.col("line_end"))
            .otherwise(pl.col("claim_end")),
            diagnosis_pointers=pl.col("ptrs").cast(pl.List(pl.Int8)),
        )
        self.report.lines_read += table.height
        return table.cast(CLAIM_LINE_SCHEMA)


def _with_tin_and_patient(head: pl.DataFrame) -> pl.DataFrame:
    """TIN (SSN pseudonymised), patient id and display name; Python only per distinct value."""
    ssns = head["b_SY"].drop_nulls().unique().to_list()
    pseudonyms = pl.DataFrame(
        {"b_SY": ssns, "ssn_tin": [pseudonymise_ssn(s) for s in ssns]},
        schema={"b_SY": pl.String, "ssn_tin": pl.String},
    )
    keys = (
        head.filter(pl.col("dependent")).select("s_member", "last", "first", "birth_date").unique()
    )
    dep_ids = keys.with_columns(
        dep_id=pl.Series(
            [
                dependent_patient_id(m, last or "", first or "", b)
                for m, last, first, b in keys.iter_rows()
            ],
            dtype=pl.String,
        )
    )
    head = head.join(pseudonyms, on="b_SY", how="left").join(
        dep_ids, on=["s_member", "last", "first", "birth_date"], how="left", nulls_equal=True
    )
    name = pl.concat_str(pl.col("last"), pl.col("first"), separator=", ", ignore_nulls=True)
    return head.with_columns(
        tin=pl.coalesce("b_EI", "ssn_tin"),
        patient_id=pl.when(pl.col("dependent"))
        .then(pl.col("dep_id"))
        .otherwise(pl.col("s_member")),
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
