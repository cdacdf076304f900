"""The example practice: reproducible from its script, and reported end to end."""

from __future__ import annotations

import importlib.util
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
