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

#: Integer keys: ``pid`` (entity + patient), ``mkey`` (measure + stratum), ``ikey`` (instance
#: within them: year, date as days, season start year or first claim of an episode).
GROUP = ["pid", "mkey", "ikey"]
#: Columns carried from a group's first claim to its instance.
CARRIED = ["tin", "npi", "measure_id", "stratum", "patient_id", "calculation_type", "is_inverse"]


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

    Label propagation between claims and (entity-patient, measure, diagnosis) nodes until
    stable; each claim ends with the smallest ``uid`` of its component (one label per row).
    """
    nodes = ce.select("pid", "mkey", "measure_id", "uid").with_row_index("row")
    edges = (
        nodes.join(claim_dx, on="uid")
        .join(measure_dx, on=["measure_id", "dx"], how="semi")
        .select("row", "pid", "mkey", "dx")
    )
    label = nodes.select("row", pl.col("uid").alias("label"))
    while True:
        per_dx = (
            edges.join(label, on="row")
            .group_by("pid", "mkey", "dx")
            .agg(pl.col("label").min().alias("dx_label"))
        )
        proposal = (
            edges.join(per_dx, on=["pid", "mkey", "dx"])
            .group_by("row")
            .agg(pl.col("dx_label").min())
        )
        new = (
            label.join(proposal, on="row", how="left")
            .select("row", pl.min_horizontal("label", "dx_label").alias("label"))
            .sort("row")
        )
        if new["label"].equals(label["label"]):
            return new["label"]
        label = new


def instance_keys(
    ce: pl.DataFrame, claim_dx: pl.DataFrame, measure_dx: pl.DataFrame
) -> pl.DataFrame:
    """Add the integer ``ikey`` (instance within entity-patient and measure-stratum)."""
    date = pl.col("claim_date")
    month, year = date.dt.month(), date.dt.year().cast(pl.Int64)
    calc = pl.col("calculation_type")
    ce = ce.with_columns(
        pl.when(calc.is_in(["procedure", "visit"]))
        .then(date.cast(pl.Int64))
        .when(calc == "patient-periodic")
        .then(pl.when(month <= 3).then(year - 1).otherwise(year))
        .otherwise(year)
        .alias("ikey")
    )
    episodes = ce.filter(calc == "episode")
    if episodes.height:
        others = ce.filter(calc != "episode")
        labels = episode_labels(episodes, claim_dx, measure_dx)
        first_seq = pl.col("claim_seq").min().over("pid", "mkey", "_label")
        episodes = (
            episodes.with_columns(labels.alias("_label"))
            .with_columns(first_seq.cast(pl.Int64).alias("ikey"))
            .drop("_label")
        )
        ce = pl.concat([others, episodes])
    return ce


def instance_key_text() -> pl.Expr:
    """The readable instance key (no PHI) from ``calculation_type``, ``ikey``, ``line_id``."""
    calc, ikey = pl.col("calculation_type"), pl.col("ikey")
    day = pl.lit("date|") + ikey.cast(pl.Int32).cast(pl.Date).cast(pl.String)
    return (
        pl.when(calc == "procedure")
        .then(day)
        .when(calc == "visit")
        .then(day + "|" + pl.col("line_id"))
        .when(calc == "patient-periodic")
        .then(pl.lit("season|") + ikey.cast(pl.String) + "-" + (ikey + 1).cast(pl.String))
        .when(calc == "episode")
        .then(pl.lit("episode|") + ikey.cast(pl.String))
        .otherwise(pl.lit("year|") + ikey.cast(pl.String))
    )


def _visit_lines(keyed: pl.DataFrame, visit_lines: pl.DataFrame) -> pl.DataFrame:
    """Qualifying lines of each visit instance: GROUP + ``claim_seq``, ``line_number``."""
    return (
        keyed.filter(pl.col("calculation_type") == "visit")
        .select(*GROUP, "uid", "measure_id", "stratum")
        .join(visit_lines, on=["uid", "measure_id", "stratum"])
        .select(*GROUP, "claim_seq", "line_number")
        .unique()
    )


def _effective_rank(keyed: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Patient-intermediate: only the claims on the latest date with a QDC keep their rank."""
    qdate = pl.col("claim_date").filter(pl.col("rank") > 0).max().over(by)
    late = (pl.col("calculation_type") == "patient-intermediate") & (
        pl.col("claim_date") != pl.col("_qdate")
    )
    return keyed.with_columns(qdate.alias("_qdate")).with_columns(
        pl.when(late.fill_null(False))
        .then(pl.lit(0, dtype=pl.Int8))
        .otherwise(pl.col("rank"))
        .alias("rank")
    )


def build_instances(keyed: pl.DataFrame, visit_lines: pl.DataFrame) -> pl.DataFrame:
    """One row per eligible instance (``keyed`` has ``ikey``), with internal ``rank``."""
    ce = _effective_rank(keyed, GROUP)
    explode = {"keep_nulls": False, "empty_as_null": False}
    inst = (
        ce.sort("claim_seq", "uid")
        .group_by(GROUP)
        .agg(
            *[pl.col(c).first() for c in CARRIED],
            pl.col("rank").max(),
            pl.when(pl.col("calculation_type").first() == "patient-intermediate")
            .then(pl.coalesce(pl.col("_qdate").first(), pl.col("claim_date").max()))
            .otherwise(pl.col("claim_date").min())
            .alias("instance_date"),
            pl.col("claim_id").unique(maintain_order=True).alias("claim_ids"),
            pl.col("claim_seq").unique(maintain_order=True).alias("claim_seqs"),
            pl.col("source").unique(maintain_order=True).alias("sources"),
            pl.col("qdc_codes").list.explode(**explode).unique().sort().alias("qdc_codes"),
            pl.col("conflicting").any(),
            pl.col("conflicting_codes")
            .list.explode(**explode)
            .unique()
            .sort()
            .alias("conflicting_codes"),
        )
        .with_columns(pl.lit(None, dtype=pl.String).alias("line_id"))
    )
    if (inst["calculation_type"] == "visit").any():
        line_ids = _visit_lines(keyed, visit_lines).select(
            *GROUP,
            (
                pl.col("claim_seq").cast(pl.String) + ":" + pl.col("line_number").cast(pl.String)
            ).alias("line_id"),
        )
        visits = (
            inst.filter(pl.col("calculation_type") == "visit")
            .drop("line_id")
            .join(line_ids, on=GROUP)
        )
        inst = pl.concat([inst.filter(pl.col("calculation_type") != "visit"), visits])
    return inst.with_columns(_marker_expr().alias("marker"), pl.col("qdc_codes").fill_null([]))


def monthly_marks(
    keyed: pl.DataFrame,
    visit_lines: pl.DataFrame,
    claim_dx: pl.DataFrame,
    measure_dx: pl.DataFrame,
    last_month: int,
) -> pl.DataFrame:
    """Year-to-date markers at the end of each month: (entity, measure, stratum, month,
    marker, weight), without rebuilding the instances month by month.

    An instance's key never depends on later claims except for episodes (a later claim can
    link two episodes), so episodes are re-keyed per month; for the others the marker through
    month m is a running maximum of monthly ranks (patient-intermediate: the rank of the
    latest month with a QDC, carried forward). Visit instances weigh their qualifying lines.
    """
    entity = ["tin", "npi", "measure_id", "stratum"]
    month = pl.col("claim_date").dt.month().cast(pl.Int8).alias("month")
    others = keyed.filter(pl.col("calculation_type") != "episode").with_columns(month)
    per_month = (
        _effective_rank(others, [*GROUP, "month"])
        .group_by(*GROUP, "month")
        .agg(pl.col("rank").max().alias("mrank"), (pl.col("rank") > 0).any().alias("has_qdc"))
    )
    groups = (
        others.group_by(GROUP)
        .agg(
            *[pl.col(c).first() for c in [*entity, "calculation_type", "is_inverse"]],
            pl.col("month").min().alias("first_month"),
        )
        .with_row_index("gid")
    )
    weights = (
        _visit_lines(keyed, visit_lines)
        .group_by(GROUP)
        .agg(pl.len().cast(pl.Int64).alias("weight"))
    )
    groups = groups.join(weights, on=GROUP, how="left").with_columns(pl.col("weight").fill_null(1))
    months = pl.DataFrame({"month": list(range(1, last_month + 1))}, schema={"month": pl.Int8})
    monthly = per_month.join(groups.select(*GROUP, "gid"), on=GROUP).select(
        "gid", "month", "mrank", pl.when(pl.col("has_qdc")).then(pl.col("mrank")).alias("qrank")
    )
    grid = (
        groups.select("gid", "first_month", "calculation_type", "is_inverse", "weight", *entity)
        .join(months, how="cross")
        .filter(pl.col("month") >= pl.col("first_month"))
        .join(monthly, on=["gid", "month"], how="left")
        .sort("gid", "month")
        .with_columns(
            pl.when(pl.col("calculation_type") == "patient-intermediate")
            .then(pl.col("qrank").forward_fill().over("gid").fill_null(0))
            .otherwise(pl.col("mrank").fill_null(0).cum_max().over("gid"))
            .alias("rank")
        )
    )
    parts = [grid.select(*entity, "month", _marker_expr().alias("marker"), "weight")]
    episodes = keyed.filter(pl.col("calculation_type") == "episode")
    for m in range(1, last_month + 1) if episodes.height else ():
        upto = episodes.filter(pl.col("claim_date").dt.month() <= m)
        if upto.height == 0:
            continue
        inst = build_instances(instance_keys(upto, claim_dx, measure_dx), visit_lines)
        parts.append(
            inst.select(
                *entity,
                pl.lit(m, dtype=pl.Int8).alias("month"),
                "marker",
                pl.lit(1, dtype=pl.Int64).alias("weight"),
            )
        )
    return pl.concat(parts)
