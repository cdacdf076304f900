"""One malformed claim is quarantined with its position and reason; the rest is intact."""

from __future__ import annotations

import datetime as dt

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame
from mipsclaims.schema import short_hash
from mipsclaims.synth import render_claims
from mipsclaims.x12 import rules


def _claim(i: int) -> Claim:
    return Claim(
        claim_id=f"PCN{i}",
        filing_indicator="MB",
        tin="123456789",
        billing_npi="1111111111",
        patient=Patient(
            member_id=f"MEMBER{i}",
            last_name="SECRETNAME",
            first_name="HIDDEN",
            birth_date=dt.date(1944, 7, 8),
            sex="M",
        ),
        diagnosis_codes=["E1165"],
        lines=[
            ServiceLine(
                line_number=1,
                procedure_code="99214",
                charge=80,
                units=1,
                service_date=dt.date(2025, 6, 1),
            )
        ],
    )


GOOD = render_claims([_claim(i) for i in range(5)]).decode()


def _break(old: str, new: str, which: int = 2) -> bytes:
    """Replace the ``which``-th claim's first ``old`` (searched from its CLM) by ``new``."""
    start = GOOD.index(f"CLM*PCN{which}*")
    if old in ("DMG*D8*1944",):
        start = GOOD.rindex("HL*", 0, start)
    i = GOOD.index(old, start)
    return (GOOD[:i] + new + GOOD[i + len(old) :]).encode()


CASES = [
    ("*80*UN*1", "*8O*UN*1", "SV1", rules.BAD_CHARGE, "2400"),
    ("*UN*1", "*UN*X", "SV1", rules.BAD_UNITS, "2400"),
    ("SV1*HC:99214", "SV1*HC:", "SV1", rules.NO_PROCEDURE, "2400"),
    ("D8*20250601", "D8*20250631", "DTP", rules.BAD_SERVICE_DATE, "2400"),
    ("LX*1", "LX*one", "LX", rules.BAD_LINE_NUMBER, "2400"),
    ("DMG*D8*1944", "DMG*D8*1944-", "CLM", rules.BAD_BIRTH_DATE, "2300"),
    ("LX*1~\nSV1*HC:99214*80*UN*1~\n", "", "CLM", rules.NO_LINES, "2300"),
    ("SV1*HC:99214*80*UN*1~\n", "", "LX", rules.NO_SV1, "2400"),
]


@pytest.mark.parametrize(("old", "new", "tag", "reason", "loop"), CASES)
def test_bad_claim_is_quarantined_and_the_rest_kept(old, new, tag, reason, loop):
    data = _break(old, new)
    for read in (
        lambda r: x12.read_claim_lines(data, r),
        lambda r: claims_to_frame(x12.iter_claims(data, r)),
    ):
        report = x12.ReadReport()
        table = read(report)
        assert [q.claim_seq for q in report.quarantined] == [2]
        q = report.quarantined[0]
        assert q.reason == reason
        assert q.claim_hash == short_hash("PCN2")
        assert q.location.loop == loop
        assert data[q.location.byte_offset :].startswith(tag.encode())
        segments = [s.strip() for s in data.decode().split("~") if s.strip()]
        assert segments[q.location.segment - 1].startswith(tag)
        expected = claims_to_frame(
            c.model_copy(update={"source": "<bytes>", "interchange_control": "000000001",
                                 "claim_seq": i})
            for i, c in enumerate(_claim(i) for i in range(5))
            if i != 2
        )  # fmt: skip
        assert_frame_equal(table, expected)
        assert report.claims_seen == 5 and report.claims_read == 4


def test_messages_carry_no_phi():
    report = x12.ReadReport()
    x12.read_claim_lines(_break("D8*20250601", "D8*2025"), report)
    x12.read_claim_lines(_break("DMG*D8*1944", "DMG*D8*X944", which=3), report)
    text = " ".join(str(q) for q in report.quarantined) + " ".join(map(str, report.warnings))
    assert len(report.quarantined) == 2
    for phi in ("SECRETNAME", "HIDDEN", "MEMBER", "1944", "PCN"):
        assert phi not in text
    assert "claim #2 (" in text and rules.BAD_SERVICE_DATE in text


def test_claim_outside_subscriber_loop():
    # A CLM right after the 2000A billing loop has no subscriber to belong to.
    text = GOOD
    start = text.index("HL*2*1*22")
    end = text.index("CLM*PCN0")
    data = (text[:start] + text[end:]).encode()
    report = x12.ReadReport()
    x12.read_claim_lines(data, report)
    assert [(q.claim_seq, q.reason) for q in report.quarantined] == [(0, rules.NOT_IN_SUBSCRIBER)]
    assert report.claims_read == 4


def test_orphan_service_line_is_a_warning():
    text = GOOD.replace("HL*3*1*22*0~\n", "HL*3*1*22*0~\nLX*9~\nSV1*HC:99214*1~\n", 1)
    for read in (x12.read_claim_lines, lambda d, r: list(x12.iter_claims(d, r))):
        report = x12.ReadReport()
        read(text.encode(), report)
        assert any("outside a claim" in w.message for w in report.warnings)
        assert report.claims_read == 5
