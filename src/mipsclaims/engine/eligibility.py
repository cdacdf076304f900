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
    """(uid, opt, claim_seq, line_number) of each line whose code qualifies for an option.

    Only lines with a denominator code are looked at. Modifier and place-of-service
    exclusions are few distinct rules: a line fails a rule when one of its modifiers or its
    place of service is listed by it (integer joins, no per-line strings), and qualifies for
    every option of its code whose rule it does not fail.
    """
    den = lines.join(t.option_procedures.select("code").unique(), on="code", how="semi")
    den = den.with_row_index("row")
    rule_mods = t.exclusion_rules.select("rule", pl.col("mod_excl").alias("mod")).explode("mod")
    rule_pos = t.exclusion_rules.select("rule", pl.col("pos_excl").alias("pos")).explode("pos")
    fails = pl.concat(
        [
            den.filter(pl.col("modifiers").list.len() > 0)
            .select("row", pl.col("modifiers").alias("mod"))
            .explode("mod")
            .join(rule_mods.drop_nulls(), on="mod")
            .select("row", "rule"),
            den.select("row", "pos").join(rule_pos.drop_nulls(), on="pos").select("row", "rule"),
        ]
    )
    return (
        den.select("row", "uid", "claim_seq", "line_number", "code")
        .join(t.option_procedures.select("code", "opt", "rule"), on="code")
        .join(fails, on=["row", "rule"], how="anti")
        .select("uid", "opt", "claim_seq", "line_number")
    )


def eligible_options(
    claims: pl.DataFrame, lines: pl.DataFrame, t: CodeTables
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Eligible (uid, measure_id, option_group, stratum) rows, and the qualifying lines of
    visit measures (counted per line)."""
    qual = qualifying_lines(lines, t).lazy()
    # Claim-level facts once per claim, not once per candidate option.
    people = claims.lazy().select(
        "uid",
        age_months(pl.col("birth_date"), pl.col("claim_date")).alias("age_months"),
        pl.col("sex").str.strip_chars().str.to_uppercase().alias("patient_sex"),
        pl.col("claim_date").dt.month().is_in(list(FLU_SEASON_MONTHS)).alias("in_flu_season"),
    )
    age = pl.col("age_months")
    age_ok = (pl.col("min_months").is_null() | (age >= pl.col("min_months"))) & (
        pl.col("max_years").is_null() | ((age // 12) <= pl.col("max_years"))
    )
    sex_ok = pl.col("sex").is_null() | (pl.col("patient_sex") == pl.col("sex"))
    season_ok = ~pl.col("flu_season_only") | pl.col("in_flu_season")
    cand = (
        qual.select("uid", "opt")
        .unique()
        .join(t.options.lazy(), on="opt")
        .join(people, on="uid")
        .filter(age_ok.fill_null(False) & sex_ok.fill_null(False) & season_ok)
    )
    claim_dx = claims.lazy().select("uid", pl.col("diagnosis_codes").alias("dx")).explode("dx")
    dx_hit = claim_dx.join(t.option_dx.lazy(), on="dx").select("uid", "opt").unique()
    dx_excluded = claim_dx.join(t.option_dx_exclusions.lazy(), on="dx").select("uid", "opt")
    addl_hit = (
        lines.lazy()
        .select("uid", "code")
        .join(t.option_additional.lazy(), on="code")
        .group_by("uid", "opt")
        .agg(pl.col("code").n_unique().alias("n"))
        .join(
            t.option_additional.lazy().group_by("opt").agg(pl.col("code").n_unique().alias("need")),
            on="opt",
        )
        .filter(pl.col("n") == pl.col("need"))
        .select("uid", "opt")
    )
    plain = cand.filter(~pl.col("needs_dx") & ~pl.col("needs_additional"))
    needs_dx = cand.filter(pl.col("needs_dx")).join(dx_hit, on=["uid", "opt"], how="semi")
    needs_addl = cand.filter(~pl.col("needs_dx") & pl.col("needs_additional"))
    both = needs_dx.filter(pl.col("needs_additional"))
    needs_dx = needs_dx.filter(~pl.col("needs_additional"))
    with_addl = pl.concat([needs_addl, both]).join(addl_hit, on=["uid", "opt"], how="semi")
    eligible = (
        pl.concat([plain, needs_dx, with_addl])
        .join(dx_excluded, on=["uid", "opt"], how="anti")
        .select("uid", "opt", "measure_id", "option_group", "stratum", "per_line")
    )
    eligible_df = eligible.collect()
    groups = eligible_df.select("uid", "measure_id", "option_group", "stratum").unique()
    per_line = eligible_df.filter(pl.col("per_line")).select("uid", "opt", "measure_id", "stratum")
    lines_ok = (
        qual.join(per_line.lazy(), on=["uid", "opt"])
        .select("uid", "measure_id", "stratum", "claim_seq", "line_number")
        .unique()
        .collect()
    )
    return groups, lines_ok
