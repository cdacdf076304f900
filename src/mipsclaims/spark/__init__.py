"""mipsclaims on Apache Spark (the optional extra ``mipsclaims[spark]``).

:func:`read_837` parses 837P files on the executors with the library's reader;
:func:`evaluate` runs the single-machine engine on groups of whole patients (a stable
patient hash, :func:`patient_hash`) and sums their counts, so every output equals the
single-machine one. See docs/spark.md.
"""

from __future__ import annotations

try:
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "mipsclaims.spark needs PySpark: pip install 'mipsclaims[spark]' (and Java 17+)"
    ) from exc

from .evaluate import SparkResult, canonical, evaluate
from .read import ISSUE_SCHEMA, Read837, read_837
from .types import patient_hash, patient_hash_col

__all__ = [
    "ISSUE_SCHEMA",
    "Read837",
    "SparkResult",
    "canonical",
    "evaluate",
    "patient_hash",
    "patient_hash_col",
    "read_837",
]
