"""Claim scope (measure-logic.md sections 1 and 9): which claims are evaluated, and why not.

Order matters: replacement (7) and void (8) act in input order (``claim_seq``) among claims
with the same TIN and CLM01, before the Part B filter; then claims are split by rendering NPI
and dated by their earliest line. Every claim left out is counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..errors import MipsClaimsError
from .codes import as_code, code_ids
from .instances import FrameT

SCOPE_SCHEMA = {"reason": pl.String(), "claims": pl.Int64(), "lines": pl.Int64()}


@dataclass(frozen=True)
class BatchScope:
    """Phase 1 of scope on a batch of whole claims: what the rest of the year needs of it.

    ``keys`` (one row per input claim) is all that replacement and void resolution read;
    ``splits`` carries the late reasons of split claims, for the scope counts;
    ``claims`` and ``lines`` are the candidate split claims (no claim-local reason to leave
    them out) with a batch-local ``uid`` in (``claim_seq``, NPI) order.
    """

    keys: pl.DataFrame  # claim_seq, tin, claim_id, action (7/8), own (reason), n_lines
    splits: pl.DataFrame  # claim_seq, reason, n_lines: late reasons of claims without own
    claims: pl.DataFrame  # one row per candidate split claim (uid)
    lines: pl.DataFrame  # one row per service line of a candidate split claim
    claim_dx: pl.DataFrame  # uid, dx: the header diagnoses of a candidate split claim


#: Reasons a claim has on its own, and the action a claim takes on earlier ones.
_OWN = pl.Enum(["void_request", "not_part_b"])
_ACTION = pl.Enum(["7", "8"])


def superseded(keys: pl.LazyFrame) -> pl.DataFrame:
    """Phase 2, first: (claim_seq, reason) of the claims replaced or voided by a later claim,
    from the ``keys`` of every claim seen.

    Replacement (7) and void (8) act in input order among claims sharing TIN and CLM01;
    only claims sharing them with a 7 or 8 can be superseded, so the ordered look-ahead
    runs on those few (the keys themselves may be on disk: they are scanned twice).
    """
    group = ["tin", "claim_id"]
    acted = keys.filter(pl.col("action").is_not_null()).select(group).unique().collect()
    involved = (
        keys.join(acted.lazy(), on=group, how="semi", nulls_equal=True).collect().sort("claim_seq")
    )
    after = (
        involved.with_columns(pl.col("action").shift(-1).over(group).alias("_next"))
        .with_columns(pl.col("_next").backward_fill().over(group))
        .filter(pl.col("_next").is_not_null())
    )
    reason = pl.when(pl.col("_next") == "7").then(pl.lit("replaced")).otherwise(pl.lit("voided"))
    return after.select("claim_seq", reason.alias("reason"))


class ScopeError(MipsClaimsError, ValueError):
    """The claim-line table cannot be evaluated as given (a column the engine needs is empty)."""


def _check_input(lines: pl.DataFrame) -> None:
    missing = lines.select(pl.col("claim_seq").is_null().arg_true().first()).item()
    if missing is not None:
        raise ScopeError(
            f"claim-line row {missing} (source {lines['source'][missing]!r}) has no claim_seq; "
            "every line needs the position of its claim in the input"
        )


def _own_reason() -> pl.Expr:
    """Early reasons a claim has on its own (a later claim can only add replaced/voided)."""
    return (
        pl.when(pl.col("frequency") == "8")
        .then(pl.lit("void_request"))
        .when(pl.col("filing_indicator").fill_null("") != "MB")
        .then(pl.lit("not_part_b"))
    )


def _late_reason(year: int) -> pl.Expr:
    """Why a split claim is left out after the split (section 9), or null."""
    return (
        pl.when(
            pl.col("rendering_npi").is_null() | (pl.col("rendering_npi").str.strip_chars() == "")
        )
        .then(pl.lit("no_rendering_npi"))
        .when(pl.col("tin").is_null() | (pl.col("tin") == ""))
        .then(pl.lit("no_tin"))
        .when(pl.col("patient_id").is_null() | (pl.col("patient_id") == ""))
        .then(pl.lit("no_patient_id"))
        .when(pl.col("claim_date").is_null())
        .then(pl.lit("no_service_date"))
        .when(pl.col("claim_date").dt.year() != year)
        .then(pl.lit("other_year"))
    )


def _normal_code(code: pl.Expr) -> pl.Expr:
    return code.str.strip_chars().str.to_uppercase()


def _normal_dx(dx: pl.Expr) -> pl.Expr:
    """Readers normalise ICD-10 already; a frame built by hand may not (section 2)."""
    return dx.str.replace_all(r"[.\s]", "").str.to_uppercase()


def _modifier_mask(modifiers: pl.Expr, bits: dict[str, int]) -> pl.Expr:
    """Per line, the bit mask of its modifiers (:attr:`.codes.CodeIds.mod_bits`; others
    are not looked at)."""
    each = pl.element().replace_strict(
        list(bits), list(bits.values()), default=0, return_dtype=pl.Int64
    )
    return modifiers.list.eval(each.bitwise_or()).list.first().fill_null(0)


def _per_split(split_id: pl.Series, first: pl.Series, dates: pl.Series) -> pl.DataFrame:
    """claim_date (earliest line date) and n_lines of each split, by split id (numpy
    reductions over the integer ids: no group-by)."""
    n = first.len()
    ids = split_id.to_numpy()
    none = np.iinfo(np.int32).max
    days = dates.cast(pl.Int32).fill_null(none).to_numpy()
    if split_id.is_sorted():  # one run per split: reduce each run
        earliest = np.minimum.reduceat(days, first.to_numpy()) if n else days[:0]
    else:
        earliest = np.full(n, none, dtype=np.int32)
        np.minimum.at(earliest, ids, days)
    date = pl.Series("claim_date", earliest, dtype=pl.Int32)
    date = date.scatter((date == none).arg_true(), None).cast(pl.Date)  # no dated line
    return pl.DataFrame([date, pl.Series("n_lines", np.bincount(ids, minlength=n), pl.UInt32)])


def _claim_lengths(seq: pl.Series) -> pl.Series:
    """Lines of each claim of ``seq`` (claim_seq of lines in claim order), in claim order."""
    starts = np.flatnonzero(np.diff(seq.to_numpy(), prepend=-1) != 0)
    return pl.Series("n_lines", np.diff(starts, append=seq.len()).astype(np.uint32))


def _rows(frame: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """``frame.gather(rows)``, by a mask when ``rows`` are in order (a filter copies texts
    faster than a gather)."""
    if not rows.is_sorted():
        return frame.gather(rows)
    return frame.filter(pl.repeat(False, frame.height, eager=True).scatter(rows, True))


def _split_ids(lines: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    """Per line, its split claim (claim_seq, rendering NPI) as a dense integer numbered in
    (claim_seq, NPI) order, and the row in ``lines`` of each split's first line; ``lines``
    in claim order.

    Lines of a claim are contiguous and most claims have one rendering NPI: runs of equal
    (claim_seq, NPI) are found by comparing each line with the one before, with no hashing
    of the NPI texts. Only when a claim has several runs are the runs (not the lines)
    sorted by (claim_seq, NPI), so that interleaved NPIs (A B A) make two splits.
    """
    seq, npi = pl.col("claim_seq"), pl.col("rendering_npi")
    starts = lines.select(
        (seq.ne_missing(seq.shift(1)) | npi.ne_missing(npi.shift(1))).arg_true().alias("row")
    )["row"]
    marks = pl.repeat(0, lines.height, dtype=pl.UInt32, eager=True).scatter(starts, 1)
    run_of_line = marks.cum_sum() - 1
    runs = lines.select("claim_seq", "rendering_npi").pipe(_rows, starts)
    if not (runs["claim_seq"].diff() == 0).any():  # claims in order: a repeat is adjacent
        return run_of_line.set_sorted(), starts
    ordered = (
        runs.with_columns(run=pl.int_range(pl.len(), dtype=pl.UInt32), row=starts)
        .sort("claim_seq", "rendering_npi", maintain_order=True)
        .with_columns(new=seq.ne_missing(seq.shift(1)) | npi.ne_missing(npi.shift(1)))
    )
    split = ordered["new"].cast(pl.UInt32).cum_sum() - 1
    split_of_run = pl.repeat(0, runs.height, dtype=pl.UInt32, eager=True).scatter(
        ordered["run"], split
    )
    # A stable sort keeps runs of one split in row order: the first is where it starts.
    return split_of_run.gather(run_of_line), ordered.filter("new")["row"]


def split_batch(lines: pl.DataFrame, year: int) -> BatchScope:
    """Phase 1: split a batch of whole claims by rendering NPI and keep the candidates.

    A claim that is a void request, not Part B, or whose split is left out for a reason of
    its own is no candidate whatever later claims say; whether a candidate is replaced or
    voided is only known once every claim has been seen (:func:`superseded`).

    Claims are found by position, not by grouping: lines in claim order (a stable sort by
    ``claim_seq`` only when a hand-built table is not), claim fields taken from the first
    line of each split, only integer keys grouped.
    """
    _check_input(lines)
    if not lines["claim_seq"].is_sorted():
        lines = lines.sort("claim_seq", maintain_order=True)
    split_id, first = _split_ids(lines)
    per_split = _per_split(split_id, first, lines["service_date"])
    split = (
        lines.select(
            "claim_seq",
            "rendering_npi",
            "claim_id",
            "source",
            "tin",
            "patient_id",
            "birth_date",
            "sex",
            "frequency",
            "filing_indicator",
        )
        .pipe(_rows, first)
        .with_columns(
            pl.col("frequency").str.strip_chars(),
            pl.col("filing_indicator").str.strip_chars().str.to_uppercase(),
            per_split["claim_date"],
            per_split["n_lines"],
            first.alias("row"),
        )
        .with_columns(_own_reason().cast(_OWN).alias("own"), _late_reason(year).alias("reason"))
    )
    seq = pl.col("claim_seq")
    keys = split.filter(seq.ne_missing(seq.shift(1))).select(
        "claim_seq",
        "tin",
        "claim_id",
        pl.col("frequency").cast(_ACTION, strict=False).alias("action"),
        "own",
        _claim_lengths(lines["claim_seq"]),
    )
    own = pl.col("own").is_null()
    # Only the late reasons of claims without one of their own can count (section 9).
    splits = split.filter(pl.col("reason").is_not_null() & own).select(
        "claim_seq", "reason", "n_lines"
    )
    # Splits are numbered in (claim_seq, NPI) order: so are the candidates' uids.
    claims = (
        split.with_columns(split=pl.int_range(pl.len(), dtype=pl.UInt32))
        .filter(pl.col("reason").is_null() & own)
        .drop("reason", "own", "frequency", "filing_indicator")
        .with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
        .rename({"rendering_npi": "npi"})
    )
    # uid of each split (null: no candidate), then of each line.
    uid_of_split = pl.repeat(None, split.height, dtype=pl.Int64, eager=True).scatter(
        claims["split"], claims["uid"]
    )
    line_uid = uid_of_split.gather(split_id)
    ids = code_ids(year)
    code = as_code(lines["procedure_code"], ids.enum, _normal_code)
    # Only what eligibility, markers and findings read, of lines with a code of the year
    # (any other line matches nothing); claim fields come from ``claims``.
    kept = lines.select(
        line_uid.alias("uid"),
        code.alias("code"),
        "claim_seq",
        "line_number",
        "modifiers",
        "line_pos",
        "claim_pos",
        "charge",
        "service_date",
    ).filter(pl.col("uid").is_not_null() & pl.col("code").is_not_null())
    in_lines = kept.select(
        "uid",
        "claim_seq",
        "line_number",
        "code",
        _modifier_mask(pl.col("modifiers"), ids.mod_bits).alias("mods"),
        pl.coalesce(
            pl.col("line_pos").replace("", None), pl.col("claim_pos").replace("", None)
        ).alias("pos"),
        "charge",
        "service_date",
    )
    # Diagnoses of the year's logic only (others match nothing), as code ids.
    # (A candidate's first line, by a mask: a filter is cheaper than a gather of lists.)
    first_of = pl.repeat(None, lines.height, dtype=pl.Int64, eager=True).scatter(
        claims["row"], claims["uid"]
    )
    claim_dx = (
        pl.DataFrame({"uid": first_of, "dx": lines["diagnosis_codes"]})
        .filter(pl.col("uid").is_not_null())
        .explode("dx")
    )
    claim_dx = claim_dx.with_columns(as_code(claim_dx["dx"], ids.enum, _normal_dx)).filter(
        pl.col("dx").is_not_null()
    )
    return BatchScope(
        keys=keys,
        splits=splits,
        claims=claims.drop("split", "row"),
        lines=in_lines,
        claim_dx=claim_dx,
    )


def _counted(frame: pl.LazyFrame) -> pl.LazyFrame:
    return (
        frame.filter(pl.col("reason").is_not_null())
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("claims"), pl.col("n_lines").sum().cast(pl.Int64))
        .rename({"n_lines": "lines"})
        .cast(pl.Schema(SCOPE_SCHEMA))
    )


def kept(claims: FrameT, gone: pl.DataFrame) -> FrameT:
    """``claims`` (candidates, or late reasons of split claims) less those ``gone``
    (replaced or voided)."""
    return claims.filter(~pl.col("claim_seq").is_in(gone["claim_seq"].implode()))


def scope_counts(
    keys: pl.LazyFrame, splits: pl.LazyFrame, gone: pl.DataFrame, claims: int, lines: int
) -> pl.DataFrame:
    """The scope table: claims and lines left out by reason, then the ``claims`` and
    ``lines`` evaluated (counted by the caller, which may see the candidates in parts)."""
    # A later claim's action comes before a claim's own reason.
    reasons = keys.join(gone.lazy(), on="claim_seq", how="left").select(
        pl.coalesce("reason", pl.col("own").cast(pl.String)).alias("reason"), "n_lines"
    )
    # Candidates and late reasons are of claims without a reason of their own already.
    late = kept(splits, gone)
    evaluated = pl.DataFrame(
        {"reason": ["evaluated"], "claims": [claims], "lines": [lines]}, schema=SCOPE_SCHEMA
    )
    counted = pl.concat([_counted(reasons), _counted(late)])
    scope = counted.collect(engine="streaming").sort("reason")
    return pl.concat([scope, evaluated])
