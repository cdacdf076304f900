"""``mipsclaims score``: points, quality score and projected final score (issue 9)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from ..errors import MipsClaimsError
from ..report.termsafe import SafeConsole
from .common import STRICT, fail, report_reading

console = SafeConsole()


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class ScoreLevel(StrEnum):
    """Entities to score: clinicians, the TIN (group), or both in one run."""

    tin_npi = "tin-npi"
    tin = "tin"
    both = "both"


def score(
    sources: list[Path] = typer.Argument(
        None, help="Claim files (837P, CSV, Parquet) to evaluate; omit with --rows."
    ),
    year: int = typer.Option(..., "--year", "-y", help="Performance year (2023-2026)."),
    rows: Path | None = typer.Option(
        None, "--rows", help="Rows written by `mipsclaims report --format json|csv`."
    ),
    level: ScoreLevel = typer.Option(
        ScoreLevel.tin_npi,
        "--level",
        help="Entities when evaluating: tin-npi (clinicians), tin (group) or both.",
    ),
    small_practice: bool = typer.Option(
        False, "--small-practice", help="15 or fewer clinicians (3-point floor, bonus, weights)."
    ),
    ia: float | None = typer.Option(None, "--ia", help="Improvement activities points (0-40)."),
    pi: float | None = typer.Option(
        None, "--pi", help="Promoting interoperability score in percent; omit if reweighted."
    ),
    cost: float | None = typer.Option(
        None, "--cost", help="Cost score in percent; omit if not scored (reweighted)."
    ),
    margin: float = typer.Option(5.0, "--margin", help="Points around the threshold = neutral."),
    scaling_factor: float | None = typer.Option(
        None, "--scaling-factor", help="Assumed budget-neutrality factor for positive adjustments."
    ),
    prior_quality: float | None = typer.Option(
        None, "--prior-quality", help="Prior year's quality achievement percent (improvement)."
    ),
    required_measures: int = typer.Option(
        6, "--required-measures", help="Measures required (fewer only when fewer apply)."
    ),
    through_month: int | None = typer.Option(
        None, "--through-month", help="Last month the claims cover (1-12), for --rows input."
    ),
    mvp: str | None = typer.Option(
        None, "--mvp", help="Score under this MVP's quality rules (e.g. M1370)."
    ),
    population_health: float | None = typer.Option(
        None,
        "--population-health",
        help="MVP population health measure points (0-10, from CMS); omit to leave it out.",
    ),
    specialty: str | None = typer.Option(
        None,
        "--specialty",
        help="Rank only MVPs CMS lists for this specialty (e.g. 'Physical Therapy').",
    ),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
    strict: bool = STRICT,
) -> None:
    """Project the MIPS final score: measure points, quality score, payment zone and levers.

    Example: mipsclaims score claims/*.837 --year 2025 --small-practice --ia 40
    Example: mipsclaims score --rows rows.json --year 2025 --through-month 6 --format json
    Example: mipsclaims score claims/*.837 --year 2026 --mvp M1370 --small-practice
    Example: mipsclaims score claims/*.837 --year 2026 --level both --specialty therapy

    Every projection also ranks the reporting options the claims allow: traditional MIPS
    and each MVP whose quality measures the claims are eligible for.
    """
    from .. import scoring
    from ..report.score import print_score, score_json
    from ..scoring import ScoringOptions

    try:
        options = ScoringOptions(
            small_practice=small_practice,
            ia_points=ia,
            pi_score=pi,
            cost_score=cost,
            margin=margin,
            scaling_factor=scaling_factor,
            prior_quality_achievement=prior_quality,
            required_measures=required_measures,
            through_month=through_month,
            mvp=mvp,
            population_health_points=population_health,
            specialty=specialty,
        )
    except ValueError as exc:
        raise fail(f"invalid option: {exc}") from None
    if year not in scoring.THRESHOLDS:
        raise fail(f"no scoring for {year}; years: {', '.join(map(str, scoring.THRESHOLDS))}")
    if bool(sources) == (rows is not None):
        raise fail("give claim files or --rows FILE (one of them)")
    try:
        if rows is not None:
            report = scoring.score(scoring.read_rows(rows), year, options)
        else:
            from .. import api
            from ..engine import as_level
            from ..x12.report import ReadReport

            read = ReadReport()
            both = level is ScoreLevel.both
            levels = [as_level(lv) for lv in (("tin-npi", "tin") if both else (level.value,))]
            report = api.score(list(sources), year, options, levels, report=read)
            report_reading(read, strict=strict)
    except (MipsClaimsError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    if output is OutputFormat.json:
        typer.echo(score_json(report))
    else:
        print_score(report, console)
