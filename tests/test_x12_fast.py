"""The numpy fast path (x12.fast / x12.vector) against the columnar reader it stands in for.

Every test compares the whole table and the whole read report with the columnar reader's,
and checks which path did the work (a spy on the columnar reader), so that a fallback
cannot pass for the fast path or the other way round.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.synth import SynthConfig, render_claims, synthetic_837
from mipsclaims.testing import claims, delimiter_sets, newlines
from mipsclaims.x12 import columnar, fast, vector
from x12_support import columnar_read


def both(data: bytes, batch: int = 1 << 20):
    """(fast table, fast report), after asserting both equal the columnar reader's."""
    expected_report, report = x12.ReadReport(), x12.ReadReport()
    expected = columnar_read(data, expected_report, batch)
    table = fast.read_claim_lines(data, report, batch_bytes=batch)
    assert_frame_equal(table, expected)
    assert report == expected_report
    return table, report


def synth(claims: int = 30, seed: int = 1, **kw) -> bytes:
    return synthetic_837(SynthConfig(claims=claims, seed=seed, **kw))


def interchange(claims: int, seed: int, control: int) -> bytes:
    data, number = synth(claims, seed), f"{control:09d}".encode()
    return data.replace(b"*000000001*", b"*" + number + b"*").replace(
        b"*000000001~", b"*" + number + b"~"
    )


def test_clean_synthetic_file_is_read_by_the_kernel_alone(spy):
    table, report = both(synth(200, seed=7))
    spy["columnar"] = spy["columnar"] - 1  # the reference read in ``both``
    assert spy == {"columnar": 0, "kernel": 1}
    assert report.claims_read == 200 and table["claim_seq"].n_unique() == 200
    assert table["claim_seq"].to_list() == sorted(table["claim_seq"].to_list())


def test_a_large_interchange_can_go_to_the_columnar_reader(spy, monkeypatch):
    monkeypatch.setattr(fast, "KERNEL_LARGE_INTERCHANGES", False)
    data = synth(400, seed=3, claims_per_transaction=40)
    small = interchange(3, 1, 7)
    both(small + data + small, batch=16 * 1024)
    assert spy["columnar"] == 2 and spy["kernel"] == 1


@pytest.fixture
def kernel_for_large(monkeypatch):
    monkeypatch.setattr(fast, "KERNEL_LARGE_INTERCHANGES", True)


def test_a_large_interchange_is_read_piece_by_piece_with_a_carry(spy, kernel_for_large):
    data = synth(400, seed=3, claims_per_transaction=40)
    table, _ = both(data, batch=16 * 1024)
    assert spy["columnar"] == 1  # only the reference read
    assert spy["kernel"] > 3
    assert table.height > 400


def test_many_small_interchanges_are_one_kernel_call(spy):
    data = b"".join(interchange(1, seed, seed + 1) for seed in range(150))
    table, report = both(data)
    assert spy == {"columnar": 1, "kernel": 1}
    assert report.interchanges == 150
    assert table["interchange_control"].n_unique() == 150


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"DTP*472*D8*2025", b"DTP*472*D8*2X25"),  # quarantined claim
        (b"CLM*", b"CLM**"),  # claim id missing
        (b"LX*1~", b"LX*A~"),  # bad line number
        (b"HL*", b"HX*"),  # damaged tag
        (b"SE*", b"SE*9"),  # SE count warning
        (b"NM1*IL*1*", b"NM1*IL*1* "),  # padded element (stripped by the columnar reader)
        (b"HI*ABK:", b"HI*ABK*"),  # diagnosis code written as its own element (a warning)
        (b":B:1*", b":B*"),  # CLM05-3 missing: read as 1 with a warning
        (b"N3*1 MAIN ST", b"REF*EI*999999999~REF*EI*888888888"),  # REF*EI twice in 2010AA
    ],
)
def test_a_damaged_interchange_between_clean_ones_gives_the_columnar_result(spy, old, new):
    middle = interchange(20, 5, 2)
    assert old in middle
    middle = middle.replace(old, new, 1)
    data = interchange(20, 4, 1) + b"\n" + middle + interchange(20, 6, 3)
    _, report = both(data, batch=4096)
    assert spy["columnar"] == 2  # the reference read and the fallback from the middle on
    assert report.interchanges == 3


def test_damage_in_a_later_piece_of_a_large_interchange(spy, kernel_for_large):
    data = synth(300, seed=9, claims_per_transaction=30)
    at = data.rindex(b"DTP*472*D8*2025")
    data = data[:at] + b"DTP*472*D8*2X25" + data[at + 15 :]
    _table, report = both(data, batch=8 * 1024)
    assert spy["columnar"] == 2 and spy["kernel"] > 2
    assert len(report.quarantined) == 1


def test_a_failed_interchange_between_clean_ones(spy):
    data = interchange(5, 1, 1) + b"ISA*garbage~" + interchange(5, 2, 2)
    _, report = both(data)
    assert len(report.errors) == 1 and report.claims_read == 10


def test_the_environment_selects_the_columnar_reader(spy, monkeypatch):
    monkeypatch.setenv(fast.READER_ENV, "columnar")
    x12.read_claim_lines(synth(10))
    assert spy == {"columnar": 1, "kernel": 0}


def test_streams_go_to_the_columnar_reader(spy):
    import io

    x12.read_claim_lines(io.BytesIO(synth(10)))
    assert spy == {"columnar": 1, "kernel": 0}


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.lists(claims(), min_size=1, max_size=8),
    delimiter_sets(),
    newlines,
    st.sampled_from([300, 2048, 1 << 20]),
)
def test_generated_claims_agree(originals, delimiters, newline, batch):
    data = render_claims(originals, delimiters, newline, claims_per_transaction=2)
    both(data, batch)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000), delimiter_sets(), newlines, st.sampled_from([4096, 1 << 20]))
def test_synthetic_files_agree_and_take_the_fast_path(seed, delimiters, newline, batch):
    data = synthetic_837(SynthConfig(claims=40, seed=seed, delimiters=delimiters, newline=newline))
    calls = []
    real = columnar.iter_claim_line_batches
    fast.columnar.iter_claim_line_batches = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        table = fast.read_claim_lines(data, batch_bytes=1 << 20)
    finally:
        fast.columnar.iter_claim_line_batches = real
    assert_frame_equal(table, columnar_read(data))
    whitespace = any(c in " \t\r\n" for c in (delimiters.element, delimiters.component))
    # A newline after a newline terminator is an empty segment: left to the columnar reader.
    empty_segments = delimiters.segment == "\n" and newline != ""
    assert bool(calls) == (whitespace or empty_segments or delimiters.segment in " \t")
    both(data, batch)


def test_a_failed_only_interchange_raises_the_columnar_error():
    """The only interchange fails in its second transaction: the columnar reader raises
    (nothing of the input was read in full), so must the fast path."""
    data = synth(6, seed=1, claims_per_transaction=2)
    data = data.replace(b"ST*837*0002*005010X222A1", b"ST*837*0002*005010X999A1")
    errors = []
    for read in (columnar_read, fast.read_claim_lines):
        with pytest.raises(x12.EnvelopeError) as caught:
            read(data)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]


def test_the_same_failure_after_a_clean_interchange_is_an_error_entry(spy):
    bad = synth(6, seed=1, claims_per_transaction=2)
    bad = bad.replace(b"ST*837*0002*005010X222A1", b"ST*837*0002*005010X999A1")
    _, report = both(interchange(4, 2, 9) + bad)
    assert len(report.errors) == 1 and spy["kernel"] == 1


def test_a_moved_tail_keeps_every_quarantine_count() -> None:
    """The tail the columnar reader read is moved to whole-file locations; the per-reason
    counts of quarantined claims past the listing cap must survive the move."""
    from dataclasses import replace

    from mipsclaims.x12.fast import _moved, _Shift
    from mipsclaims.x12.report import Location, QuarantinedClaim, QuarantineList, ReadReport

    tail = QuarantineList(cap=2)
    for n in range(5):
        where = Location("t.837", segment=10 + n, byte_offset=100 * n)
        tail.append(QuarantinedClaim(n, "abcd1234", where, "damaged", lines=3))
    shift = _Shift(segments=7, offset=1000)
    moved = _moved(tail, lambda q: replace(q, location=shift(q.location)))
    assert [q.location.segment for q in moved] == [17, 18]
    assert moved.dropped == 3
    report = ReadReport()
    report.quarantined.extend(moved)
    assert report.quarantine_counts() == [("damaged", 5, 15)]


def small_interchanges(count: int, control0: int = 1) -> list[bytes]:
    """``count`` interchanges of two one-claim transactions each (whole in one buffer)."""
    return [
        interchange_of(synth(2, seed=i, claims_per_transaction=1), control0 + i)
        for i in range(count)
    ]


def interchange_of(data: bytes, control: int) -> bytes:
    number = f"{control:09d}".encode()
    return data.replace(b"*000000001*", b"*" + number + b"*").replace(
        b"*000000001~", b"*" + number + b"~"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"GE*2*1~", b"GE*3*1~"),  # group count (warning)
        (b"GE*2*1~", b"GE*02*1~"),  # count not written plainly (warning)
        (b"GE*2*1~", b"GE*2*7~"),  # GE02 != GS06 (warning)
        (b"IEA*1*", b"IEA*2*"),  # group count (warning)
        (b"ST*837*0001*", b"ST*837*0009*"),  # SE02 != ST02 (warning)
        (b"SE*", b"SE*9"),  # segment count (warning)
        (b"GS*HC*", b"GS*HP*"),  # not a claim group (error)
        (b"*X*005010X222A1~", b"*X*005010X222B1~"),  # another 005010X222 (warning)
        (b"ST*837*0001*005010X222A1", b"ST*835*0001*005010X222A1"),  # not 837 (error)
        (b"ST*837*0001*005010X222A1", b"ST*837*0001*005010X222B1"),  # another ST03 (silent)
        (b"\nST*837*0002", b"\nGE*1*1~\nST*837*0002"),  # a GE inside a group (order)
        (b"GS*HC*", b"NTE*ADD*X~GS*HC*"),  # a segment outside a transaction
    ],
)
def test_envelope_damage_inside_a_batch_of_whole_interchanges(spy, old, new):
    """The kernel checks the envelopes of whole interchanges itself (no EnvelopeTracker
    call per segment): each case must still hand over to the columnar reader."""
    parts = small_interchanges(9)
    assert old in parts[4]
    parts[4] = parts[4].replace(old, new, 1)
    _, report = both(b"".join(parts))
    assert spy["columnar"] == 2 and spy["kernel"] == 1
    assert report.interchanges == 9


def test_whole_interchanges_are_counted_without_the_tracker(spy, monkeypatch):
    data = b"".join(small_interchanges(30))
    _, report = both(data)
    assert report.interchanges == 30 and report.transactions == 60
    calls = []
    real = fast.EnvelopeTracker.feed
    with monkeypatch.context() as m:
        m.setattr(
            fast.EnvelopeTracker, "feed", lambda self, *a: calls.append(a[0]) or real(self, *a)
        )
        fast.read_claim_lines(data)
    assert calls == []  # every envelope segment was in a whole interchange of the buffer


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(0, 500)),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([2048, 8192, 1 << 20]),
    st.sampled_from([None, (b"DTP*472*D8*2025", b"DTP*472*D8*2X25"), (b"SE*", b"SE*9")]),
    st.booleans(),
)
def test_parallel_equals_serial_on_multi_interchange_files(shapes, batch, damage, large):
    """Kernel calls running ahead in worker threads give the same rows, claim numbers and
    report as one at a time, and as the columnar reader, with or without damage."""
    parts = [
        interchange_of(synth(claims, seed=seed, claims_per_transaction=per), i + 1)
        for i, (claims, per, seed) in enumerate(shapes)
    ]
    if damage is not None:
        middle = parts[len(parts) // 2]
        parts[len(parts) // 2] = middle.replace(damage[0], damage[1], 1)
    data = b"".join(parts)
    saved = fast.KERNEL_LARGE_INTERCHANGES, fast.THREADS
    try:
        fast.KERNEL_LARGE_INTERCHANGES = large
        fast.THREADS = 0
        serial_report = x12.ReadReport()
        serial_table = fast.read_claim_lines(data, serial_report, batch_bytes=batch)
        fast.THREADS = 2
        table, report = both(data, batch)
    finally:
        fast.KERNEL_LARGE_INTERCHANGES, fast.THREADS = saved
    assert_frame_equal(table, serial_table)
    assert report == serial_report


def test_a_transaction_longer_than_the_carry_limit_goes_to_the_columnar_reader(spy):
    """Buffers with no ST to cut at are carried whole (no kernel call); past
    MAX_CARRY_BATCHES batches the interchange is handed over."""
    data = synth(200, seed=4, claims_per_transaction=200)
    batch = 4096
    assert len(data) > fast.MAX_CARRY_BATCHES * batch * 2
    table, report = both(data, batch)
    assert spy["columnar"] == 2  # the reference read and the hand-over
    assert report.claims_read == 200 and table.height > 200


def test_body_delimiters_other_than_the_isa_in_small_buffers(spy):
    """The ISA declares | and * (element, component), the body uses * and :: in buffers
    smaller than the interchange no ST is found to cut at (found by test_fuzz)."""
    data = synth(3, seed=2)
    end = data.index(b"~") + 1
    isa = data[:end].translate(bytes.maketrans(b"*:", b"|*"))
    for batch in (64, 512, 1 << 20):
        both(isa + data[end:], batch)


@pytest.mark.parametrize("batch", [2048, 1 << 20])
@pytest.mark.parametrize("byte", [b"\xff", b"\xc3", b"\x00"])
def test_bytes_that_are_not_utf8_in_a_name(spy, batch, byte):
    """Not clean, so read by the columnar reader; the kernel must still build its tables of
    the buffer (polars Strings must be UTF-8) without failing (found by test_fuzz)."""
    data = synth(60, seed=8, claims_per_transaction=10)
    at = data.index(b"NM1*IL*1*") + len(b"NM1*IL*1*") + 2
    both(data[:at] + byte + data[at:], batch)


_KERNEL_DATA = synth(12, seed=3, claims_per_transaction=4)
_KERNEL_SEGMENTS = _KERNEL_DATA.split(b"~\n")


@SETTINGS
@given(
    st.integers(0, len(_KERNEL_SEGMENTS) - 1),
    st.integers(1, 60),
    st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=2)), max_size=3),
    st.booleans(),
)
def test_the_kernel_never_fails_on_any_run_of_segments(first, count, damage, final):
    """Any run of segments, damaged anywhere, starting anywhere (not at an ISA or ST):
    the kernel names a segment it cannot prove clean, it never raises (found by test_fuzz:
    a claim before any ST indexed a level group -1)."""
    data = b"~\n".join(_KERNEL_SEGMENTS[first : first + count]) + b"~\n"
    for at, raw in damage:
        at %= len(data)
        data = data[:at] + raw + data[at + len(raw) :]
    block = vector.read_block(
        data, x12.Delimiters(), final=final, claim_seq0=0, source="t", controls=[], control0=""
    )
    assert block.bad is None or 0 <= block.bad <= block.segments
    if first > 0 and not _KERNEL_SEGMENTS[first].startswith((b"ISA", b"ST*")):
        assert block.bad == 0


@pytest.mark.parametrize("damage", [None, "first", "middle"])
def test_a_file_read_with_progress_takes_the_fast_path(tmp_path, spy, damage):
    """The CLI's progress bar reads a file through a byte counter: the fast path re-opens
    it for the columnar reader (from its start, or from the damaged interchange) instead
    of leaving the whole file to the columnar reader, and the result is the same."""
    from mipsclaims.inputs import iter_file_batches

    parts = [interchange(20, 4, 1), interchange(20, 5, 2), interchange(20, 6, 3)]
    if damage is not None:
        k = 0 if damage == "first" else 1
        parts[k] = parts[k].replace(b"DTP*472*D8*2025", b"DTP*472*D8*2X25", 1)
    data = b"".join(parts)
    path = tmp_path / "claims.837"
    path.write_bytes(data)
    seen: list[int] = []
    report = x12.ReadReport()
    table = pl.concat(list(iter_file_batches(path, report, progress=seen.append)))
    # The kernel read what it could prove clean; the columnar reader only a fallback.
    assert spy["kernel"] >= 1 and spy["columnar"] == (0 if damage is None else 1)
    expected_report = x12.ReadReport()
    expected = columnar_read(path, expected_report)
    assert_frame_equal(table, expected)
    assert report == expected_report
    assert seen and seen[-1] == len(data)  # the bar reaches the end
    assert len(report.quarantined) == (0 if damage is None else 1)


def test_the_progress_reader_is_reread_not_left_to_the_columnar_reader(tmp_path, spy):
    from mipsclaims.inputs import iter_file_batches

    path = tmp_path / "claims.837"
    path.write_bytes(b"".join(interchange(5, s, s) for s in range(1, 40)))
    list(iter_file_batches(path, x12.ReadReport(), progress=lambda done: None))
    assert spy == {"columnar": 0, "kernel": 1}  # 39 interchanges, one kernel call


_value_bytes = st.binary(max_size=40).map(
    lambda b: bytes(32 + x % 95 for x in b).replace(b"~", b"").replace(b"*", b"")
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_value_bytes, max_size=30), st.booleans(), st.booleans())
def test_kernel_strings_are_the_values(values, upper, over_127):
    """``Tokens.strings`` (Arrow views when every value fits in 12 bytes, else offsets and
    bytes) gives each value's text, null for an empty one, upper-cased on request, with
    "?" for bytes over 127."""
    if over_127 and values:
        values[0] = values[0] + b"\xe9"
    data = b"".join(b"X*" + v + b"~" for v in values)
    tok = vector.Tokens(data, x12.Delimiters(element="*", component=":", segment="~"))
    tok.non_ascii = over_127
    starts = [2 + sum(len(v) + 3 for v in values[:i]) for i in range(len(values))]
    st_ = np.array(starts, dtype=np.int64)
    en = st_ + np.array([len(v) for v in values], dtype=np.int64)
    got = tok.strings(st_, en, upper=upper)
    expected = []
    for v in values:
        text = v.decode("latin-1")
        text = "".join("?" if ord(c) > 127 else c for c in text)
        expected.append((text.upper() if upper else text) or None)
    assert got.to_list() == expected
    # Equal to the same text made by polars (comparisons and hashing read whole views, so
    # the bytes past a short value must be zero).
    made = pl.Series(expected, dtype=pl.String)
    assert got.eq_missing(made).all()
    assert got.n_unique() == made.n_unique()
    assert pl.DataFrame({"v": got}).join(pl.DataFrame({"v": made}), on="v").height == (
        pl.DataFrame({"v": made}).join(pl.DataFrame({"v": made}), on="v").height
    )
