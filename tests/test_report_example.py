"""The example practice: reproducible from its script, and reported end to end."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mipsclaims.cli import app

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pt-clinic-2025.837"
runner = CliRunner()


def _script():
    spec = importlib.util.spec_from_file_location(
        "make_pt_clinic", EXAMPLE.with_name("make_pt_clinic.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_example_is_what_the_script_makes() -> None:
    from mipsclaims.synth import render_claims

    script = _script()
    assert render_claims(script.build(random.Random(script.SEED))) == EXAMPLE.read_bytes()
    assert EXAMPLE.stat().st_size < 1_000_000


@pytest.fixture(scope="module")
def example_store(tmp_path_factory) -> Path:
    """The example ingested through the CLI (needs the input readers)."""
    pytest.importorskip("mipsclaims.inputs")
    root = tmp_path_factory.mktemp("example-store")
    out = runner.invoke(app, ["ingest", "--store", str(root), str(EXAMPLE)])
    assert out.exit_code == 0, out.output
    assert "added (484 claims" in out.stdout
    again = runner.invoke(app, ["ingest", "--store", str(root), str(EXAMPLE)])
    assert "already in the store" in again.stdout
    return root


def test_example_report_same_from_file_and_store(example_store: Path) -> None:
    args = ["report", "--year", "2025", "--format", "json", "-q"]
    from_file = runner.invoke(app, [*args, str(EXAMPLE)])
    from_store = runner.invoke(app, [*args, "--store", str(example_store)])
    assert from_file.exit_code == 0 and from_store.exit_code == 0, from_file.output
    rows = json.loads(from_file.stdout)["rows"]
    assert json.loads(from_store.stdout)["rows"] == rows
    npis = {r["npi"] for r in rows}
    assert npis == {"1234567893", "1245319599"}
    measures = {r["measure_id"] for r in rows}
    assert {"047", "128", "134", "181", "226"} <= measures
    scope = {s["reason"]: s["claims"] for s in json.loads(from_file.stdout)["scope"]}
    assert scope["not_part_b"] == 3 and scope["voided"] == 1 and scope["replaced"] == 1


def test_example_check_fails_and_lists_claims(example_store: Path) -> None:
    out = runner.invoke(app, ["check", "--store", str(example_store), "-m", "128,134,181,226"])
    assert out.exit_code == 1
    assert "without a QDC" in out.stdout


def test_no_phi_in_any_default_output(tmp_path: Path) -> None:
    """Member ids (9EX…), patient names and CLM01s (EX0000-1) appear only with --show-phi."""
    pytest.importorskip("mipsclaims.inputs")
    phi = ("9EX0", "ALDER", "BIRCH", "EX0047-1", "1947-09-04", "19470904")
    page = tmp_path / "r.html"
    outputs = [
        runner.invoke(app, ["report", "-q", "-f", fmt, str(EXAMPLE)]).stdout
        for fmt in ("table", "json", "csv")
    ]
    runner.invoke(app, ["report", "-q", "-f", "html", "-o", str(page), str(EXAMPLE)])
    outputs.append(page.read_text())
    outputs.append(runner.invoke(app, ["gaps", "-q", "-f", "csv", str(EXAMPLE)]).stdout)
    outputs.append(runner.invoke(app, ["check", "-q", "-f", "csv", str(EXAMPLE)]).stdout)
    for text in outputs:
        assert len(text) > 500
        assert not [p for p in phi if p in text]
    shown = runner.invoke(app, ["gaps", "-q", "-f", "csv", "--show-phi", str(EXAMPLE)]).stdout
    assert "9EX0" in shown


# --- 2026: the year in progress, counted provisionally with the 2025 codes ------------------

EXAMPLE_2026 = REPO / "examples" / "pt-clinic-2026.837"


def test_committed_2026_example_is_what_the_script_makes() -> None:
    from mipsclaims.synth import render_claims

    script = _script()
    claims = script.build(random.Random(script.SEEDS[2026]), 2026)
    assert render_claims(claims) == EXAMPLE_2026.read_bytes()
    dates = [ln.service_date for c in claims for ln in c.lines]
    assert min(dates).year == 2026 and max(dates) <= script.THROUGH[2026]


def _run(*args: str) -> str:
    out = runner.invoke(app, list(args))
    assert out.exit_code in (0, 1), out.output
    return out.stdout


def test_every_2026_output_says_it_is_provisional(tmp_path: Path) -> None:
    pytest.importorskip("mipsclaims.inputs")
    note = "Provisional 2026: CMS has not published the 2026 claims single source yet"
    ex = str(EXAMPLE_2026)
    table = _run("report", "-y", "2026", "-q", ex)
    assert table.startswith(note[:40])  # the first line, before any table
    payload = json.loads(_run("report", "-y", "2026", "-q", "-f", "json", ex))
    assert payload["spec"]["provisional"] is True and payload["spec"]["coding_year"] == 2025
    assert payload["spec"]["note"].startswith(note)
    assert {r["measure_id"] for r in payload["rows"]} >= {"128", "134", "181", "226"}
    from mipsclaims.report.export import ROW_KEYS

    assert all(list(r)[: len(ROW_KEYS)] == list(ROW_KEYS) for r in payload["rows"])
    for command in (["report"], ["gaps"], ["check", "-m", "128,134"]):
        rows = list(
            csv.DictReader(io.StringIO(_run(*command, "-y", "2026", "-q", "-f", "csv", ex)))
        )
        assert rows, command
        assert {(r["spec_coding_year"], r["spec_provisional"]) for r in rows} == {("2025", "true")}
    for command in (["gaps"], ["check", "-m", "128,134"]):
        assert _run(*command, "-y", "2026", "-q", ex).startswith(note[:40]), command
    page = tmp_path / "r.html"
    _run("report", "-y", "2026", "-q", "-f", "html", "-o", str(page), ex)
    html = page.read_text()
    assert 'class="provisional"' in html and "2025 codes" in html
    assert html.index('class="provisional"') < html.index("<h1>")


def test_2025_outputs_are_not_marked_provisional(tmp_path: Path) -> None:
    pytest.importorskip("mipsclaims.inputs")
    ex = str(EXAMPLE)
    assert "Provisional" not in _run("report", "-q", ex)
    payload = json.loads(_run("report", "-q", "-f", "json", ex))
    assert payload["spec"]["provisional"] is False and payload["spec"]["note"] is None
    rows = list(csv.DictReader(io.StringIO(_run("report", "-q", "-f", "csv", ex))))
    assert {(r["spec_coding_year"], r["spec_provisional"]) for r in rows} == {("2025", "false")}
    page = tmp_path / "r.html"
    _run("report", "-q", "-f", "html", "-o", str(page), ex)
    assert 'class="provisional"' not in page.read_text()


def test_check_claim_works_for_2026() -> None:
    import mipsclaims

    script = _script()
    claims = script.build(random.Random(script.SEEDS[2026]), 2026)
    evaluation = next(c for c in claims if c.lines[0].procedure_code in {"97161", "97162"})
    check = mipsclaims.check_claim(evaluation, 2026)
    assert {m.measure_id for m in check.measures} >= {"128", "134", "226"}
