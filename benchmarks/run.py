"""The benchmark harness (issue 7): throughput, peak memory, latency and two baselines.

Run: ``.venv/bin/python benchmarks/run.py [--quick] [--skip-5m] [--no-pyx12]``.

Everything is measured on the same machine in the same run, each measurement in a fresh
subprocess so that its peak RSS (``ru_maxrss`` of that child, from ``wait4``) is its own:

- end to end: the real ``mipsclaims report --year 2025 --format json --quiet FILE -o OUT``
  (the console script; wall clock includes interpreter start-up), on the 1M-line file and
  on the 5M-line file (peak RSS must stay flat: the reader streams in batches);
- the same through the API ``mipsclaims.evaluate`` (timed inside the child, after imports);
- parse only: the reader (``x12.iter_claim_line_batches``) with 1 polars thread and with
  all threads, and with the columnar reader alone (``MIPSCLAIMS_X12_READER=columnar``,
  "before" of issue 17); a file of 10,000 one-claim interchanges against one interchange
  of the same lines (the columnar reader on ``--many-columnar`` of them: it is slow there);
- ``check_claim`` latency p50/p95 after warm-up (claims from ``bench_check_claim.py``);
- baselines: a naive pure-Python split of the file into segments keeping SV1 procedure
  codes and charges (no loops, no matching), and pyx12 (optional) iterating the 2400 loops
  of a 20k-line file. Each is printed as a ratio to ours;
- a reference: the least columnar work a polars-only reader can do per service line
  (``child_floor``, one thread, CPU seconds), which bounds what our reader can reach.

Input files come from the synthetic generator (fixed seed), cached in the temp directory by
(claims, seed) as ``mipsclaims-bench-<claims>-<seed>.837`` like ``bench_parse.py``;
generation time is not part of any measurement. The table is printed and written to
``benchmarks/results.md`` (or ``--output``). A full run takes about 5 minutes on the
2-core reference machine once the files exist (generating the 5M-line file takes about 3
minutes more, once); ``--quick`` (100k and 500k lines, 2k-line pyx12 file) under a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
YEAR = 2025
GB = 1e9

# Targets of issue 7 on the 2-core, 24 GB reference machine.
E2E_TARGET = 300_000  # service lines/s, report end to end on the 1M-line file
NAIVE_RATIO_TARGET = 2.0  # e2e lines/s over the naive split's
PARSE_TARGET = 500_000  # service lines/s, columnar reader on one polars thread
RSS_TARGET = 1.5 * GB  # peak RSS of the report on the 1M-line file
RSS_FLAT = 1.2  # the 5M-line peak may exceed the 1M-line peak by at most this factor
P95_TARGET_MS = 5.0

# With --at REV: the src/ of that commit, extracted to a temporary directory; every child
# (and the console script, through PYTHONPATH) imports mipsclaims from there.
SNAPSHOT: Path | None = None


# ---------------------------------------------------------------- input files


def synthetic_file(lines: int, seed: int, cache_dir: Path) -> Path:
    """The cached synthetic 837P file of about ``lines`` service lines (3 per claim).

    Written to a ``.part`` file and renamed, so a concurrent run (or bench_parse.py, which
    uses the same names) never reads half a file; a fresh ``.part`` of another process is
    waited for instead of generated twice.
    """
    from mipsclaims.synth import SynthConfig, iter_synthetic_837

    claims = max(lines // 3, 1)
    path = cache_dir / f"mipsclaims-bench-{claims}-{seed}.837"
    part = path.with_suffix(".part")
    deadline = time.monotonic() + 1800
    while not path.exists() and part.exists() and time.time() - part.stat().st_mtime < 60:
        if time.monotonic() > deadline:
            break
        print(f"waiting for another process writing {part.name} ...", flush=True)
        time.sleep(10)
    if path.exists():
        return path
    start = time.perf_counter()
    chunks = iter_synthetic_837(SynthConfig(year=YEAR, claims=claims, seed=seed))
    with part.open("wb") as fh:
        # One chunk per transaction (2000 claims); progress every 100 of them.
        for i, chunk in enumerate(chunks):
            fh.write(chunk.encode("utf-8"))
            if i and i % 100 == 0:
                print(f"  {path.name}: {min(i * 2000, claims):,}/{claims:,} claims", flush=True)
    part.rename(path)
    print(
        f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return path


def many_interchange_file(interchanges: int, seed: int, cache_dir: Path) -> Path:
    """``interchanges`` interchanges of one claim each (issue 17), cached like the others.

    50 distinct one-claim interchanges (seeds ``seed``..``seed+49``) repeated with their own
    ISA13/IEA02 control numbers: what a clearinghouse archive of single-claim batches holds.
    """
    from mipsclaims.synth import SynthConfig, synthetic_837

    path = cache_dir / f"mipsclaims-bench-many-{interchanges}-{seed}.837"
    if path.exists():
        return path
    base = [synthetic_837(SynthConfig(year=YEAR, claims=1, seed=seed + i)) for i in range(50)]
    part = path.with_suffix(".part")
    with part.open("wb") as fh:
        for i in range(interchanges):
            number = f"{i + 1:09d}".encode()
            one = base[i % len(base)]
            one = one.replace(b"*000000001*", b"*" + number + b"*")
            fh.write(one.replace(b"*000000001~", b"*" + number + b"~"))
    part.rename(path)
    return path


# ---------------------------------------------------------------- child measurements
# Each runs in its own process (``run.py --child NAME ARGS``) and prints one JSON object.


def child_parse(path: str, kernel_threads: str = "") -> dict[str, Any]:
    """The reader only: bytes to canonical claim-line batches (not concatenated).

    ``kernel_threads``: the fast path's worker threads (``x12.fast.THREADS``; 0 = the
    kernel in the calling thread), default the library's."""
    from mipsclaims import x12
    from mipsclaims.x12 import fast

    if kernel_threads:
        fast.THREADS = int(kernel_threads)
    report = x12.ReadReport()
    wall, cpu = time.perf_counter(), time.process_time()
    lines = sum(b.height for b in x12.iter_claim_line_batches(path, report))
    return {
        "lines": lines,
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        "quarantined": len(report.quarantined),
    }


def child_evaluate(path: str) -> dict[str, Any]:
    """The API end to end: ``mipsclaims.evaluate(path, year)``."""
    import mipsclaims

    wall = time.perf_counter()
    result = mipsclaims.evaluate(path, YEAR)
    return {"wall": time.perf_counter() - wall, "rows": result.rows.height}


def child_naive(path: str) -> dict[str, Any]:
    """Naive pure Python: read the text, split segments and elements, keep SV1 fields.

    No loop tracking, no validation, no matching: the least any 837P reader must do.
    Delimiters come from the fixed-width ISA (element = byte 4, component = byte 105,
    terminator = byte 106).
    """
    wall = time.perf_counter()
    with open(path, encoding="utf-8", newline="") as fh:
        text = fh.read()
    element, component, terminator = text[3], text[104], text[105]
    prefix = "SV1" + element
    codes: list[str] = []
    charges: list[float] = []
    for segment in text.split(terminator):
        segment = segment.strip()
        if segment.startswith(prefix):
            fields = segment.split(element)
            codes.append(fields[1].split(component)[1])
            charges.append(float(fields[2]) if fields[2] else 0.0)
    return {"lines": len(codes), "wall": time.perf_counter() - wall}


def child_floor(path: str) -> dict[str, Any]:
    """A lower bound for a polars-only reader: the least columnar work per service line.

    In 8 MiB pieces: one string column of segments (polars' CSV reader), a tag per
    segment, running claim and line ids, the needed elements of SV1, CLM, NM1 and DTP
    (``splitn``), and two joins onto the lines. No loop tracking, HL levels, whitespace
    rules, validation, errors, diagnoses or output schema: what our reader does on top of
    this is the price of correctness. Timed as CPU seconds (run with 1 polars thread).
    """
    import polars as pl

    cpu = time.process_time()
    with open(path, "rb") as fh:
        data = fh.read()
    element, terminator = chr(data[3]), data[105:106]

    def elements(frame: pl.DataFrame, tag: str, used: tuple[int, ...]) -> pl.DataFrame:
        fields = pl.col("s").str.splitn(element, max(used) + 2).struct
        return frame.filter(pl.col("tag") == tag).select(
            "claim", "line", *(fields.field(f"field_{i}").alias(f"{tag}{i}") for i in used)
        )

    lines, pos, block = 0, 0, 8 << 20
    while pos < len(data):
        end = data.rfind(terminator, pos, pos + block) + 1
        if pos + block >= len(data) or end <= pos:
            end = len(data)
        segments = pl.read_csv(
            data[pos:end],
            has_header=False,
            new_columns=["s"],
            separator="\x01",
            eol_char=terminator.decode(),
            quote_char=None,
            infer_schema=False,
        ).with_columns(pl.col("s").str.strip_chars_start())
        pos = end
        frame = segments.with_columns(
            tag=pl.col("s").str.split_exact(element, 1).struct.field("field_0")
        ).with_columns(
            claim=(pl.col("tag") == "CLM").cum_sum(), line=(pl.col("tag") == "LX").cum_sum()
        )
        sv1 = elements(frame, "SV1", (1, 2, 4, 5, 7))
        clm = elements(frame, "CLM", (1, 5)).drop("line")
        elements(frame, "NM1", (1, 3, 4, 9))  # providers and patients: split, not joined
        dtp = elements(frame, "DTP", (1, 2, 3)).drop("claim")
        lines += sv1.join(clm, on="claim", how="left").join(dtp, on="line", how="left").height
    return {"lines": lines, "cpu": time.process_time() - cpu}


def child_pyx12(path: str) -> dict[str, Any]:
    """pyx12 walking the file against its 837P map, reading SV1 of every 2400 loop."""
    from pyx12.error_handler import errh_null
    from pyx12.params import params
    from pyx12.x12context import X12ContextReader

    wall = time.perf_counter()
    codes: list[str | None] = []
    charges: list[str | None] = []
    with open(path, encoding="utf-8") as fh:
        reader = X12ContextReader(params(), errh_null(), fh)
        for node in reader.iter_segments("2400"):
            if node.id == "2400":
                codes.append(node.get_value("SV101-2"))
                charges.append(node.get_value("SV102"))
    return {
        "lines": len(codes),
        "missing": sum(c is None for c in codes),
        "wall": time.perf_counter() - wall,
    }


def child_check_claim(n: str) -> dict[str, Any]:
    """``check_claim`` latency over ``n`` varied claims after 50 warm-up calls."""
    sys.path.insert(0, str(HERE))
    import random

    from bench_check_claim import make_claim

    from mipsclaims import check_claim

    rnd = random.Random(5)
    claims = [make_claim(rnd, YEAR, i) for i in range(int(n))]
    for c in claims[:50]:  # warm-up: builds the per-year index and choice cache
        check_claim(c, YEAR)
    times = []
    for c in claims:
        start = time.perf_counter()
        check_claim(c, YEAR)
        times.append((time.perf_counter() - start) * 1000)
    q = statistics.quantiles(times, n=100)
    return {"n": len(times), "p50": q[49], "p95": q[94], "p99": q[98], "max": max(times)}


def child_where() -> dict[str, Any]:
    """Where ``mipsclaims`` is imported from (checks that --at is honoured)."""
    import mipsclaims

    return {"module": mipsclaims.__file__}


CHILDREN = {
    "parse": child_parse,
    "evaluate": child_evaluate,
    "naive": child_naive,
    "floor": child_floor,
    "pyx12": child_pyx12,
    "check_claim": child_check_claim,
    "where": child_where,
}


# ---------------------------------------------------------------- running children


@dataclass
class Run:
    wall: float  # seconds, the child's own timing if it reports one, else the process's
    rss: int  # peak RSS of the child process, bytes
    data: dict[str, Any] = field(default_factory=dict)
    cpu: float = 0.0  # user + system seconds of the whole child process (load indicator)


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``cmd``; wall clock of the whole process and its own peak RSS (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: {stderr[-2000:]}")
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    data = json.loads(stdout) if stdout.strip().startswith("{") else {}
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall=data.get("wall", wall), rss=rss, data=data, cpu=cpu)


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a measured process: polars threads, and the snapshot if any."""
    env = dict(os.environ)
    env.pop("POLARS_MAX_THREADS", None)
    if threads:
        env["POLARS_MAX_THREADS"] = str(threads)
    if SNAPSHOT is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(SNAPSHOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        )
    return env


def snapshot(rev: str, dest: Path) -> str:
    """Extract ``src/`` and ``measure_specs/`` of commit ``rev`` into ``dest``."""
    archive = subprocess.run(
        ["git", "archive", rev, "src", "measure_specs"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return describe(rev)


def describe(rev: str) -> str:
    """``rev`` as a short hash, and the last commit that changed the measured code."""
    head = _git("rev-parse", "--short", rev)
    code = _git("log", "-1", "--format=%h %s", rev, "--", "src", "measure_specs")
    return f"{head} (src/ last changed by {code})" if code else head


def run_child(
    name: str,
    arg: str,
    threads: int | None = None,
    repeat: int = 1,
    reader: str = "fast",
    extra: tuple[str, ...] = (),
) -> Run:
    """Best (fastest) of ``repeat`` fresh runs of a child measurement; RSS is the max.

    ``reader``: ``fast`` (the default reader) or ``columnar`` (MIPSCLAIMS_X12_READER)."""
    env = child_env(threads)
    env["MIPSCLAIMS_X12_READER"] = reader
    runs = [
        run_process(
            [sys.executable, str(Path(__file__).resolve()), "--child", name, arg, *extra], env
        )
        for _ in range(repeat)
    ]
    best = min(runs, key=lambda r: r.wall)
    best.rss = max(r.rss for r in runs)
    return best


def report_command() -> list[str]:
    """The installed console script next to the interpreter, else the same entry point."""
    script = Path(sys.executable).parent / "mipsclaims"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from mipsclaims.cli import main; main()"]


def run_report(path: Path, out_dir: Path, repeat: int = 1, reader: str = "fast") -> Run:
    """``mipsclaims report --format json`` end to end; checks the JSON it wrote."""
    out = out_dir / f"report-{path.stem}.json"
    cmd = [*report_command(), "report", "--year", str(YEAR), "--format", "json", "--quiet"]
    runs = []
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        env = child_env()
        env["MIPSCLAIMS_X12_READER"] = reader
        runs.append(run_process([*cmd, str(path), "-o", str(out)], env))
        payload = json.loads(out.read_text(encoding="utf-8"))
        if not payload.get("rows"):
            raise RuntimeError(f"report on {path.name} produced no rows")
        runs[-1].data = {"rows": len(payload["rows"])}
    best = min(runs, key=lambda r: r.wall)
    best.rss = max(r.rss for r in runs)
    return best


# ---------------------------------------------------------------- results


@dataclass
class Row:
    measurement: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: informational

    @property
    def result(self) -> str:
        return "" if self.ok is None else ("pass" if self.ok else "FAIL")


def rate(lines: int, seconds: float) -> float:
    return lines / seconds if seconds > 0 else float("inf")


def fmt_rate(value: float) -> str:
    return f"{value:,.0f} lines/s"


def fmt_bytes(value: float) -> str:
    return f"{value / 1e9:.2f} GB" if value >= 1e9 else f"{value / 1e6:.0f} MB"


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return ""
    return out.stdout.strip()


def machine(commit: str | None = None) -> dict[str, str]:
    """Where and on what the numbers were measured (``commit``: what --at measured)."""
    cpu = platform.processor() or platform.machine()
    ram = ""
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = next(ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln)
        mem = Path("/proc/meminfo").read_text().split("\n", 1)[0]
        ram = f"{int(mem.split()[1]) / 1024**2:.1f} GiB"
    except (OSError, StopIteration, ValueError, IndexError):
        pass

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    at = commit is not None
    if commit is None:  # the working tree
        commit = describe("HEAD")
        if _git("status", "--porcelain", "--", "src"):
            commit += " (plus uncommitted changes in src/)"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "RAM": ram or "unknown",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "polars": version("polars"),
        "mipsclaims": version("mipsclaims"),
        "pyx12": version("pyx12"),
        "git": (commit or "unknown") + (" (its src/, extracted by --at)" if at else ""),
    }


def table(rows: list[Row]) -> str:
    out = ["| measurement | value | target | result |", "|---|---:|---|---|"]
    out += [f"| {r.measurement} | {r.value} | {r.target} | {r.result} |" for r in rows]
    return "\n".join(out)


def write_results(
    path: Path, rows: list[Row], info: dict[str, str], notes: list[str], argv: list[str]
) -> None:
    """results.md: when, where, versions, the table, the notes and how to reproduce."""
    lines = [
        "# Benchmark results",
        "",
        f"Measured {info.pop('date')} by `benchmarks/run.py` (issue 7). "
        "Each measurement ran in a fresh subprocess; peak RSS is that process's own.",
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Results",
        "",
        table(rows),
        "",
        "## Notes",
        "",
        *[f"- {n}" for n in notes],
        "",
        "## Reproduce",
        "",
        "```",
        f".venv/bin/python benchmarks/run.py {' '.join(argv)}".rstrip(),
        "```",
        "",
        "Options: `--quick` (100k/500k lines, 2k-line pyx12 file), `--skip-5m`, `--no-pyx12`, "
        "`--repeat N` (best of N runs for the 1M-line throughputs), `--output FILE`. "
        "Not part of the test suite; run it on an otherwise idle machine.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small files, one run each")
    parser.add_argument("--skip-5m", action="store_true", help="no large file (no RSS flatness)")
    parser.add_argument("--no-pyx12", action="store_true", help="skip the pyx12 baseline")
    parser.add_argument("--lines", type=int, help="main file (default 1M; quick 100k)")
    parser.add_argument("--large-lines", type=int, help="large file (default 5x --lines)")
    parser.add_argument("--pyx12-lines", type=int, help="pyx12 file (default 20k; quick 2k)")
    parser.add_argument("--check-n", type=int, help="check_claim calls (default 2000)")
    parser.add_argument("--repeat", type=int, help="runs per 1M-line throughput (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--many", type=int, default=10_000, help="interchanges of the many-interchange file"
    )
    parser.add_argument(
        "--many-columnar", type=int, default=500, help="the same for the columnar reader"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument(
        "--at",
        metavar="REV",
        help="measure the src/ of this commit (e.g. HEAD), not the working tree",
    )
    args = parser.parse_args(argv)
    args.lines = args.lines or (100_000 if args.quick else 1_000_000)
    args.large_lines = args.large_lines or 5 * args.lines
    args.pyx12_lines = args.pyx12_lines or (2_000 if args.quick else 20_000)
    args.check_n = args.check_n or (500 if args.quick else 2000)
    args.repeat = args.repeat or (1 if args.quick else 2)
    return args


def size_label(lines: int) -> str:
    if lines >= 1_000_000 and lines % 1_000_000 == 0:
        return f"{lines // 1_000_000}M"
    return f"{lines // 1000}k" if lines >= 1000 and lines % 1000 == 0 else str(lines)


def main(argv: list[str]) -> int:
    """Measure the working tree, or with --at the commit's src/ extracted to a temp dir."""
    global SNAPSHOT
    args = parse_args(argv)
    if not args.at:
        return measure(args, argv, None)
    with tempfile.TemporaryDirectory(prefix="mipsclaims-at-") as tmp:
        SNAPSHOT = Path(tmp)
        commit = snapshot(args.at, SNAPSHOT)
        sys.path.insert(0, str(SNAPSHOT / "src"))  # the generator too
        where = run_process([sys.executable, __file__, "--child", "where"], child_env())
        if not where.data["module"].startswith(str(SNAPSHOT)):
            raise RuntimeError(f"--at: mipsclaims imported from {where.data['module']}")
        print(f"measuring {commit}", flush=True)
        return measure(args, argv, commit)


def measure(args: argparse.Namespace, argv: list[str], commit: str | None) -> int:
    """Every measurement, the table printed and written."""
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    small, large = size_label(args.lines), size_label(args.large_lines)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    main_file = synthetic_file(args.lines, args.seed, args.cache_dir)
    large_file = (
        None if args.skip_5m else synthetic_file(args.large_lines, args.seed, args.cache_dir)
    )
    pyx12_file = None
    pyx12_version = "" if args.no_pyx12 else machine()["pyx12"]
    if not args.no_pyx12 and pyx12_version != "not installed":
        pyx12_file = synthetic_file(args.pyx12_lines, args.seed, args.cache_dir)

    def step(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    rows: list[Row] = []
    notes: list[str] = []
    mb = main_file.stat().st_size / 1e6
    step(f"parse-only {small}, 1 thread")
    p1 = run_child("parse", str(main_file), threads=1, repeat=args.repeat)
    n = p1.data["lines"]
    step(f"parse-only {small}, all threads")
    pall = run_child("parse", str(main_file), repeat=args.repeat)
    step(f"parse-only {small}, all threads, kernel calls one at a time (fast.THREADS=0)")
    pserial = run_child("parse", str(main_file), repeat=args.repeat, extra=("0",))
    step(f"report {small} (CLI, end to end)")
    with tempfile.TemporaryDirectory() as tmp:
        e2e = run_report(main_file, Path(tmp), repeat=args.repeat)
        step(f"evaluate() {small}")
        api = run_child("evaluate", str(main_file), repeat=args.repeat)
        e2e_large = plarge = None
        if large_file is not None:
            step(f"parse-only {large}, all threads")
            plarge = run_child("parse", str(large_file))
            step(f"report {large} (CLI, end to end)")
            e2e_large = run_report(large_file, Path(tmp))
    step(f"parse-only {small}, all threads, columnar reader (before)")
    pall_before = run_child("parse", str(main_file), repeat=args.repeat, reader="columnar")
    step(f"report {small} (CLI, end to end), columnar reader (before)")
    with tempfile.TemporaryDirectory() as tmp:
        e2e_before = run_report(main_file, Path(tmp), repeat=args.repeat, reader="columnar")
    many_file = many_interchange_file(args.many, args.seed, args.cache_dir)
    one_file = synthetic_file(3 * args.many, args.seed, args.cache_dir)
    many_runs = {}
    # The columnar reader pays a batch per interchange (minutes on 10,000 interchanges):
    # it reads a file of --many-columnar interchanges, compared per line.
    few = min(args.many, args.many_columnar)
    few_files = (
        many_interchange_file(few, args.seed, args.cache_dir),
        synthetic_file(3 * few, args.seed, args.cache_dir),
    )
    for reader, (many_path, one_path), count in (
        ("fast", (many_file, one_file), args.many),
        ("columnar", few_files, few),
    ):
        step(f"parse-only, {count:,} interchanges vs one interchange, {reader} reader")
        many_runs[reader] = (
            count,
            run_child("parse", str(many_path), reader=reader),
            run_child("parse", str(one_path), reader=reader),
        )
    step(f"naive split baseline {small}")
    naive = run_child("naive", str(main_file), repeat=args.repeat)
    naive_many = run_child("naive", str(many_file))
    step(f"minimal polars pipeline {small}, 1 thread")
    floor = run_child("floor", str(main_file), threads=1, repeat=args.repeat)
    step(f"check_claim x {args.check_n}")
    cc = run_child("check_claim", str(args.check_n))
    pyx = None
    if pyx12_file is not None:
        step(f"pyx12 baseline {size_label(args.pyx12_lines)} (slow)")
        pyx = run_child("pyx12", str(pyx12_file))
    load_after = os.getloadavg()

    e2e_rate = rate(n, e2e.wall)
    p1_rate = rate(n, p1.wall)
    p1_cpu_rate = rate(n, p1.data["cpu"])  # one core's worth: the reader uses two threads
    naive_rate = rate(naive.data["lines"], naive.wall)
    rows += [
        Row(
            f"report end to end, {small} lines (CLI, JSON)",
            f"{fmt_rate(e2e_rate)} ({e2e.wall:.2f} s wall, {e2e.cpu:.2f} s CPU, "
            f"{mb / e2e.wall:.0f} MB/s)",
            f">= {E2E_TARGET:,}",
            e2e_rate >= E2E_TARGET,
        ),
        Row(
            f"report end to end / naive split, {small}",
            f"{e2e_rate / naive_rate:.2f}x",
            f">= {NAIVE_RATIO_TARGET:g}x",
            e2e_rate / naive_rate >= NAIVE_RATIO_TARGET,
        ),
        Row(
            f"evaluate() end to end, {small} (API, after imports)",
            f"{fmt_rate(rate(n, api.wall))} ({api.wall:.2f} s)",
        ),
        Row(
            f"parse-only, {small}, one core (lines per CPU second)",
            f"{fmt_rate(p1_cpu_rate)} ({p1.data['cpu']:.2f} CPU s)",
            f">= {PARSE_TARGET:,}",
            p1_cpu_rate >= PARSE_TARGET,
        ),
        Row(
            f"parse-only, {small}, 1 polars thread",
            f"{fmt_rate(p1_rate)} ({p1.wall:.2f} s wall; the scan-ahead thread runs beside it)",
        ),
        Row(
            f"parse-only, {small}, all threads",
            f"{fmt_rate(rate(n, pall.wall))} ({pall.wall:.2f} s wall, "
            f"{pall.data['cpu']:.2f} s CPU)",
        ),
        Row(
            f"parse-only, {small}, kernel calls one at a time (fast.THREADS=0)",
            f"{fmt_rate(rate(n, pserial.wall))} ({pserial.wall:.2f} s wall, "
            f"{pserial.data['cpu']:.2f} s CPU); parallel / serial: wall "
            f"{pall.wall / pserial.wall:.2f}x, CPU {pall.data['cpu'] / pserial.data['cpu']:.2f}x",
        ),
        Row(
            f"peak RSS, report {small}",
            fmt_bytes(e2e.rss),
            f"< {fmt_bytes(RSS_TARGET)}",
            e2e.rss < RSS_TARGET,
        ),
    ]
    before_rate = rate(n, e2e_before.wall)
    rows += [
        Row(
            f"parse-only, {small}, all threads, columnar reader (before)",
            f"{fmt_rate(rate(n, pall_before.wall))} ({pall_before.wall:.2f} s wall, "
            f"{pall_before.data['cpu']:.2f} s CPU); fast path / before: wall "
            f"{pall_before.wall / pall.wall:.2f}x, CPU "
            f"{pall_before.data['cpu'] / pall.data['cpu']:.2f}x",
        ),
        Row(
            f"parse-only / naive split, {small}, all threads (issue 17: >= 2.5x)",
            f"fast path {rate(n, pall.wall) / naive_rate:.2f}x, "
            f"columnar {rate(n, pall_before.wall) / naive_rate:.2f}x",
        ),
        Row(
            f"report end to end, {small}, columnar reader (before)",
            f"{fmt_rate(before_rate)} ({e2e_before.wall:.2f} s); / naive split "
            f"{before_rate / naive_rate:.2f}x (fast path {e2e_rate / naive_rate:.2f}x)",
        ),
    ]
    for reader, (count, many, one) in many_runs.items():
        per_many = many.wall / max(many.data["lines"], 1)
        per_one = one.wall / max(one.data["lines"], 1)
        naive_many_rate = rate(naive_many.data["lines"], naive_many.wall)
        cpu_ratio = (many.data["cpu"] / max(many.data["lines"], 1)) / (
            one.data["cpu"] / max(one.data["lines"], 1)
        )
        rows.append(
            Row(
                f"{count:,} one-claim interchanges, parse-only, {reader} reader",
                f"{fmt_rate(rate(many.data['lines'], many.wall))} ({many.wall:.2f} s); "
                f"one interchange of {one.data['lines']:,} lines {one.wall:.2f} s; per-line "
                f"time {per_many / per_one:.2f}x (CPU {cpu_ratio:.2f}x); / naive split "
                f"{rate(many.data['lines'], many.wall) / naive_many_rate:.2f}x",
                "<= 2x" if reader == "fast" else "",
                per_many <= 2 * per_one if reader == "fast" else None,
            )
        )
    if e2e_large is not None and plarge is not None:
        n_large = plarge.data["lines"]
        rows += [
            Row(
                f"peak RSS, report {large}",
                f"{fmt_bytes(e2e_large.rss)} ({e2e_large.rss / e2e.rss:.2f}x the {small} peak)",
                f"<= {RSS_FLAT:g}x the {small} peak",
                e2e_large.rss <= RSS_FLAT * e2e.rss,
            ),
            Row(
                f"report end to end, {large} lines (CLI, JSON)",
                f"{fmt_rate(rate(n_large, e2e_large.wall))} ({e2e_large.wall:.1f} s wall, "
                f"{e2e_large.cpu:.1f} s CPU)",
            ),
        ]
    rows += [
        Row(f"peak RSS, parse-only {small}", fmt_bytes(pall.rss)),
        *(
            [Row(f"peak RSS, parse-only {large}", fmt_bytes(plarge.rss))]
            if plarge is not None
            else []
        ),
        Row(f"check_claim p50 (n={cc.data['n']})", f"{cc.data['p50']:.3f} ms"),
        Row(
            f"check_claim p95 (n={cc.data['n']})",
            f"{cc.data['p95']:.3f} ms",
            f"< {P95_TARGET_MS:g} ms",
            cc.data["p95"] < P95_TARGET_MS,
        ),
        Row(
            f"reference: minimal polars pipeline, {small}, 1 thread",
            f"{fmt_rate(rate(floor.data['lines'], floor.data['cpu']))} per CPU s; ours: parse-only "
            f"per CPU s {p1_cpu_rate / rate(floor.data['lines'], floor.data['cpu']):.2f}x",
        ),
        Row(
            f"baseline: naive split, {small}",
            f"{fmt_rate(naive_rate)} ({naive.wall:.2f} s); ours: report "
            f"{e2e_rate / naive_rate:.2f}x, parse-only per CPU s {p1_cpu_rate / naive_rate:.2f}x",
        ),
    ]
    if pyx is not None:
        pyx_rate = rate(pyx.data["lines"], pyx.wall)
        rows.append(
            Row(
                f"baseline: pyx12 {pyx12_version}, {size_label(args.pyx12_lines)}-line file",
                f"{fmt_rate(pyx_rate)} ({pyx.wall:.1f} s); ours: report "
                f"{e2e_rate / pyx_rate:,.0f}x, parse-only per CPU s {p1_cpu_rate / pyx_rate:,.0f}x",
            )
        )
    else:
        why = "skipped (--no-pyx12)" if args.no_pyx12 else "not installed"
        rows.append(Row("baseline: pyx12", why))

    if naive.data["lines"] != n:
        notes.append(f"the naive split found {naive.data['lines']:,} SV1 segments, ours {n:,}")
    if floor.data["lines"] != n:
        notes.append(f"the minimal polars pipeline found {floor.data['lines']:,} lines, ours {n:,}")
    notes += [
        f"Input: synthetic 837P from `mipsclaims.synth` (seed {args.seed}, about 3 service "
        f"lines per claim, 2000 claims per transaction): {small} file = {n:,} service lines "
        f"({mb:.0f} MB)"
        + (
            f"; {large} file = {plarge.data['lines']:,} lines "
            f"({large_file.stat().st_size / 1e6:.0f} MB)"
            if plarge is not None and large_file is not None
            else ""
        )
        + ". Lines/s = service lines (rows of the canonical table) / wall seconds.",
        "report end to end = the `mipsclaims` console script "
        "(`report --year 2025 --format json --quiet FILE -o OUT`), wall clock of the whole "
        "process including interpreter start-up and imports; all polars threads. CPU = user "
        "+ system seconds of that process (well below wall: it waited for a busy CPU).",
        "parse-only = `x12.iter_claim_line_batches` over the file (default batch size), "
        "timed after imports; `POLARS_MAX_THREADS=1` for the one-thread rows. The reader "
        "cuts and scans the next piece in a worker thread, so one polars thread still uses "
        "up to two cores: the one-core row divides by the process's CPU seconds instead.",
        "Minimal polars pipeline = `child_floor` in run.py: segments as one string column, "
        "tags, running claim and line ids, `splitn` of SV1/CLM/NM1/DTP and two joins, with "
        "nothing else (no loops, HL levels, whitespace rules, validation or errors). It is "
        "a lower bound for a polars-only reader on this machine, in CPU seconds.",
        f"Throughputs on the {small} file are the best of {args.repeat} runs; peak RSS the "
        "largest of them.",
        "Naive split = pure Python: read the text, split on the segment terminator, keep SV1 "
        "segments, split elements, keep procedure code and charge in lists "
        "(no loops, no validation, no measure logic).",
        "pyx12 = `X12ContextReader(params(), errh_null(), fh).iter_segments('2400')` reading "
        "SV101-2 and SV102 per 2400 loop, on a synthetic file of "
        f"{size_label(args.pyx12_lines)} lines (generated with the same seed); ratios use our "
        f"{small}-file rates.",
        f"Peak RSS flat = the {large} peak at most {RSS_FLAT:g}x the {small} peak.",
        "Load average (1/5/15 min) at start "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", at end "
        + " ".join(f"{x:.2f}" for x in load_after)
        + f" on {os.cpu_count()} cores (the end value includes this run's own work)"
        + (
            ": other work was running before it started, numbers may be noisy."
            if load_before[0] > 1.0
            else "."
        ),
        f"Run took {(dt.datetime.now(dt.UTC) - started).total_seconds():.0f} s.",
    ]
    info = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), **machine(commit)}
    print()
    print(table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.output, rows, info, notes, argv_for_results(argv, commit))
    print(f"\nwrote {args.output}")
    return 0


def argv_for_results(argv: list[str], commit: str | None) -> list[str]:
    """The command line as given, minus machine-specific paths, --at as a commit hash."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if commit and out and out[-1] == "--at":
            out.append(commit.split()[0])
            continue
        if commit and a.startswith("--at="):
            out += ["--at", commit.split()[0]]
            continue
        if a in ("--output", "--cache-dir"):
            skip = True
            continue
        if a.startswith(("--output=", "--cache-dir=")):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]](*sys.argv[3:])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
