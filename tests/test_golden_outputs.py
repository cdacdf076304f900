"""Every command's output, byte for byte, against outputs recorded before a refactor.

Issue 19 moves input handling and rendering out of the CLI into the library; what a user
sees must not change. The inputs are the bundled example, a synthetic 837 with its 835
answer, the same claims as a claim-line CSV, and a store: every command runs on them and
its output is compared with ``tests/golden/<case>``. The one volatile text (the HTML
report's generation time) is blanked before comparing.

Record again (only when an output change is intended, and say so in the commit):
``MIPSCLAIMS_REGEN_GOLDEN=1 pytest tests/test_golden_outputs.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mipsclaims.cli import app

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("MIPSCLAIMS_REGEN_GOLDEN") == "1"

#: case name -> command line; inputs are named relative to the working directory.
CASES: dict[str, list[str]] = {
    "report-example-table.txt": ["report", "-q", "example.837"],
    "report-example.json": ["report", "-q", "-f", "json", "example.837"],
    "report-example.csv": ["report", "-q", "-f", "csv", "example.837"],
    "report-example.html": ["report", "-q", "-f", "html", "example.837"],
    "report-example-tin.json": ["report", "-q", "-f", "json", "--level", "tin", "example.837"],
    "report-example-small.json": ["report", "-q", "-f", "json", "--small-practice", "example.837"],
    "report-2026-table.txt": ["report", "-q", "-y", "2026", "example-2026.837"],
    "report-2026.csv": ["report", "-q", "-y", "2026", "-f", "csv", "example-2026.837"],
    "report-synth.json": ["report", "-q", "-f", "json", "synth.837"],
    "report-synth-csvinput.json": ["report", "-q", "-f", "json", "lines.csv"],
    "report-store.json": ["report", "-q", "-f", "json", "--store", "store"],
    "report-two-files.csv": ["report", "-q", "-f", "csv", "example.837", "synth.837"],
    "report-remit-table.txt": [
        "report",
        "-q",
        "--remit",
        "remit-1.835",
        "--remit",
        "remit-2.835",
        "synth.837",
    ],
    "report-remit.json": [
        "report",
        "-q",
        "-f",
        "json",
        "--remit",
        "remit-1.835",
        "--remit",
        "remit-2.835",
        "synth.837",
    ],
    "gaps-example-table.txt": ["gaps", "-q", "example.837"],
    "gaps-synth.csv": ["gaps", "-q", "-f", "csv", "synth.837"],
    "gaps-synth-measures.csv": ["gaps", "-q", "-f", "csv", "-m", "134,155", "synth.837"],
    "gaps-remit.csv": [
        "gaps",
        "-q",
        "-f",
        "csv",
        "--remit",
        "remit-1.835",
        "--remit",
        "remit-2.835",
        "synth.837",
    ],
    "check-example-table.txt": ["check", "-q", "example.837"],
    "check-synth.csv": ["check", "-q", "-f", "csv", "synth.837"],
    "score-example-table.txt": ["score", "-y", "2025", "example.837"],
    "score-example.json": [
        "score",
        "-y",
        "2025",
        "--format",
        "json",
        "--small-practice",
        "example.837",
    ],
    "score-example-both-table.txt": ["score", "-y", "2025", "--level", "both", "example.837"],
    "score-2026-mvp.json": [
        "score",
        "-y",
        "2026",
        "--format",
        "json",
        "--small-practice",
        "--mvp",
        "M1370",
        "example-2026.837",
    ],
    "score-rows.json": [
        "score",
        "-y",
        "2025",
        "--format",
        "json",
        "--rows",
        "rows.json",
        "--through-month",
        "6",
    ],
    "lines-synth.csv": ["lines", "synth.837"],
}

#: Cases whose command exits non-zero by design (check: eligible claims lack a QDC).
EXIT_CODE: dict[str, int] = {"check-example-table.txt": 1, "check-synth.csv": 1}

_GENERATED = re.compile(rb"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inputs, made once: copies of the examples, a synthetic 837 and its 835, the
    synthetic claims as a claim-line CSV, a store of both 837s and a rows file."""
    work = tmp_path_factory.mktemp("golden")
    shutil.copy(ROOT / "examples" / "pt-clinic-2025.837", work / "example.837")
    shutil.copy(ROOT / "examples" / "pt-clinic-2026.837", work / "example-2026.837")
    made = [
        ["synth", "-n", "150", "-s", "19", "-o", "synth.837", "--remit", "remit"],
        ["lines", "--show-phi", "synth.837", "-o", "lines.csv"],
        ["ingest", "-q", "--store", "store", "example.837", "synth.837"],
        ["report", "-q", "-f", "json", "example.837", "-o", "rows.json"],
    ]
    for args in made:
        _run(work, args)
    # synth writes Medicare's answer as two 835s: remit-1.835, remit-2.835.
    assert sorted(p.name for p in work.glob("remit*.835")) == ["remit-1.835", "remit-2.835"]
    return work


def _run(work: Path, args: list[str], exit_code: int = 0) -> bytes:
    with contextlib.chdir(work):
        result = CliRunner().invoke(
            app, args, catch_exceptions=False, env={"COLUMNS": "120", "NO_COLOR": "1"}
        )
    assert result.exit_code == exit_code, (args, result.output)
    return _GENERATED.sub(b"generated <time>", result.stdout_bytes)


@pytest.mark.parametrize("case", sorted(CASES))
def test_output_unchanged(workdir: Path, case: str) -> None:
    out = _run(workdir, CASES[case], EXIT_CODE.get(case, 0))
    assert out.strip(), f"{case}: empty output"
    path = GOLDEN / case
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(out)
    assert path.exists(), f"no recorded output for {case}: run with MIPSCLAIMS_REGEN_GOLDEN=1"
    recorded = path.read_bytes()
    assert out == recorded, f"{case}: output differs from tests/golden/{case}"
