"""One percent formatter; each output's "no value" symbol is the one it always printed."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from mipsclaims.display import NO_VALUE, NO_VALUE_ASCII, NO_VALUE_WORD, pct
from mipsclaims.report import terminal
from support_report import make_result


def test_fractions_and_percents() -> None:
    assert pct(0.923) == "92.3%"
    assert pct(21 / 25) == "84.0%"
    assert pct(1.0) == "100.0%"
    assert pct(0.0) == "0.0%"
    assert pct(73.125, digits=2, scale=1) == "73.12%"  # a category score (already percent)
    assert pct(None) == NO_VALUE == "–"
    assert pct(None, none=NO_VALUE_ASCII) == "-"
    assert pct(None, none=NO_VALUE_WORD) == "n/a"


@given(st.floats(0, 1))
def test_same_text_as_the_formatters_it_replaced(value: float) -> None:
    assert pct(value) == f"{value * 100:.1f}%"
    assert pct(value * 100, digits=2, scale=1) == f"{value * 100:.2f}%"


def test_report_table_shows_a_missing_rate_as_the_dash() -> None:
    result = make_result()
    # 134 of clinician A: no instance met or not met -> no performance rate.
    rows = result.rows.with_columns(
        performance_rate=None, performance_met=0, performance_not_met=0
    ).filter(result.rows["measure_id"] == "134")
    console = Console(record=True, width=200, color_system=None)
    terminal.print_report(dataclasses.replace(result, rows=rows), console=console)
    line = next(x for x in console.export_text().splitlines() if "134 " in x)
    assert "40.0%" in line  # completeness 4/10 stays a number
    assert f" {NO_VALUE} " in line
