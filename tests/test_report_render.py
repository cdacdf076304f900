"""JSON, CSV and terminal renderings of hand-made engine results."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console

from mipsclaims.report import export, terminal
from support_report import NPI_A, NPI_B, make_result


def test_json_rows_keep_contract_keys_in_order() -> None:
    payload = json.loads(export.to_json(make_result()))
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
    assert list(rows[0])[-2:] == list(export.SPEC_COLUMNS)
    assert rows[0]["spec_coding_year"] == "2025" and rows[0]["spec_provisional"] == "false"
    assert rows[0]["measure_title"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["eligible_population"] == "25"
    assert rows[0]["npi"] == NPI_A and rows[2]["meets_case_minimum"] == "true"
    assert rows[1]["meets_case_minimum"] == "false"  # 10 eligible < 20


def test_terminal_table_shows_rates_and_prints_markup_literally() -> None:
    console = Console(record=True, width=220, color_system=None)
    terminal.print_report(make_result(title_128="[bold red]x[/] BMI"), console=console)
    text = console.export_text()
    assert "84.0%" in text  # 128 completeness 21/25
    assert "90.0%" in text  # 128 rate 18/20
    assert "[bold red]x[/] BMI" in text
    assert "not_part_b: 2 claims" in text


def test_worklist_tables_group_by_clinician_and_list_closing_codes_once() -> None:
    import polars as pl

    from mipsclaims.report.gaps import GAP_COLUMNS, MASKED

    def gap(npi: str, measure: str, stratum: str | None, date: str, seq: int) -> dict:
        return {
            "tin": "123456789", "npi": npi, "measure_id": measure, "stratum": stratum,
            "problem": "missing QDC", "instance_date": date, "claims": f"claim #{seq} (abcd)",
            "patient": MASKED, "qdcs_found": "", "closing_qdcs": f"met: CODE{measure}",
        }  # fmt: skip

    frame = pl.DataFrame(
        [
            gap(NPI_A, "128", None, "2025-01-02", 1),
            gap(NPI_A, "128", None, "2025-02-02", 2),
            gap(NPI_A, "226", "01", "2025-03-02", 3),
            gap(NPI_B, "181", None, "2025-04-02", 4),
        ]
    ).select(GAP_COLUMNS)
    tables = terminal.worklist_tables(frame, "Open gaps, 2025")
    assert len(tables) == 2  # one per clinician
    console = Console(record=True, width=200, color_system=None)
    for table in tables:
        console.print(table)
    text = console.export_text()
    assert f"NPI {NPI_A}, TIN 123456789 (3)" in text and f"NPI {NPI_B}" in text
    assert text.count("128 closes with met: CODE128") == 1  # once per measure, not per row
    assert "226/01 closes with met: CODE226" in text
    assert "claim #2 (abcd)" in text and "2025-04-02" in text
    assert MASKED not in text and "patient" not in text  # all masked: column left out
    shown = terminal.worklist_tables(frame.with_columns(patient=pl.lit("MBR-7")), "Gaps")
    console = Console(record=True, width=200, color_system=None)
    console.print(shown[0])
    assert "MBR-7" in console.export_text()
