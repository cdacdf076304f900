"""The value rules and quarantine reasons both reader paths apply, in one place.

The streaming path applies them per value in Python, the columnar path as polars
expressions built from the same regular expressions, so the two cannot drift apart.
A claim is quarantined for the first failing check in segment order; checks on one
segment run in the order listed here.
"""

from __future__ import annotations

import datetime as dt
import re

DIAGNOSIS_QUALIFIERS = ("ABK", "ABF", "BK", "BF")

DATE_RE = r"^[0-9]{8}$"
RANGE_RE = r"^[0-9]{8}-[0-9]{8}$"
NUMBER_RE = r"^-?([0-9]+\.?[0-9]*|\.[0-9]+)$"
LINE_NUMBER_RE = r"^[0-9]{1,6}$"
POINTER_RE = r"^(0?[1-9]|1[0-2])$"

# Checks on the CLM segment (evaluated when the claim ends), in this order.
NO_CLAIM_ID = "CLM01 (claim id) is missing"
NOT_IN_SUBSCRIBER = "claim is not inside a 2000B subscriber loop"
NO_MEMBER_ID = "subscriber member id (2010BA NM109) is missing"
BAD_BIRTH_DATE = "patient birth date (DMG02) is not a valid date"
NO_LINES = "claim has no service lines (LX/SV1)"
TOO_MANY_DX = "more than 12 diagnosis codes (HI)"
# Checks on later segments of the claim.
BAD_CLAIM_DATE = "claim date (DTP*434) is not a valid date"
SV1_OUTSIDE_LINE = "SV1 outside a 2400 service line loop (no LX)"
BAD_LINE_NUMBER = "LX01 (line number) is not a whole number"
NO_SV1 = "service line has no SV1"
NO_PROCEDURE = "procedure code (SV101-2) is missing"
BAD_CHARGE = "charge (SV102) is not a number"
BAD_UNITS = "units (SV104) is not a number"
BAD_POINTER = "diagnosis pointer (SV107) is not 1-12"
BAD_SERVICE_DATE = "service date (DTP*472) is not a valid date"

_date = re.compile(DATE_RE)
_range = re.compile(RANGE_RE)
_number = re.compile(NUMBER_RE)
_line_number = re.compile(LINE_NUMBER_RE)
_pointer = re.compile(POINTER_RE)


def parse_date(text: str) -> dt.date | None:
    """CCYYMMDD -> date; None when malformed or not a calendar date."""
    if not _date.match(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_period(qualifier: str, text: str) -> tuple[dt.date, dt.date] | None:
    """DTP D8/RD8 value -> (start, end); None when malformed."""
    if qualifier == "RD8":
        if not _range.match(text):
            return None
        start, end = parse_date(text[:8]), parse_date(text[9:])
        return (start, end) if start and end else None
    day = parse_date(text)
    return (day, day) if day else None


def parse_number(text: str) -> float | None:
    return float(text) if _number.match(text) else None


def is_number(text: str) -> bool:
    return bool(_number.match(text))


def is_line_number(text: str) -> bool:
    return bool(_line_number.match(text))


def is_pointer(text: str) -> bool:
    return bool(_pointer.match(text))


def normalise_code(code: str) -> str:
    return code.replace(".", "").replace(" ", "").upper()
