"""Builders of canonical claim lines for engine tests (no tests here)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame

D = dt.date

#: A line: code, or (code, modifiers), or (code, modifiers, extra ServiceLine fields).
LineSpec = str | tuple


def claim(
    claim_id: str,
    lines: Sequence[LineSpec],
    *,
    date: dt.date = D(2025, 3, 1),
    dx: Sequence[str] = (),
    patient: str = "P1",
    birth: dt.date | None = D(1950, 1, 1),
    sex: str | None = "F",
    tin: str = "111111111",
    npi: str = "1000000001",
    frequency: str = "1",
    filing: str = "MB",
    pos: str | None = "11",
    seq: int = 0,
    source: str = "test.837",
) -> Claim:
    """One claim; every line on ``date`` unless a line spec says otherwise."""
    service_lines = []
    for n, spec in enumerate(lines, start=1):
        parts = (spec,) if isinstance(spec, str) else tuple(spec)
        code, mods, extra = (*parts, (), {})[:3] if len(parts) == 1 else (*parts, {})[:3]
        fields = {"service_date": date, "charge": 0.0, **extra}
        service_lines.append(
            ServiceLine(line_number=n, procedure_code=code, modifiers=list(mods), **fields)
        )
    return Claim(
        claim_id=claim_id,
        frequency=frequency,
        filing_indicator=filing,
        tin=tin,
        billing_npi=npi,
        place_of_service=pos,
        patient=Patient(member_id=patient, birth_date=birth, sex=sex),
        diagnosis_codes=list(dx),
        lines=service_lines,
        source=source,
        claim_seq=seq,
    )


def frame(*claims: Claim) -> pl.DataFrame:
    """Canonical table of claims, numbering ``claim_seq`` in the given order."""
    numbered = [c.model_copy(update={"claim_seq": i}) for i, c in enumerate(claims)]
    return claims_to_frame(numbered)


def row(result, measure_id: str, stratum: str | None = None, npi: str | None = "1000000001"):
    """The single report row of a measure (and stratum) for an entity, as a dict."""
    rows = result.rows.filter(
        (pl.col("measure_id") == measure_id)
        & (pl.col("stratum").eq_missing(stratum))
        & (pl.col("npi").eq_missing(npi))
    )
    assert rows.height == 1, rows
    return rows.row(0, named=True)


def counts(result, measure_id: str, stratum: str | None = None, npi: str | None = "1000000001"):
    """(eligible, met, not_met, exclusion, exception, not_reported) of one row."""
    r = row(result, measure_id, stratum, npi)
    return (
        r["eligible_population"],
        r["performance_met"],
        r["performance_not_met"],
        r["denominator_exclusion"],
        r["denominator_exception"],
        r["not_reported"],
    )
