"""QDC performance markers of each eligible split claim (measure-logic.md section 4).

A quality code matches a line with the same code when the line carries one of its listed
modifiers, or, when it lists none, when the line carries none of 1P/2P/3P/8P. An option
matches when every one of its codes is matched. Of several markers the most advantageous
counts (reversed for inverse measures); more than one meaning on a claim is a conflict.

Everything is keyed by integers: a performance option (``pidx``) knows its measure-stratum
(``mkey``), its rank and the eligibility options (a bit mask) of its option group, so a QDC
hit counts for a claim when the claim's eligible mask shares a bit with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import polars as pl

from ..schema import PERFORMANCE_MODIFIERS
from .codes import RANKS, CodeTables, code_ids, mod_mask, tables
from .eligibility import option_bit

_PERF_MODS = sorted(PERFORMANCE_MODIFIERS)
#: Multiplier of one integer key of two: (uid, mkey) and (uid, mkey, pidx); mkey and pidx
#: are below it (a year has a few hundred performance options).
_KEY = 1 << 16
_I64 = pl.Int64()


def qdc_label(bits: dict[str, int]) -> pl.Expr:
    """How a QDC is shown: ``CODE`` or ``CODE-MOD`` with the line's performance modifier
    (the first in sort order, of the line's modifier bits ``mods``)."""
    suffix: pl.Expr = pl.lit("")
    for mod in reversed(_PERF_MODS):
        suffix = (
            pl.when((pl.col("mods") & bits[mod]) != 0).then(pl.lit(f"-{mod}")).otherwise(suffix)
        )
    return pl.col("code").cast(pl.String) + suffix


@functools.cache
def performance_options(year: int) -> pl.DataFrame:
    """pidx, mkey, bits (eligibility options of its measure and option group), marker,
    rank, n_codes: one row per performance option of ``year`` (cached)."""
    t = tables(year)
    if t.performance.height >= _KEY or t.mkeys.height >= _KEY:
        raise ValueError(f"{year}: too many performance options or measure-strata for a key")
    groups = t.options.group_by("measure_id", "option_group").agg(option_bit().sum().alias("bits"))
    return (
        t.performance.join(groups, on=["measure_id", "option_group"])
        .join(t.measures.select("measure_id", "is_inverse", "is_multi_rate"), on="measure_id")
        .with_columns(
            pl.when(pl.col("is_multi_rate"))
            .then(pl.col("option_group"))
            .otherwise(pl.lit(""))
            .alias("stratum")
        )
        .join(t.mkeys.select("measure_id", "stratum", "mkey"), on=["measure_id", "stratum"])
        .join(RANKS, on=["is_inverse", "marker"])
        .select("pidx", "mkey", "bits", "marker", "rank", "n_codes")
        .sort("pidx")
    )


@functools.cache
def _quality_codes(year: int) -> pl.DataFrame:
    """pidx, code (code id), listed (modifier bits), on_dx: the quality codes of ``year``."""
    t, ids = tables(year), code_ids(year)
    listed = [mod_mask(mods, ids.mod_bits) for mods in t.performance_codes["mods"].to_list()]
    return t.performance_codes.select(
        "pidx",
        pl.col("code").cast(ids.enum),
        pl.Series("listed", listed, dtype=_I64),
        "on_dx",
    )


def matching_qdcs(lines: pl.DataFrame, claim_dx: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Quality codes matched by a line (or, for ICD-10 quality codes, a header diagnosis).

    Modifiers are bit masks (``mods`` of a line, ``listed`` of a quality code): a code that
    lists modifiers needs one of them, one that lists none needs no performance modifier.
    """
    ids = code_ids(t.year)
    quality = _quality_codes(t.year)
    perf = mod_mask(_PERF_MODS, ids.mod_bits)
    mods, listed = pl.col("mods"), pl.col("listed")
    ok = pl.when(listed != 0).then((mods & listed) != 0).otherwise((mods & perf) == 0)
    on_lines = (
        lines.select("uid", "code", "mods")
        .join(quality.filter(~pl.col("on_dx")), on="code", how="inner")
        .filter(ok)
        .select("uid", "pidx", "code", qdc_label(ids.mod_bits).alias("label"))
    )
    on_dx = claim_dx.join(quality.filter(pl.col("on_dx")), left_on="dx", right_on="code").select(
        "uid", "pidx", pl.col("dx").alias("code"), pl.col("dx").cast(pl.String).alias("label")
    )
    return pl.concat([on_lines, on_dx])


@dataclass(frozen=True)
class Markers:
    """The markers of a batch's eligible claim measure-strata.

    Most eligible claims carry no QDC: their QDC lists are not kept as (null) rows.
    """

    ranks: pl.DataFrame  # uid, mkey, rank: every eligible (uid, mkey); 0 = no marker
    details: pl.DataFrame  # uid, mkey, qdc_codes, conflicting, conflicting_codes/_meanings


def claim_markers(
    lines: pl.DataFrame,
    claim_dx: pl.DataFrame,
    masks: pl.DataFrame,
    groups: pl.DataFrame,
    t: CodeTables,
) -> Markers:
    """Per eligible (uid, mkey): marker rank; and where QDCs were found, which and conflicts.

    ``masks`` (uid, mask) are the claims' eligible options, ``groups`` (uid, mkey) their
    eligible measure-strata, in (uid, mkey) order.
    """
    # One Int64 key per (uid, mkey), and per (uid, mkey, pidx): single-integer groupings.
    key = pl.col("uid") * _KEY + pl.col("mkey")
    hits = (
        matching_qdcs(lines, claim_dx, t)
        .join(performance_options(t.year), on="pidx")
        .join(masks, on="uid")
        .filter((pl.col("mask") & pl.col("bits")) != 0)
        .select(key.alias("k"), "pidx", "code", "label", "marker", "rank", "n_codes")
        .with_columns(kp=pl.col("k") * _KEY + pl.col("pidx"))
    )
    # Sorted once as a column, then gathered into lists (sorting inside groups is slower).
    found = (
        hits.select("k", "label")
        .unique()
        .sort("k", "label")
        .group_by("k", maintain_order=True)
        .agg(pl.col("label").alias("qdc_codes"))
    )
    matched = (
        hits.group_by("kp")
        .agg(
            pl.col("code").n_unique().alias("n"), pl.col("n_codes").first(), pl.col("rank").first()
        )
        .filter(pl.col("n") == pl.col("n_codes"))
        .with_columns(k=pl.col("kp") // _KEY)
    )
    # A rank is one marker of the measure: more than one rank is more than one meaning.
    per_claim = matched.group_by("k").agg(
        pl.col("rank").max(), (pl.col("rank").n_unique() > 1).alias("conflicting")
    )
    # Conflicts are rare: their meanings and codes are listed for those claims only.
    conflicted = matched.join(per_claim.filter(pl.col("conflicting")), on="k", how="semi")
    conflicts = (
        hits.join(conflicted, on="kp", how="semi")
        .group_by("k")
        .agg(
            pl.col("label").unique().sort().alias("conflicting_codes"),
            pl.col("marker").unique().sort().alias("conflicting_meanings"),
        )
    )
    # Every matched (uid, mkey) has a hit, so ``found`` has all keys of ``per_claim``.
    details = (
        found.join(per_claim, on="k", how="left")
        .join(conflicts, on="k", how="left")
        .select(
            (pl.col("k") // _KEY).alias("uid"),
            (pl.col("k") % _KEY).cast(pl.Int32).alias("mkey"),
            "qdc_codes",
            pl.col("rank").fill_null(0).cast(pl.Int8),
            pl.col("conflicting").fill_null(False),
            "conflicting_codes",
            "conflicting_meanings",
        )
    )
    # In (uid, mkey) order, as phase 2 reads them: the order of ``groups``.
    ranks = (
        groups.with_columns(key.alias("k"))
        .join(details.select(key.alias("k"), "rank"), on="k", how="left", maintain_order="left")
        .select("uid", "mkey", pl.col("rank").fill_null(0))
    )
    return Markers(ranks=ranks, details=details.drop("rank"))
