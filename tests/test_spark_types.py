"""Polars-to-Spark/Arrow type mapping (no Spark session: no Java needed)."""

from __future__ import annotations

import polars as pl
import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install '.[spark]')")

from pyspark.sql import types as T

from mipsclaims.spark.types import arrow_schema, spark_type


def test_a_list_of_a_dtype_class_maps_like_a_list_of_an_instance():
    """pl.List(pl.String) keeps the class String as its inner dtype; it still maps."""
    for inner in (pl.String, pl.Int8):
        assert spark_type(pl.List(inner)) == spark_type(pl.List(inner()))
    assert spark_type(pl.List(pl.String)) == T.ArrayType(T.StringType(), containsNull=True)
    by_class = arrow_schema({"codes": pl.List(pl.String)})
    assert by_class == arrow_schema({"codes": pl.List(pl.String())})
