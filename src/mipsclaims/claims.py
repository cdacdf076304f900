"""Typed claim models (one 837P claim) for EMR and billing integration.

The x12 reader streams these one claim at a time; ``check_claim`` takes one. They convert
to the canonical claim-line table with :func:`claims_to_frame` (not the batch hot path,
which builds the table column-wise without these objects).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .schema import CLAIM_LINE_SCHEMA, short_hash


def normalise_diagnosis(code: str) -> str:
    """ICD-10 as the engine compares it: uppercase, no dots, no spaces."""
    return code.replace(".", "").replace(" ", "").upper()


def dependent_patient_id(member_id: str, last: str, first: str, birth: dt.date | None) -> str:
    """Patient key of a 2000C dependent: subscriber id plus a hash of name and birth date.

    measure-logic.md section 9: a dependent is identified by that id plus the patient's name
    and birth date. Hashing keeps the key stable without spreading the name further.
    """
    basis = f"{last.strip().upper()}|{first.strip().upper()}|{birth.isoformat() if birth else ''}"
    return f"{member_id}:{hashlib.sha256(basis.encode()).hexdigest()[:12]}"


#: Whitespace around a value is not data: the same set the 837P reader strips around
#: elements, so typed claims and the columnar table agree (a form feed is kept, as data).
_BLANKS = " \t\r\n"


class _Model(BaseModel):
    # Validation errors name the field, never the value: the value may be a member id or
    # a birth date (docs/security.md).
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @field_validator("*", mode="before")
    @classmethod
    def _strip_blanks(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip(_BLANKS)
        if isinstance(value, list):
            return [v.strip(_BLANKS) if isinstance(v, str) else v for v in value]
        return value


class Patient(_Model):
    """The patient of a claim. Every field here is PHI."""

    member_id: str = Field(description="Subscriber member id (2010BA NM109).")
    last_name: str = ""
    first_name: str = ""
    birth_date: dt.date | None = None
    sex: str | None = Field(default=None, description="M, F or U (DMG03).")
    is_dependent: bool = Field(default=False, description="True for a 2000C patient loop.")

    @property
    def patient_id(self) -> str:
        if self.is_dependent:
            return dependent_patient_id(
                self.member_id, self.last_name, self.first_name, self.birth_date
            )
        return self.member_id

    @property
    def display_name(self) -> str:
        return ", ".join(p for p in (self.last_name, self.first_name) if p)


class ServiceLine(_Model):
    line_number: int
    procedure_code: str
    modifiers: list[str] = Field(default_factory=list, max_length=4)
    place_of_service: str | None = None
    charge: float | None = None
    units: float | None = None
    service_date: dt.date | None = None
    service_date_end: dt.date | None = None
    diagnosis_pointers: list[int] = Field(default_factory=list)
    rendering_npi: str | None = Field(default=None, description="2420A, when present.")

    @field_validator("procedure_code")
    @classmethod
    def _upper_code(cls, value: str) -> str:
        return value.upper()

    @field_validator("modifiers")
    @classmethod
    def _upper_modifiers(cls, value: list[str]) -> list[str]:
        return [m.strip().upper() for m in value if m.strip()]


class Claim(_Model):
    """One professional claim (837P loop 2300 with its 2400 lines)."""

    claim_id: str = Field(description="CLM01, the patient control number.")
    frequency: str = Field(default="1", description="CLM05-3: 1 original, 7 replace, 8 void.")
    filing_indicator: str | None = Field(default=None, description="SBR09; MB = Part B.")
    payer_id: str | None = None
    tin: str | None = Field(default=None, description="Billing TIN, or an SSN- pseudonym.")
    billing_npi: str | None = None
    rendering_npi: str | None = Field(default=None, description="2310B, when present.")
    place_of_service: str | None = Field(default=None, description="CLM05-1.")
    patient: Patient
    diagnosis_codes: list[str] = Field(default_factory=list, max_length=12)
    lines: list[ServiceLine] = Field(default_factory=list)
    source: str = "<api>"
    interchange_control: str | None = None
    claim_seq: int = 0

    @field_validator("diagnosis_codes")
    @classmethod
    def _normalise_dx(cls, value: list[str]) -> list[str]:
        return [normalise_diagnosis(c) for c in value if c.strip()]

    @property
    def reference(self) -> str:
        """PHI-free reference for messages: position and a short hash of CLM01."""
        return f"claim #{self.claim_seq} ({short_hash(self.claim_id)})"


def claims_to_frame(claims: Iterable[Claim]) -> pl.DataFrame:
    """Canonical claim-line table of typed claims (rendering NPI: line, claim, billing)."""
    columns: dict[str, list[Any]] = {name: [] for name in CLAIM_LINE_SCHEMA}
    for claim in claims:
        p = claim.patient
        for line in claim.lines:
            start = line.service_date
            values = {
                "source": claim.source,
                "interchange_control": claim.interchange_control,
                "claim_seq": claim.claim_seq,
                "claim_id": claim.claim_id,
                "frequency": claim.frequency,
                "filing_indicator": claim.filing_indicator,
                "payer_id": claim.payer_id,
                "tin": claim.tin,
                "billing_npi": claim.billing_npi,
                "rendering_npi": line.rendering_npi or claim.rendering_npi or claim.billing_npi,
                "patient_id": p.patient_id,
                "patient_name": p.display_name or None,
                "birth_date": p.birth_date,
                "sex": p.sex,
                "claim_pos": claim.place_of_service,
                "diagnosis_codes": list(claim.diagnosis_codes),
                "line_number": line.line_number,
                "procedure_code": line.procedure_code,
                "modifiers": list(line.modifiers),
                "line_pos": line.place_of_service,
                "charge": line.charge,
                "units": line.units,
                "service_date": start,
                "service_date_end": line.service_date_end or start,
                "diagnosis_pointers": list(line.diagnosis_pointers),
            }
            for name, value in values.items():
                columns[name].append(value)
    return pl.DataFrame(columns, schema=CLAIM_LINE_SCHEMA)
