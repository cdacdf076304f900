"""End to end through the CLI: a store of hand-built claims, the real engine, every command.

The practice (TIN 123456789, clinician 1000000001) sees 22 patients aged 75, one initial PT
evaluation (97161) each, patient i on 2025-(i % 12 + 1)-10. Measure 134 QDCs on file 1:
patients 0-14 G8431 (met), 15-16 G8432 (not met), 17 G8433 (exception), 18-21 none. One
more claim is not Part B. File 2 voids patient 0's claim and replaces patient 18's with
one that carries G8431. Expected for 134 by hand: 21 eligible (1-21), met 15 (1-14, 18),
not met 2, exception 1, no QDC 3 (19-21): completeness 18/21, rate 15/17.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mipsclaims import store
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame
from mipsclaims.cli import app
from mipsclaims.schema import short_hash

TIN, NPI = "123456789", "1000000001"
runner = CliRunner()


def _qdc(i: int) -> str | None:
    if i <= 14:
        return "G8431"
    return {15: "G8432", 16: "G8432", 17: "G8433"}.get(i)


def visit(i: int, *, qdc: str | None, frequency: str = "1", payer: str = "MB") -> Claim:
    day = dt.date(2025, i % 12 + 1, 10)
    lines = [ServiceLine(line_number=1, procedure_code="97161", charge=150.0, service_date=day)]
    if qdc:
        lines.append(ServiceLine(line_number=2, procedure_code=qdc, charge=0.0, service_date=day))
    return Claim(
        claim_id=f"PCN{i:04d}",
        frequency=frequency,
        filing_indicator=payer,
        tin=TIN,
        billing_npi=NPI,
        place_of_service="11",
        patient=Patient(
            member_id=f"1EG4TE5MK{i:02d}",
            last_name="DOE",
            first_name=f"PAT{i}",
            birth_date=dt.date(1950, 1, 1),
            sex="F",
        ),
        diagnosis_codes=["M545"],
        lines=lines,
        source="file.837",
    )


def _numbered(claims: list[Claim]) -> list[Claim]:
    return [c.model_copy(update={"claim_seq": n}) for n, c in enumerate(claims)]


@pytest.fixture(scope="module")
def practice(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    first = [visit(i, qdc=_qdc(i)) for i in range(22)]
    first.append(visit(30, qdc="G8431", payer="CI"))
    second = [visit(0, qdc=None, frequency="8"), visit(18, qdc="G8431", frequency="7")]
    store.ingest_frame(root, claims_to_frame(_numbered(first)), sha256="1" * 64, source="a")
    store.ingest_frame(root, claims_to_frame(_numbered(second)), sha256="2" * 64, source="b")
    return root


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_report_json_counts_from_store(practice: Path) -> None:
    out = _invoke("report", "--store", str(practice), "--year", "2025", "--format", "json")
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    rows = {(r["npi"], r["measure_id"], r["stratum"]): r for r in payload["rows"]}
    r134 = rows[(NPI, "134", None)]
    assert (
        r134["eligible_population"], r134["performance_met"], r134["performance_not_met"],
        r134["denominator_exception"], r134["denominator_exclusion"], r134["not_reported"],
    ) == (21, 15, 2, 1, 0, 3)  # fmt: skip
    assert r134["data_completeness"] == pytest.approx(18 / 21)
    assert r134["performance_rate"] == pytest.approx(15 / 17)
    assert r134["meets_case_minimum"] is True  # 21 - 0 - 1 = 20
    assert rows[(NPI, "181", None)]["not_reported"] == 21
    scope = {s["reason"]: s["claims"] for s in payload["scope"]}
    assert scope["not_part_b"] == 1


def test_report_csv_and_tin_level(practice: Path) -> None:
    out = _invoke("report", "--store", str(practice), "--format", "csv", "--level", "tin")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    r134 = next(r for r in rows if r["measure_id"] == "134")
    assert r134["npi"] == "" and r134["eligible_population"] == "21"


def test_report_html_file_has_trend_and_gaps(practice: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    out = _invoke("report", "--store", str(practice), "--format", "html", "-o", str(target), "-q")
    assert out.exit_code == 0, out.output
    page = target.read_text()
    assert f"Clinician NPI {NPI}" in page and "Projected quality score" in page
    assert "<polyline" in page
    assert "1EG4TE5MK" not in page and "PCN0019" not in page
    assert f"claim #19 ({short_hash('PCN0019')})" in page


def test_report_table(practice: Path) -> None:
    out = _invoke("report", "--store", str(practice))
    assert out.exit_code == 0, out.output
    assert "85.7%" in out.stdout  # 134 completeness 18/21


def test_gaps_masked_and_with_phi(practice: Path) -> None:
    out = _invoke("gaps", "--store", str(practice), "--measures", "134", "--format", "csv")
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["claims"] for r in rows] == [
        f"claim #{i} ({short_hash(f'PCN{i:04d}')})" for i in (19, 20, 21)
    ]
    assert {r["patient"] for r in rows} == {"(hidden)"}
    assert rows[0]["closing_qdcs"].startswith("met: G8431 | G8510; not met: G8432 | G8511")
    assert "1EG4TE5MK" not in out.stdout
    phi = _invoke("gaps", "--store", str(practice), "-m", "134", "-f", "csv", "--show-phi")
    rows = list(csv.DictReader(io.StringIO(phi.stdout)))
    assert [r["patient"] for r in rows] == ["1EG4TE5MK19", "1EG4TE5MK20", "1EG4TE5MK21"]
    assert rows[0]["claims"] == "#19 PCN0019"


def test_check_exit_codes(practice: Path, tmp_path: Path) -> None:
    out = _invoke("check", "--store", str(practice), "--measures", "134")
    assert out.exit_code == 1
    assert "3 without a QDC" in out.stdout
    # A batch where every claim carries a 134 QDC passes for 134 ...
    ok_store = tmp_path / "ok"
    batch = _numbered([visit(i, qdc="G8431") for i in range(3)])
    store.ingest_frame(ok_store, claims_to_frame(batch), sha256="3" * 64, source="ok")
    assert _invoke("check", "--store", str(ok_store), "-m", "134").exit_code == 0
    # ... but not for 181, which it does not report.
    failing = _invoke("check", "--store", str(ok_store), "-m", "181", "-f", "csv")
    assert failing.exit_code == 1
    assert len(list(csv.DictReader(io.StringIO(failing.stdout)))) == 3


def test_check_with_a_year_streams_and_says_the_same(practice: Path) -> None:
    """With --year, check reads in one streaming pass (like report); without, it loads
    everything to find the year of the latest claim. Both list and count the same."""
    inferred = _invoke("check", "--store", str(practice), "-m", "134", "-f", "csv")
    streamed = _invoke("check", "--store", str(practice), "-m", "134", "-f", "csv", "-y", "2025")
    assert (inferred.exit_code, streamed.exit_code) == (1, 1)
    assert streamed.stdout == inferred.stdout and streamed.stdout.count("\n") == 1 + 3
    table = _invoke("check", "--store", str(practice), "-m", "134", "--year", "2025")
    assert "claims, 21 eligible claim-measure pairs in 2025; 3 without a QDC" in table.stdout


def test_check_is_per_claim_even_when_the_patient_has_a_qdc(tmp_path: Path) -> None:
    # Patient 1 seen twice: the QDC on the first visit only. `gaps` (per patient-year)
    # sees no gap; `check` (per claim) flags the second claim.
    claims = [visit(1, qdc="G8431"), visit(1, qdc=None).model_copy(update={"claim_id": "PCN-2"})]
    root = tmp_path / "s"
    store.ingest_frame(root, claims_to_frame(_numbered(claims)), sha256="4" * 64, source="x")
    gaps = _invoke("gaps", "--store", str(root), "-m", "134", "-f", "csv")
    assert list(csv.DictReader(io.StringIO(gaps.stdout))) == []
    check = _invoke("check", "--store", str(root), "-m", "134", "-f", "csv")
    assert check.exit_code == 1
    assert f"claim #1 ({short_hash('PCN-2')})" in check.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _invoke("report").exit_code == 2
    assert _invoke("report", str(tmp_path / "missing.837")).exit_code == 2
    out = _invoke("report", "--store", str(tmp_path))
    assert out.exit_code == 2 and "not a mipsclaims store" in out.stderr
    assert _invoke("report", "--store", str(tmp_path), "--year", "1999").exit_code == 2


def test_every_command_help_has_an_example() -> None:
    for command in ("report", "gaps", "check", "ingest"):
        out = _invoke(command, "--help")
        assert out.exit_code == 0 and "Example: mipsclaims " + command in out.stdout


def test_table_and_gaps_to_a_file(practice: Path, tmp_path: Path) -> None:
    table = tmp_path / "table.txt"
    assert _invoke("report", "--store", str(practice), "-o", str(table)).exit_code == 0
    assert "85.7%" in table.read_text()
    worklist = tmp_path / "gaps.txt"
    assert (
        _invoke("gaps", "--store", str(practice), "-m", "134", "-o", str(worklist)).exit_code == 0
    )
    text = worklist.read_text()
    assert f"claim #19 ({short_hash('PCN0019')})" in text and "1EG4TE5MK" not in text


def test_unreadable_files_exit_2_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.837"
    bad.write_text("ISA*00*garbage~")
    out = _invoke("report", str(bad))
    assert out.exit_code == 2 and "bad.837" in out.stderr and "byte 0" in out.stderr
    ingest = _invoke("ingest", "--store", str(tmp_path / "s"), str(bad))
    assert ingest.exit_code == 2 and "ISA" in ingest.stderr
    assert not (tmp_path / "s" / store.MANIFEST).exists()
