"""Claim-line CSV/Parquet exports: documented encoding, round trip, row-numbered errors."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import flatfile, x12
from mipsclaims.schema import CLAIM_LINE_SCHEMA, short_hash
from mipsclaims.synth import SynthConfig, synthetic_837

CSV = "\n".join(
    [
        "\ufeffclaim_id,tin,billing_npi,patient_id,birth_date,sex,diagnosis_codes,line_number,"
        "procedure_code,modifiers,charge,units,service_date,diagnosis_pointers,frequency",
        "A1,123456789,1111111111,P1,1950-05-06,f,e11.65;I10,1,99213,gt|95,100.50,1,2025-03-04,1;2,",
        "A1,123456789,1111111111,P1,1950-05-06,f,e11.65;I10,2,3044F,,0,1,20250304,,",
        "B2,123456789,1111111111,P2,19600101,M,,,G8427,,,,2025-04-01,,7",
    ]
).encode()


def test_documented_csv_encoding_by_hand():
    report = x12.ReadReport()
    table = flatfile.read_flat_claim_lines(CSV, report)
    assert table.schema == CLAIM_LINE_SCHEMA
    assert table["claim_seq"].to_list() == [0, 0, 1]
    first = table.row(0, named=True)
    assert first["diagnosis_codes"] == ["E1165", "I10"]
    assert first["modifiers"] == ["GT", "95"]
    assert first["diagnosis_pointers"] == [1, 2]
    assert first["sex"] == "F" and first["charge"] == 100.5
    assert first["birth_date"] == dt.date(1950, 5, 6)
    assert first["rendering_npi"] == "1111111111"  # falls back to billing
    assert first["frequency"] == "1" and first["source"] == "<bytes>"
    assert table.row(1, named=True)["service_date"] == dt.date(2025, 3, 4)
    last = table.row(2, named=True)
    assert last["line_number"] == 1 and last["frequency"] == "7"
    assert last["diagnosis_codes"] == [] and last["service_date_end"] == dt.date(2025, 4, 1)
    assert report.claims_read == 2 and report.ok


def test_round_trip_csv_and_parquet(tmp_path):
    table = x12.read_claim_lines(synthetic_837(SynthConfig(claims=150, seed=5)))
    path = tmp_path / "lines.csv"
    flatfile.write_flat_csv(table, path)
    assert_frame_equal(flatfile.read_flat_claim_lines(path).drop("source"), table.drop("source"))
    pq = tmp_path / "lines.parquet"
    table.write_parquet(pq)
    assert_frame_equal(flatfile.read_flat_claim_lines(pq).drop("source"), table.drop("source"))


@pytest.mark.parametrize(
    ("cell", "value", "message"),
    [
        ("charge", "12.5.0", "charge is not a number"),
        ("service_date", "2025-02-30", "service_date is not a date (YYYY-MM-DD or YYYYMMDD)"),
        ("diagnosis_pointers", "1;13", "diagnosis_pointers are not 1-12"),
        ("sex", "X", "sex is not M/F/U"),
        ("procedure_code", "", "procedure_code is empty"),
    ],
)
def test_bad_row_quarantines_its_claim_only(cell, value, message):
    header, *rows = CSV.decode("utf-8-sig").splitlines()
    columns = header.split(",")
    cells = rows[1].split(",")
    cells[columns.index(cell)] = value
    rows[1] = ",".join(cells)
    report = x12.ReadReport()
    table = flatfile.read_flat_claim_lines("\n".join([header, *rows]).encode(), report)
    assert table["claim_id"].to_list() == ["B2"]
    (q,) = report.quarantined
    assert q.claim_seq == 0 and q.claim_hash == short_hash("A1")
    assert str(q.location) == "<bytes>: row 3"
    assert q.reason == message
    assert not value or value not in str(q)  # values are never echoed


def test_required_columns_and_unknown_columns():
    with pytest.raises(flatfile.FlatFileError, match="required column"):
        flatfile.read_flat_claim_lines(b"claim_id,units\nA,1\n")
    report = x12.ReadReport()
    table = flatfile.read_flat_claim_lines(b"claim_id,procedure_code,ssn\nA,99213,999\n", report)
    assert table.height == 1
    assert [w.message for w in report.warnings] == ["unknown columns ignored: ssn"]


def test_claim_seq_start_and_given_claim_seq():
    data = b"claim_id,procedure_code,claim_seq\nA,99213,5\nB,99214,9\n"
    table = flatfile.read_flat_claim_lines(io.BytesIO(data), claim_seq_start=10)
    assert table["claim_seq"].to_list() == [15, 19]
