"""837P files to a Spark DataFrame of canonical claim lines, parsed on the executors with
the library's own reader (one task reads whole files; Spark's ``binaryFile`` source, so
local paths, HDFS, S3, ABFS: whatever the cluster reads).

``claim_seq`` continues across files in the order given (within a directory or glob, by
path), exactly as ``mipsclaims report FILE...`` numbers them (:mod:`mipsclaims.inputs`):
each file starts past the previous file's last claim, read or quarantined, so later files
win in replacement and void.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from .. import schema, x12
from .types import from_arrow, spark_schema, to_arrow

__all__ = ["ISSUE_SCHEMA", "Read837", "read_837"]

FILE = "_file"
_KIND = "_issue_kind"
_MESSAGE = "_issue"
_N = "_issue_n"

#: The read report as a table: one row per quarantined claim, failed interchange, warning
#: or unreadable file, with a PHI-free message (claims by position and hash).
ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file_index": pl.Int32(),
    "kind": pl.String(),  # quarantined, error, warning, unreadable
    "claim_seq": pl.Int64(),  # global position of a quarantined claim, else null
    "message": pl.String(),
    "position": pl.Int64(),  # order of the issue within its file
}

_PARSED_SCHEMA: dict[str, pl.DataType] = {
    **schema.CLAIM_LINE_SCHEMA,
    FILE: pl.Int32(),
    _KIND: pl.String(),
    _MESSAGE: pl.String(),
    _N: pl.Int64(),
}


@dataclass
class Read837:
    """What :func:`read_837` read: ``lines`` (canonical claim lines) and ``issues`` (the
    read report, :data:`ISSUE_SCHEMA`). Both come from one parse, persisted (memory and
    disk); :meth:`unpersist` releases it."""

    lines: DataFrame
    issues: DataFrame
    files: list[str]
    _parsed: DataFrame

    def unpersist(self) -> None:
        self._parsed.unpersist()


def _issue_rows(report: x12.ReadReport, file_index: int, name: str) -> pl.DataFrame:
    items: list[tuple[str, int | None, str]] = []
    items += [("quarantined", q.claim_seq, str(q)) for q in report.quarantined]
    items += [("error", None, str(e)) for e in report.errors]
    items += [("warning", None, str(w)) for w in report.warnings]
    return _issues_frame(items, file_index, name)


def _issues_frame(
    items: list[tuple[str, int | None, str]], file_index: int, name: str
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": [name] * len(items),
            FILE: [file_index] * len(items),
            _KIND: [k for k, _, _ in items],
            "claim_seq": [s for _, s, _ in items],
            _MESSAGE: [m for _, _, m in items],
            _N: list(range(len(items))),
        },
        schema={
            "source": pl.String(),
            FILE: pl.Int32(),
            _KIND: pl.String(),
            "claim_seq": pl.Int64(),
            _MESSAGE: pl.String(),
            _N: pl.Int64(),
        },
    )


def _parse_file(content: bytes, file_index: int, name: str) -> Iterator[pa.Table]:
    """One file's claim lines (batch by batch, ``claim_seq`` from 0) and then its issues."""
    source = io.BytesIO(content)
    source.name = name  # the reader names lines' ``source`` after it
    report = x12.ReadReport()
    try:
        for batch in x12.iter_claim_line_batches(source, report):
            if batch.height:
                frame = schema.conform(batch).with_columns(pl.lit(file_index).alias(FILE))
                yield to_arrow(frame, _PARSED_SCHEMA)
    except x12.X12Error as exc:
        report.errors.clear()  # the file-level message says it all
        unreadable = _issues_frame([("unreadable", None, str(exc))], file_index, name)
        yield to_arrow(unreadable, _PARSED_SCHEMA)
    yield to_arrow(_issue_rows(report, file_index, name), _PARSED_SCHEMA)


def _parse(
    batches: Iterator[pa.RecordBatch], files: dict[str, tuple[int, str]]
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        frame = from_arrow(batch)
        for path, content in zip(frame["path"], frame["content"], strict=True):
            index, name = files[_key(path)]
            for table in _parse_file(content, index, name):
                yield from table.to_batches()


def _listed(spark: SparkSession, given: Sequence[str]) -> list[tuple[str, str]]:
    """(URI, name) of every file, in the order given; a directory or glob's files by path.
    The name is the path as given for a single file, else the URI."""
    out: list[tuple[str, str]] = []
    for entry in given:
        uris = sorted(spark.read.format("binaryFile").load(entry).inputFiles())
        single = len(uris) == 1 and not any(ch in entry for ch in "*?[")
        out += [(uri, entry if single and _same_file(uri, entry) else uri) for uri in uris]
    return out


def _key(uri: str) -> str:
    """A file URI in one spelling (``file:/a`` and ``file:///a`` are the same file)."""
    if uri.startswith("file:"):
        return "file:/" + uri.removeprefix("file:").lstrip("/")
    return uri


def _same_file(uri: str, entry: str) -> bool:
    if "://" in entry or entry.startswith("file:"):
        return _key(uri) == _key(entry)
    return _key(uri) == _key("file:" + os.path.abspath(entry))


def _renumbered_message() -> Column:
    """A quarantined claim's message with its number in the whole input (``claim #N``, N
    the offset ``claim_seq``), as the local reader writes it; other messages as they are."""
    renumbered = F.concat(
        F.lit("claim #"),
        F.col("claim_seq").cast("string"),
        F.regexp_replace(F.col(_MESSAGE), r"^claim #[0-9]+", ""),
    )
    return F.when(F.col(_KIND) == "quarantined", renumbered).otherwise(F.col(_MESSAGE))


def read_837(spark: SparkSession, paths: str | Sequence[str]) -> Read837:
    """837P files (paths, directories or globs Spark can list) as canonical claim lines.

    Each file is parsed whole by one task with :mod:`mipsclaims.x12` (a file must fit in
    one task's memory, and Spark's ``binaryFile`` reads at most 2 GB per file: split larger
    ones at interchange boundaries). A malformed claim is quarantined, never the file; a
    file with no readable interchange is an ``unreadable`` issue, its lines absent.
    """
    given = [paths] if isinstance(paths, str | os.PathLike) else [os.fspath(p) for p in paths]
    listed = _listed(spark, [os.fspath(p) for p in given])
    files = {_key(uri): (i, name) for i, (uri, name) in enumerate(listed)}
    raw = spark.read.format("binaryFile").load([uri for uri, _ in listed]).select("path", "content")
    parsed = raw.mapInArrow(
        lambda batches: _parse(batches, files), spark_schema(_PARSED_SCHEMA)
    ).persist(StorageLevel.MEMORY_AND_DISK)
    is_line = F.col(_KIND).isNull()
    # Each file continues the sequence past every claim of the previous file, read or
    # quarantined (mipsclaims.inputs' one rule: an 837P numbers every claim it meets).
    numbered_claim = is_line | (F.col(_KIND) == "quarantined")
    tops = from_arrow(
        parsed.filter(numbered_claim).groupBy(FILE).agg(F.max("claim_seq").alias("top")).toArrow()
    )
    next_by_file = dict(zip(tops[FILE].to_list(), tops["top"].to_list(), strict=True))
    offsets, start = [], 0
    for index in range(len(listed)):
        offsets.append((index, start))
        if index in next_by_file:
            start += int(next_by_file[index]) + 1
    offset_frame = spark.createDataFrame(offsets, f"{FILE} int, _offset long")
    numbered = parsed.join(F.broadcast(offset_frame), on=FILE, how="left").withColumn(
        "claim_seq", F.col("claim_seq") + F.col("_offset")
    )
    lines = numbered.filter(is_line).select(*schema.CLAIM_LINE_SCHEMA, FILE)
    issues = numbered.filter(~is_line).select(
        "source",
        F.col(FILE).alias("file_index"),
        F.col(_KIND).alias("kind"),
        "claim_seq",
        _renumbered_message().alias("message"),
        F.col(_N).alias("position"),
    )
    return Read837(
        lines=lines.drop(FILE),
        issues=issues,
        files=[name for _, name in listed],
        _parsed=parsed,
    )
