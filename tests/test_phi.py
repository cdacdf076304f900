"""No PHI in any output that did not ask for it (issue 8, docs/security.md).

A generated 837P gets distinctive planted PHI: patient names, member ids, claim numbers
(CLM01), subscriber and dependent addresses (N3/N4) and a provider SSN, plus the birth
dates it already has. Every command runs on it, on a corrupted copy (quarantined claims,
a bad birth date, a failed interchange carrying PHI) and on an unreadable file; none of
stdout, stderr, log records or written files may contain any of those values. Only
``gaps --show-phi`` and ``lines --show-phi`` show them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from mipsclaims.cli import app
from mipsclaims.synth import SynthConfig, synthetic_837

runner = CliRunner()
MARKS = ("ZQLAST", "ZQFIRST", "ZQMEM", "ZQCLM", "ZQSTREET", "ZQCITY", "998877665")


def _plant(text: str) -> tuple[str, list[str]]:
    """Distinctive PHI in every patient field; returns the text and every value to look for."""
    members: dict[str, str] = {}
    claims: dict[str, str] = {}
    values = list(MARKS)
    out = []
    for seg in text.split("~\n"):
        el = seg.split("*")
        if el[0] == "NM1" and el[1] in ("IL", "QC"):
            n = len(out)
            el[3], el[4] = f"ZQLAST{n}", f"ZQFIRST{n}"
            if el[1] == "IL":
                el[9] = members.setdefault(el[9], f"ZQMEM{len(members)}X")
            seg = "*".join(el) + f"~\nN3*{n} ZQSTREET*APT 9~\nN4*ZQCITY{n}*MD*998877665"
        elif el[0] == "CLM":
            el[1] = claims.setdefault(el[1], f"ZQCLM{len(claims)}")
            seg = "*".join(el)
        elif el[0] == "DMG" and el[2]:
            values += [el[2], f"{el[2][:4]}-{el[2][4:6]}-{el[2][6:]}"]
        elif el[0] == "REF" and el[1] == "SY":
            values.append(el[2])
        out.append(seg)
    return "~\n".join(out), sorted(set(values))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[dict[str, Path], list[str]]:
    root = tmp_path_factory.mktemp("phi")
    text, phi = _plant(synthetic_837(SynthConfig(claims=40, seed=2)).decode())
    assert "REF*SY*" in text and "NM1*QC*" in text  # an SSN-billed provider and a dependent
    valid = root / "valid.837"
    valid.write_text(text)
    # Corrupted: two quarantined claims (bad service date, bad birth date) and a second
    # interchange whose GS is not 837P, full of PHI.
    bad = text.replace("DTP*472*D8*2025", "DTP*472*D8*ZQ25", 1)
    dmg = re.search(r"DMG\*D8\*(\d{8})", bad)
    bad = bad.replace(dmg.group(0), f"DMG*D8*{dmg.group(1)[:4]}ZQ{dmg.group(1)[6:]}", 1)
    phi.append(f"{dmg.group(1)[:4]}ZQ{dmg.group(1)[6:]}")
    second = text.replace("005010X222A1", "004010X098A1").replace("000000001", "000000002")
    corrupted = root / "corrupted.837"
    corrupted.write_text(bad + second)
    unreadable = root / "unreadable.837"
    unreadable.write_text(text[:60] + "\n" + text[200:])  # a truncated ISA
    return {"valid": valid, "corrupted": corrupted, "unreadable": unreadable}, phi


def _leaks(text: str, phi: list[str]) -> list[str]:
    return [p for p in phi if p in text]


def _run(args: list[str], caplog: pytest.LogCaptureFixture):
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        result = runner.invoke(app, args)
    logs = "\n".join(r.getMessage() for r in caplog.records)
    return result, result.stdout + "\n" + result.stderr + "\n" + logs


def _written(path: Path) -> str:
    if path.suffix == ".parquet":
        return str(pl.read_parquet(path).rows())
    return path.read_text(encoding="utf-8", errors="replace")


COMMANDS = [
    ["report", "-f", "table"],
    ["report", "-f", "json"],
    ["report", "-f", "csv"],
    ["report", "-f", "html", "-o", "{out}.html"],
    ["gaps"],
    ["gaps", "-f", "csv", "-o", "{out}.csv"],
    ["check"],
    ["check", "-f", "csv"],
    ["score", "--year", "2025"],
    ["lines"],
    ["lines", "-f", "json"],
    ["lines", "-f", "parquet", "-o", "{out}.parquet"],
]


@pytest.mark.parametrize("which", ["valid", "corrupted"])
def test_no_phi_in_any_default_output(files, which, tmp_path, caplog):
    paths, phi = files
    src = str(paths[which])
    for i, command in enumerate(COMMANDS):
        out = str(tmp_path / f"out{i}")
        args = [a.format(out=out) for a in command]
        result, text = _run([*args, src], caplog)
        assert result.exit_code in (0, 1), (args, result.output, result.exception)
        written = [Path(a) for a in args if a.startswith(out)]
        text += "".join(_written(p) for p in written)
        assert len(text) > 200, args
        assert not _leaks(text, phi), (args, _leaks(text, phi))
        if which == "corrupted" and "-o" not in args and command[0] != "score":
            assert "quarantined" in text or "could not be read" in text, args


@pytest.mark.parametrize("which", ["valid", "corrupted"])
def test_ingest_and_store_reports_carry_no_phi(files, which, tmp_path, caplog):
    paths, phi = files
    store = str(tmp_path / "store")
    result, text = _run(["ingest", "--store", store, str(paths[which])], caplog)
    assert result.exit_code == 0, result.output
    assert not _leaks(text, phi), _leaks(text, phi)
    assert ("quarantined" in text) is (which == "corrupted")
    for args in (["report", "-f", "table"], ["report", "-f", "json"], ["gaps"], ["check"]):
        result, text = _run([*args, "--store", store], caplog)
        assert result.exit_code in (0, 1), (args, result.output)
        assert len(text) > 200 and not _leaks(text, phi), (args, _leaks(text, phi))


@pytest.mark.parametrize(
    "command",
    [["report"], ["gaps"], ["check"], ["score", "--year", "2025"], ["lines"], ["ingest"]],
)
def test_unreadable_file_errors_carry_no_phi(files, command, tmp_path, caplog):
    paths, phi = files
    args = [*command, str(paths["unreadable"])]
    if command == ["ingest"]:
        args = ["ingest", "--store", str(tmp_path / "s"), str(paths["unreadable"])]
    result, text = _run(args, caplog)
    assert result.exit_code == 2, result.output
    assert "unreadable.837" in text and "byte 0" in text
    assert not _leaks(text, phi)


def test_show_phi_is_the_only_way_to_see_patients(files, caplog):
    paths, _ = files
    result, _ = _run(["gaps", "--show-phi", "-f", "csv", str(paths["valid"])], caplog)
    assert result.exit_code == 0
    assert "ZQMEM" in result.stdout and "ZQCLM" in result.stdout
    result, _ = _run(["lines", "--show-phi", "-f", "csv", str(paths["valid"])], caplog)
    assert "ZQMEM" in result.stdout and "ZQLAST" in result.stdout
    assert "contains PHI" in result.stderr
