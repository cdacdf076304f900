"""The synthetic generator: deterministic, valid, and covering the cases the engine needs."""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from mipsclaims import specs, x12
from mipsclaims.cli import app
from mipsclaims.synth import SynthConfig, synthetic_837, write_synthetic_837
from mipsclaims.x12 import Delimiters

CONFIG = SynthConfig(year=2025, claims=600, seed=11)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    report = x12.ReadReport()
    frame = x12.read_claim_lines(synthetic_837(CONFIG), report)
    assert report.ok and report.warnings == [] and report.claims_read == 600
    return frame


def test_deterministic_for_a_seed():
    assert synthetic_837(CONFIG) == synthetic_837(CONFIG)
    assert synthetic_837(CONFIG) != synthetic_837(SynthConfig(claims=600, seed=12))


def test_codes_come_from_the_year_spec(table):
    spec = specs.load(2025)
    eligible = {p.code for m in spec.measures.values() for o in m.eligibility_options
                for p in o.procedure_codes}  # fmt: skip
    qdcs = {q.code for m in spec.measures.values() for p in m.performance_options
            for q in p.quality_codes}  # fmt: skip
    codes = set(table["procedure_code"].unique())
    assert len(codes & eligible) > 50 and len(codes & qdcs) > 50
    assert {"99999", "0001U"} & codes  # ineligible encounters
    assert set(table.explode("modifiers")["modifiers"].drop_nulls()) >= {"GT", "95", "FQ", "8P"}


def test_covers_the_engine_cases(table):
    claims = table.unique("claim_seq")
    assert set(claims["frequency"]) == {"1", "7", "8"}
    assert {"MB", "CI"} <= set(claims["filing_indicator"])
    assert {"02", "10"} <= set(claims["claim_pos"]) | set(table["line_pos"].drop_nulls())
    assert claims["tin"].n_unique() == 3 and claims["tin"].str.starts_with("SSN-").any()
    assert table["rendering_npi"].n_unique() >= 6
    assert claims["patient_id"].str.contains(":").any()  # 2000C dependents
    assert (table["rendering_npi"] != table["billing_npi"]).any()
    assert claims["birth_date"].is_not_null().all()


def test_delimiters_and_newlines_round_trip():
    base = x12.read_claim_lines(synthetic_837(SynthConfig(claims=50, seed=2)))
    for delims, newline in [
        (Delimiters("|", "^", "{", "\x1c"), ""),
        (Delimiters("*", ":", "^", "\n"), ""),
        (Delimiters("!", ">", "+", "'"), "\r\n"),
    ]:
        cfg = SynthConfig(claims=50, seed=2, delimiters=delims, newline=newline)
        assert x12.read_claim_lines(synthetic_837(cfg)).equals(base)
    with pytest.raises(ValueError, match="delimiters"):
        SynthConfig(delimiters=Delimiters("A", ":", "^", "~"))


def test_size_knob_and_streaming_write(tmp_path):
    path = tmp_path / "big.837"
    written = write_synthetic_837(path, SynthConfig(claims=300, lines_per_claim=6, seed=1,
                                                     claims_per_transaction=100))  # fmt: skip
    assert written == path.stat().st_size
    report = x12.ReadReport()
    lines = x12.read_claim_lines(path, report)
    assert report.transactions == 3 and report.claims_read == 300
    assert lines.group_by("claim_seq").len()["len"].max() > 6


def test_synth_cli(tmp_path):
    out = tmp_path / "s.837"
    args = ["synth", "--year", "2025", "--claims", "20", "--seed", "5", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == synthetic_837(SynthConfig(claims=20, seed=5))
    bad = CliRunner().invoke(app, [*args[:-2], "--element", "A", "-o", str(out)])
    assert bad.exit_code == 2
