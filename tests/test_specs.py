"""measure_specs/: loading, drift against CMS's data, and the spec CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mipsclaims import specs
from mipsclaims.cli import app
from mipsclaims.specs import builder

EXPECTED_COUNTS = {2023: 30, 2024: 27, 2025: 25, 2026: 25}


@pytest.mark.parametrize(("year", "count"), EXPECTED_COUNTS.items())
def test_each_year_has_its_claims_measures(year: int, count: int) -> None:
    spec = specs.load(year)
    assert spec.performance_year == year
    assert len(spec.measures) == count
    assert spec.has_claims_logic
    assert spec.is_provisional is (year == 2026)
    assert spec.coding_year == (2025 if year == 2026 else year)


def test_dropped_measures_exist_only_in_earlier_years() -> None:
    for measure_id in ("110", "111", "147"):
        assert measure_id in specs.load(2023).measures
        assert measure_id not in specs.load(2025).measures
    assert "155" in specs.load(2024).measures and "155" not in specs.load(2025).measures
    assert "436" in specs.load(2024).measures and "436" not in specs.load(2025).measures


def test_unsupported_year_names_supported_ones() -> None:
    with pytest.raises(specs.UnsupportedYearError, match=r"2023, 2024, 2025"):
        specs.load(2019)


def test_load_is_cached() -> None:
    assert specs.load(2025) is specs.load(2025)


def test_codes_are_normalised() -> None:
    m001 = specs.load(2025).measure(1)
    assert "E1165" in m001.eligibility_options[0].diagnosis_codes
    assert all("." not in c for c in m001.eligibility_options[0].diagnosis_codes)


def test_measure_lookup_accepts_short_ids_and_explains_unknown() -> None:
    spec = specs.load(2025)
    assert spec.measure("47").measure_id == "047"
    with pytest.raises(KeyError, match="not a Medicare Part B claims measure"):
        spec.measure("999")


def test_metadata_needed_by_engine_and_scoring() -> None:
    spec = specs.load(2025)
    m001 = spec.measure("001")
    assert m001.is_inverse and m001.is_high_priority
    assert m001.calculation_type == "patient-intermediate"
    assert m001.benchmark is not None and m001.benchmark.kind == "fixed-step"
    m226 = spec.measure("226")
    assert m226.is_multi_rate and m226.overall_algorithm == "split"
    assert [s.name for s in m226.strata] == ["reporting", "performance", "combinedPopulations"]
    assert m226.option_groups == ("00", "01", "02")
    assert specs.load(2023).measure("226").overall_algorithm == "overallStratumOnly"
    assert spec.measure("249").is_seven_point_cap_removed
    assert spec.measure("261").benchmark is None
    assert spec.data_completeness_threshold == 0.75
    assert specs.load(2023).data_completeness_threshold == 0.70


def test_226_tobacco_user_stratum_requires_g9902_every_year() -> None:
    """measure-logic.md section 6: the JSON drops G9902 in 2025; the CSV restores it."""
    for year in (2023, 2024, 2025):
        groups = {e.option_group: e for e in specs.load(year).measure("226").eligibility_options}
        assert groups["01"].additional_procedure_codes == ("G9902",)
        assert groups["00"].additional_procedure_codes == ()
        assert groups["02"].additional_procedure_codes == ()


def test_calculation_types_follow_the_contract_table() -> None:
    spec = specs.load(2025)
    assert spec.measure("317").calculation_type == "visit"
    assert spec.measure("024").calculation_type == "episode"
    assert spec.measure("320").calculation_type == "procedure"
    assert specs.load(2023).measure("110").calculation_type == "patient-periodic"


def test_specs_do_not_drift_from_cms_data(cms_dir: Path) -> None:
    """Rebuilding from shared/cms must reproduce measure_specs/ byte for byte."""
    rebuilt = builder.build_all(cms_dir, specs.specs_dir(), write=False)
    for name, text in rebuilt.items():
        committed = (specs.specs_dir() / name).read_text(encoding="utf-8")
        assert committed == text, f"measure_specs/{name} drifted: run `mipsclaims specs build`"


def test_provenance_hashes_match_inputs(cms_dir: Path) -> None:
    spec = specs.load(2025)
    assert spec.provenance.upstream_repository == "CMSgov/qpp-measures-data"
    assert len(spec.provenance.upstream_commit) == 40
    paths = {f.path for f in spec.provenance.files}
    assert "single-source/2025_Claims_SingleSource_V9.1.csv" in paths
    for f in spec.provenance.files:
        assert hashlib.sha256((cms_dir / f.path).read_bytes()).hexdigest() == f.sha256


def test_builder_is_deterministic(cms_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "calculation-types.json").write_text(
        (specs.specs_dir() / "calculation-types.json").read_text()
    )
    first = builder.build_all(cms_dir, tmp_path)
    second = builder.build_all(cms_dir, tmp_path, write=False)
    assert first == second
    assert json.loads(first["2025.json"])["performance_year"] == 2025


runner = CliRunner()


def test_cli_specs_list_2025_shows_25_measures() -> None:
    result = runner.invoke(app, ["specs", "list", "--year", "2025"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "(25)" in result.output
    assert "Tobacco Use" in result.output


def test_cli_specs_show_226() -> None:
    result = runner.invoke(app, ["specs", "show", "226", "--year", "2025"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "also required on the claim: G9902" in result.output
    assert "group 01 performanceMet: G9902 + G9906" in result.output


def test_cli_unknown_year_is_a_usage_error() -> None:
    result = runner.invoke(app, ["specs", "list", "--year", "2019"])
    assert result.exit_code == 2
    assert "supported years" in result.output
