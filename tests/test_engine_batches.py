"""The engine fed in batches (its streaming path) gives exactly what it gives on one table.

Replacement and void are resolved only once every batch has been seen, so a void in a later
batch (or file) must still remove a claim reduced in an earlier one.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from mipsclaims import evaluate, inputs
from mipsclaims.engine import evaluate_lines

synth = pytest.importorskip("mipsclaims.synth")
x12 = pytest.importorskip("mipsclaims.x12")

OUTPUTS = ("rows", "monthly", "instances", "findings", "scope")


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in a fixed order (instance and finding order among equal keys is not a contract)."""
    keys = [
        pl.col(c).cast(pl.List(pl.String)).list.join("\x1f").alias(f"_k{c}")
        if isinstance(d, pl.List)
        else pl.col(c).alias(f"_k{c}")
        for c, d in frame.schema.items()
    ]
    keyed = frame.with_columns(keys)
    return keyed.sort([c for c in keyed.columns if c.startswith("_k")], nulls_last=True).select(
        frame.columns
    )


def assert_same(a, b) -> None:
    for name in OUTPUTS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.schema == y.schema, name
        assert canonical(x).equals(canonical(y)), name


@pytest.fixture(scope="module", params=[2023, 2025])
def synthetic(request):
    data = synth.synthetic_837(synth.SynthConfig(year=request.param, claims=600, seed=5))
    return request.param, x12.read_claim_lines(data)


@pytest.mark.parametrize("size", [29, 500])
@pytest.mark.parametrize("level", ["tin-npi", "tin"])
def test_batches_of_any_size_give_the_same_result(synthetic, size, level, monkeypatch):
    import mipsclaims.engine.pipeline as pipeline

    year, lines = synthetic
    whole = evaluate_lines(lines, year, level=level)
    # Small batches are gathered (up to 100 rows here), so phase 1 still sees many.
    monkeypatch.setattr(pipeline, "GATHER_ROWS", 100)
    # Row slices cut claims in two: the engine must carry a claim's lines to the next batch.
    batches = (lines.slice(i, size) for i in range(0, lines.height, size))
    assert_same(whole, evaluate_lines(batches, year, level=level))


def test_the_synthetic_data_exercises_replacement_and_void(synthetic):
    year, lines = synthetic
    scope = dict(evaluate_lines(lines, year).scope.select("reason", "claims").iter_rows())
    assert scope.get("replaced", 0) > 0 and scope.get("voided", 0) > 0


def _claim(seq: int, frequency: str, code: str = "99213") -> dict:
    return {
        "source": "a.837",
        "claim_seq": seq,
        "claim_id": "PCN-1",
        "frequency": frequency,
        "filing_indicator": "MB",
        "tin": "123456789",
        "billing_npi": "1111111111",
        "rendering_npi": "1111111111",
        "patient_id": "P1",
        "birth_date": dt.date(1950, 1, 1),
        "sex": "F",
        "diagnosis_codes": ["I10"],
        "line_number": 1,
        "procedure_code": code,
        "modifiers": [],
        "service_date": dt.date(2025, 3, 1),
        "charge": 100.0,
        "claim_pos": "11",
    }


def test_a_void_in_a_later_batch_removes_the_earlier_claim():
    from mipsclaims.schema import conform

    first = conform(pl.DataFrame([_claim(0, "1")]))
    void = conform(pl.DataFrame([_claim(1, "8")]))
    result = evaluate_lines(iter([first, void]), 2025)
    scope = dict(result.scope.select("reason", "claims").iter_rows())
    assert scope == {"voided": 1, "void_request": 1, "evaluated": 0}
    assert result.instances.height == 0
    kept = evaluate_lines(iter([first]), 2025)
    assert dict(kept.scope.select("reason", "claims").iter_rows()) == {"evaluated": 1}


def test_files_are_streamed_with_the_same_numbering_as_one_table(tmp_path):
    data = synth.synthetic_837(synth.SynthConfig(year=2025, claims=300, seed=8))
    # The same claims twice: replacements and voids of the second file act on the first.
    paths = [tmp_path / "a.837", tmp_path / "b.837"]
    for path in paths:
        path.write_bytes(data)
    lines, _ = inputs.load_claim_lines(paths, batch_bytes=4096)
    streamed = list(inputs.iter_claim_lines(paths, batch_bytes=4096))
    assert len(streamed) > 2
    assert pl.concat(streamed).equals(lines)
    assert_same(evaluate_lines(lines, 2025), evaluate(paths, 2025))


def test_a_table_is_cut_into_batches_even_with_claims_out_of_order(synthetic, monkeypatch):
    import mipsclaims.engine.pipeline as pipeline

    year, lines = synthetic
    whole = evaluate_lines(lines, year)
    monkeypatch.setattr(pipeline, "TABLE_BATCH_ROWS", 50)
    # Lines of a claim scattered through the table: batching must regroup them.
    shuffled = lines.sample(fraction=1.0, shuffle=True, seed=2)
    assert_same(whole, evaluate_lines(shuffled, year))
    assert_same(whole, evaluate_lines(lines.lazy(), year))


def test_instances_are_built_once_when_first_read():
    from mipsclaims.engine.result import EngineResult

    table = pl.DataFrame({"a": [1]})
    calls: list[int] = []

    def build() -> pl.DataFrame:
        calls.append(1)
        return table

    result = EngineResult(2025, "tin-npi", table, table, build, table, table)
    assert calls == []
    assert result.instances is table and result.instances is table
    assert calls == [1]
    assert EngineResult(2025, "tin", table, table, table, table, table).instances is table


def test_counting_in_slices_of_patients_gives_the_same_counts(synthetic, monkeypatch):
    import mipsclaims.engine.pipeline as pipeline

    year, lines = synthetic
    for level in ("tin-npi", "tin"):
        whole = evaluate_lines(lines, year, level=level)
        monkeypatch.setattr(pipeline, "PHASE2_ROWS", 97)
        sliced = evaluate_lines(lines, year, level=level)
        monkeypatch.undo()
        assert_same(whole, sliced)


def test_counts_do_not_depend_on_packed_instance_ids(synthetic, monkeypatch):
    """Instance marks group on one packed integer when the key ranges fit it; the
    three-column grouping they fall back to gives the same results."""
    from mipsclaims.engine import instances

    year, lines = synthetic
    packed = evaluate_lines(lines, year)
    monkeypatch.setattr(instances._Packing, "of", staticmethod(lambda keyed: None))
    assert_same(packed, evaluate_lines(lines, year))


def assert_identical(a, b) -> None:
    """Every output equal, dtypes and row order included."""
    from polars.testing import assert_frame_equal

    for name in OUTPUTS:
        try:
            assert_frame_equal(getattr(a, name), getattr(b, name))
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def spill_everything(monkeypatch, group_claims: int | None = None) -> list:
    """Facts spilled after every batch (and read back in groups of ``group_claims``); the
    list returned fills with the names of the spill directories created, to prove a spill
    happened."""
    import tempfile

    from mipsclaims.engine import facts

    created: list = []
    make = tempfile.TemporaryDirectory

    def recorded(*args, **kwargs):
        made = make(*args, **kwargs)
        created.append(made.name)  # the name only: the directory must still be removed
        return made

    monkeypatch.setattr(tempfile, "TemporaryDirectory", recorded)
    monkeypatch.setattr(facts, "SPILL_BYTES", 0)
    if group_claims is not None:
        monkeypatch.setattr(facts, "GROUP_CLAIMS", group_claims)
    return created


@pytest.mark.parametrize("level", ["tin-npi", "tin"])
def test_facts_spilled_to_disk_and_counted_in_groups_give_the_same_result(
    synthetic, monkeypatch, level
):
    """Past its budget, phase 1 writes its facts to disk and phase 2 reads them back in
    groups of patients: every output is the same, in the same order."""
    year, lines = synthetic
    whole = evaluate_lines(lines, year, level=level)
    assert not whole.instances.is_empty()
    created = spill_everything(monkeypatch, group_claims=60)  # about ten groups
    batches = [lines.slice(i, 97) for i in range(0, lines.height, 97)]
    spilled = evaluate_lines(iter(batches), year, level=level)
    assert len(created) == 1
    assert_identical(whole, spilled)


def test_spilled_facts_live_in_a_private_directory_removed_with_the_result(
    synthetic, monkeypatch, tmp_path
):
    import gc
    import stat
    import tempfile

    year, lines = synthetic
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spill_everything(monkeypatch)
    result = evaluate_lines(lines, year)
    (spill,) = tmp_path.iterdir()
    assert spill.name.startswith("mipsclaims-facts-")
    assert stat.S_IMODE(spill.stat().st_mode) == 0o700
    assert any(spill.glob("claims-*.arrow"))
    # Read after counting: the outputs built when first read go back to the files.
    assert result.instances.height and result.findings.height and result.monthly.height
    del result
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_facts_under_the_budget_stay_in_memory(synthetic, monkeypatch, tmp_path):
    import tempfile

    year, lines = synthetic
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = evaluate_lines(lines, year)
    assert result.instances.height
    assert list(tmp_path.iterdir()) == []


def _whole_claim_halves(lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    middle = lines["claim_seq"][lines.height // 2]
    return lines.filter(pl.col("claim_seq") < middle), lines.filter(pl.col("claim_seq") >= middle)


@pytest.mark.parametrize("spill", [False, True])
@pytest.mark.parametrize("level", ["tin-npi", "tin"])
def test_batches_out_of_input_order_are_renumbered(synthetic, monkeypatch, spill, level):
    """Batches handed over later half first: claims are numbered by their position in the
    input (claim_seq), not by arrival, in memory and when spilled."""
    year, lines = synthetic
    whole = evaluate_lines(lines, year, level=level)
    created = spill_everything(monkeypatch, group_claims=70) if spill else []
    first, second = _whole_claim_halves(lines)
    reversed_ = evaluate_lines(iter([second, first]), year, level=level)
    assert len(created) == int(spill)
    assert_identical(whole, reversed_)


def test_a_multi_year_input_keeps_its_scope_counts_when_spilled(synthetic, monkeypatch):
    """Claims of other years only count in the scope table; spilled, they are scanned
    from disk like the replacement keys."""
    _, lines = synthetic
    other = evaluate_lines(lines, 2024)  # the fixture years are 2023 and 2025
    assert dict(other.scope.select("reason", "claims").iter_rows())["other_year"] > 0
    created = spill_everything(monkeypatch)
    spilled = evaluate_lines(iter(_whole_claim_halves(lines)), 2024)
    assert len(created) == 1
    assert_identical(other, spilled)


def test_sigterm_exits_through_python_and_removes_spilled_facts(tmp_path):
    """The command line turns ``kill`` (SIGTERM) into an exit through Python, so
    temporary directories are removed."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import signal, sys, tempfile, time
        from mipsclaims.cli import main
        sys.argv = ["mipsclaims", "--help"]
        try:
            main()  # installs the handler, prints the help
        except SystemExit:
            pass
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
        spill = tempfile.TemporaryDirectory(prefix="mipsclaims-facts-")
        print(spill.name, file=sys.stderr, flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    spill = proc.stderr.readline().decode().strip()
    assert os.path.isdir(spill), spill
    proc.terminate()
    assert proc.wait(timeout=30) == 128 + 15
    assert not os.path.exists(spill)


def test_spill_false_never_writes_facts_to_disk(synthetic, monkeypatch):
    import tempfile

    year, lines = synthetic
    spilled = evaluate(lines, year, spill=True)
    created = spill_everything(monkeypatch)
    assert len(evaluate(lines, year).instances) and len(created) == 1

    def forbidden(*args, **kwargs):
        raise AssertionError("spill=False created a temporary directory")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", forbidden)
    kept = evaluate(lines, year, spill=False)
    assert_identical(kept, spilled)


@pytest.mark.parametrize("where", ["no temporary directory", "disk full"])
def test_a_temporary_directory_that_cannot_be_used_is_a_clear_error(
    synthetic, monkeypatch, tmp_path, where
):
    """No usable temporary directory, or no space left where facts are spilled: one error
    that says what to do, from the API and as a usage error (exit 2) from the CLI."""
    import errno
    import tempfile

    from typer.testing import CliRunner

    from mipsclaims.cli import app
    from mipsclaims.engine import facts

    year, lines = synthetic
    path = tmp_path / "claims.parquet"
    lines.write_parquet(path)
    monkeypatch.setattr(facts, "SPILL_BYTES", 0)
    if where == "disk full":

        def full(self, *args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        monkeypatch.setattr(pl.DataFrame, "write_ipc", full)
        reason = "No space left on device"
    else:

        def none_usable(*args, **kwargs):
            raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found")

        monkeypatch.setattr(tempfile, "TemporaryDirectory", none_usable)
        reason = "No usable temporary directory found"
    with pytest.raises(facts.SpillError, match=f"{reason}; set TMPDIR"):
        evaluate_lines(lines, year)
    for command in ("report", "gaps"):
        out = CliRunner().invoke(app, [command, "--year", str(year), "--quiet", str(path)])
        assert out.exit_code == 2, (command, out.output)
        assert "could not write the run's temporary facts" in out.output
        assert "Traceback" not in out.output


def test_small_batches_are_gathered_in_order_and_a_batch_without_claim_seq_stays_alone():
    from mipsclaims.engine.pipeline import _gathered

    def batch(seqs):
        return pl.DataFrame({"claim_seq": seqs}, schema={"claim_seq": pl.Int64()})

    parts = [batch([0, 0]), batch([1]), batch([2, 3]), batch([None]), batch([4]), batch([5])]
    out = [b["claim_seq"].to_list() for b in _gathered(iter(parts), 3)]
    assert out == [[0, 0, 1], [2, 3], [None], [4, 5]]
