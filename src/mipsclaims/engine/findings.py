"""Data-quality findings a practice can act on (issue 5, outputs). No PHI in any column.

- ``conflicting_qdc``: one claim carries QDCs of different meanings for one measure;
- ``wasted_qdc``: a quality code on a claim not eligible for any measure using it;
- ``wrong_year_qdc``: a quality code of another performance year, not of this one;
- ``qdc_nonzero_charge``: a quality-code line billed above $0.01.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl

from ..schema import short_hash
from .codes import CodeTables, code_ids, tables
from .eligibility import option_bit

FINDING_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "tin": pl.String(),
    "npi": pl.String(),
    "measure_id": pl.String(),
    "claim_seq": pl.Int64(),
    "claim_ref": pl.String(),
    "source": pl.String(),
    "service_date": pl.Date(),
    "code": pl.String(),
    "detail": pl.String(),
}

#: What :func:`find` keeps per finding: claim fields come from the claim (``uid``) and the
#: charge is written into ``detail`` when read (:func:`finding_table`).
FACT_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "uid": pl.Int64(),
    "measure_id": pl.String(),
    "service_date": pl.Date(),
    "code": pl.String(),
    "detail": pl.String(),
    "charge": pl.Float64(),
}

#: A QDC line is billed at $0.00 or $0.01 (CMS claims reporting guidance).
MAX_QDC_CHARGE = 0.01

#: The order of the findings output: by claim, then every column that can tell two
#: findings of a claim apart, so that the order does not depend on how the work was cut.
FINDING_ORDER = ["claim_seq", "kind", "code", "measure_id", "npi", "service_date", "detail"]


@functools.cache
def qdc_measures(year: int) -> pl.DataFrame:
    """code, measures (sorted ids), bits (eligibility options of those measures): per
    quality code of ``year``, the measures using it (cached)."""
    t = tables(year)
    bits = t.options.group_by("measure_id").agg(option_bit().sum().alias("bits"))
    return (
        t.performance_codes.join(t.performance, on="pidx")
        .select(pl.col("code").cast(code_ids(year).enum), "measure_id")
        .unique()
        .join(bits, on="measure_id", how="left")
        .group_by("code")
        .agg(
            pl.col("measure_id").sort().alias("measures"),
            pl.col("bits").fill_null(0).sum(),
        )
    )


def _with_refs(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``claim_ref`` = ``claim #<seq> (<short hash of CLM01>)`` (findings are few)."""
    ids = frame["claim_id"].unique().to_list()
    hashes = {i: short_hash(i or "") for i in ids}
    hashed = pl.DataFrame(
        {"claim_id": list(hashes), "_hash": list(hashes.values())},
        schema={"claim_id": pl.String(), "_hash": pl.String()},
    )
    return frame.join(hashed, on="claim_id", how="left", nulls_equal=True).with_columns(
        (
            pl.lit("claim #") + pl.col("claim_seq").cast(pl.String) + " (" + pl.col("_hash") + ")"
        ).alias("claim_ref")
    )


def _finding(
    frame: pl.DataFrame,
    kind: str,
    *,
    code: pl.Expr,
    detail: pl.Expr | None = None,
    measure_id: pl.Expr | None = None,
    charge: pl.Expr | None = None,
) -> pl.DataFrame:
    """One finding fact per row of ``frame`` (which carries ``uid`` and ``service_date``)."""
    return frame.select(
        pl.lit(kind).alias("kind"),
        "uid",
        (measure_id if measure_id is not None else pl.lit(None, dtype=pl.String)).alias(
            "measure_id"
        ),
        "service_date",
        code.cast(pl.String).alias("code"),
        (detail if detail is not None else pl.lit(None, dtype=pl.String)).alias("detail"),
        (charge if charge is not None else pl.lit(None, dtype=pl.Float64)).alias("charge"),
    )


def _conflicts(conflicting: pl.DataFrame, claims: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """The conflicting_qdc findings of the (uid, mkey) marker details with a conflict."""
    conflicts = (
        conflicting.join(t.mkeys.select("mkey", "measure_id"), on="mkey")
        .group_by("uid", "measure_id")
        .agg(
            pl.col("conflicting_codes")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort(),
            pl.col("conflicting_meanings")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort(),
        )
        .join(claims.select("uid", pl.col("claim_date").alias("service_date")), on="uid")
    )
    return _finding(
        conflicts,
        "conflicting_qdc",
        measure_id=pl.col("measure_id"),
        code=pl.col("conflicting_codes").list.join(", "),
        detail=pl.lit("QDCs on one claim set different outcomes (")
        + pl.col("conflicting_meanings").list.join(", ")
        + "); the most advantageous counts",
    )


def find(
    claims: pl.DataFrame,
    lines: pl.DataFrame,
    masks: pl.DataFrame,
    markers: pl.DataFrame,
    t: CodeTables,
) -> pl.DataFrame:
    """All findings of the evaluated split claims, as facts (:data:`FACT_SCHEMA`, unsorted;
    :func:`finding_table` shapes them).

    ``masks`` (uid, mask) are the claims' eligible options (eligibility.Eligibility), and
    ``markers`` the QDC details (markers.Markers.details) keyed by (uid, mkey).
    """
    # Only quality-code lines can raise a finding; claim fields are added when read. Code
    # ids index what is known of each code.
    ids = code_ids(t.year)
    code_id = lines["code"].to_physical()
    is_qdc, is_other = ids.is_qdc.gather(code_id), ids.is_other_year_qdc.gather(code_id)
    not_denominator = ~ids.is_denominator.gather(code_id)
    lines = lines.with_columns(
        is_qdc.alias("_qdc"), is_other.alias("_other"), not_denominator.alias("_not_den")
    ).filter(pl.col("_qdc") | pl.col("_other"))
    parts: list[pl.DataFrame] = []
    conflicting = markers.filter(pl.col("conflicting"))
    if conflicting.height:  # rare
        parts.append(_conflicts(conflicting, claims, t))
    qdc_lines = lines.filter("_qdc")
    used = qdc_lines.select("uid", "line_number", "code").join(qdc_measures(t.year), on="code")
    # A claim's eligible options by uid (dense, 0 .. n-1): a gather, not a join.
    eligible = np.zeros(claims.height, dtype=np.int64)
    eligible[masks["uid"].to_numpy()] = masks["mask"].to_numpy()
    useful = used.filter((pl.col("bits") & pl.Series(eligible).gather(used["uid"])) != 0).select(
        "uid", "line_number"
    )
    wasted = (
        used.join(useful, on=["uid", "line_number"], how="anti")
        .select("uid", "line_number", "code", "measures")
        .unique(subset=["uid", "line_number", "code"])
        .join(
            qdc_lines.select("uid", "line_number", "service_date", "_not_den"),
            on=["uid", "line_number"],
        )
        .filter("_not_den")
    )
    parts.append(
        _finding(
            wasted,
            "wasted_qdc",
            measure_id=pl.when(pl.col("measures").list.len() == 1).then(
                pl.col("measures").list.first()
            ),
            code=pl.col("code"),
            detail=pl.lit("quality code for measure ")
            + pl.col("measures").list.join(", ")
            + " on a claim not in that measure's denominator",
        )
    )
    wrong_year = lines.filter(pl.col("_other") & pl.col("_not_den"))
    parts.append(
        _finding(
            wrong_year,
            "wrong_year_qdc",
            code=pl.col("code"),
            detail=pl.lit(f"quality code of another performance year, not a QDC in {t.year}"),
        )
    )
    charged = qdc_lines.filter(pl.col("_not_den") & (pl.col("charge") > MAX_QDC_CHARGE))
    parts.append(
        _finding(
            charged,
            "qdc_nonzero_charge",
            code=pl.col("code"),
            charge=pl.col("charge"),  # the detail is written when read
        )
    )
    frames = [p.with_columns(pl.col("service_date").cast(pl.Date)) for p in parts]
    out = pl.concat(frames, how="vertical_relaxed")
    return out.select([pl.col(n).cast(d) for n, d in FACT_SCHEMA.items()])


def finding_table(facts: pl.DataFrame, claims: pl.DataFrame) -> pl.DataFrame:
    """The findings output (:data:`FINDING_SCHEMA`) from the facts of :func:`find` of the
    kept ``claims`` (uid, tin, npi, claim_seq, claim_id, source): claim fields, charge
    details and claim references written, and rows sorted, only when findings are read."""
    facts = facts.join(claims, on="uid")
    if facts.height == 0:
        return pl.DataFrame(schema=FINDING_SCHEMA)
    charge = pl.lit("QDC line charge ") + pl.col("charge").round(2).cast(pl.String) + " above $0.01"
    out = _with_refs(facts.with_columns(pl.coalesce("detail", charge).alias("detail")))
    return out.select([pl.col(n).cast(d) for n, d in FINDING_SCHEMA.items()]).sort(
        FINDING_ORDER, nulls_last=True
    )
