"""Runs of whole small interchanges (``envelope.iter_pieces_and_runs``, the fast path's chunker).

A run must be exactly what the per-interchange code yields for the same interchanges (one
final piece each, nothing noted), and everything unusual must be left to that code, so its
messages and locations stay its own. The chunker is compared with itself without runs on
files of many interchanges with damage anywhere, mixed delimiters, whitespace and garbage
between interchanges, and input blocks cut anywhere (inside an ISA too); the fast path is
compared with the columnar and streaming readers and with itself in one thread.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.synth import SynthConfig, synthetic_837
from mipsclaims.x12 import envelope, fast
from mipsclaims.x12.envelope import Delimiters, Piece, Run, iter_pieces, iter_pieces_and_runs
from mipsclaims.x12.report import ReadReport, X12Error
from x12_support import assert_same_reports, columnar_read, read_both

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OTHER = Delimiters(element="|", component=">", repetition="!", segment="'")


@functools.lru_cache(maxsize=256)
def one(seed: int, control: int, delimiters: Delimiters = Delimiters(), newline: str = "\n"):
    """A one- or two-claim interchange with ISA13/IEA02 ``control``."""
    data = synthetic_837(
        SynthConfig(claims=1 + seed % 2, seed=seed, delimiters=delimiters, newline=newline)
    )
    e, t = delimiters.element.encode(), delimiters.segment.encode()
    number = f"{control:09d}".encode()
    return data.replace(e + b"000000001" + e, e + number + e).replace(
        e + b"000000001" + t, e + number + t
    )


def _cut_iea_terminator(x: bytes) -> bytes:
    body = x.rstrip(b"\r\n")
    return body[:-1]


#: What can happen to one interchange (default delimiters, ``*`` ``:`` ``^`` ``~``).
VARIANTS = {
    "clean": lambda x: x,
    "crlf": lambda x: x.replace(b"~\n", b"~\r\n"),
    "no newlines": lambda x: x.replace(b"~\n", b"~"),
    "repetition U": lambda x: x.replace(b"*^*00501*", b"*U*00501*", 1),
    "version 00401": lambda x: x.replace(b"*^*00501*", b"*^*00401*", 1),
    "trimmed ISA": lambda x: x.replace(b"*MIPSCLAIMS     *", b"*MIPSCLAIMS*", 1),
    "damaged ISA": lambda x: b"ISA*00*~" + x[x.index(b"GS*") :],
    "no IEA": lambda x: x[: x.rindex(b"IEA*")],
    "IEA unterminated": _cut_iea_terminator,
    "truncated": lambda x: x[: len(x) // 2],
    "I in the controls": lambda x: x.replace(b"*00000", b"*I0000"),
    "spaces in ISA13": lambda x: x.replace(b"*0000", b"*    ", 1),
    "ISA and IEA inside values": lambda x: x.replace(b"N3*", b"N3*IEA*ISA*", 1),
    "GE damaged": lambda x: x.replace(b"GE*1*", b"GE*9*", 1),
    "service date damaged": lambda x: x.replace(b"DTP*472*D8*2025", b"DTP*472*D8*2X25", 1),
    "over-long segment": lambda x: x.replace(b"N3*", b"NTE*" + b"X" * 70_000 + b"~\nN3*", 1),
    "other delimiters": None,  # the same interchange written with OTHER
}
GAPS = [b"", b"", b"\n", b"\r\n", b"  ", b"\t", b"\x00", b"\n" * 12, b"NTE*X~", b"GARBAGE", b"X"]


@st.composite
def files(draw: st.DrawFn, variants: list[str] | None = None) -> bytes:
    """Many small interchanges, most clean, some with damage, gaps between them."""
    count = draw(st.integers(1, 14))
    names = variants or list(VARIANTS)
    parts = []
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\n\n", b"  "])))
    for i in range(count):
        seed = draw(st.integers(0, 40))
        kind = draw(st.sampled_from(["clean"] * 6 + names))
        if kind == "other delimiters":
            parts.append(one(seed, i + 1, OTHER))
        else:
            parts.append(VARIANTS[kind](one(seed, i + 1)))
        if i + 1 < count:
            parts.append(draw(st.sampled_from([b""] * 6 + GAPS)))
    parts.append(draw(st.sampled_from([b"", b"\n", b"\n \x00\n"])))
    return b"".join(parts)


def expanded(items) -> list[Piece]:
    out: list[Piece] = []
    for item in items:
        out.extend(item.pieces() if isinstance(item, Run) else [item])
    return out


def chunked(source, block: int, runs: int):
    """(pieces with runs expanded, report, error text, whether a run was yielded)."""
    report = ReadReport()
    items: list = []
    try:
        cut = iter_pieces_and_runs(source, report, block, runs) if runs else None
        for item in cut if cut is not None else iter_pieces(source, report, block):
            items.append(item)
    except X12Error as exc:
        return expanded(items), report, str(exc), False
    return expanded(items), report, None, any(isinstance(i, Run) for i in items)


def blocks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


@SETTINGS
@given(
    files(),
    st.sampled_from([64, 105, 106, 107, 700, 2000, 5000, 1 << 16]),
    st.sampled_from([1024, 4096, 1 << 20]),
)
def test_runs_are_the_per_interchange_pieces(data, block, runs):
    """Input blocks of ``block`` bytes (boundaries inside ISAs, IEAs, gaps): the pieces,
    report and errors with runs are those without, interchange by interchange."""
    source = blocks_of(data, block)
    plain = chunked(source, min(block, 1 << 16), 0)
    with_runs = chunked(source, min(block, 1 << 16), runs)
    assert with_runs[:3] == plain[:3]
    # Bytes (cut into blocks by iter_blocks) as the whole input in one block, as before.
    plain_bytes = chunked(data, 1 << 16, 0)
    assert chunked(data, 1 << 16, runs)[:3] == plain_bytes[:3]
    pieces, report, error, _ = chunked([data], 1 << 16, 0)  # named "<stream>", not "<bytes>"
    assert pieces == plain_bytes[0]
    assert [(i.location.byte_offset, i.message) for i in report.errors + report.warnings] == [
        (i.location.byte_offset, i.message) for i in plain_bytes[1].errors + plain_bytes[1].warnings
    ]
    assert (error or "").replace("<stream>", "<bytes>") == (plain_bytes[2] or "")


def test_a_clean_file_is_one_run_per_block():
    parts = [one(seed, seed + 1) for seed in range(40)]
    data = b"".join(parts)
    items = list(iter_pieces_and_runs(data, ReadReport(), 1 << 16, 1 << 20))
    assert all(isinstance(i, Run) for i in items)
    # The block starts at RUN_MIN bytes and doubles while runs fill it.
    assert len(items) < 10 and sum(i.count for i in items) == 40
    starts = np.cumsum([0, *map(len, parts)])
    assert np.concatenate([i.offsets for i in items]).tolist() == starts[:-1].tolist()
    assert np.concatenate([i.ends for i in items]).tolist() == (starts[1:] - 1).tolist()  # "\n"
    assert [c for i in items for c in i.controls] == [f"{n:09d}" for n in range(1, 41)]
    assert [i.interchange for i in items] == np.cumsum([0] + [i.count for i in items[:-1]]).tolist()


def test_a_run_keeps_the_newlines_between_interchanges_and_drops_the_last():
    a, b = one(1, 7, newline="\r\n"), one(2, 8, newline="\r\n")
    assert a.endswith(b"~\r\n")
    (run,) = iter_pieces_and_runs(a + b + b"\r\n\r\n", ReadReport(), 1 << 16, 1 << 20)
    assert run.data == a + b.rstrip(b"\r\n")
    assert run.offsets.tolist() == [0, len(a)]
    assert run.ends.tolist() == [len(a) - 2, len(a) + len(b) - 2]
    assert run.controls == ["000000007", "000000008"] and run.last == 1


@pytest.mark.parametrize("gap", [b"  ", b"\t", b"\x00", b"\n" * 12])
def test_an_unusual_gap_ends_a_run(gap):
    """Only CR/LF (a few) join interchanges in a run: the kernel reads the run's bytes as
    they are. Other whitespace ends the run; it is dropped, as the per-interchange code
    drops it, and the next run starts after it."""
    a, b, c = one(1, 1), one(2, 2), one(3, 3)
    items = list(iter_pieces_and_runs(a + gap + b + c, ReadReport(), 1 << 16, 1 << 20))
    assert [type(i).__name__ for i in items] == ["Run", "Run"]
    assert [i.count for i in items] == [1, 2]
    assert items[1].byte_offset == len(a) + len(gap) and items[1].controls[0] == "000000002"
    (joined,) = iter_pieces_and_runs(a + b"\r\n" + b + c, ReadReport(), 1 << 16, 1 << 20)
    assert joined.count == 3


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        # Other delimiters: a run of its own (the kernel reads each with its delimiters).
        ("repetition U", ["Run", "Run", "Run"]),
        ("other delimiters", ["Run", "Run", "Run"]),
        # A failed ISA: no piece, an error, the next run after it.
        ("version 00401", ["Run", "Run"]),
        # Read by the per-interchange code: an ISA not at its fixed widths, a control
        # number with an "I" (the run does not look inside an IEA for an ISA).
        ("trimmed ISA", ["Run", "Piece", "Run"]),
        ("I in the controls", ["Run", "Piece", "Run"]),
    ],
)
def test_an_interchange_that_does_not_qualify_is_left_to_the_per_interchange_code(variant, kinds):
    parts = [one(s, s + 1) for s in range(5)]
    parts[2] = one(2, 3, OTHER) if variant == "other delimiters" else VARIANTS[variant](parts[2])
    data = b"".join(parts)
    report = ReadReport()
    items = list(iter_pieces_and_runs(data, report, 1 << 16, 1 << 20))
    assert [type(i).__name__ for i in items] == kinds
    assert items[0].count == 2 and items[-1].count == 2 and items[-1].interchange == 3
    assert len(report.errors) == (variant == "version 00401")
    assert chunked(data, 1 << 16, 1 << 20)[:3] == chunked(data, 1 << 16, 0)[:3]


# ---------------------------------------------------------------- the fast path


def fast_read(data: bytes, batch: int, threads: int):
    saved = fast.THREADS
    fast.THREADS = threads
    try:
        report = x12.ReadReport()
        return fast.read_claim_lines(data, report, batch_bytes=batch), report
    finally:
        fast.THREADS = saved


def assert_fast_is_columnar(data: bytes, batch: int) -> x12.ReadReport:
    expected_report = x12.ReadReport()
    try:
        expected = columnar_read(data, expected_report, batch)
    except X12Error as exc:
        with pytest.raises(type(exc)) as raised:
            fast_read(data, batch, 0)
        assert str(raised.value) == str(exc)
        return expected_report
    for threads in (0, 2):
        table, report = fast_read(data, batch, threads)
        assert_frame_equal(table, expected)
        assert report == expected_report
    return expected_report


@SETTINGS
@given(files(), st.sampled_from([2048, 6000, 1 << 20]))
def test_fast_path_equals_columnar_on_many_interchanges(data, batch):
    """Rows, claim numbers and the whole report (messages, locations) of the fast path,
    in worker threads and in one, are the columnar reader's."""
    assert_fast_is_columnar(data, batch)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files(["clean", "crlf", "service date damaged", "GE damaged", "no newlines"]),
    st.sampled_from([3000, 1 << 20]),
)
def test_fast_path_equals_the_streaming_reader(data, batch):
    typed, table, a, b = read_both(data, batch)
    assert_frame_equal(table, typed)
    assert_same_reports(a, b)


def test_many_clean_interchanges_take_runs_and_one_kernel_call(spy, monkeypatch):
    pieces = []
    real = fast.iter_pieces_and_runs

    def recording(*args, **kwargs):
        for item in real(*args, **kwargs):
            pieces.append(item)
            yield item

    monkeypatch.setattr(fast, "iter_pieces_and_runs", recording)
    data = b"".join(one(seed, seed + 1) for seed in range(120))
    table, report = fast_read(data, 1 << 20, 0)
    assert spy == {"columnar": 0, "kernel": 1}
    assert all(isinstance(p, Run) for p in pieces) and sum(p.count for p in pieces) == 120
    assert report.interchanges == 120 and report.transactions == 120
    assert table["interchange_control"].to_list() == sorted(table["interchange_control"])
    assert table["interchange_control"].n_unique() == 120
    assert report.claims_read == sum(1 + s % 2 for s in range(120))


@pytest.mark.parametrize("where", ["middle", "last"])
@pytest.mark.parametrize("batch", [5000, 1 << 20])
def test_damage_inside_a_run_hands_over_exactly(spy, where, batch):
    parts = [one(seed, seed + 1) for seed in range(30)]
    at = 15 if where == "middle" else 29
    parts[at] = VARIANTS["service date damaged"](parts[at])
    report = assert_fast_is_columnar(b"".join(parts), batch)
    assert len(report.quarantined) == 1 and report.interchanges == 30
    assert spy["kernel"] >= 1 and spy["columnar"] >= 3  # 2 references, 1 hand-over


@pytest.mark.parametrize("after", [b"GARBAGE", b"NTE*X~", b"ISA*00*~"])
def test_something_noted_after_a_run_hands_over_its_last_interchange(spy, after):
    """The chunker notes what follows a run: the run is read by the kernel, its last
    interchange taken back and read again by the columnar reader with the rest."""
    parts = [one(seed, seed + 1) for seed in range(12)]
    data = b"".join(parts) + after + b"".join(one(s, s + 1) for s in range(12, 15))
    report = assert_fast_is_columnar(data, 1 << 20)
    assert report.errors and report.interchanges >= 15


def test_the_chunker_sees_only_whole_interchanges_in_a_small_batch():
    """A batch smaller than one interchange: no run at all, the per-interchange pieces."""
    data = b"".join(one(seed, seed + 1) for seed in range(6))
    items = list(iter_pieces_and_runs(data, ReadReport(), 500, 500))
    assert not any(isinstance(i, Run) for i in items)
    assert_fast_is_columnar(data, 500)


def test_whole_run_needs_its_first_isa_at_the_start():
    data = b"".join(one(seed, seed + 1) for seed in range(3))
    assert envelope._whole_run(b" " + data, len(data) + 1, 1 << 16) is None
    found = envelope._whole_run(data, len(data), 1 << 16)
    assert found is not None and len(found[1]) == 3
    # Each interchange at most ``most`` bytes: the first alone is too long.
    assert envelope._whole_run(data, len(data), 100) is None


@pytest.mark.parametrize("gap", [b"  ", b"\x00" * 20, b"\r\n" * 10])
def test_whitespace_between_every_interchange_is_still_one_pass_per_block(monkeypatch, gap):
    """Runs split at whitespace the kernel does not read come from the same array pass
    (no pass per interchange), and are the per-interchange pieces."""
    calls = []
    real = envelope._whole_run
    monkeypatch.setattr(envelope, "_whole_run", lambda *a: calls.append(1) or real(*a))
    data = gap.join(one(seed, seed + 1) for seed in range(60))
    items = list(iter_pieces_and_runs(data, ReadReport(), 1 << 16, 1 << 20))
    assert all(isinstance(i, Run) for i in items) and len(items) == 60
    assert len(calls) <= 6  # the block doubles from RUN_MIN: 16, 32, 64 KB ...
    assert expanded(items) == list(iter_pieces(data, ReadReport(), 1 << 16))


def test_bytes_are_read_in_blocks():
    assert list(envelope.iter_blocks(b"abcdefghij", 4)) == [b"abcd", b"efgh", b"ij"]
    assert list(envelope.iter_blocks(memoryview(b"abc"), 4)) == [b"abc"]
    assert list(envelope.iter_blocks(b"", 4)) == []
