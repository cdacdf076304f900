"""The 835 reader's columnar core: a piece of whole segments -> remittance-line rows, in polars.

Each segment is a row; which claim (loop 2100) and which service line (loop 2110) a
segment belongs to is a forward fill of the CLP and SVC row numbers, cut by the segments
that end a claim (envelope, LX, PLB). Header values (loops 1000A/1000B, BPR, TRN) are
forward filled within their transaction. Every check a claim must pass is one expression
per segment kind; a claim with a failing segment is quarantined at its first one. Only the
envelope segments (a few per file) and the quarantined claims are walked in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..schema import short_hash
from ..x12.envelope import shown
from ..x12.report import Issue, Location, QuarantinedClaim, ReadReport

SUPPORTED_VERSION_PREFIX = "005010X221"
_ENVELOPE = ("ISA", "GS", "ST", "SE", "GE", "IEA")
_CLOSERS = (*_ENVELOPE, "LX", "PLB")  # segments that end an open claim
_WS = " \t\r\n"
_CODE = r"^[A-Z0-9]{1,5}$"
_HEAD = ("payer_name", "payer_id", "payee_npi", "payee_fi", "payee_tj", "trace_number", "bpr16")


@dataclass
class State:
    """What one source's pieces hand on to the next."""

    name: str
    report: ReadReport
    seq: int  # next remit_seq
    statuses: tuple[str, ...]
    segment: int = 0  # segments numbered so far
    isa13: str = ""
    st02: str = ""
    st_segment: int = 0
    skip: bool = False
    party: str = ""
    head: dict[str, str | None] = field(default_factory=dict)
    carry: pl.DataFrame | None = None  # the open claim's segments, for the next piece


_WIDTH = 20  # elements read (up to CAS19), each a column e0..e19 ("" when absent)
_E_COLS = [f"e{i}" for i in range(_WIDTH)]
_CARRIED = ["offset", "segment", "el", *_E_COLS, "tag"]  # the columns of segments()


def _e(i: int) -> pl.Expr:
    return pl.col(f"e{i}")


def _comp(i: int, comp: str) -> pl.Expr:
    """Parts of the composite element ``i``, stripped and uppercase."""
    return _e(i).str.split(comp).list.eval(pl.element().str.strip_chars().str.to_uppercase())


def _number_bad(e: pl.Expr) -> pl.Expr:
    return (e != "") & e.cast(pl.Float64, strict=False).is_null()


def _amount(e: pl.Expr, default: float | None = None) -> pl.Expr:
    value = pl.when(e == "").then(None).otherwise(e).cast(pl.Float64, strict=False)
    return value if default is None else value.fill_null(default)


def _date(e: pl.Expr) -> pl.Expr:
    return pl.when(e == "").then(None).otherwise(e).str.to_date("%Y%m%d", strict=False)


def _date_bad(e: pl.Expr, what: pl.Expr) -> pl.Expr:
    return (
        pl.when((e != "") & ~e.str.contains(r"^\d{8}$"))
        .then(pl.format("{} is not a CCYYMMDD date", what))
        .when((e != "") & _date(e).is_null())
        .then(pl.format("{} is not a valid date", what))
    )


def segments(data: bytes, base: int, term: str, element: str, first: int) -> pl.DataFrame:
    """offset (of its first byte), segment (1-based number), el (elements), e0..e9
    (stripped, "" when absent), tag."""
    raw = pl.Series("raw", data.decode("latin-1").split(term), dtype=pl.String)
    n = raw.str.len_chars().cast(pl.Int64)
    frame = pl.DataFrame(
        {
            "seg": raw.str.strip_chars(_WS),
            "offset": (n + 1).cum_sum()
            - (n + 1)
            + base
            + n
            - raw.str.strip_chars_start(_WS).str.len_chars(),
        }
    ).filter(pl.col("seg") != "")
    return (
        frame.with_columns(
            (pl.int_range(pl.len(), dtype=pl.Int64) + first + 1).alias("segment"),
            pl.col("seg").str.split(element).alias("el"),
        )
        .with_columns(
            pl.col("el").list.get(i, null_on_oob=True).str.strip_chars().fill_null("").alias(c)
            for i, c in enumerate(_E_COLS)
        )
        .with_columns(pl.col("e0").str.to_uppercase().alias("tag"))
        .drop("seg")
    )


def _envelope(frame: pl.DataFrame, st: State, warnings: list[Issue]) -> pl.DataFrame:
    """Walk the envelope segments (few); mark the rows of failed interchanges ``_skip``."""
    rep = st.report
    initial = st.skip  # rows before the first envelope row go on as before
    marks: list[tuple[int, bool]] = []
    env = frame.filter(pl.col("tag").is_in(_ENVELOPE))
    for segment, offset, tag, el in env.select("segment", "offset", "tag", "el").iter_rows():
        get = lambda i: el[i].strip() if len(el) > i else ""  # noqa: E731, B023
        if tag == "ISA":
            st.skip = False
            rep.interchanges += 1
            st.isa13 = get(13)
        if st.skip:
            marks.append((segment, True))
            continue
        failure = None
        if tag == "GS":
            version = get(8)
            if get(1) != "HP" or not version.startswith(SUPPORTED_VERSION_PREFIX):
                failure = (
                    f"functional group GS01={shown(get(1))} GS08={shown(version)} is not an "
                    f"835 {SUPPORTED_VERSION_PREFIX}A1 remittance group"
                )
        elif tag == "ST":
            rep.transactions += 1
            st.st02, st.st_segment = get(2), segment
            if get(1) != "835":
                failure = f"transaction set ST01={shown(get(1))} is not an 835"
        elif tag == "SE":
            count = segment - st.st_segment + 1
            if get(1) != str(count):
                warnings.append(
                    Issue(
                        Location(st.name, segment, offset),
                        f"SE01 says {shown(get(1))} segments, the transaction has {count}",
                    )
                )
        if failure is not None:
            rep.errors.append(
                Issue(
                    Location(st.name, segment, offset),
                    f"interchange {shown(st.isa13)} failed: {failure}",
                )
            )
            st.skip = True
        marks.append((segment, st.skip))
    skip = pl.DataFrame(marks, schema={"segment": pl.Int64, "_skip": pl.Boolean}, orient="row")
    out = frame.join(skip, on="segment", how="left", maintain_order="left")
    return out.with_columns(pl.col("_skip").forward_fill().fill_null(initial))


def piece_rows(
    frame: pl.DataFrame, st: State, comp: str, final: bool
) -> tuple[pl.DataFrame, list[Issue]]:
    """The remittance-line rows of the whole claims of ``frame`` (the open claim's segments
    are kept in ``st.carry`` unless ``final``); warnings to add, in segment order."""
    warnings: list[Issue] = []
    frame = _envelope(frame, st, warnings)
    if st.carry is not None:
        frame = pl.concat([st.carry.with_columns(pl.lit(False).alias("_skip")), frame])
        st.carry = None
    tag = pl.col("tag")
    closer = tag.is_in(_CLOSERS)
    frame = frame.filter(~pl.col("_skip") | tag.is_in(_ENVELOPE)).with_row_index("_r")
    is_clp = (tag == "CLP") & ~pl.col("_skip")
    frame = frame.with_columns(
        pl.when(is_clp)
        .then(is_clp.cum_sum())
        .when(closer)
        .then(0)
        .otherwise(None)
        .forward_fill()
        .fill_null(0)
        .cast(pl.Int64)
        .alias("_owner")
    )
    if not final and frame.height and frame["_owner"][-1] > 0:
        last = frame["_owner"][-1]
        st.carry = frame.filter(pl.col("_owner") == last).select(_CARRIED)
        frame = frame.filter(pl.col("_owner") != last)
    in_claim = pl.col("_owner") > 0
    frame = frame.with_columns(
        pl.when((tag == "SVC") & in_claim)
        .then(pl.col("_r").cast(pl.Int64))
        .when((tag == "CLP") | closer)
        .then(-1)
        .otherwise(None)
        .forward_fill()
        .fill_null(-1)
        .alias("_line")
    )
    n_claims = int(frame.select((tag == "CLP").sum()).item())
    base_seq = st.seq
    st.seq += n_claims
    st.report.claims_seen += n_claims

    head = _header(frame, st, warnings)
    body = frame.filter(in_claim)
    bad = _checks(body, comp, st.statuses)
    quarantined = _quarantine(body, bad, st, base_seq)
    for row in frame.filter((tag == "SVC") & ~in_claim & ~pl.col("_skip")).iter_rows(named=True):
        warnings.append(
            Issue(
                Location(st.name, row["segment"], row["offset"], "2110"),
                "SVC outside a claim (CLP); ignored",
            )
        )
    rows = _rows(body.join(quarantined, on="_owner", how="anti"), head, comp, st, base_seq)
    warnings.sort(key=lambda i: i.location.segment)
    return rows, warnings


def _header(frame: pl.DataFrame, st: State, warnings: list[Issue]) -> pl.DataFrame:
    """Per claim (``_owner``): the header values in force at its CLP."""
    tag, outside = pl.col("tag"), pl.col("_owner") == 0
    is_st = tag == "ST"
    party = (
        pl.when(is_st)
        .then(pl.lit(""))
        .when((tag == "N1") & outside)
        .then(_e(1))
        .forward_fill()
        .fill_null(st.party)
    )
    frame = frame.with_columns(party.alias("_party"))
    n1 = (tag == "N1") & outside
    ref = (tag == "REF") & outside
    values = {
        "payer_name": pl.when(n1 & (_e(1) == "PR")).then(_e(2)),
        "payer_id": pl.when(n1 & (_e(1) == "PR"))
        .then(_e(4))
        .when(ref & (pl.col("_party") == "PR") & (_e(1) == "2U"))
        .then(_e(2)),
        "payee_npi": pl.when(n1 & (_e(1) == "PE") & (_e(3) == "XX")).then(_e(4)),
        "payee_fi": pl.when(n1 & (_e(1) == "PE") & (_e(3) == "FI")).then(_e(4)),
        "payee_tj": pl.when(ref & (pl.col("_party") == "PE") & (_e(1) == "TJ")).then(_e(2)),
        "trace_number": pl.when((tag == "TRN") & outside).then(_e(2)),
        "bpr16": pl.when((tag == "BPR") & outside).then(_e(16)),
    }
    frame = frame.with_columns(
        pl.when(is_st)
        .then(pl.lit(""))
        .otherwise(expr)
        .forward_fill()
        .fill_null(st.head.get(name) or "")
        .alias(name)
        for name, expr in values.items()
    ).with_columns(
        pl.when(is_st).then(_e(2)).forward_fill().fill_null(st.st02).alias("transaction_control")
    )
    bpr = frame.filter((tag == "BPR") & outside & ~pl.col("_skip")).select(
        "segment", "offset", _date_bad(_e(16), pl.lit("BPR16")).alias("_bad")
    )
    for segment, offset, bad in bpr.filter(pl.col("_bad").is_not_null()).iter_rows():
        warnings.append(Issue(Location(st.name, segment, offset), f"{bad}; left empty"))
    if frame.height:
        last = frame.row(-1, named=True)
        st.party = last["_party"]
        st.head = {name: last[name] for name in values}
        st.st02 = last["transaction_control"]
    blank = lambda c: pl.col(c).replace("", None)  # noqa: E731
    return frame.filter(pl.col("tag") == "CLP").select(
        "_owner",
        "transaction_control",
        blank("payer_name").alias("payer_name"),
        blank("payer_id").alias("payer_id"),
        blank("payee_npi").alias("payee_npi"),
        pl.coalesce(blank("payee_fi"), blank("payee_tj")).alias("payee_tin"),
        blank("trace_number").alias("trace_number"),
        pl.when(_date_bad(pl.col("bpr16"), pl.lit("")).is_null())
        .then(_date(pl.col("bpr16")))
        .alias("payment_date"),
    )


def _checks(body: pl.DataFrame, comp: str, statuses: tuple[str, ...]) -> pl.DataFrame:
    """``_owner``, segment, offset, loop and the first failing check of each bad segment."""
    tag, in_line = pl.col("tag"), pl.col("_line") >= 0
    code_bad = lambda e: (e != "") & ~e.str.to_uppercase().str.contains(_CODE)  # noqa: E731
    svc_code = _comp(1, comp).list.get(1, null_on_oob=True).fill_null("")
    svc06_code = _comp(6, comp).list.get(1, null_on_oob=True).fill_null("")
    reasons = [_e(i) for i in range(2, 20, 3)]
    remarks = [_e(i) for i in range(3, 8)]
    q = _e(1)
    dated = (in_line & q.is_in(["472", "150", "151"])) | (~in_line & q.is_in(["232", "233"]))
    check = (
        pl.when((tag == "CLP") & (_e(1) == ""))
        .then(pl.lit("CLP01 (the claim's patient control number) is empty"))
        .when((tag == "CLP") & ~_e(2).is_in(list(statuses)))
        .then(pl.format("!CLP02 {}", _e(2)))
        .when((tag == "CLP") & _number_bad(_e(3)))
        .then(pl.lit("CLP03 is not a number"))
        .when((tag == "CLP") & _number_bad(_e(4)))
        .then(pl.lit("CLP04 is not a number"))
        .when((tag == "SVC") & (svc_code == ""))
        .then(pl.lit("SVC01 has no procedure code"))
        .when((tag == "SVC") & (_e(6) != "") & (svc06_code == ""))
        .then(pl.lit("SVC06 has no procedure code"))
        .when((tag == "SVC") & _number_bad(_e(2)))
        .then(pl.lit("SVC02 is not a number"))
        .when((tag == "SVC") & _number_bad(_e(3)))
        .then(pl.lit("SVC03 is not a number"))
        .when((tag == "SVC") & _number_bad(_e(5)))
        .then(pl.lit("SVC05 is not a number"))
        .when((tag == "CAS") & (_e(1) == ""))
        .then(pl.lit("CAS01 (claim adjustment group code) is empty"))
        .when((tag == "CAS") & ~_e(1).str.to_uppercase().is_in(["CO", "CR", "OA", "PI", "PR"]))
        .then(pl.format("!CAS01 {}", _e(1).str.to_uppercase()))
        .when((tag == "CAS") & pl.any_horizontal(code_bad(r) for r in reasons))
        .then(pl.lit("a CAS reason is not a code"))
        .when((tag == "LQ") & in_line & (_e(1) == "HE") & code_bad(_e(2)))
        .then(pl.lit("LQ02 is not a code"))
        .when((tag == "MOA") & ~in_line & pl.any_horizontal(code_bad(r) for r in remarks))
        .then(pl.lit("a MOA remark is not a code"))
        .when((tag == "DTM") & dated)
        .then(_date_bad(_e(2), pl.format("DTM*{}", q)))
    )
    return (
        body.with_columns(check.alias("_bad"))
        .filter(pl.col("_bad").is_not_null())
        .group_by("_owner", maintain_order=True)
        .first()
        .select(
            "_owner",
            "segment",
            "offset",
            pl.when(in_line).then(pl.lit("2110")).otherwise(pl.lit("2100")).alias("loop"),
            "_bad",
        )
    )


def _quarantine(body: pl.DataFrame, bad: pl.DataFrame, st: State, base: int) -> pl.DataFrame:
    """Note each bad claim in the report (position, hash of CLP01, first bad segment)."""
    if not bad.height:
        return bad.select("_owner")
    ids = body.filter(pl.col("tag") == "CLP").select("_owner", _e(1).alias("_id"))
    for owner, segment, offset, loop, reason, cid in (
        bad.join(ids, on="_owner", how="left").sort("_owner").iter_rows()
    ):
        if reason.startswith("!CLP02 "):
            reason = f"CLP02 {shown(reason[7:])} is not a claim status code"
        elif reason.startswith("!CAS01 "):
            reason = f"CAS01 {shown(reason[7:])} is not a claim adjustment group code"
        where = Location(st.name, segment, offset, loop)
        st.report.quarantined.append(
            QuarantinedClaim(base + owner - 1, short_hash(cid or ""), where, reason)
        )
    return bad.select("_owner")


def _codes(frame: pl.DataFrame, by: str, expr: pl.Expr, name: str) -> pl.DataFrame:
    """``by`` -> the codes ``expr`` gives on each row (a list), concatenated in row order."""
    return (
        frame.select(by, expr.list.drop_nulls().alias(name))
        .explode(name)
        .drop_nulls(name)
        .group_by(by, maintain_order=True)
        .agg(pl.col(name))
    )


def _first(
    frame: pl.DataFrame, by: str, keep: pl.Expr, value: pl.Expr, name: str, last: bool = False
) -> pl.DataFrame:
    picked = frame.filter(keep).select(by, value.alias(name))
    return picked.group_by(by, maintain_order=True).agg(
        pl.col(name).last() if last else pl.col(name).first()
    )


def _rows(body: pl.DataFrame, head: pl.DataFrame, comp: str, st: State, base: int) -> pl.DataFrame:
    """Claims (CLP and the 2100 segments) joined to their lines (SVC and 2110 segments).

    Each kind of segment is filtered out first and aggregated on its own (a few small
    group-bys), so no expression runs over segments it does not concern."""
    tag, in_line, q = pl.col("tag"), pl.col("_line") >= 0, _e(1)
    claims = body.filter(tag == "CLP").select(
        "_owner",
        (pl.col("_owner") + base - 1).alias("remit_seq"),
        _e(1).alias("claim_id"),
        _e(2).alias("claim_status"),
        _amount(_e(3)).alias("claim_charge"),
        _amount(_e(4)).alias("claim_paid"),
        _e(6).str.to_uppercase().replace("", None).alias("filing_indicator"),
        _e(7).replace("", None).alias("payer_claim_control"),
        _e(9).replace("", None).alias("frequency"),
    )
    kinds = body.filter(tag.is_in(["NM1", "DTM", "CAS", "MOA", "REF", "LQ"]))
    part, inner = kinds.filter(~in_line), kinds.filter(in_line)
    cas_codes = pl.concat_list(
        pl.when(_e(i) != "").then(
            pl.format("{}-{}", _e(1).str.to_uppercase(), _e(i).str.to_uppercase())
        )
        for i in range(2, 20, 3)
    )
    remark_codes = pl.concat_list(
        pl.when(_e(i) != "").then(_e(i).str.to_uppercase()) for i in range(3, 8)
    )
    dtm = tag == "DTM"
    for frame in (
        _first(part, "_owner", (tag == "NM1") & (q == "82") & (_e(8) == "XX") & (_e(9) != ""),
               _e(9), "rendering_npi"),
        _first(part, "_owner", dtm & (q == "232"), _date(_e(2)), "statement_start", last=True),
        _first(part, "_owner", dtm & (q == "233"), _date(_e(2)), "statement_end", last=True),
        _codes(part.filter(tag == "CAS"), "_owner", cas_codes, "claim_adjustments"),
        _codes(part.filter(tag == "MOA"), "_owner", remark_codes, "claim_remarks"),
    ):  # fmt: skip
        claims = claims.join(frame, on="_owner", how="left", maintain_order="left")
    svc = body.filter((tag == "SVC") & in_line)
    parts, oparts = _comp(1, comp), _comp(6, comp)
    nonempty = pl.element().filter(pl.element() != "")
    lines = svc.select(
        "_owner",
        "_line",
        (pl.int_range(pl.len()).over("_owner") + 1).cast(pl.Int32).alias("line_index"),
        parts.list.get(1, null_on_oob=True).alias("procedure_code"),
        parts.list.slice(2, 4).list.eval(nonempty).alias("modifiers"),
        pl.when(_e(6) != "").then(oparts.list.get(1, null_on_oob=True))
        .alias("original_procedure_code"),
        pl.when(_e(6) != "").then(oparts.list.slice(2, 4).list.eval(nonempty))
        .alias("original_modifiers"),
        _amount(_e(2)).alias("line_charge"),
        _amount(_e(3)).alias("line_paid"),
        _amount(_e(5), 1.0).alias("units"),
    )  # fmt: skip
    day = _date(_e(2))
    for frame in (
        _first(inner, "_line", dtm & (q == "472"), day, "_d472", last=True),
        _first(inner, "_line", dtm & (q == "150"), day, "_d150"),
        _first(inner, "_line", dtm & (q == "151"), day, "_d151", last=True),
        _first(inner, "_line", dtm & q.is_in(["472", "150"]), day, "_dfirst"),
        _first(inner, "_line", (tag == "REF") & (q == "6R") & (_e(2) != ""), _e(2),
               "line_control"),
        _first(inner, "_line", (tag == "REF") & (q == "HPI") & (_e(2) != ""), _e(2),
               "line_rendering_npi"),
        _codes(inner.filter(tag == "CAS"), "_line", cas_codes, "adjustments"),
        _codes(inner.filter((tag == "LQ") & (q == "HE") & (_e(2) != "")), "_line",
               pl.concat_list(_e(2).str.to_uppercase()), "remarks"),
    ):  # fmt: skip
        lines = lines.join(frame, on="_line", how="left", maintain_order="left")
    lines = lines.with_columns(
        pl.coalesce("_d472", "_d150").alias("service_date"),
        pl.coalesce("_d151", "_dfirst").alias("service_date_end"),
        pl.col("adjustments").fill_null([]),
        pl.col("remarks").fill_null([]),
    )
    st.report.claims_read += claims.height
    st.report.lines_read += lines.height
    return (
        claims.join(head, on="_owner", how="left", maintain_order="left")
        .join(lines, on="_owner", how="left", maintain_order="left")
        .with_columns(
            pl.lit(st.name).alias("source"),
            pl.lit(st.isa13).alias("interchange_control"),
            pl.col("claim_adjustments").fill_null([]),
            pl.col("claim_remarks").fill_null([]),
        )
    )
