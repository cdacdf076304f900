"""Every CSV we write neutralises cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from mipsclaims.report.csvsafe import DANGEROUS_PREFIXES, frame_to_csv, neutralise


def test_neutralise_hand_cases() -> None:
    assert neutralise('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert neutralise("+1") == "'+1"
    assert neutralise("-2+3") == "'-2+3"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("\tx") == "'\tx"
    assert neutralise("\rx") == "'\rx"
    assert neutralise("G8431") == "G8431"
    assert neutralise("") == ""


def test_frame_keeps_numbers_and_neutralises_strings_and_lists() -> None:
    frame = pl.DataFrame(
        {
            "code": ["=cmd|' /C calc'!A0", "G8431"],
            "count": [-3, 4],
            "codes": [["@x", "G1"], []],
            "flag": [True, None],
        }
    )
    rows = list(csv.reader(io.StringIO(frame_to_csv(frame))))
    assert rows == [
        ["code", "count", "codes", "flag"],
        ["'=cmd|' /C calc'!A0", "-3", "'@x G1", "true"],
        ["G8431", "4", "", ""],
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=6))
def test_no_string_cell_starts_with_a_formula_prefix(values: list[str]) -> None:
    frame = pl.DataFrame({"value": values})
    parsed = list(csv.reader(io.StringIO(frame_to_csv(frame), newline="")))
    cells = [row[0] if row else "" for row in parsed[1:]]
    for original, cell in zip(values, cells, strict=True):
        assert not cell.startswith(DANGEROUS_PREFIXES)
        # Nothing else is changed: the quote is the only addition.
        assert cell in (original, "'" + original)
