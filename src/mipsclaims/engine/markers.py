"""QDC performance markers of each eligible split claim (measure-logic.md section 4).

A quality code matches a line with the same code when the line carries one of its listed
modifiers, or, when it lists none, when the line carries none of 1P/2P/3P/8P. An option
matches when every one of its codes is matched. Of several markers the most advantageous
counts (reversed for inverse measures); more than one meaning on a claim is a conflict.
"""

from __future__ import annotations

import polars as pl

from ..schema import PERFORMANCE_MODIFIERS
from .codes import CodeTables, marker_rank

_PERF_MODS = sorted(PERFORMANCE_MODIFIERS)

RANKS = pl.DataFrame(
    [
        {"is_inverse": inv, "marker": m, "rank": marker_rank(m, inv)}
        for inv in (False, True)
        for m in ("met", "not_met", "exclusion", "exception")
    ],
    schema={"is_inverse": pl.Boolean(), "marker": pl.String(), "rank": pl.Int8()},
)


def qdc_label() -> pl.Expr:
    """How a QDC is shown: ``CODE`` or ``CODE-MOD`` with the line's performance modifier."""
    pm = pl.col("modifiers").list.set_intersection(pl.lit(_PERF_MODS)).list.sort().list.first()
    return pl.when(pm.is_null()).then(pl.col("code")).otherwise(pl.col("code") + "-" + pm)


def matching_qdcs(lines: pl.DataFrame, claim_dx: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Quality codes matched by a line (or, for ICD-10 quality codes, a header diagnosis)."""
    line_codes = t.performance_codes.filter(~pl.col("on_dx"))
    joined = lines.select("uid", "code", "modifiers").join(line_codes, on="code", how="inner")
    hits_listed = pl.col("modifiers").list.set_intersection(pl.col("mods")).list.len() > 0
    no_perf_mod = pl.col("modifiers").list.set_intersection(pl.lit(_PERF_MODS)).list.len() == 0
    ok = pl.when(pl.col("mods").list.len() > 0).then(hits_listed).otherwise(no_perf_mod)
    on_lines = joined.filter(ok).select("uid", "pidx", "code", qdc_label().alias("label"))
    on_dx = claim_dx.join(
        t.performance_codes.filter(pl.col("on_dx")), left_on="dx", right_on="code"
    ).select("uid", "pidx", pl.col("dx").alias("code"), pl.col("dx").alias("label"))
    return pl.concat([on_lines, on_dx])


def claim_markers(
    lines: pl.DataFrame, claim_dx: pl.DataFrame, groups: pl.DataFrame, t: CodeTables
) -> pl.DataFrame:
    """Per eligible (uid, measure_id, stratum): marker rank, QDCs found, conflicts."""
    hits = (
        matching_qdcs(lines, claim_dx, t)
        .join(t.performance, on="pidx")
        .join(groups, on=["uid", "measure_id", "option_group"], how="inner")
    )
    found = hits.group_by("uid", "measure_id", "stratum").agg(
        pl.col("label").unique().sort().alias("qdc_codes")
    )
    matched = (
        hits.group_by("uid", "measure_id", "stratum", "pidx")
        .agg(
            pl.col("code").n_unique().alias("n"),
            pl.col("n_codes").first(),
            pl.col("marker").first(),
            pl.col("label").unique().alias("labels"),
        )
        .filter(pl.col("n") == pl.col("n_codes"))
        .join(t.measures.select("measure_id", "is_inverse"), on="measure_id")
        .join(RANKS, on=["is_inverse", "marker"])
    )
    per_claim = matched.group_by("uid", "measure_id", "stratum").agg(
        pl.col("rank").max(),
        pl.col("marker").n_unique().alias("n_meanings"),
        pl.col("marker").unique().sort().alias("meanings"),
        pl.col("labels")
        .list.explode(keep_nulls=False, empty_as_null=False)
        .unique()
        .sort()
        .alias("marker_codes"),
    )
    # Lists stay null on the many claims without QDCs (cheaper than empty lists per row).
    key = ["uid", "measure_id", "stratum"]
    conflicting = pl.col("n_meanings") > 1
    per_claim = found.join(per_claim, on=key, how="full", coalesce=True).select(
        *key,
        "qdc_codes",
        pl.col("rank").fill_null(0).cast(pl.Int8),
        conflicting.fill_null(False).alias("conflicting"),
        pl.when(conflicting).then(pl.col("marker_codes")).alias("conflicting_codes"),
        pl.when(conflicting).then(pl.col("meanings")).alias("conflicting_meanings"),
    )
    return (
        groups.select(key)
        .unique()
        .join(per_claim, on=key, how="left")
        .with_columns(pl.col("rank").fill_null(0), pl.col("conflicting").fill_null(False))
    )
