"""The 835 reader: fields, delimiters, tolerance, quarantine, batches, public samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mipsclaims.remit.reader import (
    REMIT_LINE_SCHEMA,
    iter_remit_line_batches,
    read_remit_lines,
)
from mipsclaims.schema import short_hash
from mipsclaims.x12 import ReadReport

SAMPLES = Path(__file__).parent / "data" / "remit835"
D = dt.date


def era(*body: str, ele: str = "*", comp: str = ":", term: str = "~", nl: str = "\n") -> bytes:
    """An 835 interchange around ``body`` (segments written with * and :)."""
    head = [
        "ISA*00*          *00*          *ZZ*MEDICARE       *ZZ*PRACTICE       "
        "*250401*1200*^*00501*000000007*0*P*" + comp,
        "GS*HP*MEDICARE*PRACTICE*20250401*1200*7*X*005010X221A1",
        "ST*835*0001",
        "BPR*I*10*C*ACH*CCP*01*999*DA*1*1512345678**01*999*DA*9*20250402",
        "TRN*1*EFT123*1512345678",
        "N1*PR*MEDICARE PART B",
        "REF*2U*04412",
        "N1*PE*GOOD PRACTICE*XX*1999999984",
        "REF*TJ*111111111",
        "LX*1",
    ]
    segs = head + list(body)
    segs += [f"SE*{len(segs) - 1}*0001", "GE*1*7", "IEA*1*000000007"]
    out = []
    for s in segs:
        if not s.startswith("ISA"):
            s = s.replace(":", comp)
        out.append(s.replace("*", ele) + term + nl)
    return "".join(out).encode("latin-1")


CLAIM_A = (
    "CLP*A100*1*250.00*80.00**MB*ICN1*11*1",
    "NM1*QC*1*SECRETNAME*PAT****MI*1EG4TE5MK73",
    "NM1*82*1*DOC*ANN****XX*1000000001",
    "DTM*232*20250301",
    "SVC*HC:99213:25*250.00*80.00**1",
    "DTM*472*20250301",
    "CAS*CO*45*170.00",
    "REF*6R*L1",
    "SVC*HC:G8733*0.00*0.00**1",
    "DTM*472*20250301",
    "CAS*CO*246*0",
    "LQ*HE*N365",
)


def test_fields_of_a_claim_and_its_lines():
    report = ReadReport()
    t = read_remit_lines(era(*CLAIM_A), report)
    assert t.schema == pl.Schema(REMIT_LINE_SCHEMA)
    assert t.height == 2
    first, qdc = t.row(0, named=True), t.row(1, named=True)
    assert first["claim_id"] == "A100" and first["claim_status"] == "1"
    assert first["claim_charge"] == 250.0 and first["claim_paid"] == 80.0
    assert first["filing_indicator"] == "MB" and first["payer_claim_control"] == "ICN1"
    assert first["frequency"] == "1" and first["rendering_npi"] == "1000000001"
    assert first["payer_name"] == "MEDICARE PART B" and first["payer_id"] == "04412"
    assert first["payee_npi"] == "1999999984" and first["payee_tin"] == "111111111"
    assert first["trace_number"] == "EFT123" and first["payment_date"] == D(2025, 4, 2)
    assert first["statement_start"] == D(2025, 3, 1)
    assert (first["line_index"], first["procedure_code"], first["modifiers"]) == (
        1,
        "99213",
        ["25"],
    )
    assert first["adjustments"] == ["CO-45"] and first["remarks"] == []
    assert first["line_control"] == "L1" and first["line_paid"] == 80.0
    assert first["service_date"] == first["service_date_end"] == D(2025, 3, 1)
    assert (qdc["line_index"], qdc["procedure_code"], qdc["modifiers"]) == (2, "G8733", [])
    assert qdc["adjustments"] == ["CO-246"] and qdc["remarks"] == ["N365"]
    assert qdc["line_control"] is None and qdc["original_procedure_code"] is None
    assert (report.claims_read, report.lines_read, report.interchanges) == (1, 2, 1)
    assert report.ok and not report.warnings


def test_no_patient_data_is_kept():
    t = read_remit_lines(era(*CLAIM_A))
    text = str(t.to_dicts())
    assert "SECRETNAME" not in text and "1EG4TE5MK73" not in text


def test_other_delimiters_and_whitespace_are_read_alike():
    plain = read_remit_lines(era(*CLAIM_A))
    odd = read_remit_lines(
        b"\xef\xbb\xbf\r\n  "
        + era(*CLAIM_A, ele="|", comp=">", term="\n", nl="").replace(b"\n", b"\r\n")
    )
    assert odd.drop("source").equals(plain.drop("source"))
    one_line = read_remit_lines(era(*CLAIM_A, nl=""))
    assert one_line.drop("source").equals(plain.drop("source"))


def test_svc06_original_code_period_and_several_cas_reasons():
    t = read_remit_lines(
        era(
            "CLP*B7*1*100*0**MB*ICN2",
            "SVC*HC:G8734*0*0**1*HC:G8733:8P",
            "DTM*150*20250303",
            "DTM*151*20250305",
            "CAS*CO*4*0*1*16*0",
            "CAS*PR*1*0",
            "LQ*HE*N519",
            "LQ*HE*M20",
        )
    )
    r = t.row(0, named=True)
    assert (r["procedure_code"], r["original_procedure_code"], r["original_modifiers"]) == (
        "G8734",
        "G8733",
        ["8P"],
    )
    assert (r["service_date"], r["service_date_end"]) == (D(2025, 3, 3), D(2025, 3, 5))
    assert r["adjustments"] == ["CO-4", "CO-16", "PR-1"]
    assert r["remarks"] == ["N519", "M20"]
    assert r["units"] == 1.0


def test_claim_without_lines_has_one_row_with_null_line_columns():
    t = read_remit_lines(era("CLP*D1*4*90*0**MB*ICN3", "CAS*CO*16*90", "MOA***MA130*N382"))
    assert t.height == 1
    r = t.row(0, named=True)
    assert r["line_index"] is None and r["procedure_code"] is None
    assert r["claim_status"] == "4"
    assert r["claim_adjustments"] == ["CO-16"] and r["claim_remarks"] == ["MA130", "N382"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("DTM*472*20250231", "DTM*472 is not a valid date"),
        ("SVC*HC*0*0", "SVC01 has no procedure code"),
        ("CAS**45*1", "CAS01"),
        ("CAS*XX*45*1", "CAS01 'XX' is not a claim adjustment group code"),
        ("CAS*CO*TOOLONG1*1", "a CAS reason is not a code"),
        ("LQ*HE*N365 EXTRA", "LQ02 is not a code"),
        ("SVC*HC:G8733*abc*0", "SVC02 is not a number"),
    ],
)
def test_a_bad_claim_is_quarantined_with_its_location_and_costs_no_good_claim(bad, reason):
    data = era(
        *CLAIM_A,
        "CLP*SECRETNAME9*1*10*0**MB*ICN9",
        "SVC*HC:99213*10*0**1",
        bad,
        "CLP*C3*1*10*0**MB*ICN10",
        "SVC*HC:G8733*0*0**1",
        "LQ*HE*N365",
    )
    report = ReadReport()
    t = read_remit_lines(data, report)
    assert t["claim_id"].unique(maintain_order=True).to_list() == ["A100", "C3"]
    assert t["remit_seq"].unique(maintain_order=True).to_list() == [0, 2]
    (q,) = report.quarantined
    assert q.claim_seq == 1 and q.claim_hash == short_hash("SECRETNAME9")
    assert reason in q.reason
    assert q.location.segment == 10 + len(CLAIM_A) + 3  # ISA = segment 1
    assert data[q.location.byte_offset :].startswith(bad.split("*")[0].encode())
    assert "SECRETNAME" not in str(q)
    assert (report.claims_seen, report.claims_read) == (3, 2)


def test_unknown_claim_status_and_empty_clp01_are_quarantined():
    report = ReadReport()
    t = read_remit_lines(era("CLP*X*99*1*0", "CLP**1*1*0", *CLAIM_A), report)
    assert t["claim_id"].unique().to_list() == ["A100"]
    assert [q.reason for q in report.quarantined] == [
        "CLP02 '99' is not a claim status code",
        "CLP01 (the claim's patient control number) is empty",
    ]


def test_an_837_is_refused_with_an_interchange_error():
    sample = Path(__file__).parent.parent.parent / "shared" / "x12-samples" / "uhin__837.edi"
    report = ReadReport()
    assert read_remit_lines(sample, report).height == 0
    assert len(report.errors) == 1 and "not an 835" in report.errors[0].message


def test_svc_outside_a_claim_is_a_warning():
    report = ReadReport()
    t = read_remit_lines(era("SVC*HC:99213*1*1", *CLAIM_A), report)
    assert t.height == 2
    assert "SVC outside a claim" in report.warnings[0].message


def test_small_batches_keep_claims_whole_and_give_the_same_table():
    claims = []
    for i in range(40):
        claims += [
            f"CLP*K{i}*1*10*0**MB*I{i}",
            "SVC*HC:99213*10*0**1",
            "DTM*472*20250301",
            "SVC*HC:G8733*0*0**1",
            "LQ*HE*N365",
        ]
    data = era(*claims)
    whole = read_remit_lines(data)
    batches = list(iter_remit_line_batches(data, batch_bytes=200))
    assert len(batches) > 5
    assert pl.concat(batches).equals(whole)
    for b in batches:  # every claim's two lines in one batch
        assert (b.group_by("remit_seq").len()["len"] == 2).all()


def test_several_files_number_claims_in_order():
    report = ReadReport()
    t = read_remit_lines([era(*CLAIM_A), era(*CLAIM_A)], report)
    assert t["remit_seq"].unique(maintain_order=True).to_list() == [0, 1]
    assert report.claims_read == 2 and len(report.sources) == 2


def test_a_list_or_tuple_is_several_inputs_anything_else_one(tmp_path):
    """Paths in a list or tuple are files in order; bytes and an iterable of chunks are one."""
    first, second = tmp_path / "a.835", tmp_path / "b.835"
    first.write_bytes(era(*CLAIM_A))
    second.write_bytes(era(*CLAIM_A))
    from_list = read_remit_lines([first, second])
    assert from_list["remit_seq"].unique(maintain_order=True).to_list() == [0, 1]
    assert_frame_equal(read_remit_lines((first, second)), from_list)
    one = era(*CLAIM_A)
    assert read_remit_lines(one)["remit_seq"].unique().to_list() == [0]
    chunks = iter([one[:50], one[50:]])  # one input in two chunks, not two inputs
    assert_frame_equal(
        read_remit_lines(chunks).drop("source"), read_remit_lines(one).drop("source")
    )


# --- public samples (LinuxForHealth/x12, Apache-2.0: tests/data/remit835/SOURCES.md) -------


def test_sample_medicare_part_a_claims_without_lines():
    report = ReadReport()
    t = read_remit_lines(SAMPLES / "lfh__medicare-part-a.835", report)
    assert t["claim_id"].to_list() == ["666123", "777777"]
    assert t["line_index"].null_count() == 2
    assert t["filing_indicator"].to_list() == ["MA", "MB"]
    assert t["claim_remarks"].to_list() == [[], ["MA02"]]
    assert t["payer_id"].to_list() == ["999", "999"]
    assert report.ok and not report.warnings


def test_sample_managed_care_line_periods_and_bad_payment_date():
    report = ReadReport()
    t = read_remit_lines(SAMPLES / "lfh__managed-care.835", report)
    assert t["procedure_code"].to_list() == ["99211", "93555"]
    assert t["service_date"].to_list() == [D(2002, 3, 1), D(2002, 3, 10)]
    assert t["service_date_end"].to_list() == [D(2002, 3, 4), D(2002, 3, 12)]
    assert t["adjustments"].to_list() == [["PR-1"], ["PR-1", "CO-45"]]
    assert t["payee_tin"].to_list() == ["777667755"] * 2
    assert t["payment_date"].null_count() == 2
    assert "BPR16 is not a valid date" in report.warnings[0].message
    assert report.ok


@pytest.mark.parametrize(
    ("name", "kept", "quarantined"),
    [
        ("lfh__secondary-payment.835", ["L0004828311"], 1),
        ("lfh__cob-contractural-adjustment.835", [], 1),
    ],
)
def test_samples_with_a_wrong_component_separator_quarantine_only_those_claims(
    name, kept, quarantined
):
    report = ReadReport()
    t = read_remit_lines(SAMPLES / name, report)
    assert t["claim_id"].unique(maintain_order=True).to_list() == kept
    assert len(report.quarantined) == quarantined
    assert "SVC01 has no procedure code" in report.quarantined[0].reason


def test_an_iea_without_its_terminator_is_named_as_such_and_the_payment_read():
    """The chunker is shared with the 837 reader: an unterminated last IEA is not "no IEA
    trailer" (issue 17 item 4), and nothing of the interchange is lost."""
    data = era(*CLAIM_A)
    cut = data[: data.rindex(b"~")]
    expected, report = read_remit_lines(data), ReadReport()
    assert_frame_equal(read_remit_lines(cut, report), expected)
    assert [(w.location.byte_offset, w.message) for w in report.warnings] == [
        (
            cut.rindex(b"IEA*"),
            "IEA present, but the segment terminator is missing at the end of the input "
            "(the interchange is read)",
        )
    ]
