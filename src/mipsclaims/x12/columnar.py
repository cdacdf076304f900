"""Columnar path: 837P bytes -> the canonical claim-line table, in polars, batch by batch.

No Python object per segment or line: a piece of input is split into a Series of segments,
loop and claim context are forward-filled (the same loop rules as :mod:`.stream`), the
attributes of each HL loop, claim and service line are aggregated per group id, and the
groups are joined onto the service lines. A batch stops at the last claim or HL boundary;
the incomplete tail is carried into the next batch, together with the attributes of the
HL loops still open, so memory is bounded by the batch size and not by the file size.
"""

from __future__ import annotations

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
_LEVELS = {
    "20": ("npi", "EI", "SY"),
    "22": ("filing", "payer", "member", "last", "first", "dob", "sex"),
    "23": ("last", "first", "dob", "sex"),
}


def _e(i: int) -> pl.Expr:
    """Element ``i`` of the segment, stripped (null when absent)."""
    return pl.col("el").list.get(i, null_on_oob=True).str.strip_chars(_WS)


def _nz(expr: pl.Expr) -> pl.Expr:
    """Null for empty strings, so that 'first non-empty' is 'first non-null'."""
    return pl.when(expr != "").then(expr)


def _first(expr: pl.Expr) -> pl.Expr:
    return expr.drop_nulls().first()


def _dates(expr: pl.Expr) -> pl.Expr:
    return pl.when(expr.str.contains(rules.DATE_RE)).then(expr.str.to_date("%Y%m%d", strict=False))


def _period(qualifier: pl.Expr, value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Start and end of a DTP D8/RD8 value; both null when malformed (rules.parse_period)."""
    is_range = qualifier == "RD8"
    ok_range = value.str.contains(rules.RANGE_RE)
    start = pl.when(is_range).then(pl.when(ok_range).then(_dates(value.str.slice(0, 8))))
    start = start.otherwise(_dates(value))
    end = pl.when(is_range).then(pl.when(ok_range).then(_dates(value.str.slice(9, 8))))
    end = end.otherwise(_dates(value))
    both = start.is_not_null() & end.is_not_null()
    return pl.when(both).then(start), pl.when(both).then(end)


@dataclass
class _Carry:
    """State between batches: counters and the attributes of the HL loops still open."""

    segment: int = 0
    claim_seq: int = 0
    line: int = 0
    group: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_LEVELS, 0))
    attrs: dict[str, pl.DataFrame] = field(default_factory=dict)
    tail: pl.DataFrame | None = None


class _Batcher:
    def __init__(self, source: Source, report: ReadReport, claim_seq_start: int) -> None:
        self.source = source
        self.name = _source_name(source)
        self.report = report
        self.tracker = EnvelopeTracker(self.name, report)
        self.carry = _Carry(claim_seq=claim_seq_start)
        for level, keys in _LEVELS.items():
            self.carry.attrs[level] = _empty_level(level, keys, 0)
        self.skip = -1

    def run(self, batch_bytes: int) -> Iterator[pl.DataFrame]:
        for piece in iter_pieces(self.source, self.report, batch_bytes):
            rows = self._tokenise(piece)
            if self.carry.tail is not None:
                rows = pl.concat([self.carry.tail, rows])
                self.carry.tail = None
            if rows.height == 0:
                continue
            if not piece.final:
                boundary = pl.col("tag").is_in(["CLM", "HL", *_ENV])
                idx = rows.select(pl.arg_where(boundary).last()).item()
                if idx is not None and idx > 0:
                    self.carry.tail = rows.slice(idx)
                    rows = rows.slice(0, idx)
                elif idx == 0:
                    self.carry.tail = rows
                    continue
            frame = self._process(rows, piece)
            if frame.height:
                yield frame

    def _tokenise(self, piece: Piece) -> pl.DataFrame:
        d = piece.delimiters
        term_len = len(d.segment.encode("utf-8"))
        raw = pl.Series("raw", [piece.text]).str.split(d.segment, literal=True).explode()
        nbytes = raw.str.len_bytes().cast(pl.Int64)
        lead = nbytes - raw.str.strip_chars_start(_WS).str.len_bytes().cast(pl.Int64)
        frame = pl.DataFrame(
            {
                "seg": raw.str.strip_chars(_WS),
                "offset": piece.byte_offset
                + (nbytes + term_len).cum_sum()
                - nbytes
                - term_len
                + lead,
            }
        ).filter(pl.col("seg") != "")
        n = frame.height
        frame = frame.with_columns(
            segno=pl.int_range(1, n + 1, dtype=pl.Int64) + self.carry.segment,
            el=pl.col("seg").str.split(d.element, literal=True),
        ).drop("seg")
        self.carry.segment += n
        if piece.interchange == self.skip:
            return frame.clear().with_columns(pl.lit(None, pl.String).alias("tag"))
        frame = frame.with_columns(tag=pl.col("el").list.first().str.strip_chars(_WS))
        envelope = frame.filter(pl.col("tag").is_in(_ENV))
        for tag, el, segno, offset in envelope.select("tag", "el", "segno", "offset").iter_rows():
            problem = self.tracker.feed(tag, el, segno, offset)
            if problem:
                self.tracker.fail(segno, offset, problem)
                self.skip = piece.interchange
                frame = frame.filter(pl.col("segno") < segno)
                break
        return frame

    def _process(self, rows: pl.DataFrame, piece: Piece) -> pl.DataFrame:
        carry = self.carry
        comp = piece.delimiters.component
        tag = pl.col("tag")
        is_hl = tag == "HL"
        lvl = _e(3)
        marker1 = (
            pl.when(is_hl)
            .then(pl.lit("HL") + lvl.fill_null(""))
            .when(tag == "CLM")
            .then(pl.lit("2300"))
            .when(tag == "LX")
            .then(pl.lit("2400"))
            .when(tag.is_in(_ENV))
            .then(pl.lit("ENV"))
        )
        f = rows.with_columns(marker1=marker1, lvl=pl.when(is_hl).then(lvl))
        f = f.with_columns(major1=pl.col("marker1").forward_fill().fill_null("ENV"))
        marker2 = (
            pl.when(pl.col("marker1").is_not_null())
            .then(pl.col("marker1"))
            .when((tag == "SBR") & (pl.col("major1") == "2300"))
            .then(pl.lit("2320"))
        )
        f = f.with_columns(marker2=marker2)
        start20 = (is_hl & (pl.col("lvl") == "20")) | (tag == "ST")
        start22 = start20 | (is_hl & (pl.col("lvl") == "22"))
        start23 = start22 | (is_hl & (pl.col("lvl") == "23"))
        f = f.with_columns(
            major=pl.col("marker2").forward_fill().fill_null("ENV"),
            entity=pl.when(pl.col("marker2").is_not_null())
            .then(pl.lit(""))
            .when(tag == "NM1")
            .then(_e(1).fill_null(""))
            .forward_fill()
            .fill_null(""),
            s20=start20,
            s22=start22,
            s23=start23,
            in_claim=pl.when(tag == "CLM")
            .then(True)
            .when(is_hl | tag.is_in(_ENV))
            .then(False)
            .forward_fill()
            .fill_null(False),
            gc=tag.eq("CLM").cum_sum().cast(pl.Int64) + (carry.claim_seq - 1),
            gl=tag.eq("LX").cum_sum().cast(pl.Int64) + carry.line,
        )
        f = f.with_columns(
            g20=pl.col("s20").cum_sum().cast(pl.Int64) + carry.group["20"],
            g22=pl.col("s22").cum_sum().cast(pl.Int64) + carry.group["22"],
            g23=pl.col("s23").cum_sum().cast(pl.Int64) + carry.group["23"],
        )
        levels = {lv: self._level(f, lv) for lv in _LEVELS}

        # Orphan service lines (LX outside any claim) are reported and ignored.
        orphans = f.filter((tag == "LX") & ~pl.col("in_claim"))
        for segno, offset in orphans.select("segno", "offset").iter_rows():
            self.report.warnings.append(
                Issue(
                    Location(self.name, segno, offset), "service line (LX) outside a claim ignored"
                )
            )

        claim_rows = f.filter(pl.col("in_claim"))
        claims, lines, errors = self._claims(claim_rows, levels, comp)

        # Advance the carried state past this batch.
        n_clm = int(f.select(tag.eq("CLM").sum()).item())
        n_lx = int(f.select(tag.eq("LX").sum()).item())
        self.report.claims_seen += n_clm
        carry.claim_seq += n_clm
        carry.line += n_lx
        for lv in _LEVELS:
            last = levels[lv].tail(1)
            carry.group[lv] = int(last["g"].item())
            carry.attrs[lv] = last

        return self._assemble(claims, lines, errors, piece)

    def _level(self, f: pl.DataFrame, lv: str) -> pl.DataFrame:
        """Attributes of every HL loop of level ``lv`` in this batch (plus the carried one)."""
        tag, ent = pl.col("tag"), pl.col("entity")
        g = f"g{lv}"
        aggs: list[pl.Expr] = [(pl.col("tag") == "HL").first().alias("has")]
        aggs[0] = ((pl.col("tag") == "HL") & (pl.col("lvl") == lv)).first().alias("has")
        if lv == "20":
            ref = (tag == "REF") & (ent == "85")
            aggs += [
                _first(pl.when((tag == "NM1") & (ent == "85")).then(_nz(_e(9)))).alias("npi"),
                _first(pl.when(ref & (_e(1) == "EI")).then(_nz(_e(2)))).alias("EI"),
                _first(pl.when(ref & (_e(1) == "SY")).then(_nz(_e(2)))).alias("SY"),
            ]
        else:
            who = "IL" if lv == "22" else "QC"
            nm1 = (tag == "NM1") & (ent == who)
            dmg = (tag == "DMG") & (ent == who)
            aggs += [
                _first(pl.when(nm1).then(_nz(_e(3)))).alias("last"),
                _first(pl.when(nm1).then(_nz(_e(4)))).alias("first"),
                _first(pl.when(dmg).then(_nz(_e(2)))).alias("dob"),
                _first(pl.when(dmg).then(_nz(_e(3)))).alias("sex"),
            ]
            if lv == "22":
                aggs += [
                    _first(pl.when(tag == "SBR").then(_nz(_e(9)))).alias("filing"),
                    _first(pl.when((tag == "NM1") & (ent == "PR")).then(_nz(_e(9)))).alias("payer"),
                    _first(pl.when(nm1).then(_nz(_e(9)))).alias("member"),
                ]
        keys = ("has", *_LEVELS[lv])
        base = self.carry.group[lv]
        own = (
            f.filter(pl.col(f"s{lv}") | (pl.col("major") == f"HL{lv}"))
            .filter(pl.col(g) > base)
            .group_by(g, maintain_order=True)
            .agg(aggs)
            .rename({g: "g"})
            .select("g", *keys)
        )
        carried = self.carry.attrs[lv].select("g", *keys)
        return pl.concat([carried, own.cast(carried.schema)])

    def _claims(
        self, c: pl.DataFrame, levels: dict[str, pl.DataFrame], comp: str
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        tag, major, ent = pl.col("tag"), pl.col("major"), pl.col("entity")
        # Claim header (one row per CLM).
        clm05 = _e(5).str.split(comp, literal=True)
        head = c.filter(tag == "CLM").select(
            "gc",
            "g20",
            "g22",
            "g23",
            "segno",
            "offset",
            claim_id=_nz(_e(1)),
            claim_pos=_nz(clm05.list.get(0, null_on_oob=True).str.strip_chars(_WS)),
            frequency=_nz(clm05.list.get(2, null_on_oob=True).str.strip_chars(_WS)).fill_null("1"),
        )
        in2300 = c.filter(major == "2300")
        dtp434 = (tag == "DTP") & (_e(1) == "434")
        s434, e434 = _period(_e(2).fill_null(""), _e(3).fill_null(""))
        in2300 = in2300.with_columns(
            s434=pl.when(dtp434).then(s434), e434=pl.when(dtp434).then(e434)
        )
        claim_attrs = in2300.group_by("gc").agg(
            _first(pl.when((tag == "NM1") & (ent == "82")).then(_nz(_e(9)))).alias("claim_rend"),
            _first(pl.col("s434")).alias("claim_start"),
            _first(pl.col("e434")).alias("claim_end"),
        )
        # Diagnoses: HI composites with an ICD-10 qualifier, in order.
        hi = (
            in2300.filter(tag == "HI")
            .select("gc", part=pl.col("el").list.slice(1))
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
        # Row errors in 2300 (after the CLM) and in 2400.
        in2400 = c.filter(major == "2400")
        sv1 = tag == "SV1"
        sv101 = _e(1).fill_null("").str.split(comp, literal=True)
        proc = sv101.list.get(1, null_on_oob=True).str.strip_chars(_WS).fill_null("")
        charge, units = _e(2).fill_null(""), _e(4).fill_null("")
        ptrs = (
            _e(7)
            .fill_null("")
            .str.split(comp, literal=True)
            .list.eval(pl.element().str.strip_chars(_WS))
            .list.eval(pl.element().filter(pl.element() != ""))
        )
        dtp472 = (tag == "DTP") & (_e(1) == "472")
        s472, e472 = _period(_e(2).fill_null(""), _e(3).fill_null(""))
        in2400 = in2400.with_columns(
            s472=pl.when(dtp472).then(s472),
            e472=pl.when(dtp472).then(e472),
            ptrs=pl.when(sv1).then(ptrs),
            proc=pl.when(sv1).then(proc),
            sv101=pl.when(sv1).then(sv101),
        )
        sv1_error = (
            pl.when(pl.col("proc") == "")
            .then(pl.lit(rules.NO_PROCEDURE))
            .when((charge != "") & ~charge.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_CHARGE))
            .when((units != "") & ~units.str.contains(rules.NUMBER_RE))
            .then(pl.lit(rules.BAD_UNITS))
            .when(~pl.col("ptrs").list.eval(pl.element().str.contains(rules.POINTER_RE)).list.all())
            .then(pl.lit(rules.BAD_POINTER))
        )
        row_err_2400 = (
            pl.when(sv1)
            .then(sv1_error)
            .when(dtp472 & pl.col("s472").is_null())
            .then(pl.lit(rules.BAD_SERVICE_DATE))
        )
        row_err_2300 = (
            pl.when(dtp434 & pl.col("s434").is_null())
            .then(pl.lit(rules.BAD_CLAIM_DATE))
            .when(tag == "SV1")
            .then(pl.lit(rules.SV1_OUTSIDE_LINE))
        )
        # Service lines: one per LX, first SV1 / DTP*472 / NM1*82 of the loop.
        line_attrs = in2400.group_by("gl").agg(
            _first(pl.when(sv1).then(pl.col("segno"))).alias("sv1_segno"),
            _first(pl.when(sv1).then(pl.col("el"))).alias("sv1"),
            _first(pl.when(sv1).then(pl.col("sv101"))).alias("sv101"),
            _first(pl.when(sv1).then(pl.col("ptrs"))).alias("ptrs"),
            _first(pl.col("s472")).alias("line_start"),
            _first(pl.col("e472")).alias("line_end"),
            _first(pl.when((tag == "NM1") & (ent == "82")).then(_nz(_e(9)))).alias("line_rend"),
        )
        lx = (
            in2400.filter(tag == "LX")
            .select("gc", "gl", "segno", "offset", number=_e(1).fill_null(""))
            .join(line_attrs, on="gl", how="left")
        )
        lx_errors = lx.select(
            "gc",
            "segno",
            "offset",
            loop=pl.lit("2400"),
            reason=pl.when(~pl.col("number").str.contains(rules.LINE_NUMBER_RE))
            .then(pl.lit(rules.BAD_LINE_NUMBER))
            .when(pl.col("sv1_segno").is_null())
            .then(pl.lit(rules.NO_SV1)),
        )
        row_errors = pl.concat(
            [
                in2300.filter(tag != "CLM").select(
                    "gc", "segno", "offset", loop=pl.lit("2300"), reason=row_err_2300
                ),
                in2400.select("gc", "segno", "offset", loop=pl.lit("2400"), reason=row_err_2400),
                lx_errors,
            ]
        ).filter(pl.col("reason").is_not_null())

        # Claim header joined with its HL loops, then the CLM-row checks.
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
        who = lambda k: pl.when(dependent).then(pl.col(f"d_{k}")).otherwise(pl.col(f"s_{k}"))  # noqa: E731
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
                    head.select("gc", "segno", "offset", loop=pl.lit("2300"), reason="clm_error"),
                    row_errors,
                ]
            )
            .filter(pl.col("reason").is_not_null())
            .sort("segno")
            .unique("gc", keep="first", maintain_order=True)
            .join(head.select("gc", "claim_id"), on="gc", how="left")
        )
        return head, lx, errors

    def _assemble(
        self, head: pl.DataFrame, lx: pl.DataFrame, errors: pl.DataFrame, piece: Piece
    ) -> pl.DataFrame:
        for gc, segno, offset, loop, reason, claim_id in errors.select(
            "gc", "segno", "offset", "loop", "reason", "claim_id"
        ).iter_rows():
            self.report.quarantined.append(
                QuarantinedClaim(
                    gc,
                    short_hash(claim_id or ""),
                    Location(self.name, segno, offset, loop),
                    reason,
                )
            )
        bad = errors["gc"]
        head = head.filter(~pl.col("gc").is_in(bad.implode()))
        if head.height == 0:
            return empty_claim_lines()
        head = _with_tin_and_patient(head)
        self.report.claims_read += head.height
        sv101 = pl.col("sv101")
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
            line_pos=_nz(pl.col("sv1").list.get(5, null_on_oob=True).str.strip_chars(_WS)),
            charge=_number(pl.col("sv1").list.get(2, null_on_oob=True)),
            units=_number(pl.col("sv1").list.get(4, null_on_oob=True)),
            service_date=pl.when(pl.col("line_start").is_not_null())
            .then(pl.col("line_start"))
            .otherwise(pl.col("claim_start")),
            service_date_end=pl.when(pl.col("line_start").is_not_null())
            .then(pl.col("line_end"))
            .otherwise(pl.col("claim_end")),
            diagnosis_pointers=pl.col("ptrs").cast(pl.List(pl.Int8)),
        )
        self.report.lines_read += table.height
        return table.cast(CLAIM_LINE_SCHEMA)


def _number(expr: pl.Expr) -> pl.Expr:
    text = expr.str.strip_chars(_WS)
    return pl.when(text.str.contains(rules.NUMBER_RE)).then(text.cast(pl.Float64, strict=False))


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
    name = pl.concat_list(pl.col("last"), pl.col("first")).list.drop_nulls().list.join(", ")
    return head.with_columns(
        tin=pl.coalesce("b_EI", "ssn_tin"),
        patient_id=pl.when(pl.col("dependent"))
        .then(pl.col("dep_id"))
        .otherwise(pl.col("s_member")),
        patient_name=_nz(name),
    )


def _empty_level(level: str, keys: tuple[str, ...], group: int) -> pl.DataFrame:
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
