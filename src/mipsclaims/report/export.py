"""Machine-readable report rows: JSON and CSV of the engine's contract rows."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from ..schema import REPORT_ROW_KEYS
from .csvsafe import frame_to_csv

#: measure-logic.md section 8: the keys every row starts with, in order.
ROW_KEYS = REPORT_ROW_KEYS


def ordered_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The contract keys first, extras after, sorted by entity, measure and stratum."""
    extras = [c for c in rows.columns if c not in ROW_KEYS]
    return rows.select([*ROW_KEYS, *extras]).sort(
        ["tin", "npi", "measure_id", "stratum"], nulls_last=True
    )


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def to_json(result: Any, *, year: int, level: str) -> str:
    """``{"performance_year", "level", "rows": [...], "scope": [...]}`` as pretty JSON."""
    payload = {
        "performance_year": year,
        "level": level,
        "rows": ordered_rows(result.rows).to_dicts(),
        "scope": result.scope.to_dicts(),
    }
    return json.dumps(payload, indent=2, default=_jsonable) + "\n"


def to_csv(result: Any) -> str:
    """The contract rows as CSV (header = row keys), spreadsheet-safe."""
    return frame_to_csv(ordered_rows(result.rows))
