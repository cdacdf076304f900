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


def _instances_out(
    inst: pl.DataFrame, people: pl.DataFrame, t: CodeTables, year: int
) -> pl.DataFrame:
    return (
        inst.join(people.select("pid", "tin", "npi", "patient_id"), on="pid", maintain_order="left")
        .join(t.mkeys.select("mkey", "measure_id", "stratum"), on="mkey", maintain_order="left")
        .with_columns(
            pl.lit(year, dtype=pl.Int32).alias("performance_year"),
            pl.col("stratum").replace("", None),
            instance_key_text().alias("instance_key"),
        )
        .select([pl.col(n).cast(d) for n, d in INSTANCE_SCHEMA.items()])
    )


def _people(claims: pl.DataFrame) -> pl.DataFrame:
    """``pid`` per entity and patient, ``eid`` per entity (sorted, so ids are stable)."""
    return (
        claims.select("tin", "npi", "patient_id")
        .unique()
        .sort("tin", "npi", "patient_id")
        .with_row_index("pid")
        .with_columns(
            pl.col("pid").cast(pl.Int64),
            pl.struct("tin", "npi").rank("dense").cast(pl.Int64).alias("eid"),
        )
    )


def _named(marks: pl.DataFrame, people: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Entity and measure names of (eid, mkey) marks, for counting."""
    entities = people.group_by("eid").agg(pl.col("tin").first(), pl.col("npi").first())
    return marks.join(entities, on="eid").join(
        t.mkeys.select("mkey", "measure_id", "stratum"), on="mkey"
    )


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

    # Integer keys for grouping: pid (entity + patient), eid (entity), mkey (measure-stratum).
    claims = scoped.claims
    if level == "tin":
        claims = claims.with_columns(pl.lit(None, dtype=pl.String).alias("npi"))
    people = _people(claims)
    keyed_claims = claims.select(
        "uid", "tin", "npi", "patient_id", "claim_date", "claim_seq", "claim_id", "source"
    ).join(people, on=["tin", "npi", "patient_id"], nulls_equal=True, maintain_order="left")
    measure_keys = t.mkeys.select("measure_id", "stratum", "mkey", "calculation_type", "is_inverse")
    # Claims first, in input order (uid), so that instance claim lists keep that order.
    ce = keyed_claims.select(
        "uid", "pid", "eid", "claim_date", "claim_seq", "claim_id", "source"
    ).join(
        markers.join(measure_keys, on=["measure_id", "stratum"]).drop("measure_id", "stratum"),
        on="uid",
        maintain_order="left",
    )
    visit_keyed = visit_lines.join(measure_keys, on=["measure_id", "stratum"]).select(
        "uid", "mkey", "claim_seq", "line_number"
    )
    keyed = instance_keys(ce, claim_dx, t.mkey_dx)
    inst = build_instances(keyed, visit_keyed)
    marks = inst.group_by("eid", "mkey", "marker").agg(pl.len().cast(pl.Int64).alias("weight"))
    rows = count_rows(_named(marks, people, t), t)
    monthly = pl.DataFrame(schema=MONTHLY_SCHEMA)
    if keyed.height:
        last = keyed["claim_date"].max()
        assert isinstance(last, dt.date)
        by_month = monthly_marks(keyed, visit_keyed, claim_dx, t.mkey_dx, last.month)
        monthly = count_rows(_named(by_month, people, t), t, by=("month",)).select(
            [pl.col(n).cast(d) for n, d in MONTHLY_SCHEMA.items()]
        )
    findings = find(scoped.claims, scoped.lines, groups, markers, t)
    return EngineResult(
        year=year,
        level=level,
        rows=rows,
        monthly=monthly,
        instances=_instances_out(inst, people, t, year),
        findings=findings,
        scope=scoped.scope,
    )
