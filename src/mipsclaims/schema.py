"""The canonical claim-line table: the one shape every reader produces and the engine reads.

One row per service line. Claim-level fields repeat on each line of the claim. PHI columns
(``patient_id``, ``birth_date``, ``patient_name``) are needed for counting and for
``gaps --show-phi``; nothing else may print them (docs/security.md).
"""

from __future__ import annotations

import hashlib
import os

import polars as pl

#: Column name -> polars dtype, in order. ``lines`` output and the engine use exactly this.
CLAIM_LINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),  # file name (or "<bytes>") the line was read from
    "interchange_control": pl.String(),  # ISA13
    "claim_seq": pl.Int64(),  # position of the claim in the input (0-based, across files)
    "claim_id": pl.String(),  # CLM01, patient control number
    "frequency": pl.String(),  # CLM05-3: 1 original, 7 replacement, 8 void
    "filing_indicator": pl.String(),  # SBR09 of 2000B: "MB" = Medicare Part B
    "payer_id": pl.String(),  # NM109 of 2010BB
    "tin": pl.String(),  # REF*EI of 2010AA, or "SSN-" pseudonym for REF*SY
    "billing_npi": pl.String(),  # NM109 of 2010AA
    "rendering_npi": pl.String(),  # 2420A, else 2310B, else billing NPI
    "patient_id": pl.String(),  # PHI: subscriber member id (+ dependent key for 2000C)
    "patient_name": pl.String(),  # PHI: "LAST, FIRST" of the patient
    "birth_date": pl.Date(),  # PHI: DMG02 of the patient
    "sex": pl.String(),  # DMG03: M, F or U
    "claim_pos": pl.String(),  # CLM05-1
    "diagnosis_codes": pl.List(pl.String()),  # HI, uppercase, dots removed, in order
    "line_number": pl.Int32(),  # LX01 (1-based)
    "procedure_code": pl.String(),  # SV101-2, uppercase
    "modifiers": pl.List(pl.String()),  # SV101-3..6, uppercase
    "line_pos": pl.String(),  # SV105 (null when absent)
    "charge": pl.Float64(),  # SV102
    "units": pl.Float64(),  # SV104
    "service_date": pl.Date(),  # DTP*472 (start of a range), else claim DTP*434 start
    "service_date_end": pl.Date(),  # end of an RD8 range, else = service_date
    "diagnosis_pointers": pl.List(pl.Int8()),  # SV107 composite, 1-based
}

CLAIM_LINE_COLUMNS: tuple[str, ...] = tuple(CLAIM_LINE_SCHEMA)

#: measure-logic.md section 8: the keys every report row starts with, in order, and their
#: types. The engine writes them, reports print them, scoring reads them back.
REPORT_ROW_SCHEMA: dict[str, pl.DataType] = {
    "performance_year": pl.Int32(),
    "tin": pl.String(),
    "npi": pl.String(),
    "measure_id": pl.String(),
    "stratum": pl.String(),
    "eligible_population": pl.Int64(),
    "performance_met": pl.Int64(),
    "performance_not_met": pl.Int64(),
    "denominator_exclusion": pl.Int64(),
    "denominator_exception": pl.Int64(),
    "not_reported": pl.Int64(),
    "data_completeness": pl.Float64(),
    "performance_rate": pl.Float64(),
    "meets_case_minimum": pl.Boolean(),
    "meets_data_completeness": pl.Boolean(),
}
REPORT_ROW_KEYS: tuple[str, ...] = tuple(REPORT_ROW_SCHEMA)

#: Columns that hold protected health information.
PHI_COLUMNS: frozenset[str] = frozenset({"patient_id", "patient_name", "birth_date"})

#: Performance modifiers of CPT II codes (measure-logic.md section 4).
PERFORMANCE_MODIFIERS: frozenset[str] = frozenset({"1P", "2P", "3P", "8P"})

_DEFAULT_PSEUDONYM_KEY = "mipsclaims-v1"
#: The secret every pseudonym is keyed with (set it to your own; docs/security.md).
PSEUDONYM_KEY_ENV = "MIPSCLAIMS_PSEUDONYM_KEY"


def empty_claim_lines() -> pl.DataFrame:
    """A zero-row table with the canonical schema."""
    return pl.DataFrame(schema=CLAIM_LINE_SCHEMA)


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Select and cast ``frame`` to the canonical schema (missing columns become null)."""
    exprs = []
    for name, dtype in CLAIM_LINE_SCHEMA.items():
        if name in frame.columns:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(exprs)


def short_hash(text: str, length: int = 8) -> str:
    """A short, stable, non-reversible reference to an identifier (e.g. CLM01) for messages."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def pseudonymise_ssn(ssn: str) -> str:
    """Stable pseudonym for an SSN-billed provider's TIN (measure-logic.md section 9).

    Keyed with ``MIPSCLAIMS_PSEUDONYM_KEY`` when set: SSNs are few enough to brute-force an
    unkeyed hash, so a practice that shares reports should set its own key.
    """
    key = os.environ.get(PSEUDONYM_KEY_ENV, _DEFAULT_PSEUDONYM_KEY)
    digest = hashlib.sha256(f"{key}\x00{ssn.strip()}".encode()).hexdigest()
    return "SSN-" + digest[:10]


def _pseudonyms(values: pl.Series, prefix: str) -> pl.Series:
    """Keyed, stable pseudonyms; Python runs once per distinct value, not per line."""
    key = os.environ.get(PSEUDONYM_KEY_ENV, _DEFAULT_PSEUDONYM_KEY)
    distinct = values.drop_nulls().unique()
    mapped = [
        prefix + hashlib.sha256(f"{key}\x00{prefix}{v}".encode()).hexdigest()[:16]
        for v in distinct.to_list()
    ]
    return values.replace_strict(distinct, pl.Series(mapped, dtype=pl.String), default=None)


def mask_phi(table: pl.DataFrame) -> pl.DataFrame:
    """The canonical table without PHI: names and birth dates null, patient and claim ids
    keyed pseudonyms (``PT-``/``CLM-`` + 16 hex digits, key :data:`PSEUDONYM_KEY_ENV`).

    The one masking of claim lines (``lines`` writes it unless ``--show-phi``).
    Pseudonyms are consistent within a key, so patients still count once and replacement /
    void claims still find the claim they replace. Birth dates are dropped, so age criteria
    cannot be evaluated on a masked table.
    """
    return table.with_columns(
        patient_id=_pseudonyms(table["patient_id"], "PT-"),
        claim_id=_pseudonyms(table["claim_id"], "CLM-"),
        patient_name=pl.lit(None, pl.String),
        birth_date=pl.lit(None, pl.Date),
    )
