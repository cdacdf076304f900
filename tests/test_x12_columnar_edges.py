"""Segment shapes that take the columnar reader off its fast path; it must still agree
with the streaming path (values, quarantine, warnings, positions)."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.synth import SynthConfig, synthetic_837
from x12_support import assert_same_reports, read_both


def _agree(data: bytes, batch_bytes: int = 1 << 20) -> tuple[x12.ReadReport, int]:
    typed, table, stream_report, table_report = read_both(data, batch_bytes)
    assert_frame_equal(table, typed)
    assert_same_reports(table_report, stream_report)
    return table_report, table.height


BASE = synthetic_837(SynthConfig(claims=12, seed=7))
TEXT = BASE.decode()


def _after_first(old: str, new: str, count: int = 1) -> bytes:
    """``TEXT`` with the first ``count`` occurrences of ``old`` replaced (never the ISA)."""
    head, rest = TEXT.split("~", 1)
    return (head + "~" + rest.replace(old, new, count)).encode()


def test_base_reads_clean():
    report, lines = _agree(BASE)
    assert lines > 12 and not report.quarantined


@pytest.mark.parametrize(
    ("old", "new", "count"),
    [
        ("LX*2~", "LX~", 1),  # bare tag: no LX01, the line number is bad
        ("LX*2~", "LX*~", 1),  # empty LX01
        ("DTP*472*", "DTP~DTP*472*", 1),  # bare unknown-shape DTP before the real one
        ("HI*", "~*~**~HI*", 1),  # empty and separator-only segments are skipped
        ("HI*", "*" * 14 + "X~HI*", 1),  # no tag, elements 1-13 empty: skipped too
        ("HI*", "*" * 3 + "X~HI*", 1),  # no tag but an element: counted, ignored
        ("HI*", "ZZZZ*1~Q~HI*", 1),  # unknown long and short tags
        ("CLM*", "NM1X*1~CLM*", 1),  # a tag that starts like a known one
        ("NM1*IL*", "NM1*IL*ÄÖ", 1),  # non-ASCII in a value
        ("N3*", "ÑN3*", 1),  # non-ASCII in a tag
        ("HL*", "HL *", 3),  # padded tags (whitespace before the separator)
        ("SV1*", "  SV1*", 5),  # indentation inside the data
        ("SV1*HC:", "SV1* HC : ", 3),  # padded element and component (stripped)
        ("DMG*D8*", "DMG*D8*\t", 2),  # a tab before a birth date
    ],
)
def test_unusual_segments_agree(old, new, count):
    _agree(_after_first(old, new, count))


def test_every_spare_separator_byte_present():
    """No byte is free for the one-column read: the slower split path gives the same."""
    spare = "".join(chr(c) for c in (*range(1, 9), 11, 12, *range(14, 32), 127))
    data = _after_first("N3*", "N3*" + spare.replace("\x1c", "") + "*")
    _agree(data)
    _agree(data, batch_bytes=2048)


@pytest.mark.parametrize("batch", [700, 4096])
def test_small_batches_with_unusual_segments(batch):
    data = _after_first("HI*", "~~HI *", 4)
    _agree(data, batch_bytes=batch)


def test_carriage_returns_before_newline_terminators():
    data = BASE.replace(b"~\n", b"\r\n")
    report, lines = _agree(data)
    assert not report.quarantined and lines == _agree(BASE)[1]


def test_whitespace_only_inside_values_keeps_fast_path_values():
    # A space inside a value is data (not padding) and must be kept as is.
    data = _after_first("NM1*IL*1*", "NM1*IL*1*VAN DER ", -1)
    _agree(data)
    table = x12.read_claim_lines(data)
    assert table.filter(table["patient_name"].str.starts_with("VAN DER ")).height > 0


@pytest.mark.parametrize("batch", [900, 1 << 20])
def test_envelope_problems_across_pieces_keep_input_order(batch):
    """Pieces are cut and scanned one ahead in a worker thread; what cutting reports (a
    failed ISA, a missing IEA) must still come in input order, between the claims'."""
    without_iea = BASE[: BASE.rindex(b"IEA*")]
    broken_isa = b"ISA*00*short~GS*HC~"
    bad_claim = _after_first("SV1*HC:", "SV1*HC:", 1).replace(b"CLM*", b"CLM**", 1)
    institutional = BASE.replace(b"005010X222A1", b"005010X223A2")  # fails in the tracker
    data = institutional + broken_isa + without_iea + bad_claim + broken_isa + without_iea + BASE
    report, lines = _agree(data, batch_bytes=batch)
    assert len(report.errors) == 3 and len(report.quarantined) == 1
    assert sum("no IEA trailer" in str(w) for w in report.warnings) == 2
    offsets = [e.location.byte_offset for e in report.errors]
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    # Three whole interchanges and the one with the quarantined claim are read.
    assert lines == 3 * _agree(BASE)[1] + _agree(bad_claim)[1]


def test_report_take_moves_everything_and_empties_the_report():
    """What the scan-ahead thread notes is taken per piece: entries, dropped counts, counters."""
    from mipsclaims.x12.report import MAX_ISSUES, Issue, Location

    scratch = x12.ReadReport()
    for k in range(MAX_ISSUES + 5):
        scratch.errors.append(Issue(Location("f", -1, k), "interchange failed"))
    scratch.warnings.append(Issue(Location("f", -1, 0), "interchange has no IEA trailer"))
    scratch.interchanges = 3
    taken = scratch.take()
    assert (len(taken.errors), taken.errors.total, taken.interchanges) == (
        MAX_ISSUES,
        MAX_ISSUES + 5,
        3,
    )
    assert len(taken.warnings) == 1
    assert (scratch.interchanges, scratch.errors.total, len(scratch.warnings)) == (0, 0, 0)
    scratch.errors.append(Issue(Location("f", -1, 9), "later"))  # the same object goes on
    assert scratch.take().errors.total == 1


def test_closing_the_batches_early_stops_the_scan_ahead_thread():
    import threading

    data = synthetic_837(SynthConfig(claims=300, seed=3))
    batches = x12.iter_claim_line_batches(data + data, batch_bytes=4096)
    assert next(batches).height
    batches.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("mipsclaims-x12")]
