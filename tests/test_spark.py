"""The engine on Spark equals the single-machine engine: rows, scope, instances, gaps and
findings, read from files (replacements and voids of claims in an earlier file, patients
under several TINs, a quarantined claim, an unreadable file) and from a user's DataFrame
(one patient with half of all claims, a missing column, rows out of order).

One local[2] session for the module: starting the JVM is the cost, so the tests are few.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install '.[spark]')")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java (17+): no java on PATH and no JAVA_HOME", allow_module_level=True)

from mipsclaims import api, synth
from mipsclaims.cli import app
from mipsclaims.engine import evaluate_lines
from mipsclaims.engine.findings import FINDING_ORDER
from mipsclaims.report import export
from mipsclaims.report.gaps import gap_frame
from mipsclaims.spark import evaluate, patient_hash, patient_hash_col, read_837
from mipsclaims.spark.types import from_arrow
from mipsclaims.x12.report import ReadReport

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pt-clinic-2025.837"
INSTANCE_ORDER = ["first", "measure_id", "stratum", "instance_key"]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("mipsclaims-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _local(frame) -> pl.DataFrame:
    return from_arrow(frame.toArrow())


def _by_first_claim(instances: pl.DataFrame) -> pl.DataFrame:
    first = pl.col("claim_seqs").list.first().alias("first")
    return instances.with_columns(first).sort(INSTANCE_ORDER, nulls_last=True).drop("first")


def _assert_same(result, local, year: int, level: str) -> None:
    """Every output of a Spark result equals the single-machine one."""
    engine_result = result.to_engine_result()
    assert (engine_result.year, engine_result.level) == (year, level)
    assert export.to_json(engine_result) == export.to_json(local)
    assert_frame_equal(result.rows_local, local.rows)
    assert_frame_equal(_local(result.rows), local.rows)
    assert_frame_equal(_local(result.scope), local.scope)
    # Instances in input order of their first claim (ties by measure, stratum, key).
    assert_frame_equal(engine_result.instances, _by_first_claim(local.instances))
    assert_frame_equal(_local(result.gaps()), gap_frame(local))
    assert_frame_equal(
        engine_result.findings.sort(FINDING_ORDER, nulls_last=True),
        local.findings.sort(FINDING_ORDER, nulls_last=True),
    )


def test_patient_hash_is_pinned():
    """The same numbers on every machine and version: SHA-256, first 60 bits."""
    assert patient_hash("1EG4TE5MK73") == 1124451060144733972
    assert patient_hash("MEMBER1") == 542148771561283391
    assert patient_hash("ÅSA-01") == 512890263378479233
    assert patient_hash("") == int(hashlib.sha256(b"").hexdigest()[:15], 16)
    assert patient_hash(None) == 0


def test_spark_patient_hash_equals_python(spark):
    @settings(max_examples=5, deadline=None)
    @given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=40))
    def check(ids):
        frame = spark.createDataFrame([(i, p) for i, p in enumerate(ids)], "i long, p string")
        got = frame.select("i", patient_hash_col("p").alias("h")).orderBy("i").collect()
        assert [r.h for r in got] == [patient_hash(p) for p in ids]

    check()


def _split_year(tmp: Path) -> tuple[Path, Path, Path]:
    """A synthetic year in two files (the second replaces and voids claims of the first),
    one claim of the second malformed, the last claim of the first too (the second file's
    numbers start past it: the one claim_seq rule), and a file that is no 837P at all."""
    config = synth.SynthConfig(year=2025, claims=1200, seed=5, claims_per_transaction=200)
    header, *transactions, trailer = list(synth.iter_synthetic_837(config))
    first = tmp / "a.837"
    first_text = header + "".join(transactions[:3]) + trailer
    j = first_text.index("*UN*1", first_text.rindex("SV1*"))
    first.write_text(first_text[:j] + "*UN*X" + first_text[j + 5 :])
    second_text = header + "".join(transactions[3:]) + trailer
    i = second_text.index("*UN*1", second_text.index("SV1*"))
    second = tmp / "b.837"
    second.write_text(second_text[:i] + "*UN*X" + second_text[i + 5 :])
    junk = tmp / "junk.837"
    junk.write_text("not an interchange\n")
    return first, junk, second


def test_files_on_spark_equal_single_machine(spark, tmp_path):
    first, junk, second = _split_year(tmp_path)
    report = ReadReport()
    lines = api.read_claim_lines([first, second], report=report)
    # What the test is about is really in the data.
    claims = lines.unique("claim_seq")
    in_first = claims.filter(pl.col("source") == str(first))
    acting = claims.filter(
        (pl.col("source") == str(second)) & pl.col("frequency").is_in(["7", "8"])
    ).join(in_first, on=["tin", "claim_id"], suffix="_orig")
    assert acting.height > 5
    assert acting.filter(pl.col("patient_id") != pl.col("patient_id_orig")).height > 0
    assert (
        claims.group_by("patient_id").agg(pl.col("tin").n_unique()).filter(pl.col("tin") > 1).height
        > 0
    )
    local_quarantined = [str(q) for q in report.quarantined]
    assert len(local_quarantined) == 2
    last_of_first = lines.filter(pl.col("source") == str(first))["claim_seq"].max()
    assert report.quarantined[0].claim_seq == last_of_first + 1  # the first file's last claim
    # The second file's first claim is its malformed one: number 600, not 599.
    assert report.quarantined[1].claim_seq == last_of_first + 2
    assert lines.filter(pl.col("source") == str(second))["claim_seq"].min() == last_of_first + 3

    read = read_837(spark, [str(first), str(junk), str(second)])
    assert read.files == [str(first), str(junk), str(second)]
    issues = _local(read.issues.orderBy("file_index", "position"))
    assert issues.filter(pl.col("kind") == "unreadable")["source"].to_list() == [str(junk)]
    quarantined = issues.filter(pl.col("kind") == "quarantined")
    assert quarantined["message"].to_list() == local_quarantined
    assert "X" not in quarantined["message"][0].split(":")[0]  # a position, not the value

    spark_lines = _local(read.lines).sort("claim_seq", "line_number")
    assert_frame_equal(spark_lines, lines.sort("claim_seq", "line_number"))

    result = evaluate(read.lines, 2025, groups=5)
    gone = result.scope_local.filter(pl.col("reason").is_in(["replaced", "voided"]))
    assert gone["claims"].sum() > 5
    _assert_same(result, evaluate_lines(lines, 2025), 2025, "tin-npi")
    read.unpersist()


def test_user_dataframe_with_a_skewed_patient(spark):
    """A warehouse table: one patient with half of the claims (2,000), no ``payer_id``
    column, rows in reverse claim order; at TIN level."""
    from mipsclaims import x12

    data = synth.synthetic_837(synth.SynthConfig(year=2025, claims=4000, seed=3, tins=2))
    lines = x12.read_claim_lines(data)
    skewed = pl.when(pl.col("claim_seq") % 2 == 0).then(pl.lit("SKEW-1")).otherwise("patient_id")
    lines = lines.with_columns(skewed.alias("patient_id"))
    assert lines.filter(pl.col("patient_id") == "SKEW-1")["claim_seq"].n_unique() == 2000
    user = (
        lines.with_row_index("r")
        .sort(pl.col("claim_seq"), pl.col("r"), descending=[True, False])
        .drop("r", "payer_id")
    )
    result = evaluate(spark.createDataFrame(user.to_arrow()), 2025, level="tin", groups=7)
    local = evaluate_lines(
        lines.with_columns(pl.lit(None, dtype=pl.String).alias("payer_id")), 2025, level="tin"
    )
    assert result.rows_local.filter(pl.col("eligible_population") > 0).height > 0
    _assert_same(result, local, 2025, "tin")


def test_cli_engine_spark_gives_the_same_json(spark, tmp_path):
    runner = CliRunner()
    args = ["report", "--year", "2025", "--format", "json", "--quiet", str(EXAMPLE)]
    local = runner.invoke(app, args)
    on_spark = runner.invoke(app, [*args, "--engine", "spark", "--master", "local[2]"])
    assert local.exit_code == 0 and on_spark.exit_code == 0, on_spark.output
    assert on_spark.stdout == local.stdout
    html = runner.invoke(app, [*args[:3], "--format", "html", "--engine", "spark", str(EXAMPLE)])
    assert html.exit_code == 2 and "--engine spark" in html.output
    junk = tmp_path / "junk.837"
    junk.write_text("no 837 here\n")
    bad = runner.invoke(app, ["report", "--engine", "spark", str(junk)])
    assert bad.exit_code == 2


def test_no_lines_gives_the_engine_empty_report(spark):
    from mipsclaims import schema
    from mipsclaims.spark.types import spark_schema

    empty = spark.createDataFrame([], spark_schema(schema.CLAIM_LINE_SCHEMA))
    result = evaluate(empty, 2025)
    local = evaluate_lines(schema.empty_claim_lines(), 2025)
    assert result.rows_local.height == 0
    assert export.to_json(result.to_engine_result()) == export.to_json(local)
