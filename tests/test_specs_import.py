"""``mipsclaims specs import``, the provisional 2026 spec, and where imported specs live.

Exactness: importing CMS's 2024 and 2025 files (CSV or JSON single source) rebuilds the
bundled specs byte for byte, apart from the two provenance fields that say where a spec
came from (docs/spec-fidelity.md, "Importing a year"). Bad files fail with the file and
row, and the previous import stays as it was.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mipsclaims import specs
from mipsclaims.cli import app
from mipsclaims.specs import builder, importer
from mipsclaims.specs.errors import SpecImportError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_2026 = REPO / "examples" / "pt-clinic-2026.837"
EXAMPLE_2025 = REPO / "examples" / "pt-clinic-2025.837"
runner = CliRunner()


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An empty per-user specs directory for this test; specs reloaded before and after."""
    folder = tmp_path / "user-specs"
    monkeypatch.setenv(specs.SPECS_DIR_ENV, str(folder))
    specs.reload()
    yield folder
    monkeypatch.undo()
    specs.reload()


def _single_source(cms_dir: Path, year: int, kind: str) -> Path:
    if kind == "csv":
        return cms_dir / builder.CSV_SINGLE_SOURCE[year]
    return cms_dir / f"single-source/qpp-single-source-{year}.json"


def _cms_year_files(cms_dir: Path, year: int) -> dict[str, Path]:
    return {
        "measures_data": cms_dir / f"measures/measures-data-{year}.json",
        "benchmarks": cms_dir / f"benchmarks/benchmarks-{year}.json",
    }


# --- exactness ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["csv", "json"])
@pytest.mark.parametrize("year", [2024, 2025])
def test_import_of_cms_files_reproduces_the_bundled_spec(
    cms_dir: Path, year: int, kind: str
) -> None:
    bundled_text = (specs.specs_dir() / f"{year}.json").read_text(encoding="utf-8")
    bundled = specs.YearSpec.model_validate_json(bundled_text)
    built, left_out = importer.build_imported(
        year, _single_source(cms_dir, year, kind), **_cms_year_files(cms_dir, year)
    )
    assert left_out == ()
    assert built.imported is not None and built.imported.inherited == ""
    assert [f.role for f in built.imported.files] == [
        "single-source",
        "measures-data",
        "benchmarks",
    ]
    # Everything but "where it came from" is the bundled file, byte for byte.
    same_origin = built.model_copy(update={"provenance": bundled.provenance, "imported": None})
    assert builder.render(same_origin) == bundled_text


def test_csv_import_without_metadata_files_keeps_the_bundled_metadata(cms_dir: Path) -> None:
    built, _ = importer.build_imported(2025, _single_source(cms_dir, 2025, "csv"))
    bundled = specs.load(2025)
    assert built.measures == bundled.measures
    assert built.imported and "measure metadata and benchmarks of the bundled 2025 spec" in (
        built.imported.inherited
    )


# --- the provisional 2026 spec -----------------------------------------------------------


def test_2026_is_provisional_with_2025_codes_and_2026_metadata() -> None:
    s2025, s2026 = specs.load(2025), specs.load(2026)
    assert s2026.has_claims_logic and s2026.is_provisional and s2026.coding_year == 2025
    assert not s2025.is_provisional and s2025.coding_year == 2025
    assert list(s2026.measures) == list(s2025.measures)  # the same 25 claims measures
    for measure_id, m in s2026.measures.items():
        old = s2025.measures[measure_id]
        assert m.eligibility_options == old.eligibility_options, measure_id
        assert m.performance_options == old.performance_options, measure_id
        assert (m.metric_type, m.strata, m.calculation_type) == (
            old.metric_type,
            old.strata,
            old.calculation_type,
        )
    # 2026's own metadata: programs, the removed 7-point cap, benchmarks.
    assert {m for m, x in s2026.measures.items() if x.is_mvp_only} == {"112", "113", "128"}
    assert not any(x.allowed_programs for x in s2025.measures.values())  # 2025 file unchanged
    assert "M1370" in s2026.measure("128").allowed_programs
    assert s2026.measure("320").is_seven_point_cap_removed
    assert not s2025.measure("320").is_seven_point_cap_removed
    assert s2026.measure("406").is_seven_point_cap_removed
    topped = {m for m, x in s2026.measures.items() if x.is_topped_out_by_program}
    assert {"047", "134", "226"} <= topped and "001" not in topped
    assert sum(1 for x in s2026.measures.values() if x.benchmark) == 18
    assert all(x.benchmark.performance_year == 2026 for x in s2026.measures.values() if x.benchmark)
    # 226 stratum 01 keeps the G9902 requirement of its 2025 coding.
    groups = {e.option_group: e for e in s2026.measure("226").eligibility_options}
    assert groups["01"].additional_procedure_codes == ("G9902",)


def test_provisional_note_names_the_coding_year_and_the_command() -> None:
    note = specs.provisional_note(specs.load(2026))
    assert note is not None
    assert "2025 codes" in note and "mipsclaims specs import --year 2026" in note
    assert specs.provisional_note(specs.load(2025)) is None
    listing = runner.invoke(app, ["specs", "list", "-y", "2026"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and listing.output.startswith("Provisional 2026")
    assert "provisional: 2025 codes" in listing.output and "MVP / APP Plus only" in listing.output
    shown = runner.invoke(app, ["specs", "show", "128", "-y", "2026"], env={"COLUMNS": "200"})
    assert shown.output.startswith("Provisional 2026")
    assert "(not traditional MIPS: MVP or APP Plus only)" in shown.output
    assert "Provisional" not in runner.invoke(app, ["specs", "show", "128", "-y", "2025"]).output


def test_provisional_build_refuses_a_coding_that_counts_strata_differently() -> None:
    meta = {"measureId": "226", "metricType": "multiPerformanceRate", "strata": [{"name": "a"}]}
    coding = {**meta, "strata": [{"name": "a"}, {"name": "b"}]}
    with pytest.raises(ValueError, match="strata"):
        builder.check_structure("226", meta, coding)
    with pytest.raises(ValueError, match="metric type"):
        builder.check_structure("226", meta, {**meta, "metricType": "singlePerformanceRate"})
    builder.check_structure("226", meta, dict(meta))


# --- importing replaces the spec everywhere ----------------------------------------------


def _as_2026(cms_dir: Path, tmp_path: Path) -> Path:
    """CMS's 2025 CSV under a 2026 name: stands in for the 2026 file CMS has not posted."""
    target = tmp_path / "2026_Claims_SingleSource_v1.csv"
    shutil.copyfile(_single_source(cms_dir, 2025, "csv"), target)
    return target


def test_import_replaces_the_provisional_spec_for_every_command(
    cms_dir: Path, tmp_path: Path, user_dir: Path
) -> None:
    provisional = runner.invoke(
        app, ["report", "-y", "2026", "-q", "-f", "json", str(EXAMPLE_2026)]
    )
    assert provisional.exit_code == 0, provisional.output
    before = json.loads(provisional.stdout)
    assert before["spec"]["provisional"] is True and before["spec"]["coding_year"] == 2025

    source = _as_2026(cms_dir, tmp_path)
    out = runner.invoke(app, ["specs", "import", "-y", "2026", "--single-source", str(source)])
    assert out.exit_code == 0, out.output
    assert (user_dir / "2026.json").is_file()
    spec = specs.load(2026)
    assert not spec.is_provisional and spec.imported is not None
    assert spec.imported.files[0].name == source.name

    after = runner.invoke(app, ["report", "-y", "2026", "-q", "-f", "json", str(EXAMPLE_2026)])
    payload = json.loads(after.stdout)
    assert payload["spec"]["provisional"] is False and payload["spec"]["source"] == "imported"
    assert payload["spec"]["files"][0]["name"] == source.name
    # The same codes as the provisional spec (2025's), so the same counts.
    assert payload["rows"] == before["rows"]
    listing = runner.invoke(app, ["specs", "list", "-y", "2026"], env={"COLUMNS": "200"})
    assert "imported" in listing.output and source.name in listing.output
    assert "Provisional" not in listing.output
    table = runner.invoke(app, ["report", "-y", "2026", "-q", str(EXAMPLE_2026)])
    assert "Provisional" not in table.stdout and "2026 spec: imported" in table.stdout


def test_import_accepts_a_year_mipsclaims_has_never_seen(
    cms_dir: Path, tmp_path: Path, user_dir: Path
) -> None:
    """2027: no bundled spec, so measures-data is required; then the year just works."""
    renamed = {}
    for name, path in {
        "single": _single_source(cms_dir, 2025, "json"),
        "meta": cms_dir / "measures/measures-data-2025.json",
    }.items():
        renamed[name] = tmp_path / path.name.replace("2025", "2027")
        shutil.copyfile(path, renamed[name])
    with pytest.raises(SpecImportError, match="--measures-data"):
        importer.import_year(2027, renamed["single"])
    assert not (user_dir / "2027.json").exists()
    result = importer.import_year(2027, renamed["single"], measures_data=renamed["meta"])
    assert result.spec.performance_year == 2027 and len(result.spec.measures) == 25
    assert 2027 in specs.supported_years(claims_logic_only=True)
    assert specs.load(2027).measure("226").option_groups == ("00", "01", "02")
    assert all(m.benchmark is None for m in specs.load(2027).measures.values())


# --- bad files -----------------------------------------------------------------------------

HEADER = "Measure ID,DATA ELEMENT NAME,CODING SYSTEM,CODE,MODIFIER,PLACE OF SERVICE,AGE,GENDER\n"


def _csv_with(cms_dir: Path, tmp_path: Path, edit) -> Path:
    lines = _single_source(cms_dir, 2025, "csv").read_text(encoding="utf-8-sig").splitlines()
    target = tmp_path / "2026_Claims_SingleSource_bad.csv"
    target.write_text("\n".join(edit(lines)), encoding="utf-8")
    return target


BAD_CSV = {
    "missing column": (
        lambda lines: [lines[0].replace(",GENDER", "")] + [x.rsplit(",", 1)[0] for x in lines[1:]],
        r"line 1: missing column\(s\) GENDER",
    ),
    "garbled element": (
        lambda lines: [*lines[:5], '1,DX_CODEX,I10,E11.9,,,18 - 75,"M, F"', *lines[5:]],
        r"line 6: unknown DATA ELEMENT NAME 'DX_CODEX'",
    ),
    "garbled age": (
        lambda lines: [*lines[:9], '1,DX_CODE,I10,E11.9,,,eighteen,"M, F"', *lines[9:]],
        r"line 10: AGE 'eighteen'",
    ),
    "wrong coding system": (
        lambda lines: [*lines[:3], '1,G_CODE_PN,I10,G8420,,,18 - 75,"M, F"', *lines[3:]],
        r"line 4: G_CODE in CODING SYSTEM 'I10'",
    ),
    "unknown measure": (
        lambda lines: [*lines[:7], '999,DX_CODE,I10,E11.9,,,18 - 75,"M, F"', *lines[7:]],
        r"line 8: measure 999 is not a claims measure of 2026",
    ),
    "truncated mid-row": (
        lambda lines: [*lines[:4000], lines[4000][:12]],
        r"line 4001: \d fields where the header has 8 \(a garbled row, or the file is truncated\)",
    ),
    "truncated between rows": (
        lambda lines: lines[: len(lines) // 2],
        r"no rows for claims measure\(s\) .*422 \(truncated or incomplete file\?\)",
    ),
    "unterminated quote": (
        lambda lines: [*lines[:20], '1,DX_CODE,I10,E11.9,,,18 - 75,"M, F'],
        r"line 21: .*(garbled row, or the file is truncated)",
    ),
}


def _previous_import(cms_dir: Path, tmp_path: Path) -> bytes:
    importer.import_year(2026, _as_2026(cms_dir, tmp_path))
    return (specs.user_specs_dir() / "2026.json").read_bytes()


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_bad_csv_names_file_and_line_and_changes_nothing(
    cms_dir: Path, tmp_path: Path, user_dir: Path, case: str
) -> None:
    before = _previous_import(cms_dir, tmp_path)
    edit, message = BAD_CSV[case]
    bad = _csv_with(cms_dir, tmp_path, edit)
    with pytest.raises(SpecImportError, match=message) as info:
        importer.import_year(2026, bad)
    assert str(info.value).startswith(str(bad))
    assert (user_dir / "2026.json").read_bytes() == before
    assert sorted(p.name for p in user_dir.iterdir()) == ["2026.json"]  # no temporary left
    out = runner.invoke(app, ["specs", "import", "-y", "2026", "--single-source", str(bad)])
    assert out.exit_code == 2
    assert bad.name in out.output and "nothing was changed" in out.output


BAD_JSON = {
    "a list": ("[1, 2]", r"not a claims single source: a JSON list"),
    "truncated": (None, r"line \d+ column \d+: not valid JSON.*truncated\?"),
    "not a measure id": ('{"tobacco": {}}', r"key 'tobacco' is not a measure id"),
    "no performance options": (
        '{"001": {"eligibilityOptions": [{"optionGroup": "00"}]}}',
        r"measure '001' performanceOptions: Field required",
    ),
    "bad option type": (
        '{"001": {"eligibilityOptions": [{"optionGroup": "00"}], "performanceOptions": '
        '[{"optionGroup": "00", "optionType": "met", "qualityCodes": [{"code": "G1"}]}]}}',
        r"measure '001' performanceOptions\[0\]\.optionType",
    ),
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_bad_json_names_file_and_place_and_changes_nothing(
    cms_dir: Path, tmp_path: Path, user_dir: Path, case: str
) -> None:
    before = _previous_import(cms_dir, tmp_path)
    text, message = BAD_JSON[case]
    if text is None:
        full = _single_source(cms_dir, 2025, "json").read_text(encoding="utf-8")
        text = full[: len(full) // 3]
    bad = tmp_path / "qpp-single-source-2026.json"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SpecImportError, match=message) as info:
        importer.import_year(2026, bad)
    assert str(info.value).startswith(str(bad))
    assert (user_dir / "2026.json").read_bytes() == before


def test_measure_missing_from_measures_data_names_its_line(cms_dir: Path, tmp_path: Path) -> None:
    meta = json.loads((cms_dir / "measures/measures-data-2025.json").read_text())
    trimmed = tmp_path / "measures-data-2025.json"
    trimmed.write_text(json.dumps([m for m in meta if m["measureId"] != "047"]))
    with pytest.raises(SpecImportError, match=r"line \d+: measure 047 is not in measures-data"):
        importer.build_imported(2025, _single_source(cms_dir, 2025, "csv"), measures_data=trimmed)


def test_benchmarks_of_another_year_are_refused(cms_dir: Path) -> None:
    with pytest.raises(SpecImportError, match="performanceYear 2025, not 2026"):
        importer.read_benchmarks(cms_dir / "benchmarks/benchmarks-2025.json", 2026)


def test_a_file_named_for_another_year_is_refused(cms_dir: Path) -> None:
    with pytest.raises(SpecImportError, match="the file name says 2025, not 2026"):
        importer.build_imported(2026, _single_source(cms_dir, 2025, "csv"))


def test_failed_write_leaves_the_previous_import(
    cms_dir: Path, tmp_path: Path, user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _previous_import(cms_dir, tmp_path)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(importer.os, "replace", broken_replace)
    with pytest.raises(OSError):
        importer.import_year(2026, _as_2026(cms_dir, tmp_path))
    assert (user_dir / "2026.json").read_bytes() == before
    assert sorted(p.name for p in user_dir.iterdir()) == ["2026.json"]


def test_a_damaged_imported_spec_is_an_error_naming_it(user_dir: Path) -> None:
    user_dir.mkdir(parents=True)
    (user_dir / "2026.json").write_text('{"performance_year": 2026')
    (user_dir / "2027.json").write_text("[]")
    specs.reload()
    with pytest.raises(specs.SpecFileError, match=r"2026\.json: not a readable mipsclaims spec"):
        specs.load(2026)
    out = runner.invoke(app, ["specs", "list", "-y", "2026"])
    assert out.exit_code == 2 and "specs import" in out.output
    report = runner.invoke(app, ["report", "-y", "2026", "-q", str(EXAMPLE_2026)])
    assert report.exit_code == 2 and "2026.json" in report.output
    # Other years are not affected by a damaged import.
    assert 2027 not in specs.supported_years(claims_logic_only=True)
    assert runner.invoke(app, ["report", "-q", "-f", "json", str(EXAMPLE_2025)]).exit_code == 0


def test_importing_again_repairs_a_damaged_import(
    cms_dir: Path, tmp_path: Path, user_dir: Path
) -> None:
    user_dir.mkdir(parents=True)
    (user_dir / "2026.json").write_text("{}")
    specs.reload()
    result = importer.import_year(2026, _as_2026(cms_dir, tmp_path))
    assert result.spec.imported and "bundled 2026 spec" in result.spec.imported.inherited
    assert specs.load(2026).measures == result.spec.measures


# --- where imported specs live -------------------------------------------------------------


def test_user_specs_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(specs.SPECS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert specs.user_specs_dir() == tmp_path / "xdg" / "mipsclaims" / "specs"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert specs.user_specs_dir() == tmp_path / "home" / ".local/share/mipsclaims/specs"
    monkeypatch.setenv(specs.SPECS_DIR_ENV, str(tmp_path / "explicit"))
    assert specs.user_specs_dir() == tmp_path / "explicit"


def test_specs_dir_flag_points_every_command_at_another_directory(
    cms_dir: Path, tmp_path: Path, user_dir: Path
) -> None:
    other = tmp_path / "other"
    source = _as_2026(cms_dir, tmp_path)
    out = runner.invoke(
        app,
        [
            "--specs-dir",
            str(other),
            "specs",
            "import",
            "-y",
            "2026",
            "--single-source",
            str(source),
        ],
    )
    assert out.exit_code == 0, out.output
    assert (other / "2026.json").is_file() and not user_dir.exists()
    shown = runner.invoke(
        app,
        ["--specs-dir", str(other), "report", "-y", "2026", "-q", "-f", "json", str(EXAMPLE_2026)],
    )
    assert json.loads(shown.stdout)["spec"]["source"] == "imported"


def test_mvp_file_is_checked_and_kept(cms_dir: Path, tmp_path: Path, user_dir: Path) -> None:
    source = _as_2026(cms_dir, tmp_path)
    bad = tmp_path / "mvp-2026.json"
    bad.write_text('[{"title": "no id"}]')
    with pytest.raises(SpecImportError, match="entry 0: an MVP needs mvpId"):
        importer.import_year(2026, source, mvp=bad)
    assert not user_dir.exists()
    result = importer.import_year(2026, source, mvp=cms_dir / "mvp/mvp-2026.json")
    assert [f.role for f in result.spec.imported.files] == ["single-source", "mvp"]
    kept = user_dir / "mvp-2026.cms.json"
    assert kept.read_bytes() == (cms_dir / "mvp/mvp-2026.json").read_bytes()


# --- the CSV reader, property-tested against a writer of CMS's grammar -----------------------

CODE = st.text(alphabet="ABCDEFGHJKMNPQRSTVWXYZ0123456789", min_size=4, max_size=6)
MODIFIER = st.sampled_from(["GQ", "GT", "95", "FQ", "93"])
POS = st.sampled_from(["02", "10", "21", "23"])
OPTION_TYPES = list(importer.csv_source.ROLE_TO_OPTION_TYPE.items())


@st.composite
def csv_measures(draw):
    """1-2 measures with 1-3 option groups each: denominator lists, and quality options
    that are single codes (unnumbered elements) or combinations (numbered elements)."""
    measures = {}
    for measure_id in draw(
        st.lists(st.sampled_from(["001", "047", "226"]), min_size=1, max_size=2, unique=True)
    ):
        groups = []
        for g in range(draw(st.integers(1, 3))):
            low = draw(st.integers(0, 70))
            high = draw(st.none() | st.integers(low + 1, 90))
            groups.append(
                {
                    "group": f"{g:02d}",
                    "age": (float(low), None if high is None else float(high)),
                    "sex": draw(st.sampled_from([None, "F", "M"])),
                    "dx": draw(st.lists(CODE, max_size=3, unique=True)),
                    "dx_ex": draw(st.lists(CODE, max_size=2, unique=True)),
                    "procs": draw(
                        st.lists(
                            st.tuples(
                                CODE,
                                st.lists(MODIFIER, max_size=2, unique=True),
                                st.lists(POS, max_size=2, unique=True),
                            ),
                            min_size=1,
                            max_size=3,
                            unique_by=lambda p: p[0],
                        )
                    ),
                    "options": draw(
                        st.lists(
                            st.tuples(
                                st.sampled_from(OPTION_TYPES),
                                st.lists(
                                    st.tuples(CODE, st.sampled_from(["", "8P", "1P"])),
                                    min_size=1,
                                    max_size=3,
                                    unique_by=lambda q: q[0],
                                ),
                            ),
                            min_size=1,
                            max_size=4,
                        )
                    ),
                }
            )
        measures[measure_id] = groups
    return measures


def _write_cms_csv(measures: dict, path: Path) -> None:
    """The measures in CMS's CSV grammar (docs/spec-fidelity.md), written independently."""
    lines = [HEADER.strip()]
    for measure_id, groups in measures.items():
        for g in groups:
            n = int(g["group"])
            suffix = f"_{n + 1}" if n else ""
            mid = str(int(measure_id)) + (f".{g['group']}" if n else "")
            low, high = g["age"]
            age = f"≥{low:g}" if high is None else f"{low:g} - {high:g}"
            sex = '"M, F"' if g["sex"] is None else g["sex"]

            def row(element, system, code, modifier="", pos="", mid=mid, age=age, sex=sex):
                return f'{mid},{element},{system},{code},"{modifier}","{pos}",{age},{sex}'

            lines += [row(f"DX_CODE{suffix}", "I10", c) for c in g["dx"]]
            lines += [row(f"DX_CODE_PD_Exl{suffix}", "I10", c) for c in g["dx_ex"]]
            for code, mods, pos in g["procs"]:
                excl = ("≠" + ", ".join(mods)) if mods else ""
                lines.append(
                    row(
                        f"ENCOUNTER_CODE{suffix}",
                        "C4",
                        code,
                        excl,
                        "≠" + ", ".join(pos) if pos else "",
                    )
                )
            for k, ((role, _), codes) in enumerate(g["options"], start=1):
                combo = f"_{k}" if len(codes) > 1 else ""
                for code, modifier in codes:
                    lines.append(row(f"G_CODE{combo}_{role}{suffix}", "HCPCS", code, modifier))
                    lines.append(row(f"G_CODE{combo}_PD{suffix}", "HCPCS", code, modifier))
    path.write_text("\ufeff" + "\r\n".join(lines), encoding="utf-8")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(measures=csv_measures())
def test_csv_reader_reads_back_what_the_grammar_writes(tmp_path: Path, measures: dict) -> None:
    path = tmp_path / "single-source.csv"
    _write_cms_csv(measures, path)
    logic, first_line = importer.csv_source.read(path)
    assert set(logic) == set(measures) and min(first_line.values()) == 2
    for measure_id, groups in measures.items():
        eligibility = {
            e.option_group: e
            for e in map(builder.eligibility_option, logic[measure_id]["eligibilityOptions"])
        }
        performance = [
            builder.performance_option(p) for p in logic[measure_id]["performanceOptions"]
        ]
        assert [p.option_group for p in performance] == sorted(p.option_group for p in performance)
        expected_options = []
        for g in groups:
            e = eligibility[g["group"]]
            assert (e.min_age, e.max_age, e.sex) == (*g["age"], g["sex"])
            assert e.diagnosis_codes == tuple(g["dx"])
            assert e.diagnosis_exclusion_codes == tuple(g["dx_ex"])
            assert [(p.code, list(p.modifier_exclusions), list(p.place_of_service_exclusions))
                    for p in e.procedure_codes] == [tuple(p) for p in g["procs"]]  # fmt: skip
            for (_, option_type), codes in g["options"]:
                quality = [(c, (m,) if m else ()) for c, m in codes]
                combos = [quality] if len(codes) > 1 else [[q] for q in quality]
                expected_options += [(g["group"], option_type, tuple(c)) for c in combos]
        found = [
            (p.option_group, p.option_type, tuple((q.code, q.modifiers) for q in p.quality_codes))
            for p in performance
        ]
        assert sorted(found) == sorted(expected_options)


def test_a_year_without_claims_logic_is_refused_by_every_engine_path(user_dir: Path) -> None:
    """Metadata alone (no codes) cannot count claims: evaluate and check_claim say so."""
    from mipsclaims import api
    from mipsclaims.x12 import iter_claims

    user_dir.mkdir(parents=True)
    bare = specs.load(2025).model_copy(update={"has_claims_logic": False})
    (user_dir / "2025.json").write_text(bare.model_dump_json())
    specs.reload()
    with pytest.raises(specs.UnsupportedYearError, match="2025 has no claims logic"):
        api.evaluate(str(EXAMPLE_2025), 2025)
    with pytest.raises(specs.UnsupportedYearError, match="specs import --year 2025"):
        specs.load_with_logic(2025)
    claim = next(iter(iter_claims(EXAMPLE_2025)))
    with pytest.raises(specs.UnsupportedYearError, match="2025 has no claims logic"):
        api.check_claim(claim, 2025)
