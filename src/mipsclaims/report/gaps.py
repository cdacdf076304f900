"""The gap worklist: eligible instances still missing a QDC, or carrying conflicting ones.

A gap is fixable only before the claim is sent, so each row says which claim, which date,
which clinician and measure, and the QDCs that would close it. Patient identifiers and raw
claim ids (CLM01 may embed PHI) appear only when ``show_phi`` is set; otherwise a claim is
``claim #<seq> (<short hash of CLM01>)`` and the patient column is masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import polars as pl

from ..schema import short_hash

if TYPE_CHECKING:
    from ..engine.codes import OptionMarker
    from ..engine.result import EngineResult

MASKED = "(hidden)"

#: The order a worklist lists a measure's QDC choices in (not the rank order: met and not
#: met first, as billing staff read them), and their labels.
MEANING_ORDER: tuple[OptionMarker, ...] = ("met", "not_met", "exception", "exclusion")
MEANING_LABEL: dict[OptionMarker, str] = {
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


class Choice(Protocol):
    """What a worklist reads of a QDC choice (``engine.QdcChoice``)."""

    @property
    def codes(self) -> Sequence[str]: ...

    @property
    def meaning(self) -> OptionMarker: ...


#: ``engine.closing_codes``: (year, measure, stratum) -> the QDC choices that close it.
ClosingCodes = Callable[[int, str, str | None], Sequence[Choice]]


def _default_closing() -> ClosingCodes:
    from ..engine import closing_codes  # lazy: only needed when there are gaps

    return closing_codes


def format_choices(choices: Sequence[Choice]) -> str:
    """``met: G8431 | G8510; not met: G8432`` from QdcChoice models (codes joined by +)."""
    by_meaning: dict[OptionMarker, list[str]] = {}
    for choice in choices:
        by_meaning.setdefault(choice.meaning, []).append("+".join(choice.codes))
    parts = [
        f"{MEANING_LABEL[m]}: {' | '.join(by_meaning[m])}" for m in MEANING_ORDER if m in by_meaning
    ]
    return "; ".join(parts)


def claim_refs(frame: pl.DataFrame, *, show_phi: bool) -> pl.Series:
    """Per row of ``frame`` (``claim_seqs``, ``claim_ids`` lists): ``claim #12 (1a2b3c4d)``
    for each claim, comma-separated; ``#12 <CLM01>`` with ``show_phi``.

    Columnar: the lists are exploded, each distinct CLM01 hashed once, and joined back.
    """
    pairs = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"), "claim_seqs", "claim_ids"
    ).explode(["claim_seqs", "claim_ids"])
    if show_phi:
        text = pl.format("#{} {}", "claim_seqs", pl.col("claim_ids").fill_null("?"))
    else:
        ids = pairs["claim_ids"].drop_nulls().unique()
        hashes = pl.DataFrame(
            {"claim_ids": ids, "_hash": [short_hash(i) for i in ids]},
            schema={"claim_ids": pl.String, "_hash": pl.String},
        )
        pairs = pairs.join(hashes, on="claim_ids", how="left", maintain_order="left")
        text = pl.format("claim #{} ({})", "claim_seqs", pl.col("_hash").fill_null("?"))
    joined = (
        pairs.filter(pl.col("claim_seqs").is_not_null())
        .group_by("_row")
        .agg(text.str.join(", ").alias("claims"))
    )
    rows = pl.DataFrame({"_row": pl.int_range(frame.height, dtype=pl.Int64, eager=True)})
    return (
        rows.join(joined, on="_row", how="left", maintain_order="left")["claims"]
        .fill_null("")
        .cast(pl.String)
    )


def with_closing_codes(
    frame: pl.DataFrame, year: int, closing: ClosingCodes | None = None
) -> pl.DataFrame:
    """``frame`` plus ``closing_qdcs``: the QDC choices of its measure (one lookup each)."""
    closing = closing or (_default_closing() if frame.height else None)
    keys = frame.select("measure_id", "stratum").unique(maintain_order=True)
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
    return frame.join(
        lookup, on=["measure_id", "stratum"], how="left", nulls_equal=True, maintain_order="left"
    )


def open_instances(instances: pl.DataFrame, measures: Sequence[str] | None = None) -> pl.DataFrame:
    """Instances with marker ``none`` or conflicting QDCs, in worklist order, with
    ``problem``."""
    open_ = instances.filter((pl.col("marker") == "none") | pl.col("conflicting"))
    if measures:
        open_ = open_.filter(pl.col("measure_id").is_in(list(measures)))
    # Stable: equal keys keep the instances' order (input order of their first claim).
    return open_.sort(
        ["tin", "npi", "measure_id", "stratum", "instance_date"],
        nulls_last=True,
        maintain_order=True,
    ).with_columns(
        pl.when(pl.col("marker") == "none")
        .then(pl.lit("missing QDC"))
        .otherwise(pl.lit("conflicting QDCs"))
        .alias("problem")
    )


def gap_rows(
    open_: pl.DataFrame,
    year: int,
    *,
    show_phi: bool = False,
    closing: ClosingCodes | None = None,
) -> pl.DataFrame:
    """Worklist rows (``GAP_COLUMNS``) of :func:`open_instances` rows."""
    refs = claim_refs(open_, show_phi=show_phi)
    patient = pl.col("patient_id") if show_phi else pl.lit(MASKED)
    return (
        open_.with_columns(
            refs.alias("claims"),
            patient.cast(pl.String).alias("patient"),
            pl.col("qdc_codes").list.join(" ").alias("qdcs_found"),
        )
        .pipe(with_closing_codes, year, closing)
        .select(GAP_COLUMNS)
    )


def instance_gaps(
    instances: pl.DataFrame,
    year: int,
    *,
    show_phi: bool = False,
    measures: Sequence[str] | None = None,
    closing: ClosingCodes | None = None,
) -> pl.DataFrame:
    """Worklist rows (``GAP_COLUMNS``) of an instance table of ``year`` (the engine's or
    the Spark engine's): instances with marker ``none`` or conflicting QDCs."""
    open_ = open_instances(instances, measures)
    return gap_rows(open_, year, show_phi=show_phi, closing=closing)


def gap_frame(
    result: EngineResult,
    *,
    show_phi: bool = False,
    measures: Sequence[str] | None = None,
    closing: ClosingCodes | None = None,
) -> pl.DataFrame:
    """``gaps``' worklist (``GAP_COLUMNS``) of an engine result, in its year."""
    return instance_gaps(
        result.instances, result.year, show_phi=show_phi, measures=measures, closing=closing
    )
