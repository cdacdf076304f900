"""Denominator eligibility per option (measure-logic.md sections 2, 3 and 5), as joins.

A split claim meets an option when it has a qualifying line (code, no excluded modifier,
place of service not excluded), the age and sex hold, a header diagnosis is listed (when the
option lists any) and none is excluded, and every additional procedure code is on the claim.
"""

from __future__ import annotations

import polars as pl

from .codes import FLU_SEASON_MONTHS, CodeTables


def age_months(birth: pl.Expr, on: pl.Expr) -> pl.Expr:
    """Whole months from ``birth`` to ``on`` with dateutil ``relativedelta`` semantics.

    The month anniversary falls on the birth day, clipped to the last day of a shorter month
    (so a Feb 29 birthday turns over on Feb 28 in a non-leap year).
    """
    months = (on.dt.year() - birth.dt.year()).cast(pl.Int32) * 12 + (
        on.dt.month().cast(pl.Int32) - birth.dt.month().cast(pl.Int32)
    )
    anniversary_day = pl.min_horizontal(birth.dt.day(), on.dt.month_end().dt.day())
    before = (on.dt.day() < anniversary_day).cast(pl.Int32)
    return months - before


def qualifying_lines(lines: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """(uid, opt, claim_seq, line_number) of each line whose code qualifies for an option."""
    joined = lines.select("uid", "claim_seq", "line_number", "code", "modifiers", "pos").join(
        t.option_procedures, on="code", how="inner"
    )
    ok = (pl.col("modifiers").list.set_intersection(pl.col("mod_excl")).list.len() == 0) & (
        pl.col("pos").is_null() | ~pl.col("pos").is_in(pl.col("pos_excl"))
    )
    return joined.filter(ok).select("uid", "opt", "claim_seq", "line_number")


def eligible_options(
    claims: pl.DataFrame, lines: pl.DataFrame, t: CodeTables
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Eligible (uid, measure_id, option_group, stratum) rows, and the qualifying lines."""
    qual = qualifying_lines(lines, t)
    cand = (
        qual.select("uid", "opt")
        .unique()
        .join(t.options, on="opt")
        .join(claims.select("uid", "birth_date", "sex", "claim_date"), on="uid")
    )
    months = age_months(pl.col("birth_date"), pl.col("claim_date"))
    age_ok = (pl.col("min_months").is_null() | (months >= pl.col("min_months"))) & (
        pl.col("max_years").is_null() | ((months // 12) <= pl.col("max_years"))
    )
    # After the join, "sex" is the option's requirement and "sex_right" the patient's.
    sex_ok = pl.col("sex").is_null() | (
        pl.col("sex_right").str.strip_chars().str.to_uppercase() == pl.col("sex")
    )
    season_ok = ~pl.col("flu_season_only") | pl.col("claim_date").dt.month().is_in(
        list(FLU_SEASON_MONTHS)
    )
    cand = cand.filter(age_ok.fill_null(False) & sex_ok.fill_null(False) & season_ok)

    claim_dx = claims.select("uid", pl.col("diagnosis_codes").alias("dx")).explode("dx")
    dx_hit = claim_dx.join(t.option_dx, on="dx").select("uid", "opt").unique()
    dx_excluded = claim_dx.join(t.option_dx_exclusions, on="dx").select("uid", "opt").unique()
    addl_hit = (
        lines.select("uid", "code")
        .join(t.option_additional, on="code")
        .group_by("uid", "opt")
        .agg(pl.col("code").n_unique().alias("n"))
        .join(
            t.option_additional.group_by("opt").agg(pl.col("code").n_unique().alias("need")),
            on="opt",
        )
        .filter(pl.col("n") == pl.col("need"))
        .select("uid", "opt")
    )
    cand = cand.join(dx_excluded, on=["uid", "opt"], how="anti")
    with_dx = cand.join(dx_hit, on=["uid", "opt"], how="semi")
    cand = pl.concat([cand.filter(~pl.col("needs_dx")), with_dx.filter(pl.col("needs_dx"))])
    with_addl = cand.join(addl_hit, on=["uid", "opt"], how="semi")
    cand = pl.concat(
        [cand.filter(~pl.col("needs_additional")), with_addl.filter(pl.col("needs_additional"))]
    )
    eligible = cand.select("uid", "opt", "measure_id", "option_group", "stratum")
    lines_ok = qual.join(eligible.select("uid", "opt", "measure_id", "stratum"), on=["uid", "opt"])
    groups = eligible.select("uid", "measure_id", "option_group", "stratum").unique()
    return groups, lines_ok.select(
        "uid", "measure_id", "stratum", "claim_seq", "line_number"
    ).unique()
