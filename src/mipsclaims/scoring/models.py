"""Typed results of scoring: what the terminal, JSON and HTML reports show.

Every number carries the reason it has, so a practice can see why a measure earned what it did.
Scores are in the units CMS uses: measure achievement points 0-10, category scores and the
final score in percent / points 0-100, payment adjustments in percent.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MeasureStatus = Literal[
    "benchmark",  # scored against the claims benchmark
    "capped",  # scored against the benchmark, then capped at 7 (topped out)
    "new_measure",  # new-measure floor (7 first year, 5 second year) applied
    "no_benchmark",  # complete, but no claims benchmark
    "case_minimum",  # complete, but under the case minimum
    "no_rate",  # complete, but no performance rate (every reported instance excluded)
    "data_completeness",  # below the data completeness threshold
    "not_submitted",  # no quality-data code reported at all
]

Zone = Literal["safe", "neutral", "at_risk"]
Direction = Literal["positive", "neutral", "negative"]
LeverKind = Literal["data_completeness", "next_decile", "case_minimum"]
Category = Literal["quality", "cost", "improvement_activities", "promoting_interoperability"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeasureScore(_Model):
    """Achievement points of one measure for one entity (TIN/NPI or TIN)."""

    performance_year: int
    tin: str
    npi: str | None
    measure_id: str
    stratum: str | None = Field(description="Option group whose rate was scored (226), else null.")
    title: str
    is_outcome: bool
    is_high_priority: bool
    is_inverse: bool
    eligible_population: int
    performance_met: int
    performance_not_met: int
    denominator_exclusion: int
    denominator_exception: int
    reported: int = Field(description="Instances with a quality-data code (a + b + c + x).")
    data_completeness: float | None
    performance_rate: float | None
    meets_case_minimum: bool
    meets_data_completeness: bool
    status: MeasureStatus
    decile: int | None = None
    points: float
    reason: str
    benchmark_year: int | None = None
    benchmark_kind: str | None = None


class ExcludedMeasure(_Model):
    """A measure of the entity that a reporting option cannot count, and why."""

    measure_id: str
    title: str
    points: float = Field(description="What it would have earned where it counts.")
    reason: str


class QualityScore(_Model):
    """Quality category score of one entity."""

    tin: str
    npi: str | None
    program: str = Field(
        default="traditional", description='"traditional" (MIPS) or the MVP id (e.g. "M1370").'
    )
    required_measures: int
    counted: list[MeasureScore] = Field(
        description="The measures that count (the best required_measures: six, an MVP four), "
        "best first."
    )
    measures: list[MeasureScore] = Field(
        description="Every measure of the entity the option may count, best first "
        "(the others are in excluded)."
    )
    achievement_points: float = Field(description="Points of the counted measures.")
    small_practice_bonus: float
    population_health_points: float | None = Field(
        default=None, description="MVP population health measure points (user-given), else null."
    )
    available_points: float | None = Field(
        default=None,
        description="Denominator: required x 10, plus 10 with a population health measure.",
    )
    achievement_percent: float = Field(
        description="(points + bonus + population health) / available points, percent."
    )
    improvement_percent: float
    score: float = Field(description="Quality category score in percent, capped at 100.")
    outcome_requirement: str = Field(description="How the outcome / high-priority rule was met.")
    excluded: list[ExcludedMeasure] = Field(
        default=[], description="Measures this reporting option cannot count, with the reason."
    )
    notes: list[str] = []


class CategoryScore(_Model):
    category: Category
    score: float | None = Field(description="Category score in percent, null when not scored.")
    weight: float = Field(description="Weight in percent of the final score after reweighting.")
    points: float = Field(description="Contribution to the final score (score x weight / 100).")
    source: str = Field(description="Where the score comes from (claims, user input, assumed).")


class PaymentAdjustment(_Model):
    payment_year: int
    direction: Direction
    percent_before_scaling: float = Field(
        description="Negative side exact; positive side before CMS's budget-neutrality factor."
    )
    scaling_factor: float | None
    percent: float | None = Field(description="Estimated adjustment; null when unknown.")
    explanation: str


class Lever(_Model):
    """One way to raise the score: what it takes and what it is worth."""

    measure_id: str
    kind: LeverKind
    action: str
    instances_needed: int | None
    measure_points_before: float
    measure_points_after: float
    quality_score_gain: float
    final_score_gain: float


class Coverage(_Model):
    """How much of the year the projection rests on (year-to-date honesty)."""

    performance_year: int
    through_month: int | None
    months_covered: int | None
    is_full_year: bool | None
    benchmark_years: list[int]
    statement: str


class ReportingOption(_Model):
    """One way the entity could report (traditional MIPS or one MVP), and what it would earn."""

    rank: int = Field(description="1 = the highest projected quality score.")
    option: str = Field(description='"traditional" or the MVP id.')
    kind: Literal["traditional", "mvp"]
    title: str
    specialties: list[str] = Field(default=[], description="Who CMS meant the MVP for.")
    quality_score: float
    final_score: float
    required_measures: int
    uses: list[str] = Field(description="Measures counted, best first.")
    eligible: list[str] = Field(description="Measures of the option with eligible instances.")
    outside: list[str] = Field(
        default=[], description="The entity's measures outside the MVP (ignored by it)."
    )
    excluded: list[ExcludedMeasure] = Field(
        default=[],
        description="Measures a program rule keeps out of this option (2026 traditional MIPS: "
        "MVP-only 112, 113, 128), with the reason.",
    )
    notes: list[str] = []


class Projection(_Model):
    """Projected final score of one entity."""

    performance_year: int
    tin: str
    npi: str | None
    reporting_option: str = Field(
        default="traditional MIPS", description="Option the projection is scored under."
    )
    quality: QualityScore
    categories: list[CategoryScore]
    weights_situation: str
    final_score: float
    threshold: float
    margin: float
    zone: Zone
    adjustment: PaymentAdjustment
    levers: list[Lever]
    coverage: Coverage
    assumptions: list[str]
    reporting_options: list[ReportingOption] = Field(
        default=[], description="Traditional MIPS and each MVP the claims allow, best first."
    )


class ScoringOptions(_Model):
    """What claims cannot show: supplied by the user, or left to the documented defaults."""

    small_practice: bool = False
    ia_points: float | None = Field(
        default=None, ge=0, description="Improvement activities points (0-40); null -> assumed 0."
    )
    pi_score: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Promoting interoperability percent; null -> PI reweighted.",
    )
    cost_score: float | None = Field(
        default=None, ge=0, le=100, description="Cost percent; null -> cost reweighted."
    )
    margin: float = Field(
        default=5.0, ge=0, description="Points around the threshold = neutral zone."
    )
    scaling_factor: float | None = Field(default=None, ge=0)
    prior_quality_achievement: float | None = Field(
        default=None, ge=0, le=100, description="Prior year's quality achievement percent."
    )
    required_measures: int = Field(default=6, ge=1, le=6)
    through_month: int | None = Field(default=None, ge=1, le=12)
    mvp: str | None = Field(
        default=None, description="Score under this MVP's quality rules (e.g. M1370)."
    )
    population_health_points: float | None = Field(
        default=None,
        ge=0,
        le=10,
        description="MVP population health measure points (CMS computes them); null -> left out.",
    )
    specialty: str | None = Field(
        default=None,
        description="Rank only MVPs meant for this specialty (part of CMS's specialty names).",
    )


class ScoreReport(_Model):
    """Everything `mipsclaims score` shows, for every entity in the rows."""

    performance_year: int
    provisional: str | None = Field(
        default=None, description="Why the year's spec is provisional; null when it is not."
    )
    options: ScoringOptions
    projections: list[Projection]
