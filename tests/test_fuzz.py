"""Fuzzing the 837P reader with mutations of valid generated files (issue 8, docs/security.md).

Every example renders claims drawn by :mod:`mipsclaims.testing` (with planted, distinctive
PHI) as an 837P, damages it, and reads it with both reader paths. The properties:

- nothing but :class:`~mipsclaims.x12.X12Error` (and subclasses) is ever raised;
- both paths agree exactly (tables, quarantine, warnings, errors, counts);
- damage confined to the segments of one claim (or one HL loop) changes only the claims
  that loop belongs to: every other claim equals the clean file's output exactly;
- messages (errors, warnings, quarantine reasons) carry no planted PHI.

CI runs a few examples per property; a long run is
``HYPOTHESIS_PROFILE=explore MIPSCLAIMS_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest
tests/test_fuzz.py`` (the default profile is derandomized: the same examples every run).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import Claim, Patient, ServiceLine, claims_to_frame
from mipsclaims.schema import short_hash
from mipsclaims.synth import render_claims
from mipsclaims.testing import claims, delimiter_sets, newlines
from mipsclaims.x12 import rules
from mipsclaims.x12.envelope import MAX_SEGMENT_BYTES, Delimiters
from mipsclaims.x12.report import MAX_ISSUES
from x12_support import assert_same_reports

EXAMPLES = int(os.environ.get("MIPSCLAIMS_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
ENVELOPE = {"ISA", "GS", "ST", "SE", "GE", "IEA"}
_WS = " \t\r\n"
PHI_MARKS = ("PHIMEM", "PHILAST", "PHIFIRST")


# ---------------------------------------------------------------- the clean file


@dataclass
class Base:
    """A valid 837P, its segments, and which claims each segment's loop belongs to."""

    claims: list[Claim]
    d: Delimiters
    end: bytes  # terminator + newline, written after every segment
    segs: list[bytes]
    owners: list[frozenset[int]]  # per segment: the claims its loop feeds
    loop_start: list[bool]  # per segment: opens a loop (HL, CLM) or is an envelope segment
    clean: pl.DataFrame  # the columnar reader's output of the clean file
    batch: int
    newline: str
    per_transaction: int

    @property
    def data(self) -> bytes:
        return b"".join(s + self.end for s in self.segs)

    def render(self, control: int) -> bytes:
        return render_claims(
            self.claims,
            self.d,
            self.newline,
            claims_per_transaction=self.per_transaction,
            control=control,
        )

    def claim_ends(self) -> list[int]:
        """Byte offset just past each claim's last segment (the end of its CLM loop)."""
        ends, offset = [0] * len(self.claims), 0
        for seg, owners in zip(self.segs, self.owners, strict=True):
            offset += len(seg) + len(self.end)
            if len(owners) == 1:
                (k,) = owners
                ends[k] = max(ends[k], offset)
        return ends

    def tag(self, seg: bytes) -> str:
        return seg.decode("latin-1").split(self.d.element)[0].strip(_WS)

    def phi(self) -> list[str]:
        """Every PHI value planted in the file (member ids, names, birth dates)."""
        values = list(PHI_MARKS)
        for c in self.claims:
            if c.patient.birth_date:
                values += [
                    c.patient.birth_date.strftime("%Y%m%d"),
                    c.patient.birth_date.isoformat(),
                ]
        return values


def _structure(segs: list[bytes], d: Delimiters) -> tuple[list[frozenset[int]], list[bool]]:
    """Owners per segment: the claims of a CLM loop, of an HL loop (until the next HL of
    the same or a higher level, or an envelope segment), none for the envelope header."""
    tags = [s.decode("latin-1").split(d.element) for s in segs]
    kinds: list[str] = []
    for el in tags:
        tag = el[0].strip(_WS)
        if tag == "HL":
            kinds.append("HL" + (el[3] if len(el) > 3 else ""))
        else:
            kinds.append(tag if tag in ENVELOPE or tag == "CLM" else "")
    claim_of: list[int] = []
    k = -1
    for kind in kinds:
        k += kind == "CLM"
        claim_of.append(k)
    ends = {"HL20": {"HL20"}, "HL22": {"HL20", "HL22"}, "HL23": {"HL20", "HL22", "HL23"}}
    owners: list[frozenset[int]] = []
    region: frozenset[int] = frozenset()
    for i, kind in enumerate(kinds):
        if kind in ENVELOPE:
            region = frozenset()
        elif kind == "CLM":
            region = frozenset({claim_of[i]})
        elif kind in ends:
            found = set()
            for j in range(i + 1, len(kinds)):
                if kinds[j] in ENVELOPE or kinds[j] in ends[kind]:
                    break
                if kinds[j] == "CLM":
                    found.add(claim_of[j])
            region = frozenset(found)
        owners.append(region)
    return owners, [kind != "" for kind in kinds]


@st.composite
def base_files(draw: st.DrawFn, max_claims: int = 6) -> Base:
    """Valid claims with planted PHI, sometimes sharing billing and subscriber HL loops."""
    drawn = draw(st.lists(claims(max_lines=3), min_size=2, max_size=max_claims))
    made: list[Claim] = []
    for i, c in enumerate(drawn):
        patient = c.patient.model_copy(
            update={"member_id": f"PHIMEM{i}Q", "last_name": f"PHILAST{chr(65 + i)}",
                    "first_name": "PHIFIRST"}
        )  # fmt: skip
        update: dict = {"patient": patient}
        if made and draw(st.booleans()):
            prev = made[-1]
            update |= {"billing_npi": prev.billing_npi, "tin": prev.tin}
            if draw(st.booleans()):
                update["patient"] = prev.patient
        made.append(c.model_copy(update=update))
    d = draw(delimiter_sets())
    newline = draw(newlines)
    per_transaction = draw(st.integers(2, 4))
    data = render_claims(made, d, newline, claims_per_transaction=per_transaction)
    end = (d.segment + newline).encode()
    segs = data.split(end)
    assert segs[-1] == b""
    segs = segs[:-1]
    owners, starts = _structure(segs, d)
    batch = draw(st.sampled_from([400, 4096, 1 << 20]))
    clean = x12.read_claim_lines(data, batch_bytes=batch)
    assert clean["claim_seq"].n_unique() == len(made)
    return Base(made, d, end, segs, owners, starts, clean, batch, newline, per_transaction)


# ---------------------------------------------------------------- reading


@dataclass
class Outcome:
    frame: pl.DataFrame | None
    error: x12.X12Error | None
    report: x12.ReadReport


def _columnar(data: bytes, report: x12.ReadReport, batch: int) -> pl.DataFrame:
    return x12.read_claim_lines(data, report, batch_bytes=batch)


def _streaming(data: bytes, report: x12.ReadReport, batch: int) -> pl.DataFrame:
    return claims_to_frame(x12.iter_claims(data, report, block_size=batch))


def _read(read: Callable, data: bytes, batch: int) -> Outcome:
    report = x12.ReadReport()
    try:
        return Outcome(read(data, report, batch), None, report)
    except x12.X12Error as exc:  # anything else is a crash and fails the test
        return Outcome(None, exc, report)


def _messages(outcome: Outcome) -> str:
    r = outcome.report
    parts = [str(x) for x in (*r.errors, *r.warnings, *r.quarantined)]
    if outcome.error is not None:
        parts.append(str(outcome.error))
    return "\n".join(parts)


def read_both(data: bytes, batch: int, phi: list[str]) -> Outcome:
    """Read with both paths; assert they agree and that no message carries PHI."""
    table, typed = _read(_columnar, data, batch), _read(_streaming, data, batch)
    assert type(table.error) is type(typed.error), (table.error, typed.error)
    assert str(table.error) == str(typed.error)
    a, b = table.report, typed.report
    assert a.errors == b.errors
    if table.error is None:
        assert_frame_equal(table.frame, typed.frame)
        assert_same_reports(a, b)
        assert a.claims_read + len(a.quarantined) == a.claims_seen
    else:
        _has_location(table.error)
    text = _messages(table) + "\n" + _messages(typed)
    assert not [p for p in phi if p in text], text
    return table


def _has_location(exc: x12.X12Error) -> None:
    """File-level errors name the input and, past its first byte, the byte offset."""
    message = str(exc)
    assert message.startswith("<bytes>: "), message


def _others_equal(base: Base, out: Outcome, owners: frozenset[int]) -> None:
    assert out.error is None, out.error
    keep = ~pl.col("claim_seq").is_in(sorted(owners))
    assert_frame_equal(out.frame.filter(keep), base.clean.filter(keep))
    assert {q.claim_seq for q in out.report.quarantined} <= owners
    assert out.report.claims_seen == len(base.claims)


# ---------------------------------------------------------------- claim-level damage

HOSTILE_VALUES = [
    "", " ", "20251301", "20250230", "2025-01-01", "99999999", "00000000", "2025",
    "20250101-20241231", "20250101-", "-1", "1.2.3", "1e5", "NaN", "inf", "--5", ".", "ABC",
    "0x10", "9" * 40, "=cmd|' /C calc'!A0", "<script>alert(1)</script>", "{{7*7}}", "\u00e9\u00df",
    "\ufeff", "13", "0", "1:2", "HC", "ABK", "82", "IL", "D8", "RD8", "472", "434",
]  # fmt: skip


def _guard(base: Base, segs: list[bytes]) -> None:
    """Reject mutations that add, remove or change a loop-opening or envelope segment."""

    def shape(items: list[bytes]) -> list[tuple[str, str]]:
        out = []
        term = base.d.segment.encode()
        for raw in term.join(items).split(term):
            seg = raw.strip(_WS.encode())
            if not seg:
                continue
            el = seg.decode("utf-8", "replace").split(base.d.element)
            tag = el[0].strip(_WS)
            if tag in ENVELOPE or tag in ("HL", "CLM") or tag.startswith(("ISA", "IEA")):
                out.append((tag, el[3].strip(_WS) if tag == "HL" and len(el) > 3 else ""))
        return out

    assume(shape(segs) == shape(base.segs))


@st.composite
def claim_damage(draw: st.DrawFn) -> tuple[Base, bytes, frozenset[int], str]:
    """A base file and one mutation inside one loop (not of its opening segment)."""
    base = draw(base_files())
    candidates = [i for i, s in enumerate(base.loop_start) if not s]
    j = draw(st.sampled_from(candidates))
    seg = base.segs[j]
    el = seg.split(base.d.element.encode())
    delims = {c.encode() for c in (base.d.element, base.d.component, base.d.segment)}
    if base.d.repetition:
        delims.add(base.d.repetition.encode())
    kind = draw(st.sampled_from(["flip", "drop", "dup", "value", "huge", "bytes"]))
    segs = list(base.segs)
    if kind == "flip":
        pos = draw(st.integers(0, max(len(seg) - 1, 0)))
        new = draw(st.integers(0, 255))
        segs[j] = seg[:pos] + bytes([new]) + seg[pos + 1 :]
    elif kind == "drop":
        del segs[j]
    elif kind == "dup":
        segs.insert(j, seg)
    elif kind in ("value", "huge"):
        i = draw(st.integers(1, len(el)))
        if kind == "value":
            value = draw(st.sampled_from(HOSTILE_VALUES)).encode()
        else:
            size = draw(st.integers(200, MAX_SEGMENT_BYTES - 2000))
            value = draw(st.sampled_from([b"9", b"X", b" ", b"\xff"])) * size
        assume(not any(c in value for c in delims))
        el = [*el, b""] if i == len(el) else el
        el[i] = value
        segs[j] = base.d.element.encode().join(el)
    else:  # non-UTF-8 and other raw bytes inserted inside the segment
        pos = draw(st.integers(0, len(seg)))
        junk = draw(st.binary(min_size=1, max_size=12))
        segs[j] = seg[:pos] + junk + seg[pos:]
    _guard(base, segs)
    return base, b"".join(s + base.end for s in segs), base.owners[j], kind


@FUZZ
@given(claim_damage())
def test_damage_in_one_loop_leaves_every_other_claim_exact(case):
    base, data, owners, _kind = case
    out = read_both(data, base.batch, base.phi())
    _others_equal(base, out, owners)


@FUZZ
@given(base_files(), st.data())
def test_hl_ids_and_parents_are_not_trusted(base, data):
    """Wrong HL01/HL02/HL04 (the shared samples have wrong parents) change nothing."""
    hls = [i for i, s in enumerate(base.segs) if base.tag(s) == "HL"]
    segs = list(base.segs)
    ele = base.d.element.encode()
    for j in data.draw(st.sets(st.sampled_from(hls), min_size=1)):
        el = segs[j].split(ele)
        el += [b""] * (5 - len(el))
        for i in data.draw(st.sets(st.sampled_from([1, 2, 4]), min_size=1)):
            el[i] = data.draw(st.sampled_from([b"", b"0", b"99", b"1", b"X", b"-3", b"2"]))
        segs[j] = ele.join(el)
    out = read_both(b"".join(s + base.end for s in segs), base.batch, base.phi())
    _others_equal(base, out, frozenset())
    assert out.report.ok


# ---------------------------------------------------------------- file-level damage


@FUZZ
@given(base_files(), st.data())
def test_truncation_keeps_every_claim_before_the_cut(base, data):
    full = base.data
    cut = data.draw(st.integers(0, len(full) - 1))
    out = read_both(full[:cut], base.batch, base.phi())
    isa_end = len(base.segs[0]) + len(base.d.segment)
    if cut < isa_end:
        assert isinstance(out.error, x12.X12Error)
        return
    if out.error is not None:  # e.g. cut inside the GS or ST: the only interchange fails
        assert isinstance(out.error, x12.EnvelopeError)
        return
    complete = [k for k, end in enumerate(base.claim_ends()) if end <= cut]
    kept = out.frame.filter(pl.col("claim_seq").is_in(complete))
    assert_frame_equal(kept, base.clean.filter(pl.col("claim_seq").is_in(complete)))


NOT_X12 = [
    b"",
    b"   \r\n\t ",
    b"\xef\xbb\xbf",
    b"\xef\xbb\xbf\n\n",
    b"claim_id,procedure_code,service_date\nPHIMEM1Q,99213,2025-01-01\n",
    b'{"claims": [{"member": "PHIMEM1Q"}]}',
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    b"<?xml version='1.0'?><claim>PHILASTA</claim>",
    b"PK\x03\x04\x14\x00\x00\x00",
    b"IS",
    b"ISA",
    b"ISA*00*",
    b"\x00" * 64,
]


@FUZZ
@given(st.one_of(st.sampled_from(NOT_X12), st.binary(max_size=400)))
def test_files_that_are_not_x12_raise_a_documented_error(data):
    if data not in NOT_X12:
        assume(not data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"ISA"))
    out = read_both(data, 4096, list(PHI_MARKS))
    assert isinstance(out.error, x12.X12Error)
    assert out.frame is None


@FUZZ
@given(base_files(), st.data())
def test_delimiter_swaps(base, data):
    """Swapped consistently everywhere: the same claims. Only in the ISA or only in the
    body: a documented error or quarantined claims, never a crash, no PHI in messages."""
    d = base.d
    a, b = data.draw(st.permutations([d.element, d.component, d.segment]))[:2]
    a, b = a.encode(), b.encode()
    full = base.data
    isa_len = len(base.segs[0]) + 1
    swap = bytes.maketrans(a + b, b + a)
    where = data.draw(st.sampled_from(["everywhere", "isa", "body"]))
    if where == "everywhere":
        assume(b"\n" not in (a, b) or base.end == d.segment.encode())
        mutated = full.translate(swap)
    elif where == "isa":
        mutated = full[:isa_len].translate(swap) + full[isa_len:]
    else:
        mutated = full[:isa_len] + full[isa_len:].translate(swap)
    assume(mutated != full)
    out = read_both(mutated, base.batch, base.phi())
    if where == "everywhere":
        _others_equal(base, out, frozenset())
    elif out.error is not None:
        assert isinstance(out.error, x12.EnvelopeError)


@FUZZ
@given(base_files(), st.binary(min_size=15, max_size=15), st.sampled_from([6, 8]))
def test_non_utf8_in_the_isa_sender_and_receiver(base, raw, element):
    """ISA06/ISA08 are read as bytes: any byte that is not a delimiter is harmless."""
    d = base.d
    assume(not any(c.encode() in raw for c in (d.element, d.segment)))
    el = base.segs[0].split(d.element.encode())
    el[element] = raw
    segs = [d.element.encode().join(el), *base.segs[1:]]
    out = read_both(b"".join(s + base.end for s in segs), base.batch, base.phi())
    _others_equal(base, out, frozenset())


@FUZZ
@given(base_files(), st.sampled_from([b"\xff", b"\x80", b"A", b"1", b" "]))
def test_unusable_isa_delimiter_is_an_envelope_error(base, byte):
    full = base.data
    out = read_both(full[:3] + byte + full[4:], base.batch, base.phi())
    assert isinstance(out.error, x12.EnvelopeError)
    assert "byte 0" in str(out.error)


# ---------------------------------------------------------------- limits


@settings(FUZZ, max_examples=max(EXAMPLES // 3, 3))  # each example reads ~200 KB twice
@given(base_files(), st.data())
def test_segment_over_the_limit_quarantines_only_its_loop(base, data):
    """A segment longer than MAX_SEGMENT_BYTES is skipped: the claims of its loop are
    quarantined at its byte offset; every other claim, and the next interchange, is read
    exactly."""
    j = data.draw(st.sampled_from([i for i, s in enumerate(base.loop_start) if not s]))
    size = data.draw(st.integers(MAX_SEGMENT_BYTES + 1, 2 * MAX_SEGMENT_BYTES))
    filler = data.draw(st.sampled_from([b"X", b"9", b" "]))
    segs = list(base.segs)
    segs[j] = segs[j] + base.d.element.encode() + filler * size
    damaged = b"".join(s + base.end for s in segs)
    second = base.render(control=2)
    offset = len(b"".join(s + base.end for s in segs[:j]))
    out = read_both(damaged + second, base.batch, base.phi())
    assert out.error is None and not out.report.errors
    owners = base.owners[j]
    assert {q.claim_seq for q in out.report.quarantined} == set(owners)
    assert {(q.reason, q.location.byte_offset) for q in out.report.quarantined} <= {
        (rules.LONG_SEGMENT, offset)
    }
    n = len(base.claims)
    assert out.report.claims_seen == 2 * n
    first = out.frame.filter(pl.col("claim_seq") < n)
    assert_frame_equal(first, base.clean.filter(~pl.col("claim_seq").is_in(sorted(owners))))
    # The second interchange: the clean claims, numbered after the first one's.
    again = out.frame.filter(pl.col("claim_seq") >= n).with_columns(
        claim_seq=pl.col("claim_seq") - n,
        interchange_control=pl.lit("000000001"),
    )
    assert_frame_equal(again, base.clean)


_JUNK_TAGS = [b"CLX", b"HX", b"SBX", b"DMX", b"NX1", b"LY", b"SV9", b"ZZ", b"", b"Q", b"\x01"]


@FUZZ
@given(base_files(), st.data())
def test_damaged_tags_never_attach_a_claim_to_another_patient(base, data):
    """One segment's tag damaged (any segment but the envelope), NUL padding after some
    terminators: every claim read is its clean self (same patient, billing provider, lines),
    and every claim not read is reported: quarantined under its CLM01 hash, or located at
    its damaged CLM (a CLM whose tag is gone leaves the claim before it without an end)."""
    j = data.draw(
        st.sampled_from([i for i, s in enumerate(base.segs) if base.tag(s) not in ENVELOPE])
    )
    seg, ele = base.segs[j], base.d.element.encode()
    tag = seg.split(ele)[0]
    how = data.draw(st.sampled_from(["replace", "prefix", "cut"]))
    if how == "replace":
        new = data.draw(st.sampled_from(_JUNK_TAGS))
    elif how == "prefix":
        new = data.draw(st.sampled_from([b"\x01", b"?", b"X", b"\x7f"])) + tag
    else:
        new = tag[:-1]
    assume(new.decode("latin-1").strip() not in rules.KNOWN_TAGS)
    segs = list(base.segs)
    segs[j] = new + seg[len(tag) :]
    text = b"".join(s + base.end for s in segs)
    pad = data.draw(st.integers(0, 5))
    if pad:
        text = text.replace(base.end, base.end + b"\x00", pad)
    out = read_both(text, base.batch, base.phi())
    assert out.error is None, out.error
    key = ["claim_id", "patient_id", "birth_date", "patient_name", "tin", "billing_npi"]
    clean = base.clean.drop("claim_seq")
    read = out.frame.drop("claim_seq")
    kept = set(read["claim_id"].unique())
    # Each claim read has the patient and provider of a clean claim with its id (drawn ids
    # may repeat in a file, so any of them).
    for cid in kept:
        got = read.filter(pl.col("claim_id") == cid)
        want = clean.filter(pl.col("claim_id") == cid)
        wrong = got.select(key).join(want.select(key), on=key, how="anti", nulls_equal=True)
        assert wrong.height == 0, wrong
    located = {q.location.segment for q in out.report.quarantined}
    hashes = {q.claim_hash for q in out.report.quarantined}
    clm_segment = [i + 1 for i, s in enumerate(base.segs) if base.tag(s) == "CLM"]
    for k, c in enumerate(base.claims):
        if c.claim_id in kept:
            continue
        assert short_hash(c.claim_id) in hashes or clm_segment[k] in located, (k, j, new)
    q = out.report
    assert sum(n for _, _, n in q.quarantine_counts()) >= base.clean.height - out.frame.height - 1


def _chunks(prefix: bytes, megabytes: int) -> Iterator[bytes]:
    yield prefix
    for _ in range(megabytes):
        yield b"A" * (1 << 20)


def test_input_without_terminators_is_not_buffered_whole():
    """64 MB without a segment terminator: an error, and memory stays a few megabytes."""
    head = render_claims([]).split(b"~\n")[0] + b"~\nGS*HC*X*Y*20250101*1200*1*X*005010X222A1~\n"
    tracemalloc.start()
    try:
        with pytest.raises(x12.EnvelopeError, match=f"within {MAX_SEGMENT_BYTES} bytes"):
            list(x12.iter_claims(_chunks(head, 64)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
    with pytest.raises(x12.EnvelopeError, match="byte"):
        x12.read_claim_lines(_chunks(head, 3))


def _claim_with_phi(service_date: dt.date | None = None) -> Claim:
    """One single-line claim whose member id and last name are planted PHI (PHI_MARKS)."""
    return Claim(
        claim_id="C1",
        tin="123456789",
        billing_npi="1111111111",
        patient=Patient(member_id="PHIMEM1Q", last_name="PHILASTA"),
        lines=[ServiceLine(line_number=1, procedure_code="99213", service_date=service_date)],
    )


def test_kept_issues_are_capped_and_counted():
    """1,200 broken claims: the first MAX_ISSUES are listed, the rest counted, both paths."""
    broken = _claim_with_phi(service_date=dt.date(2025, 1, 1))
    n = MAX_ISSUES + 200
    data = render_claims([broken] * n).replace(b"DTP*472*D8*20250101", b"DTP*472*D8*2025XX01")
    for read in (_columnar, _streaming):
        report = x12.ReadReport()
        read(data, report, 1 << 20)
        assert len(report.quarantined) == MAX_ISSUES
        assert report.quarantined.total == n and report.truncated
        assert f"{n} quarantined" in report.summary()
        assert f"only the first {MAX_ISSUES}" in report.summary()
        merged = x12.ReadReport()
        merged.merge(report)
        assert len(merged.quarantined) == MAX_ISSUES and merged.quarantined.total == n


# ---------------------------------------------------------------- anything at all


@st.composite
def any_damage(draw: st.DrawFn) -> tuple[Base, bytes]:
    base = draw(base_files(max_claims=4))
    data = bytearray(base.data)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "delete", "insert", "copy", "truncate"]))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "copy":
            j = draw(st.integers(0, len(data) - 1))
            data[i:i] = data[j : j + draw(st.integers(1, 200))]
        else:
            del data[i:]
    return base, bytes(data)


@FUZZ
@given(any_damage())
def test_any_damage_is_read_or_refused_the_same_way_by_both_paths(case):
    base, data = case
    read_both(data, base.batch, base.phi())


def test_envelope_messages_show_only_code_like_values():
    """Envelope values are quoted in messages only when they look like codes or numbers."""
    claim = _claim_with_phi()
    good = render_claims([claim])
    bad = good.replace(b"ST*837*0001*005010X222A1", b"ST*837*0001*PHILASTA JOHN 19440101")
    out = read_both(bad, 4096, [*PHI_MARKS, "19440101"])
    assert "ST03=<a value of 22 characters>" in str(out.error)
    se = good.replace(b"SE*", b"SE*PHIMEM1Q-X*", 1)
    out = read_both(se, 4096, list(PHI_MARKS))
    assert any("SE01 says <a value of 10 characters>" in str(w) for w in out.report.warnings)
    out = read_both(good.replace(b"ST*837*", b"ST*835*"), 4096, [])
    assert "ST01='835'" in str(out.error)  # codes are still shown


# Inputs the fuzzer once failed on (kept as regression cases): zlib + base64 of the bytes.
# 1. A form feed in an HI code: the typed models stripped it, the columnar path kept it
#    (fixed in claims.py, commit 4c3a34c).
FOUND = [
    "eNrNVtty4jAMfc/sR/RZM8tY8jWPJgmNWxJSEi7hYb/EH79yAhRattuZfVnNwMiOcyQdHQtC70EIeLrah9XpBE3o"
    "+mLtQ9Nft7ZVUYV9tb2cIi1QICDxy78YgZf8PRt7MEDMnnuoixuwKwiQuH0f4TgjiCMRecz6AZy0MEPdPljWA29g"
    "nlKent4DFXXWNgiK929r6Md2qCGZMjAtso6TCAX0u67bbAcYKtCTMZaYMQRjXPM9v3tZZ/Wak+bggNNhp/nwBPxU"
    "rEPLwMmORyCnLSkpjctaCfjU+NA+9UPWKvDtOGwOLTQl41ihs221gioAohWUa1QpCHEYIhBZv9xCB+hgtiJMcUNK"
    "o6vD2veDT84qbJk7tiakZVM14i0rm2coHWBujSCay+u4B9D58VxbF7Ji3cDutaJ6yHUFztiFMPwkLiPCCJ4/Y1YH"
    "8MvX6IV5LVvN/ioerFibXTn53qmimbyTNqGbqUklzKQE30K5Kc7USKWsQkU6z9ZH5rHfI6sl+mKgZ2ZELwh2LYCg"
    "rBw6UJZSDcS9F5K5eQDNTnXGtrkSNte5FQmbLth15/E1vtVxEHHUMOEzu6AiYsRPcfjrL3FykjJXiEqlOPISZ+XX"
    "fRUPu/hSxn0Tly9gDC6cSQGdAhQfQllheI/bLb+jKYOkpUXp8NuaIodGihxNCqI4zCNNNcUnTS0fawqvmoLVF2rq"
    "jgfH13Pp5QFIckP5ynA/HyoKbV/c6eBkyCiuYkEq0aY1XwzgWx5NpEh3bd3td/YlyhIMLaxMp9V02ESM9qav25lt"
    "J3Jhfp4dd9c4psvqWG+iPUVxAtR0Ds9pJ5nkjGj+ogmTE2njSHJ+PFXmOXUz0ejLiUb/+0T7V/X9aaI9UF/xWH30"
    "rr7msfqgDetJgbVaHQ6bPbX9vh0d12bkQud/mmqkKus/DDLv5KaaPZHTbpzc3qB/sWretvnolsM8C40tO2/Ox3/c"
    "6bldSbKXBJKimOyIggUl78Q8/YCm0fTteSCu9u2OvL/xaB58akT5uBHy7YvLz2r+yPMtHe9l8iWRapJ+9lwleWSh"
    "8nDzZyL7DakuAAA="
]


@pytest.mark.parametrize("batch", [400, 4096, 1 << 20])
def test_inputs_the_fuzzer_found(batch):
    data = zlib.decompress(base64.b64decode("".join(FOUND)))
    out = read_both(data, batch, list(PHI_MARKS))
    assert out.error is None and out.report.claims_seen == 4
