"""``report --remit``, ``gaps --remit``, ``ingest`` of 835s and the ``reconcile`` API, end to end.

Four patients aged 75 of clinician 1000000001 (TIN 111111111), each one visit 99213 + G8733
(measure 181 met) on 2025-03-01, claims A, B, C, D. The 835: A confirmed (N365), B denied
(CO-4), C came back without its G8733 line, D has no 835 yet. By hand, for 181: eligible 4;
as sent met 4, completeness 4/4, rate 4/4; confirmed only met 1, not reported 3,
completeness 1/4, rate 1/1; QDCs sent 4, confirmed 1, at risk 2 (B, C), pending 1 (D).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mipsclaims.api import reconcile
from mipsclaims.cli import app
from mipsclaims.schema import short_hash
from mipsclaims.synth import render_claims
from support_engine import claim
from test_remit_reader import era
from test_remit_reconcile import CONFIRMED, svc

runner = CliRunner()
CLAIMS = [claim(c, ["99213", "G8733"], patient=f"P{c}") for c in "ABCD"]
REMIT = era(
    "CLP*A*1*100*80**MB*ICN1",
    "NM1*QC*1*SECRETNAME*PAT****MI*1EG4TE5MK73",
    *svc("99213", "CAS*CO*45*20"),
    *svc("G8733", *CONFIRMED),
    "CLP*B*1*100*80**MB*ICN2",
    *svc("99213", "CAS*CO*45*20"),
    *svc("G8733", "CAS*CO*4*0"),
    "CLP*C*1*100*80**MB*ICN3",
    *svc("99213", "CAS*CO*45*20"),
    "CLP*NEVER*1*100*80**MB*ICN4",
    *svc("99213", "CAS*CO*45*20"),
)


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    claims = tmp_path / "claims.837"
    claims.write_bytes(render_claims(CLAIMS))
    remit = tmp_path / "era.835"
    remit.write_bytes(REMIT)
    return claims, remit


def _row181(rows: list[dict]) -> dict:
    (row,) = [r for r in rows if r["measure_id"] == "181"]
    return row


def test_report_remit_json_has_confirmed_only_figures(files):
    claims, remit = files
    out = runner.invoke(app, ["report", "-q", "-f", "json", str(claims), "--remit", str(remit)])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    r = _row181(payload["rows"])
    assert (r["eligible_population"], r["performance_met"], r["data_completeness"]) == (4, 4, 1.0)
    assert r["confirmed_performance_met"] == 1 and r["confirmed_not_reported"] == 3
    assert r["confirmed_data_completeness"] == 0.25 and r["confirmed_performance_rate"] == 1.0
    assert r["confirmed_meets_data_completeness"] is False
    counts = (r["qdc_sent"], r["qdc_confirmed"], r["qdc_at_risk"], r["qdc_pending"])
    assert counts == (4, 1, 2, 1)
    # Every status, in the order of reconcile.STATUSES (the JSON is byte-stable).
    assert list(payload["qdc_status"].items()) == [
        ("confirmed", 1),
        ("denied", 1),
        ("claim_rejected", 0),
        ("not_in_835", 1),
        ("no_remittance_yet", 1),
    ]
    assert payload["remittances_for_no_claim_sent"] == 1


def test_report_remit_csv_and_table(files):
    claims, remit = files
    out = runner.invoke(app, ["report", "-q", "-f", "csv", str(claims), "--remit", str(remit)])
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    r = _row181(rows)
    assert r["confirmed_data_completeness"] == "0.25" and r["qdc_at_risk"] == "2"
    table = runner.invoke(app, ["report", "-q", str(claims), "--remit", str(remit.parent)])
    assert table.exit_code == 0, table.output
    assert "what CMS confirmed" in table.stdout
    (line,) = [x for x in table.stdout.splitlines() if x.startswith("│ 181")]
    assert [c.strip() for c in line.split("│")[1:-1]] == [
        "181", "4", "100.0%", "25.0%", "100.0%", "100.0%", "4", "1", "2", "1"
    ]  # fmt: skip


def test_gaps_remit_lists_the_lost_and_pending_qdcs_without_phi(files):
    claims, remit = files
    out = runner.invoke(app, ["gaps", "-q", "-f", "csv", str(claims), "--remit", str(remit)])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    got = [(r["claim"], r["qdc"], r["status"], r["codes"]) for r in rows]
    assert got == [
        (f"claim #1 ({short_hash('B')})", "G8733", "denied", "CO-4"),
        (f"claim #2 ({short_hash('C')})", "G8733", "not_in_835", ""),
        (f"claim #3 ({short_hash('D')})", "G8733", "no_remittance_yet", ""),
    ]
    assert all(r["action"] for r in rows) and "PB" not in out.stdout
    phi = runner.invoke(
        app, ["gaps", "-q", "-f", "csv", "--show-phi", str(claims), "--remit", str(remit)]
    )
    assert [r["claim"] for r in csv.DictReader(io.StringIO(phi.stdout))] == ["B", "C", "D"]
    table = runner.invoke(app, ["gaps", "-q", str(claims), "--remit", str(remit)])
    assert "2 QDCs at risk, 1 waiting for an 835." in table.stdout


def test_html_report_shows_both(files, tmp_path):
    claims, remit = files
    target = tmp_path / "r.html"
    out = runner.invoke(
        app, ["report", "-q", "-f", "html", "-o", str(target), str(claims), "--remit", str(remit)]
    )
    assert out.exit_code == 0, out.output
    html = target.read_text()
    assert "What CMS confirmed" in html and html.index("remittance") < html.index("</body>")
    assert "25.0%" in html and "QDCs at risk" in html and "not_in_835" in html


def test_ingest_keeps_835s_idempotently_and_report_reads_them(files, tmp_path):
    claims, remit = files
    store = tmp_path / "store"
    first = runner.invoke(app, ["ingest", "--store", str(store), str(claims), str(remit)])
    assert first.exit_code == 0, first.output
    assert "835 added (4 claims, 6 lines)" in first.stdout
    again = runner.invoke(app, ["ingest", "--store", str(store), str(remit)])
    assert "835 already in the store" in again.stdout
    assert len(list((store / "remit").glob("*.parquet"))) == 1
    parquet = next((store / "remit").glob("*.parquet")).read_bytes()
    assert b"SECRETNAME" not in parquet and b"1EG4TE5MK73" not in parquet  # no patient data
    out = runner.invoke(app, ["report", "-q", "-f", "json", "--store", str(store), "--remit"])
    assert out.exit_code != 0  # --remit needs a value
    out = runner.invoke(
        app,
        ["report", "-q", "-f", "json", "--store", str(store), "--remit", str(tmp_path / "none")],
    )
    assert out.exit_code == 2 and "no such 835" in out.output
    empty = tmp_path / "empty"
    empty.mkdir()
    out = runner.invoke(
        app, ["report", "-q", "-f", "json", "--store", str(store), "--remit", str(empty)]
    )
    assert out.exit_code == 0, out.output
    assert _row181(json.loads(out.stdout)["rows"])["qdc_confirmed"] == 1


def test_an_unreadable_835_is_a_usage_error(files, tmp_path):
    claims, _ = files
    bad = tmp_path / "bad.835"
    bad.write_bytes(Path(claims).read_bytes())  # an 837, not an 835
    out = runner.invoke(app, ["report", "-q", str(claims), "--remit", str(bad)])
    assert out.exit_code == 2 and "no 835 remittance could be read" in out.output


def test_api_reconcile_from_paths_models_and_tables(files):
    claims, remit = files
    by_path = reconcile(claims, [remit], 2025)
    by_models = reconcile(CLAIMS, REMIT, 2025)
    assert by_path["status"].cast(pl.String).to_list() == [
        "confirmed",
        "denied",
        "not_in_835",
        "no_remittance_yet",
    ]
    assert by_models.drop("source", "remit_source").equals(by_path.drop("source", "remit_source"))
    assert by_path["measure_ids"].to_list() == [["181"]] * 4


def test_synth_writes_matching_835s(tmp_path):
    out = runner.invoke(
        app,
        [
            "synth",
            "-n",
            "120",
            "-s",
            "3",
            "-o",
            str(tmp_path / "y.837"),
            "--remit",
            str(tmp_path / "era"),
        ],
    )
    assert out.exit_code == 0, out.output
    first, later = tmp_path / "era-1.835", tmp_path / "era-2.835"
    rec = reconcile(tmp_path / "y.837", [first, later], 2025)
    assert rec.height > 0 and (rec["status"] == "confirmed").any()
    assert (rec["status"] != "confirmed").any()


def test_report_remit_at_group_level(files):
    claims, remit = files
    out = runner.invoke(
        app, ["report", "-q", "-f", "json", "--level", "tin", str(claims), "--remit", str(remit)]
    )
    assert out.exit_code == 0, out.output
    r = _row181(json.loads(out.stdout)["rows"])
    assert r["npi"] is None and r["confirmed_data_completeness"] == 0.25
    assert (r["qdc_sent"], r["qdc_confirmed"], r["qdc_at_risk"], r["qdc_pending"]) == (4, 1, 2, 1)


def test_remit_outputs_say_a_year_is_provisional(tmp_path: Path):
    """2026 counted with 2025 codes: --remit outputs carry the same marker as plain ones."""
    claims, prefix = tmp_path / "y.837", tmp_path / "era"
    made = runner.invoke(
        app, ["synth", "--year", "2026", "-n", "60", "-o", str(claims), "--remit", str(prefix)]
    )
    assert made.exit_code == 0, made.output
    era_file = sorted(tmp_path.glob("era*.835"))[0]
    args = ["-q", "--year", "2026", str(claims), "--remit", str(era_file)]
    as_json = runner.invoke(app, ["report", "-f", "json", *args])
    assert as_json.exit_code == 0, as_json.output
    spec = json.loads(as_json.stdout)["spec"]
    assert spec["provisional"] is True and spec["coding_year"] == 2025
    for command in ("report", "gaps"):
        as_csv = runner.invoke(app, [command, "-f", "csv", *args])
        assert as_csv.exit_code == 0, as_csv.output
        header = next(csv.reader(io.StringIO(as_csv.stdout)))
        assert header[-2:] == ["spec_coding_year", "spec_provisional"]
        table = runner.invoke(app, [command, *args])
        assert table.stdout.startswith("Provisional 2026"), table.stdout[:200]
