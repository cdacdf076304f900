"""``report/score.py``: a ScoreReport as terminal tables and as JSON."""

from __future__ import annotations

import json

from rich.console import Console

from mipsclaims.display import NO_VALUE, NO_VALUE_ASCII
from mipsclaims.report.score import print_score, score_json
from mipsclaims.scoring import ScoringOptions, score
from support_scoring import NPI, frame, perfect, row


def _text(report, width: int = 140) -> str:
    console = Console(record=True, width=width, color_system=None)
    print_score(report, console)
    return console.export_text()


def test_missing_values_are_ascii_and_input_is_literal() -> None:
    # 047: 5 eligible, none reported -> completeness 0.0%, no performance rate.
    rows = frame(
        perfect("039", tin="[/x]"), row("047", met=0, not_met=0, not_reported=5, tin="[/x]")
    )
    report = score(rows, 2025, ScoringOptions(ia_points=40))
    text = _text(report)
    assert f"TIN [/x] / NPI {NPI}" in text  # markup-like TIN printed as is
    line = next(x for x in text.splitlines() if "│ 047 " in x)
    assert f" {NO_VALUE_ASCII} " in line and NO_VALUE not in text
    assert "0.0%" in line  # completeness 0 of 5 is a value, the rate is missing
    # The cost category is not scored: its score cell is the ASCII dash too.
    cost = next(x for x in text.splitlines() if "│ Cost " in x)
    assert f" {NO_VALUE_ASCII} " in cost


def test_title_column_only_where_it_fits() -> None:
    report = score(frame(perfect("039")), 2025)
    title = report.projections[0].quality.measures[0].title[:20]
    assert title in _text(report, width=140)
    assert title not in _text(report, width=100)


def test_no_rows_and_json() -> None:
    empty = score(frame(perfect("039")).clear(), 2025)
    assert "No measure rows to score." in _text(empty)
    report = score(frame(perfect("039")), 2025)
    payload = json.loads(score_json(report))
    assert payload["performance_year"] == 2025
    assert payload["projections"][0]["quality"]["measures"][0]["measure_id"] == "039"
