"""The gap worklist: which instances, what closes them, and PHI only on request."""

from __future__ import annotations

import dataclasses
import datetime as dt

from mipsclaims.report.gaps import GAP_COLUMNS, MASKED, format_choices, gap_frame, instance_gaps
from mipsclaims.schema import short_hash
from support_report import NPI_A, TIN, fake_closing, make_instances, make_result


def test_gaps_are_missing_and_conflicting_instances_masked_by_default() -> None:
    gaps = instance_gaps(make_instances(), 2025, closing=fake_closing)
    assert gaps.columns == list(GAP_COLUMNS)
    assert gaps.rows() == [
        (TIN, NPI_A, "128", None, "missing QDC", dt.date(2025, 3, 4),
         f"claim #7 ({short_hash('PCN-0001')})", MASKED, "",
         "met: G8417; not met: G8419; exclusion: G9996"),
        (TIN, NPI_A, "134", None, "conflicting QDCs", dt.date(2025, 1, 9),
         f"claim #1 ({short_hash('PCN-0003')}), claim #2 ({short_hash('PCN-0004')})", MASKED,
         "G8431 G8432", "met: G8431; not met: G8432; exception: G8433"),
    ]  # fmt: skip
    text = str(gaps.rows())
    assert "MBI111" not in text and "PCN-0001" not in text


def test_show_phi_reveals_patient_and_claim_id() -> None:
    gaps = instance_gaps(make_instances(), 2025, closing=fake_closing, show_phi=True)
    first = gaps.row(0, named=True)
    assert first["patient"] == "MBI111"
    assert first["claims"] == "#7 PCN-0001"


def test_measure_filter_and_empty() -> None:
    gaps = instance_gaps(make_instances(), 2025, closing=fake_closing, measures=["134"])
    assert gaps["measure_id"].to_list() == ["134"]
    none = instance_gaps(make_instances().filter(False), 2025)
    assert none.height == 0 and none.columns == list(GAP_COLUMNS)


def test_gap_frame_reads_the_year_from_the_result() -> None:
    asked: list[tuple[int, str]] = []

    def closing(year: int, measure_id: str, stratum: str | None):
        asked.append((year, measure_id))
        return fake_closing(year, measure_id, stratum)

    result = dataclasses.replace(make_result(), year=2024)
    gaps = gap_frame(result, closing=closing)
    assert sorted(asked) == [(2024, "128"), (2024, "134")]
    expected = instance_gaps(result.instances, 2024, closing=fake_closing)
    assert gaps.equals(expected)


def test_format_choices_orders_by_meaning_and_joins_pairs() -> None:
    class C:
        def __init__(self, codes, meaning):
            self.codes, self.meaning = codes, meaning

    text = format_choices(
        [C(["G9902", "G9908"], "not_met"), C(["G9902", "G9906"], "met"), C(["M1159"], "exclusion")]
    )
    assert text == "met: G9902+G9906; not met: G9902+G9908; exclusion: M1159"
