"""Counts, data completeness, performance rate and thresholds (measure-logic.md 7 and 8)."""

from __future__ import annotations

import polars as pl

from .. import specs
from ..schema import REPORT_ROW_SCHEMA
from .codes import CodeTables, Marker, stratum_name

ENTITY = ["tin", "npi"]

ROW_SCHEMA: dict[str, pl.DataType] = {
    **REPORT_ROW_SCHEMA,
    "measure_title": pl.String(),
    "stratum_name": pl.String(),
    "is_inverse": pl.Boolean(),
    "data_completeness_threshold": pl.Float64(),
}

#: The count column of each marker (measure-logic.md section 7).
_COUNTS: dict[Marker, str] = {
    "met": "performance_met",
    "not_met": "performance_not_met",
    "exclusion": "denominator_exclusion",
    "exception": "denominator_exception",
    "none": "not_reported",
}


def _strata_names(t: CodeTables) -> pl.DataFrame:
    spec = specs.load(t.year)
    rows = [
        {
            "measure_id": r["measure_id"],
            "stratum": r["stratum"],
            "stratum_name": stratum_name(spec.measures[r["measure_id"]], r["stratum"]),
        }
        for r in t.strata.iter_rows(named=True)
    ]
    return pl.DataFrame(
        rows,
        schema={"measure_id": pl.String(), "stratum": pl.String(), "stratum_name": pl.String()},
    )


def count_rows(marks: pl.DataFrame, t: CodeTables, *, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Report rows from instance markers (``marker``, optional ``weight``), per ``by`` too."""
    spec = specs.load(t.year)
    keys = [*ENTITY, "measure_id", "stratum", *by]
    if "weight" not in marks.columns:
        marks = marks.with_columns(pl.lit(1, dtype=pl.Int64).alias("weight"))
    weight = pl.col("weight")
    counts = marks.group_by(keys).agg(
        weight.sum().cast(pl.Int64).alias("eligible_population"),
        *[
            weight.filter(pl.col("marker") == m).sum().cast(pl.Int64).alias(name)
            for m, name in _COUNTS.items()
        ],
    )
    # Every stratum of a measure once any stratum has an instance (section 9).
    present = counts.select(*ENTITY, "measure_id", *by).unique()
    frame = present.join(t.strata, on="measure_id").join(
        counts, on=keys, how="left", nulls_equal=True
    )
    frame = frame.with_columns(
        pl.col(c).fill_null(0) for c in ["eligible_population", *_COUNTS.values()]
    )
    a, b = pl.col("performance_met"), pl.col("denominator_exception")
    c, x = pl.col("performance_not_met"), pl.col("denominator_exclusion")
    ep = pl.col("eligible_population")
    reported = a + b + c + x
    threshold_pct = round(spec.data_completeness_threshold * 100)
    frame = frame.with_columns(
        pl.when(ep > 0).then(reported / ep).alias("data_completeness"),
        pl.when(a + c > 0).then(a / (a + c)).alias("performance_rate"),
        (ep - x - b >= spec.case_minimum).alias("meets_case_minimum"),
        ((ep > 0) & (reported * 100 >= ep * threshold_pct)).alias("meets_data_completeness"),
        pl.lit(t.year, dtype=pl.Int32).alias("performance_year"),
        pl.lit(spec.data_completeness_threshold, dtype=pl.Float64).alias(
            "data_completeness_threshold"
        ),
    )
    frame = frame.join(
        t.measures.select("measure_id", "measure_title", "is_inverse"), on="measure_id"
    ).join(_strata_names(t), on=["measure_id", "stratum"], how="left")
    frame = frame.with_columns(pl.col("stratum").replace("", None))
    columns = [pl.col(n).cast(d) for n, d in ROW_SCHEMA.items()]
    return frame.select(*columns, *by).sort(*by, "tin", "npi", "measure_id", "stratum")
