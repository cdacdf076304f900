"""Typed claim models strip the reader's whitespace only, so both reader paths agree."""

from __future__ import annotations

import datetime as dt

from mipsclaims import x12
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame

SAMPLE = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *250101*1200*^*00501"
    "*000000001*0*T*:~GS*HC*S*R*20250101*1200*1*X*005010X222A1~ST*837*0001*005010X222A1~"
    "BHT*0019*00*1*20250101*1200*CH~HL*1**20*1~NM1*85*2*CLINIC*****XX*1234567893~"
    "REF*EI*123456789~HL*2*1*22*0~SBR*P*18*******MB~NM1*IL*1*DOE*JANE****MI*MEMBER1~"
    "DMG*D8*19500101*F~CLM*PCN1*100***11:B:1*Y*A*Y*Y~HI*ABK:I10*ABF:E11\x0c~"
    "LX*1~SV1*HC: 99213 *100*UN*1***1~DTP*472*D8*20250301~SE*14*0001~GE*1*1~IEA*1*000000001~"
)


def test_models_strip_blanks_but_keep_other_control_characters() -> None:
    claim = Claim(
        claim_id=" PCN1\t",
        tin="123456789",
        billing_npi="1234567893",
        diagnosis_codes=[" I10 ", "E11\x0c"],
        patient=Patient(member_id="M1\r\n", birth_date=dt.date(1950, 1, 1)),
        lines=[ServiceLine(line_number=1, procedure_code=" 99213 ", modifiers=[" 25"])],
    )
    assert claim.claim_id == "PCN1" and claim.patient.member_id == "M1"
    assert claim.diagnosis_codes == ["I10", "E11\x0c"]  # a form feed is data, not padding
    assert claim.lines[0].procedure_code == "99213" and claim.lines[0].modifiers == ["25"]


def test_both_reader_paths_agree_on_a_control_character_in_a_code() -> None:
    data = SAMPLE.encode()
    columnar = x12.read_claim_lines(data)
    typed = claims_to_frame(list(x12.iter_claims(data)))
    assert columnar["diagnosis_codes"].to_list() == [["I10", "E11\x0c"]]
    assert typed["diagnosis_codes"].to_list() == columnar["diagnosis_codes"].to_list()
    assert typed["procedure_code"].to_list() == columnar["procedure_code"].to_list() == ["99213"]
