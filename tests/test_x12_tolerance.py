"""Layouts billing systems produce: BOM, CR/LF, newline terminators, indentation, several
interchanges, odd delimiters, any kind of input object; and envelopes we must reject."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame
from mipsclaims.synth import render_claims
from mipsclaims.x12 import Delimiters


def _claims() -> list[Claim]:
    line = ServiceLine(
        line_number=1,
        procedure_code="99213",
        modifiers=["95"],
        charge=120.5,
        units=1,
        service_date=dt.date(2025, 3, 4),
        diagnosis_pointers=[1, 2],
    )
    return [
        Claim(
            claim_id=f"PCN{i}",
            filing_indicator="MB",
            payer_id="MEDICARE",
            tin="123456789",
            billing_npi="1111111111",
            rendering_npi="2222222222" if i % 2 else None,
            place_of_service="11",
            patient=Patient(
                member_id=f"M{i}",
                last_name="DOE",
                first_name="JANE",
                birth_date=dt.date(1950, 5, 6),
                sex="F",
                is_dependent=i == 2,
            ),
            diagnosis_codes=["E11.65", "i10"],
            lines=[line, line.model_copy(update={"line_number": 2, "procedure_code": "3044F"})],
        )
        for i in range(4)
    ]


BASE = render_claims(_claims())
EXPECTED = x12.read_claim_lines(BASE)


def _same(data: bytes, **kwargs) -> x12.ReadReport:
    report = x12.ReadReport()
    assert_frame_equal(x12.read_claim_lines(data, report, **kwargs), EXPECTED)
    assert_frame_equal(claims_to_frame(x12.iter_claims(data)), EXPECTED)
    return report


def test_expected_values_by_hand():
    assert EXPECTED.height == 8
    row = EXPECTED.row(2, named=True)
    assert row["claim_id"] == "PCN1" and row["rendering_npi"] == "2222222222"
    assert EXPECTED.row(0, named=True)["rendering_npi"] == "1111111111"
    assert row["diagnosis_codes"] == ["E1165", "I10"]
    assert row["modifiers"] == ["95"] and row["charge"] == 120.5
    assert EXPECTED["claim_seq"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_byte_order_mark():
    _same(b"\xef\xbb\xbf" + BASE)


@pytest.mark.parametrize("newline", ["", "\r\n", "\r", "\n\n"])
def test_line_ends_after_terminators(newline):
    _same(render_claims(_claims(), newline=newline))


def test_newline_as_segment_terminator():
    _same(render_claims(_claims(), Delimiters(segment="\n"), newline=""))
    _same(render_claims(_claims(), Delimiters(segment="\n"), newline="\r\n"))


def test_indentation_and_leading_whitespace():
    _same(b"\n  " + BASE.replace(b"~\n", b"~\n    \t"))


@pytest.mark.parametrize(
    "delims",
    [
        Delimiters("|", "^", "{", "\x1c"),
        Delimiters("!", ">", None, "'"),
        Delimiters("\x1d", "\x1f", "\x1e", "\x1c"),
    ],
)
def test_unusual_delimiters(delims):
    _same(render_claims(_claims(), delims))


def test_several_interchanges_in_one_file():
    first = render_claims(_claims()[:2], control=7)
    second = render_claims(_claims()[2:], Delimiters("|", "^", "{", "\x1c"), control=8)
    report = x12.ReadReport()
    table = x12.read_claim_lines(first + b"\n" + second, report)
    assert table["claim_seq"].to_list() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert table["interchange_control"].unique(maintain_order=True).to_list() == [
        "000000007",
        "000000008",
    ]
    assert_frame_equal(table.drop("interchange_control"), EXPECTED.drop("interchange_control"))
    assert report.interchanges == 2 and report.ok


@pytest.mark.parametrize("chunk", [1, 7, 100, 10_000])
def test_any_input_object(tmp_path, chunk):
    path = tmp_path / "claims.837"
    path.write_bytes(BASE)
    from_path = x12.read_claim_lines(path)
    assert from_path["source"].unique().to_list() == [str(path)]
    assert_frame_equal(from_path.drop("source"), EXPECTED.drop("source"))
    with open(path, "rb") as handle:
        assert x12.read_claim_lines(handle).height == 8
    chunks = [BASE[i : i + chunk] for i in range(0, len(BASE), chunk)]
    _same(b"".join(chunks))
    assert_frame_equal(x12.read_claim_lines(iter(chunks)).drop("source"), EXPECTED.drop("source"))
    assert len(list(x12.iter_claims(io.BytesIO(BASE)))) == 4


def test_anything_with_read_is_a_binary_input_and_text_mode_is_refused(tmp_path):
    """A source is read as a file when it has ``read(size)`` (envelope.Readable), whatever
    its class; a file opened in text mode is refused, not read as chunks."""

    class Reader:  # no file class, no __iter__: only read
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, size: int = -1) -> bytes:
            block, self.data = self.data[:size], self.data[size:]
            return block

    assert_frame_equal(x12.read_claim_lines(Reader(BASE)).drop("source"), EXPECTED.drop("source"))
    path = tmp_path / "claims.837"
    path.write_bytes(BASE)
    with open(path, encoding="latin-1") as text, pytest.raises(x12.X12Error, match="'rb'"):
        x12.read_claim_lines(text)  # type: ignore[arg-type]


def test_small_batches_bound_memory_and_agree():
    frames = list(x12.iter_claim_line_batches(BASE, batch_bytes=200))
    assert len(frames) > 2
    from polars import concat

    assert_frame_equal(concat(frames), EXPECTED)


def test_x222_without_a1_accepted_and_a2_warned():
    report = _same(BASE.replace(b"005010X222A1", b"005010X222"))
    assert report.ok and report.warnings == []
    report = _same(BASE.replace(b"005010X222A1", b"005010X222A2"))
    assert any("005010X222A2" in w.message for w in report.warnings)


def test_004010_rejected_clearly():
    old = BASE.replace(b"*00501*", b"*00401*").replace(b"005010X222A1", b"004010X098A1")
    with pytest.raises(x12.EnvelopeError, match="ISA12 version '00401' is not supported"):
        x12.read_claim_lines(old)
    only_gs = BASE.replace(b"GS*HC*MIPSCLAIMS*RECEIVER*20250101*1200*1*X*005010X222A1",
                           b"GS*HC*MIPSCLAIMS*RECEIVER*20250101*1200*1*X*004010X098A1")  # fmt: skip
    with pytest.raises(x12.EnvelopeError, match="GS08='004010X098A1' is not an 837P"):
        list(x12.iter_claims(only_gs))


def test_835_rejected_clearly():
    remit = BASE.replace(b"ST*837*", b"ST*835*")
    with pytest.raises(x12.EnvelopeError, match="ST01='835'"):
        x12.read_claim_lines(remit)
    with pytest.raises(x12.EnvelopeError, match="ST01='835'"):
        list(x12.iter_claims(remit))


def test_not_x12_at_all():
    with pytest.raises(x12.X12Error, match="not an X12 interchange"):
        x12.read_claim_lines(b"claim_id,procedure_code\n1,99213\n")
    with pytest.raises(x12.X12Error, match="empty input"):
        x12.read_claim_lines(b"  \n")
    with pytest.raises(x12.X12Error, match="cannot open"):
        x12.read_claim_lines("/nonexistent/file.837")


def test_bad_interchange_fails_alone():
    bad = render_claims(_claims()[:1], control=9).replace(b"ST*837*", b"ST*835*")
    report = x12.ReadReport()
    table = x12.read_claim_lines(BASE + bad + BASE, report)
    assert table.height == 16
    assert table["claim_seq"].to_list()[-1] == 7
    assert len(report.errors) == 1 and "000000009" in str(report.errors[0])
    stream_report = x12.ReadReport()
    assert len(list(x12.iter_claims(BASE + bad + BASE, stream_report))) == 8
    assert stream_report.errors == report.errors


def test_count_mismatches_are_warnings():
    broken = BASE.replace(b"GE*1*1", b"GE*5*1").replace(b"IEA*1*000000001", b"IEA*1*000000002")
    report = _same(broken)
    messages = sorted(w.message for w in report.warnings)
    assert messages == [
        "GE01 says '5' transactions, the group has 1",
        "IEA02 '000000002' does not match ISA13 '000000001'",
    ]
    se = BASE.replace(b"SE*", b"SE*1", 1)
    assert any("SE01" in w.message for w in _same(se).warnings)


def test_whitespace_around_elements_and_components():
    isa_end = BASE.index(b"~") + 1
    body = BASE[isa_end:].replace(b"*", b" *\t").replace(b":", b" : ").replace(b"~", b" ~")
    _same(BASE[:isa_end] + body)
