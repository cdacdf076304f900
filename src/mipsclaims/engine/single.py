"""One claim at the point of care, in plain Python (for ``check_claim``'s few-millisecond budget).

The same rules as the vectorised engine over a small per-year index of sets and dicts;
tests/test_api.py proves by property test that both give the same outcome on a claim.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass, field

from dateutil.relativedelta import relativedelta

from .. import specs
from ..claims import Claim, ServiceLine
from ..schema import PERFORMANCE_MODIFIERS
from .codes import (
    FLU_SEASON_MONTHS,
    MARKER_OF_OPTION_TYPE,
    Marker,
    OptionMarker,
    is_diagnosis_qdc,
    marker_of_rank,
    marker_rank,
    qdc_code_key,
    stratum_of,
)


@dataclass(frozen=True)
class _Option:
    measure_id: str
    option_group: str
    stratum: str
    min_months: int | None
    max_years: int | None
    sex: str | None
    dx: frozenset[str]
    dx_excluded: frozenset[str]
    additional: frozenset[str]
    flu_season_only: bool


@dataclass(frozen=True)
class _Perf:
    marker: OptionMarker
    codes: tuple[tuple[str, frozenset[str], bool], ...]  # (code, listed modifiers, on_dx)


@dataclass
class YearIndex:
    """Plain-Python lookups of one year's claims logic."""

    by_procedure: dict[str, list[tuple[_Option, frozenset[str], frozenset[str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    performance: dict[tuple[str, str], list[_Perf]] = field(
        default_factory=lambda: defaultdict(list)
    )
    is_inverse: dict[str, bool] = field(default_factory=dict)


@functools.cache
def year_index(year: int) -> YearIndex:
    """The index of ``year`` (cached)."""
    spec = specs.load_with_logic(year)
    index = YearIndex()
    for m in spec.measures.values():
        index.is_inverse[m.measure_id] = m.is_inverse
        for o in m.eligibility_options:
            option = _Option(
                measure_id=m.measure_id,
                option_group=o.option_group,
                stratum=stratum_of(m, o.option_group),
                min_months=None if o.min_age is None else round(o.min_age * 12),
                max_years=None if o.max_age is None else int(o.max_age),
                sex=o.sex,
                dx=frozenset(o.diagnosis_codes),
                dx_excluded=frozenset(o.diagnosis_exclusion_codes),
                additional=frozenset(o.additional_procedure_codes),
                flu_season_only=m.calculation_type == "patient-periodic",
            )
            for p in o.procedure_codes:
                index.by_procedure[p.code].append(
                    (
                        option,
                        frozenset(p.modifier_exclusions),
                        frozenset(p.place_of_service_exclusions),
                    )
                )
        for perf in m.performance_options:
            index.performance[(m.measure_id, perf.option_group)].append(
                _Perf(
                    marker=MARKER_OF_OPTION_TYPE[perf.option_type],
                    codes=tuple(
                        (qdc_code_key(q.code), frozenset(q.modifiers), is_diagnosis_qdc(q.code))
                        for q in perf.quality_codes
                    ),
                )
            )
    return index


@dataclass(frozen=True)
class SplitOutcome:
    """The outcome of one measure (stratum) on one split claim."""

    npi: str | None
    measure_id: str
    stratum: str  # "" for single-rate measures
    marker: Marker
    qdcs_found: tuple[str, ...]


@dataclass(frozen=True)
class _Line:
    code: str
    modifiers: frozenset[str]
    pos: str | None


def _label(line: _Line) -> str:
    perf = sorted(line.modifiers & PERFORMANCE_MODIFIERS)
    return f"{line.code}-{perf[0]}" if perf else line.code


def _age_ok(option: _Option, birth: dt.date | None, on: dt.date) -> bool:
    if option.min_months is None and option.max_years is None:
        return True
    if birth is None:
        return False
    age = relativedelta(on, birth)
    months = age.years * 12 + age.months
    if option.min_months is not None and months < option.min_months:
        return False
    return option.max_years is None or months // 12 <= option.max_years


def _quality_match(code: str, listed: frozenset[str], line: _Line) -> bool:
    if line.code != code:
        return False
    if listed:
        return bool(line.modifiers & listed)
    return not (line.modifiers & PERFORMANCE_MODIFIERS)


def evaluate_split(
    index: YearIndex,
    lines: list[_Line],
    *,
    on: dt.date,
    birth: dt.date | None,
    sex: str | None,
    dx: frozenset[str],
    npi: str | None,
) -> list[SplitOutcome]:
    """Eligibility and marker of every measure (stratum) for one split claim."""
    codes = {line.code for line in lines}
    sex = sex.strip().upper() if sex else None
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)  # (measure, stratum) -> groups
    for line in lines:
        for option, mod_excl, pos_excl in index.by_procedure.get(line.code, ()):
            if line.modifiers & mod_excl or (line.pos is not None and line.pos in pos_excl):
                continue
            if option.sex is not None and sex != option.sex:
                continue
            if option.dx and not (dx & option.dx):
                continue
            if dx & option.dx_excluded or not option.additional <= codes:
                continue
            if option.flu_season_only and on.month not in FLU_SEASON_MONTHS:
                continue
            if not _age_ok(option, birth, on):
                continue
            groups[(option.measure_id, option.stratum)].add(option.option_group)
    out = []
    for (measure_id, stratum), option_groups in sorted(groups.items()):
        inverse = index.is_inverse[measure_id]
        best, found = 0, set()
        for group in option_groups:
            for perf in index.performance.get((measure_id, group), ()):
                hits = [
                    ([code] if code in dx else [])
                    if on_dx
                    else [_label(line) for line in lines if _quality_match(code, listed, line)]
                    for code, listed, on_dx in perf.codes
                ]
                for matched in hits:
                    found.update(matched)
                if all(hits):
                    best = max(best, marker_rank(perf.marker, inverse))
        out.append(
            SplitOutcome(
                npi=npi,
                measure_id=measure_id,
                stratum=stratum,
                marker=marker_of_rank(best, inverse),
                qdcs_found=tuple(sorted(found)),
            )
        )
    return out


def claim_outcomes(claim: Claim, year: int) -> tuple[str | None, list[SplitOutcome]]:
    """(reason the claim is out of scope or None, outcomes of its split claims)."""
    index = year_index(year)
    if claim.frequency.strip() == "8":
        return "void_request", []
    filing = (claim.filing_indicator or "MB").strip().upper()
    if filing != "MB":
        return "not_part_b", []
    splits: dict[str | None, list[ServiceLine]] = defaultdict(list)
    for line in claim.lines:
        splits[line.rendering_npi or claim.rendering_npi or claim.billing_npi].append(line)
    dx = frozenset(claim.diagnosis_codes)
    outcomes: list[SplitOutcome] = []
    reasons = []
    for npi, service_lines in sorted(splits.items(), key=lambda kv: kv[0] or ""):
        dates = [sl.service_date for sl in service_lines if sl.service_date is not None]
        if not npi:
            reasons.append("no_rendering_npi")
            continue
        if not dates:
            reasons.append("no_service_date")
            continue
        on = min(dates)
        if on.year != year:
            reasons.append("other_year")
            continue
        lines = [
            _Line(
                code=sl.procedure_code.strip().upper(),
                modifiers=frozenset(sl.modifiers),
                pos=sl.place_of_service or claim.place_of_service or None,
            )
            for sl in service_lines
        ]
        outcomes += evaluate_split(
            index,
            lines,
            on=on,
            birth=claim.patient.birth_date,
            sex=claim.patient.sex,
            dx=dx,
            npi=npi,
        )
    reason = reasons[0] if reasons and len(reasons) == len(splits) else None
    return reason, outcomes
