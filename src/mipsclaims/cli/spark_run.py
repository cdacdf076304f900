"""``mipsclaims report --engine spark``: the same report, evaluated on a Spark cluster.

The files are read on the executors (:func:`mipsclaims.spark.read_837`) and counted there
(:func:`mipsclaims.spark.evaluate`); the driver gets the report rows and the scope table
and writes them with the same writers as the default engine, so the output is the same.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import errors, fail, note

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ..engine import EngineResult


class Engine(StrEnum):
    local = "local"
    spark = "spark"


ENGINE = typer.Option(
    Engine.local,
    "--engine",
    help="local (this machine) or spark (a Spark cluster; needs mipsclaims[spark]).",
)
MASTER = typer.Option(
    "local[*]", "--master", help="Spark master URL for --engine spark (e.g. yarn, spark://h:7077)."
)


#: Driver heap for a local master (``spark.driver.memory``).
LOCAL_DRIVER_MEMORY = "4g"


def _session(master: str, quiet: bool) -> tuple[SparkSession, bool]:
    """The active Spark session, or a new one on ``master`` (and whether we made it)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise fail("--engine spark needs PySpark: pip install 'mipsclaims[spark]'") from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    # Local workers run this interpreter, which has mipsclaims installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("mipsclaims report")
        .config("spark.ui.showConsoleProgress", "false" if quiet else "true")
    )
    if master.startswith("local"):
        # In local mode the driver does the executors' work too: 1 GB (Spark's default)
        # failed on a 5M-line input; 4 GB did not (docs/spark.md).
        builder = builder.config("spark.driver.memory", LOCAL_DRIVER_MEMORY)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM could not start (no Java, bad master URL)
        raise fail(f"cannot start Spark on {master}: {type(exc).__name__}") from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark, True


def evaluate_on_spark(
    files: list[Path] | None,
    store: Path | None,
    year: int,
    level: str,
    master: str,
    quiet: bool,
    strict: bool = False,
) -> EngineResult:
    """An :class:`~mipsclaims.engine.EngineResult` (rows and scope) computed on Spark;
    what could not be read is said on standard error (``--strict``: exit 3)."""
    from .. import api
    from ..engine import as_level
    from ..errors import MipsClaimsError

    if store is not None:
        raise fail("--engine spark reads 837P files; read a --store with the local engine")
    if not files:
        raise fail("give claim files")
    checked = as_level(level)
    made: list[SparkSession] = []  # the session we started, to stop

    def session() -> SparkSession:
        spark, created = _session(master, quiet)
        if created:
            made.append(spark)
        return spark

    try:
        run = api.evaluate_on_spark(session, files, year, checked)
    except MipsClaimsError as exc:
        raise fail(str(exc)) from None
    finally:
        for spark in made:
            spark.stop()
    issues = run.problems
    if issues and (strict or not quiet):
        note(f"{len(issues)} claim(s) or interchange(s) could not be read:")
        for message in issues[:20]:
            note(f"  {message}")
    if issues and strict:
        errors.print("error: some claims could not be read (--strict)", markup=False)
        raise typer.Exit(3)
    return run.result
