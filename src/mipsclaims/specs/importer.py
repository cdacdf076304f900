"""``mipsclaims specs import``: build a year's spec from CMS files the user downloaded.

CMS posts a year's claims single source (CSV first, JSON later) in December or January;
this turns it, with optional measures-data, benchmarks and MVP files, into the same
:class:`YearSpec` the bundled years use, without a release of mipsclaims. Metadata and
benchmarks the user does not give are kept from the year's current spec. Every file is
read and checked before anything is written; the spec then replaces the previous one in
one ``os.replace`` (docs/spec-fidelity.md, "Importing a year").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from . import builder, csv_source
from .errors import SpecImportError
from .models import (
    CalculationType,
    EligibilityOption,
    ImportedFile,
    ImportedRole,
    ImportInfo,
    Measure,
    OptionType,
    PerformanceOption,
    Provenance,
    SourceFile,
    YearSpec,
)

__all__ = ["ImportResult", "SpecImportError", "build_imported", "import_year", "read_single_source"]

_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d\d)(?!\d)")


class _Raw(BaseModel):
    """CMS's JSON single-source shape (its camelCase field names), checked before use."""

    model_config = ConfigDict(extra="allow")


class _RawCode(_Raw):
    code: str = Field(min_length=1)


class _RawProcedure(_RawCode):
    modifierExclusions: list[str] = []
    placesOfServiceExclusions: list[str] = []


class _RawEligibility(_Raw):
    optionGroup: str = Field(pattern=r"^\d{2}$")
    minAge: float | None = None
    maxAge: float | None = None
    sexCode: str | None = Field(default=None, pattern=r"^[MF]$")
    diagnosisCodes: list[str] = []
    diagnosisExclusionCodes: list[str] = []
    procedureCodes: list[_RawProcedure] = []
    additionalProcedureCodes: list[_RawCode] = []


class _RawQuality(_RawCode):
    modifiers: list[str] = []


class _RawPerformance(_Raw):
    optionGroup: str = Field(pattern=r"^\d{2}$")
    optionType: OptionType
    qualityCodes: list[_RawQuality] = Field(min_length=1)


class _RawMeasure(_Raw):
    eligibilityOptions: list[_RawEligibility] = Field(min_length=1)
    performanceOptions: list[_RawPerformance] = Field(min_length=1)


_SINGLE_SOURCE = TypeAdapter(dict[str, _RawMeasure])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_json(path: Path) -> Any:
    """A JSON file, or an error with the line and column where it stops making sense."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SpecImportError(path, f"cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SpecImportError(path, "not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        open_string = exc.msg.startswith("Unterminated string") and "\n" not in text[exc.pos :]
        ends_early = exc.pos >= len(text.rstrip()) or open_string
        hint = " (the file ends early: truncated?)" if ends_early else ""
        raise SpecImportError(
            path, f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}{hint}"
        ) from None


def _where(loc: tuple[int | str, ...]) -> str:
    head, *rest = loc
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return f"measure {head!r}" + (f" {path}" if path else "")


def read_single_source(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """A claims single source (CSV or JSON, told apart by content) in the JSON shape, and
    where each measure starts (``line 12`` / ``measure '226'``) for error messages."""
    path = Path(path)
    try:
        head = path.read_bytes()[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as exc:
        raise SpecImportError(path, f"cannot read ({exc.strerror})") from None
    if not head.startswith((b"{", b"[")):
        logic, lines = csv_source.read(path)
        return logic, {m: f"line {n}" for m, n in lines.items()}
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise SpecImportError(
            path,
            f"not a claims single source: a JSON {type(raw).__name__} where CMS's single "
            "source is an object of measure id -> {eligibilityOptions, performanceOptions}",
        )
    for key in raw:
        if not re.fullmatch(r"\d{3}", key):
            raise SpecImportError(
                path, f"not a claims single source: key {key!r} is not a measure id"
            )
    try:
        _SINGLE_SOURCE.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise SpecImportError(
            path,
            f"not a claims single source: {_where(tuple(error['loc']))}: {error['msg']}",
        ) from None
    return raw, {m: f"measure {m!r}" for m in raw}


def read_measures_data(path: Path) -> dict[str, dict[str, Any]]:
    """CMS's measures-data (a list of measures) by measure id, checked for what we read."""
    raw = _read_json(path)
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        raise SpecImportError(path, "not a measures-data file: expected a list of measures")
    out: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(raw):
        if not isinstance(entry.get("measureId"), str):
            raise SpecImportError(path, f"entry {index}: no measureId")
        out[entry["measureId"]] = entry
    return out


def read_benchmarks(path: Path, year: int) -> dict[str, Any]:
    """The claims benchmarks of ``year`` from CMS's benchmarks file."""
    raw = _read_json(path)
    if not isinstance(raw, list) or not all(isinstance(b, dict) for b in raw):
        raise SpecImportError(path, "not a benchmarks file: expected a list of benchmarks")
    out = {}
    for index, entry in enumerate(raw):
        if entry.get("submissionMethod") != "claims":
            continue
        where = f"entry {index} (measure {entry.get('measureId')!r})"
        if entry.get("performanceYear") != year:
            raise SpecImportError(
                path, f"{where}: performanceYear {entry.get('performanceYear')}, not {year}"
            )
        try:
            out[entry["measureId"]] = builder.claims_benchmarks([entry])[entry["measureId"]]
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise SpecImportError(path, f"{where}: not a benchmark ({exc!r:.80})") from None
    return out


def read_mvp(path: Path) -> list[dict[str, Any]]:
    """CMS's MVP file: a list of MVPs with an id and their quality measure ids."""
    raw = _read_json(path)
    if not isinstance(raw, list):
        raise SpecImportError(path, "not an MVP file: expected a list of MVPs")
    for index, entry in enumerate(raw):
        ok = isinstance(entry, dict) and isinstance(entry.get("mvpId"), str)
        if not ok or not isinstance(entry.get("qualityMeasureIds"), list):
            raise SpecImportError(path, f"entry {index}: an MVP needs mvpId and qualityMeasureIds")
    return raw


def stratum_denominator_codes(options: tuple[PerformanceOption, ...], group: str) -> set[str]:
    """The code every multi-code met / not-met option of a stratum shares (226 stratum 01:
    G9902 "tobacco user"): it puts a claim in that stratum's denominator (measure-logic.md
    section 6). The same rule the builder applies to the CSV's numbered groups."""
    combos = [
        {q.code for q in o.quality_codes}
        for o in options
        if o.option_group == group
        and o.option_type in ("performanceMet", "performanceNotMet")
        and len(o.quality_codes) > 1
    ]
    return set.intersection(*combos) if combos else set()


def _logic(
    raw: dict[str, Any], multi_rate: bool
) -> tuple[tuple[EligibilityOption, ...], tuple[PerformanceOption, ...]]:
    performance = tuple(builder.performance_option(p) for p in raw["performanceOptions"])
    eligibility = []
    for e in raw["eligibilityOptions"]:
        option = builder.eligibility_option(e)
        if multi_rate:
            extra = stratum_denominator_codes(performance, option.option_group)
            codes = tuple(sorted(set(option.additional_procedure_codes) | extra))
            option = option.model_copy(update={"additional_procedure_codes": codes})
        eligibility.append(option)
    return tuple(eligibility), performance


def _calculation_type(measure_id: str, year: int) -> CalculationType | None:
    """The contract's calculation type (measure-logic.md section 5): the year's entry, else
    the latest earlier year that lists the measure."""
    from . import specs_dir

    table = builder.load_calculation_types(specs_dir())
    for y in sorted((int(k) for k in table), reverse=True):
        if y <= year and measure_id in table[str(y)]:
            return table[str(y)][measure_id]
    return None


def _current(year: int) -> YearSpec | None:
    """The spec the import builds on: the year's current one; the bundled one when a
    damaged import is in the way (importing again is how to repair it); None if neither."""
    from . import ALL_YEARS, SpecFileError, UnsupportedYearError, load, specs_dir

    try:
        return load(year)
    except UnsupportedYearError:
        return None
    except SpecFileError:
        if year not in ALL_YEARS:
            return None
        return YearSpec.model_validate_json((specs_dir() / f"{year}.json").read_bytes())


@dataclass(frozen=True)
class ImportResult:
    spec: YearSpec
    path: Path
    left_out: tuple[str, ...]


def build_imported(
    year: int,
    single_source: Path,
    *,
    measures_data: Path | None = None,
    benchmarks: Path | None = None,
    mvp: Path | None = None,
    base: YearSpec | None = None,
) -> tuple[YearSpec, tuple[str, ...]]:
    """The spec of ``year`` from the given CMS files (nothing written).

    ``base`` (default: the year's current spec) supplies the metadata and benchmarks of
    files not given. Returns the spec and notes on measures left out.
    """
    single_source = Path(single_source)
    _check_year_in_name(single_source, year)
    logic, where = read_single_source(single_source)
    base = _current(year) if base is None else base
    meta = read_measures_data(Path(measures_data)) if measures_data else None
    if meta is None and base is None:
        raise SpecImportError(
            single_source,
            f"mipsclaims has no {year} spec to take measure metadata from: give CMS's "
            f"measures-data file of {year} with --measures-data",
        )
    bench = read_benchmarks(Path(benchmarks), year) if benchmarks else None
    if mvp:
        read_mvp(Path(mvp))

    if meta is not None:
        expected = builder.claims_measure_ids(meta)
        for measure_id in logic:
            if measure_id not in meta:
                raise SpecImportError(
                    single_source,
                    f"{where[measure_id]}: measure {measure_id} is not in "
                    f"{Path(measures_data or '').name}",
                )
    else:
        assert base is not None
        expected = list(base.measures)
        for measure_id in logic:
            if measure_id not in base.measures:
                raise SpecImportError(
                    single_source,
                    f"{where[measure_id]}: measure {measure_id} is not a claims measure of "
                    f"{year}; give CMS's {year} measures-data with --measures-data",
                )
    missing = [m for m in expected if m not in logic]
    if missing:
        raise SpecImportError(
            single_source,
            f"no rows for claims measure(s) {', '.join(missing)} (truncated or incomplete file?)",
        )

    measures: dict[str, Measure] = {}
    left_out: list[str] = []
    for measure_id in sorted(logic):
        old = base.measures.get(measure_id) if base else None
        if meta is not None:
            calc = _calculation_type(measure_id, year)
            if calc is None:
                left_out.append(
                    f"measure {measure_id}: no calculation type in measure-logic.md section 5 "
                    "(a new measure needs a release of mipsclaims to be counted)"
                )
                continue
            try:
                measure = builder.measure_from(year, meta[measure_id], {}, None, calc, [])
            except (KeyError, TypeError, ValidationError) as exc:
                raise SpecImportError(
                    Path(measures_data or ""),
                    f"measure {measure_id}: incomplete measures-data entry ({exc!r:.80})",
                ) from None
        else:
            assert old is not None
            measure = old
        eligibility, performance = _logic(logic[measure_id], measure.is_multi_rate)
        benchmark = bench.get(measure_id) if bench is not None else (old and old.benchmark)
        measures[measure_id] = measure.model_copy(
            update={
                "eligibility_options": eligibility,
                "performance_options": performance,
                "benchmark": benchmark,
            }
        )

    given: list[tuple[Path | None, ImportedRole]] = [
        (single_source, "single-source"),
        (measures_data, "measures-data"),
        (benchmarks, "benchmarks"),
        (mvp, "mvp"),
    ]
    files = tuple(
        ImportedFile(name=Path(p).name, role=role, sha256=_sha256(Path(p)))
        for p, role in given
        if p
    )
    inherited = [
        what
        for what, path in (("measure metadata", measures_data), ("benchmarks", benchmarks))
        if not path
    ]
    base_name = ""
    if inherited and base is not None:
        source = "imported" if base.imported else "bundled"
        base_name = f"{' and '.join(inherited)} of the {source} {year} spec"
    spec = YearSpec(
        performance_year=year,
        coding_year=year,
        has_claims_logic=True,
        data_completeness_threshold=base.data_completeness_threshold
        if base
        else builder.data_completeness_threshold(year),
        case_minimum=base.case_minimum if base else builder.CASE_MINIMUM,
        measures=measures,
        provenance=Provenance(
            upstream_repository="",
            upstream_commit="",
            files=tuple(SourceFile(path=f.name, upstream_path="", sha256=f.sha256) for f in files),
            builder="mipsclaims.specs.importer",
        ),
        imported=ImportInfo(
            imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            files=files,
            inherited=base_name,
            tool_version=_version(),
        ),
    )
    return spec, tuple(left_out)


def _version() -> str:
    try:
        return package_metadata.version("mipsclaims")
    except package_metadata.PackageNotFoundError:
        return ""


def _check_year_in_name(path: Path, year: int) -> None:
    """CMS names its files by year; importing 2025's file as 2026 is a slip worth stopping."""
    years = {int(y) for y in _YEAR_IN_NAME.findall(path.name)}
    if years and year not in years:
        raise SpecImportError(
            path,
            f"the file name says {', '.join(map(str, sorted(years)))}, not {year}; "
            "rename the file if it really is the single source of that year",
        )


def _write_atomic(target: Path, data: bytes) -> None:
    """Write beside the target, then rename over it: readers see the old or the new file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # a spec holds no PHI; mkstemp makes it 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_year(
    year: int,
    single_source: Path,
    *,
    measures_data: Path | None = None,
    benchmarks: Path | None = None,
    mvp: Path | None = None,
) -> ImportResult:
    """Build ``year`` from CMS files and make it the spec every command and API call uses.

    Everything is read and checked first; a bad file raises :class:`SpecImportError` and
    leaves the previous spec untouched.
    """
    from . import reload, user_specs_dir

    spec, left_out = build_imported(
        year, single_source, measures_data=measures_data, benchmarks=benchmarks, mvp=mvp
    )
    folder = user_specs_dir()
    target = folder / f"{year}.json"
    _write_atomic(target, builder.render(spec).encode("utf-8"))
    if mvp:
        # CMS's own shape, checked; MVP scoring builds its MVP set from it.
        _write_atomic(folder / f"mvp-{year}.cms.json", Path(mvp).read_bytes())
    reload()
    return ImportResult(spec=spec, path=target, left_out=left_out)
