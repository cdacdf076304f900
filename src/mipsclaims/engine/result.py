"""The engine's output: five polars tables with fixed schemas (the agreed contract)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .counts import ROW_SCHEMA
from .findings import FINDING_SCHEMA
from .scope import SCOPE_SCHEMA

MONTHLY_SCHEMA: dict[str, pl.DataType] = {**ROW_SCHEMA, "month": pl.Int8()}

INSTANCE_SCHEMA: dict[str, pl.DataType] = {
    "performance_year": pl.Int32(),
    "tin": pl.String(),
    "npi": pl.String(),
    "measure_id": pl.String(),
    "stratum": pl.String(),
    "instance_key": pl.String(),
    "patient_id": pl.String(),  # PHI
    "instance_date": pl.Date(),
    "marker": pl.String(),
    "claim_ids": pl.List(pl.String()),
    "claim_seqs": pl.List(pl.Int64()),
    "sources": pl.List(pl.String()),
    "qdc_codes": pl.List(pl.String()),
    "conflicting": pl.Boolean(),
    "conflicting_codes": pl.List(pl.String()),
}


@dataclass(frozen=True)
class EngineResult:
    """Counts and their audit trail for one performance year at one reporting level."""

    year: int
    level: str
    rows: pl.DataFrame
    monthly: pl.DataFrame
    instances: pl.DataFrame
    findings: pl.DataFrame
    scope: pl.DataFrame


__all__ = [
    "FINDING_SCHEMA",
    "INSTANCE_SCHEMA",
    "MONTHLY_SCHEMA",
    "ROW_SCHEMA",
    "SCOPE_SCHEMA",
    "EngineResult",
]
