"""``check``: does every eligible claim of a batch carry a QDC, before it is sent?

The engine groups claims into instances (for most measures, one per patient and year), so a
claim without a QDC is not a gap when another claim of the patient carries one. A batch
check asks a stricter question, claim by claim: we give every split claim its own patient
key, run the real engine, and every instance with marker ``none`` is a claim that is
missing its QDC. The eligibility and QDC rules are the engine's, not repeated here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from .gaps import ClosingCodes

if TYPE_CHECKING:
    from ..engine.result import EngineResult

CHECK_COLUMNS = ("claim", "tin", "npi", "measure_id", "stratum", "instance_date", "closing_qdcs")


def per_claim_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Lines with ``patient_id`` replaced by a per-claim key (no PHI, one instance per claim)."""
    return lines.with_columns(
        pl.format("claim-{}", pl.col("claim_seq")).alias("patient_id"),
        pl.lit(None, dtype=pl.String).alias("patient_name"),
    )


def missing_qdcs(
    result: EngineResult,
    measures: Sequence[str] | None = None,
    closing: ClosingCodes | None = None,
) -> pl.DataFrame:
    """One row per eligible claim and measure (stratum) that carries no QDC (``result`` of
    :func:`per_claim_lines`, so that an instance is a claim)."""
    from .gaps import claim_refs, with_closing_codes

    missing = result.instances.filter(pl.col("marker") == "none")
    if measures:
        missing = missing.filter(pl.col("measure_id").is_in(list(measures)))
    # Stable: a visit's lines (equal keys) keep their line order.
    missing = missing.sort(
        ["claim_seqs", "measure_id", "stratum"], nulls_last=True, maintain_order=True
    )
    return (
        missing.with_columns(claim_refs(missing, show_phi=False).alias("claim"))
        .pipe(with_closing_codes, result.year, closing)
        .select(CHECK_COLUMNS)
    )
