"""The engine alone: phase 1 (per-batch reduction) and phase 2 (counts), step by step.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--lines 1000000] [--seed 18] [--repeat 2]``.

The canonical table is built once: the synthetic 837P of ``run.py`` (same file name and
seed, cached in the temp directory) read by ``x12.read_claim_lines`` and cached as Parquet
beside it, so that the reader's speed does not enter. Then, best of ``--repeat``, the
steps of ``engine.evaluate_lines`` run in its order (on ``engine.pipeline``'s functions,
single-threaded between steps so each step's CPU is its own):

- phase 1, per batch of whole claims: split (scope), eligibility, markers, findings,
  store (the facts kept);
- phase 2: superseded (replacement/void), group (integer keys, instance keys), counts
  (instance marks, ``count_rows``, scope table); the parts of group and counts named in
  ``PARTS`` (the patient/entity grouping ``_people`` among them) on rows of their own,
  inside their step's time.

Another commit (from the first that has ``pipeline._facts``): ``git archive REV src
measure_specs | tar -x -C DIR`` and run with ``PYTHONPATH=DIR/src``; alternate the two
runs on a shared machine and compare same-run ratios.

CPU seconds are the process's user + system time (``resource.getrusage``): on a shared
machine they are steadier than wall time. The report, JSON or CSV, reads no lazily built
output (instances, monthly, findings), so they are not timed here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import YEAR, synthetic_file  # noqa: E402  (the same cached 837P files)

from mipsclaims import engine, x12  # noqa: E402
from mipsclaims.engine import pipeline  # noqa: E402
from mipsclaims.engine.eligibility import eligible_options  # noqa: E402
from mipsclaims.engine.facts import FactStore  # noqa: E402
from mipsclaims.engine.findings import find  # noqa: E402
from mipsclaims.engine.markers import claim_markers  # noqa: E402
from mipsclaims.engine.scope import scope_counts, split_batch, superseded  # noqa: E402

PHASE1 = ("split", "eligibility", "markers", "findings", "store")
PHASE2 = ("superseded", "group", "counts")
#: Parts of phase-2 steps, timed inside them (``engine.pipeline``'s names): where the
#: grouping on patient, entity and instance keys goes.
PARTS = {
    "group": ("_people", "_with_claim_columns", "instance_keys"),
    "counts": ("instance_marks", "count_rows"),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """CPU and wall seconds per named step, summed over calls."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)

    def __call__(self, step: str, fn: Callable[[], Any]) -> Any:
        cpu, wall = _cpu(), time.perf_counter()
        out = fn()
        self.cpu[step] += _cpu() - cpu
        self.wall[step] += time.perf_counter() - wall
        return out

    @contextlib.contextmanager
    def parts(self) -> Iterator[None]:
        """:data:`PARTS` of ``engine.pipeline`` on the clock too, as ``step: name``."""
        saved = {name: getattr(pipeline, name) for names in PARTS.values() for name in names}
        for step, names in PARTS.items():
            for name in names:

                def timed(*args: Any, _fn: Any = saved[name], _key: str = f"{step}: {name}") -> Any:
                    return self(_key, lambda: _fn(*args))

                setattr(pipeline, name, timed)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(pipeline, name, fn)


def canonical_table(lines: int, seed: int, cache_dir: Path) -> pl.DataFrame:
    """The canonical claim-line table of the cached synthetic file (Parquet-cached)."""
    source = synthetic_file(lines, seed, cache_dir)
    cached = source.with_suffix(".canonical.parquet")
    if not cached.exists():
        start = time.perf_counter()
        table = x12.read_claim_lines(source)
        part = cached.with_suffix(".part")
        table.write_parquet(part)
        part.rename(cached)
        print(f"read {source.name} into {cached.name} in {time.perf_counter() - start:.0f} s")
    return pl.read_parquet(cached)


def batches(table: pl.DataFrame, rows: int) -> list[pl.DataFrame]:
    """``table`` in batches of about ``rows`` lines of whole claims, as the reader hands
    them to the engine (``report`` reads 837P in 8 MB batches: about 61k lines; the
    pipeline may gather them, :func:`run_once` times what it does)."""
    cut = (table.slice(i, rows) for i in range(0, table.height, rows))
    return list(pipeline._whole_claims(cut))


def run_once(
    parts: list[pl.DataFrame], level: engine.Level = "tin-npi"
) -> tuple[Clock, pl.DataFrame]:
    """The pipeline's steps, in its order, each on the clock; the report rows."""
    clock = Clock()
    t = pipeline._year_tables(YEAR)
    store = FactStore(spill=True)
    # As evaluate_lines takes an iterable of batches (it may gather them).
    for batch in pipeline._batches_of(iter(parts)):
        scope = clock("split", lambda b=batch: split_batch(b, YEAR))
        elig = clock(
            "eligibility",
            lambda s=scope: eligible_options(s.claims, s.lines, s.claim_dx, t),
        )
        marks = clock(
            "markers",
            lambda s=scope, e=elig: claim_markers(s.lines, s.claim_dx, e.masks, e.groups, t),
        )
        found = clock(
            "findings",
            lambda s=scope, e=elig, m=marks: find(s.claims, s.lines, e.masks, m.details, t),
        )
        clock(
            "store",
            lambda s=scope, e=elig, m=marks, f=found: store.add(pipeline._facts(s, e, m, f, t)),
        )
    keys = store.keys()
    gone = clock("superseded", lambda: superseded(keys))
    named, n_claims, n_lines = [], 0, 0
    with clock.parts():
        for r in store.groups():
            g = clock("group", lambda r=r: pipeline._group(r, gone, level, t))
            named.append(clock("counts", lambda g=g: pipeline._count_marks(g, t)))
            n_claims, n_lines = n_claims + g.claims, n_lines + g.lines
        rows = clock("counts", lambda: pipeline.count_rows(pl.concat(named), t))
    clock("counts", lambda: scope_counts(keys, store.splits(), gone, n_claims, n_lines))
    return clock, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch-rows", type=int, default=61_000, help="lines per batch")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()

    table = canonical_table(args.lines, args.seed, args.cache_dir)
    n = table.height
    parts = batches(table, args.batch_rows)
    pipeline._year_tables(YEAR)  # code tables built once, outside the clock
    run_once(batches(table.head(10_000), args.batch_rows))  # and the cached per-year masks

    best: dict[str, tuple[float, float]] = {}
    check: pl.DataFrame | None = None
    for _ in range(args.repeat):
        clock, rows = run_once(parts)
        inner = [f"{step}: {name}" for step, names in PARTS.items() for name in names]
        for step in (*PHASE1, *PHASE2, *inner):
            cpu, wall = clock.cpu[step], clock.wall[step]
            old = best.get(step)
            best[step] = (min(cpu, old[0]), min(wall, old[1])) if old else (cpu, wall)
        if check is not None and not rows.equals(check):
            raise SystemExit("report rows differ between runs")
        check = rows

    per_m = 1_000_000 / n
    load = os.getloadavg()
    print(
        f"{platform.machine()}, {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f}; "
        f"Python {platform.python_version()}, polars {pl.__version__}, "
        f"POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS', 'default')}"
    )
    print(
        f"{n:,} lines in {len(parts)} batches, year {YEAR}, seed {args.seed}, "
        f"best of {args.repeat} per step"
    )
    print("| phase | step | CPU s | CPU s per 1M lines | wall s |")
    print("|---|---|---:|---:|---:|")
    for phase, names in (("1", PHASE1), ("2", PHASE2)):
        for step in names:
            cpu, wall = best[step]
            print(f"| {phase} | {step} | {cpu:.2f} | {cpu * per_m:.2f} | {wall:.2f} |")
            for name in PARTS.get(step, ()):
                cpu, wall = best[f"{step}: {name}"]
                row = (
                    f"| {phase} | of which `{name}` | {cpu:.3f} | {cpu * per_m:.3f} | {wall:.3f} |"
                )
                print(row)
        cpu = sum(best[s][0] for s in names)
        wall = sum(best[s][1] for s in names)
        print(f"| {phase} | **total** | {cpu:.2f} | {cpu * per_m:.2f} | {wall:.2f} |")
    cpu = sum(best[s][0] for s in (*PHASE1, *PHASE2))
    wall = sum(best[s][1] for s in (*PHASE1, *PHASE2))
    print(f"| 1+2 | **total** | {cpu:.2f} | {cpu * per_m:.2f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
