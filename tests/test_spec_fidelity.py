"""Spec fidelity: the normalised specs against CMS's CSV single source.

``measure_specs/`` is built from CMS's JSON single source; CMS also publishes the same
logic as a CSV of data elements (2024, 2025). These tests read the CSV independently of
the builder, turn it into the shape of a spec (per measure and option group), and compare
the two as sets. Every difference must be in ``KNOWN_DIFFERENCES`` with its reason, so a
new one fails; an allow-listed difference that disappears fails too (the list stays true).
The mapping of CSV data elements and every known difference: docs/spec-fidelity.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipsclaims import specs
from mipsclaims.specs import builder
from mipsclaims.specs.models import Measure

YEARS = tuple(sorted(builder.CSV_SINGLE_SOURCE))

ROLE_TO_OPTION_TYPE = {
    "PN": "performanceMet",
    "PN_X": "performanceNotMet",
    "PD_Exl": "eligiblePopulationExclusion",
    "PD_Exe": "eligiblePopulationException",
}

#: Which CODING SYSTEM each element kind uses (I10 = ICD-10-CM, C4 = CPT-4).
CODING_SYSTEMS = {
    "DX_CODE": {"I10"},
    "ENCOUNTER_CODE": {"C4", "HCPCS"},
    "PROC_CODE": {"C4", "HCPCS"},
    "CPT_II": {"CPT_II"},
    "G_CODE": {"HCPCS"},
}

ELEMENT = re.compile(
    r"(?P<kind>DX_CODE|ENCOUNTER_CODE|PROC_CODE|CPT_II|G_CODE)"
    r"(?:_(?P<combo>\d+)(?=_[A-Z]))?"
    r"(?:_(?P<role>PD_Exl|PD_Exe|PN_X|PN|PD|DENOM_CODE))?"
    r"(?:_(?P<group>\d+))?"
)

# A quality-code combination: ((code, modifiers), ...) sorted; an option: (type, combination).
Combo = tuple[tuple[str, tuple[str, ...]], ...]
Age = tuple[float | None, float | None]


@dataclass(frozen=True)
class Element:
    """One parsed ``DATA ELEMENT NAME``."""

    kind: str  # DX_CODE, ENCOUNTER_CODE, PROC_CODE, CPT_II, G_CODE
    combo: str | None  # G_CODE_<n>_...: codes that must appear together
    role: str | None  # PD, PN, PN_X, PD_Exl, PD_Exe, DENOM_CODE; None for DX/procedure lists
    option_group: str  # suffix _1/_2/_3 -> "00"/"01"/"02"; no suffix -> "00"


def parse_element(name: str) -> Element:
    match = ELEMENT.fullmatch(name)
    if not match:
        raise ValueError(f"unknown CSV data element {name!r}")
    kind, combo, role, group = match.group("kind", "combo", "role", "group")
    is_quality = kind in ("CPT_II", "G_CODE")
    if is_quality and role is None:
        raise ValueError(f"quality-code element {name!r} has no role")
    if not is_quality and (combo or role not in (None, "PD_Exl")):
        raise ValueError(f"eligibility element {name!r} has a quality-code role")
    if kind != "DX_CODE" and not is_quality and role:
        raise ValueError(f"procedure element {name!r} cannot be an exclusion")
    option_group = f"{int(group) - 1:02d}" if group else "00"
    return Element(kind, combo, role, option_group)


def parse_age(text: str) -> Age:
    """``"18 - 75"`` -> (18, 75); ``"≥12"`` -> (12, None)."""
    text = text.strip()
    if text.startswith("≥"):
        return float(text[1:]), None
    low, high = (part.strip() for part in text.split("-"))
    return float(low), float(high)


def parse_sex(text: str) -> str | None:
    """``"M, F"`` (both) -> None, else the one sex."""
    values = {s.strip() for s in text.split(",")}
    if values == {"M", "F"}:
        return None
    (only,) = values
    return only


def parse_exclusions(text: str) -> frozenset[str]:
    """``"≠GQ, GT"`` -> {GQ, GT}: the CSV writes exclusions as 'not equal to' lists."""
    if not text:
        return frozenset()
    if not text.startswith("≠"):
        raise ValueError(f"expected an exclusion list ('≠...'), got {text!r}")
    return frozenset(builder.normalise_code(v) for v in text[1:].split(","))


def measure_and_group(csv_measure_id: str) -> tuple[str, str | None]:
    """``"24.01"`` -> ("024", "01"); ``"112ᵻ"`` -> ("112", None) (footnote mark dropped)."""
    base, _, stratum = csv_measure_id.rstrip("ᵻ").partition(".")
    return f"{int(base):03d}", stratum or None


@dataclass
class OptionView:
    """One option group of one measure, in a form both sources can be reduced to."""

    ages: set[Age] = field(default_factory=set)
    sexes: set[str | None] = field(default_factory=set)
    diagnoses: set[str] = field(default_factory=set)
    diagnosis_exclusions: set[str] = field(default_factory=set)
    procedures: set[tuple[str, frozenset[str], frozenset[str]]] = field(default_factory=set)
    additional_codes: set[str] = field(default_factory=set)
    options: set[tuple[str, Combo]] = field(default_factory=set)
    #: CSV only: quality codes whose row states another age than the denominator's.
    narrower_age_codes: set[tuple[str, str, Age]] = field(default_factory=set)

    def aspects(self) -> dict[str, set]:
        return {
            "age": self.ages,
            "sex": self.sexes,
            "diagnoses": self.diagnoses,
            "diagnosis_exclusions": self.diagnosis_exclusions,
            "procedures": self.procedures,
            "additional_codes": self.additional_codes,
            "quality_options": self.options,
            "narrower_age_codes": self.narrower_age_codes,
        }


@dataclass
class CsvMeasure:
    groups: dict[str, OptionView] = field(default_factory=dict)
    #: PD rows: (option group, combo number or None) -> {(code, modifiers)}
    denominator_codes: dict[tuple[str, str | None], set] = field(default_factory=dict)
    #: PN/PN_X/PD_Exl/PD_Exe rows grouped the same way, per option type
    role_codes: dict[tuple[str, str, str | None], set] = field(default_factory=dict)


@dataclass(frozen=True)
class CsvRow:
    line: int
    measure_id: str
    element: Element
    code: str
    modifiers: frozenset[str]  # a quality code's required modifier, or excluded modifiers
    pos_exclusions: frozenset[str]
    age: Age
    sex: str | None


def parse_row(line: int, row: dict[str, str]) -> CsvRow:
    """One CSV row, checked against the grammar in docs/spec-fidelity.md."""
    element = parse_element(row["DATA ELEMENT NAME"])
    measure_id, stratum = measure_and_group(row["Measure ID"])
    if stratum is not None and element.option_group != stratum:
        raise ValueError(f"stratum {stratum} but element group {element.option_group}")
    if row["CODING SYSTEM"] not in CODING_SYSTEMS[element.kind]:
        raise ValueError(f"{element.kind} coded in {row['CODING SYSTEM']!r}")
    code = builder.normalise_code(row["CODE"])
    if element.kind == "DX_CODE":
        code = builder.normalise_icd10(code)
    is_quality = element.kind in ("CPT_II", "G_CODE")
    if is_quality:
        if row["MODIFIER"].startswith("≠") or row["PLACE OF SERVICE"]:
            raise ValueError(f"quality code {code} with an exclusion list")
        modifiers = frozenset({builder.normalise_code(row["MODIFIER"])} - {""})
    else:
        modifiers = parse_exclusions(row["MODIFIER"])
    return CsvRow(
        line=line,
        measure_id=measure_id,
        element=element,
        code=code,
        modifiers=modifiers,
        pos_exclusions=parse_exclusions(row["PLACE OF SERVICE"]),
        age=parse_age(row["AGE"]),
        sex=parse_sex(row["GENDER"]),
    )


def read_csv_view(path: Path) -> dict[str, CsvMeasure]:
    """Reduce the CSV single source to OptionViews (independently of the builder)."""
    rows = []
    for line, raw in enumerate(builder.read_csv_single_source(path), start=2):
        try:
            rows.append(parse_row(line, raw))
        except ValueError as exc:
            raise ValueError(f"{path.name} line {line}: {exc}") from None

    measures: dict[str, CsvMeasure] = {}

    def place(row: CsvRow) -> tuple[CsvMeasure, OptionView]:
        measure = measures.setdefault(row.measure_id, CsvMeasure())
        return measure, measure.groups.setdefault(row.element.option_group, OptionView())

    is_quality = [r.element.kind in ("CPT_II", "G_CODE") for r in rows]
    quality_rows = [r for r, q in zip(rows, is_quality, strict=True) if q]
    denominator_rows = [r for r, q in zip(rows, is_quality, strict=True) if not q]
    for row in denominator_rows:  # first, so quality rows can be checked against them
        _, view = place(row)
        if row.element.kind == "DX_CODE":
            target = view.diagnosis_exclusions if row.element.role else view.diagnoses
            target.add(row.code)
        else:
            view.procedures.add((row.code, row.modifiers, row.pos_exclusions))
        view.ages.add(row.age)
        view.sexes.add(row.sex)

    for row in quality_rows:
        measure, view = place(row)
        group, combo, role = row.element.option_group, row.element.combo, row.element.role
        code = (row.code, tuple(sorted(row.modifiers)))
        if row.sex not in view.sexes:
            raise ValueError(f"{path.name} line {row.line}: another sex than its denominator")
        if role == "DENOM_CODE":
            view.additional_codes.add(row.code)
        elif role == "PD":
            measure.denominator_codes.setdefault((group, combo), set()).add(code)
        else:
            option_type = ROLE_TO_OPTION_TYPE[role]
            measure.role_codes.setdefault((group, option_type, combo), set()).add(code)
            if row.age not in view.ages:
                view.narrower_age_codes.add((option_type, row.code, row.age))

    for measure in measures.values():
        for (group, option_type, combo), codes in measure.role_codes.items():
            view = measure.groups[group]
            if combo is None:  # an unnumbered element lists alternatives: one option per code
                view.options.update((option_type, (c,)) for c in codes)
            else:  # a numbered element is one option needing all of its codes
                view.options.add((option_type, tuple(sorted(codes))))
    return measures


def spec_view(measure: Measure) -> dict[str, OptionView]:
    """The same reduction of a normalised spec measure."""
    views: dict[str, OptionView] = {}
    for option in measure.eligibility_options:
        view = views.setdefault(option.option_group, OptionView())
        view.ages.add((option.min_age, option.max_age))
        view.sexes.add(option.sex)
        view.diagnoses.update(option.diagnosis_codes)
        view.diagnosis_exclusions.update(option.diagnosis_exclusion_codes)
        view.procedures.update(
            (p.code, frozenset(p.modifier_exclusions), frozenset(p.place_of_service_exclusions))
            for p in option.procedure_codes
        )
        view.additional_codes.update(option.additional_procedure_codes)
    for option in measure.performance_options:
        combo = tuple(sorted((q.code, q.modifiers) for q in option.quality_codes))
        views.setdefault(option.option_group, OptionView()).options.add((option.option_type, combo))
    return views


@dataclass(frozen=True)
class Known:
    """An accepted difference: what only the CSV has, what only the spec has, and why."""

    csv_only: frozenset
    spec_only: frozenset
    reason: str


def _frail(*codes: str, age: Age = (66.0, None)) -> frozenset:
    return frozenset(("eligiblePopulationExclusion", c, age) for c in codes)


_FRAILTY = (
    "The CSV limits these exclusion codes (frailty with advanced illness, long-term care, "
    "I-SNP, hospice-like exclusions for older patients) to a narrower age band than the "
    "denominator; the JSON, and so the spec, accepts them at any eligible age. Kept: the "
    "spec (JSON) is the contract; a frailty code on a younger patient is a coding error the "
    "practice made, and CMS's claims analyzer takes exclusion QDCs as reported."
)
_G9902 = (
    "226 stratum 01 needs G9902 (tobacco user) on the claim. The 2025 CSV says so only "
    "through its numbered groups G_CODE_2_PD_2 / G_CODE_3_PD_2 (no DENOM_CODE row as in "
    "2024); the builder derives G9902 from them (csv_stratum_denominator_codes, "
    "measure-logic.md section 6). Kept: the spec."
)

#: (year, measure, option group, aspect) -> the accepted difference. docs/spec-fidelity.md.
KNOWN_DIFFERENCES: dict[tuple[int, str, str, str], Known] = {}
for _year in YEARS:
    KNOWN_DIFFERENCES[(_year, "001", "00", "narrower_age_codes")] = Known(
        _frail("G2081", "G2090", "G2091"), frozenset(), _FRAILTY
    )
    KNOWN_DIFFERENCES[(_year, "112", "00", "narrower_age_codes")] = Known(
        _frail("G2098", "G2099", "G9898"), frozenset(), _FRAILTY
    )
    KNOWN_DIFFERENCES[(_year, "113", "00", "narrower_age_codes")] = Known(
        _frail("G2100", "G2101", "G9901"), frozenset(), _FRAILTY
    )
    KNOWN_DIFFERENCES[(_year, "236", "00", "narrower_age_codes")] = Known(
        _frail("G9910")
        | _frail("G2115", "G2116", age=(66.0, 80.0))
        | _frail("G2118", age=(81.0, None)),
        frozenset(),
        _FRAILTY,
    )
    for _group in ("00", "01"):
        KNOWN_DIFFERENCES[(_year, "418", _group, "narrower_age_codes")] = Known(
            _frail("G9938")
            | _frail("G2126", "G2127", age=(66.0, 80.0))
            | _frail("G2125", age=(81.0, None)),
            frozenset(),
            _FRAILTY,
        )
KNOWN_DIFFERENCES[(2025, "226", "01", "additional_codes")] = Known(
    frozenset(), frozenset({"G9902"}), _G9902
)


@pytest.fixture(scope="module")
def csv_views(cms_dir: Path) -> dict[int, dict[str, CsvMeasure]]:
    return {y: read_csv_view(cms_dir / builder.CSV_SINGLE_SOURCE[y]) for y in YEARS}


def differences(year: int, measure: Measure, csv: CsvMeasure) -> dict[tuple, tuple]:
    """(year, measure, group, aspect) -> (csv only, spec only) for every aspect that differs."""
    spec = spec_view(measure)
    measure_id = measure.measure_id
    found = {}
    for group in sorted(set(spec) | set(csv.groups)):
        csv_aspects = csv.groups.get(group, OptionView()).aspects()
        spec_aspects = spec.get(group, OptionView()).aspects()
        for aspect, csv_values in csv_aspects.items():
            csv_only = frozenset(csv_values - spec_aspects[aspect])
            spec_only = frozenset(spec_aspects[aspect] - csv_values)
            if csv_only or spec_only:
                found[(year, measure_id, group, aspect)] = (csv_only, spec_only)
    return found


@pytest.mark.parametrize("year", YEARS)
def test_csv_and_spec_list_the_same_measures(
    year: int, csv_views: dict[int, dict[str, CsvMeasure]]
) -> None:
    assert set(csv_views[year]) == set(specs.load(year).measures)


def unexplained(found: dict[tuple, tuple], year: int) -> tuple[dict, dict]:
    """(differences not allow-listed or not as listed, allow-listed ones not found)."""
    expected = {
        key: (known.csv_only, known.spec_only)
        for key, known in KNOWN_DIFFERENCES.items()
        if key[0] == year
    }
    unexpected = {k: v for k, v in found.items() if expected.get(k) != v}
    stale = {k: v for k, v in expected.items() if found.get(k) != v}
    return unexpected, stale


@pytest.mark.parametrize("year", YEARS)
def test_every_option_group_matches_the_csv_except_known_differences(
    year: int, csv_views: dict[int, dict[str, CsvMeasure]]
) -> None:
    found = {}
    spec = specs.load(year)
    for measure_id, csv in sorted(csv_views[year].items()):
        found.update(differences(year, spec.measure(measure_id), csv))
    unexpected, stale = unexplained(found, year)
    assert not unexpected, f"new differences (csv only, spec only): {unexpected}"
    assert not stale, f"allow-listed differences no longer found: {stale}"


def test_allow_list_is_exact_both_ways() -> None:
    """An extra code next to an allowed difference is new; a vanished difference is stale."""
    key = (2025, "226", "01", "additional_codes")
    allowed = {key: (frozenset(), frozenset({"G9902"}))}
    assert unexplained(allowed | _other_2025_entries(), 2025) == ({}, {})
    widened = {key: (frozenset(), frozenset({"G9902", "G9903"}))}
    unexpected, stale = unexplained(widened | _other_2025_entries(), 2025)
    assert unexpected == widened and stale == allowed
    new_key = (2025, "047", "00", "diagnoses")
    unexpected, stale = unexplained(
        {new_key: (frozenset({"F0390"}), frozenset())} | allowed | _other_2025_entries(), 2025
    )
    assert set(unexpected) == {new_key} and stale == {}


def _other_2025_entries() -> dict[tuple, tuple]:
    return {
        k: (v.csv_only, v.spec_only)
        for k, v in KNOWN_DIFFERENCES.items()
        if k[0] == 2025 and k[3] != "additional_codes"
    }


def test_allow_list_entries_all_give_a_reason() -> None:
    for key, known in KNOWN_DIFFERENCES.items():
        assert known.reason and (known.csv_only or known.spec_only), key


# --- the CSV's own consistency -------------------------------------------------------------


@pytest.mark.parametrize("year", YEARS)
def test_pd_lists_exactly_the_met_and_not_met_codes(
    year: int, csv_views: dict[int, dict[str, CsvMeasure]]
) -> None:
    """PD ("performance denominator") is the union of PN and PN_X, combination by combination;
    exclusions (PD_Exl) and exceptions (PD_Exe) are listed on their own."""
    for measure_id, csv in csv_views[year].items():
        met_or_not = {}
        for (group, option_type, combo), codes in csv.role_codes.items():
            if option_type in ("performanceMet", "performanceNotMet"):
                met_or_not.setdefault((group, combo), set()).update(codes)
        assert csv.denominator_codes == met_or_not, measure_id


@pytest.mark.parametrize("year", YEARS)
def test_every_group_has_one_age_band_and_one_sex(
    year: int, csv_views: dict[int, dict[str, CsvMeasure]]
) -> None:
    for measure_id, csv in csv_views[year].items():
        for group, view in csv.groups.items():
            assert len(view.ages) == 1 and len(view.sexes) == 1, (measure_id, group)


def test_226_stratum_rule_matches_the_explicit_2024_row(
    csv_views: dict[int, dict[str, CsvMeasure]], cms_dir: Path
) -> None:
    """2024 states G9902 as G_CODE_DENOM_CODE_2; the builder's numbered-group rule, which
    2025 needs, derives the same code from the 2024 rows."""
    assert csv_views[2024]["226"].groups["01"].additional_codes == {"G9902"}
    assert csv_views[2025]["226"].groups["01"].additional_codes == set()
    for year in YEARS:
        rows = builder.read_csv_single_source(cms_dir / builder.CSV_SINGLE_SOURCE[year])
        assert builder.csv_stratum_denominator_codes(rows, "226", "01") == ("G9902",)
        assert builder.csv_stratum_denominator_codes(rows, "226", "02") == ()


def test_2025_json_drops_g9902_that_2024_json_had(cms_dir: Path) -> None:
    """The JSON/CSV disagreement the builder resolves (measure-logic.md section 6)."""

    def stratum_01(year: int) -> dict:
        path = cms_dir / f"single-source/qpp-single-source-{year}.json"
        options = json.loads(path.read_text(encoding="utf-8"))["226"]["eligibilityOptions"]
        return next(o for o in options if o["optionGroup"] == "01")

    assert stratum_01(2024)["additionalProcedureCodes"] == [{"code": "G9902"}]
    assert "additionalProcedureCodes" not in stratum_01(2025)


def test_csv_spot_checks_read_by_hand(csv_views: dict[int, dict[str, CsvMeasure]]) -> None:
    """Values read off the CSV files by eye, to pin the mapping to the data."""
    m145_2024 = csv_views[2024]["145"].groups["00"]
    m145_2025 = csv_views[2025]["145"].groups["00"]
    assert {(m, p) for _, m, p in m145_2024.procedures} == {
        (frozenset({"GQ", "GT", "95"}), frozenset({"02", "10"}))
    }
    assert {(m, p) for _, m, p in m145_2025.procedures} == {
        (frozenset({"GQ", "GT"}), frozenset({"02", "10"}))
    }
    m047 = csv_views[2025]["047"].groups["00"]
    assert {p for _, _, p in m047.procedures} == {frozenset({"23"})}
    assert m047.ages == {(65.0, None)}
    m024 = csv_views[2025]["024"]
    assert ("22310", frozenset(), frozenset()) in m024.groups["01"].procedures
    assert (
        m024.groups["00"].options
        == m024.groups["01"].options
        == {
            ("performanceMet", (("5015F", ()),)),
            ("performanceNotMet", (("5015F", ("8P",)),)),
            ("eligiblePopulationExclusion", (("G9688", ()),)),
        }
    )
    m001 = csv_views[2025]["001"].groups["00"]
    assert m001.ages == {(18.0, 75.0)} and m001.sexes == {None}
    assert ("performanceNotMet", (("M1372", ()),)) in m001.options
    assert csv_views[2025]["112"].groups["00"].sexes == {"F"}
    assert csv_views[2024]["155"].groups["00"].additional_codes == {"1100F"}


# --- the reader and the comparison on hand-made input ---------------------------------------

HEADER = (
    '\ufeffMeasure ID,DATA ELEMENT NAME,"CODING SYSTEM",CODE,MODIFIER,"PLACE OF SERVICE",AGE,GENDER'
)
SMALL_CSV = """
24,DX_CODE_1,I10,M80.08XA,,,≥50,"M, F"
24,DX_CODE_PD_Exl_1,I10,c50.1,,,≥50,"M, F"
24,ENCOUNTER_CODE_1,C4,99202,"≠GQ, GT","≠02, 10",≥50,"M, F"
24,CPT_II_PD_1,CPT_II,5015F,8P,,≥50,"M, F"
24,CPT_II_PD_1,CPT_II,5015F,,,≥50,"M, F"
24,CPT_II_PN_1,CPT_II,5015F,,,≥50,"M, F"
24,CPT_II_PN_X_1,CPT_II,5015F,8P,,≥50,"M, F"
24,G_CODE_PD_Exl_1,HCPCS,G2081,,,≥66,"M, F"
24,G_CODE_PD_Exl_1,HCPCS,G9688,,,≥50,"M, F"
24.01,DX_CODE_2,I10,M80.08XA,,,≥50,"M, F"
24.01,PROC_CODE_2,C4,22310,,,≥50,"M, F"
24.01,G_CODE_2_PD_2,HCPCS,G9902,,,≥50,"M, F"
24.01,G_CODE_2_PD_2,HCPCS,G9906,,,≥50,"M, F"
24.01,G_CODE_2_PN_2,HCPCS,G9902,,,≥50,"M, F"
24.01,G_CODE_2_PN_2,HCPCS,G9906,,,≥50,"M, F"
24.01,G_CODE_DENOM_CODE_2,HCPCS,G9902,,,≥50,"M, F"
112ᵻ,ENCOUNTER_CODE,C4,99385,,,41 - 74,F
112ᵻ,G_CODE_PD_Exe,HCPCS,G9899,1P,,41 - 74,F
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "single-source.csv"
    path.write_text(HEADER + "\r\n" + body.strip().replace("\n", "\r\n") + "\r\n", "utf-8")
    return path


def test_reader_maps_each_element_as_documented(tmp_path: Path) -> None:
    views = read_csv_view(_write(tmp_path, SMALL_CSV))
    assert set(views) == {"024", "112"}
    g00, g01 = views["024"].groups["00"], views["024"].groups["01"]
    assert g00.ages == {(50.0, None)} and g00.sexes == {None}
    assert g00.diagnoses == {"M8008XA"} and g00.diagnosis_exclusions == {"C501"}
    assert g00.procedures == {("99202", frozenset({"GQ", "GT"}), frozenset({"02", "10"}))}
    assert g00.options == {
        ("performanceMet", (("5015F", ()),)),
        ("performanceNotMet", (("5015F", ("8P",)),)),
        ("eligiblePopulationExclusion", (("G2081", ()),)),
        ("eligiblePopulationExclusion", (("G9688", ()),)),
    }
    assert g00.narrower_age_codes == {("eligiblePopulationExclusion", "G2081", (66.0, None))}
    assert g01.procedures == {("22310", frozenset(), frozenset())}
    assert g01.options == {("performanceMet", (("G9902", ()), ("G9906", ())))}
    assert g01.additional_codes == {"G9902"}
    assert views["024"].denominator_codes == {
        ("00", None): {("5015F", ()), ("5015F", ("8P",))},
        ("01", "2"): {("G9902", ()), ("G9906", ())},
    }
    m112 = views["112"].groups["00"]
    assert m112.ages == {(41.0, 74.0)} and m112.sexes == {"F"}
    assert m112.options == {("eligiblePopulationException", (("G9899", ("1P",)),))}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('1,CPT_II_XX,CPT_II,3044F,,,18 - 75,"M, F"', r"line 2: unknown CSV data element"),
        ('1,G_CODE,HCPCS,G2081,,,18 - 75,"M, F"', r"line 2: .* has no role"),
        ('1,ENCOUNTER_CODE_PN,C4,99202,,,18 - 75,"M, F"', r"line 2: .* quality-code role"),
        ('24.01,PROC_CODE_1,C4,22310,,,≥50,"M, F"', r"line 2: stratum 01 but element group 00"),
        ('1,DX_CODE,C4,E11.65,,,18 - 75,"M, F"', r"line 2: DX_CODE coded in 'C4'"),
        ('1,ENCOUNTER_CODE,C4,99202,GQ,,18 - 75,"M, F"', r"line 2: expected an exclusion list"),
        ('1,G_CODE_PN,HCPCS,M1211,≠GQ,,18 - 75,"M, F"', r"line 2: quality code M1211 with an excl"),
        ('1,G_CODE_PN,HCPCS,M1211,,,18 to 75,"M, F"', r"line 2: "),
        (
            "1,DX_CODE,I10,E11.65,,,18 - 75,F\n1,G_CODE_PN,HCPCS,M1211,,,18 - 75,M",
            r"line 3: another sex",
        ),
    ],
)
def test_reader_rejects_what_it_does_not_understand(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_csv_view(_write(tmp_path, row))


def _mutated(measure: Measure, group: str, **changes: object) -> Measure:
    options = tuple(
        o.model_copy(update=changes) if o.option_group == group else o
        for o in measure.eligibility_options
    )
    return measure.model_copy(update={"eligibility_options": options})


def test_comparison_reports_a_changed_spec(
    csv_views: dict[int, dict[str, CsvMeasure]],
) -> None:
    """The fidelity test can fail: each kind of drift shows up as exactly that difference."""
    csv = csv_views[2025]["047"]
    m047 = specs.load(2025).measure("047")
    assert differences(2025, m047, csv) == {}

    first = m047.eligibility_options[0].procedure_codes[0]
    no_pos = first.model_copy(update={"place_of_service_exclusions": ()})
    changed = _mutated(
        m047,
        "00",
        procedure_codes=(no_pos, *m047.eligibility_options[0].procedure_codes[1:]),
        max_age=85.0,
        diagnosis_codes=("Z0000",),
    )
    found = differences(2025, changed, csv)
    assert found == {
        (2025, "047", "00", "procedures"): (
            frozenset({(first.code, frozenset(), frozenset({"23"}))}),
            frozenset({(first.code, frozenset(), frozenset())}),
        ),
        (2025, "047", "00", "age"): (
            frozenset({(65.0, None)}),
            frozenset({(65.0, 85.0)}),
        ),
        (2025, "047", "00", "diagnoses"): (frozenset(), frozenset({"Z0000"})),
    }

    not_met = next(p for p in m047.performance_options if p.option_type == "performanceNotMet")
    relaxed = not_met.model_copy(
        update={"quality_codes": (not_met.quality_codes[0].model_copy(update={"modifiers": ()}),)}
    )
    others = tuple(p for p in m047.performance_options if p is not not_met)
    found = differences(
        2025, m047.model_copy(update={"performance_options": (*others, relaxed)}), csv
    )
    assert found == {
        (2025, "047", "00", "quality_options"): (
            frozenset({("performanceNotMet", (("1123F", ("8P",)),))}),
            frozenset({("performanceNotMet", (("1123F", ()),))}),
        )
    }


# --- properties of the small parsers ------------------------------------------------------

KINDS = st.sampled_from(["CPT_II", "G_CODE"])
ROLES = st.sampled_from(["PD", "PN", "PN_X", "PD_Exl", "PD_Exe", "DENOM_CODE"])


@settings(max_examples=60, deadline=None)
@given(
    kind=KINDS,
    combo=st.none() | st.integers(1, 12).map(str),
    role=ROLES,
    group=st.none() | st.integers(1, 3),
)
def test_quality_element_names_parse_back(
    kind: str, combo: str | None, role: str, group: int | None
) -> None:
    name = "_".join(p for p in (kind, combo, role, None if group is None else str(group)) if p)
    element = parse_element(name)
    assert (element.kind, element.combo, element.role) == (kind, combo, role)
    assert element.option_group == (f"{group - 1:02d}" if group else "00")


@settings(max_examples=60, deadline=None)
@given(low=st.integers(0, 120), span=st.none() | st.integers(0, 60))
def test_age_bands_parse_back(low: int, span: int | None) -> None:
    if span is None:
        assert parse_age(f"≥{low}") == (float(low), None)
    else:
        assert parse_age(f"{low} - {low + span}") == (float(low), float(low + span))
