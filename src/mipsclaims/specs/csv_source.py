"""CMS's claims single source CSV, read into the shape of the JSON single source.

CMS publishes a year's claims coding first as a CSV of data elements
(``YYYY_Claims_SingleSource_vN.csv``), one row per code; the grammar is documented in
docs/spec-fidelity.md. :func:`read` turns it into the ``{measureId: {eligibilityOptions,
performanceOptions}}`` dictionaries of ``qpp-single-source-YYYY.json``, so the builder has
one input shape. Anything outside the grammar is a :class:`SpecImportError` naming the file
and line: a half-understood row would silently change who is counted.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SpecImportError

COLUMNS = (
    "Measure ID",
    "DATA ELEMENT NAME",
    "CODING SYSTEM",
    "CODE",
    "MODIFIER",
    "PLACE OF SERVICE",
    "AGE",
    "GENDER",
)

ROLE_TO_OPTION_TYPE = {
    "PN": "performanceMet",
    "PN_X": "performanceNotMet",
    "PD_Exl": "eligiblePopulationExclusion",
    "PD_Exe": "eligiblePopulationException",
}

#: Which CODING SYSTEM each element kind may use (I10 = ICD-10-CM, C4 = CPT-4).
CODING_SYSTEMS = {
    "DX_CODE": {"I10"},
    "ENCOUNTER_CODE": {"C4", "HCPCS"},
    "PROC_CODE": {"C4", "HCPCS"},
    "CPT_II": {"CPT_II"},
    "G_CODE": {"HCPCS"},
}
QUALITY_KINDS = ("CPT_II", "G_CODE")

_ELEMENT = re.compile(
    r"(?P<kind>DX_CODE|ENCOUNTER_CODE|PROC_CODE|CPT_II|G_CODE)"
    r"(?:_(?P<combo>\d+)(?=_[A-Z]))?"
    r"(?:_(?P<role>PD_Exl|PD_Exe|PN_X|PN|PD|DENOM_CODE))?"
    r"(?:_(?P<group>[1-9]))?"
)
_MEASURE_ID = re.compile(r"(?P<base>\d{1,3})(?:\.(?P<group>\d{2}))?ᵻ?")
_AGE_RANGE = re.compile(r"(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)")
_AGE_MIN = re.compile(r"≥\s*(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class _Row:
    line: int
    measure_id: str
    kind: str
    combo: str | None
    role: str | None
    group: str
    code: str
    modifier: str
    modifier_exclusions: tuple[str, ...]
    pos_exclusions: tuple[str, ...]
    age: tuple[float, float | None]
    sex: str | None


def _exclusions(text: str, what: str) -> tuple[str, ...]:
    """``"≠GQ, GT"`` -> ("GQ", "GT"): the CSV writes exclusions as 'not equal to' lists."""
    if not text:
        return ()
    if not text.startswith("≠"):
        raise ValueError(f"{what} {text!r} is not an exclusion list ('≠…')")
    values = tuple(v.strip().upper() for v in text[1:].split(","))
    if not all(values):
        raise ValueError(f"{what} {text!r} has an empty entry")
    return values


def _age(text: str) -> tuple[float, float | None]:
    """``"18 - 75"`` -> (18, 75); ``"≥12"`` -> (12, None)."""
    if match := _AGE_RANGE.fullmatch(text):
        return float(match.group(1)), float(match.group(2))
    if match := _AGE_MIN.fullmatch(text):
        return float(match.group(1)), None
    raise ValueError(f"AGE {text!r} is neither 'N - M' nor '≥N'")


def _sex(text: str) -> str | None:
    """``"M, F"`` (either) -> None, ``"F"`` / ``"M"`` -> that sex."""
    values = {s.strip() for s in text.split(",")}
    if values == {"M", "F"}:
        return None
    if values in ({"M"}, {"F"}):
        return values.pop()
    raise ValueError(f"GENDER {text!r} is not 'M', 'F' or 'M, F'")


def _parse(line: int, raw: dict[str, str]) -> _Row:
    element = raw["DATA ELEMENT NAME"]
    match = _ELEMENT.fullmatch(element)
    if not match:
        raise ValueError(f"unknown DATA ELEMENT NAME {element!r}")
    kind, combo, role, group_digit = match.group("kind", "combo", "role", "group")
    is_quality = kind in QUALITY_KINDS
    if is_quality and role is None:
        raise ValueError(f"quality-code element {element!r} has no role (PN, PN_X, PD_Exl ...)")
    if not is_quality and (combo or role not in (None, "PD_Exl")):
        raise ValueError(f"eligibility element {element!r} has a quality-code role")
    if kind != "DX_CODE" and not is_quality and role:
        raise ValueError(f"procedure element {element!r} cannot be an exclusion")
    group = f"{int(group_digit) - 1:02d}" if group_digit else "00"
    measure = _MEASURE_ID.fullmatch(raw["Measure ID"])
    if not measure:
        raise ValueError(f"Measure ID {raw['Measure ID']!r} is not a measure number")
    if measure.group("group") is not None and measure.group("group") != group:
        raise ValueError(
            f"Measure ID {raw['Measure ID']!r} names option group {measure.group('group')} "
            f"but the element {element!r} group {group}"
        )
    system = raw["CODING SYSTEM"]
    if system not in CODING_SYSTEMS[kind]:
        raise ValueError(f"{kind} in CODING SYSTEM {system!r}")
    code = raw["CODE"].strip().upper()
    if kind == "DX_CODE":
        code = code.replace(".", "")
    if not code or not code.isalnum():
        raise ValueError(f"CODE {raw['CODE']!r} is not a code")
    modifier = ""
    modifier_exclusions: tuple[str, ...] = ()
    if is_quality:
        if raw["MODIFIER"].startswith("≠") or raw["PLACE OF SERVICE"]:
            raise ValueError(f"quality code {code} carries an exclusion list")
        modifier = raw["MODIFIER"].strip().upper()
        if modifier and not modifier.isalnum():
            raise ValueError(f"MODIFIER {raw['MODIFIER']!r} is not one modifier")
    else:
        modifier_exclusions = _exclusions(raw["MODIFIER"], "MODIFIER")
    return _Row(
        line=line,
        measure_id=f"{int(measure.group('base')):03d}",
        kind=kind,
        combo=combo,
        role=role,
        group=group,
        code=code,
        modifier=modifier,
        modifier_exclusions=modifier_exclusions,
        pos_exclusions=_exclusions(raw["PLACE OF SERVICE"], "PLACE OF SERVICE"),
        age=_age(raw["AGE"].strip()),
        sex=_sex(raw["GENDER"]),
    )


def _rows(path: Path) -> list[_Row]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise SpecImportError(path, f"line {line}: not UTF-8 text") from None
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise SpecImportError(path, "line 1: the file is empty") from None
    except csv.Error as exc:
        raise SpecImportError(path, f"line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise SpecImportError(
            path,
            f"line 1: missing column(s) {', '.join(missing)}; a claims single source CSV "
            f"has {', '.join(COLUMNS)}",
        )
    rows: list[_Row] = []
    try:
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                raise SpecImportError(
                    path,
                    f"line {line}: {len(values)} fields where the header has {len(header)} "
                    "(a garbled row, or the file is truncated)",
                )
            raw = {h: v.strip() for h, v in zip(header, values, strict=True)}
            try:
                rows.append(_parse(line, raw))
            except ValueError as exc:
                raise SpecImportError(path, f"line {line}: {exc}") from None
    except csv.Error as exc:
        raise SpecImportError(
            path, f"line {reader.line_num}: {exc} (a garbled row, or the file is truncated)"
        ) from None
    if not rows:
        raise SpecImportError(path, "no data rows after the header (truncated file?)")
    return rows


def read(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """The CSV single source as JSON single-source dictionaries, and each measure's first line.

    Per measure and option group: the denominator rows (DX, ENCOUNTER, PROC) make one
    eligibility option and must share one age band and sex; an unnumbered quality element
    lists alternatives (one option per code), a numbered one (``G_CODE_2_PN``) is one option
    needing all its codes; ``PD`` rows (the union of met and not met) add nothing; a quality
    row's narrower AGE is not kept (docs/spec-fidelity.md, known difference 1).
    """
    rows = _rows(path)
    first_line: dict[str, int] = {}
    eligibility: dict[tuple[str, str], dict[str, Any]] = {}
    band: dict[tuple[str, str], tuple[int, tuple[float, float | None], str | None]] = {}
    performance: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        first_line.setdefault(row.measure_id, row.line)
        key = (row.measure_id, row.group)
        option = eligibility.setdefault(key, {"optionGroup": row.group})
        if row.kind not in QUALITY_KINDS:
            seen = band.setdefault(key, (row.line, row.age, row.sex))
            if (row.age, row.sex) != seen[1:]:
                raise SpecImportError(
                    path,
                    f"line {row.line}: measure {row.measure_id} group {row.group} has another "
                    f"age band or sex than on line {seen[0]}",
                )
            field = "diagnosisExclusionCodes" if row.role else "diagnosisCodes"
            if row.kind == "DX_CODE":
                option.setdefault(field, []).append(row.code)
            else:
                entry: dict[str, Any] = {"code": row.code}
                if row.modifier_exclusions:
                    entry["modifierExclusions"] = list(row.modifier_exclusions)
                if row.pos_exclusions:
                    entry["placesOfServiceExclusions"] = list(row.pos_exclusions)
                option.setdefault("procedureCodes", []).append(entry)
            continue
        quality: dict[str, Any] = {"code": row.code}
        if row.modifier:
            quality["modifiers"] = [row.modifier]
        if row.role == "DENOM_CODE":
            option.setdefault("additionalProcedureCodes", []).append({"code": row.code})
        elif row.role != "PD":
            option_type = ROLE_TO_OPTION_TYPE[row.role or ""]
            combo = row.combo if row.combo else f"line{row.line}"
            perf = performance.setdefault(
                (row.measure_id, row.group, option_type, combo),
                {"optionGroup": row.group, "optionType": option_type, "qualityCodes": []},
            )
            perf["qualityCodes"].append(quality)

    out: dict[str, dict[str, Any]] = {}
    for (measure_id, group), option in eligibility.items():
        if (measure_id, group) not in band:
            raise SpecImportError(
                path,
                f"line {first_line[measure_id]}: measure {measure_id} group {group} has "
                "quality codes but no denominator rows (DX_CODE, ENCOUNTER_CODE, PROC_CODE)",
            )
        _, (min_age, max_age), sex = band[(measure_id, group)]
        option["minAge"] = min_age
        if max_age is not None:
            option["maxAge"] = max_age
        if sex:
            option["sexCode"] = sex
        entry = out.setdefault(measure_id, {"eligibilityOptions": [], "performanceOptions": []})
        entry["eligibilityOptions"].append(option)
    # CMS's JSON lists a measure's options by group, then option type (alphabetical), then
    # file order; the same order here makes a CSV import equal to a JSON one.
    ordered = sorted(performance.items(), key=lambda kv: (kv[0][1], kv[0][2]))
    for (measure_id, *_), perf in ordered:
        out[measure_id]["performanceOptions"].append(perf)
    return out, first_line
