"""Reporting options: traditional MIPS or an MVP, and which measures each may count.

CMS's rules (sources in docs/scoring-decisions.md, "MVP reporting"):

- In an MVP only the MVP's own quality measures count; the others are ignored.
- An MVP requires 4 quality measures, one of them an outcome measure (a high-priority one
  when no outcome measure is available). Small practices meet the requirement by reporting
  every Medicare Part B claims measure of the MVP when it has fewer than 4, so for them the
  requirement is the MVP's claims measures, up to 4.
- The best measures count, as in traditional MIPS: highest points first, the requirement
  respected (``quality.select_counted``).
- The foundation population health measures (479, 484) are computed by CMS from
  administrative claims; a practice's claims cannot show them. Left out of the numerator and
  the denominator (CMS's treatment of one that cannot be scored) unless the user gives its
  points.
- From 2026, measures whose ``allowedPrograms`` lack "mips" (112, 113, 128) count only in an
  MVP (or APP Plus), never in traditional MIPS: they are listed as excluded, with why.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import MipsClaimsError
from ..specs import Measure, YearSpec
from ..specs.mvp import Mvp, MvpSet, load_mvps
from .models import ExcludedMeasure, MeasureScore
from .points import OUTCOME_TYPES

MVP_REQUIRED_MEASURES = 4
TRADITIONAL = "traditional"


class UnknownMvpError(MipsClaimsError, ValueError):
    """An MVP id the year does not have."""


def mvp_only(measure: Measure) -> bool:
    """True when CMS allows the measure only in an MVP or APP Plus, not traditional MIPS.

    The spec states ``allowed_programs`` from 2026 on (specs.builder.ALLOWED_PROGRAMS_FROM);
    CMS's measures-data already omits "mips" for 112/113/128 in 2024-2025, but those years
    keep the scoring they had (docs/scoring-decisions.md).
    """
    return measure.is_mvp_only


def find_mvp(year: int, mvp_id: str, mvps: MvpSet | None = None) -> Mvp:
    """The MVP ``mvp_id`` of ``year``, or a clear error naming the year's MVPs.

    ``mvps`` is the year's set when the caller has it (``load_mvps`` looks at the disk).
    """
    mvps = load_mvps(year) if mvps is None else mvps
    if mvps is None:
        raise UnknownMvpError(f"no MVP definitions for {year}")
    try:
        return mvps.mvp(mvp_id)
    except KeyError as exc:
        raise UnknownMvpError(str(exc.args[0])) from None


def _excluded(score: MeasureScore, reason: str) -> ExcludedMeasure:
    return ExcludedMeasure(
        measure_id=score.measure_id, title=score.title, points=score.points, reason=reason
    )


def traditional_measures(
    scores: Iterable[MeasureScore], spec: YearSpec, mvps: MvpSet | None
) -> tuple[list[MeasureScore], list[ExcludedMeasure]]:
    """Split an entity's scores into those traditional MIPS counts and those it may not."""
    year = spec.performance_year
    kept, excluded = [], []
    for score in scores:
        measure = spec.measures[score.measure_id]
        if not mvp_only(measure):
            kept.append(score)
            continue
        homes = (
            [m.mvp_id for m in mvps.mvps.values() if score.measure_id in m.claims_measure_ids]
            if mvps
            else []
        )
        where = f"an MVP ({', '.join(homes)})" if homes else "an MVP"
        if "appPlus" in measure.allowed_programs:
            where += " or APP Plus"
        excluded.append(
            _excluded(
                score,
                f"not counted in traditional MIPS: in {year} CMS allows {score.measure_id} "
                f"only in {where}",
            )
        )
    return kept, excluded


def mvp_measures(
    scores: Iterable[MeasureScore], mvp: Mvp, *, explain: bool = True
) -> tuple[list[MeasureScore], list[ExcludedMeasure]]:
    """Split an entity's scores into the MVP's quality measures and the ignored rest.

    ``explain=False`` skips describing the rest (ranking needs only their ids).
    """
    kept, excluded = [], []
    for score in scores:
        if score.measure_id in mvp.claims_measure_ids:
            kept.append(score)
        elif explain:
            excluded.append(_excluded(score, f"not a quality measure of MVP {mvp.mvp_id}"))
    return kept, excluded


def mvp_required(mvp: Mvp, *, small_practice: bool) -> int:
    """Quality measures an MVP requires of a claims reporter."""
    if small_practice:
        return max(1, min(MVP_REQUIRED_MEASURES, len(mvp.claims_measure_ids)))
    return MVP_REQUIRED_MEASURES


def priority_available(mvp: Mvp, spec: YearSpec) -> bool:
    """Whether the MVP offers an outcome or high-priority claims measure at all."""
    return any(
        spec.measures[m].measure_type in OUTCOME_TYPES or spec.measures[m].is_high_priority
        for m in mvp.claims_measure_ids
    )


def mvp_notes(mvp: Mvp, *, small_practice: bool, population_given: bool) -> list[str]:
    """What the MVP score rests on, in plain words."""
    claims = ", ".join(mvp.claims_measure_ids) or "none"
    notes = [
        f"MVP {mvp.mvp_id} {mvp.title}: only its quality measures count; its Medicare Part B "
        f"claims measures are {claims} ({len(mvp.quality_measure_ids)} quality measures in all)"
    ]
    required = mvp_required(mvp, small_practice=small_practice)
    if required < MVP_REQUIRED_MEASURES:
        notes.append(
            f"{required} required, not {MVP_REQUIRED_MEASURES}: a small practice meets the MVP "
            "quality requirement by reporting every claims measure of the MVP (CMS still "
            "expects the MVP to fit the clinician's specialty)"
        )
    elif not small_practice and len(mvp.claims_measure_ids) < MVP_REQUIRED_MEASURES:
        notes.append(
            f"the MVP has {len(mvp.claims_measure_ids)} claims measure(s) and requires "
            f"{MVP_REQUIRED_MEASURES}: the rest must come from other collection types "
            "(claims reporting and its flexibility are for small practices)"
        )
    foundation = ", ".join(mvp.foundation_quality_measure_ids)
    if foundation and not population_given:
        notes.append(
            f"population health measures ({foundation}) are computed by CMS from "
            "administrative claims and left out here (numerator and denominator); give "
            "--population-health POINTS to include one"
        )
    return notes


def eligible_ids(scores: Iterable[MeasureScore]) -> set[str]:
    """Measures with at least one eligible instance for the entity."""
    return {s.measure_id for s in scores if s.eligible_population > 0}


def open_mvps(
    scores: list[MeasureScore], mvps: MvpSet | None, specialty: str | None = None
) -> list[Mvp]:
    """MVPs with at least one claims measure the entity's claims are eligible for.

    With ``specialty``, only MVPs CMS lists for it (claims do not say a clinician's specialty).
    """
    if mvps is None:
        return []
    eligible = eligible_ids(scores)
    return [
        m
        for m in mvps.mvps.values()
        if eligible & set(m.claims_measure_ids) and (specialty is None or m.fits(specialty))
    ]


#: Specialty entries most MVPs share; left out when showing who an MVP is for.
GENERIC_SPECIALTIES = ("nonphysician", "nurse practitioner", "physician assistant")


def main_specialties(mvp: Mvp) -> list[str]:
    """The MVP's specialties without the generic ones most MVPs list."""
    return [s for s in mvp.specialties if not any(g in s.lower() for g in GENERIC_SPECIALTIES)]
