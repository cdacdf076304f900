"""Typed models of a normalised measure spec (one performance year).

The builder writes these as JSON into ``measure_specs/``; the engine and scoring read them
back through :func:`mipsclaims.specs.load`. Codes are normalised once, here: ICD-10 codes
uppercase without dots, procedure codes and modifiers uppercase.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OptionType = Literal[
    "performanceMet",
    "performanceNotMet",
    "eligiblePopulationExclusion",
    "eligiblePopulationException",
]

CalculationType = Literal[
    "patient-process",
    "patient-intermediate",
    "procedure",
    "visit",
    "episode",
    "patient-periodic",
]

BenchmarkKind = Literal["decile", "fixed-step"]
#: What a user-imported CMS file is (``mipsclaims specs import``).
ImportedRole = Literal["single-source", "measures-data", "benchmarks", "mvp"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProcedureCode(_Frozen):
    """A denominator procedure code and the modifiers / places of service that disqualify it."""

    code: str
    modifier_exclusions: tuple[str, ...] = ()
    place_of_service_exclusions: tuple[str, ...] = ()


class EligibilityOption(_Frozen):
    """One way to enter the denominator (measure-logic.md section 3)."""

    option_group: str
    min_age: float | None = None
    max_age: float | None = None
    sex: Literal["M", "F"] | None = None
    diagnosis_codes: tuple[str, ...] = ()
    diagnosis_exclusion_codes: tuple[str, ...] = ()
    procedure_codes: tuple[ProcedureCode, ...] = ()
    additional_procedure_codes: tuple[str, ...] = Field(
        default=(),
        description="Codes that must also be on the claim (e.g. G9902 for 226 stratum 01).",
    )


class QualityCode(_Frozen):
    code: str
    modifiers: tuple[str, ...] = ()


class PerformanceOption(_Frozen):
    """A QDC combination and the marker it sets (measure-logic.md section 4)."""

    option_group: str
    option_type: OptionType
    quality_codes: tuple[QualityCode, ...]


class Stratum(_Frozen):
    name: str
    description: str = ""


class Benchmark(_Frozen):
    """Claims benchmark of a measure for a performance year (benchmarks-YYYY.json)."""

    benchmark_year: int
    performance_year: int
    is_inverse: bool
    is_topped_out: bool
    is_topped_out_by_program: bool
    percentiles: dict[str, float]
    average_performance_rate: float | None = None
    kind: BenchmarkKind


class Measure(_Frozen):
    """Everything the engine and scoring need about one claims measure in one year."""

    measure_id: str
    title: str
    description: str = ""
    measure_type: str
    is_inverse: bool
    is_high_priority: bool
    metric_type: str
    overall_algorithm: str | None = None
    strata: tuple[Stratum, ...] = ()
    measure_sets: tuple[str, ...] = ()
    first_performance_year: int | None = None
    is_seven_point_cap_removed: bool = False
    calculation_type: CalculationType | None
    allowed_programs: tuple[str, ...] = Field(
        default=(),
        description="measures-data allowedPrograms: 'mips', 'app1', 'appPlus', MVP ids "
        "(filled from 2026 on; empty = not stated, i.e. traditional MIPS allowed).",
    )
    eligibility_options: tuple[EligibilityOption, ...] = ()
    performance_options: tuple[PerformanceOption, ...] = ()
    benchmark: Benchmark | None = None

    @property
    def is_multi_rate(self) -> bool:
        return self.metric_type == "multiPerformanceRate"

    @property
    def option_groups(self) -> tuple[str, ...]:
        return tuple(sorted({o.option_group for o in self.eligibility_options}))

    @property
    def is_topped_out_by_program(self) -> bool:
        return bool(self.benchmark and self.benchmark.is_topped_out_by_program)

    @property
    def is_mvp_only(self) -> bool:
        """Stated programs exclude traditional MIPS (2026: 112, 113, 128: MVP or APP Plus only)."""
        return bool(self.allowed_programs) and "mips" not in self.allowed_programs


class SourceFile(_Frozen):
    path: str
    upstream_path: str
    sha256: str


class Provenance(_Frozen):
    upstream_repository: str
    upstream_commit: str
    files: tuple[SourceFile, ...]
    builder: str


class ImportedFile(_Frozen):
    """One CMS file a user imported (``mipsclaims specs import``)."""

    name: str
    role: ImportedRole
    sha256: str


class ImportInfo(_Frozen):
    """Where a user-imported spec came from: the files, when, and what it inherited."""

    imported_at: str = Field(description="UTC time of the import, ISO 8601.")
    files: tuple[ImportedFile, ...]
    inherited: str = Field(
        default="",
        description="What was taken from the bundled spec of the year (metadata, benchmarks) "
        "when the user gave no file for it; empty when nothing was.",
    )
    tool_version: str = ""


class YearSpec(_Frozen):
    """All claims measures of one performance year, as shipped in ``measure_specs/``.

    ``coding_year`` is the year whose claims single source supplied the codes: the
    performance year itself, except for a provisional year (2026 until CMS publishes its
    single source), which is counted with the latest published coding.
    """

    performance_year: int
    coding_year: int = Field(
        default=0,
        description="Year of the claims single source the codes come from "
        "(= performance_year unless the spec is provisional).",
    )
    has_claims_logic: bool = Field(
        description="False when the spec has no claims coding (the engine refuses the year)."
    )
    data_completeness_threshold: float
    case_minimum: int
    measures: dict[str, Measure]
    provenance: Provenance
    imported: ImportInfo | None = Field(
        default=None, description="Set when the spec was built by `mipsclaims specs import`."
    )

    @model_validator(mode="before")
    @classmethod
    def _coding_year_defaults_to_performance_year(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("coding_year"):
            data = {**data, "coding_year": data.get("performance_year")}
        return data

    @property
    def is_provisional(self) -> bool:
        """Counted with another year's codes (CMS has not published this year's yet)."""
        return self.coding_year != self.performance_year

    def measure(self, measure_id: str | int) -> Measure:
        """Look a measure up by id, accepting ``226``, ``"226"`` or ``"0226"`` forms."""
        key = normalise_measure_id(measure_id)
        try:
            return self.measures[key]
        except KeyError:
            raise KeyError(
                f"measure {key} is not a Medicare Part B claims measure in "
                f"{self.performance_year}; known: {', '.join(self.measures)}"
            ) from None


def normalise_measure_id(measure_id: str | int) -> str:
    """CMS quality measure ids are three digits (``1`` -> ``"001"``)."""
    text = str(measure_id).strip()
    if text.isdigit():
        return f"{int(text):03d}"
    return text
