"""Claim scope (measure-logic.md sections 1 and 9): which claims are evaluated, and why not.

Order matters: replacement (7) and void (8) act in input order (``claim_seq``) among claims
with the same TIN and CLM01, before the Part B filter; then claims are split by rendering NPI
and dated by their earliest line. Every claim left out is counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..errors import MipsClaimsError
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


def split_batch(lines: pl.DataFrame, year: int) -> BatchScope:
    """Phase 1: split a batch of whole claims by rendering NPI and keep the candidates.

    A claim that is a void request, not Part B, or whose split is left out for a reason of
    its own is no candidate whatever later claims say; whether a candidate is replaced or
    voided is only known once every claim has been seen (:func:`superseded`).
    """
    _check_input(lines)
    # One pass over the lines: per split claim, then per input claim from the splits.
    split = (
        lines.group_by("claim_seq", "rendering_npi")
        .agg(
            pl.col("claim_id").first(),
            pl.col("source").first(),
            pl.col("tin").first(),
            pl.col("patient_id").first(),
            pl.col("birth_date").first(),
            pl.col("sex").first(),
            pl.col("diagnosis_codes").first(),
            pl.col("frequency").first().str.strip_chars(),
            pl.col("filing_indicator").first().str.strip_chars().str.to_uppercase(),
            pl.col("service_date").min().alias("claim_date"),
            pl.len().alias("n_lines"),
        )
        .with_columns(_own_reason().cast(_OWN).alias("own"), _late_reason(year).alias("reason"))
    )
    keys = split.group_by("claim_seq").agg(
        pl.col("tin").first(),
        pl.col("claim_id").first(),
        pl.col("frequency").first().cast(_ACTION, strict=False).alias("action"),
        pl.col("own").first(),
        pl.col("n_lines").sum(),
    )
    own = pl.col("own").is_null()
    # Only the late reasons of claims without one of their own can count (section 9).
    splits = split.filter(pl.col("reason").is_not_null() & own).select(
        "claim_seq", "reason", "n_lines"
    )
    claims = (
        split.filter(pl.col("reason").is_null() & own)
        .drop("reason", "own", "frequency", "filing_indicator")
        .sort("claim_seq", "rendering_npi")
        .with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
        .rename({"rendering_npi": "npi"})
    )
    # Only what eligibility, markers and findings read; claim fields come from ``claims``.
    in_lines = (
        lines.lazy()
        .select(
            "claim_seq",
            "rendering_npi",
            "line_number",
            pl.col("procedure_code").str.strip_chars().str.to_uppercase().alias("code"),
            pl.col("modifiers").fill_null([]),
            pl.coalesce(
                pl.col("line_pos").replace("", None), pl.col("claim_pos").replace("", None)
            ).alias("pos"),
            "charge",
            "service_date",
        )
        .join(
            claims.lazy().select("uid", "claim_seq", pl.col("npi").alias("rendering_npi")),
            on=["claim_seq", "rendering_npi"],
            how="inner",
        )
        .drop("rendering_npi")
        .collect()
    )
    # Readers normalise ICD-10 already; a frame built by hand may not (section 2).
    claim_dx = (
        claims.select("uid", pl.col("diagnosis_codes").alias("dx"))
        .explode("dx")
        .with_columns(pl.col("dx").str.replace_all(r"[.\s]", "").str.to_uppercase())
    )
    return BatchScope(
        keys=keys,
        splits=splits,
        claims=claims.drop("diagnosis_codes"),
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
