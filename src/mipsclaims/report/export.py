"""Machine-readable report rows: JSON and CSV of the engine's contract rows.

Both say which spec counted the rows (docs/integration-guide.md, "Provisional years"):
JSON in a top-level ``spec`` object (the rows keep the contract's keys), CSV in two
trailing columns on every row, ``spec_coding_year`` and ``spec_provisional`` (a comment
line would break CSV readers).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import polars as pl

from .. import specs
from ..schema import REPORT_ROW_KEYS
from .csvsafe import frame_to_csv

if TYPE_CHECKING:
    from ..engine.result import EngineResult

#: Trailing CSV columns naming the spec behind every row (same on every row of a file).
SPEC_COLUMNS = ("spec_coding_year", "spec_provisional")

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


def spec_info(year: int) -> dict[str, Any]:
    """The ``spec`` object of JSON outputs: which codes counted the year, and from where."""
    spec = specs.load(year)
    imported = spec.imported
    return {
        "performance_year": spec.performance_year,
        "coding_year": spec.coding_year,
        "provisional": spec.is_provisional,
        "note": specs.provisional_note(spec),
        "source": "imported" if imported else "bundled",
        "imported_at": imported.imported_at if imported else None,
        "files": [{"name": f.name, "sha256": f.sha256} for f in imported.files]
        if imported
        else [{"name": f.path, "sha256": f.sha256} for f in spec.provenance.files],
    }


def with_spec_columns(frame: pl.DataFrame, year: int) -> pl.DataFrame:
    """``frame`` with :data:`SPEC_COLUMNS` appended (the CSV marker of a provisional year)."""
    spec = specs.load(year)
    return frame.with_columns(
        pl.lit(spec.coding_year, dtype=pl.Int32).alias(SPEC_COLUMNS[0]),
        pl.lit(spec.is_provisional, dtype=pl.Boolean).alias(SPEC_COLUMNS[1]),
    )


def to_json(result: EngineResult) -> str:
    """``{"performance_year", "level", "spec", "rows": [...], "scope": [...]}`` as JSON."""
    payload = {
        "performance_year": result.year,
        "level": result.level,
        "spec": spec_info(result.year),
        "rows": ordered_rows(result.rows).to_dicts(),
        "scope": result.scope.to_dicts(),
    }
    return json.dumps(payload, indent=2, default=_jsonable) + "\n"


def csv_with_spec(frame: pl.DataFrame, year: int) -> str:
    """Any output table of ``year`` (rows, a worklist) as spreadsheet-safe CSV, with the
    spec columns."""
    return frame_to_csv(with_spec_columns(frame, year))


def to_csv(result: EngineResult) -> str:
    """The contract rows as CSV (contract keys, extras, then the spec columns), spreadsheet-safe."""
    return csv_with_spec(ordered_rows(result.rows), result.year)
