"""JSON, CSV and terminal renderings of hand-made engine results."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console

from mipsclaims.report import export, terminal
from test_report_data import NPI_A, NPI_B, make_result


def test_json_rows_keep_contract_keys_in_order() -> None:
    payload = json.loads(export.to_json(make_result(), year=2025, level="tin-npi"))
    assert payload["performance_year"] == 2025 and payload["level"] == "tin-npi"
    rows = payload["rows"]
    assert list(rows[0])[: len(export.ROW_KEYS)] == list(export.ROW_KEYS)
    assert [(r["npi"], r["measure_id"]) for r in rows] == [
        (NPI_A, "128"), (NPI_A, "134"), (NPI_B, "181"),
    ]  # fmt: skip
    first = rows[0]
    # 18 met, 2 not met, 1 exclusion, 0 exceptions of 25 -> 21/25 complete, rate 18/20.
    assert first["data_completeness"] == 21 / 25
    assert first["performance_rate"] == 0.9
    assert first["not_reported"] == 4
    assert payload["scope"][1] == {"reason": "not_part_b", "claims": 2, "lines": 3}


def test_csv_header_is_row_keys_and_cells_are_safe() -> None:
    text = export.to_csv(make_result(title_128='=HYPERLINK("http://evil")'))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[: len(export.ROW_KEYS)] == list(export.ROW_KEYS)
    assert rows[0]["measure_title"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["eligible_population"] == "25"
    assert rows[0]["npi"] == NPI_A and rows[2]["meets_case_minimum"] == "true"
    assert rows[1]["meets_case_minimum"] == "false"  # 10 eligible < 20


def test_terminal_table_shows_rates_and_prints_markup_literally() -> None:
    console = Console(record=True, width=220, color_system=None)
    terminal.print_report(
        make_result(title_128="[bold red]x[/] BMI"), year=2025, level="tin-npi", console=console
    )
    text = console.export_text()
    assert "84.0%" in text  # 128 completeness 21/25
    assert "90.0%" in text  # 128 rate 18/20
    assert "[bold red]x[/] BMI" in text
    assert "not_part_b: 2 claims" in text
