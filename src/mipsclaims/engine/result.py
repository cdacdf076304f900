"""The engine's output: five polars tables with fixed schemas (the agreed contract)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl

from .counts import ROW_SCHEMA
from .findings import FINDING_SCHEMA
from .scope import SCOPE_SCHEMA

#: The entity level counts are kept at: clinician (TIN/NPI) or group (TIN).
Level = Literal["tin-npi", "tin"]


def as_level(value: str) -> Level:
    """``value`` as a :data:`Level`, checked (a CLI option or caller's string), so that the
    type holds past this point; a ValueError names the two levels."""
    if value == "tin-npi":
        return "tin-npi"
    if value == "tin":
        return "tin"
    raise ValueError(f"level must be 'tin-npi' or 'tin', not {value!r}")


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


class _Deferred:
    """A table field that may be given as a builder and is built on first access.

    The instance table is the largest output, and a JSON/CSV report reads neither it nor
    the monthly series nor the findings: the engine hands these over as functions, each
    built (once) when someone reads it.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, obj: object, owner: type | None = None) -> pl.DataFrame:
        if obj is None:
            raise AttributeError(self.slot)  # no default value for the dataclass field
        value: pl.DataFrame | Callable[[], pl.DataFrame] = obj.__dict__[self.slot]
        if callable(value):
            value = value()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: object, value: pl.DataFrame | Callable[[], pl.DataFrame]) -> None:
        obj.__dict__[self.slot] = value


@dataclass(frozen=True)
class EngineResult:
    """Counts and their audit trail for one performance year at one reporting level.

    ``monthly``, ``instances`` and ``findings`` may be passed as functions returning the
    table: each is then built on first access (and kept).

    Order: ``rows`` by entity, measure and stratum (``monthly`` by month first);
    ``instances`` in input order of each instance's first claim (a visit's lines in line
    order); ``findings`` by claim position, kind, code and measure.
    """

    year: int
    level: Level
    rows: pl.DataFrame
    # A descriptor field reads as a DataFrame and accepts a table or its builder (__set__).
    monthly: _Deferred = _Deferred()
    instances: _Deferred = _Deferred()
    findings: _Deferred = _Deferred()
    # _Deferred gives no class default (its __get__ raises), so scope is still required;
    # mypy cannot see that through the descriptor.
    scope: pl.DataFrame  # type: ignore[misc]


__all__ = [
    "FINDING_SCHEMA",
    "INSTANCE_SCHEMA",
    "MONTHLY_SCHEMA",
    "ROW_SCHEMA",
    "SCOPE_SCHEMA",
    "EngineResult",
]
