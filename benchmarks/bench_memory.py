"""Peak RSS of ``mipsclaims report`` by reader threads and engine gather size (issue 17).

Run: ``.venv/bin/python benchmarks/bench_memory.py [--lines 1000000] [--threads 0 1 2]
[--gather 50000 125000] [--repeat 1] [--timeline]``.

Each configuration is the real ``report --year 2025 --format json --quiet FILE -o OUT`` in
a fresh child process, with ``x12.fast.THREADS`` (kernel worker threads) and
``engine.pipeline.GATHER_ROWS`` (lines per engine batch) set before the command runs; its
peak RSS (``ru_maxrss`` from ``wait4``) and CPU seconds are its own. The input is the
synthetic 837P of ``run.py`` (same name and seed, cached in the temp directory).

``--timeline``: the child also samples its RSS every 5 ms in a thread and reports the
peak while reading and reducing (phase 1) and while counting (phase 2, from the first
call of ``engine.pipeline._evaluate``), and the RSS at that call (after the engine has
handed free memory back, ``engine/memory.py``), so a peak can be put on a phase.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import YEAR, child_env, run_process, synthetic_file  # noqa: E402

#: The child: constants set, an optional RSS sampler, then the CLI as the console script.
CHILD = r"""
import json, os, sys, threading, time
threads, gather, timeline, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
from mipsclaims.x12 import fast
from mipsclaims.engine import pipeline
fast.THREADS = threads
pipeline.GATHER_ROWS = gather
peaks = {"phase1": 0, "phase2": 0, "start2": 0}
phase = ["phase1"]
if timeline:
    page = os.sysconf("SC_PAGE_SIZE")
    def sample():
        with open("/proc/self/statm", "rb") as f:
            while True:
                f.seek(0)
                rss = int(f.read().split()[1]) * page
                if rss > peaks[phase[0]]:
                    peaks[phase[0]] = rss
                time.sleep(0.005)
    threading.Thread(target=sample, daemon=True).start()
    evaluate = pipeline._evaluate
    def marked(*args, **kwargs):
        with open("/proc/self/statm", "rb") as f:
            peaks["start2"] = peaks["phase2"] = int(f.read().split()[1]) * page
        phase[0] = "phase2"
        return evaluate(*args, **kwargs)
    pipeline._evaluate = marked
from mipsclaims.cli import main
sys.argv = ["mipsclaims", *sys.argv[5:]]
try:
    main()
finally:
    with open(out, "w") as f:
        json.dump(peaks, f)
"""


def measure(path: Path, threads: int, gather: int, timeline: bool, work: Path) -> dict[str, float]:
    out, peaks = work / "report.json", work / "peaks.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-c",
        CHILD,
        str(threads),
        str(gather),
        "1" if timeline else "0",
        str(peaks),
        "report",
        "--year",
        str(YEAR),
        "--format",
        "json",
        "--quiet",
        str(path),
        "-o",
        str(out),
    ]
    run = run_process(cmd, child_env())
    if not json.loads(out.read_text(encoding="utf-8")).get("rows"):
        raise RuntimeError("the report has no rows")
    row = {"rss": run.rss / 1e6, "cpu": run.cpu, "wall": run.wall}
    if timeline:
        row.update({k: v / 1e6 for k, v in json.loads(peaks.read_text()).items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--threads", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gather", type=int, nargs="+", default=[50_000, 125_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    path = synthetic_file(args.lines, args.seed, args.cache_dir)
    load = os.getloadavg()
    print(f"{path.name}, load {load[0]:.2f}, best CPU / max RSS of {args.repeat} run(s)")
    columns = "| THREADS | GATHER_ROWS | peak RSS MB | CPU s | wall s |"
    if args.timeline:
        columns += " phase 1 peak MB | RSS at phase 2 MB | phase 2 peak MB |"
    print(columns)
    print("|" + "---:|" * (columns.count("|") - 1))
    with tempfile.TemporaryDirectory(prefix="mipsclaims-mem-") as tmp:
        for gather in args.gather:
            for threads in args.threads:
                runs = [
                    measure(path, threads, gather, args.timeline, Path(tmp))
                    for _ in range(args.repeat)
                ]
                rss = max(r["rss"] for r in runs)
                cpu = min(r["cpu"] for r in runs)
                wall = min(r["wall"] for r in runs)
                line = f"| {threads} | {gather:,} | {rss:.0f} | {cpu:.2f} | {wall:.2f} |"
                if args.timeline:
                    p1 = max(r["phase1"] for r in runs)
                    p2 = max(r["phase2"] for r in runs)
                    s2 = max(r["start2"] for r in runs)
                    line += f" {p1:.0f} | {s2:.0f} | {p2:.0f} |"
                print(line, flush=True)


if __name__ == "__main__":
    main()
