"""Measure specs: the normalised CMS measure data the engine and scoring run on.

``load(year)`` reads ``measure_specs/<year>.json`` (shipped inside the wheel as
``mipsclaims/measure_specs``); nothing at run time reads CMS's raw files.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path

from ..errors import MipsClaimsError
from .builder import ALL_YEARS, LOGIC_YEARS
from .models import (
    Benchmark,
    EligibilityOption,
    Measure,
    PerformanceOption,
    ProcedureCode,
    QualityCode,
    Stratum,
    YearSpec,
    normalise_measure_id,
)

__all__ = [
    "ALL_YEARS",
    "LOGIC_YEARS",
    "Benchmark",
    "EligibilityOption",
    "Measure",
    "PerformanceOption",
    "ProcedureCode",
    "QualityCode",
    "Stratum",
    "UnsupportedYearError",
    "YearSpec",
    "load",
    "normalise_measure_id",
    "specs_dir",
    "supported_years",
]


class UnsupportedYearError(MipsClaimsError, ValueError):
    """Raised for a performance year that has no measure spec."""


def specs_dir() -> Path:
    """Where the specs live: inside the installed package, else the source checkout."""
    packaged = resources.files("mipsclaims") / "measure_specs"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / "measure_specs"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("measure_specs not found in the package or the source checkout")


def supported_years(*, claims_logic_only: bool = False) -> tuple[int, ...]:
    return LOGIC_YEARS if claims_logic_only else ALL_YEARS


@functools.cache
def load(year: int) -> YearSpec:
    """The spec of one performance year (cached).

    2023-2025 carry the full claims logic; 2026 carries metadata and benchmarks only
    (``has_claims_logic`` is False) because CMS has not published its claims single source.
    """
    if year not in ALL_YEARS:
        raise UnsupportedYearError(
            f"no measure spec for performance year {year}; supported years: "
            f"{', '.join(map(str, ALL_YEARS))} (claims logic: {', '.join(map(str, LOGIC_YEARS))})"
        )
    path = specs_dir() / f"{year}.json"
    with path.open(encoding="utf-8") as fh:
        return YearSpec.model_validate(json.load(fh))
