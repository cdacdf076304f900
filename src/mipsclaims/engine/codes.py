"""Code tables built once per year from the specs: what the vectorised engine joins against.

Every list in the specs is exploded into a long polars table (one row per code), so that
eligibility and markers are plain joins. A stratum is the option group for multi-rate
measures and ``""`` (null in outputs) otherwise, so that it can be a join key.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import polars as pl

from .. import specs
from ..schema import PERFORMANCE_MODIFIERS
from ..specs.models import Measure, OptionType

#: The QDC outcome a performance option gives (measure-logic.md section 4).
OptionMarker = Literal["met", "not_met", "exclusion", "exception"]
#: The marker of an eligible instance or claim: an option's, or "none" (no QDC). The one
#: marker type: engine, ``check_claim`` and QDC choices all use it (or its options' part).
Marker = Literal[OptionMarker, "none"]

#: Marker names, and the spec option type each comes from (measure-logic.md section 4).
MARKER_OF_OPTION_TYPE: dict[OptionType, OptionMarker] = {
    "performanceMet": "met",
    "performanceNotMet": "not_met",
    "eligiblePopulationExclusion": "exclusion",
    "eligiblePopulationException": "exception",
}
MARKERS: tuple[Marker, ...] = get_args(Marker)

#: The rank table, the one place ranks are written: per direction (``is_inverse``) the
#: option markers from the most advantageous (rank 4) to the least (rank 1); "none" is
#: rank 0 (measure-logic.md section 4). The engine keeps ranks (integers) and names them
#: at the end: :func:`marker_rank` / :func:`marker_of_rank` in Python, :data:`RANKS` to join
#: and :func:`marker_expr` to name a rank column in polars all read this table.
RANK_ORDER: dict[bool, tuple[OptionMarker, ...]] = {
    False: ("met", "exclusion", "exception", "not_met"),
    True: ("not_met", "exception", "exclusion", "met"),
}
TOP_RANK = 4


def marker_rank(marker: Marker, is_inverse: bool) -> int:
    """Rank of a marker: higher is more advantageous; 0 is no marker."""
    order = RANK_ORDER[is_inverse]
    return TOP_RANK - order.index(marker) if marker in order else 0


def marker_of_rank(rank: int, is_inverse: bool) -> Marker:
    """The marker of a rank (0 and below: "none")."""
    return "none" if rank <= 0 else RANK_ORDER[is_inverse][TOP_RANK - rank]


#: (is_inverse, marker, rank) of every option marker: the rank table as a frame to join.
RANKS = pl.DataFrame(
    [
        {"is_inverse": inverse, "marker": marker, "rank": marker_rank(marker, inverse)}
        for inverse, order in RANK_ORDER.items()
        for marker in order
    ],
    schema={"is_inverse": pl.Boolean(), "marker": pl.String(), "rank": pl.Int8()},
)


def marker_expr(rank: pl.Expr, is_inverse: pl.Expr) -> pl.Expr:
    """The marker name of a rank column (0 or null: "none"), in each row's direction."""
    name: pl.Expr = pl.lit("none")
    for r in range(1, TOP_RANK + 1):
        of_rank = (
            pl.when(is_inverse)
            .then(pl.lit(marker_of_rank(r, True)))
            .otherwise(pl.lit(marker_of_rank(r, False)))
        )
        name = pl.when(rank == r).then(of_rank).otherwise(name)
    return name


def is_diagnosis_qdc(code: str) -> bool:
    """True for a quality code that is an ICD-10 code, not a 5-character CPT/HCPCS code.

    2023 lists some denominator exclusions of 039, 111 and 134 as ICD-10 codes (``M81.8``,
    ``30243Y4``) among the quality codes; they are matched against header diagnoses.
    """
    return "." in code or len(code) != 5


def qdc_code_key(code: str) -> str:
    """The form a quality code is compared in: ICD-10 codes without dots."""
    return code.replace(".", "") if is_diagnosis_qdc(code) else code


#: Flu-season months (measure-logic.md section 5, patient-periodic).
FLU_SEASON_MONTHS: frozenset[int] = frozenset({1, 2, 3, 10, 11, 12})


def stratum_of(measure: Measure, option_group: str) -> str:
    """Join-key stratum: the option group for multi-rate measures, else ``""``."""
    return option_group if measure.is_multi_rate else ""


def stratum_name(measure: Measure, stratum: str) -> str | None:
    """Name of a multi-rate stratum: strata in measures-data order map to sorted option groups."""
    if not stratum or not measure.is_multi_rate:
        return None
    groups = measure.option_groups
    index = groups.index(stratum) if stratum in groups else -1
    if 0 <= index < len(measure.strata):
        return measure.strata[index].name
    return None


@dataclass(frozen=True)
class CodeTables:
    """Long tables of one year's claims logic, keyed by a global option index ``opt``."""

    year: int
    measures: pl.DataFrame  # measure_id, calculation_type, is_inverse, is_multi_rate, title
    options: pl.DataFrame  # opt, measure_id, option_group, stratum, min_months, max_years, sex...
    option_dx: pl.DataFrame  # opt, dx
    option_dx_exclusions: pl.DataFrame  # opt, dx
    option_procedures: pl.DataFrame  # opt, code, mod_excl, pos_excl, rule
    exclusion_rules: pl.DataFrame  # rule, mod_excl, pos_excl (distinct exclusion pairs)
    option_additional: pl.DataFrame  # opt, code
    performance: pl.DataFrame  # pidx, measure_id, option_group, marker, n_codes
    performance_codes: pl.DataFrame  # pidx, code, cpos, mods, on_dx (matched on diagnoses)
    measure_dx: pl.DataFrame  # measure_id, dx (episode linking)
    strata: pl.DataFrame  # measure_id, stratum (every stratum a measure reports)
    mkeys: pl.DataFrame  # mkey, measure_id, stratum, calculation_type, is_inverse
    mkey_dx: pl.DataFrame  # mkey, dx (episode linking by measure-stratum key)
    qdc_codes: frozenset[str]  # every quality code of the year
    denominator_codes: frozenset[str]  # every denominator procedure code of the year
    other_year_qdc_codes: frozenset[str]  # quality codes of other years, not of this one


_S = pl.String()
_LS = pl.List(pl.String())


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _year_qdc_codes(year: int) -> frozenset[str]:
    spec = specs.load(year)
    return frozenset(
        q.code
        for m in spec.measures.values()
        for p in m.performance_options
        for q in p.quality_codes
        if not is_diagnosis_qdc(q.code)
    )


@functools.cache
def tables(year: int) -> CodeTables:
    """The code tables of ``year`` (cached; built from ``specs.load(year)``)."""
    spec = specs.load(year)
    measures, options, dx, dx_ex, procs, addl, perf, pcodes, mdx, strata = ([] for _ in range(10))
    opt = pidx = 0
    for m in spec.measures.values():
        measures.append(
            {
                "measure_id": m.measure_id,
                "calculation_type": m.calculation_type or "patient-process",
                "is_inverse": m.is_inverse,
                "is_multi_rate": m.is_multi_rate,
                "measure_title": m.title,
            }
        )
        for stratum in sorted({stratum_of(m, o.option_group) for o in m.eligibility_options}):
            strata.append({"measure_id": m.measure_id, "stratum": stratum})
        seen_dx: set[str] = set()
        for o in m.eligibility_options:
            options.append(
                {
                    "opt": opt,
                    "measure_id": m.measure_id,
                    "option_group": o.option_group,
                    "stratum": stratum_of(m, o.option_group),
                    "min_months": None if o.min_age is None else round(o.min_age * 12),
                    "max_years": None if o.max_age is None else int(o.max_age),
                    "sex": o.sex,
                    "needs_dx": bool(o.diagnosis_codes),
                    "needs_additional": bool(o.additional_procedure_codes),
                    "flu_season_only": m.calculation_type == "patient-periodic",
                    "per_line": m.calculation_type == "visit",
                }
            )
            dx += [{"opt": opt, "dx": c} for c in o.diagnosis_codes]
            dx_ex += [{"opt": opt, "dx": c} for c in o.diagnosis_exclusion_codes]
            procs += [
                {
                    "opt": opt,
                    "code": p.code,
                    "mod_excl": list(p.modifier_exclusions),
                    "pos_excl": list(p.place_of_service_exclusions),
                }
                for p in o.procedure_codes
            ]
            addl += [{"opt": opt, "code": c} for c in o.additional_procedure_codes]
            seen_dx.update(o.diagnosis_codes)
            opt += 1
        mdx += [{"measure_id": m.measure_id, "dx": c} for c in sorted(seen_dx)]
        for p in m.performance_options:
            perf.append(
                {
                    "pidx": pidx,
                    "measure_id": m.measure_id,
                    "option_group": p.option_group,
                    "marker": MARKER_OF_OPTION_TYPE[p.option_type],
                    "n_codes": len({q.code for q in p.quality_codes}),
                }
            )
            pcodes += [
                {
                    "pidx": pidx,
                    "code": qdc_code_key(q.code),
                    "cpos": i,
                    "mods": list(q.modifiers),
                    "on_dx": is_diagnosis_qdc(q.code),
                }
                for i, q in enumerate(p.quality_codes)
            ]
            pidx += 1
    i32, b = pl.Int32(), pl.Boolean()
    qdc = _year_qdc_codes(year)
    others = frozenset().union(
        *(_year_qdc_codes(y) for y in specs.supported_years(claims_logic_only=True) if y != year)
    )
    denominators: frozenset[str] = frozenset(str(r["code"]) for r in procs)
    strata_frame = _frame(strata, {"measure_id": _S, "stratum": _S})
    measures_frame = _frame(
        measures,
        {
            "measure_id": _S,
            "calculation_type": _S,
            "is_inverse": b,
            "is_multi_rate": b,
            "measure_title": _S,
        },
    )
    mkeys = (
        strata_frame.with_row_index("mkey")
        .with_columns(pl.col("mkey").cast(pl.Int32))
        .join(
            measures_frame.select("measure_id", "calculation_type", "is_inverse"), on="measure_id"
        )
        .sort("mkey")
    )
    measure_dx = _frame(mdx, {"measure_id": _S, "dx": _S})
    procedures = _frame(procs, {"opt": i32, "code": _S, "mod_excl": _LS, "pos_excl": _LS})
    rule_key = pl.col("mod_excl").list.join(",") + "|" + pl.col("pos_excl").list.join(",")
    rules = (
        procedures.with_columns(rule_key.alias("_key"))
        .unique(subset="_key")
        .sort("_key")
        .with_row_index("rule")
        .with_columns(pl.col("rule").cast(pl.Int32))
    )
    procedures = (
        procedures.with_columns(rule_key.alias("_key"))
        .join(rules.select("_key", "rule"), on="_key")
        .drop("_key")
    )
    return CodeTables(
        year=year,
        mkeys=mkeys,
        mkey_dx=mkeys.join(measure_dx, on="measure_id").select("mkey", "dx"),
        measures=measures_frame,
        options=_frame(
            options,
            {
                "opt": i32,
                "measure_id": _S,
                "option_group": _S,
                "stratum": _S,
                "min_months": i32,
                "max_years": i32,
                "sex": _S,
                "needs_dx": b,
                "needs_additional": b,
                "flu_season_only": b,
                "per_line": b,
            },
        ),
        option_dx=_frame(dx, {"opt": i32, "dx": _S}),
        option_dx_exclusions=_frame(dx_ex, {"opt": i32, "dx": _S}),
        option_procedures=procedures,
        exclusion_rules=rules.select("rule", "mod_excl", "pos_excl"),
        option_additional=_frame(addl, {"opt": i32, "code": _S}),
        performance=_frame(
            perf,
            {"pidx": i32, "measure_id": _S, "option_group": _S, "marker": _S, "n_codes": i32},
        ),
        performance_codes=_frame(
            pcodes, {"pidx": i32, "code": _S, "cpos": i32, "mods": _LS, "on_dx": b}
        ),
        measure_dx=measure_dx,
        strata=strata_frame,
        qdc_codes=qdc,
        denominator_codes=denominators,
        other_year_qdc_codes=others - qdc,
    )


@dataclass(frozen=True)
class CodeIds:
    """One year's code texts as small integers, so that phase 1 joins and groups integers.

    ``enum`` holds every procedure, quality and diagnosis code the year's logic (and the
    wrong-year finding) looks at, sorted; a line's code or a claim's diagnosis is cast to it
    once per batch, and any other text becomes null: it can match nothing, so its line or
    diagnosis is dropped. Tables keyed by code carry it as this Enum, so their joins are on
    the physical ``UInt32``; ``is_qdc`` and the like are indexed by it.

    Modifiers become one ``Int64`` bit mask per line (``mod_bits``: the modifiers the logic
    names, bits in sorted order, so the lowest performance bit is the first in sort order).
    """

    enum: pl.Enum
    is_qdc: pl.Series  # Boolean by code id: a line quality code of the year
    is_other_year_qdc: pl.Series  # Boolean by code id: a quality code of another year only
    is_denominator: pl.Series  # Boolean by code id: a denominator procedure code
    mod_bits: dict[str, int]  # modifier -> its bit


def mod_mask(mods: Iterable[str], bits: dict[str, int]) -> int:
    """The bit mask of ``mods`` (those without a bit are not looked at by the year)."""
    return functools.reduce(lambda acc, m: acc | bits.get(m, 0), mods, 0)


@functools.cache
def code_ids(year: int) -> CodeIds:
    """The code ids of ``year`` (cached; from :func:`tables`)."""
    t = tables(year)
    texts = sorted(
        set(t.option_procedures["code"].to_list())
        | set(t.option_additional["code"].to_list())
        | set(t.performance_codes["code"].to_list())
        | set(t.option_dx["dx"].to_list())
        | set(t.option_dx_exclusions["dx"].to_list())
        | set(t.measure_dx["dx"].to_list())
        | t.qdc_codes
        | t.other_year_qdc_codes
    )
    mods = set(PERFORMANCE_MODIFIERS)
    for row in t.exclusion_rules.iter_rows(named=True):
        mods.update(row["mod_excl"])
    for listed in t.performance_codes["mods"].to_list():
        mods.update(listed)
    if len(mods) > 63:
        raise ValueError(f"{year}: more than 63 modifiers do not fit a mask")
    return CodeIds(
        enum=pl.Enum(texts),
        is_qdc=pl.Series([c in t.qdc_codes for c in texts], dtype=pl.Boolean),
        is_other_year_qdc=pl.Series([c in t.other_year_qdc_codes for c in texts], dtype=pl.Boolean),
        is_denominator=pl.Series([c in t.denominator_codes for c in texts], dtype=pl.Boolean),
        mod_bits={m: 1 << i for i, m in enumerate(sorted(mods))},
    )


def as_code(texts: pl.Series, enum: pl.Enum, normalise: Callable[[pl.Expr], pl.Expr]) -> pl.Series:
    """``texts`` cast to ``enum`` (null: not a code of the year), trying the ``normalise``d
    form only for texts that miss and are not already in normal form (upper-case letters
    and digits), so the string work is on the few texts that need it."""
    ids = texts.cast(enum, strict=False)
    where = ids.is_null().arg_true()
    if where.len() == 0:
        return ids
    missed = texts.gather(where)
    where = where.filter(missed.str.contains(r"[^0-9A-Z]").fill_null(False))
    if where.len():
        fixed = pl.select(normalise(pl.lit(texts.gather(where)))).to_series()
        ids = ids.scatter(where, fixed.cast(enum, strict=False))
    return ids
