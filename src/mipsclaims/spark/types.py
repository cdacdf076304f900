"""Polars schemas of the canonical tables as Spark and Arrow schemas, and the stable
patient hash that places a patient's claim lines in one Spark group.

The patient hash is part of the on-disk contract of anyone who buckets claim lines with
it, so it is pinned here, not left to an engine: the first 60 bits of the SHA-256 of the
UTF-8 bytes of ``patient_id`` (an integer in 0 .. 2**60 - 1), the same in Spark
(``sha2``), Python (``hashlib``) and every version of either; a null patient is 0.
Python's ``hash()`` (salted per process) and polars' ``hash()`` (seeded, may change
between versions) are not used.
"""

from __future__ import annotations

import hashlib

import polars as pl
import pyarrow as pa
from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

#: Hex digits of the SHA-256 kept by :func:`patient_hash` (15 x 4 = 60 bits: a
#: non-negative Spark long).
HASH_HEX_DIGITS = 15


def patient_hash(patient_id: str | None) -> int:
    """The stable hash of one patient id (Python side of :func:`patient_hash_col`)."""
    if patient_id is None:
        return 0
    digest = hashlib.sha256(patient_id.encode("utf-8")).hexdigest()
    return int(digest[:HASH_HEX_DIGITS], 16)


def patient_hash_col(column: str = "patient_id") -> Column:
    """:func:`patient_hash` as a Spark column expression (no Python UDF)."""
    hexed = F.substring(F.sha2(F.col(column), 256), 1, HASH_HEX_DIGITS)
    return F.coalesce(F.conv(hexed, 16, 10).cast("long"), F.lit(0).cast("long"))


def _inner(dtype: pl.List) -> pl.DataType:
    """The item dtype of a list, as an instance: ``pl.List(pl.String)`` keeps the class."""
    inner = dtype.inner
    return inner() if isinstance(inner, type) else inner


#: The scalar dtypes of the canonical tables: polars, Spark and Arrow (no large or view
#: types: Spark reads none of them back from an Arrow UDF).
_SCALARS: tuple[tuple[type[pl.DataType], T.DataType, pa.DataType], ...] = (
    (pl.String, T.StringType(), pa.string()),
    (pl.Int64, T.LongType(), pa.int64()),
    (pl.Int32, T.IntegerType(), pa.int32()),
    (pl.Int8, T.ByteType(), pa.int8()),
    (pl.Float64, T.DoubleType(), pa.float64()),
    (pl.Boolean, T.BooleanType(), pa.bool_()),
    (pl.Date, T.DateType(), pa.date32()),
)


def spark_type(dtype: pl.DataType) -> T.DataType:
    """The Spark type of a polars dtype of the canonical tables."""
    if isinstance(dtype, pl.List):
        return T.ArrayType(spark_type(_inner(dtype)), containsNull=True)
    for kind, spark, _ in _SCALARS:
        if isinstance(dtype, kind):
            return spark
    raise TypeError(f"no Spark type for polars dtype {dtype}")


def spark_schema(schema: dict[str, pl.DataType]) -> T.StructType:
    """A polars schema (name -> dtype) as a Spark struct, every field nullable."""
    return T.StructType([T.StructField(n, spark_type(d), True) for n, d in schema.items()])


def _arrow_type(dtype: pl.DataType) -> pa.DataType:
    if isinstance(dtype, pl.List):
        return pa.list_(_arrow_type(_inner(dtype)))
    for kind, _, arrow in _SCALARS:
        if isinstance(dtype, kind):
            return arrow
    raise TypeError(f"no Arrow type for polars dtype {dtype}")


def arrow_schema(schema: dict[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema Spark expects back from an Arrow UDF (no large or view types)."""
    return pa.schema([pa.field(n, _arrow_type(d), nullable=True) for n, d in schema.items()])


def to_arrow(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pa.Table:
    """``frame`` as an Arrow table of exactly ``schema``'s columns (missing ones null) and
    the types Spark declared (polars writes large strings and lists)."""
    frame = frame.select(
        [
            (pl.col(n) if n in frame.columns else pl.lit(None)).cast(d).alias(n)
            for n, d in schema.items()
        ]
    )
    return frame.to_arrow().cast(arrow_schema(schema))


def from_arrow(table: pa.Table | pa.RecordBatch) -> pl.DataFrame:
    """An Arrow table or batch from Spark as a polars frame."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
