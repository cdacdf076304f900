"""Every shared public 837P sample parses with its documented counts and pinned values."""

from __future__ import annotations

import datetime as dt

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import claims_to_frame, dependent_patient_id

# file -> (claims, service lines, claims under a 2000C dependent) from SOURCES.md
EXPECTED = {
    "imsweb__x12_valid.txt": (2, 2, 0),
    "imsweb__x12_complex.txt": (6, 10, 4),
    "imsweb__x12_many_claims.txt": (820, 820, 0),
    "imsweb__x12_multiple_gs.txt": (6, 6, 0),
    "imsweb__x12_multiple_st.txt": (4, 4, 0),
    "imsweb__x12_no_errors.txt": (2, 2, 0),
    "uhin__837.edi": (1, 1, 0),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_counts_and_paths_agree(x12_samples, name):
    path = x12_samples / name
    n_claims, n_lines, n_dependent = EXPECTED[name]
    report = x12.ReadReport()
    table = x12.read_claim_lines(path, report)
    claims = list(x12.iter_claims(path))
    assert len(claims) == n_claims and report.claims_read == n_claims
    assert table.height == n_lines
    assert table["claim_seq"].n_unique() == n_claims
    assert sum(c.patient.is_dependent for c in claims) == n_dependent
    assert report.quarantined == [] and report.errors == []
    assert_frame_equal(table, claims_to_frame(claims))


def test_uhin_pinned_values(x12_samples):
    row = x12.read_claim_lines(x12_samples / "uhin__837.edi").row(0, named=True)
    assert row["claim_id"] == "1606"
    assert row["interchange_control"] == "800000372"
    assert row["billing_npi"] == row["rendering_npi"] == "1245319599"
    assert row["tin"] == "123456789"
    assert row["patient_id"] == "601239742"
    assert row["birth_date"] == dt.date(1946, 11, 11) and row["sex"] == "F"
    assert row["filing_indicator"] == "CI" and row["payer_id"] == "FLHIN"
    assert row["diagnosis_codes"] == ["R69"]
    assert row["procedure_code"] == "90834" and row["modifiers"] == []
    assert row["charge"] == 2.0 and row["units"] == 1.0
    assert row["service_date"] == dt.date(2024, 8, 15)
    assert row["service_date_end"] == dt.date(2024, 8, 20)
    assert row["claim_pos"] == "11" and row["line_pos"] is None
    assert row["diagnosis_pointers"] == [1]


def test_imsweb_hi_quirk_reads_the_pairs_with_a_warning(x12_samples):
    # HI*BK*8901*BF*87200*BF:5559: the first two codes are written as qualifier, code
    # element pairs (read, with a warning at the HI segment); the last is a composite.
    report = x12.ReadReport()
    table = x12.read_claim_lines(x12_samples / "imsweb__x12_valid.txt", report)
    assert table["diagnosis_codes"].to_list() == [
        ["8901", "87200", "5559"],
        ["1987", "4134", "5559"],
    ]
    hi = [w for w in report.warnings if "HI has codes written as separate elements" in w.message]
    assert [(w.location.segment, w.location.loop) for w in hi] == [(23, "2300"), (32, "2300")]
    assert all("2 diagnosis code(s) read" in w.message for w in hi)


def test_complex_rendering_and_dependents(x12_samples):
    table = x12.read_claim_lines(x12_samples / "imsweb__x12_complex.txt")
    first = table.filter(table["claim_seq"] == 0)
    # 2310B NM1*82 (NM109 1223939); the 2330D NM1*82 of the other payer is not rendering.
    assert first["rendering_npi"].to_list() == ["1223939", "1223939"]
    assert first["patient_id"].to_list() == ["123456", "123456"]
    dep = table.filter(table["claim_seq"] == 1).row(0, named=True)
    # no 2310B, line-level 2420A NM1*82 wins
    assert dep["rendering_npi"] == "303304"
    assert dep["patient_id"] == dependent_patient_id(
        "123456", "JONES", "STEVEN", dt.date(1989, 9, 16)
    )
    assert dep["patient_name"] == "JONES, STEVEN"
    assert dep["diagnosis_pointers"] == [1, 2, 3]
    assert table["line_number"].to_list() == [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]


def test_no_errors_sample_two_billing_providers_and_ranges(x12_samples):
    table = x12.read_claim_lines(x12_samples / "imsweb__x12_no_errors.txt")
    assert table["service_date"].to_list() == [dt.date(2005, 3, 14)] * 2
    assert table["service_date_end"].to_list() == [dt.date(2005, 3, 25)] * 2
    assert table["claim_seq"].to_list() == [0, 1]


def test_sample_se_count_mismatch_is_a_warning(x12_samples):
    report = x12.ReadReport()
    x12.read_claim_lines(x12_samples / "imsweb__x12_valid.txt", report)
    se = [w for w in report.warnings if w.message.startswith("SE01")]
    assert [w.message for w in se] == ["SE01 says '25' segments, the transaction has 34"]
    assert se[0].location.segment == 36
