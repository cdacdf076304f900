"""Issue 20 (second reliability pass), everything outside the 837P reader: losses are
always summarised (``--strict`` fails on them), no value is echoed in an error, a binary
file is refused from its first bytes, no traceback on hostile input, every output is
atomic (disk full leaves the old file), Ctrl-C always stops a command, re-ingested claims
are not stored twice, flat files are streamed, and the API explains its misuse.

Each test failed before the change it covers (noted per test).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mipsclaims import flatfile, inputs, store, x12
from mipsclaims.api import check_claim, evaluate
from mipsclaims.claims import Claim, Patient, ServiceLine
from mipsclaims.cli import app
from mipsclaims.schema import short_hash
from mipsclaims.synth import SynthConfig, synthetic_837

runner = CliRunner()
CLI = [sys.executable, "-c", "from mipsclaims.cli import main; main()"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, str]:
    """40 synthetic claims, and the same with one service date broken (one quarantined)."""
    root = tmp_path_factory.mktemp("rel")
    text = synthetic_837(SynthConfig(claims=40, seed=3)).decode()
    good = root / "good.837"
    good.write_text(text)
    bad = root / "bad.837"
    bad.write_text(text.replace("DTP*472*D8*2025", "DTP*472*D8*ZQ25", 1))
    return root, text


def _run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


# --- item 2: losses summarised on stderr, --strict exits 3 ------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--year", "2025", "-q"],
        ["gaps", "--year", "2025", "-q"],
        ["check", "--year", "2025", "-q"],
        ["check", "-q"],
        ["lines"],
        ["score", "--year", "2025"],
    ],
)
def test_every_command_says_what_was_quarantined_even_quiet(synth, command) -> None:
    """Before: report/gaps/check/score said nothing under -q (and score nothing at all)."""
    root, _ = synth
    result = _run([*command, str(root / "bad.837")])
    assert result.exit_code in (0, 1), result.output
    assert "1 of 40 claims could not be read" in result.stderr
    assert re.search(r"could not be read \([1-9]\d* service lines?\)", result.stderr)
    assert "service date" in result.stderr or "DTP" in result.stderr  # the reason
    assert "ZQ25" not in result.stderr  # the value is never echoed
    good = _run([*command, str(root / "good.837")])
    assert "could not be read" not in good.stderr


@pytest.mark.parametrize("command", ["report", "gaps", "check", "lines", "score"])
def test_strict_makes_a_loss_an_error_and_writes_nothing(synth, tmp_path, command) -> None:
    """Before: there was no --strict."""
    root, _ = synth
    out = tmp_path / "out.txt"
    args = [command, "--strict", str(root / "bad.837")]
    if command in ("report", "gaps", "score", "check"):
        args[1:1] = ["--year", "2025"]
    if command in ("report", "gaps", "lines"):
        args += ["-o", str(out)]
    result = _run(args)
    assert result.exit_code == 3, result.output
    assert "--strict" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left either
    ok = _run([a.replace("bad.837", "good.837") for a in args])
    assert ok.exit_code in (0, 1), ok.output


def test_a_csv_row_loss_is_summarised_by_reason(tmp_path) -> None:
    path = tmp_path / "l.csv"
    path.write_text(
        "claim_id,procedure_code,service_date,tin,billing_npi,patient_id\n"
        "A,99213,2025-01-02,123456789,1111111111,P1\n"
        "B,99213,2025-13-02,123456789,1111111111,P2\n"
        "C,99213,2025-99-02,123456789,1111111111,P3\n"
    )
    result = _run(["report", "--year", "2025", "-q", str(path)])
    assert "2 of 3 claims could not be read" in result.stderr
    assert re.search(r"2 × service_date is not a date", result.stderr)
    assert "2025-13-02" not in result.stderr


# --- item 4: no value in any error ------------------------------------------------------


def test_csv_parse_error_names_the_place_not_the_field(tmp_path) -> None:
    """Before: polars' message quoted the field (`"O"BRIEN`) and the whole file was lost.
    Now the row's claim is quarantined by row number, every other claim kept."""
    path = tmp_path / "q.csv"
    path.write_text(
        "claim_id,procedure_code,patient_name,service_date\n"
        "A1,99213,SMITH,2025-01-02\n"
        'B2,99213,"O"BRIEN, PAT",2025-01-03\n'
        "B2,G8431,PAT,2025-01-03\n"
        'C3,99213,"JONES, AL",2025-01-04\n'
    )
    for args in (["lines"], ["report", "-q"]):
        result = _run([*args, str(path)])
        assert result.exit_code == 0, result.output
        assert "BRIEN" not in result.output + result.stderr
        assert "1 of 3 claims could not be read" in result.stderr
        assert "row 3: row is not valid CSV" in result.stderr
    report = x12.ReadReport()
    table = flatfile.read_flat_claim_lines(path, report)
    assert table["claim_id"].to_list() == ["A1", "C3"]  # all of B2 is left out
    (q,) = report.quarantined
    assert (q.claim_seq, q.claim_hash) == (1, short_hash("B2"))
    # Too many such rows: not a CSV worth salvaging; still no value in the error.
    path.write_text("claim_id,procedure_code\n" + '"ZQ"X,1\n' * 150)
    with pytest.raises(flatfile.FlatFileError) as info:
        flatfile.read_flat_claim_lines(path)
    assert "ZQ" not in str(info.value) and "not properly quoted" in str(info.value)
    path.write_text("claim_id,procedure_code\nA1,99213\nA2,99213,ZQEXTRA\n")
    report = x12.ReadReport()
    assert flatfile.read_flat_claim_lines(path, report)["claim_id"].to_list() == ["A1"]
    assert "ZQEXTRA" not in str(report.quarantined[0])
    path.write_text("claim_id,procedure_code\n" + "A,1,ZQEXTRA\n" * 150)
    with pytest.raises(flatfile.FlatFileError, match="more fields than the header") as info:
        flatfile.read_flat_claim_lines(path)
    assert "ZQEXTRA" not in str(info.value)


def test_model_validation_errors_never_echo_the_value() -> None:
    """Before: pydantic printed input_value='19500101x' (a birth date), a member id."""
    with pytest.raises(ValueError) as info:
        Patient(member_id="ZQMEMBER77", birth_date="19500101x")
    assert "19500101x" not in str(info.value) and "birth_date" in str(info.value)
    with pytest.raises(ValueError) as info:
        Patient(member_id=["ZQMEMBER77"])
    assert "ZQMEMBER77" not in str(info.value)
    with pytest.raises(ValueError) as info:
        Claim.model_validate({"claim_id": "ZQCLAIM9", "patient": {"member_id": "M"}, "x": 1})
    assert "ZQCLAIM9" not in str(info.value)


# --- item 5: binary input refused from its first bytes -----------------------------------


def test_dev_zero_is_refused_at_once() -> None:
    """Before: /dev/zero was read whole (OOM at 24 GB)."""
    started = time.monotonic()
    for command in (["lines"], ["report", "-q"], ["ingest", "--store", "/nonexistent/s"]):
        result = _run([*command, "/dev/zero"])
        assert result.exit_code == 2
        assert "not a claims file" in result.stderr and "NUL" in result.stderr
        assert "not X12" in result.stderr and "not Parquet" in result.stderr
    assert time.monotonic() - started < 10


def test_300_mb_of_zeros_is_refused_without_reading_it(tmp_path) -> None:
    """Before: 1.6 GB of memory, then 'required column(s) missing: claim_id'."""
    zeros = tmp_path / "zeros.bin"
    with zeros.open("wb") as fh:
        fh.truncate(300 * 1024 * 1024)  # sparse: no disk used
    with pytest.raises(inputs.InputError, match="not a claims file"):
        inputs.load_claim_lines(zeros)
    code, peak = _peak_rss_of(["lines", str(zeros)])
    assert code == 2
    assert peak < 250 * 1024  # KB: far below the 300 MB file


def test_text_without_a_header_line_is_refused_after_a_mb(tmp_path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"claim_id," + b"x" * (3 * 1024 * 1024))
    with pytest.raises(flatfile.FlatFileError, match="no header line"):
        flatfile.read_flat_claim_lines(path)
    path.write_bytes(b"a,b\n" + b"1,2\n" * 1000)
    with pytest.raises(flatfile.FlatFileError, match="required column"):
        flatfile.read_flat_claim_lines(path)


def _peak_rss_of(args: list[str]) -> tuple[int, int]:
    """Exit code and peak RSS (KB) of the CLI, run by a fresh intermediate process whose
    only child it is (this process's children include earlier, bigger runs)."""
    probe = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *CLI, *args], capture_output=True)
    code, peak = out.stdout.split()
    return int(code), int(peak)


# --- item 6: no traceback on hostile input; control characters; atomic outputs --------


def test_parquet_with_a_list_name_column_is_a_clear_error(tmp_path) -> None:
    """Before: a polars InvalidOperationError traceback."""
    path = tmp_path / "l.parquet"
    pl.DataFrame(
        {"claim_id": ["A"], "procedure_code": ["99213"], "patient_name": [["ZQ", "NAME"]]}
    ).write_parquet(path)
    result = _run(["lines", str(path)])
    assert result.exit_code == 2
    assert "column patient_name holds List" in result.stderr
    assert "ZQ" not in result.stderr


ODD_VALUES = {
    "duration": pl.Series([dt.timedelta(days=1)]),
    "time": pl.Series([dt.time(1, 2)]),
    "categorical": pl.Series(["A"], dtype=pl.Categorical),
    "null": pl.Series([None]),
    "int": pl.Series([5]),
    "bool": pl.Series([True]),
    "datetime": pl.Series([dt.datetime(2025, 1, 1, 3)]),
    "binary": pl.Series([b"x"]),
    "struct": pl.Series([{"a": 1}]),
    "list of int": pl.Series([[1, 2]]),
    "list of list": pl.Series([[[1]]]),
    "list of duration": pl.Series([[dt.timedelta(1)]]),
    "array": pl.Series([[1, 2]], dtype=pl.Array(pl.Int64, 2)),
}


@pytest.mark.parametrize("column", ["claim_id", "birth_date", "charge", "modifiers", "tin"])
def test_any_parquet_column_type_is_read_or_refused_clearly(tmp_path, column) -> None:
    """Before: polars errors (a Duration, a list where text is expected) as tracebacks."""
    for kind, values in ODD_VALUES.items():
        frame = pl.DataFrame({"claim_id": ["A"], "procedure_code": ["99213"]})
        path = tmp_path / "t.parquet"
        frame.with_columns(values.alias(column)).write_parquet(path)
        try:
            flatfile.read_flat_claim_lines(path)
        except flatfile.FlatFileError as exc:
            assert f"column {column} holds" in str(exc), kind


def _tin_text(text: str, tin: str) -> str:
    return re.sub(r"REF\*(EI|SY)\*[0-9]+", lambda m: f"REF*EI*{tin}", text)


def test_rich_markup_in_a_tin_is_printed_literally_by_score(synth, tmp_path) -> None:
    """Before: rich.errors.MarkupError (closing tag '[/x]') traceback."""
    _, text = synth
    path = tmp_path / "m.837"
    path.write_text(_tin_text(text, "[/x]"))
    result = _run(["score", "--year", "2025", str(path)])
    assert result.exit_code == 0, result.output
    assert "TIN [/x]" in result.stdout


def test_terminal_escapes_in_a_tin_or_npi_never_reach_the_terminal(synth, tmp_path) -> None:
    """Before: ESC[2J (clear screen) was written raw by report, gaps and check."""
    _, text = synth
    path = tmp_path / "e.837"
    path.write_text(_tin_text(text, "24\x1b[2J42").replace("XX*1226614242", "XX*12\x1b]0;x\x07"))
    for args in (
        ["report", "--year", "2025", "-q"],
        ["gaps", "--year", "2025", "-q"],
        ["check", "--year", "2025", "-q"],
        ["score", "--year", "2025"],
    ):
        result = _run([*args, str(path)])
        assert result.exit_code in (0, 1), result.output
        assert "\x1b" not in result.stdout + result.stderr, args
        assert "\x07" not in result.stdout + result.stderr, args


def test_csv_on_a_terminal_has_no_escapes_but_a_pipe_gets_the_data(capsys, monkeypatch):
    from mipsclaims.cli.common import to_stdout

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    to_stdout("tin\r\n24\x1b[2J42\r\n")
    assert capsys.readouterr().out == "tin\n24?[2J42\n"
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    to_stdout("tin\r\n24\x1b[2J42\r\n")
    assert capsys.readouterr().out == "tin\r\n24\x1b[2J42\r\n"


def _limited(args: list[str], limit: int) -> subprocess.CompletedProcess:
    """The CLI with files capped at ``limit`` bytes: writing past it fails like a full
    disk (EFBIG; Python ignores SIGXFSZ)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([*CLI, *args], capture_output=True, preexec_fn=cap, timeout=120)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--year", "2025", "--format", "html"],
        ["report", "--year", "2025", "--format", "csv"],
        ["report", "--year", "2025"],
        ["gaps", "--year", "2025"],
        ["gaps", "--year", "2025", "--format", "csv"],
        ["lines"],
        ["lines", "--format", "parquet"],
    ],
)
def test_disk_full_keeps_the_old_output_and_leaves_no_temporary(synth, tmp_path, command):
    """Before: a traceback, and `report -o` replaced the old report by a truncated one."""
    root, _ = synth
    out = tmp_path / "out"
    out.write_bytes(b"the old report")
    proc = _limited([*command, "-q" if command[0] != "lines" else "--show-phi",
                     "-o", str(out), str(root / "good.837")], limit=2000)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert b"cannot write" in proc.stderr
    assert out.read_bytes() == b"the old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_disk_full_during_ingest_leaves_the_store_as_it_was(synth, tmp_path) -> None:
    root, _ = synth
    st = tmp_path / "store"
    assert _run(["ingest", "-q", "--store", str(st), str(root / "good.837")]).exit_code == 0
    before = store.read_store(st)
    other = tmp_path / "other.837"
    other.write_text(synthetic_837(SynthConfig(claims=400, seed=9)).decode())
    proc = _limited(["ingest", "-q", "--store", str(st), str(other)], limit=6000)
    assert proc.returncode == 2, proc.stderr
    assert b"Traceback" not in proc.stderr and b"cannot ingest" in proc.stderr
    assert store.read_store(st).equals(before)
    assert not list(st.rglob(".*.tmp-*"))


# --- item 7: Ctrl-C always stops the command -------------------------------------------


def _opened(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
                   for fd in os.listdir(f"/proc/{pid}/fd"))  # fmt: skip
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_ctrl_c_stops_a_large_html_report(tmp_path) -> None:
    """Before: Ctrl-C could be lost, and the report finished and exited 0."""
    big = tmp_path / "big.837"
    big.write_bytes(synthetic_837(SynthConfig(claims=20000, seed=4)))
    out = tmp_path / "r.html"
    stopped = 0
    for delay in (0.0, 0.2, 0.5):
        proc = subprocess.Popen(
            [*CLI, "report", "--year", "2025", "--format", "html", "-q", "-o", str(out),
             str(big)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not _opened(proc.pid, big) and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(delay)
        if proc.poll() is not None:  # finished before we could interrupt it
            _, err = proc.communicate()
            assert proc.returncode == 0, err
            out.unlink()  # a finished report; the next run must not find its output
            continue
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert b"Traceback" not in err
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["big.837"]
        stopped += 1
    assert stopped  # not every run finished before the signal


def test_a_swallowed_interrupt_still_stops_and_keeps_the_old_output(tmp_path) -> None:
    from mipsclaims import atomicfile, interrupt

    target = tmp_path / "o.txt"
    target.write_text("old")
    interrupt._interrupted.set()  # as if a library had caught the KeyboardInterrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            atomicfile.write_text(target, "new")
    finally:
        interrupt.reset()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["o.txt"]


# --- item 8: the same claims in other bytes are not stored twice -----------------------


def test_reingesting_with_other_line_endings_skips_the_claims(synth, tmp_path) -> None:
    """Before: the store deduplicated by file bytes only and counted every claim twice."""
    root, text = synth
    crlf = tmp_path / "crlf.837"
    crlf.write_bytes(text.replace("~\n", "~\r\n").encode())
    st = tmp_path / "store"
    assert _run(["ingest", "-q", "--store", str(st), str(root / "good.837")]).exit_code == 0
    again = _run(["ingest", "--store", str(st), str(crlf)])
    assert again.exit_code == 0
    assert "40 claim(s) skipped, already in the store" in again.stderr
    assert "crlf.837: added (0 claims, 0 lines)" in again.stdout
    one = _run(["report", "--year", "2025", "--format", "csv", "-q", str(root / "good.837")])
    stored = _run(["report", "--year", "2025", "--format", "csv", "-q", "--store", str(st)])
    assert one.stdout == stored.stdout


def test_a_replacement_of_a_stored_claim_is_not_a_duplicate(tmp_path) -> None:
    def claim(frequency: str, code: str) -> Claim:
        day = dt.date(2025, 3, 4)
        return Claim(
            claim_id="C1", frequency=frequency, tin="123456789", billing_npi="1111111111",
            patient=Patient(member_id="M1"), claim_seq=0,
            lines=[ServiceLine(line_number=1, procedure_code=code, service_date=day)],
        )  # fmt: skip

    from mipsclaims.claims import claims_to_frame

    a = store.ingest_frame(tmp_path, claims_to_frame([claim("1", "97161")]), sha256="a" * 64,
                           source="a")  # fmt: skip
    b = store.ingest_frame(tmp_path, claims_to_frame([claim("7", "97162")]), sha256="b" * 64,
                           source="b")  # fmt: skip
    c = store.ingest_frame(tmp_path, claims_to_frame([claim("1", "97163")]), sha256="c" * 64,
                           source="c")  # fmt: skip
    assert (a.claims, b.claims, b.duplicates) == (1, 1, 0)
    assert (c.claims, c.duplicates) == (0, 1)  # same CLM01, frequency, TIN, patient, date
    assert c.duplicate_refs[0].startswith("claim #0 (")


# --- item 9: flat files streamed, progress as read -------------------------------------


@pytest.fixture(scope="module")
def flat_csv(tmp_path_factory, synth) -> Path:
    _, text = synth
    table = x12.read_claim_lines(text.encode())
    path = tmp_path_factory.mktemp("flat") / "lines.csv"
    flatfile.write_flat_csv(table.drop("claim_seq"), path)
    return path


@pytest.mark.parametrize("batch_bytes", [64, 300, 1000, 4096, 1 << 20])
def test_csv_in_small_batches_reads_what_one_batch_reads(flat_csv, batch_bytes) -> None:
    """Whole claims per batch, same numbering, same quarantine, whatever the cut."""
    data = flat_csv.read_bytes()
    # a quoted newline and a broken date make the cuts harder
    data = data.replace(b",M,", b',"M\n",', 1).replace(b"2025-0", b"2025-x", 1)
    cut = data.index(b"\n", len(data) // 2)  # and a stray quote in the second half
    assert data[cut + 1 : cut + 2] != b'"'
    data = data[: cut + 1] + b'"' + data[cut + 1 :]
    path = flat_csv.with_name(f"cut{batch_bytes}.csv")
    path.write_bytes(data)
    whole_report, report = x12.ReadReport(), x12.ReadReport()
    whole = flatfile.read_flat_claim_lines(path, whole_report)
    seen: list[int] = []
    batches = list(flatfile.iter_flat_claim_lines(path, report, batch_bytes=batch_bytes,
                                                  progress=seen.append))  # fmt: skip
    assert pl.concat(batches).equals(whole)
    for batch in batches:  # a claim is never split across batches
        assert batch["claim_seq"].n_unique() == batch.unique("claim_seq").height
    seqs = [set(b["claim_seq"]) for b in batches]
    assert all(not (a & b) for i, a in enumerate(seqs) for b in seqs[i + 1 :])
    assert report.quarantined == whole_report.quarantined and len(report.quarantined) == 2
    assert "not valid CSV" in report.quarantined[1].reason
    assert report.claims_seen == whole_report.claims_seen == 40
    assert seen == sorted(seen) and seen[-1] == len(data)
    if batch_bytes < 4096:
        assert len(batches) > 3 and len(seen) > 3  # progress moved while reading


def test_parquet_is_read_in_slices(flat_csv, tmp_path) -> None:
    table = flatfile.read_flat_claim_lines(flat_csv)
    path = tmp_path / "l.parquet"
    table.write_parquet(path, row_group_size=7)
    seen: list[int] = []
    batches = list(flatfile.iter_flat_claim_lines(path, batch_bytes=200, progress=seen.append))
    assert len(batches) > 3
    assert pl.concat(batches).drop("source").equals(table.drop("source"))
    assert seen[-1] == path.stat().st_size


def test_the_progress_bar_moves_within_a_file(flat_csv, synth) -> None:
    """Before: the bar advanced only when a file was finished."""
    from mipsclaims import inputs
    from mipsclaims.report.progress import FileProgress

    root, _ = synth
    updates: list[int] = []

    class Bar(FileProgress):
        def reading(self, name):
            return updates.append

    list(inputs.iter_claim_lines([root / "good.837", flat_csv], progress=Bar(None, 0)))
    assert updates and updates[-1] == flat_csv.stat().st_size
    assert (root / "good.837").stat().st_size in updates


def test_progress_shows_a_file_name_literally_and_without_escapes() -> None:
    """A file called "[/x]\x1b[2J.837" must neither crash the bar (markup) nor reach the
    terminal as an escape."""
    import io

    from rich.progress import Progress, TextColumn

    from mipsclaims.report.progress import FileProgress
    from mipsclaims.report.termsafe import SafeConsole

    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, width=80)
    with Progress(TextColumn("{task.description}"), console=console) as bar:
        files = FileProgress(bar, 100)
        files.reading("[/x]\x1b[2J.837")(40)
        bar.refresh()
        files.file_done("[/x]\x1b[2J.837", 100, claims=3)
        bar.refresh()
    assert "[/x]?[2J.837 (3 claims)" in out.getvalue()
    assert "\x1b[2J" not in out.getvalue()


# --- item 10: API misuse explained ------------------------------------------------------


def test_api_misuse_gives_clear_errors() -> None:
    """Before: AttributeError ('NoneType' has no 'frequency'), FileNotFoundError 2025.0.json."""
    with pytest.raises(TypeError, match=r"claim must be a mipsclaims\.claims\.Claim, not NoneType"):
        check_claim(None, 2025)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="year must be a whole number"):
        evaluate(pl.DataFrame(), 2025.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="year must be a whole number"):
        evaluate(pl.DataFrame(), True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source must be"):
        evaluate(None, 2025)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="source must be"):
        evaluate([1, 2], 2025)  # type: ignore[list-item]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            st.text(alphabet=st.sampled_from(["a", ",", '"', "\n", " ", "é"]), max_size=12),
            st.sampled_from(["2025-01-02", "2025-13-01", ""]),
        ),
        min_size=1,
        max_size=30,
    ),
    batch_bytes=st.integers(1, 400),
)
def test_any_valid_csv_reads_the_same_in_any_batch_size(rows, batch_bytes) -> None:
    """Quoted commas, quotes and newlines anywhere: cutting at record ends never changes
    what is read, quarantined or counted."""
    frame = pl.DataFrame(
        rows, schema=["claim_id", "patient_name", "service_date"], orient="row"
    ).with_columns(procedure_code=pl.lit("99213"))
    data = frame.write_csv().encode()
    whole_report, report = x12.ReadReport(), x12.ReadReport()
    whole = flatfile.read_flat_claim_lines(data, whole_report)
    batches = list(flatfile.iter_flat_claim_lines(data, report, batch_bytes=batch_bytes))
    assert (pl.concat(batches) if batches else whole.clear()).equals(whole)
    assert report.quarantined == whole_report.quarantined
    assert (report.claims_seen, report.claims_read, report.lines_read) == (
        whole_report.claims_seen,
        whole_report.claims_read,
        whole_report.lines_read,
    )
    # By hand: consecutive rows of one claim_id are a claim, lost whole with a bad date.
    groups: list[list[tuple]] = []
    for row in rows:
        if groups and groups[-1][0][0] == row[0]:
            groups[-1].append(row)
        else:
            groups.append([row])
    kept = [r for g in groups if all(r[2] != "2025-13-01" for r in g) for r in g]
    assert whole["claim_id"].to_list() == [r[0] for r in kept]
    assert whole_report.claims_seen == len(groups)


def test_ingest_strict_leaves_a_lossy_file_out(synth, tmp_path) -> None:
    root, _ = synth
    st = tmp_path / "store"
    result = _run(["ingest", "--strict", "--store", str(st), str(root / "bad.837")])
    assert result.exit_code == 3
    assert "1 of 40 claims could not be read" in result.stderr
    assert store.read_manifest(st)["files"] == []
    assert not [p for p in st.rglob("*") if p.name != ".lock"]  # no part, no temporary
    assert _run(["ingest", "--strict", "--store", str(st), str(root / "good.837")]).exit_code == 0


def test_ingest_in_batches_stores_what_one_frame_stores(synth, tmp_path) -> None:
    """Ingest streams the file (memory of one batch); the store is the same."""
    _, text = synth
    frame = x12.read_claim_lines(text.encode())
    whole = store.ingest_frame(tmp_path / "a", frame, sha256="a" * 64, source="s")
    seqs = frame["claim_seq"].unique(maintain_order=True).to_list()
    batches = [frame.filter(pl.col("claim_seq").is_in(seqs[i : i + 7])) for i in range(0, 40, 7)]
    parts = store.ingest_batches(tmp_path / "b", batches, sha256="a" * 64, source="s")
    assert (parts.claims, parts.lines, parts.parts) == (whole.claims, whole.lines, whole.parts)
    assert store.read_store(tmp_path / "b").equals(store.read_store(tmp_path / "a"))
    assert not list((tmp_path / "b").glob(".ingest-*"))
