"""Eligible instances per calculation type (measure-logic.md section 5 and 9).

The eligible split claims of one entity, measure and stratum are grouped into instances;
each instance takes the most advantageous marker of its claims (patient-intermediate: of the
most recent date that has a QDC). Types differ only in the instance key:

- patient-process / patient-intermediate: the patient, once per year;
- procedure: patient + claim date;
- visit: patient + claim date, once per qualifying line;
- episode: patient + connected component of claims sharing a measure diagnosis;
- patient-periodic: patient + flu season (Jan-Mar belongs to the season begun the October before).
"""

from __future__ import annotations

import polars as pl

KEYS = ["tin", "npi", "measure_id", "stratum", "patient_id"]


def _marker_expr() -> pl.Expr:
    r, inv = pl.col("rank"), pl.col("is_inverse")
    return (
        pl.when(r == 4)
        .then(pl.when(inv).then(pl.lit("not_met")).otherwise(pl.lit("met")))
        .when(r == 3)
        .then(pl.when(inv).then(pl.lit("exception")).otherwise(pl.lit("exclusion")))
        .when(r == 2)
        .then(pl.when(inv).then(pl.lit("exclusion")).otherwise(pl.lit("exception")))
        .when(r == 1)
        .then(pl.when(inv).then(pl.lit("met")).otherwise(pl.lit("not_met")))
        .otherwise(pl.lit("none"))
    )


def episode_labels(ce: pl.DataFrame, claim_dx: pl.DataFrame, measure_dx: pl.DataFrame) -> pl.Series:
    """Connected components of episode claims linked by a shared measure diagnosis.

    Label propagation between claims and (entity, patient, diagnosis) nodes until stable;
    each claim ends with the smallest ``uid`` of its component. Returns one label per row.
    """
    nodes = ce.select(*KEYS, "uid").with_row_index("row")
    edges = (
        nodes.join(claim_dx, on="uid")
        .join(measure_dx, on=["measure_id", "dx"], how="semi")
        .select("row", *KEYS, "dx")
    )
    label = nodes.select("row", pl.col("uid").alias("label"))
    while True:
        per_dx = (
            edges.join(label, on="row")
            .group_by(*KEYS, "dx")
            .agg(pl.col("label").min().alias("dx_label"))
        )
        proposal = (
            edges.join(per_dx, on=[*KEYS, "dx"], nulls_equal=True)
            .group_by("row")
            .agg(pl.col("dx_label").min())
        )
        new = (
            label.join(proposal, on="row", how="left")
            .select("row", pl.min_horizontal("label", "dx_label").alias("label"))
            .sort("row")
        )
        if new["label"].equals(label.sort("row")["label"]):
            return new["label"]
        label = new


def instance_keys(
    ce: pl.DataFrame, claim_dx: pl.DataFrame, measure_dx: pl.DataFrame
) -> pl.DataFrame:
    """Add ``ikey`` (instance key within entity, measure, stratum and patient)."""
    date = pl.col("claim_date")
    month, year = date.dt.month(), date.dt.year()
    season_start = pl.when(month <= 3).then(year - 1).otherwise(year)
    calc = pl.col("calculation_type")
    ce = ce.with_columns(
        pl.when(calc.is_in(["procedure", "visit"]))
        .then(pl.lit("date|") + date.cast(pl.String))
        .when(calc == "patient-periodic")
        .then(
            pl.lit("season|")
            + season_start.cast(pl.String)
            + "-"
            + (season_start + 1).cast(pl.String)
        )
        .otherwise(pl.lit("year|") + year.cast(pl.String))
        .alias("ikey")
    )
    episodes = ce.filter(calc == "episode")
    if episodes.height:
        others = ce.filter(calc != "episode")
        labels = episode_labels(episodes, claim_dx, measure_dx)
        episodes = episodes.with_columns(labels.alias("_label"))
        first_seq = pl.col("claim_seq").min().over(*KEYS, "_label")
        episodes = episodes.with_columns(
            (pl.lit("episode|") + first_seq.cast(pl.String)).alias("ikey")
        ).drop("_label")
        ce = pl.concat([others, episodes])
    return ce


def build_instances(
    ce: pl.DataFrame,
    visit_lines: pl.DataFrame,
    claim_dx: pl.DataFrame,
    measure_dx: pl.DataFrame,
) -> pl.DataFrame:
    """One row per eligible instance, with internal ``rank`` and ``is_inverse`` columns."""
    ce = instance_keys(ce, claim_dx, measure_dx)
    group = [*KEYS, "ikey"]
    intermediate = pl.col("calculation_type") == "patient-intermediate"
    qdate = pl.col("claim_date").filter(pl.col("rank") > 0).max().over(group)
    ce = ce.with_columns(qdate.alias("_qdate")).with_columns(
        pl.when(
            intermediate
            & pl.col("_qdate").is_not_null()
            & (pl.col("claim_date") != pl.col("_qdate"))
        )
        .then(pl.lit(0, dtype=pl.Int8))
        .otherwise(pl.col("rank"))
        .alias("rank")
    )
    inst = (
        ce.sort("claim_seq", "uid")
        .group_by(group)
        .agg(
            pl.col("calculation_type").first(),
            pl.col("is_inverse").first(),
            pl.col("rank").max(),
            pl.when(pl.col("calculation_type").first() == "patient-intermediate")
            .then(pl.coalesce(pl.col("_qdate").first(), pl.col("claim_date").max()))
            .otherwise(pl.col("claim_date").min())
            .alias("instance_date"),
            pl.col("claim_id").unique(maintain_order=True).alias("claim_ids"),
            pl.col("claim_seq").unique(maintain_order=True).alias("claim_seqs"),
            pl.col("source").unique(maintain_order=True).alias("sources"),
            pl.col("qdc_codes")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .alias("qdc_codes"),
            pl.col("conflicting").any(),
            pl.col("conflicting_codes")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .alias("conflicting_codes"),
            pl.col("uid").alias("_uids"),
        )
    )
    visits = inst.filter(pl.col("calculation_type") == "visit")
    if visits.height:
        line_ids = (
            visits.select(*group, "_uids")
            .explode("_uids")
            .rename({"_uids": "uid"})
            .join(
                visit_lines.select(
                    "uid",
                    "measure_id",
                    "stratum",
                    (
                        pl.col("claim_seq").cast(pl.String)
                        + ":"
                        + pl.col("line_number").cast(pl.String)
                    ).alias("line_id"),
                ),
                on=["uid", "measure_id", "stratum"],
            )
            .group_by(group)
            .agg(pl.col("line_id").unique().sort())
        )
        visits = (
            visits.join(line_ids, on=group, how="inner", nulls_equal=True)
            .explode("line_id")
            .with_columns((pl.col("ikey") + "|" + pl.col("line_id")).alias("ikey"))
            .drop("line_id")
        )
        inst = pl.concat([inst.filter(pl.col("calculation_type") != "visit"), visits])
    return inst.drop("_uids").with_columns(
        _marker_expr().alias("marker"), pl.col("qdc_codes").fill_null([])
    )
