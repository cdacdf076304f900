"""Per-line cost of many small interchanges against one interchange (issue 17's third
target), a script, not a test.

Run: ``.venv/bin/python benchmarks/bench_many.py [--repeat 5] [--threads 0] [--src DIR]``.
Reads the two cached files of ``run.py`` (10,000 one-claim interchanges, and one
interchange of about the same number of lines; generated on first use) with the fast path
in one child process, alternating them ``--repeat`` times, and prints the best CPU and
wall seconds of each, per line, and their ratio (same run: the host may be shared, so CPU
seconds and same-run ratios are what to quote). ``--src`` reads with another checkout's
``src`` (a before/after comparison in one run); ``--threads`` sets ``fast.THREADS``;
``POLARS_MAX_THREADS`` is 1 unless set. ``--variants``: CPU seconds of 3,000 of those
interchanges with whitespace between them or ISAs not at their fixed widths (what runs
leave to the per-interchange code), as bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

CHILD = r"""
import json, sys, time
from mipsclaims import x12
from mipsclaims.x12 import fast
fast.THREADS = int(sys.argv[1])
paths, repeat = sys.argv[3:], int(sys.argv[2])
best = {p: {"cpu": 1e9, "wall": 1e9} for p in paths}
for _ in range(repeat):
    for p in paths:
        report = x12.ReadReport()
        wall, cpu = time.perf_counter(), time.process_time()
        lines = sum(b.height for b in x12.iter_claim_line_batches(p, report))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        b = best[p]
        b["cpu"], b["wall"], b["lines"] = min(b["cpu"], cpu), min(b["wall"], wall), lines
        b["interchanges"] = report.interchanges
print(json.dumps(best))
"""


# Files that are not all runs: 3,000 interchanges of the many file with whitespace the
# kernel does not read between them, or ISAs not at their fixed widths (read from bytes).
VARIANTS_CHILD = r"""
import json, re, sys, time
from mipsclaims.x12 import fast
fast.THREADS = int(sys.argv[1])
many, repeat = open(sys.argv[3], "rb").read(), int(sys.argv[2])
parts = re.split(rb"(?=ISA\*)", many)[1:3001]
trim = lambda p: p.replace(b"*MIPSCLAIMS     *", b"*MIPSCLAIMS*", 1)
variants = {
    "clean": b"".join(parts),
    "2 spaces between": b"  ".join(parts),
    "20 NULs between": (b"\x00" * 20).join(parts),
    "every ISA trimmed": b"".join(map(trim, parts)),
    "every 10th ISA trimmed": b"".join(trim(p) if i % 10 == 0 else p for i, p in enumerate(parts)),
}
out = {}
for name, data in variants.items():
    best = 1e9
    for _ in range(repeat):
        cpu = time.process_time()
        lines = fast.read_claim_lines(data).height
        best = min(best, time.process_time() - cpu)
    out[name] = {"cpu": best, "lines": lines}
print(json.dumps(out))
"""


def measure(
    src: Path, threads: int, repeat: int, paths: list[Path], child: str = CHILD
) -> dict[str, dict]:
    env = dict(os.environ, PYTHONPATH=str(src))
    env.setdefault("POLARS_MAX_THREADS", "1")
    out = subprocess.run(
        [sys.executable, "-c", child, str(threads), str(repeat), *map(str, paths)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main(argv: list[str]) -> int:
    from run import YEAR, many_interchange_file, synthetic_file  # noqa: F401

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--src", type=Path, action="append", help="src dirs (default ours)")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--variants", action="store_true", help="files that are not all runs")
    args = parser.parse_args(argv)
    cache = Path(tempfile.gettempdir())
    many = many_interchange_file(10_000, args.seed, cache)
    one = synthetic_file(10_000 * 3, args.seed, cache)
    srcs = args.src or [Path(__file__).resolve().parent.parent / "src"]
    if args.variants:
        for src in srcs:
            print(f"{src}: threads={args.threads} best of {args.repeat}, CPU s")
            found = measure(src, args.threads, args.repeat, [many], VARIANTS_CHILD)
            for name, b in found.items():
                print(f"  {name:24} {b['lines']:6d} lines {b['cpu']:.3f}")
        return 0
    for src in srcs:
        best = measure(src, args.threads, args.repeat, [many, one])
        m, o = best[str(many)], best[str(one)]
        print(f"{src}: threads={args.threads} best of {args.repeat}")
        for name, b in (("many", m), ("one", o)):
            print(
                f"  {name:4} {b['lines']:6d} lines {b['interchanges']:5d} interchanges: "
                f"{b['cpu']:.3f} CPU s ({1e6 * b['cpu'] / b['lines']:.2f} us/line), "
                f"{b['wall']:.3f} s wall ({1e6 * b['wall'] / b['lines']:.2f} us/line)"
            )
        cpu = (m["cpu"] / m["lines"]) / (o["cpu"] / o["lines"])
        wall = (m["wall"] / m["lines"]) / (o["wall"] / o["lines"])
        print(f"  per-line ratio many/one: {cpu:.2f}x CPU, {wall:.2f}x wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
