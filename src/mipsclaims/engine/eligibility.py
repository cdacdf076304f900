"""Denominator eligibility per option (measure-logic.md sections 2, 3 and 5).

A split claim meets an option when it has a qualifying line (code, no excluded modifier,
place of service not excluded), the age and sex hold, a header diagnosis is listed (when the
option lists any) and none is excluded, and every additional procedure code is on the claim.

A year has a few dozen options, so a set of options is one ``Int64`` bit mask (option
``opt`` is bit ``opt``): each test gives a mask per line or per claim, a claim's masks are
combined with bitwise operations, and only the eligible masks are expanded into rows, once
per distinct mask. No join or grouping runs on (claim, option) pairs.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

from .codes import FLU_SEASON_MONTHS, CodeTables, code_ids, mod_mask, tables

K = TypeVar("K", bound=Hashable)

_I64 = pl.Int64()
_S = pl.String()
#: Options and exclusion rules are bits of an Int64.
MAX_BITS = 63


def option_bit(opt: str = "opt") -> pl.Expr:
    """The bit of an option index (``1 << opt``) as an Int64."""
    return pl.lit(2, dtype=_I64).pow(pl.col(opt)).cast(_I64)


def age_months(birth: pl.Expr, on: pl.Expr) -> pl.Expr:
    """Whole months from ``birth`` to ``on`` with dateutil ``relativedelta`` semantics.

    The month anniversary falls on the birth day, clipped to the last day of a shorter month
    (so a Feb 29 birthday turns over on Feb 28 in a non-leap year).
    """
    months = (on.dt.year() - birth.dt.year()).cast(pl.Int32) * 12 + (
        on.dt.month().cast(pl.Int32) - birth.dt.month().cast(pl.Int32)
    )
    anniversary_day = pl.min_horizontal(birth.dt.day(), on.dt.days_in_month())
    before = (on.dt.day() < anniversary_day).cast(pl.Int32)
    return months - before


@dataclass(frozen=True)
class OptionMasks:
    """One year's options as bit masks, and what maps codes and diagnoses to them (codes
    and diagnoses as the year's code ids, :func:`.codes.code_ids`; modifiers as its
    modifier bits)."""

    procedures: pl.DataFrame  # code, rule_bit, mask: a code's options under one rule
    mod_fails: tuple[tuple[int, int], ...]  # (modifier mask, rule bit): rules excluding any
    pos_fails: pl.DataFrame  # pos, fails: bits of the rules that exclude the place
    dx: pl.DataFrame  # dx, mask: options listing the diagnosis
    dx_excluded: pl.DataFrame  # dx, mask: options excluding the diagnosis
    additional: pl.DataFrame  # code, bit, need: additional codes of an option
    options: pl.DataFrame  # bit, mkey: the measure-stratum of each option
    #: (min_months, max_years, sex, flu_season_only, mask): options sharing one criterion
    demographics: tuple[tuple[int | None, int | None, str | None, bool, int], ...]
    needs_dx: int  # options that list diagnoses
    needs_additional: int  # options that list additional procedure codes
    per_line: int  # options of visit measures (counted per line)
    year: int
    #: By code id: the options of a code on a line that fails no rule (most lines).
    unexcluded: pl.Series


def _or_by(pairs: Iterable[tuple[K, int]]) -> dict[K, int]:
    acc: dict[K, int] = defaultdict(int)
    for key, bits in pairs:
        if key is not None:
            acc[key] |= bits
    return acc


def _mask_frame(
    pairs: Iterable[tuple[Hashable, int]], key: str, value: str, dtype: pl.DataType = _S
) -> pl.DataFrame:
    """(key, value): the bits OR-ed per key (tables of one year; built once)."""
    acc = _or_by(pairs)
    return pl.DataFrame(
        {key: list(acc), value: list(acc.values())}, schema={key: dtype, value: _I64}
    )


@functools.cache
def option_masks(year: int) -> OptionMasks:
    """The option masks of ``year`` (cached; from :func:`codes.tables`)."""
    t = tables(year)
    if t.options.height > MAX_BITS or t.exclusion_rules.height > MAX_BITS:
        raise ValueError(f"{year}: more than {MAX_BITS} options or rules do not fit a mask")
    ids = code_ids(year)
    procs = _or_by(
        ((r["code"], r["rule"]), 1 << r["opt"]) for r in t.option_procedures.iter_rows(named=True)
    )
    rules = list(t.exclusion_rules.iter_rows(named=True))
    options = list(t.options.iter_rows(named=True))
    criteria = _or_by(
        ((o["min_months"], o["max_years"], o["sex"], o["flu_season_only"]), 1 << o["opt"])
        for o in options
    )
    need = t.option_additional.group_by("opt").agg(pl.col("code").n_unique().alias("need"))
    addl = t.option_additional.join(need, on="opt").select("opt", "code", "need")
    return OptionMasks(
        procedures=pl.DataFrame(
            {
                "code": [code for code, _ in procs],
                "rule_bit": [1 << rule for _, rule in procs],
                "mask": list(procs.values()),
            },
            schema={"code": ids.enum, "rule_bit": _I64, "mask": _I64},
        ),
        mod_fails=tuple(
            (mod_mask(r["mod_excl"], ids.mod_bits), 1 << r["rule"]) for r in rules if r["mod_excl"]
        ),
        pos_fails=_mask_frame(
            ((p, 1 << r["rule"]) for r in rules for p in r["pos_excl"]), "pos", "fails"
        ),
        dx=_mask_frame(((d, 1 << o) for o, d in t.option_dx.iter_rows()), "dx", "mask", ids.enum),
        dx_excluded=_mask_frame(
            ((d, 1 << o) for o, d in t.option_dx_exclusions.iter_rows()), "dx", "mask", ids.enum
        ),
        additional=pl.DataFrame(
            [(code, 1 << opt, n) for opt, code, n in addl.iter_rows()],
            schema={"code": ids.enum, "bit": _I64, "need": pl.UInt32()},
            orient="row",
        ),
        options=t.options.join(t.mkeys, on=["measure_id", "stratum"]).select(
            option_bit().alias("bit"),
            "mkey",
        ),
        demographics=tuple((*k, m) for k, m in criteria.items()),
        needs_dx=sum(1 << o["opt"] for o in options if o["needs_dx"]),
        needs_additional=sum(1 << o["opt"] for o in options if o["needs_additional"]),
        per_line=sum(1 << o["opt"] for o in options if o["per_line"]),
        year=year,
        unexcluded=_by_code_id(((c, m) for (c, _), m in procs.items()), ids.enum),
    )


def _by_code_id(pairs: Iterable[tuple[str, int]], enum: pl.Enum) -> pl.Series:
    """The bits OR-ed per code, as an Int64 series indexed by code id (0: none)."""
    acc = _or_by(pairs)
    return pl.Series([acc.get(code, 0) for code in enum.categories], dtype=_I64)


def line_masks(lines: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """(uid, claim_seq, line_number, mask): the options each denominator line qualifies for.

    A line fails an exclusion rule when one of its modifiers (a bit of its ``mods``) or its
    place of service is listed by it; its options are those of its code under every rule
    it does not fail: for a line failing none (most), every option of its code, looked up
    by code id; for the others, resolved once per distinct (code id, failed rules).
    """
    mods = pl.col("mods")
    fails = (
        pl.col("pos")
        .replace_strict(m.pos_fails["pos"], m.pos_fails["fails"], default=0, return_dtype=_I64)
        .fill_null(0)
    )
    for listed, rule_bit in m.mod_fails:
        fails = fails | pl.when((mods & listed) != 0).then(pl.lit(rule_bit, _I64)).otherwise(0)
    is_denominator = code_ids(m.year).is_denominator.gather(lines["code"].to_physical())
    den = lines.filter(is_denominator).select(
        "uid", "claim_seq", "line_number", "code", fails.alias("fails")
    )
    # A line failing no rule has every option of its code: a gather by code id.
    clean = pl.col("fails") == 0
    plain = den.filter(clean)
    plain = plain.select(
        "uid",
        "claim_seq",
        "line_number",
        m.unexcluded.gather(plain["code"].to_physical()).alias("mask"),
    )
    failing = den.filter(~clean)
    resolved = (
        failing.select("code", "fails")
        .unique()
        .join(m.procedures, on="code")
        .filter((pl.col("fails") & pl.col("rule_bit")) == 0)
        .group_by("code", "fails")
        .agg(pl.col("mask").bitwise_or())
    )
    excluded = failing.join(resolved, on=["code", "fails"]).select(
        "uid", "claim_seq", "line_number", "mask"
    )
    return pl.concat([plain, excluded])


def _demographics(claims: pl.DataFrame, m: OptionMasks, which: np.ndarray) -> np.ndarray:
    """By uid: the options whose age, sex and flu-season criteria a claim meets, for the
    claims ``which`` (a boolean array by uid; others get 0).

    Age, sex and season are computed once per claim, then tested per distinct criterion.
    """
    out = np.zeros(claims.height, dtype=np.int64)
    facts = claims.filter(pl.Series(which)).select(
        "uid",
        age_months(pl.col("birth_date"), pl.col("claim_date")).alias("age"),
        pl.col("sex").str.strip_chars().str.to_uppercase().alias("sex"),
        pl.col("claim_date").dt.month().is_in(sorted(FLU_SEASON_MONTHS)).alias("in_season"),
    )
    age = pl.col("age")
    terms = []
    for min_months, max_years, sex, flu_only, bits in m.demographics:
        ok = pl.lit(True)
        if min_months is not None:
            ok = ok & (age >= min_months)
        if max_years is not None:
            ok = ok & ((age // 12) <= max_years)
        if sex is not None:
            ok = ok & (pl.col("sex") == sex)
        if flu_only:
            ok = ok & pl.col("in_season")
        terms.append(pl.when(ok.fill_null(False)).then(pl.lit(bits, dtype=_I64)).otherwise(0))
    # Each option is in one criterion: the masks are disjoint and add up.
    demo = pl.sum_horizontal(terms) if terms else pl.lit(0, dtype=_I64)
    demos = facts.select("uid", demo.alias("demo"))
    out[demos["uid"].to_numpy()] = demos["demo"].to_numpy()
    return out


def _or_by_uid(frame: pl.DataFrame, value: str, n: int) -> np.ndarray:
    """The ``value`` bits of ``frame`` OR-ed per ``uid``, as an array indexed by uid (uids
    are dense, 0 .. n-1): a scatter, not a group-by."""
    out = np.zeros(n, dtype=np.int64)
    np.bitwise_or.at(out, frame["uid"].to_numpy(), frame[value].to_numpy())
    return out


def _additional_mask(lines: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """(uid, bit): the options all of whose additional procedure codes are on the claim."""
    return (
        lines.select("uid", "code")
        .join(m.additional, on="code")
        .group_by("uid", "bit")
        .agg(pl.col("code").n_unique().alias("n"), pl.col("need").first())
        .filter(pl.col("n") == pl.col("need"))
    )


def _expand(frame: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """``frame`` with ``mask`` replaced by one row per measure-stratum (``mkey``) of its
    options, resolved once per distinct mask."""
    per_mask = (
        frame.select("mask")
        .unique()
        .join(m.options, how="cross")
        .filter((pl.col("mask") & pl.col("bit")) != 0)
        .select("mask", "mkey")
        .unique()
    )
    # In the order of ``frame``, then of mkey: (uid, mkey) order for a frame in uid order.
    return frame.join(per_mask.sort("mask", "mkey"), on="mask", maintain_order="left_right").drop(
        "mask"
    )


@dataclass(frozen=True)
class Eligibility:
    """The eligible options of a batch's split claims."""

    masks: pl.DataFrame  # uid, mask: eligible options of each claim with any
    groups: pl.DataFrame  # uid, mkey: eligible measure-strata
    visit_lines: pl.DataFrame  # uid, mkey, claim_seq, line_number: qualifying visit lines


def eligible_options(
    claims: pl.DataFrame, lines: pl.DataFrame, claim_dx: pl.DataFrame, t: CodeTables
) -> Eligibility:
    """Eligible options and measure-strata of each claim (with its diagnoses ``claim_dx``:
    uid, dx), and the qualifying lines of visit measures (counted per line).

    ``claims`` are a batch's candidates, whose uids are dense (0 .. n-1) and in order: each
    test's masks are OR-ed into one array indexed by uid, and combined element-wise.
    """
    m = option_masks(t.year)
    n = claims.height
    qual = line_masks(lines, m)
    on_lines = _or_by_uid(qual, "mask", n)
    demo = _demographics(claims, m, on_lines != 0)  # only claims with a qualifying line
    dx = _or_by_uid(claim_dx.join(m.dx, on="dx"), "mask", n)
    excluded = _or_by_uid(claim_dx.join(m.dx_excluded, on="dx"), "mask", n)
    addl = _or_by_uid(_additional_mask(lines, m), "bit", n)
    met = on_lines & demo & (dx | ~m.needs_dx) & (addl | ~m.needs_additional) & ~excluded
    eligible = np.flatnonzero(met)
    masks = pl.DataFrame(
        {"uid": eligible, "mask": met[eligible]}, schema={"uid": _I64, "mask": _I64}
    )
    per_line = pl.Series(met & m.per_line).gather(qual["uid"])
    visit = qual.select(
        "uid", "claim_seq", "line_number", (pl.col("mask") & per_line).alias("mask")
    ).filter(pl.col("mask") != 0)
    return Eligibility(
        masks=masks,
        groups=_expand(masks, m),
        visit_lines=_expand(visit, m).select("uid", "mkey", "claim_seq", "line_number").unique(),
    )
