"""Hypothesis strategies for claims and 837P delimiters (test helpers; needs ``hypothesis``).

Claims drawn here survive a round trip through :func:`mipsclaims.synth.render_claims` and
the reader unchanged: values never contain delimiters, charges have cents, and every claim
has at least one service line.
"""

from __future__ import annotations

import datetime as dt

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mipsclaims.testing needs hypothesis: pip install 'mipsclaims[test]'"
    ) from exc

from .claims import Claim, Patient, ServiceLine
from .x12.envelope import Delimiters

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
# Delimiter candidates: none can occur in the values drawn below (no '.', '-', ' ').
_SEPARATORS = "*|^~!+:`{}\x1c\x1d\x1e\x1f"


def _code(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def _digits(n: int) -> st.SearchStrategy[str]:
    return _code(_DIGITS, n, n)


names = _code(_UPPER, 1, 10)
dates = st.dates(dt.date(2015, 1, 1), dt.date(2026, 12, 31))
birth_dates = st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31))
diagnosis_codes = st.builds(
    lambda letter, digits, tail: letter + digits + tail,
    st.sampled_from(_UPPER),
    _digits(2),
    _code(_DIGITS + _UPPER, 0, 4),
)


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    return Patient(
        member_id=draw(_code(_DIGITS + _UPPER, 1, 12)),
        last_name=draw(names),
        first_name=draw(st.one_of(st.just(""), names)),
        birth_date=draw(st.none() | birth_dates),
        sex=draw(st.sampled_from([None, "M", "F", "U"])),
        is_dependent=draw(st.booleans()),
    )


@st.composite
def service_lines(draw: st.DrawFn, number: int) -> ServiceLine:
    start = draw(st.none() | dates)
    end = None
    if start is not None and draw(st.booleans()):
        end = start + dt.timedelta(days=draw(st.integers(0, 10)))
    return ServiceLine(
        line_number=number,
        procedure_code=draw(_code(_DIGITS + _UPPER, 5, 5)),
        modifiers=draw(st.lists(_code(_DIGITS + _UPPER, 2, 2), max_size=4)),
        place_of_service=draw(st.sampled_from([None, "11", "02", "10", "22"])),
        charge=draw(st.none() | st.integers(0, 10**6).map(lambda c: c / 100)),
        units=draw(st.none() | st.integers(1, 99).map(float)),
        service_date=start,
        service_date_end=end,
        diagnosis_pointers=draw(st.lists(st.integers(1, 12), max_size=4)),
        rendering_npi=draw(st.none() | _digits(10)),
    )


@st.composite
def claims(draw: st.DrawFn, max_lines: int = 4) -> Claim:
    """One valid claim (typed model) with 1..max_lines service lines."""
    n = draw(st.integers(1, max_lines))
    return Claim(
        claim_id=draw(_code(_DIGITS + _UPPER, 1, 15)),
        frequency=draw(st.sampled_from(["1", "7", "8"])),
        filing_indicator=draw(st.sampled_from([None, "MB", "CI", "MC"])),
        payer_id=draw(st.none() | _code(_DIGITS + _UPPER, 2, 8)),
        tin=draw(_digits(9)),
        billing_npi=draw(_digits(10)),
        rendering_npi=draw(st.none() | _digits(10)),
        place_of_service=draw(st.sampled_from([None, "11", "02", "10"])),
        patient=draw(patients()),
        diagnosis_codes=draw(st.lists(diagnosis_codes, max_size=12)),
        lines=[draw(service_lines(i)) for i in range(1, n + 1)],
    )


@st.composite
def delimiter_sets(draw: st.DrawFn) -> Delimiters:
    """Element, component, repetition and terminator: distinct, sometimes a newline."""
    chars = draw(st.permutations(_SEPARATORS))
    terminator = "\n" if draw(st.integers(0, 4)) == 0 else chars[3]
    return Delimiters(element=chars[0], component=chars[1], repetition=chars[2], segment=terminator)


newlines = st.sampled_from(["", "\n", "\r\n"])
