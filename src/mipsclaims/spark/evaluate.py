"""The engine on Spark: claim lines grouped by a stable patient hash, the polars engine run
on each group (grouped Arrow UDFs), partial counts summed, rates and flags computed once.

Why this is exact: every eligible instance lies within one patient and the counts of
measure-logic.md add up over patients (the spill design of the single-machine engine relies
on the same fact). The one step that reads across patients is replacement and void
(section 1: claims sharing TIN and CLM01, in input order, whatever the patient), so it runs
first, over per-claim keys: only the claims of a (TIN, CLM01) group that holds a 7 or 8 are
collected to the driver and resolved with the engine's own :func:`superseded`; the claims
it supersedes are dropped before grouping and counted in the scope table by reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
from pyspark.sql import DataFrame, GroupedData, SparkSession, Window
from pyspark.sql import functions as F

from .. import schema
from ..engine import EngineResult, Level, as_level, evaluate_lines, tables
from ..engine.counts import _COUNTS as MARKER_COLUMNS
from ..engine.counts import count_rows
from ..engine.findings import FINDING_ORDER, FINDING_SCHEMA
from ..engine.result import INSTANCE_SCHEMA
from ..engine.scope import SCOPE_SCHEMA, superseded
from ..report.gaps import GAP_COLUMNS, instance_gaps
from .types import from_arrow, patient_hash_col, spark_schema, to_arrow

__all__ = [
    "LINES_PER_GROUP",
    "PARTIAL_SCHEMA",
    "SparkResult",
    "canonical",
    "default_groups",
    "evaluate",
]

BUCKET = "_bucket"
ROW = "_row"
_ENTITY_MEASURE = ["tin", "npi", "measure_id", "stratum"]
_COUNT_COLUMNS = ["eligible_population", *MARKER_COLUMNS.values()]

#: What each group sends back to the driver for counting: report-row counts (kind "row")
#: and scope counts (kind "scope"), summed over groups.
PARTIAL_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    **{c: pl.String() for c in _ENTITY_MEASURE},
    "reason": pl.String(),
    **{c: pl.Int64() for c in _COUNT_COLUMNS},
    "claims": pl.Int64(),
    "lines": pl.Int64(),
}

GAP_SCHEMA: dict[str, pl.DataType] = {
    "tin": pl.String(),
    "npi": pl.String(),
    "measure_id": pl.String(),
    "stratum": pl.String(),
    "problem": pl.String(),
    "instance_date": pl.Date(),
    "claims": pl.String(),
    "patient": pl.String(),
    "qdcs_found": pl.String(),
    "closing_qdcs": pl.String(),
}
assert tuple(GAP_SCHEMA) == GAP_COLUMNS
_FIRST_SEQ = "_first_claim_seq"


def canonical(df: DataFrame) -> DataFrame:
    """A user's claim-line DataFrame with exactly the canonical columns and types
    (missing columns null, extra columns dropped), like :func:`mipsclaims.schema.conform`."""
    target = spark_schema(schema.CLAIM_LINE_SCHEMA)
    present = set(df.columns)
    return df.select(
        [
            (F.col(f.name) if f.name in present else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in target.fields
        ]
    )


def _claim_keys(lines: DataFrame) -> DataFrame:
    """Per input claim: what replacement and void read (scope.split_batch's ``keys``).

    Claim fields are equal on every line of a claim (canonical contract), so ``min`` is
    the engine's ``first``; the action is CLM05-3 stripped, when it is 7 or 8.
    """
    frequency = F.regexp_replace(F.min("frequency"), r"^\s+|\s+$", "")
    return lines.groupBy("claim_seq").agg(
        F.min("tin").alias("tin"),
        F.min("claim_id").alias("claim_id"),
        F.when(frequency.isin("7", "8"), frequency).alias("action"),
        F.count(F.lit(1)).alias("n_lines"),
    )


def _gone(lines: DataFrame) -> pl.DataFrame:
    """(claim_seq, reason, n_lines) of the claims replaced or voided by a later claim.

    Only claims sharing TIN and CLM01 with a 7 or 8 can be superseded: those few come to
    the driver (a window over the keys, no join) and the engine's own rule resolves them.
    """
    keys = _claim_keys(lines)
    group = Window.partitionBy("tin", "claim_id")
    involved = (
        keys.withColumn("_acted", F.max(F.col("action").isNotNull().cast("int")).over(group))
        .filter(F.col("_acted") == 1)
        .drop("_acted")
    )
    local = from_arrow(involved.toArrow()).cast(
        {"claim_seq": pl.Int64, "tin": pl.String, "claim_id": pl.String, "action": pl.String}
    )
    gone = superseded(local.lazy())
    return gone.join(local.select("claim_seq", "n_lines"), on="claim_seq", how="left")


def _ordered(table: pa.Table) -> pl.DataFrame:
    """One group's lines in input order (claims by ``claim_seq``, lines as they came)."""
    frame = from_arrow(table).sort("claim_seq", ROW, nulls_last=True, maintain_order=True)
    return schema.conform(frame)


def _partial(table: pa.Table, *, year: int, level: Level) -> pa.Table:
    """Counts of one group of patients: report-row counts and scope counts."""
    result = evaluate_lines(_ordered(table), year, level=level)
    rows = result.rows.select(
        pl.lit("row").alias("kind"),
        *_ENTITY_MEASURE,
        *[pl.col(c) for c in _COUNT_COLUMNS],
    )
    scope = result.scope.select(pl.lit("scope").alias("kind"), "reason", "claims", "lines")
    return to_arrow(pl.concat([rows, scope], how="diagonal_relaxed"), PARTIAL_SCHEMA)


def _instances(table: pa.Table, *, year: int, level: Level) -> pa.Table:
    result = evaluate_lines(_ordered(table), year, level=level)
    return to_arrow(result.instances, INSTANCE_SCHEMA)


def _gaps(
    table: pa.Table, *, year: int, level: Level, show_phi: bool, measures: Sequence[str] | None
) -> pa.Table:
    instances = evaluate_lines(_ordered(table), year, level=level).instances
    gaps = instance_gaps(instances, year, show_phi=show_phi, measures=measures)
    # Rows in open_instances' order: the first claim of each comes back by position.
    open_ = instances.filter((pl.col("marker") == "none") | pl.col("conflicting"))
    if measures:
        open_ = open_.filter(pl.col("measure_id").is_in(list(measures)))
    firsts = open_.sort(
        ["tin", "npi", "measure_id", "stratum", "instance_date"],
        nulls_last=True,
        maintain_order=True,
    )["claim_seqs"].list.first()
    gaps = gaps.with_columns(firsts.alias(_FIRST_SEQ))
    return to_arrow(gaps, {**GAP_SCHEMA, _FIRST_SEQ: pl.Int64()})


def _findings(table: pa.Table, *, year: int, level: Level) -> pa.Table:
    return to_arrow(evaluate_lines(_ordered(table), year, level=level).findings, FINDING_SCHEMA)


def _udf(fn: Callable[..., pa.Table], **options: Any) -> Callable[[pa.Table], pa.Table]:
    """``fn`` with its options bound, as a grouped Arrow UDF (type hints say which kind:
    Spark cannot read them through ``functools.partial``)."""

    def run(table: pa.Table) -> pa.Table:
        return fn(table, **options)

    return run


def _rows(summed: pl.DataFrame, year: int) -> pl.DataFrame:
    """Report rows from counts summed over groups: the counts become weighted markers
    again and :func:`count_rows` computes rates and flags once, as the engine does."""
    bad = summed.filter(
        pl.col("eligible_population") != pl.sum_horizontal(*MARKER_COLUMNS.values())
    )
    if bad.height:  # every instance has exactly one marker
        raise AssertionError("partial counts do not add up to the eligible population")
    marks = pl.concat(
        [
            summed.select(
                "tin",
                "npi",
                "measure_id",
                pl.col("stratum").fill_null(""),
                pl.lit(marker).alias("marker"),
                pl.col(column).alias("weight"),
            )
            for marker, column in MARKER_COLUMNS.items()
        ]
    )
    if marks.height == 0:
        marks = marks.cast({c: pl.String for c in ["tin", "npi", "measure_id", "stratum"]})
    return count_rows(marks, tables(year))


def _scope(summed: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """The scope table: groups' reasons and evaluated claims, plus the claims superseded
    before grouping, in the engine's order (reasons sorted, ``evaluated`` last)."""
    gone_counts = gone.group_by("reason").agg(
        pl.len().cast(pl.Int64).alias("claims"), pl.col("n_lines").sum().cast(pl.Int64)
    )
    both = pl.concat(
        [
            summed.select("reason", "claims", "lines"),
            gone_counts.select("reason", "claims", pl.col("n_lines").alias("lines")),
        ]
    )
    total = both.group_by("reason").agg(pl.col("claims").sum(), pl.col("lines").sum())
    evaluated = total.filter(pl.col("reason") == "evaluated")
    if evaluated.height == 0:
        evaluated = pl.DataFrame({"reason": ["evaluated"], "claims": [0], "lines": [0]})
    others = total.filter(pl.col("reason") != "evaluated").sort("reason")
    scope = pl.Schema(SCOPE_SCHEMA)
    return pl.concat([others.cast(scope), evaluated.cast(scope)])


def _spark_frame(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    return spark.createDataFrame(to_arrow(frame, dict(frame.schema)))


@dataclass
class SparkResult:
    """Counts of one year and level: ``rows`` and ``scope`` as Spark DataFrames (and as
    polars, ``rows_local``/``scope_local``), the instance, gap and finding tables as Spark
    DataFrames built when asked for (each runs the engine on every group again)."""

    year: int
    level: Level
    rows_local: pl.DataFrame
    scope_local: pl.DataFrame
    _grouped: GroupedData = field(repr=False)
    _spark: SparkSession = field(repr=False)

    @property
    def rows(self) -> DataFrame:
        """The report rows: the columns and values of ``mipsclaims report --format json``."""
        return _spark_frame(self._spark, self.rows_local)

    @property
    def scope(self) -> DataFrame:
        return _spark_frame(self._spark, self.scope_local)

    def _per_group(self, fn: Callable[..., pa.Table], out: dict[str, pl.DataType]) -> DataFrame:
        func = _udf(fn, year=self.year, level=self.level)
        return self._grouped.applyInArrow(func, spark_schema(out))

    def instances(self) -> DataFrame:
        """One row per eligible instance (the engine's instance table; PHI), ordered by
        the input position of its first claim, then measure, stratum and key."""
        frame = self._per_group(_instances, INSTANCE_SCHEMA)
        return frame.orderBy(F.element_at("claim_seqs", 1), "measure_id", "stratum", "instance_key")

    def gaps(self, *, show_phi: bool = False, measures: Sequence[str] | None = None) -> DataFrame:
        """The gap worklist (``mipsclaims gaps``): patients masked unless ``show_phi``."""
        func = _udf(
            _gaps,
            year=self.year,
            level=self.level,
            show_phi=show_phi,
            measures=list(measures) if measures else None,
        )
        frame = self._grouped.applyInArrow(
            func, spark_schema({**GAP_SCHEMA, _FIRST_SEQ: pl.Int64()})
        )
        order = [F.col(c).asc_nulls_last() for c in ["tin", "npi", "measure_id", "stratum"]]
        return frame.orderBy(
            *order, F.col("instance_date").asc_nulls_last(), _FIRST_SEQ, "claims"
        ).drop(_FIRST_SEQ)

    def findings(self) -> DataFrame:
        """Data-quality findings (the engine's findings table), in its order."""
        frame = self._per_group(_findings, FINDING_SCHEMA)
        return frame.orderBy(*[F.col(c).asc_nulls_last() for c in FINDING_ORDER])

    def to_engine_result(self) -> EngineResult:
        """The single-machine result shape (rows and scope; instances and findings
        collected when first read), for the report writers."""

        def collect(frame: DataFrame, out: dict[str, pl.DataType]) -> pl.DataFrame:
            local = from_arrow(frame.toArrow()) if frame.columns else pl.DataFrame()
            return local.select([pl.col(n).cast(d) for n, d in out.items()])

        def monthly() -> pl.DataFrame:
            raise NotImplementedError("the monthly series is not computed on Spark")

        return EngineResult(
            year=self.year,
            level=self.level,
            rows=self.rows_local,
            scope=self.scope_local,
            monthly=monthly,
            instances=lambda: collect(self.instances(), INSTANCE_SCHEMA),
            findings=lambda: collect(self.findings(), FINDING_SCHEMA),
        )


#: Target service lines per patient group: the engine's working memory on one group is
#: about 1 KB per line (docs/spark.md), so about 0.5 GB per running task.
LINES_PER_GROUP = 500_000


def default_groups(spark: SparkSession, lines: int) -> int:
    """Patient groups when not given: about :data:`LINES_PER_GROUP` lines each, and at
    least two per core so that every core has work."""
    cores: int = spark.sparkContext.defaultParallelism
    return max(2 * cores, -(-lines // LINES_PER_GROUP), 1)


def evaluate(
    lines: DataFrame,
    year: int,
    *,
    level: Level = "tin-npi",
    groups: int | None = None,
) -> SparkResult:
    """Evaluate every claims measure of ``year`` on a Spark DataFrame of claim lines.

    ``lines`` has the canonical columns (:data:`mipsclaims.schema.CLAIM_LINE_SCHEMA`;
    missing ones are null, e.g. from a warehouse table) with ``claim_seq`` giving input
    order across files, as :func:`mipsclaims.spark.read_837` makes it. ``groups`` is the
    number of patient groups the engine runs on (default: :func:`default_groups`, which
    counts the lines first); it changes the work per task, never the result. The rows and
    scope are computed here (one pass over the lines for replacement/void keys, one for
    the counts).
    """
    level = as_level(level)
    tables(year)  # unsupported years fail here, on the driver
    spark = lines.sparkSession
    lines = canonical(lines)
    n_groups = groups or default_groups(spark, lines.count())
    lines = lines.withColumn(ROW, F.monotonically_increasing_id())
    gone = _gone(lines)
    if gone.height:
        drop = spark.createDataFrame(to_arrow(gone.select("claim_seq"), {"claim_seq": pl.Int64()}))
        lines = lines.join(drop, on="claim_seq", how="left_anti")
    grouped = lines.withColumn(
        BUCKET, F.pmod(patient_hash_col("patient_id"), F.lit(n_groups))
    ).groupBy(BUCKET)
    partial = grouped.applyInArrow(
        _udf(_partial, year=year, level=level), spark_schema(PARTIAL_SCHEMA)
    )
    summed_frame = partial.groupBy("kind", *_ENTITY_MEASURE, "reason").agg(
        *[F.sum(c).alias(c) for c in [*_COUNT_COLUMNS, "claims", "lines"]]
    )
    summed = from_arrow(summed_frame.toArrow()).cast(pl.Schema(PARTIAL_SCHEMA))
    rows = _rows(summed.filter(pl.col("kind") == "row"), year)
    scope = _scope(summed.filter(pl.col("kind") == "scope"), gone)
    return SparkResult(
        year=year,
        level=level,
        rows_local=rows,
        scope_local=scope,
        _grouped=grouped,
        _spark=spark,
    )
