"""Reconciliation: what was sent (837P QDC lines) against what Medicare confirmed (835).

Each quality-data-code line of an eligible claim gets exactly one status
(:data:`STATUSES`), decided in three steps, all columnar (docs/remittance.md has the rules):

1. **The 835 claims' history**: in input order, a reversal (CLP02 = 22) cancels the latest
   earlier adjudication of the same CLP01 with the same CLP07 (else the latest of that
   CLP01); what is not cancelled is *live*.
2. **Claim matching**: an 837 claim (after the counting contract's replacement and void
   rules) takes the latest live 835 claim with CLP01 = its CLM01. When several 837 claims
   share a CLM01, each 835 claim goes to the one whose QDC-free and QDC lines it matches
   best (procedure and date), and is left unassigned when it matches none of them.
3. **Line matching** inside a matched pair: REF*6R line control number when both sides
   carry it, then submitted procedure, modifiers and date, then procedure and modifiers;
   equal lines pair in line order (the k-th with the k-th).
"""

from __future__ import annotations

from typing import Final

import polars as pl

from ..engine import EngineResult, evaluate_lines
from ..engine.codes import tables
from ..engine.scope import superseded

__all__ = [
    "ACTIONS",
    "PROCESSED",
    "RECONCILED_LINE_SCHEMA",
    "STATUSES",
    "claims_of",
    "confirmed_only",
    "reconcile_lines",
    "unmatched_remittances",
]

#: The statuses of a QDC line, best first.
STATUSES: Final = ("confirmed", "denied", "claim_rejected", "not_in_835", "no_remittance_yet")
STATUS = pl.Enum(list(STATUSES))
#: CLP02 codes under which the lines of a claim were adjudicated one by one.
PROCESSED: Final = frozenset({"1", "2", "3", "19", "20", "21"})
REVERSAL: Final = "22"
#: The remark code Medicare puts on every QDC line it recorded.
CONFIRMING_REMARK: Final = "N365"

#: What the practice should do about a line, by status.
ACTIONS: Final[dict[str, str | None]] = {
    "confirmed": None,
    "denied": (
        "Medicare processed the line without N365 (see codes): check the code and its "
        "modifier against the measure; fix how the code is sent on future claims"
    ),
    "claim_rejected": (
        "the claim was denied or reversed and not re-adjudicated: correct it and resend it "
        "with its QDCs"
    ),
    "not_in_835": (
        "the claim was processed without this line: ask your clearinghouse whether it "
        "dropped the line, and resend the claim if it did"
    ),
    "no_remittance_yet": (
        "no 835 for this claim yet: wait for the remittance; if it is overdue, ask for the "
        "claim's status (276/277)"
    ),
}

#: One row per QDC line of an eligible claim, in claim and line order.
RECONCILED_LINE_SCHEMA: dict[str, pl.DataType] = {
    "claim_seq": pl.Int64(),  # the 837 claim's position in the input
    "claim_id": pl.String(),  # CLM01
    "source": pl.String(),  # 837 file
    "tin": pl.String(),
    "npi": pl.String(),  # rendering NPI of the line
    "line_number": pl.Int32(),  # LX01
    "procedure_code": pl.String(),
    "modifiers": pl.List(pl.String()),
    "service_date": pl.Date(),
    "measure_ids": pl.List(pl.String()),  # the measures the line serves on this claim
    "status": STATUS,
    "codes": pl.List(pl.String()),  # adjustments and remarks of a denied line or claim
    "remit_seq": pl.Int64(),  # the matched 835 claim (null: none)
    "remit_source": pl.String(),  # its 835 file
    "payer_claim_control": pl.String(),  # its CLP07
    "claim_status": pl.String(),  # its CLP02 (the reversal's "22" for a reversed claim)
    "remit_line_index": pl.Int32(),  # the matched 835 service line (null: none)
    "matched_by": pl.String(),  # line_control | code_date | code | null
    "action": pl.String(),  # what to do (null when confirmed)
}


def _mods_key(column: str) -> pl.Expr:
    return pl.col(column).fill_null([]).list.sort().list.join("+")


def claims_of(lines: pl.DataFrame) -> pl.DataFrame:
    """(claim_seq, claim_id, frequency) of every 837 claim that stands: not a void
    request, not replaced or voided by a later claim (measure-logic.md sections 1 and 9)."""
    keys = lines.group_by("claim_seq").agg(
        pl.col("tin").first(),
        pl.col("claim_id").first(),
        pl.col("frequency")
        .first()
        .str.strip_chars()
        .cast(pl.Enum(["7", "8"]), strict=False)
        .alias("action"),
    )
    gone = superseded(keys.lazy())
    return (
        keys.filter(pl.col("action").is_null() | (pl.col("action") != "8"))
        .join(gone, on="claim_seq", how="anti")
        .select(
            "claim_seq",
            "claim_id",
            pl.col("action").cast(pl.String).fill_null("1").alias("frequency"),
        )
        .sort("claim_seq")
    )


def _history(remit: pl.DataFrame) -> pl.DataFrame:
    """One row per 835 claim (remit_seq) with ``live`` and, for a cancelled one, the
    reversal that cancelled it."""
    claims = (
        remit.group_by("remit_seq")
        .agg(
            pl.col(c).first()
            for c in ("claim_id", "claim_status", "payer_claim_control", "frequency", "source")
        )
        .sort("remit_seq")
    )
    cancelled: dict[int, int] = {}
    reversals = claims.filter(pl.col("claim_status") == REVERSAL)
    if reversals.height:
        # Only the claim ids that were reversed at all: a few rows, walked in order.
        involved = claims.join(reversals.select("claim_id").unique(), on="claim_id", how="semi")
        for _cid, group in involved.group_by("claim_id", maintain_order=True):
            open_: list[tuple[int, str | None]] = []
            for seq, status, icn in group.select(
                "remit_seq", "claim_status", "payer_claim_control"
            ).iter_rows():
                if status != REVERSAL:
                    open_.append((seq, icn))
                    continue
                same = [i for i, (_, o) in enumerate(open_) if icn is not None and o == icn]
                pick = same[-1] if same else (len(open_) - 1 if open_ else None)
                if pick is not None:
                    cancelled[open_.pop(pick)[0]] = seq
    gone = pl.DataFrame(
        {"remit_seq": list(cancelled), "reversed_by": list(cancelled.values())},
        schema={"remit_seq": pl.Int64, "reversed_by": pl.Int64},
    )
    return claims.join(gone, on="remit_seq", how="left").with_columns(
        ((pl.col("claim_status") != REVERSAL) & pl.col("reversed_by").is_null()).alias("live")
    )


def _assign(
    standing: pl.DataFrame, lines: pl.DataFrame, history: pl.DataFrame, remit: pl.DataFrame
) -> pl.DataFrame:
    """claim_seq -> remit_seq: the latest live 835 claim of each standing 837 claim."""
    live = history.filter("live").select("remit_seq", "claim_id")
    pairs = standing.join(live, on="claim_id", how="inner")
    crowded = pairs.group_by("remit_seq").agg(pl.len().alias("_n"))
    pairs = pairs.join(crowded, on="remit_seq")
    single = pairs.filter(pl.col("_n") == 1).select("claim_seq", "remit_seq")
    shared = pairs.filter(pl.col("_n") > 1).select("claim_seq", "remit_seq")
    if shared.height:
        # Several 837 claims with this CLM01: score by lines in common (code and date).
        sent, back = _sent_keys(lines, shared), _back_keys(remit, shared)
        score = (
            shared.join(sent, on="claim_seq")
            .join(back, on=["remit_seq", "_code", "_date"])
            .group_by("claim_seq", "remit_seq")
            .agg(pl.len().alias("_score"))
        )
        best = (
            score.sort("remit_seq", "_score", "claim_seq", descending=[False, True, False])
            .group_by("remit_seq", maintain_order=True)
            .first()
            .select("claim_seq", "remit_seq")
        )
        single = pl.concat([single, best])
    return single.group_by("claim_seq").agg(pl.col("remit_seq").max())


def _sent_keys(lines: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """(claim_seq, _code, _date) of the 837 lines of the claims in ``pairs``: the procedure
    and date a claim shares with an 835 claim (compared with :func:`_back_keys`)."""
    return lines.join(pairs.select("claim_seq").unique(), on="claim_seq", how="semi").select(
        "claim_seq",
        pl.col("procedure_code").str.strip_chars().str.to_uppercase().alias("_code"),
        pl.col("service_date").alias("_date"),
    )


def _back_keys(remit: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """(remit_seq, _code, _date) of the 835 lines of the 835 claims in ``pairs`` (the code
    as sent, SVC06, when the payer changed it)."""
    return remit.join(pairs.select("remit_seq").unique(), on="remit_seq", how="semi").select(
        "remit_seq",
        pl.coalesce("original_procedure_code", "procedure_code").alias("_code"),
        pl.coalesce("service_date", "statement_start").alias("_date"),
    )


def _reversed(
    standing: pl.DataFrame, lines: pl.DataFrame, history: pl.DataFrame, remit: pl.DataFrame
) -> pl.DataFrame:
    """claim_seq -> _reversal: the reversal that cancelled the latest adjudication *of this
    claim*, for standing claims without a live one.

    A cancelled adjudication is this claim's when its CLP09 (when given) is the claim's
    frequency code and it shares a line (procedure and date) with the claim (or has no
    lines): a replacement's predecessor is reversed when the replacement is processed,
    which says nothing yet about the replacement itself.
    """
    cancelled = history.filter(pl.col("reversed_by").is_not_null()).select(
        "remit_seq", "claim_id", "reversed_by", pl.col("frequency").alias("_clp09")
    )
    pairs = standing.join(cancelled, on="claim_id").filter(
        pl.col("_clp09").is_null() | (pl.col("_clp09") == pl.col("frequency"))
    )
    if pairs.height == 0:
        return pl.DataFrame(schema={"claim_seq": pl.Int64, "_reversal": pl.Int64})
    sent, back = _sent_keys(lines, pairs), _back_keys(remit, pairs)
    shared = (
        pairs.select("claim_seq", "remit_seq")
        .join(sent, on="claim_seq")
        .join(back, on=["remit_seq", "_code", "_date"])
        .select("claim_seq", "remit_seq")
        .unique()
    )
    lineless = back.group_by("remit_seq").agg(pl.col("_code").is_not_null().any().alias("_has"))
    ours = (
        pairs.join(lineless, on="remit_seq", how="left")
        .filter(~pl.col("_has").fill_null(False))
        .select("claim_seq", "remit_seq")
    )
    return (
        pairs.join(pl.concat([shared, ours]).unique(), on=["claim_seq", "remit_seq"], how="semi")
        .group_by("claim_seq")
        .agg(pl.col("reversed_by").sort_by("remit_seq").last().alias("_reversal"))
    )


def _match_lines(sent: pl.DataFrame, back: pl.DataFrame) -> pl.DataFrame:
    """(claim_seq, line_number) -> (remit_line_index, matched_by) inside matched pairs.

    ``sent``: claim_seq, remit_seq, line_number, _code, _mods, _date, _npi, _ctl.
    ``back``: remit_seq, remit_line_index, _code, _mods, _date, _npi, _ctl.
    Procedure, modifiers and date are tried with the rendering NPI first (identical
    lines of two clinicians on one claim), then without it.
    """
    matched: list[pl.DataFrame] = []
    steps = (
        ("line_control", ["_ctl"]),
        ("code_date", ["_code", "_mods", "_date", "_npi"]),
        ("code_date", ["_code", "_mods", "_date"]),
        ("code", ["_code", "_mods"]),
    )
    for name, keys in steps:
        s = sent.drop_nulls(keys).with_columns(
            pl.int_range(pl.len()).over("remit_seq", *keys).alias("_k")
        )
        b = back.drop_nulls(keys).with_columns(
            pl.int_range(pl.len()).over("remit_seq", *keys).alias("_k")
        )
        m = s.join(b, on=["remit_seq", *keys, "_k"], how="inner").select(
            "claim_seq",
            "line_number",
            "remit_seq",
            "remit_line_index",
            pl.lit(name).alias("matched_by"),
        )
        matched.append(m)
        sent = sent.join(m, on=["claim_seq", "line_number"], how="anti")
        back = back.join(m, on=["remit_seq", "remit_line_index"], how="anti")
    return pl.concat(matched)


def reconcile_lines(
    lines: pl.DataFrame, remit: pl.DataFrame, year: int, *, result: EngineResult | None = None
) -> pl.DataFrame:
    """The status of every QDC line of an eligible claim (:data:`RECONCILED_LINE_SCHEMA`).

    ``lines`` is the canonical claim-line table (an optional ``line_control`` column holds
    the 837 REF*6R of a line); ``remit`` the remittance-line table of every 835 received.
    ``result``: the engine's evaluation of ``lines`` for ``year`` at level tin-npi, when
    the caller has it already (eligibility is read from its instances).
    """
    t = tables(year)
    if result is None:
        result = evaluate_lines(lines, year, spill=False)
    # (claim, NPI, code) -> the measures a QDC line of that code can serve on that claim.
    measure_codes = (
        t.performance_codes.filter(~pl.col("on_dx"))
        .join(t.performance.select("pidx", "measure_id"), on="pidx")
        .select("measure_id", pl.col("code").alias("procedure_code"))
        .unique()
    )
    eligible = (
        result.instances.select(pl.col("claim_seqs").alias("claim_seq"), "npi", "measure_id")
        .explode("claim_seq")
        .unique()
        .join(measure_codes, on="measure_id")
        .group_by("claim_seq", "npi", "procedure_code")
        .agg(pl.col("measure_id").unique().sort().alias("measure_ids"))
    )
    code = pl.col("procedure_code").str.strip_chars().str.to_uppercase()
    if "line_control" not in lines.columns:
        lines = lines.with_columns(pl.lit(None, dtype=pl.String).alias("line_control"))
    standing = claims_of(lines)
    qdc = (
        lines.filter(code.is_in(sorted(t.qdc_codes)))
        .join(standing.select("claim_seq"), on="claim_seq", how="semi")
        .select(
            "claim_seq",
            "claim_id",
            "source",
            "tin",
            pl.col("rendering_npi").alias("npi"),
            "line_number",
            code.alias("procedure_code"),
            pl.col("modifiers").fill_null([]).list.eval(pl.element().str.to_uppercase()),
            "service_date",
            pl.col("line_control").str.strip_chars().replace("", None).alias("_ctl"),
        )
    )
    history = _history(remit)
    assigned = _assign(standing, lines, history, remit)
    rclaims = remit.group_by("remit_seq").agg(
        pl.col("source").first().alias("remit_source"),
        pl.col("payer_claim_control").first(),
        pl.col("claim_status").first(),
        pl.col("claim_adjustments").first(),
        pl.col("claim_remarks").first(),
    )
    # The reversal that ended a claim id's last adjudication, for claims never re-adjudicated.
    reversed_ = _reversed(standing, lines, history, remit)
    per_claim = (
        standing.join(assigned, on="claim_seq", how="left")
        .join(reversed_, on="claim_seq", how="left")
        .with_columns(
            (pl.col("remit_seq").is_null() & pl.col("_reversal").is_not_null()).alias(
                "_by_reversal"
            ),
            pl.coalesce("remit_seq", "_reversal").alias("remit_seq"),
        )
        .join(rclaims, on="remit_seq", how="left")
    )

    back = remit.filter(pl.col("line_index").is_not_null()).select(
        "remit_seq",
        pl.col("line_index").alias("remit_line_index"),
        pl.coalesce("original_procedure_code", "procedure_code").alias("_code"),
        pl.when(pl.col("original_procedure_code").is_not_null())
        .then(_mods_key("original_modifiers"))
        .otherwise(_mods_key("modifiers"))
        .alias("_mods"),
        pl.coalesce("service_date", "statement_start").alias("_date"),
        pl.coalesce("line_rendering_npi", "rendering_npi").alias("_npi"),
        pl.col("line_control").str.strip_chars().replace("", None).alias("_ctl"),
        "adjustments",
        "remarks",
    )
    processed = per_claim.filter(
        pl.col("claim_status").is_in(sorted(PROCESSED)) & ~pl.col("_by_reversal")
    ).select("claim_seq", "remit_seq")
    sent = qdc.join(processed, on="claim_seq", how="inner").select(
        "claim_seq",
        "remit_seq",
        "line_number",
        pl.col("procedure_code").alias("_code"),
        _mods_key("modifiers").alias("_mods"),
        pl.col("service_date").alias("_date"),
        pl.col("npi").alias("_npi"),
        "_ctl",
    )
    back_in = back.join(processed.select("remit_seq").unique(), on="remit_seq", how="semi")
    matched = _match_lines(sent, back_in.drop("adjustments", "remarks")).join(
        back.select("remit_seq", "remit_line_index", "adjustments", "remarks"),
        on=["remit_seq", "remit_line_index"],
        how="left",
    )

    status = (
        pl.when(pl.col("remit_seq").is_null())
        .then(pl.lit("no_remittance_yet"))
        .when(pl.col("_by_reversal") | ~pl.col("claim_status").is_in(sorted(PROCESSED)))
        .then(pl.lit("claim_rejected"))
        .when(pl.col("remit_line_index").is_null())
        .then(pl.lit("not_in_835"))
        .when(pl.col("remarks").list.contains(CONFIRMING_REMARK))
        .then(pl.lit("confirmed"))
        .otherwise(pl.lit("denied"))
    )
    codes = (
        pl.when(pl.col("status") == "denied")
        .then(pl.concat_list(pl.col("adjustments").fill_null([]), pl.col("remarks").fill_null([])))
        .when(pl.col("status") == "claim_rejected")
        .then(
            pl.concat_list(
                pl.col("claim_adjustments").fill_null([]), pl.col("claim_remarks").fill_null([])
            )
        )
        .otherwise(pl.lit([], dtype=pl.List(pl.String)))
    )
    out = (
        qdc.join(eligible, on=["claim_seq", "npi", "procedure_code"], how="inner")
        .join(per_claim.drop("claim_id"), on="claim_seq", how="left")
        .join(
            matched.drop("remit_seq"),
            on=["claim_seq", "line_number"],
            how="left",
        )
        .with_columns(status.cast(STATUS).alias("status"))
        .with_columns(
            codes.alias("codes"),
            pl.col("status")
            .cast(pl.String)
            .replace_strict(ACTIONS, return_dtype=pl.String)
            .alias("action"),
        )
        .sort("claim_seq", "line_number")
    )
    return out.select([pl.col(n).cast(d) for n, d in RECONCILED_LINE_SCHEMA.items()])


def confirmed_only(lines: pl.DataFrame, reconciled: pl.DataFrame) -> pl.DataFrame:
    """``lines`` as CMS will count them: without the QDC lines not confirmed by an 835.

    Every other line stays (a rejected claim's visit still counts against data
    completeness until the claim is resent with its QDCs).
    """
    lost = reconciled.filter(pl.col("status") != "confirmed").select("claim_seq", "line_number")
    return lines.join(lost, on=["claim_seq", "line_number"], how="anti", maintain_order="left")


def unmatched_remittances(lines: pl.DataFrame, remit: pl.DataFrame) -> pl.DataFrame:
    """The 835 claims whose CLP01 is the CLM01 of no claim sent (a claim never sent from
    here, or sent under another patient control number): remit_seq, claim_id,
    claim_status, source, lines."""
    sent = lines.select("claim_id").unique()
    return (
        remit.join(sent, on="claim_id", how="anti")
        .group_by("remit_seq")
        .agg(
            pl.col("claim_id").first(),
            pl.col("claim_status").first(),
            pl.col("source").first(),
            pl.col("line_index").drop_nulls().len().alias("lines"),
        )
        .sort("remit_seq")
    )
