"""``mipsclaims lines``: formats, exit codes, PHI masked unless --show-phi, safe CSV."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
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
    args = ["lines", "--show-phi", str(src)]
    result = runner.invoke(app, [*args, "--format", "parquet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "contains PHI" in result.stderr
    assert_frame_equal(pl.read_parquet(out), expected)
    result = runner.invoke(app, [*args, "-f", "csv", "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0
    assert_frame_equal(flatfile.read_flat_claim_lines(tmp_path / "o.csv").drop("source"),
                       expected.drop("source"))  # fmt: skip
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout[result.stdout.index("[") :])
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


def test_lines_masks_phi_by_default(tmp_path, monkeypatch):
    src = tmp_path / "in.837"
    src.write_bytes(synthetic_837(SynthConfig(claims=40, seed=4)))
    full = x12.read_claim_lines(src)
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["lines", str(src), "-f", "parquet", "-o", str(out)])
    assert result.exit_code == 0 and "PHI" not in result.stderr
    masked = pl.read_parquet(out)
    assert masked.schema == full.schema and masked.height == full.height
    assert masked["patient_name"].null_count() == masked["birth_date"].null_count() == full.height
    # Pseudonyms: one per patient and per claim number, none equal to a real id.
    for column, prefix in (("patient_id", "PT-"), ("claim_id", "CLM-")):
        assert masked[column].str.starts_with(prefix).all()
        assert masked[column].n_unique() == full[column].n_unique()
        pairs = pl.DataFrame({"real": full[column], "fake": masked[column]}).unique()
        assert pairs.height == full[column].n_unique()
        assert not set(masked[column]) & set(full[column])
    assert_frame_equal(
        masked.drop("patient_id", "claim_id", "patient_name", "birth_date"),
        full.drop("patient_id", "claim_id", "patient_name", "birth_date"),
    )
    # The pseudonyms are keyed: another key gives other pseudonyms.
    monkeypatch.setenv("MIPSCLAIMS_PSEUDONYM_KEY", "practice-secret")
    runner.invoke(app, ["lines", str(src), "-f", "parquet", "-o", str(out)])
    rekeyed = pl.read_parquet(out)
    assert not set(rekeyed["patient_id"]) & set(masked["patient_id"])


def test_lines_csv_cells_cannot_be_formulas(tmp_path):
    data = synthetic_837(SynthConfig(claims=5, seed=2))
    data = data.replace(b"SV1*HC:", b"SV1*HC:=1+2", 1).replace(b"*PI*", b"*PI*@SUM(A1)", 1)
    (tmp_path / "in.837").write_bytes(data)
    result = runner.invoke(app, ["lines", str(tmp_path / "in.837"), "-f", "csv"])
    assert result.exit_code == 0, result.output
    cells = [cell for row in result.stdout.splitlines() for cell in row.split(",")]
    assert any(c.startswith("'@SUM(A1)") for c in cells)
    assert any(c.startswith("'=1+2") for c in cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "@")]


def _parts(table: pl.DataFrame, n: int) -> list[pl.DataFrame]:
    step = -(-table.height // n)
    return [table.slice(i, step) for i in range(0, table.height, step)]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_lines_text_written_batch_by_batch_is_one_table(fmt):
    """CSV and JSON are written batch by batch (memory follows the batch size); the bytes
    are those of the whole table written at once."""
    from mipsclaims.lines_out import write_text

    table = x12.read_claim_lines(synthetic_837(SynthConfig(claims=30, seed=5)))
    whole, batched = io.BytesIO(), io.BytesIO()
    write_text([table], fmt, whole)
    write_text([table.clear(), *_parts(table, 4), table.clear()], fmt, batched)
    assert batched.getvalue() == whole.getvalue()
    empty = io.BytesIO()
    write_text([], fmt, empty)
    if fmt == "json":
        assert len(json.loads(batched.getvalue())) == table.height
        assert json.loads(empty.getvalue()) == []
    else:
        assert empty.getvalue().decode().startswith("source,")


def test_lines_parquet_from_spilled_parts_is_one_table(tmp_path):
    from mipsclaims.lines_out import write_parquet

    table = x12.read_claim_lines(synthetic_837(SynthConfig(claims=30, seed=5)))
    write_parquet(_parts(table, 3), tmp_path / "out.parquet")
    assert_frame_equal(pl.read_parquet(tmp_path / "out.parquet"), table)
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # parts removed
    write_parquet([], tmp_path / "empty.parquet")
    assert pl.read_parquet(tmp_path / "empty.parquet").schema == table.schema


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_lines_failed_read_leaves_no_partial_output(tmp_path, fmt):
    """A file that fails mid-way (an 835 after a good 837) exits 2; the output file is not
    written (an older one is kept) and no partial or part file is left behind."""
    good = tmp_path / "good.837"
    good.write_bytes(synthetic_837(SynthConfig(claims=20, seed=3)))
    remit = tmp_path / "remit.835"
    remit.write_bytes(synthetic_837(SynthConfig(claims=2)).replace(b"ST*837*", b"ST*835*"))
    out = tmp_path / f"out.{fmt}"
    out.write_bytes(b"older output")
    result = runner.invoke(app, ["lines", "-f", fmt, str(good), str(remit), "-o", str(out)])
    assert result.exit_code == 2 and "835" in result.stderr
    assert out.read_bytes() == b"older output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["good.837", "remit.835", out.name])
    result = runner.invoke(app, ["lines", "-f", fmt, str(good), "-o", str(out)])
    assert result.exit_code == 0 and out.read_bytes() != b"older output"


def test_lines_output_keeps_mode_and_follows_symlinks(tmp_path):
    """Replacing an older output keeps its permissions (a 0600 PHI file stays 0600), and an
    output given through a symlink is written to the link's target, the link kept."""
    out_direct = tmp_path / "direct.csv"
    out_direct.write_bytes(b"old")
    out_direct.chmod(0o600)
    src0 = tmp_path / "in0.837"
    src0.write_bytes(synthetic_837(SynthConfig(claims=3, seed=2)))
    result = runner.invoke(app, ["lines", "--show-phi", str(src0), "-o", str(out_direct)])
    assert result.exit_code == 0, result.output
    assert out_direct.read_bytes().startswith(b"source,")
    assert (out_direct.stat().st_mode & 0o777) == 0o600
    src = tmp_path / "in.837"
    src.write_bytes(synthetic_837(SynthConfig(claims=5, seed=1)))
    private = tmp_path / "private"
    private.mkdir()
    out = private / "lines.csv"
    out.write_bytes(b"old")
    out.chmod(0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(out)
    result = runner.invoke(app, ["lines", "--show-phi", str(src), "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == out
    assert out.read_bytes().startswith(b"source,") and (out.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in private.iterdir()) == ["lines.csv"]


def test_lines_output_to_a_pipe_is_written_directly(tmp_path):
    """A named pipe (like /dev/stdout or a process substitution) is written to, not
    replaced by a regular file."""
    import os
    import threading

    src = tmp_path / "in.837"
    src.write_bytes(synthetic_837(SynthConfig(claims=5, seed=1)))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    result = runner.invoke(app, ["lines", str(src), "-o", str(fifo)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert fifo.is_fifo() and received and received[0].startswith(b"source,")


def test_lines_errors_print_input_literally(tmp_path):
    """An error quoting input (here a file name that looks like rich markup) is printed as
    is, through the commands' shared fail()."""
    result = runner.invoke(app, ["lines", str(tmp_path / "[bold]claims.837")])
    assert result.exit_code == 2 and "[bold]claims.837" in result.stderr
