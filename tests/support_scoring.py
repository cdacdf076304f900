"""Helpers that build engine-contract rows by hand for the scoring tests (no tests here)."""

from __future__ import annotations

from typing import Any

import polars as pl

TIN = "123456789"
NPI = "1111111111"
DC_THRESHOLD = {2023: 0.70, 2024: 0.75, 2025: 0.75, 2026: 0.75}


def row(
    measure_id: str,
    *,
    met: int,
    not_met: int,
    exclusion: int = 0,
    exception: int = 0,
    not_reported: int = 0,
    year: int = 2025,
    tin: str = TIN,
    npi: str | None = NPI,
    stratum: str | None = None,
    stratum_name: str | None = None,
    **override: Any,
) -> dict[str, Any]:
    """One report row with counts, rates and flags derived as measure-logic.md section 7 says."""
    reported = met + not_met + exclusion + exception
    population = reported + not_reported
    dc = reported / population if population else None
    out = {
        "performance_year": year,
        "tin": tin,
        "npi": npi,
        "measure_id": measure_id,
        "stratum": stratum,
        "eligible_population": population,
        "performance_met": met,
        "performance_not_met": not_met,
        "denominator_exclusion": exclusion,
        "denominator_exception": exception,
        "not_reported": not_reported,
        "data_completeness": dc,
        "performance_rate": met / (met + not_met) if met + not_met else None,
        "meets_case_minimum": population - exclusion - exception >= 20,
        "meets_data_completeness": dc is not None and dc >= DC_THRESHOLD[year],
        "stratum_name": stratum_name,
    }
    out.update(override)
    return out


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), infer_schema_length=None).with_columns(
        pl.col("performance_year").cast(pl.Int32),
        pl.col("npi").cast(pl.String),
        pl.col("stratum").cast(pl.String),
        pl.col("stratum_name").cast(pl.String),
        pl.col("data_completeness").cast(pl.Float64),
        pl.col("performance_rate").cast(pl.Float64),
    )


def perfect(measure_id: str, *, inverse: bool = False, **kw: Any) -> dict[str, Any]:
    """A row with 40 complete instances at the best rate (met 40, or met 0 if inverse)."""
    return row(measure_id, met=0 if inverse else 40, not_met=40 if inverse else 0, **kw)
