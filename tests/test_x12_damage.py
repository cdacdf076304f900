"""Damaged structure (issue 20): an over-long segment, damaged tags, NUL padding.

Every case reads with both paths (they must agree), and checks by hand what is kept, what
is quarantined (claims, lines, reason, location) and that no kept claim changed patient.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.schema import short_hash
from mipsclaims.synth import SynthConfig, synthetic_837
from mipsclaims.x12 import rules
from x12_support import assert_same_reports, read_both

BASE = synthetic_837(SynthConfig(claims=100, seed=3))
CLEAN = x12.read_claim_lines(BASE)


def _read(data: bytes, batch_bytes: int = 1 << 20) -> tuple[pl.DataFrame, x12.ReadReport]:
    typed, table, stream_report, table_report = read_both(data, batch_bytes)
    assert_frame_equal(table, typed)
    assert_same_reports(table_report, stream_report)
    assert table_report.quarantine_counts() == stream_report.quarantine_counts()
    return table, table_report


def _segments(data: bytes) -> list[bytes]:
    return data.split(b"~\n")


def _clm_positions(data: bytes) -> list[int]:
    """Byte offset of each CLM segment."""
    out, at = [], 0
    while (at := data.find(b"\nCLM*", at)) >= 0:
        at += 1
        out.append(at)
    return out


def _claims_of_loop(segs: list[bytes], j: int, ends: tuple[bytes, ...]) -> set[int]:
    """claim_seq of the CLMs after segment ``j`` up to the next HL of a level in ``ends``
    (or the end of the transaction)."""
    first = sum(s.startswith(b"CLM*") for s in segs[:j])
    n = 0
    for s in segs[j + 1 :]:
        if s.startswith(b"SE*") or (s.startswith(b"HL*") and s.split(b"*")[3] in ends):
            break
        n += s.startswith(b"CLM*")
    return set(range(first, first + n))


def _lines_of(seq: int) -> int:
    return CLEAN.filter(pl.col("claim_seq") == seq).height


def _same_except(table: pl.DataFrame, lost: set[int]) -> None:
    """Every claim but ``lost`` is read exactly as from the clean file (same patient)."""
    keep = ~pl.col("claim_seq").is_in(sorted(lost))
    assert_frame_equal(table.filter(keep), CLEAN.filter(keep))
    assert set(table["claim_seq"].unique()) == set(CLEAN["claim_seq"].unique()) - lost


@pytest.mark.parametrize("batch", [4096, 1 << 20])
def test_long_segment_before_claim_90_keeps_the_other_claims(batch):
    """Issue 20 item 1: a 70 KB NTE before claim 90 of 100 used to fail the interchange
    (nothing read). Now only the claim it sits in is quarantined, with its location."""
    at = _clm_positions(BASE)[89]
    data = BASE[:at] + b"NTE*ADD*" + b"X" * 70_000 + b"~\n" + BASE[at:]
    table, report = _read(data, batch)
    assert not report.errors
    # The NTE follows the 2010BA header of claim 89's subscriber (its only claim here).
    (q,) = report.quarantined
    assert (q.claim_seq, q.location.byte_offset, q.location.loop) == (89, at, "2000B")
    assert q.reason == rules.LONG_SEGMENT and q.lines == _lines_of(89)
    assert report.quarantine_counts() == [(rules.LONG_SEGMENT, 1, _lines_of(89))]
    _same_except(table, {89})
    assert report.claims_seen == 100


def test_long_segment_in_a_subscriber_loop_quarantines_that_loop_only():
    segs = _segments(BASE)
    j = next(i for i, s in enumerate(segs) if s.startswith(b"DMG*"))  # first 2010BA DMG
    segs[j] += b"*" + b"9" * 70_000
    table, report = _read(b"~\n".join(segs), 4096)
    owners = {q.claim_seq for q in report.quarantined}
    assert owners and {q.reason for q in report.quarantined} == {rules.LONG_SEGMENT}
    assert {q.location.loop for q in report.quarantined} == {"2000B"}
    assert owners == _claims_of_loop(segs, j, (b"20", b"22"))
    _same_except(table, owners)


def test_unterminated_run_to_the_end_still_fails_its_interchange():
    """No terminator until the end: the interchange fails there (an error, as before)."""
    data = BASE[: _clm_positions(BASE)[10]] + b"NTE*" + b"X" * 70_000
    for read in (x12.read_claim_lines, lambda d, **k: list(x12.iter_claims(d))):
        with pytest.raises(x12.EnvelopeError, match="no segment terminator within"):
            read(data)


def test_damaged_clm_after_a_subscriber_header_is_counted_as_a_claim():
    """Issue 20 item 2: ``CLX`` lost the claim with exit 0 and nothing said. Now it is a
    quarantined claim under the hash of its CLM01, with its lines."""
    segs = _segments(BASE)
    k = next(
        i
        for i, s in enumerate(segs)
        if s.startswith(b"CLM*") and segs[i - 1][:3] in (b"NM1", b"DMG")
    )
    seq = sum(s.startswith(b"CLM*") for s in segs[:k])
    clm01 = segs[k].split(b"*")[1].decode()
    segs[k] = b"CLX" + segs[k][3:]
    table, report = _read(b"~\n".join(segs))
    (q,) = report.quarantined
    assert (q.claim_seq, q.claim_hash, q.reason) == (seq, short_hash(clm01), rules.DAMAGED_SEGMENT)
    assert q.location.segment == k + 1 and q.lines == _lines_of(seq)
    assert report.claims_seen == 100 and not report.warnings
    _same_except(table, {seq})


def test_damaged_clm_inside_a_run_of_claims_quarantines_both():
    """A CLX right after another claim's lines: the previous claim's end cannot be known,
    so it is quarantined at the CLX, and the lost claim's lines are counted with it."""
    import datetime as dt

    from mipsclaims.claims import Claim, Patient, ServiceLine
    from mipsclaims.synth import render_claims

    patient = Patient(member_id="M1", last_name="A", birth_date=dt.date(1950, 1, 2))
    day = dt.date(2025, 3, 4)

    def claim(cid: str, n: int, who: Patient = patient) -> Claim:
        lines = [ServiceLine(line_number=i + 1, procedure_code="99213", service_date=day)
                 for i in range(n)]  # fmt: skip
        return Claim(claim_id=cid, tin="123456789", billing_npi="1111111111", patient=who,
                     lines=lines)  # fmt: skip

    other = Patient(member_id="M2", last_name="B", birth_date=dt.date(1960, 5, 6))
    good = render_claims([claim("C1", 2), claim("C2", 3), claim("C3", 1), claim("C4", 2, other)])
    clean = x12.read_claim_lines(good)
    at = good.index(b"CLM*C2*")
    typed, table, a, b = read_both(good[:at] + b"CLX" + good[at + 3 :], 1 << 20)
    assert_frame_equal(table, typed)
    assert_same_reports(a, b)
    (q,) = a.quarantined
    assert (q.claim_seq, q.location.byte_offset, q.reason) == (0, at, rules.DAMAGED_SEGMENT)
    assert q.lines == 2 + 3 and a.claims_seen == 3
    # C3 and C4 are read as from the clean file, numbered one lower; same patients.
    want = clean.filter(pl.col("claim_seq") >= 2).with_columns(pl.col("claim_seq") - 1)
    assert_frame_equal(table, want)


def test_nul_after_terminators_is_padding():
    """Issue 20 item 2: NUL bytes after some terminators lost claims silently; they are
    padding between segments (like whitespace), so nothing is lost."""
    head, rest = BASE[:5000], BASE[5000:]
    data = head + rest.replace(b"~\n", b"~\n\x00", 11).replace(b"~\n", b"~\x00\x00\n", 40)
    table, report = _read(data, 4096)
    assert report.ok and not report.warnings
    assert_frame_equal(table, CLEAN)


def _hl22_after_a_claim(segs: list[bytes]) -> int:
    return next(
        i for i, s in enumerate(segs) if s.startswith(b"HL*") and s.split(b"*")[3] == b"22"
        and segs[i - 1].startswith(b"DTP*472")
    )  # fmt: skip


@pytest.mark.parametrize("damaged", [b"HX", b"\x01HL", b"H"])
def test_damaged_hl_never_moves_claims_to_the_previous_patient(damaged):
    """Issue 20 item 3: ``HX`` used to file the next subscriber's claims under the previous
    subscriber's member id and birth date. Now they are quarantined."""
    segs = _segments(BASE)
    j = _hl22_after_a_claim(segs)
    segs[j] = damaged + segs[j][2:]
    table, report = _read(b"~\n".join(segs), 4096)
    lost = {q.claim_seq for q in report.quarantined}
    assert lost and {q.location.segment for q in report.quarantined} == {j + 1}
    assert {q.location.loop for q in report.quarantined} == {"2000B"}
    _same_except(table, lost)
    # Exactly the claims of the subscriber whose HL was damaged.
    assert lost == _claims_of_loop(segs, j, (b"20", b"22"))


def test_hl_with_an_unknown_level_quarantines_to_the_next_billing_provider():
    segs = _segments(BASE)
    j = _hl22_after_a_claim(segs)
    el = segs[j].split(b"*")
    segs[j] = b"*".join([*el[:3], b"2X", *el[4:]])
    table, report = _read(b"~\n".join(segs))
    lost = {q.claim_seq for q in report.quarantined}
    assert {q.reason for q in report.quarantined} == {rules.BAD_HL_LEVEL}
    assert lost == _claims_of_loop(segs, j, (b"20",))
    _same_except(table, lost)


@pytest.mark.parametrize("tag", [b"SBR", b"DMG", b"NM1*IL"])
def test_damaged_sbr_dmg_or_member_name_quarantines_instead_of_nulling(tag):
    """A damaged SBR or DMG used to null the filing indicator or birth date silently."""
    segs = _segments(BASE)
    j = next(i for i, s in enumerate(segs) if s.startswith(tag + b"*"))
    segs[j] = b"Q" + segs[j][1:]
    table, report = _read(b"~\n".join(segs))
    lost = {q.claim_seq for q in report.quarantined}
    assert lost and {q.location.segment for q in report.quarantined} == {j + 1}
    assert {q.reason for q in report.quarantined} == {rules.DAMAGED_SEGMENT}
    _same_except(table, lost)
    assert table["filing_indicator"].null_count() == 0
    assert table["birth_date"].null_count() == CLEAN["birth_date"].null_count()


def test_quarantine_counts_cover_dropped_entries_and_merges():
    from mipsclaims.x12.report import MAX_ISSUES, Location, QuarantinedClaim, ReadReport

    report = ReadReport()
    for k in range(MAX_ISSUES + 10):
        reason = "a" if k % 2 else "b"
        report.quarantined.append(QuarantinedClaim(k, "h", Location("f", k, k), reason, 2))
    merged = ReadReport()
    merged.merge(report)
    merged.merge(report)
    half = (MAX_ISSUES + 10) // 2
    assert report.quarantine_counts() == [("a", half, 2 * half), ("b", half, 2 * half)]
    assert merged.quarantine_counts() == [("a", 2 * half, 4 * half), ("b", 2 * half, 4 * half)]
    assert report.take().quarantine_counts() == [("a", half, 2 * half), ("b", half, 2 * half)]
    assert report.quarantine_counts() == []
