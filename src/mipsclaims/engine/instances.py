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

from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from .codes import marker_expr

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

#: Integer keys: ``pid`` (entity + patient), ``mkey`` (measure + stratum), ``ikey`` (instance
#: within them: year, date as days, season start year or first claim of an episode).
GROUP = ["pid", "mkey", "ikey"]
#: Columns carried from a group's first claim to its instance.
CARRIED = ["eid", "calculation_type", "is_inverse"]


def _marker_expr() -> pl.Expr:
    """Marker name of the ``rank`` column (codes' rank table; inverse measures reversed)."""
    return marker_expr(pl.col("rank"), pl.col("is_inverse"))


def episode_labels(ce: pl.DataFrame, claim_dx: pl.DataFrame, mkey_dx: pl.DataFrame) -> pl.Series:
    """Connected components of episode claims linked by a shared measure diagnosis.

    Label propagation between claims and (entity-patient, measure, diagnosis) nodes until
    stable; each claim ends with the smallest ``uid`` of its component (one label per row).
    """
    nodes = ce.select("pid", "mkey", "uid").with_row_index("row")
    edges = (
        nodes.join(claim_dx, on="uid")
        .join(mkey_dx, on=["mkey", "dx"], how="semi")
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


def instance_keys(ce: pl.DataFrame, claim_dx: pl.DataFrame, mkey_dx: pl.DataFrame) -> pl.DataFrame:
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
        labels = episode_labels(episodes, claim_dx, mkey_dx)
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
        .select(*GROUP, "uid")
        .join(visit_lines, on=["uid", "mkey"])
        .select(*GROUP, "claim_seq", "line_number")
        .unique()
    )


def _effective_rank(keyed: FrameT, by: list[str]) -> FrameT:
    """Patient-intermediate: only the claims on the latest date with a QDC keep their rank."""
    intermediate = pl.col("calculation_type") == "patient-intermediate"
    qdate = pl.col("claim_date").filter(pl.col("rank") > 0).max().over(by)
    late = (pl.col("claim_date") != pl.col("_qdate")).fill_null(False)
    adjusted = (
        keyed.filter(intermediate)
        .with_columns(qdate.alias("_qdate"))
        .with_columns(
            pl.when(late).then(pl.lit(0, dtype=pl.Int8)).otherwise(pl.col("rank")).alias("rank")
        )
    )
    rest = keyed.filter(~intermediate).with_columns(pl.lit(None, dtype=pl.Date).alias("_qdate"))
    return pl.concat([rest, adjusted])


def build_instances(keyed: pl.DataFrame, visit_lines: pl.DataFrame) -> pl.DataFrame:
    """One row per eligible instance (``keyed`` has ``ikey``), with internal ``rank``.

    ``keyed`` must be in input order (``uid``), so that claim lists keep it.
    """
    ce = _effective_rank(keyed, GROUP)
    explode = {"keep_nulls": False, "empty_as_null": False}
    first_of_claim = pl.col("claim_seq").is_first_distinct()
    inst = ce.group_by(GROUP, maintain_order=True).agg(
        *[pl.col(c).first() for c in CARRIED],
        pl.col("rank").max(),
        pl.when(pl.col("calculation_type").first() == "patient-intermediate")
        .then(pl.coalesce(pl.col("_qdate").first(), pl.col("claim_date").max()))
        .otherwise(pl.col("claim_date").min())
        .alias("instance_date"),
        # Parallel lists, one entry per claim: two claims may share a CLM01 or a file.
        *[pl.col(c).filter(first_of_claim).alias(f"{c}s") for c in ("claim_id", "claim_seq")],
        pl.col("source").filter(first_of_claim).alias("sources"),
    )
    # Most claims carry no QDC and no conflict: aggregate those lists only where present.
    qdcs = (
        ce.filter(pl.col("qdc_codes").list.len() > 0)
        .group_by(GROUP)
        .agg(pl.col("qdc_codes").list.explode(**explode).unique().sort())
    )
    conflicts = (
        ce.filter(pl.col("conflicting"))
        .group_by(GROUP)
        .agg(
            pl.col("conflicting_codes").list.explode(**explode).unique().sort(),
            pl.lit(True).alias("conflicting"),
        )
    )
    inst = (
        inst.join(qdcs, on=GROUP, how="left", maintain_order="left")
        .join(conflicts, on=GROUP, how="left", maintain_order="left")
        .with_columns(
            pl.col("qdc_codes").fill_null([]),
            pl.col("conflicting_codes").fill_null([]),
            pl.col("conflicting").fill_null(False),
            pl.lit(None, dtype=pl.String).alias("line_id"),
        )
    )
    if (inst["calculation_type"] == "visit").any():
        # One instance per qualifying line of a visit (a left join fans visits out).
        line_ids = _visit_lines(keyed, visit_lines).select(
            *GROUP,
            pl.col("claim_seq").alias("_seq"),
            pl.col("line_number").alias("_line"),
            (
                pl.col("claim_seq").cast(pl.String) + ":" + pl.col("line_number").cast(pl.String)
            ).alias("line_id"),
        )
        # The lines of a visit in line order (the join keeps only the instances' order).
        inst = (
            inst.drop("line_id")
            .with_row_index("_instance")
            .join(line_ids, on=GROUP, how="left", maintain_order="left")
            .sort("_instance", "_seq", "_line", nulls_last=True)
            .drop("_instance", "_seq", "_line")
        )
    return inst.with_columns(_marker_expr().alias("marker"), pl.col("qdc_codes").fill_null([]))


@dataclass(frozen=True)
class _Packing:
    """``GROUP`` (pid, mkey, ikey) packed into one Int64, from the ranges of the keys:
    grouping millions of rows on one integer is several times faster than on three."""

    lo: dict[str, int]
    span: dict[str, int]

    @staticmethod
    def of(keyed: pl.DataFrame) -> _Packing | None:
        """The packing of ``keyed``'s keys, or None when they would not fit (or are null)."""
        if keyed.height == 0:
            return None
        stats = keyed.select(
            *[pl.col(c).min().alias(f"{c}_lo") for c in GROUP],
            *[pl.col(c).max().alias(f"{c}_hi") for c in GROUP],
            pl.sum_horizontal(pl.col(c).null_count() for c in GROUP).alias("nulls"),
        ).row(0, named=True)
        if stats["nulls"]:
            return None
        lo = {c: int(stats[f"{c}_lo"]) for c in GROUP}
        span = {c: int(stats[f"{c}_hi"]) - lo[c] + 1 for c in GROUP}
        if span["pid"] * span["mkey"] * span["ikey"] >= 2**62:
            return None
        return _Packing(lo, span)

    def pack(self) -> pl.Expr:
        at = {c: pl.col(c).cast(pl.Int64) - self.lo[c] for c in GROUP}
        return (at["pid"] * self.span["mkey"] + at["mkey"]) * self.span["ikey"] + at["ikey"]

    def unpack(self, packed: pl.Expr) -> list[pl.Expr]:
        """``pid`` and ``mkey`` (as Int64) of a packed column."""
        pid_mkey = packed // self.span["ikey"]
        return [
            (pid_mkey // self.span["mkey"] + self.lo["pid"]).alias("pid"),
            (pid_mkey % self.span["mkey"] + self.lo["mkey"]).alias("mkey"),
        ]


def instance_marks(
    keyed: pl.DataFrame,
    visit_lines: pl.DataFrame,
    eid_of_pid: pl.Series,
    inverse_of_mkey: pl.Series,
) -> pl.DataFrame:
    """(eid, mkey, marker, weight): instances counted per marker, without building their
    audit trail (claim lists, QDCs): what :func:`build_instances` gives, counted. A visit
    instance weighs its qualifying lines (at least one), as it fans out there.

    ``eid_of_pid`` and ``inverse_of_mkey`` are indexed by the dense ``pid`` and ``mkey``:
    an instance's entity and direction are looked up, not carried through the grouping.
    """
    packing = _Packing.of(keyed)
    key, add = GROUP, []
    if packing is not None:
        key, add = ["_iid"], [packing.pack().alias("_iid")]
    weights = (
        _visit_lines(keyed, visit_lines)
        .with_columns(add)
        .group_by(key)
        .agg(pl.len().cast(pl.Int64).alias("weight"))
    )
    needed = keyed.select(*GROUP, "calculation_type", "claim_date", "rank").with_columns(add)
    inst = (
        _effective_rank(needed.lazy(), GROUP)
        .group_by(key)
        .agg(pl.col("rank").max())
        .join(weights.lazy(), on=key, how="left")
        .collect()
    )
    if packing is not None:
        inst = inst.with_columns(packing.unpack(pl.col("_iid")))
    inst = inst.with_columns(
        eid_of_pid.gather(inst["pid"]).alias("eid"),
        inverse_of_mkey.gather(inst["mkey"]).alias("is_inverse"),
    )
    # Weights summed on integer ranks; marker names only for the few sums.
    return (
        inst.group_by("eid", "mkey", "is_inverse", "rank")
        .agg(pl.col("weight").fill_null(1).sum())
        .select("eid", pl.col("mkey").cast(pl.Int32), _marker_expr().alias("marker"), "weight")
        .group_by("eid", "mkey", "marker")
        .agg(pl.col("weight").sum())
    )


def monthly_marks(
    keyed: pl.DataFrame,
    visit_lines: pl.DataFrame,
    claim_dx: pl.DataFrame,
    mkey_dx: pl.DataFrame,
    last_month: int,
) -> pl.DataFrame:
    """Year-to-date marker counts at the end of each month: (eid, mkey, month, marker,
    weight), without rebuilding the instances month by month.

    An instance's key never depends on later claims except for episodes (a later claim can
    link two episodes), so episodes are re-keyed per month. For the others the marker through
    month m is a running maximum of monthly ranks (patient-intermediate: the rank of the
    latest month with a QDC, carried forward); only the months where an instance appears or
    changes marker are kept, as +/- deltas, and summed up month by month. Visit instances
    weigh their qualifying lines.
    """
    month = pl.col("claim_date").dt.month().cast(pl.Int8).alias("month")
    others = keyed.filter(pl.col("calculation_type") != "episode").select(
        *GROUP, "eid", "calculation_type", "is_inverse", "claim_date", "rank", month
    )
    weights = (
        _visit_lines(keyed, visit_lines)
        .group_by(GROUP)
        .agg(pl.len().cast(pl.Int64).alias("weight"))
    )
    per_month = (
        _effective_rank(others.lazy(), [*GROUP, "month"])
        .group_by(*GROUP, "month")
        .agg(
            *[pl.col(c).first() for c in ["eid", "calculation_type", "is_inverse"]],
            pl.col("rank").max().alias("mrank"),
            (pl.col("rank") > 0).any().alias("has_qdc"),
        )
        .join(weights.lazy(), on=GROUP, how="left")
        .with_columns(pl.col("weight").fill_null(1))
        .sort(*GROUP, "month")
    )
    # Running values within each instance without window functions: rows are sorted by
    # instance, so encoding gid * 8 + rank makes a global running max / forward fill stay
    # inside the instance (ranks are 0..4).
    gid = pl.struct(GROUP).rle_id().cast(pl.Int64)
    per_month = per_month.with_columns(gid.alias("gid"))
    base = pl.col("gid") * 8
    running_max = (base + pl.col("mrank")).cum_max() - base
    carried = pl.when(pl.col("has_qdc")).then(base + pl.col("mrank")).forward_fill()
    latest_qdc = pl.when(carried >= base).then(carried - base).otherwise(0)
    same = pl.col("gid") == pl.col("gid").shift(1)
    per_month = per_month.with_columns(
        pl.when(pl.col("calculation_type") == "patient-intermediate")
        .then(latest_qdc)
        .otherwise(running_max)
        .cast(pl.Int8)
        .alias("rank")
    ).with_columns(pl.when(same).then(pl.col("rank").shift(1)).alias("prev"))
    changes = per_month.filter(pl.col("prev").is_null() | (pl.col("rank") != pl.col("prev")))
    # Deltas are summed on integer ranks; marker names only for the few sums.
    added = changes.select("eid", "mkey", "month", "is_inverse", "rank", "weight")
    removed = changes.filter(pl.col("prev").is_not_null()).select(
        "eid",
        "mkey",
        "month",
        "is_inverse",
        pl.col("prev").alias("rank"),
        (-pl.col("weight")).alias("weight"),
    )
    key = ["eid", "mkey", "marker"]
    deltas = (
        pl.concat([added, removed])
        .group_by("eid", "mkey", "is_inverse", "rank", "month")
        .agg(pl.col("weight").sum())
        .select("eid", "mkey", "month", _marker_expr().alias("marker"), "weight")
        .group_by(*key, "month")
        .agg(pl.col("weight").sum())
        .collect()
    )
    months = pl.DataFrame({"month": list(range(1, last_month + 1))}, schema={"month": pl.Int8})
    running = (
        deltas.select(key)
        .unique()
        .join(months, how="cross")
        .join(deltas, on=[*key, "month"], how="left")
        .sort(*key, "month")
        .with_columns(pl.col("weight").fill_null(0).cum_sum().over(key))
        .filter(pl.col("weight") > 0)
    )
    parts = [running.select("eid", "mkey", "month", "marker", "weight")]
    episodes = keyed.filter(pl.col("calculation_type") == "episode").select(
        "uid",
        "pid",
        "eid",
        "mkey",
        "is_inverse",
        "calculation_type",
        "claim_date",
        "claim_seq",
        "rank",
    )
    # Re-keyed month by month: link only through the episode claims' measure diagnoses.
    claim_dx = claim_dx.join(episodes.select("uid").unique(), on="uid", how="semi")
    for m in range(1, last_month + 1) if episodes.height else ():
        upto = episodes.filter(pl.col("claim_date").dt.month() <= m)
        if upto.height == 0:
            continue
        # Only each episode's best marker is needed here, not its audit trail.
        inst = (
            instance_keys(upto, claim_dx, mkey_dx)
            .group_by(GROUP)
            .agg(pl.col("eid").first(), pl.col("is_inverse").first(), pl.col("rank").max())
        )
        parts.append(
            inst.select(
                "eid",
                "mkey",
                pl.lit(m, dtype=pl.Int8).alias("month"),
                _marker_expr().alias("marker"),
                pl.lit(1, dtype=pl.Int64).alias("weight"),
            )
        )
    return pl.concat(parts)
