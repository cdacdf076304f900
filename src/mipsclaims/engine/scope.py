"""Claim scope (measure-logic.md sections 1 and 9): which claims are evaluated, and why not.

Order matters: replacement (7) and void (8) act in input order (``claim_seq``) among claims
with the same TIN and CLM01, before the Part B filter; then claims are split by rendering NPI
and dated by their earliest line. Every claim left out is counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SCOPE_SCHEMA = {"reason": pl.String(), "claims": pl.Int64(), "lines": pl.Int64()}


@dataclass(frozen=True)
class Scoped:
    """Split claims in scope, their lines, and the scope counts."""

    claims: pl.DataFrame  # one row per split claim (uid)
    lines: pl.DataFrame  # one row per service line of an in-scope split claim
    scope: pl.DataFrame


def _claim_reasons(claims: pl.DataFrame) -> pl.DataFrame:
    """Per input claim (``claim_seq``): the reason it is left out before the split, or null.

    Only claims sharing TIN and CLM01 with a 7 or 8 can be superseded, so the ordered
    look-ahead runs on those few.
    """
    claims = claims.with_columns(
        pl.col("frequency").str.strip_chars(),
        pl.col("filing_indicator").str.strip_chars().str.to_uppercase(),
    )
    group = ["tin", "claim_id"]
    acted = claims.filter(pl.col("frequency").is_in(["7", "8"])).select(group).unique()
    involved = claims.join(acted, on=group, how="semi", nulls_equal=True).sort("claim_seq")
    action = pl.when(pl.col("frequency").is_in(["7", "8"])).then(pl.col("frequency"))
    involved = (
        involved.with_columns(action.alias("_action"))
        .with_columns(pl.col("_action").shift(-1).over(group).alias("_next"))
        .with_columns(pl.col("_next").backward_fill().over(group))
        .select("claim_seq", "_next")
    )
    claims = claims.join(involved, on="claim_seq", how="left")
    reason = (
        pl.when(pl.col("_next") == "7")
        .then(pl.lit("replaced"))
        .when(pl.col("_next") == "8")
        .then(pl.lit("voided"))
        .when(pl.col("frequency") == "8")
        .then(pl.lit("void_request"))
        .when(pl.col("filing_indicator").fill_null("") != "MB")
        .then(pl.lit("not_part_b"))
    )
    return claims.select("claim_seq", "n_lines", reason.alias("reason"))


class ScopeError(ValueError):
    """The claim-line table cannot be evaluated as given (a column the engine needs is empty)."""


def _check_input(lines: pl.DataFrame) -> None:
    missing = lines.select(pl.col("claim_seq").is_null().arg_true().first()).item()
    if missing is not None:
        raise ScopeError(
            f"claim-line row {missing} (source {lines['source'][missing]!r}) has no claim_seq; "
            "every line needs the position of its claim in the input"
        )


def apply_scope(lines: pl.DataFrame, year: int) -> Scoped:
    """Split the canonical table into in-scope split claims of ``year`` and scope counts."""
    _check_input(lines)
    # One pass over the lines: per split claim, then per input claim from the splits.
    split = lines.group_by("claim_seq", "rendering_npi").agg(
        pl.col("claim_id").first(),
        pl.col("source").first(),
        pl.col("tin").first(),
        pl.col("patient_id").first(),
        pl.col("birth_date").first(),
        pl.col("sex").first(),
        pl.col("diagnosis_codes").first(),
        pl.col("frequency").first(),
        pl.col("filing_indicator").first(),
        pl.col("service_date").min().alias("claim_date"),
        pl.len().alias("n_lines"),
    )
    per_claim = split.group_by("claim_seq").agg(
        pl.col("tin").first(),
        pl.col("claim_id").first(),
        pl.col("frequency").first(),
        pl.col("filing_indicator").first(),
        pl.col("n_lines").sum(),
    )
    reasons = _claim_reasons(per_claim)
    dropped_early = (
        reasons.filter(pl.col("reason").is_not_null())
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("claims"), pl.col("n_lines").sum().cast(pl.Int64))
        .rename({"n_lines": "lines"})
    )
    split = split.join(
        reasons.filter(pl.col("reason").is_null()).select("claim_seq"), on="claim_seq", how="semi"
    ).drop("frequency", "filing_indicator")
    reason = (
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
    split = split.with_columns(reason.alias("reason"))
    dropped_late = (
        split.filter(pl.col("reason").is_not_null())
        .group_by("reason")
        .agg(pl.len().cast(pl.Int64).alias("claims"), pl.col("n_lines").sum().cast(pl.Int64))
        .rename({"n_lines": "lines"})
    )
    claims = (
        split.filter(pl.col("reason").is_null())
        .drop("reason")
        .sort("claim_seq", "rendering_npi")
        .with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
        .rename({"rendering_npi": "npi"})
    )
    evaluated = pl.DataFrame(
        {
            "reason": ["evaluated"],
            "claims": [claims.height],
            "lines": [int(claims["n_lines"].sum() or 0)],
        },
        schema=SCOPE_SCHEMA,
    )
    scope = pl.concat([dropped_early.cast(SCOPE_SCHEMA), dropped_late.cast(SCOPE_SCHEMA)]).sort(
        "reason"
    )
    scope = pl.concat([scope, evaluated])
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
    claims = claims.with_columns(
        pl.col("diagnosis_codes")
        .fill_null([])
        .list.eval(pl.element().str.replace_all(r"[.\s]", "").str.to_uppercase())
    )
    return Scoped(claims=claims, lines=in_lines, scope=scope)
