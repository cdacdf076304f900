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


def _csv_module_oracle(frame: pl.DataFrame) -> str:
    """The same cells written one by one with the csv module (the reference behaviour)."""

    def cell(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return value
        if isinstance(value, list):
            return neutralise(" ".join("" if v is None else str(v) for v in value))
        return neutralise(str(value))

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in frame.columns])
    for row in frame.iter_rows():
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


_TEXT = st.text(alphabet=st.sampled_from(list("aZ9 ,;\"'=+-@\t\r\n#é|")), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | _TEXT,
            st.none() | st.integers(-(10**6), 10**6),
            st.none() | st.booleans(),
            st.none() | st.lists(st.none() | _TEXT, max_size=3),
            st.none() | st.dates(),
            # Floats as the reports hold them (rates, scores): no exponent either way.
            st.none() | st.integers(0, 10**9).map(lambda n: n / 1000),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_columnar_writer_matches_the_csv_module(rows) -> None:
    """Vectorised cells and polars' writer give exactly the csv module's bytes."""
    schema = {
        "text": pl.String,
        "-count": pl.Int64,
        "flag": pl.Boolean,
        "codes": pl.List(pl.String),
        "date": pl.Date,
        "rate": pl.Float64,
    }
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    assert frame_to_csv(frame) == _csv_module_oracle(frame)


def test_write_frame_writes_the_same_text_to_a_stream() -> None:
    from mipsclaims.report.csvsafe import write_frame

    frame = pl.DataFrame({"code": ["=1+2", "G8431"], "n": [1, -2]})
    out = io.StringIO()
    write_frame(out, frame)
    assert out.getvalue() == frame_to_csv(frame) == "code,n\r\n'=1+2,1\r\nG8431,-2\r\n"
