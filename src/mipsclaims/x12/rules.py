"""The value rules and quarantine reasons both reader paths apply, in one place.

The streaming path applies them per value in Python, the columnar path as polars
expressions built from the same regular expressions, so the two cannot drift apart.
A claim is quarantined for the first failing check in segment order; checks on one
segment run in the order listed here. Damaged structure (DAMAGED_SEGMENT, BAD_HL_LEVEL,
LONG_SEGMENT) comes before any other check: it explains them (a skipped LX leaves a
claim without lines).
"""

from __future__ import annotations

import datetime as dt
import re

DIAGNOSIS_QUALIFIERS = ("ABK", "ABF", "BK", "BF")

#: Every segment id of the 837P 005010X222A1 guide (with its envelope, and TA1). A tag not
#: in this set is damage: the reader cannot know which segment it was (a CLM, an HL, ...),
#: so it does not trust the loop structure around it (see :func:`damage_scope`).
_GUIDE_TAGS = (
    "ISA IEA TA1 GS GE ST SE BHT NM1 PER HL PRV CUR N3 N4 REF SBR PAT DMG CLM DTP PWK CN1 "
    "AMT K3 NTE CR1 CR2 CR3 CRC HI HCP LX SV1 SV5 QTY MEA PS1 LIN CTP LQ FRM SVD CAS OI MOA"
)
KNOWN_TAGS = frozenset(_GUIDE_TAGS.split())
#: The stand-in segment the chunker puts where it skipped a segment over the length limit
#: (a control byte cannot start a real tag); its element 1 is the skipped segment's tag when
#: that looks like one.
LONG_TAG = "\x01LONG"
HL_LEVELS = ("20", "22", "23")
#: Bytes skipped between a segment terminator and the next tag: whitespace, and NUL bytes
#: (padding some transfers add; a NUL cannot be part of a tag, so nothing is lost).
PADDING = " \t\r\n\x00"
HL_ID_RE = r"^[0-9]+$"

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
# Structure that cannot be trusted: every claim of the loop it may have changed (see
# damage_scope), located at the damaged segment, which comes before any other check.
DAMAGED_SEGMENT = "a segment with an unknown tag (damaged) in its loop: structure not trusted"
BAD_HL_LEVEL = "an HL whose level (HL03) is not 20, 22 or 23: structure not trusted"
LONG_SEGMENT = "a segment over the length limit was skipped in its loop: structure not trusted"
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

# Warnings: the claim (or interchange) is read, and the text says how. Fixed texts (the CLI
# counts warnings per text; the HI one carries two counts), no element value quoted; the
# location is the segment's (the chunker's IEA warnings: the IEA's byte offset).
NO_FREQUENCY = "CLM05-3 (claim frequency code) is missing: read as 1 (original claim)"
SECOND_EI = (
    "the billing provider (2010AA) has a second REF*EI (tax id), with {} value: the first "
    "one is used, this one is ignored"
)
UNTERMINATED_IEA = (
    "IEA present, but the segment terminator is missing at the end of the input "
    "(the interchange is read)"
)
UNTERMINATED_IEA_BEFORE_ISA = (
    "IEA present, but its segment terminator is missing before the next ISA "
    "(both interchanges are read)"
)


def split_hi_message(pairs: int, unread: int) -> str:
    """Warning for an HI segment with elements that are not qualifier:code composites
    (``HI*BK*8901*BF*87200``): how many codes were read from qualifier, code element pairs
    (see :func:`split_hi_codes`) and how many elements were left unread."""
    return (
        "HI has codes written as separate elements (HI*BK*code, not HI*BK:code): "
        f"{pairs} diagnosis code(s) read from qualifier-code element pairs, "
        f"{unread} element(s) not read"
    )


def second_ei_message(same: bool) -> str:
    """Whether the ignored REF*EI repeats the TIN used or differs from it (no value shown)."""
    return SECOND_EI.format("the same" if same else "a different")


def split_hi_codes(elements: list[str], comp: str) -> tuple[list[tuple[int, str]], int]:
    """The diagnosis codes of HI elements that have no component separator, and the count
    of such elements left unread. ``elements`` are HI01-HI12 (stripped).

    An element that is exactly a diagnosis qualifier, followed by a non-empty element that
    is neither composite nor a qualifier, is one code written as two elements (``BK*8901``
    for ``BK:8901``): that pair is read, at the qualifier's position. Any other non-empty
    element without a component separator is not read (a code without its qualifier, a
    qualifier without its code: reading them would be a guess). Returns ((position, code),
    ...) and the unread count; composites are not looked at here.
    """
    bare = [e != "" and comp not in e for e in elements]
    is_q = [b and e in DIAGNOSIS_QUALIFIERS for b, e in zip(bare, elements, strict=True)]
    codes: list[tuple[int, str]] = []
    used = [False] * len(elements)
    for k in range(len(elements) - 1):
        code = normalise_code(elements[k + 1])
        if is_q[k] and bare[k + 1] and not is_q[k + 1] and code:
            codes.append((k, code))
            used[k] = used[k + 1] = True
    unread = sum(b and not u for b, u in zip(bare, used, strict=True))
    return codes, unread


_date = re.compile(DATE_RE)
_hl_id = re.compile(HL_ID_RE)
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


def damaged_hl_level(tag: str, el1: str, el3: str) -> str | None:
    """The HL level a damaged segment stands for: "20"/"22"/"23" when it has an HL's shape
    (numeric HL01, a known level in HL03: e.g. ``HX*38*37*22*0``, or the tag preceded by a
    NUL), "" when it was an HL of unknown level (a real HL tag with a bad HL03, or a skipped
    over-long HL), None when it does not look like an HL. Only called for damaged segments
    and HLs (tag HL)."""
    if tag == "HL":
        return el3 if el3 in HL_LEVELS else ""
    if tag == LONG_TAG:
        return "" if el1 == "HL" else None
    return el3 if el3 in HL_LEVELS and _hl_id.match(el1) else None


def damage_reason(tag: str) -> str:
    """Quarantine reason for the claims a damaged segment (or bad HL) puts in doubt."""
    if tag == LONG_TAG:
        return LONG_SEGMENT
    return BAD_HL_LEVEL if tag == "HL" else DAMAGED_SEGMENT
