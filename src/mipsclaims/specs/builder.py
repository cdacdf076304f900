"""Build ``measure_specs/`` from CMS's published measure data (``shared/cms``).

Deterministic: the same inputs give byte-identical output, so a test can rebuild the specs
and fail on drift. Only this module reads CMS's raw formats; everything else reads the
normalised :class:`~mipsclaims.specs.models.YearSpec` files it writes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import mvp
from .models import (
    Benchmark,
    BenchmarkKind,
    CalculationType,
    EligibilityOption,
    Measure,
    PerformanceOption,
    ProcedureCode,
    Provenance,
    QualityCode,
    SourceFile,
    Stratum,
    YearSpec,
)

#: Performance years with their own claims single source (full counting logic).
CODED_YEARS = (2023, 2024, 2025)
#: Provisional years -> the coding year whose single source counts them until CMS
#: publishes theirs (then ``mipsclaims specs import`` replaces the provisional spec).
PROVISIONAL_CODING = {2026: 2025}
#: Every bundled year has claims logic (a provisional year borrows its coding).
LOGIC_YEARS = CODED_YEARS + tuple(PROVISIONAL_CODING)
ALL_YEARS = LOGIC_YEARS
#: measures-data ``allowedPrograms`` is kept from this year on. Older years' files carry
#: values CMS revised after the fact; 2023-2025 specs stay as they were (spec-fidelity.md).
ALLOWED_PROGRAMS_FROM = 2026

CASE_MINIMUM = 20
FIXED_STEP_PERCENTILES = {
    "1": 1.0, "10": 10.0, "20": 20.0, "30": 30.0, "40": 40.0, "50": 50.0,
    "60": 60.0, "70": 70.0, "80": 80.0, "90": 90.0, "99": 99.0,
}  # fmt: skip

CSV_SINGLE_SOURCE = {
    2024: "single-source/2024_Claims_SingleSource_v8.csv",
    2025: "single-source/2025_Claims_SingleSource_V9.1.csv",
}
UPSTREAM_PATHS = {
    "single-source/qpp-single-source-{y}.json": "claims-related/data/qpp-single-source-{y}.json",
    "measures/measures-data-{y}.json": "measures/{y}/measures-data.json",
    "benchmarks/benchmarks-{y}.json": "benchmarks/{y}.json",
}
CALCULATION_TYPES_FILE = "calculation-types.json"


def data_completeness_threshold(year: int) -> float:
    """70% in 2023, 75% from 2024 (measure-logic.md section 7)."""
    return 0.70 if year <= 2023 else 0.75


def normalise_icd10(code: str) -> str:
    return code.replace(".", "").strip().upper()


def normalise_code(code: str) -> str:
    return code.strip().upper()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _upstream(cms_dir: Path) -> tuple[str, str]:
    text = (cms_dir / "SOURCE.md").read_text(encoding="utf-8")
    repo = re.search(r"repository (\S+/\S+) at", text)
    commit = re.search(r"commit\s+([0-9a-f]{40})", text)
    if not repo or not commit:
        raise ValueError(f"{cms_dir / 'SOURCE.md'}: cannot find the upstream repository/commit")
    return repo.group(1), commit.group(1)


def _inputs_for(year: int) -> list[tuple[str, str]]:
    """(local path, upstream path) of every CMS file that feeds one year's spec."""
    coding = PROVISIONAL_CODING.get(year, year)
    pairs = []
    for local, upstream in UPSTREAM_PATHS.items():
        y = coding if "single-source" in local else year
        pairs.append((local.format(y=y), upstream.format(y=y)))
    if coding in CSV_SINGLE_SOURCE:
        local = CSV_SINGLE_SOURCE[coding]
        pairs.append((local, "claims-related/data/" + Path(local).name))
    return pairs


def eligibility_option(raw: dict[str, Any]) -> EligibilityOption:
    return EligibilityOption(
        option_group=raw["optionGroup"],
        min_age=raw.get("minAge"),
        max_age=raw.get("maxAge"),
        sex=raw.get("sexCode"),
        diagnosis_codes=tuple(normalise_icd10(c) for c in raw.get("diagnosisCodes", [])),
        diagnosis_exclusion_codes=tuple(
            normalise_icd10(c) for c in raw.get("diagnosisExclusionCodes", [])
        ),
        procedure_codes=tuple(
            ProcedureCode(
                code=normalise_code(p["code"]),
                modifier_exclusions=tuple(
                    normalise_code(m) for m in p.get("modifierExclusions", [])
                ),
                place_of_service_exclusions=tuple(p.get("placesOfServiceExclusions", [])),
            )
            for p in raw.get("procedureCodes", [])
        ),
        additional_procedure_codes=tuple(
            normalise_code(p["code"]) for p in raw.get("additionalProcedureCodes", [])
        ),
    )


def performance_option(raw: dict[str, Any]) -> PerformanceOption:
    return PerformanceOption(
        option_group=raw["optionGroup"],
        option_type=raw["optionType"],
        quality_codes=tuple(
            QualityCode(
                code=normalise_code(q["code"]),
                modifiers=tuple(normalise_code(m) for m in q.get("modifiers", [])),
            )
            for q in raw["qualityCodes"]
        ),
    )


def read_csv_single_source(path: Path) -> list[dict[str, str]]:
    """Rows of CMS's CSV single source, with the BOM and header spacing removed."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [
            {k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)
        ]


def csv_stratum_denominator_codes(
    rows: Iterable[dict[str, str]], measure_id: str, option_group: str
) -> tuple[str, ...]:
    """Codes the CSV requires on the claim for a stratum's denominator.

    CMS writes 226 stratum 01 (tobacco users) as numbered multi-code groups
    (``G_CODE_2_PD_2``: G9902 + G9906, ``G_CODE_3_PD_2``: G9902 + G9908). The code shared
    by every numbered denominator group of the stratum (G9902, "tobacco user") is what
    puts a claim in that stratum's denominator. The JSON single source drops it in 2025
    (measure-logic.md section 6; docs/spec-fidelity.md).
    """
    stratum_id = f"{int(measure_id)}.{option_group}"
    suffix = f"_PD_{int(option_group) + 1}"
    groups: dict[str, set[str]] = {}
    for row in rows:
        element = row["DATA ELEMENT NAME"]
        if row["Measure ID"] != stratum_id or not element.endswith(suffix):
            continue
        numbered = re.fullmatch(r"G_CODE_(\d+)_PD_\d+", element)
        if numbered:
            groups.setdefault(numbered.group(1), set()).add(normalise_code(row["CODE"]))
    if not groups:
        return ()
    shared = set.intersection(*groups.values())
    return tuple(sorted(shared))


def _benchmark(raw: dict[str, Any]) -> Benchmark:
    percentiles = {k: float(v) for k, v in raw["percentiles"].items()}
    kind: BenchmarkKind = "fixed-step" if percentiles == FIXED_STEP_PERCENTILES else "decile"
    return Benchmark(
        benchmark_year=raw["benchmarkYear"],
        performance_year=raw["performanceYear"],
        is_inverse=raw["isInverse"],
        is_topped_out=raw["isToppedOut"],
        is_topped_out_by_program=raw["isToppedOutByProgram"],
        percentiles=percentiles,
        average_performance_rate=raw.get("averagePerformanceRate"),
        kind=kind,
    )


def claims_measure_ids(metadata: dict[str, dict[str, Any]]) -> list[str]:
    """Quality measures measures-data lists with the claims submission method."""
    return sorted(
        m["measureId"]
        for m in metadata.values()
        if m.get("category") == "quality" and "claims" in (m.get("submissionMethods") or [])
    )


def claims_benchmarks(raw: list[dict[str, Any]]) -> dict[str, Benchmark]:
    return {b["measureId"]: _benchmark(b) for b in raw if b["submissionMethod"] == "claims"}


def build_year(cms_dir: Path, year: int, calculation_types: dict[str, CalculationType]) -> YearSpec:
    """Normalise one performance year from the CMS files in ``cms_dir``.

    A provisional year (``PROVISIONAL_CODING``) takes its own year's metadata, benchmarks
    and programs, and the codes of its coding year (docs/spec-fidelity.md).
    """
    coding = PROVISIONAL_CODING.get(year, year)
    metadata = {
        m["measureId"]: m for m in _read_json(cms_dir / f"measures/measures-data-{year}.json")
    }
    benchmarks = claims_benchmarks(_read_json(cms_dir / f"benchmarks/benchmarks-{year}.json"))
    single_source = _read_json(cms_dir / f"single-source/qpp-single-source-{coding}.json")
    coding_metadata = metadata
    if coding != year:
        measure_ids = claims_measure_ids(metadata)
        coding_metadata = {
            m["measureId"]: m for m in _read_json(cms_dir / f"measures/measures-data-{coding}.json")
        }
        missing = [m for m in measure_ids if m not in single_source]
        if missing:
            raise ValueError(
                f"provisional {year}: no {coding} coding for claims measure(s) {', '.join(missing)}"
            )
    else:
        measure_ids = sorted(single_source)
    csv_rows = (
        read_csv_single_source(cms_dir / CSV_SINGLE_SOURCE[coding])
        if coding in CSV_SINGLE_SOURCE
        else []
    )

    measures = {
        measure_id: measure_from(
            year,
            metadata[measure_id],
            single_source[measure_id],
            benchmarks.get(measure_id),
            calculation_types.get(measure_id),
            csv_rows,
            structure=coding_metadata[measure_id],
        )
        for measure_id in measure_ids
    }
    repo, commit = _upstream(cms_dir)
    return YearSpec(
        performance_year=year,
        coding_year=coding,
        has_claims_logic=True,
        data_completeness_threshold=data_completeness_threshold(year),
        case_minimum=CASE_MINIMUM,
        measures=measures,
        provenance=Provenance(
            upstream_repository=repo,
            upstream_commit=commit,
            files=tuple(
                SourceFile(path=local, upstream_path=upstream, sha256=_sha256(cms_dir / local))
                for local, upstream in _inputs_for(year)
            ),
            builder="mipsclaims.specs.builder",
        ),
    )


#: measures-data fields that say how the coding's option groups are counted: they go with
#: the codes (a provisional year takes them from the coding year, see spec-fidelity.md).
STRUCTURE_FIELDS = ("metricType", "overallAlgorithm", "strata")


def check_structure(measure_id: str, meta: dict[str, Any], structure: dict[str, Any]) -> None:
    """Refuse to pair codes with metadata that counts their option groups differently."""
    if meta.get("metricType") != structure.get("metricType") or meta.get(
        "overallAlgorithm"
    ) != structure.get("overallAlgorithm"):
        raise ValueError(
            f"measure {measure_id}: metric type / overall algorithm differ between the "
            "metadata year and the coding year; the coding cannot be borrowed"
        )
    if meta.get("metricType") == "multiPerformanceRate":
        names = [s.get("name", "") for s in meta.get("strata", [])]
        if names != [s.get("name", "") for s in structure.get("strata", [])]:
            raise ValueError(f"measure {measure_id}: strata {names} differ from the coding year's")


def measure_from(
    year: int,
    meta: dict[str, Any],
    logic: dict[str, Any],
    benchmark: Benchmark | None,
    calculation_type: CalculationType | None,
    csv_rows: list[dict[str, str]],
    *,
    structure: dict[str, Any] | None = None,
) -> Measure:
    """One measure: ``meta`` (measures-data of ``year``), ``logic`` (a JSON single-source
    entry), and ``structure``: the measures-data entry of the coding year, whose metric type,
    algorithm and strata go with the codes (defaults to ``meta``)."""
    structure = meta if structure is None else structure
    if structure is not meta:
        check_structure(meta["measureId"], meta, structure)
    measure_id = meta["measureId"]
    eligibility = [eligibility_option(e) for e in logic.get("eligibilityOptions", [])]
    if structure.get("metricType") == "multiPerformanceRate" and csv_rows:
        eligibility = [
            _with_csv_stratum_codes(option, csv_rows, measure_id) for option in eligibility
        ]
    return Measure(
        measure_id=measure_id,
        title=meta["title"],
        description=meta.get("description", ""),
        measure_type=meta["measureType"],
        is_inverse=bool(meta.get("isInverse", False)),
        is_high_priority=bool(meta.get("isHighPriority", False)),
        metric_type=structure["metricType"],
        overall_algorithm=structure.get("overallAlgorithm"),
        strata=tuple(
            Stratum(name=s.get("name", ""), description=s.get("description", ""))
            for s in structure.get("strata", [])
        ),
        measure_sets=tuple(meta.get("measureSets", [])),
        first_performance_year=meta.get("firstPerformanceYear"),
        is_seven_point_cap_removed=bool(meta.get("isSevenPointCapRemoved", False))
        and "claims" in (meta.get("sevenPointCapRemoved") or []),
        calculation_type=calculation_type,
        allowed_programs=tuple(meta.get("allowedPrograms") or ())
        if year >= ALLOWED_PROGRAMS_FROM
        else (),
        eligibility_options=tuple(eligibility),
        performance_options=tuple(
            performance_option(p) for p in logic.get("performanceOptions", [])
        ),
        benchmark=benchmark,
    )


def _with_csv_stratum_codes(
    option: EligibilityOption, csv_rows: list[dict[str, str]], measure_id: str
) -> EligibilityOption:
    codes = csv_stratum_denominator_codes(csv_rows, measure_id, option.option_group)
    merged = tuple(sorted(set(option.additional_procedure_codes) | set(codes)))
    return option.model_copy(update={"additional_procedure_codes": merged})


def render(spec: YearSpec) -> str:
    """The exact text written to ``measure_specs/<year>.json``.

    Fields added after 2025 are left out at their defaults (``coding_year`` equal to the
    performance year, no ``imported``, empty ``allowed_programs``), so the 2023-2025 files
    stay byte for byte what they were.
    """
    data = spec.model_dump(mode="json")
    if data["coding_year"] == data["performance_year"]:
        del data["coding_year"]
    if data["imported"] is None:
        del data["imported"]
    for measure in data["measures"].values():
        if not measure["allowed_programs"]:
            del measure["allowed_programs"]
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def load_calculation_types(specs_dir: Path) -> dict[str, dict[str, CalculationType]]:
    """{year: {measure id: calculation type}} (checked when a Measure is built from it)."""
    raw = _read_json(specs_dir / CALCULATION_TYPES_FILE)
    years: dict[str, dict[str, CalculationType]] = raw["years"]
    return years


def build_all(cms_dir: Path, specs_dir: Path, *, write: bool = True) -> dict[str, str]:
    """Build every year; return {file name: text}. Writes the files unless ``write=False``."""
    cms_dir = Path(cms_dir)
    specs_dir = Path(specs_dir)
    if not (cms_dir / "SOURCE.md").is_file():
        raise FileNotFoundError(
            f"{cms_dir} does not look like the shared CMS folder (no SOURCE.md)"
        )
    types = load_calculation_types(specs_dir)
    out: dict[str, str] = {}
    for year in ALL_YEARS:
        spec = build_year(cms_dir, year, types.get(str(year), {}))
        out[f"{year}.json"] = render(spec)
        out.update(mvp.build_files(cms_dir, spec))
    if write:
        for name, text in out.items():
            (specs_dir / name).write_text(text, encoding="utf-8")
    return out
