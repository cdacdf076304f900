"""MVP quality scoring and the ranking of reporting options, with hand-computed cases.

Perfect rows (40 complete instances at the best rate) earn, against the claims benchmarks:
2025: 001, 024, 039, 145, 236 -> 10; 047, 134 -> 7 (topped out, capped).
2026: 134 -> 7 (capped); 128 -> no claims benchmark (0, small practice 3).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mipsclaims.cli import app
from mipsclaims.scoring import ScoringOptions, UnknownMvpError, score
from mipsclaims.specs import builder, specs_dir
from mipsclaims.specs.mvp import load_mvps
from support_scoring import NPI, TIN, frame, perfect, row

runner = CliRunner()

PRIMARY_CARE_2025 = ["001", "236", "047", "134", "039", "024", "145"]


def _projection(rows, year, **options):
    report = score(frame(*rows), year, ScoringOptions(**options))
    assert len(report.projections) == 1
    return report.projections[0]


def _inverse(measure_id: str) -> bool:
    return measure_id == "001"


def _perfect(ids, year=2025):
    return [perfect(m, inverse=_inverse(m), year=year) for m in ids]


# --- MVP definitions ---------------------------------------------------------------------


def test_mvps_come_from_cms_files_with_their_claims_measures():
    assert load_mvps(2026).mvp("M1370").claims_measure_ids == ("128", "134")
    assert load_mvps(2025).mvp("M1370").claims_measure_ids == ("128",)
    primary = load_mvps(2025).mvp("m0005")  # ids are case-insensitive
    assert primary.title == "Value in Primary Care"
    assert primary.claims_measure_ids == ("001", "047", "134", "236")
    assert primary.foundation_quality_measure_ids == ("479", "484")
    # an MVP lists every collection type; only the claims measures are scorable here
    assert len(primary.quality_measure_ids) == 13
    assert len(load_mvps(2026).mvps) == 27
    rehab = load_mvps(2026).mvp("M1370")
    assert "Physical Therapy" in rehab.specialties
    assert rehab.fits("physical therapy") and rehab.fits("Chiropractic")
    assert not rehab.fits("Infectious") and not rehab.fits(" ")
    assert load_mvps(2099) is None


def test_mvp_files_are_built_by_the_spec_builder(cms_dir):
    built = builder.build_all(cms_dir, specs_dir(), write=False)
    for year in (2023, 2024, 2025, 2026):
        text = (specs_dir() / f"mvp-{year}.json").read_text(encoding="utf-8")
        assert built[f"mvp-{year}.json"] == text


def test_an_imported_cms_mvp_file_replaces_the_bundled_mvps(tmp_path, monkeypatch):
    monkeypatch.setenv("MIPSCLAIMS_SPECS_DIR", str(tmp_path))
    cms_shape = [
        {
            "mvpId": "M9000",
            "title": "A  future MVP",
            "qualityMeasureIds": ["134", "236", "XYZ1"],
            "foundationQualityMeasureIds": ["479"],
        }
    ]
    (tmp_path / "mvp-2025.cms.json").write_text(json.dumps(cms_shape), encoding="utf-8")
    mvps = load_mvps(2025)
    assert list(mvps.mvps) == ["M9000"]
    assert mvps.mvp("M9000").claims_measure_ids == ("134", "236")
    assert mvps.mvp("M9000").title == "A future MVP"
    q = _projection(_perfect(["134", "236", "039"]), 2025, mvp="M9000").quality
    # 236 (10) + 134 (7) of 4 x 10
    assert q.score == 42.5
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("MIPSCLAIMS_SPECS_DIR", str(tmp_path / "empty"))
    assert "M9000" not in load_mvps(2025).mvps


def test_specs_import_with_an_mvp_file_feeds_mvp_scoring(cms_dir, tmp_path, monkeypatch):
    from mipsclaims import specs
    from mipsclaims.specs.importer import import_year

    monkeypatch.setenv("MIPSCLAIMS_SPECS_DIR", str(tmp_path))
    try:
        # 2025 codes with the 2024 MVP file: 16 MVPs instead of 2025's 21
        import_year(
            2025,
            cms_dir / "single-source/qpp-single-source-2025.json",
            mvp=cms_dir / "mvp/mvp-2024.json",
        )
        mvps = load_mvps(2025)
        assert len(mvps.mvps) == 16 and "M1420" not in mvps.mvps
        assert mvps.source.upstream_path == "imported"
        q = _projection(_perfect(PRIMARY_CARE_2025), 2025, mvp="M0005").quality
        assert q.score == 85.0
    finally:
        monkeypatch.undo()
        specs.reload()
    assert len(load_mvps(2025).mvps) == 21


def test_unknown_mvp_names_the_years_mvps():
    from mipsclaims.errors import MipsClaimsError

    with pytest.raises(UnknownMvpError, match="no MVP 'M9999' in 2025; MVPs: G0053") as err:
        score(frame(*_perfect(["134"])), 2025, ScoringOptions(mvp="M9999"))
    assert isinstance(err.value, MipsClaimsError) and isinstance(err.value, ValueError)


# --- MVP quality rules -------------------------------------------------------------------


def test_only_the_mvps_measures_count_four_required():
    p = _projection(_perfect(PRIMARY_CARE_2025), 2025, mvp="M0005")
    q = p.quality
    assert p.reporting_option == "MVP M0005 Value in Primary Care"
    assert q.program == "M0005" and q.required_measures == 4
    # 001 (10) + 236 (10) + 047 (7) + 134 (7) = 34 of 40
    assert [m.measure_id for m in q.counted] == ["001", "236", "047", "134"]
    assert q.achievement_points == 34.0 and q.available_points == 40.0
    assert q.score == 85.0
    assert {e.measure_id: e.reason for e in q.excluded} == {
        m: "not a quality measure of MVP M0005" for m in ("024", "039", "145")
    }
    assert any("population health measures (479, 484)" in n for n in q.notes)
    # levers only name the MVP's measures
    assert {lv.measure_id for lv in p.levers} <= {"001", "047", "134", "236"}


def test_population_health_points_join_numerator_and_denominator():
    q = _projection(
        _perfect(PRIMARY_CARE_2025), 2025, mvp="M0005", population_health_points=8
    ).quality
    # (34 + 8) / 50
    assert q.available_points == 50.0 and q.population_health_points == 8.0
    assert q.score == 84.0


def test_large_practice_with_fewer_claims_measures_than_required_scores_zero_for_the_rest():
    q = _projection(_perfect(["039", "134"]), 2025, mvp="G0053").quality
    # 039 (10) + 134 (7) of 4 x 10
    assert q.score == 42.5
    assert any("requires 4" in n for n in q.notes)


def test_small_practice_reports_every_claims_measure_and_requirement_is_waived():
    q = _projection(_perfect(["039", "134"]), 2025, mvp="G0053", small_practice=True).quality
    # 2 required (G0053 has 2 claims measures); neither is outcome or high priority, so the
    # requirement cannot apply: (10 + 7 + 6 bonus) / 20 = 115% -> capped at 100
    assert q.required_measures == 2
    assert q.achievement_points == 17.0
    assert q.outcome_requirement.endswith("requirement waived")
    assert q.score == 100.0


def test_mvp_high_priority_measure_takes_a_higher_ones_place():
    rows = [
        *_perfect(["039", "112", "134", "422"]),
        row("226", met=40, not_met=0, stratum="00", stratum_name="reporting"),
        row("226", met=40, not_met=0, stratum="01", stratum_name="performance"),
        row("226", met=40, not_met=0, stratum="02", stratum_name="combinedPopulations"),
    ]
    q = _projection(rows, 2025, mvp="M1366").quality
    # M1366 claims measures 039 (10), 112 (10), 134 (7), 226 (7, capped), 422 (0: no
    # benchmark, high priority). No outcome measure; 422 is the only high-priority one, so
    # it replaces the fourth best (226 after 134 by id): 10 + 10 + 7 + 0 = 27 of 40
    assert [m.measure_id for m in q.counted] == ["039", "112", "134", "422"]
    assert q.outcome_requirement == "high-priority measure 422 counted in place of a higher one"
    assert q.score == 67.5


def test_traditional_still_applies_the_outcome_requirement():
    q = _projection(_perfect(PRIMARY_CARE_2025), 2025).quality
    # best six: 001, 024, 039, 145, 236 (10 each) + 047 (7, high priority before 134) = 57 / 60
    assert q.program == "traditional"
    assert sorted(m.measure_id for m in q.counted) == ["001", "024", "039", "047", "145", "236"]
    assert q.score == 95.0
    assert q.excluded == []


# --- ranking -----------------------------------------------------------------------------


def test_ranking_2025_large_practice():
    p = _projection(_perfect(PRIMARY_CARE_2025), 2025)
    ranked = [(o.rank, o.option, o.quality_score) for o in p.reporting_options]
    assert ranked[:3] == [(1, "traditional", 95.0), (2, "M0005", 85.0), (3, "M0002", 67.5)]
    # ties keep MVP id order: 039 + 134, 047 + 236, 039 + 134 -> 17 / 40
    assert ranked[3:6] == [(4, "G0053", 42.5), (5, "G0054", 42.5), (6, "M1366", 42.5)]
    # MVPs the claims are not eligible for are not options (M1421: 226, 397)
    offered = {o.option for o in p.reporting_options}
    assert "M1421" not in offered and "M1370" not in offered
    assert offered >= {"G0055", "G0058", "M0001", "M0004", "M1368", "M1369", "M1424", "M1425"}
    m0002 = next(o for o in p.reporting_options if o.option == "M0002")
    # 001 (10) + 236 (10) + 047 (7) = 27 / 40
    assert m0002.uses == ["001", "236", "047"] and m0002.eligible == ["001", "047", "236"]
    assert m0002.outside == ["024", "039", "134", "145"] and m0002.excluded == []
    assert p.reporting_options[0].outside == [] and p.reporting_options[0].excluded == []
    scores = [o.quality_score for o in p.reporting_options]
    assert scores == sorted(scores, reverse=True)


def test_2026_mvp_only_measures_never_count_in_traditional_mips():
    rows = _perfect(["128", "134", "112"], year=2026)
    p = _projection(rows, 2026, small_practice=True)
    q = p.quality
    reasons = {e.measure_id: e.reason for e in q.excluded}
    assert set(reasons) == {"112", "128"}
    assert reasons["128"] == (
        "not counted in traditional MIPS: in 2026 CMS allows 128 only in an MVP "
        "(G0055, G0058, M1367, M1370, M1424)"
    )
    assert reasons["112"].endswith("only in an MVP (M1366) or APP Plus")
    # traditional: 134 (7) + bonus 6 over 60
    assert q.score == round(13 / 60 * 100, 4)
    options = {o.option: o for o in p.reporting_options}
    # M1370 (128, 134), small practice, 2 required: 7 + 3 (no benchmark) + 6 bonus over 20
    assert options["M1370"].quality_score == 80.0
    assert options["M1370"].uses == ["134", "128"]
    # G0055 (047, 128, 134), 3 required: (7 + 3 + 6) / 30
    assert options["G0055"].quality_score == round(16 / 30 * 100, 4)
    # M1366 (039, 112, 134, 226, 422), 4 required: 134 (7) + 112 (3) + 6 over 40
    assert options["M1366"].quality_score == 40.0
    assert options["traditional"].rank == len(options)


def test_specialty_keeps_only_the_mvps_cms_lists_for_it():
    rows = _perfect(["128", "134"], year=2026)
    p = _projection(rows, 2026, small_practice=True, specialty="Physical therapy")
    assert [(o.option, o.quality_score) for o in p.reporting_options] == [
        ("M1370", 80.0),
        ("traditional", round(13 / 60 * 100, 4)),
    ]
    rehab = p.reporting_options[0]
    assert rehab.specialties[:2] == ["Chiropractic Medicine", "Physiatry"]
    # generic entries most MVPs share are not shown as who the MVP is for
    assert not any("Nurse" in s or "Nonphysician" in s for s in rehab.specialties)
    # without a specialty, one-claims-measure MVPs of other specialties rank first:
    # M1368 (only 134): (7 + 6) / 10 -> 100%
    unfiltered = _projection(rows, 2026, small_practice=True).reporting_options
    assert unfiltered[0].option == "M1368" and unfiltered[0].quality_score == 100.0


def test_score_under_a_2026_mvp_is_provisional():
    report = score(
        frame(*_perfect(["128", "134"], year=2026)),
        2026,
        ScoringOptions(mvp="M1370", small_practice=True),
    )
    assert report.provisional and "2025 codes" in report.provisional
    q = report.projections[0].quality
    assert q.program == "M1370" and q.score == 80.0 and q.excluded == []


# --- properties --------------------------------------------------------------------------

MEASURES_2026 = ["001", "039", "047", "112", "113", "128", "134", "181", "236", "317"]


@st.composite
def entity_rows(draw):
    ids = draw(st.lists(st.sampled_from(MEASURES_2026), min_size=1, unique=True))
    rows = []
    for m in ids:
        met = draw(st.integers(0, 40))
        not_met = draw(st.integers(0, 40))
        missing = draw(st.integers(0, 20))
        rows.append(row(m, met=met, not_met=not_met, not_reported=missing, year=2026))
    return rows


@settings(max_examples=40, deadline=None)
@given(rows=entity_rows(), small=st.booleans())
def test_measures_outside_an_option_never_change_its_score(rows, small):
    report = score(frame(*rows), 2026, ScoringOptions(small_practice=small))
    options = report.projections[0].reporting_options
    assert options[0].rank == 1 and any(o.kind == "traditional" for o in options)
    assert [o.quality_score for o in options] == sorted(
        (o.quality_score for o in options), reverse=True
    )
    mvps = load_mvps(2026)
    for option in options:
        if option.kind == "traditional":
            assert not {"112", "113", "128"} & set(option.uses)
            inside = [r for r in rows if r["measure_id"] not in {"112", "113", "128"}]
        else:
            inside = [
                r for r in rows if r["measure_id"] in mvps.mvp(option.option).claims_measure_ids
            ]
            assert set(option.uses) <= set(mvps.mvp(option.option).claims_measure_ids)
        if not inside:
            continue
        only = score(
            frame(*inside),
            2026,
            ScoringOptions(
                small_practice=small, mvp=None if option.kind == "traditional" else option.option
            ),
        )
        assert only.projections[0].quality.score == option.quality_score


# --- CLI ---------------------------------------------------------------------------------


def _rows_file(tmp_path, rows, year):
    path = tmp_path / "rows.json"
    payload = {"performance_year": year, "level": "tin-npi", "rows": rows, "scope": []}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_cli_mvp_json_carries_the_provisional_note_and_the_options(tmp_path):
    path = _rows_file(tmp_path, _perfect(["128", "134"], year=2026), 2026)
    args = ["score", "--rows", str(path), "--year", "2026", "--small-practice"]
    result = runner.invoke(app, [*args, "--mvp", "M1370", "--format", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["provisional"].startswith("Provisional 2026")
    p = report["projections"][0]
    assert (p["tin"], p["npi"]) == (TIN, NPI)
    assert p["reporting_option"] == "MVP M1370 Rehabilitative Support for Musculoskeletal Care"
    assert p["quality"]["score"] == 80.0
    assert {o["option"] for o in p["reporting_options"]} >= {"traditional", "M1370"}


def test_cli_table_starts_with_the_provisional_line_and_ranks_options(tmp_path):
    path = _rows_file(tmp_path, _perfect(["128", "134"], year=2026), 2026)
    result = runner.invoke(
        app, ["score", "--rows", str(path), "--year", "2026", "--small-practice"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Provisional 2026")
    assert "Reporting option: traditional MIPS" in result.output
    assert "128: not counted in traditional MIPS" in result.output
    assert "Reporting options the claims allow" in result.output
    assert "M1370" in result.output
    assert "best 6" in result.output  # traditional: six required


def test_cli_table_under_an_mvp_counts_its_required_measures(tmp_path):
    path = _rows_file(tmp_path, _perfect(["128", "134", "181"], year=2026), 2026)
    args = ["score", "--rows", str(path), "--year", "2026", "--small-practice", "--mvp", "M1370"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Reporting option: MVP M1370" in result.output
    assert "best 2" in result.output and "best 6" not in result.output
    assert "181: not a quality measure of MVP M1370" in result.output


def test_cli_specialty_filters_the_ranking(tmp_path):
    path = _rows_file(tmp_path, _perfect(["128", "134"], year=2026), 2026)
    args = ["score", "--rows", str(path), "--year", "2026", "--small-practice"]
    result = runner.invoke(app, [*args, "--specialty", "physical therapy", "--format", "json"])
    assert result.exit_code == 0, result.output
    options = json.loads(result.output)["projections"][0]["reporting_options"]
    assert [o["option"] for o in options] == ["M1370", "traditional"]


def test_cli_2025_has_no_provisional_line(tmp_path):
    path = _rows_file(tmp_path, _perfect(["134"]), 2025)
    result = runner.invoke(app, ["score", "--rows", str(path), "--year", "2025"])
    assert result.exit_code == 0, result.output
    assert "Provisional" not in result.output
    assert result.output.lstrip().startswith("─")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mvp", "M9999"], "no MVP 'M9999' in 2025"),
        (["--mvp", "M0005", "--population-health", "11"], "invalid option"),
    ],
)
def test_cli_mvp_errors(tmp_path, extra, message):
    path = _rows_file(tmp_path, _perfect(["134"]), 2025)
    result = runner.invoke(app, ["score", "--rows", str(path), "--year", "2025", *extra])
    assert result.exit_code == 2
    assert message in result.output


# --- end to end: 2026 claims ---------------------------------------------------------------


@pytest.fixture(scope="module")
def claims_2026(tmp_path_factory):
    from mipsclaims.synth import SynthConfig, write_synthetic_837

    path = tmp_path_factory.mktemp("claims") / "synthetic-2026.837"
    write_synthetic_837(path, SynthConfig(year=2026, claims=300, seed=5))
    return path


def test_score_2026_claims_end_to_end(claims_2026):
    result = runner.invoke(
        app, ["score", str(claims_2026), "--year", "2026", "--small-practice", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["provisional"].startswith("Provisional 2026")
    assert report["projections"]
    mvp_only = {"112", "113", "128"}
    for p in report["projections"]:
        options = p["reporting_options"]
        assert [o["rank"] for o in options] == list(range(1, len(options) + 1))
        traditional = next(o for o in options if o["kind"] == "traditional")
        assert not mvp_only & set(traditional["uses"])
        assert not mvp_only & {m["measure_id"] for m in p["quality"]["measures"]}
        for left_out in p["quality"]["excluded"]:
            assert left_out["measure_id"] in mvp_only
            assert left_out["reason"].startswith("not counted in traditional MIPS: in 2026")


def test_html_report_says_why_an_mvp_only_measure_does_not_count(claims_2026):
    from mipsclaims import scoring
    from mipsclaims.api import evaluate
    from mipsclaims.report import html

    result = evaluate([claims_2026], 2026)
    scores = scoring.score_result(result, ScoringOptions(small_practice=True))
    excluded = [e for p in scores.projections for e in p.quality.excluded]
    assert excluded, "the synthetic 2026 claims should reach an MVP-only measure"
    page = html.render_html(result, scores=scores)
    assert excluded[0].reason in page


def test_score_ranks_per_clinician_and_per_tin_in_one_run(claims_2026):
    args = ["score", str(claims_2026), "--year", "2026", "--level", "both", "--format", "json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    projections = json.loads(result.output)["projections"]
    groups = [p for p in projections if p["npi"] is None]
    clinicians = [p for p in projections if p["npi"] is not None]
    assert groups and clinicians
    assert {p["tin"] for p in groups} == {p["tin"] for p in clinicians}
    for p in projections:
        assert p["reporting_options"][0]["rank"] == 1
        assert p["coverage"]["through_month"] is not None
