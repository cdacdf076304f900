"""835 reading speed beside the 837 reader's, on the same synthetic year (issue 16).

Run: ``.venv/bin/python benchmarks/bench_remit.py [--claims 40000] [--repeat 3]``.

A synthetic 837 (fixed seed) and Medicare's synthetic answer to it (both 835 files of
:func:`mipsclaims.remit.synth.synthetic_835`, concatenated) are built in memory first
(not timed). Then, best of ``--repeat``: the 835 reader (``read_remit_lines``), the 837
columnar reader (``read_claim_lines``) on the 837, and ``reconcile_lines`` on both tables.
Rates are service lines (SVC / SV1) per second of wall clock, one process, after imports.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from mipsclaims.remit.reader import read_remit_lines
from mipsclaims.remit.reconcile import reconcile_lines
from mipsclaims.remit.synth import RemitConfig, synthetic_835
from mipsclaims.synth import SynthConfig, synthetic_837
from mipsclaims.x12 import read_claim_lines

YEAR = 2025


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall-clock and best process CPU seconds of ``repeat`` runs, and the output.

    CPU seconds are the steadier figure on a shared machine (other processes inflate the
    wall clock, not our CPU time)."""
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--claims", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    data_837 = synthetic_837(SynthConfig(year=YEAR, claims=args.claims, seed=16))
    lines = read_claim_lines(data_837)
    answer = synthetic_835(lines, YEAR, RemitConfig(seed=16))
    data_835 = b"".join(answer.files)

    t835, c835, remit = _best(lambda: read_remit_lines([data_835]), args.repeat)
    t837, c837, _ = _best(lambda: read_claim_lines(data_837), args.repeat)
    trec, crec, rec = _best(lambda: reconcile_lines(lines, remit, YEAR), args.repeat)
    n835 = remit["line_index"].drop_nulls().len()  # type: ignore[index]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"Python {platform.python_version()}, {args.claims:,} claims, best of {args.repeat}")
    print("| what | input | lines | wall s | lines/s | CPU s | lines/CPU-s |")
    print("|---|---|---|---|---|---|---|")
    rows = (
        ("835 reader", f"{len(data_835) / 1e6:.1f} MB", n835, t835, c835),
        ("837 columnar reader", f"{len(data_837) / 1e6:.1f} MB", lines.height, t837, c837),
        (
            "reconcile_lines (with its engine run)",
            f"{rec.height:,} QDC lines",
            lines.height,
            trec,
            crec,
        ),  # type: ignore[union-attr]
    )
    for what, size, n, wall, cpu in rows:
        print(
            f"| {what} | {size} | {n:,} | {wall:.2f} | {n / wall:,.0f} "
            f"| {cpu:.2f} | {n / cpu:,.0f} |"
        )


if __name__ == "__main__":
    main()
