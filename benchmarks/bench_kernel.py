"""The fast path's numpy kernel alone: ``x12.vector.read_block`` on one buffer.

Run: ``.venv/bin/python benchmarks/bench_kernel.py [--lines 1000000] [--seed 18]
[--bytes 8388608] [--repeat 5]``.

The buffer is the first ``--bytes`` of the synthetic 837P of ``run.py`` (same file name
and seed, cached in the temp directory), cut at its last ST as the fast path cuts it, so
the kernel sees what it sees in a real read. Each call is timed in thread CPU seconds
(``time.thread_time``) with one polars thread; the best of ``--repeat`` is reported per
service line. Another commit: ``PYTHONPATH=DIR/src`` as in ``bench_engine.py``, runs
alternated on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import synthetic_file  # noqa: E402

from mipsclaims.x12.envelope import parse_isa  # noqa: E402
from mipsclaims.x12.vector import last_transaction_start, read_block  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)

    path = synthetic_file(args.lines, args.seed, args.cache_dir)
    with open(path, "rb") as fh:
        data = fh.read(args.bytes)
    delimiters, isa, _ = parse_isa(data)
    data = data[: last_transaction_start(data, delimiters)]
    times = []
    lines = 0
    for _ in range(args.repeat):
        start = time.thread_time()
        block = read_block(
            data,
            delimiters,
            final=False,
            claim_seq0=0,
            source="bench",
            controls=[isa[13].strip()],
            control0="",
        )
        times.append(time.thread_time() - start)
        lines = block.table.height
    best = min(times)
    print(f"buffer {len(data):,} bytes, {lines:,} lines, clean to segment {block.bad}")
    print(f"kernel CPU: best {best:.3f} s of {args.repeat} ({best / lines * 1e6:.2f} us/line)")
    print("all runs: " + ", ".join(f"{t:.3f}" for t in times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
