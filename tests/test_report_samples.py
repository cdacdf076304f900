"""Real public 837P samples through the CLI: every claim is accounted for in the scope.

Expected counts from shared/x12-samples/SOURCES.md: 841 claims (2 + 6 + 820 + 6 + 4 + 2 + 1)
and 845 service lines (2 + 10 + 820 + 6 + 4 + 2 + 1). None is Medicare Part B.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from mipsclaims.cli import app

runner = CliRunner()


def _samples(root: Path) -> list[str]:
    return [str(p) for p in sorted(root.glob("*.txt"))] + [str(root / "uhin__837.edi")]


def test_samples_scope_accounts_for_every_claim(x12_samples: Path) -> None:
    out = runner.invoke(
        app, ["report", "--year", "2025", "-f", "json", "-q", *_samples(x12_samples)]
    )
    assert out.exit_code == 0, out.output
    scope = json.loads(out.stdout)["scope"]
    assert sum(s["claims"] for s in scope) == 841
    assert sum(s["lines"] for s in scope) == 845
    assert {s["reason"]: s["claims"] for s in scope}["not_part_b"] == 841


def test_samples_ingested_twice_report_the_same(x12_samples: Path, tmp_path: Path) -> None:
    """The samples repeat claims across files (imsweb's sample claim in five of them): the
    store keeps each once (docs/security.md, section 13), so it holds 841 claims less
    those ingest reports as skipped; ingesting everything again changes nothing."""
    files = _samples(x12_samples)
    first = runner.invoke(app, ["ingest", "--store", str(tmp_path), *files])
    assert first.exit_code == 0, first.output
    assert first.stdout.count("added") == 7
    skipped = sum(int(n) for n in re.findall(r"(\d+) claim\(s\) skipped", first.stderr))
    assert skipped == 12
    args = ["report", "--year", "2025", "-f", "json", "-q"]
    once = json.loads(runner.invoke(app, [*args, "--store", str(tmp_path)]).stdout)
    second = runner.invoke(app, ["ingest", "--store", str(tmp_path), *files])
    assert second.stdout.count("already in the store") == 7
    from_store = json.loads(runner.invoke(app, [*args, "--store", str(tmp_path)]).stdout)
    from_files = json.loads(runner.invoke(app, [*args, *files]).stdout)
    assert from_store == once
    assert sum(s["claims"] for s in from_store["scope"]) == 841 - skipped
    assert from_store["rows"] == from_files["rows"]
