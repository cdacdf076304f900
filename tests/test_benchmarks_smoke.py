"""The benchmark harness runs end to end on tiny files and writes every row (no timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bench(script: str, *args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``benchmarks/<script>`` with its cache in ``cache_dir``; it must succeed."""
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, "--cache-dir", str(cache_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_run_py_writes_results_with_every_row(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    args = ["--lines", "1500", "--large-lines", "3000", "--no-pyx12"]  # pyx12: slow import
    args += ["--check-n", "30", "--repeat", "1", "--many", "20", "--output", str(out)]
    done = _bench("run.py", *args, cache_dir=tmp_path)
    text = out.read_text(encoding="utf-8")
    for row in (
        "| report end to end, 1500 lines (CLI, JSON) |",
        "| report end to end / naive split, 1500 |",
        "| evaluate() end to end, 1500 (API, after imports) |",
        "| parse-only, 1500, one core (lines per CPU second) |",
        "| parse-only, 1500, 1 polars thread |",
        "| parse-only, 1500, all threads |",
        "| peak RSS, report 1500 |",
        "| peak RSS, report 3k |",
        "| check_claim p95 (n=30) |",
        "| reference: minimal polars pipeline, 1500, 1 thread |",
        "| baseline: naive split, 1500 |",
        "| baseline: pyx12 | skipped (--no-pyx12) |",
        "| parse-only, 1500, all threads, columnar reader (before) |",
        "| report end to end, 1500, columnar reader (before) |",
        "| 20 one-claim interchanges, parse-only, fast reader |",
        "| 20 one-claim interchanges, parse-only, columnar reader |",
    ):
        assert row in text, row
    assert "- CPU:" in text and "- polars:" in text and "- git:" in text
    # The reader and the naive split saw the same service lines (no row counts differ).
    assert "the naive split found" not in text
    assert "the minimal polars pipeline found" not in text
    assert "--cache-dir" not in text and str(tmp_path) not in text
    # The table printed on stdout is the one written.
    table = text.split("## Results\n\n", 1)[1].split("\n\n", 1)[0]
    assert table in done.stdout


def test_bench_engine_times_every_step_on_a_tiny_table(tmp_path: Path) -> None:
    args = ["--lines", "1500", "--repeat", "2", "--batch-rows", "400"]
    done = _bench("bench_engine.py", *args, cache_dir=tmp_path)
    for step in ("split", "eligibility", "markers", "findings", "store", "superseded", "group"):
        assert f"| {step} |" in done.stdout, step
    assert "| 1+2 | **total** |" in done.stdout
    for part in ("_people", "_with_claim_columns", "instance_keys", "instance_marks"):
        assert f"| 2 | of which `{part}` |" in done.stdout, part
    assert list(tmp_path.glob("*.canonical.parquet"))  # the table is cached for the next run


def test_bench_memory_measures_each_setting_in_its_own_child(tmp_path: Path) -> None:
    args = ["--lines", "1500", "--threads", "0", "2", "--gather", "500", "--timeline"]
    done = _bench("bench_memory.py", *args, cache_dir=tmp_path)
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 0 |", "| 2 |"))]
    assert [row.split("|")[1:3] for row in rows] == [[" 0 ", " 500 "], [" 2 ", " 500 "]]
    for row in rows:
        rss, cpu, wall, phase1, at2, phase2 = (float(x) for x in row.split("|")[3:9])
        assert 50 < rss < 5000 and cpu > 0 and wall > 0
        # The phase peaks are the child's own samples, within its peak RSS.
        assert 0 < phase1 <= rss + 1 and 0 < at2 <= phase2 <= rss + 1
