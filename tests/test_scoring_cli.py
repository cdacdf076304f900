"""`mipsclaims score` from saved rows (JSON and CSV) and its errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mipsclaims.cli import app
from mipsclaims.scoring import read_rows
from support_scoring import TIN, frame, row

runner = CliRunner()

ROWS = [
    row("039", met=30, not_met=8, not_reported=2),
    row("001", met=5, not_met=25, not_reported=10),
    row("134", met=5, not_met=5, not_reported=30, npi=None),
]


def _write_json(path, rows):
    # the shape `mipsclaims report --format json` writes
    payload = {"performance_year": 2025, "level": "tin-npi", "rows": rows, "scope": []}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def _write_csv(path, rows):
    frame(*rows).drop("stratum_name").write_csv(path)
    return path


@pytest.fixture(params=["json", "csv"])
def rows_file(request, tmp_path):
    if request.param == "json":
        return _write_json(tmp_path / "rows.json", ROWS)
    return _write_csv(tmp_path / "rows.csv", ROWS)


def test_read_rows_keeps_ids_as_text(rows_file):
    rows = read_rows(rows_file)
    assert rows.filter(rows["measure_id"] == "001").height == 1
    assert set(rows["npi"].to_list()) == {"1111111111", None}
    assert rows["meets_data_completeness"].to_list() == [True, True, False]


def test_score_json_output(rows_file):
    result = runner.invoke(
        app,
        ["score", "--rows", str(rows_file), "--year", "2025", "--ia", "40", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    projections = {(p["tin"], p["npi"]): p for p in report["projections"]}
    individual = projections[(TIN, "1111111111")]
    points = {m["measure_id"]: m["points"] for m in individual["quality"]["measures"]}
    assert points == {"001": 9.3333, "039": 5.1433}
    # (14.4766 / 60) x 85 + 100 x 15
    assert individual["final_score"] == pytest.approx(14.4766 / 60 * 85 + 15, abs=1e-3)
    assert projections[(TIN, None)]["quality"]["measures"][0]["status"] == "data_completeness"


def test_score_table_output_names_zone_levers_and_coverage(rows_file):
    result = runner.invoke(
        app,
        ["score", "--rows", str(rows_file), "--year", "2025", "--through-month", "6"],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    assert "AT RISK" in result.output
    assert "What moves the score most" in result.output
    assert "through June 2025" in result.output
    assert "decile 9, 9.33 points" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "--year", "2025"], "give claim files or --rows"),
        (["score", "--year", "2019", "--rows", "x.json"], "no scoring for 2019"),
        (["score", "--year", "2025", "--rows", "missing.json"], "no such file"),
        (["score", "--year", "2025", "--rows", "r.json", "--margin", "-1"], "invalid option"),
    ],
)
def test_usage_errors_exit_2_with_a_reason(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_json(tmp_path / "r.json", ROWS)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_rows_of_another_year_are_refused(tmp_path):
    path = _write_json(tmp_path / "rows.json", ROWS)
    result = runner.invoke(app, ["score", "--rows", str(path), "--year", "2024"])
    assert result.exit_code == 2
    assert "not 2024" in result.output


def test_unreadable_rows_file(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["score", "--rows", str(path), "--year", "2025"])
    assert result.exit_code == 2
    assert "not readable as JSON" in result.output


def test_error_messages_print_input_text_literally(tmp_path) -> None:
    # A file name is input: rich markup in it must be printed, not interpreted.
    bad = tmp_path / "[bold]rows.json"
    bad.write_text("not json", encoding="utf-8")
    result = runner.invoke(app, ["score", "--year", "2025", "--rows", str(bad)])
    assert result.exit_code == 2
    assert "[bold]rows.json" in result.output
