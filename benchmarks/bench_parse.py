"""Throughput and peak memory of the 837P reader on synthetic files (a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_parse.py [--lines 1000000] [--batch-mb 32]
[--threads N] [--stream] [--repeat N]``. Each measurement runs in a fresh subprocess so that
its peak RSS is its own; with ``--repeat`` the fastest of N runs is shown (the machine may be
shared). The synthetic file is cached in the temp directory by size and seed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from mipsclaims import x12
path, batch, stream = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
report = x12.ReadReport()
wall, cpu = time.perf_counter(), time.process_time()
if stream:
    lines = sum(len(c.lines) for c in x12.iter_claims(path, report))
else:
    lines = sum(b.height for b in x12.iter_claim_line_batches(path, report, batch_bytes=batch))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"lines": lines, "wall": wall, "cpu": cpu, "rss_mb": rss,
                  "claims": report.claims_read, "quarantined": len(report.quarantined)}))
"""


def synthetic_file(lines: int, seed: int) -> Path:
    from mipsclaims.synth import SynthConfig, write_synthetic_837

    claims = max(lines // 3, 1)  # about 3 service lines per claim with the defaults
    path = Path(tempfile.gettempdir()) / f"mipsclaims-bench-{claims}-{seed}.837"
    if not path.exists():
        start = time.perf_counter()
        tmp = path.with_suffix(".part")
        write_synthetic_837(tmp, SynthConfig(claims=claims, seed=seed))
        tmp.rename(path)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    return path


def measure(path: Path, batch_mb: int, threads: int | None, stream: bool) -> dict:
    env = dict(os.environ)
    if threads:
        env["POLARS_MAX_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(batch_mb << 20), "1" if stream else "0"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-mb", type=int, nargs="+", default=[8])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 0])
    parser.add_argument("--stream", action="store_true", help="also time iter_claims")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case; the fastest counts")
    args = parser.parse_args()
    path = synthetic_file(args.lines, args.seed)
    size = path.stat().st_size / 1e6
    for batch in args.batch_mb:
        for threads in args.threads:
            runs = [measure(path, batch, threads or None, stream=False) for _ in range(args.repeat)]
            r = min(runs, key=lambda run: run["wall"])
            label = f"{threads} thread(s)" if threads else "all threads"
            print(
                f"columnar batch={batch}MB {label}: {r['lines']} lines, "
                f"{r['lines'] / r['wall']:,.0f} lines/s wall, {r['lines'] / r['cpu']:,.0f} "
                f"lines/s per CPU s, {size / r['wall']:.0f} MB/s, peak RSS {r['rss_mb']:.0f} MB"
            )
    if args.stream:
        r = measure(path, 32, None, stream=True)
        print(f"streaming iter_claims: {r['lines'] / r['wall']:,.0f} lines/s, "
              f"peak RSS {r['rss_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
