"""The engine's phase-1 reduction as it was before issue 17 item 3 (string joins and
group-bys on code texts), kept as the reference the integer-coded reduction must equal.

A frozen copy for tests only (``test_engine_reduce.py``): only the per-year code tables
(``codes.tables``) and the output schema come from the engine.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from mipsclaims.engine.codes import FLU_SEASON_MONTHS, CodeTables, marker_rank, tables
from mipsclaims.engine.findings import FACT_SCHEMA, MAX_QDC_CHARGE
from mipsclaims.schema import PERFORMANCE_MODIFIERS


@dataclass(frozen=True)
class BatchScope:
    """Phase 1 of scope on a batch of whole claims: what the rest of the year needs of it.

    ``keys`` (one row per input claim) is all that replacement and void resolution read;
    ``splits`` carries the late reasons of split claims, for the scope counts;
    ``claims`` and ``lines`` are the candidate split claims (no claim-local reason to leave
    them out) with a batch-local ``uid`` in (``claim_seq``, NPI) order.
    """

    keys: pl.DataFrame  # claim_seq, tin, claim_id, action (7/8), own (reason), n_lines
    splits: pl.DataFrame  # claim_seq, reason, n_lines: late reasons of claims without own
    claims: pl.DataFrame  # one row per candidate split claim (uid)
    lines: pl.DataFrame  # one row per service line of a candidate split claim
    claim_dx: pl.DataFrame  # uid, dx: the header diagnoses of a candidate split claim


#: Reasons a claim has on its own, and the action a claim takes on earlier ones.
_OWN = pl.Enum(["void_request", "not_part_b"])
_ACTION = pl.Enum(["7", "8"])


def _check_input(lines: pl.DataFrame) -> None:
    missing = lines.select(pl.col("claim_seq").is_null().arg_true().first()).item()
    if missing is not None:
        raise ValueError(
            f"claim-line row {missing} (source {lines['source'][missing]!r}) has no claim_seq; "
            "every line needs the position of its claim in the input"
        )


def _own_reason() -> pl.Expr:
    """Early reasons a claim has on its own (a later claim can only add replaced/voided)."""
    return (
        pl.when(pl.col("frequency") == "8")
        .then(pl.lit("void_request"))
        .when(pl.col("filing_indicator").fill_null("") != "MB")
        .then(pl.lit("not_part_b"))
    )


def _late_reason(year: int) -> pl.Expr:
    """Why a split claim is left out after the split (section 9), or null."""
    return (
        pl.when(
            pl.col("rendering_npi").is_null() | (pl.col("rendering_npi").str.strip_chars() == "")
        )
        .then(pl.lit("no_rendering_npi"))
        .when(pl.col("tin").is_null() | (pl.col("tin") == ""))
        .then(pl.lit("no_tin"))
        .when(pl.col("patient_id").is_null() | (pl.col("patient_id") == ""))
        .then(pl.lit("no_patient_id"))
        .when(pl.col("claim_date").is_null())
        .then(pl.lit("no_service_date"))
        .when(pl.col("claim_date").dt.year() != year)
        .then(pl.lit("other_year"))
    )


def split_batch(lines: pl.DataFrame, year: int) -> BatchScope:
    """Phase 1: split a batch of whole claims by rendering NPI and keep the candidates.

    A claim that is a void request, not Part B, or whose split is left out for a reason of
    its own is no candidate whatever later claims say; whether a candidate is replaced or
    voided is only known once every claim has been seen (:func:`superseded`).
    """
    _check_input(lines)
    # One pass over the lines: per split claim, then per input claim from the splits.
    split = (
        lines.group_by("claim_seq", "rendering_npi")
        .agg(
            pl.col("claim_id").first(),
            pl.col("source").first(),
            pl.col("tin").first(),
            pl.col("patient_id").first(),
            pl.col("birth_date").first(),
            pl.col("sex").first(),
            pl.col("diagnosis_codes").first(),
            pl.col("frequency").first().str.strip_chars(),
            pl.col("filing_indicator").first().str.strip_chars().str.to_uppercase(),
            pl.col("service_date").min().alias("claim_date"),
            pl.len().alias("n_lines"),
        )
        .with_columns(_own_reason().cast(_OWN).alias("own"), _late_reason(year).alias("reason"))
    )
    keys = split.group_by("claim_seq").agg(
        pl.col("tin").first(),
        pl.col("claim_id").first(),
        pl.col("frequency").first().cast(_ACTION, strict=False).alias("action"),
        pl.col("own").first(),
        pl.col("n_lines").sum(),
    )
    own = pl.col("own").is_null()
    # Only the late reasons of claims without one of their own can count (section 9).
    splits = split.filter(pl.col("reason").is_not_null() & own).select(
        "claim_seq", "reason", "n_lines"
    )
    claims = (
        split.filter(pl.col("reason").is_null() & own)
        .drop("reason", "own", "frequency", "filing_indicator")
        .sort("claim_seq", "rendering_npi")
        .with_row_index("uid")
        .with_columns(pl.col("uid").cast(pl.Int64))
        .rename({"rendering_npi": "npi"})
    )
    # Only what eligibility, markers and findings read; claim fields come from ``claims``.
    in_lines = (
        lines.lazy()
        .select(
            "claim_seq",
            "rendering_npi",
            "line_number",
            pl.col("procedure_code").str.strip_chars().str.to_uppercase().alias("code"),
            pl.col("modifiers").fill_null([]),
            pl.coalesce(
                pl.col("line_pos").replace("", None), pl.col("claim_pos").replace("", None)
            ).alias("pos"),
            "charge",
            "service_date",
        )
        .join(
            claims.lazy().select("uid", "claim_seq", pl.col("npi").alias("rendering_npi")),
            on=["claim_seq", "rendering_npi"],
            how="inner",
        )
        .drop("rendering_npi")
        .collect()
    )
    # Readers normalise ICD-10 already; a frame built by hand may not (section 2).
    claim_dx = (
        claims.select("uid", pl.col("diagnosis_codes").alias("dx"))
        .explode("dx")
        .with_columns(pl.col("dx").str.replace_all(r"[.\s]", "").str.to_uppercase())
    )
    return BatchScope(
        keys=keys,
        splits=splits,
        claims=claims.drop("diagnosis_codes"),
        lines=in_lines,
        claim_dx=claim_dx,
    )


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
    """One year's options as bit masks, and what maps codes and diagnoses to them."""

    procedures: pl.DataFrame  # code, rule_bit, mask: a code's options under one rule
    mod_fails: pl.DataFrame  # mod, fails: bits of the rules that exclude the modifier
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


def _or_by(pairs: Iterable[tuple[K, int]]) -> dict[K, int]:
    acc: dict[K, int] = defaultdict(int)
    for key, bits in pairs:
        if key is not None:
            acc[key] |= bits
    return acc


def _mask_frame(pairs: Iterable[tuple[Hashable, int]], key: str, value: str) -> pl.DataFrame:
    """(key, value): the bits OR-ed per key (tables of one year; built once)."""
    acc = _or_by(pairs)
    return pl.DataFrame({key: list(acc), value: list(acc.values())}, schema={key: _S, value: _I64})


@functools.cache
def option_masks(year: int) -> OptionMasks:
    """The option masks of ``year`` (cached; from :func:`codes.tables`)."""
    t = tables(year)
    if t.options.height > MAX_BITS or t.exclusion_rules.height > MAX_BITS:
        raise ValueError(f"{year}: more than {MAX_BITS} options or rules do not fit a mask")
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
            schema={"code": _S, "rule_bit": _I64, "mask": _I64},
        ),
        mod_fails=_mask_frame(
            ((m, 1 << r["rule"]) for r in rules for m in r["mod_excl"]), "mod", "fails"
        ),
        pos_fails=_mask_frame(
            ((p, 1 << r["rule"]) for r in rules for p in r["pos_excl"]), "pos", "fails"
        ),
        dx=_mask_frame(((d, 1 << o) for o, d in t.option_dx.iter_rows()), "dx", "mask"),
        dx_excluded=_mask_frame(
            ((d, 1 << o) for o, d in t.option_dx_exclusions.iter_rows()), "dx", "mask"
        ),
        additional=pl.DataFrame(
            [(code, 1 << opt, n) for opt, code, n in addl.iter_rows()],
            schema={"code": _S, "bit": _I64, "need": pl.UInt32()},
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
    )


def line_masks(lines: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """(uid, claim_seq, line_number, mask): the options each denominator line qualifies for.

    A line fails an exclusion rule when one of its modifiers or its place of service is
    listed by it; its options are those of its code under every rule it does not fail.
    Modifiers are looked at on the few lines that carry any, and options are resolved once
    per distinct (code, failed rules).
    """
    den = (
        lines.select("uid", "claim_seq", "line_number", "code", "modifiers", "pos")
        .join(m.procedures.select("code").unique(), on="code", how="semi")
        .with_row_index("row")
    )
    mod_fails = (
        den.filter(pl.col("modifiers").list.len() > 0)
        .select("row", pl.col("modifiers").alias("mod"))
        .explode("mod")
        .join(m.mod_fails, on="mod")
        .group_by("row")
        .agg(pl.col("fails").bitwise_or().alias("mod_fails"))
    )
    den = (
        den.join(m.pos_fails, on="pos", how="left")
        .join(mod_fails, on="row", how="left")
        .select(
            "uid",
            "claim_seq",
            "line_number",
            "code",
            (pl.col("fails").fill_null(0) | pl.col("mod_fails").fill_null(0)).alias("fails"),
        )
    )
    resolved = (
        den.select("code", "fails")
        .unique()
        .join(m.procedures, on="code")
        .filter((pl.col("fails") & pl.col("rule_bit")) == 0)
        .group_by("code", "fails")
        .agg(pl.col("mask").bitwise_or())
    )
    return den.join(resolved, on=["code", "fails"]).select(
        "uid", "claim_seq", "line_number", "mask"
    )


def _demographics(claims: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """(uid, demo): the options whose age, sex and flu-season criteria a claim meets.

    Age, sex and season are computed once per claim, then tested per distinct criterion.
    """
    facts = claims.select(
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
    return facts.select("uid", demo.alias("demo"))


def _claim_mask(claim_dx: pl.DataFrame, table: pl.DataFrame, name: str) -> pl.DataFrame:
    """(uid, name): the options listing one of a claim's diagnoses in ``table``."""
    return (
        claim_dx.join(table, on="dx").group_by("uid").agg(pl.col("mask").bitwise_or().alias(name))
    )


def _additional_mask(lines: pl.DataFrame, m: OptionMasks) -> pl.DataFrame:
    """(uid, addl): the options all of whose additional procedure codes are on the claim."""
    return (
        lines.select("uid", "code")
        .join(m.additional, on="code")
        .group_by("uid", "bit")
        .agg(pl.col("code").n_unique().alias("n"), pl.col("need").first())
        .filter(pl.col("n") == pl.col("need"))
        .group_by("uid")
        .agg(pl.col("bit").sum().alias("addl"))
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
    return frame.join(per_mask, on="mask").drop("mask")


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
    uid, dx), and the qualifying lines of visit measures (counted per line)."""
    m = option_masks(t.year)
    qual = line_masks(lines, m)
    eligible = (
        qual.group_by("uid")
        .agg(pl.col("mask").bitwise_or())
        .join(_demographics(claims, m), on="uid")
        .join(_claim_mask(claim_dx, m.dx, "dx"), on="uid", how="left")
        .join(_claim_mask(claim_dx, m.dx_excluded, "excluded"), on="uid", how="left")
        .join(_additional_mask(lines, m), on="uid", how="left")
    )
    no_dx_needed, no_addl_needed = ~m.needs_dx, ~m.needs_additional
    met = (
        pl.col("mask")
        & pl.col("demo")
        & (pl.col("dx").fill_null(0) | no_dx_needed)
        & (pl.col("addl").fill_null(0) | no_addl_needed)
    )
    excluded = pl.col("excluded").fill_null(0)
    masks = eligible.select("uid", (met & ~excluded).alias("mask")).filter(pl.col("mask") != 0)
    visit = (
        qual.join(masks.rename({"mask": "eligible"}), on="uid")
        .select(
            "uid",
            "claim_seq",
            "line_number",
            (pl.col("mask") & pl.col("eligible") & m.per_line).alias("mask"),
        )
        .filter(pl.col("mask") != 0)
    )
    return Eligibility(
        masks=masks,
        groups=_expand(masks, m),
        visit_lines=_expand(visit, m).select("uid", "mkey", "claim_seq", "line_number").unique(),
    )


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


@functools.cache
def performance_options(year: int) -> pl.DataFrame:
    """pidx, mkey, bits (eligibility options of its measure and option group), marker,
    rank, n_codes: one row per performance option of ``year`` (cached)."""
    t = tables(year)
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


def matching_qdcs(lines: pl.DataFrame, claim_dx: pl.DataFrame, t: CodeTables) -> pl.DataFrame:
    """Quality codes matched by a line (or, for ICD-10 quality codes, a header diagnosis).

    Lines without modifiers (most) match the quality codes that list none, as themselves;
    only lines with modifiers need the list tests.
    """
    line_codes = t.performance_codes.filter(~pl.col("on_dx"))
    joined = lines.select("uid", "code", "modifiers").join(line_codes, on="code", how="inner")
    bare = pl.col("modifiers").list.len() == 0
    plain = joined.filter(bare & (pl.col("mods").list.len() == 0)).select(
        "uid", "pidx", "code", pl.col("code").alias("label")
    )
    modded = joined.filter(~bare)
    hits_listed = pl.col("modifiers").list.set_intersection(pl.col("mods")).list.len() > 0
    no_perf_mod = pl.col("modifiers").list.set_intersection(pl.lit(_PERF_MODS)).list.len() == 0
    ok = pl.when(pl.col("mods").list.len() > 0).then(hits_listed).otherwise(no_perf_mod)
    on_lines = modded.filter(ok).select("uid", "pidx", "code", qdc_label().alias("label"))
    on_dx = claim_dx.join(
        t.performance_codes.filter(pl.col("on_dx")), left_on="dx", right_on="code"
    ).select("uid", "pidx", pl.col("dx").alias("code"), pl.col("dx").alias("label"))
    return pl.concat([plain, on_lines, on_dx])


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
    eligible measure-strata.
    """
    hits = (
        matching_qdcs(lines, claim_dx, t)
        .join(performance_options(t.year), on="pidx")
        .join(masks, on="uid")
        .filter((pl.col("mask") & pl.col("bits")) != 0)
    )
    key = ["uid", "mkey"]
    # Sorted once as a column, then gathered into lists (sorting inside groups is slower).
    found = (
        hits.select(*key, "label")
        .unique()
        .sort(*key, "label")
        .group_by(key, maintain_order=True)
        .agg(pl.col("label").alias("qdc_codes"))
    )
    matched = (
        hits.group_by(*key, "pidx")
        .agg(
            pl.col("code").n_unique().alias("n"),
            pl.col("n_codes").first(),
            pl.col("marker").first(),
            pl.col("rank").first(),
        )
        .filter(pl.col("n") == pl.col("n_codes"))
    )
    per_claim = matched.group_by(key).agg(
        pl.col("rank").max(), (pl.col("marker").n_unique() > 1).alias("conflicting")
    )
    # Conflicts are rare: their meanings and codes are listed for those claims only.
    conflicted = matched.join(per_claim.filter(pl.col("conflicting")), on=key, how="semi")
    conflicts = (
        hits.join(conflicted, on=[*key, "pidx"], how="semi")
        .group_by(key)
        .agg(
            pl.col("label").unique().sort().alias("conflicting_codes"),
            pl.col("marker").unique().sort().alias("conflicting_meanings"),
        )
    )
    # Every matched (uid, mkey) has a hit, so ``found`` has all keys of ``per_claim``.
    details = (
        found.join(per_claim, on=key, how="left")
        .join(conflicts, on=key, how="left")
        .select(
            *key,
            "qdc_codes",
            pl.col("rank").fill_null(0).cast(pl.Int8),
            pl.col("conflicting").fill_null(False),
            "conflicting_codes",
            "conflicting_meanings",
        )
    )
    # In uid order, as phase 2 reads them (cheaper sorted here, a batch at a time).
    ranks = (
        groups.join(details.select(*key, "rank"), on=key, how="left")
        .with_columns(pl.col("rank").fill_null(0))
        .sort(key)
    )
    return Markers(ranks=ranks, details=details.drop("rank"))


@functools.cache
def qdc_measures(year: int) -> pl.DataFrame:
    """code, measures (sorted ids), bits (eligibility options of those measures): per
    quality code of ``year``, the measures using it (cached)."""
    t = tables(year)
    bits = t.options.group_by("measure_id").agg(option_bit().sum().alias("bits"))
    return (
        t.performance_codes.join(t.performance, on="pidx")
        .select("code", "measure_id")
        .unique()
        .join(bits, on="measure_id", how="left")
        .group_by("code")
        .agg(
            pl.col("measure_id").sort().alias("measures"),
            pl.col("bits").fill_null(0).sum(),
        )
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
        code.alias("code"),
        (detail if detail is not None else pl.lit(None, dtype=pl.String)).alias("detail"),
        (charge if charge is not None else pl.lit(None, dtype=pl.Float64)).alias("charge"),
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
    # Only quality-code lines can raise a finding; claim fields are added when read.
    lines = lines.filter(pl.col("code").is_in(list(t.qdc_codes | t.other_year_qdc_codes)))
    parts: list[pl.DataFrame] = []
    conflicts = (
        markers.filter(pl.col("conflicting"))
        .join(t.mkeys.select("mkey", "measure_id"), on="mkey")
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
    parts.append(
        _finding(
            conflicts,
            "conflicting_qdc",
            measure_id=pl.col("measure_id"),
            code=pl.col("conflicting_codes").list.join(", "),
            detail=pl.lit("QDCs on one claim set different outcomes (")
            + pl.col("conflicting_meanings").list.join(", ")
            + "); the most advantageous counts",
        )
    )
    qdc_lines = lines.filter(pl.col("code").is_in(list(t.qdc_codes)))
    used = qdc_lines.select("uid", "line_number", "code").join(qdc_measures(t.year), on="code")
    useful = (
        used.join(masks, on="uid")
        .filter((pl.col("mask") & pl.col("bits")) != 0)
        .select("uid", "line_number")
    )
    wasted = (
        used.join(useful, on=["uid", "line_number"], how="anti")
        .select("uid", "line_number", "code", "measures")
        .unique(subset=["uid", "line_number", "code"])
        .filter(~pl.col("code").is_in(list(t.denominator_codes)))
        .join(qdc_lines.select("uid", "line_number", "service_date"), on=["uid", "line_number"])
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
    not_denominator = ~pl.col("code").is_in(list(t.denominator_codes))
    wrong_year = lines.filter(pl.col("code").is_in(list(t.other_year_qdc_codes)) & not_denominator)
    parts.append(
        _finding(
            wrong_year,
            "wrong_year_qdc",
            code=pl.col("code"),
            detail=pl.lit(f"quality code of another performance year, not a QDC in {t.year}"),
        )
    )
    charged = qdc_lines.filter(not_denominator & (pl.col("charge") > MAX_QDC_CHARGE))
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


def reduce_reference(lines: pl.DataFrame, year: int, t: CodeTables):
    """``pipeline._reduce`` with the reference steps."""
    from mipsclaims.engine import pipeline

    batch = split_batch(lines, year)
    eligible = eligible_options(batch.claims, batch.lines, batch.claim_dx, t)
    markers = claim_markers(batch.lines, batch.claim_dx, eligible.masks, eligible.groups, t)
    findings = find(batch.claims, batch.lines, eligible.masks, markers.details, t)
    return pipeline._facts(batch, eligible, markers, findings, t)
