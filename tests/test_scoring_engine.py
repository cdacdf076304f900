"""Scoring on real engine output: typed claims -> api.evaluate -> score_result (226 split)."""

from __future__ import annotations

import datetime as dt

import pytest

from mipsclaims.claims import Claim, Patient, ServiceLine
from mipsclaims.scoring import ScoringOptions, score_result

api = pytest.importorskip("mipsclaims.api")

TIN, NPI = "123456789", "1234567893"


def _claim(n: int, qdcs: list[str]) -> Claim:
    day = dt.date(2025, 1 + n % 4, 10)  # January to April
    lines = [ServiceLine(line_number=1, procedure_code="99213", service_date=day, charge=120.0)]
    lines += [
        ServiceLine(line_number=i + 2, procedure_code=code, service_date=day, charge=0.0)
        for i, code in enumerate(qdcs)
    ]
    return Claim(
        claim_id=f"PCN{n:04d}",
        filing_indicator="MB",
        tin=TIN,
        billing_npi=NPI,
        place_of_service="11",
        patient=Patient(member_id=f"M{n:05d}", birth_date=dt.date(1950, 1, 1), sex="F"),
        diagnosis_codes=["Z0000"],
        lines=lines,
    )


def test_226_split_scored_from_engine_rows():
    qdcs = (
        [["G9902", "G9906"]] * 24  # tobacco users given cessation intervention
        + [["G9902", "G9908"]] * 4  # tobacco users without it
        + [["G9903"]] * 2  # screened, not a user
        + [[]] * 5  # nothing reported
    )
    claims = [_claim(n, codes) for n, codes in enumerate(qdcs)]
    result = api.evaluate(claims, 2025)
    report = score_result(result, ScoringOptions(ia_points=40))
    projection = next(p for p in report.projections if p.npi == NPI)
    [m226] = [m for m in projection.quality.measures if m.measure_id == "226"]
    # reporting stratum: 35 eligible, 30 with a QDC (85.7%); performance stratum: 24 of 28
    assert (m226.eligible_population, m226.reported) == (35, 30)
    assert m226.performance_rate == pytest.approx(24 / 28)
    # 2025 226 decile 2 [75.95, 93.33): 2 + (85.714 - 75.95) / 17.38
    expected = round(2 + (24 / 28 * 100 - 75.95) / (93.33 - 75.95), 4)
    assert (m226.decile, m226.points) == (2, expected)
    assert projection.coverage.through_month == 4
