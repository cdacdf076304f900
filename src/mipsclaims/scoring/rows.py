"""Read report rows written by ``mipsclaims report --format json|csv`` back into a frame."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ..schema import REPORT_ROW_SCHEMA
from ..specs import normalise_measure_id
from .points import ScoringInputError

_TEXT_COLUMNS = ("tin", "npi", "measure_id", "stratum", "stratum_name", "measure_title")
#: Contract columns and their types (measure-logic.md section 8).
ROW_TYPES: dict[str, pl.DataType] = REPORT_ROW_SCHEMA


def _from_json(path: Path) -> pl.DataFrame:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScoringInputError(f"{path}: not readable as JSON ({exc})") from None
    if isinstance(data, dict):
        data = data.get("rows")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ScoringInputError(f"{path}: expected a list of rows or an object with 'rows'")
    if not data:
        raise ScoringInputError(f"{path}: holds no rows")
    return pl.DataFrame(data, infer_schema_length=None)


def _from_csv(path: Path) -> pl.DataFrame:
    try:
        return pl.read_csv(
            path,
            schema_overrides={**{c: pl.String() for c in _TEXT_COLUMNS}, **ROW_TYPES},
            infer_schema_length=None,
        )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ScoringInputError(f"{path}: not readable as CSV rows ({exc})") from None


def read_rows(path: str | Path) -> pl.DataFrame:
    """Rows from a ``.json`` or ``.csv`` file, with ids as text (``"001"``, not ``1``)."""
    path = Path(path)
    if not path.is_file():
        raise ScoringInputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        frame = _from_json(path)
    elif suffix == ".csv":
        frame = _from_csv(path)
    else:
        raise ScoringInputError(f"{path}: rows must be a .json or .csv file")
    types = {**{c: pl.String() for c in _TEXT_COLUMNS}, **ROW_TYPES}
    try:
        frame = frame.with_columns(
            pl.col(c).cast(t) for c, t in types.items() if c in frame.columns
        )
    except pl.exceptions.PolarsError as exc:
        raise ScoringInputError(
            f"{path}: a row column has values of the wrong type ({exc})"
        ) from None
    if "measure_id" in frame.columns:
        frame = frame.with_columns(
            pl.col("measure_id").map_elements(normalise_measure_id, return_dtype=pl.String)
        )
    return frame
