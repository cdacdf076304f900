"""Hand-made engine results for renderer tests (no engine run needed).

Counts are written by hand and consistent with each other: 128 for clinician A has 25
eligible instances, 18 met, 2 not met, 1 exclusion, 4 with no QDC.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import polars as pl

from mipsclaims.engine.result import EngineResult

ROW_SCHEMA = {
    "performance_year": pl.Int32,
    "tin": pl.String,
    "npi": pl.String,
    "measure_id": pl.String,
    "stratum": pl.String,
    "eligible_population": pl.Int64,
    "performance_met": pl.Int64,
    "performance_not_met": pl.Int64,
    "denominator_exclusion": pl.Int64,
    "denominator_exception": pl.Int64,
    "not_reported": pl.Int64,
    "data_completeness": pl.Float64,
    "performance_rate": pl.Float64,
    "meets_case_minimum": pl.Boolean,
    "meets_data_completeness": pl.Boolean,
    "measure_title": pl.String,
    "stratum_name": pl.String,
    "is_inverse": pl.Boolean,
    "data_completeness_threshold": pl.Float64,
}

INSTANCE_SCHEMA = {
    "performance_year": pl.Int32,
    "tin": pl.String,
    "npi": pl.String,
    "measure_id": pl.String,
    "stratum": pl.String,
    "instance_key": pl.String,
    "patient_id": pl.String,
    "instance_date": pl.Date,
    "marker": pl.String,
    "claim_ids": pl.List(pl.String),
    "claim_seqs": pl.List(pl.Int64),
    "sources": pl.List(pl.String),
    "qdc_codes": pl.List(pl.String),
    "conflicting": pl.Boolean,
    "conflicting_codes": pl.List(pl.String),
}

FINDING_SCHEMA = {
    "kind": pl.String,
    "tin": pl.String,
    "npi": pl.String,
    "measure_id": pl.String,
    "claim_seq": pl.Int64,
    "claim_ref": pl.String,
    "source": pl.String,
    "service_date": pl.Date,
    "code": pl.String,
    "detail": pl.String,
}

TIN = "123456789"
NPI_A = "1000000001"
NPI_B = "1000000002"


def _row(npi, measure, stratum, e, a, c, x, b, title, stratum_name=None):
    n = e - a - c - x - b
    dc = (a + b + c + x) / e
    rate = a / (a + c) if a + c else None
    return {
        "performance_year": 2025,
        "tin": TIN,
        "npi": npi,
        "measure_id": measure,
        "stratum": stratum,
        "eligible_population": e,
        "performance_met": a,
        "performance_not_met": c,
        "denominator_exclusion": x,
        "denominator_exception": b,
        "not_reported": n,
        "data_completeness": dc,
        "performance_rate": rate,
        "meets_case_minimum": e - x - b >= 20,
        "meets_data_completeness": dc >= 0.75,
        "measure_title": title,
        "stratum_name": stratum_name,
        "is_inverse": False,
        "data_completeness_threshold": 0.75,
    }


def make_rows(title_128: str = "BMI Screening and Follow-Up Plan") -> pl.DataFrame:
    return pl.DataFrame(
        [
            _row(NPI_A, "128", None, 25, 18, 2, 1, 0, title_128),
            _row(NPI_A, "134", None, 10, 3, 1, 0, 0, "Screening for Depression"),
            _row(NPI_B, "181", None, 30, 27, 0, 0, 1, "Elder Maltreatment Screen"),
        ],
        schema=ROW_SCHEMA,
    )


def make_monthly(rows: pl.DataFrame) -> pl.DataFrame:
    """Three months of year-to-date rows; month 3 equals the year's row."""
    frames = []
    for month, share in ((1, 0.4), (2, 0.7), (3, 1.0)):
        scaled = rows.with_columns(
            (pl.col("data_completeness") * (0.5 + share / 2)).alias("data_completeness"),
            pl.lit(month, dtype=pl.Int8).alias("month"),
        )
        frames.append(scaled)
    return pl.concat(frames)


def make_instances(
    claim_id: str = "PCN-0001", code: str = "G8417", conflict: str = "G8432"
) -> pl.DataFrame:
    base = {
        "performance_year": 2025,
        "tin": TIN,
        "npi": NPI_A,
        "stratum": None,
        "sources": ["a.837"],
        "conflicting_codes": [],
    }
    return pl.DataFrame(
        [
            {**base, "measure_id": "128", "instance_key": "k1", "patient_id": "MBI111",
             "instance_date": dt.date(2025, 3, 4), "marker": "none", "claim_ids": [claim_id],
             "claim_seqs": [7], "qdc_codes": [], "conflicting": False},
            {**base, "measure_id": "128", "instance_key": "k2", "patient_id": "MBI222",
             "instance_date": dt.date(2025, 2, 1), "marker": "met", "claim_ids": ["PCN-0002"],
             "claim_seqs": [3], "qdc_codes": [code], "conflicting": False},
            {**base, "measure_id": "134", "instance_key": "k3", "patient_id": "MBI333",
             "instance_date": dt.date(2025, 1, 9), "marker": "met",
             "claim_ids": ["PCN-0003", "PCN-0004"], "claim_seqs": [1, 2],
             "qdc_codes": ["G8431", conflict], "conflicting": True,
             "conflicting_codes": ["G8431", conflict]},
        ],
        schema=INSTANCE_SCHEMA,
    )  # fmt: skip


def make_result(**kwargs) -> EngineResult:
    rows = make_rows(kwargs.get("title_128", "BMI Screening and Follow-Up Plan"))
    return EngineResult(
        year=2025,
        level="tin-npi",
        rows=rows,
        monthly=make_monthly(rows),
        instances=make_instances(
            kwargs.get("claim_id", "PCN-0001"),
            kwargs.get("code", "G8417"),
            kwargs.get("conflict", "G8432"),
        ),
        findings=pl.DataFrame(schema=FINDING_SCHEMA),
        scope=pl.DataFrame(
            {"reason": ["evaluated", "not_part_b"], "claims": [60, 2], "lines": [140, 3]},
            schema={"reason": pl.String, "claims": pl.Int64, "lines": pl.Int64},
        ),
    )


def fake_closing(year: int, measure_id: str, stratum: str | None):
    """Stand-in for engine.closing_codes with the 2025 spec's 128 and 134 codes."""
    table = {
        "128": [("G8417", "met"), ("G8419", "not_met"), ("G9996", "exclusion")],
        "134": [("G8431", "met"), ("G8432", "not_met"), ("G8433", "exception")],
    }
    return [SimpleNamespace(codes=[c], meaning=m) for c, m in table.get(measure_id, [])]
