"""The Spark engine (local master) against the single-machine engine on the same 837P input
(a script, not a test).

Run: ``.venv/bin/python benchmarks/bench_spark.py [--lines 1000000] [--files 4]
[--master local[2]] [--groups N]``. The synthetic year is written once (fixed seed) as
``--files`` files cut at transaction boundaries (later files replace and void claims of
earlier ones) and cached in the temp directory. Each engine runs in a fresh subprocess:
the local one as ``mipsclaims report --format json``, the Spark one through
``mipsclaims.spark`` with the Spark UI on, so that its shuffle bytes can be read from the
UI's REST API. Prints the timings, shuffle bytes per line, and whether the two JSON
reports are byte-identical.
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
import json, sys, time, urllib.request
master, groups, driver_memory, out, *files = sys.argv[1:]
start = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(master).appName("bench_spark")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.driver.memory", driver_memory).getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
jvm = time.perf_counter() - start
from mipsclaims.report import export
from mipsclaims.spark import evaluate, read_837
begin = time.perf_counter()
read = read_837(spark, files)
result = evaluate(read.lines, 2025, groups=int(groups) or None)
text = export.to_json(result.to_engine_result(), year=2025, level="tin-npi")
work = time.perf_counter() - begin
open(out, "w").write(text)
sc = spark.sparkContext
stages = json.load(urllib.request.urlopen(
    f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages?status=complete"))
print(json.dumps({
    "jvm_s": jvm, "work_s": work, "total_s": time.perf_counter() - start,
    "shuffle_write_bytes": sum(s.get("shuffleWriteBytes", 0) for s in stages),
    "shuffle_write_records": sum(s.get("shuffleWriteRecords", 0) for s in stages),
    "tasks": sum(s.get("numCompleteTasks", 0) for s in stages),
    "groups": groups,
}))
spark.stop()
"""


def synthetic_files(lines: int, files: int, seed: int) -> list[Path]:
    """The synthetic year cut into ``files`` files at transaction boundaries (cached)."""
    from mipsclaims.synth import SynthConfig, iter_synthetic_837

    claims = max(lines // 3, 1)  # about 3 service lines per claim with the defaults
    base = Path(tempfile.gettempdir()) / f"mipsclaims-bench-spark-{claims}-{seed}"
    paths = [base.with_name(f"{base.name}-{i}of{files}.837") for i in range(files)]
    if all(p.exists() for p in paths):
        return paths
    config = SynthConfig(claims=claims, seed=seed, claims_per_transaction=2000)
    chunks = iter_synthetic_837(config)
    header = next(chunks)
    transactions = -(-claims // config.claims_per_transaction)
    per_file = -(-transactions // files)
    trailer = ""
    handles = [p.with_suffix(".part").open("w", encoding="utf-8") for p in paths]
    try:
        for h in handles:
            h.write(header)
        for i, chunk in enumerate(chunks):
            if i >= transactions:
                trailer = chunk
                break
            handles[min(i // per_file, files - 1)].write(chunk)
        for h in handles:
            h.write(trailer)
    finally:
        for h in handles:
            h.close()
    for p in paths:
        p.with_suffix(".part").rename(p)
    return paths


def _count_lines(paths: list[Path]) -> int:
    from mipsclaims import x12

    return sum(
        sum(b.height for b in x12.iter_claim_line_batches(p, x12.ReadReport())) for p in paths
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--groups", type=int, default=0, help="0: the default (4 per core)")
    parser.add_argument(
        "--driver-memory", default="4g", help="JVM heap of the local driver (spark.driver.memory)"
    )
    args = parser.parse_args()

    paths = synthetic_files(args.lines, args.files, args.seed)
    n_lines = _count_lines(paths)
    size = sum(p.stat().st_size for p in paths)
    print(f"input: {len(paths)} files, {n_lines:,} service lines, {size / 1e6:.0f} MB")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    cli = Path(sys.executable).with_name("mipsclaims")
    with tempfile.TemporaryDirectory() as tmp:
        local_out, spark_out = Path(tmp) / "local.json", Path(tmp) / "spark.json"
        start = time.perf_counter()
        subprocess.run(
            [str(cli), "report", "-f", "json", "-q", "-o", str(local_out), *map(str, paths)],
            check=True,
            env=env,
        )
        local_s = time.perf_counter() - start
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                args.master,
                str(args.groups),
                args.driver_memory,
                str(spark_out),
                *map(str, paths),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if child.returncode != 0:  # say why (the JVM's error is in its standard error)
            sys.exit("spark run failed:\n" + "\n".join(child.stderr.splitlines()[-40:]))
        spark = json.loads(child.stdout.strip().splitlines()[-1])
        same = local_out.read_bytes() == spark_out.read_bytes()
    print(f"local engine (CLI, JSON):     {local_s:7.1f} s  {n_lines / local_s:10,.0f} lines/s")
    print(
        f"spark {args.master} (API, JSON): {spark['total_s']:7.1f} s  "
        f"{n_lines / spark['total_s']:10,.0f} lines/s "
        f"(JVM start {spark['jvm_s']:.1f} s, read + evaluate {spark['work_s']:.1f} s)"
    )
    print(
        f"shuffle written: {spark['shuffle_write_bytes'] / 1e6:.1f} MB, "
        f"{spark['shuffle_write_bytes'] / n_lines:.0f} bytes per line; "
        f"{spark['tasks']} tasks"
    )
    print(f"JSON byte-identical: {same}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
