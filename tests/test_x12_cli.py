"""``mipsclaims lines``: formats, exit codes, no PHI on standard error."""

from __future__ import annotations

import json

import polars as pl
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from mipsclaims import flatfile, x12
from mipsclaims.cli import app
from mipsclaims.synth import SynthConfig, synthetic_837

runner = CliRunner()


def test_lines_formats(tmp_path):
    src = tmp_path / "in.837"
    src.write_bytes(synthetic_837(SynthConfig(claims=40, seed=4)))
    expected = x12.read_claim_lines(src)
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["lines", str(src), "--format", "parquet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_frame_equal(pl.read_parquet(out), expected)
    result = runner.invoke(app, ["lines", str(src), "-f", "csv", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0
    assert_frame_equal(flatfile.read_flat_claim_lines(tmp_path / "o.csv").drop("source"),
                       expected.drop("source"))  # fmt: skip
    result = runner.invoke(app, ["lines", str(src), "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == expected.height and rows[0]["claim_id"] == expected["claim_id"][0]


def test_lines_unreadable_input_exits_2(tmp_path):
    result = runner.invoke(app, ["lines", str(tmp_path / "missing.837")])
    assert result.exit_code == 2
    remit = synthetic_837(SynthConfig(claims=2)).replace(b"ST*837*", b"ST*835*")
    (tmp_path / "remit.835").write_bytes(remit)
    result = runner.invoke(app, ["lines", str(tmp_path / "remit.835")])
    assert result.exit_code == 2 and "835" in result.stderr


def test_lines_reports_quarantine_without_phi(tmp_path):
    data = synthetic_837(SynthConfig(claims=10, seed=9)).replace(
        b"DTP*472*D8*2025", b"DTP*472*D8*X025", 1
    )
    (tmp_path / "in.837").write_bytes(data)
    result = runner.invoke(app, ["lines", str(tmp_path / "in.837"), "-f", "json"])
    assert result.exit_code == 0
    assert "quarantined at" in result.stderr and "1 quarantined" in result.stderr
    table = x12.read_claim_lines(data)
    for name in table["patient_name"].unique().to_list() + table["patient_id"].unique().to_list():
        assert name not in result.stderr
    assert len(json.loads(result.stdout)) == table.height


def test_lines_help_has_an_example():
    result = runner.invoke(app, ["lines", "--help"])
    assert result.exit_code == 0 and "Example: mipsclaims lines" in result.stdout
