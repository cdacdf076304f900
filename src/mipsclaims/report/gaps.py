"""The gap worklist: eligible instances still missing a QDC, or carrying conflicting ones.

A gap is fixable only before the claim is sent, so each row says which claim, which date,
which clinician and measure, and the QDCs that would close it. Patient identifiers and raw
claim ids (CLM01 may embed PHI) appear only when ``show_phi`` is set; otherwise a claim is
``claim #<seq> (<short hash of CLM01>)`` and the patient column is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from ..schema import short_hash

MASKED = "(hidden)"

MEANING_ORDER = ("met", "not_met", "exception", "exclusion")
MEANING_LABEL = {
    "met": "met",
    "not_met": "not met",
    "exception": "exception",
    "exclusion": "exclusion",
}

#: Columns of the worklist, in order.
GAP_COLUMNS = (
    "tin",
    "npi",
    "measure_id",
    "stratum",
    "problem",
    "instance_date",
    "claims",
    "patient",
    "qdcs_found",
    "closing_qdcs",
)

ClosingCodes = Callable[[int, str, str | None], Sequence[Any]]


def _default_closing() -> ClosingCodes:
    from ..engine import closing_codes  # lazy: only needed when there are gaps

    return closing_codes


def format_choices(choices: Sequence[Any]) -> str:
    """``met: G8431 | G8510; not met: G8432`` from QdcChoice models (codes joined by +)."""
    by_meaning: dict[str, list[str]] = {}
    for choice in choices:
        by_meaning.setdefault(choice.meaning, []).append("+".join(choice.codes))
    parts = [
        f"{MEANING_LABEL.get(m, m)}: {' | '.join(by_meaning[m])}"
        for m in (*MEANING_ORDER, *sorted(set(by_meaning) - set(MEANING_ORDER)))
        if m in by_meaning
    ]
    return "; ".join(parts)


def claim_refs(seqs: Sequence[int], ids: Sequence[str], *, show_phi: bool) -> str:
    """``claim #12 (1a2b3c4d)`` per claim, or the raw CLM01 with ``show_phi``."""
    if show_phi:
        return ", ".join(f"#{s} {i}" for s, i in zip(seqs, ids, strict=False))
    return ", ".join(f"claim #{s} ({short_hash(i)})" for s, i in zip(seqs, ids, strict=False))


def gap_frame(
    instances: pl.DataFrame,
    year: int,
    *,
    show_phi: bool = False,
    measures: Sequence[str] | None = None,
    closing: ClosingCodes | None = None,
) -> pl.DataFrame:
    """Worklist rows (``GAP_COLUMNS``) for instances with marker ``none`` or conflicting QDCs."""
    open_ = instances.filter((pl.col("marker") == "none") | pl.col("conflicting"))
    if measures:
        open_ = open_.filter(pl.col("measure_id").is_in(list(measures)))
    open_ = open_.sort(["tin", "npi", "measure_id", "stratum", "instance_date"], nulls_last=True)
    closing = closing or (_default_closing() if open_.height else None)
    keys = open_.select("measure_id", "stratum").unique(maintain_order=True)
    lookup = pl.DataFrame(
        {
            "measure_id": keys["measure_id"],
            "stratum": keys["stratum"],
            "closing_qdcs": [
                format_choices(closing(year, m, s)) if closing else "" for m, s in keys.iter_rows()
            ],
        },
        schema={"measure_id": pl.String, "stratum": pl.String, "closing_qdcs": pl.String},
    )
    refs = [
        claim_refs(seqs, ids, show_phi=show_phi)
        for seqs, ids in zip(open_["claim_seqs"], open_["claim_ids"], strict=True)
    ]
    patient = pl.col("patient_id") if show_phi else pl.lit(MASKED)
    return (
        open_.with_columns(
            pl.when(pl.col("marker") == "none")
            .then(pl.lit("missing QDC"))
            .otherwise(pl.lit("conflicting QDCs"))
            .alias("problem"),
            pl.Series("claims", refs, dtype=pl.String),
            patient.cast(pl.String).alias("patient"),
            pl.col("qdc_codes").list.join(" ").alias("qdcs_found"),
        )
        .join(lookup, on=["measure_id", "stratum"], how="left", nulls_equal=True)
        .select(GAP_COLUMNS)
    )
