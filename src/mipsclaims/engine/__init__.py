"""The measure engine: measure-logic.md, vectorised over the canonical claim-line table.

Pipeline: scope -> eligibility -> markers -> instances -> counts (+ findings, monthly).
Every stage is a polars join or aggregation against per-year code tables (``codes.tables``).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import polars as pl

from .. import schema, specs
from .choices import QdcChoice, closing_codes
from .codes import CodeTables, tables
from .counts import count_rows
from .eligibility import eligible_options
from .findings import find
from .instances import build_instances, instance_key_text, instance_keys, monthly_marks
from .markers import claim_markers
from .result import INSTANCE_SCHEMA, MONTHLY_SCHEMA, EngineResult
from .scope import apply_scope

Level = Literal["tin-npi", "tin"]

__all__ = ["EngineResult", "Level", "QdcChoice", "closing_codes", "evaluate_lines", "tables"]


def _year_tables(year: int) -> CodeTables:
    spec = specs.load(year)
    if not spec.has_claims_logic:
        raise specs.UnsupportedYearError(
            f"performance year {year} has no published claims logic yet; "
            f"supported: {', '.join(map(str, specs.supported_years(claims_logic_only=True)))}"
        )
    return tables(year)


def _instances_out(inst: pl.DataFrame, year: int) -> pl.DataFrame:
    return (
        inst.with_columns(
            pl.lit(year, dtype=pl.Int32).alias("performance_year"),
            pl.col("stratum").replace("", None),
            instance_key_text().alias("instance_key"),
        )
        .sort("pid", "mkey", "ikey", "line_id")
        .select([pl.col(n).cast(d) for n, d in INSTANCE_SCHEMA.items()])
    )


def _with_integer_keys(ce: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Add ``pid`` (entity + patient), ``eid`` (entity) and ``mkey`` (measure + stratum)."""
    people = (
        ce.select("tin", "npi", "patient_id")
        .unique()
        .sort("tin", "npi", "patient_id")
        .with_row_index("pid")
        .with_columns(
            pl.col("pid").cast(pl.Int64),
            pl.struct("tin", "npi").rank("dense").cast(pl.Int64).alias("eid"),
        )
    )
    mkeys = t.strata.with_row_index("mkey").with_columns(pl.col("mkey").cast(pl.Int32))
    return ce.join(
        people, on=["tin", "npi", "patient_id"], nulls_equal=True, maintain_order="left"
    ).join(mkeys, on=["measure_id", "stratum"], maintain_order="left")


def evaluate_lines(
    lines: pl.DataFrame | pl.LazyFrame, year: int, *, level: Level = "tin-npi"
) -> EngineResult:
    """Evaluate every claims measure of ``year`` on a canonical claim-line table."""
    if level not in ("tin-npi", "tin"):
        raise ValueError(f"level must be 'tin-npi' or 'tin', not {level!r}")
    t = _year_tables(year)
    frame = lines.collect() if isinstance(lines, pl.LazyFrame) else lines
    frame = schema.conform(frame)
    scoped = apply_scope(frame, year)
    groups, visit_lines = eligible_options(scoped.claims, scoped.lines, t)
    claim_dx = scoped.claims.select("uid", pl.col("diagnosis_codes").alias("dx")).explode("dx")
    markers = claim_markers(scoped.lines, claim_dx, groups, t)
    # Claims first, in input order (uid), so that instance claim lists keep that order.
    ce = (
        scoped.claims.select(
            "uid", "tin", "npi", "patient_id", "claim_date", "claim_seq", "claim_id", "source"
        )
        .join(markers, on="uid", maintain_order="left")
        .join(
            t.measures.select("measure_id", "calculation_type", "is_inverse"),
            on="measure_id",
            maintain_order="left",
        )
    )
    if level == "tin":
        ce = ce.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    ce = _with_integer_keys(ce, t)
    keyed = instance_keys(ce, claim_dx, t.measure_dx)
    inst = build_instances(keyed, visit_lines)
    rows = count_rows(inst, t)
    monthly = _monthly(keyed, visit_lines, claim_dx, t)
    findings = find(scoped.claims, scoped.lines, groups, markers, t)
    return EngineResult(
        year=year,
        level=level,
        rows=rows,
        monthly=monthly,
        instances=_instances_out(inst, year),
        findings=findings,
        scope=scoped.scope,
    )


def _monthly(
    keyed: pl.DataFrame, visit_lines: pl.DataFrame, claim_dx: pl.DataFrame, t: CodeTables
) -> pl.DataFrame:
    """Year-to-date rows at the end of each month up to the last month with an eligible claim."""
    if keyed.height == 0:
        return pl.DataFrame(schema=MONTHLY_SCHEMA)
    last = keyed["claim_date"].max()
    assert isinstance(last, dt.date)
    marks = monthly_marks(keyed, visit_lines, claim_dx, t.measure_dx, last.month)
    return count_rows(marks, t, by=("month",)).select(
        [pl.col(n).cast(d) for n, d in MONTHLY_SCHEMA.items()]
    )
