"""Reader diagnostics found on held-out real files (issue 17 item 4).

Each shape is a hand-written 837P whose envelope counts are right, so that the shape is the
only thing the readers can warn about. Every test reads it three ways: the fast path (which
must hand the interchange to the columnar reader: the kernel never proves these clean), the
columnar reader and the streaming reader; rows and reports must agree, the warning text and
location are asserted by hand, and no patient data may appear in any message.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from mipsclaims import x12
from mipsclaims.claims import claims_to_frame
from mipsclaims.schema import empty_claim_lines
from mipsclaims.x12 import Delimiters, columnar, fast, rules, vector

# PHI planted in every fixture: none of it may reach a message.
MEMBER, LAST, FIRST, DOB = "PHIMEMBER77", "SECRETLAST", "SECRETFIRST", "19400229"
PHI = (MEMBER, LAST, FIRST, DOB)
TIN = "123456789"


def claim(clm_id: str, *, clm05: str = "11:B:1", hi: str = "HI*ABK:E119*ABF:I10") -> list[str]:
    """The segments of one claim (2300 and one 2400)."""
    return [
        f"CLM*{clm_id}*100***{clm05}*Y*A*Y*Y",
        hi,
        "LX*1",
        "SV1*HC:99213*100*UN*1***1",
        "DTP*472*D8*20250301",
    ]


def interchange(
    claims: list[list[str]], *, control: int = 1, billing_refs: tuple[str, ...] = (f"REF*EI*{TIN}",)
) -> list[str]:
    """The segments of one interchange: one transaction, one billing provider, one
    subscriber, with SE/GE/IEA counts that are right."""
    body = [
        "BHT*0019*00*1*20250101*1200*CH",
        "HL*1**20*1",
        "NM1*85*2*CLINIC*****XX*1234567893",
        *billing_refs,
        "HL*2*1*22*0",
        "SBR*P*18*******MB",
        f"NM1*IL*1*{LAST}*{FIRST}****MI*{MEMBER}",
        f"DMG*D8*{DOB}*F",
        "NM1*PR*2*MEDICARE*****PI*00000",
    ]
    for c in claims:
        body += c
    ctl = f"{control:09d}"
    return [
        "ISA*00*          *00*          *ZZ*SUBMITTER      *ZZ*RECEIVER       "
        f"*250101*1200*^*00501*{ctl}*0*P*:",
        "GS*HC*S*R*20250101*1200*1*X*005010X222A1",
        "ST*837*0001*005010X222A1",
        *body,
        f"SE*{len(body) + 2}*0001",
        "GE*1*1",
        f"IEA*1*{ctl}",
    ]


def render(segments: list[str], term: str = "~\n") -> bytes:
    return "".join(s + term for s in segments).encode()


@pytest.fixture
def kernel_refused(monkeypatch):
    """Counts the fast path's hand-overs to the columnar reader."""
    calls = []
    real = columnar.iter_claim_line_batches

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(columnar, "iter_claim_line_batches", spy)
    return calls


def read_three(data: bytes, batch: int = 1 << 20):
    """(table, report) of the fast path, after checking that the columnar reader gives the
    same table and report and the streaming reader the same claims and report entries."""
    col_report, fast_report, stream_report = x12.ReadReport(), x12.ReadReport(), x12.ReadReport()
    batches = list(columnar.iter_claim_line_batches(data, col_report, batch_bytes=batch))
    expected = pl.concat(batches, how="vertical") if batches else empty_claim_lines()
    table = fast.read_claim_lines(data, fast_report, batch_bytes=batch)
    assert_frame_equal(table, expected)
    assert fast_report == col_report
    typed = claims_to_frame(x12.iter_claims(data, stream_report, block_size=batch))
    assert_frame_equal(typed, table)
    assert sorted(map(str, stream_report.warnings)) == sorted(map(str, col_report.warnings))
    assert stream_report.quarantined == col_report.quarantined
    assert stream_report.errors == col_report.errors
    text = " ".join(str(x) for x in (*fast_report.warnings, *fast_report.quarantined))
    assert not any(p in text for p in PHI)
    return table, fast_report


def segment_at(segments: list[str], prefix: str, nth: int = 0) -> tuple[int, int]:
    """(1-based segment number, byte offset) of the ``nth`` segment starting with ``prefix``
    in ``render(segments)`` (each segment followed by ``~`` and a newline)."""
    hits = [i for i, s in enumerate(segments) if s.startswith(prefix)]
    i = hits[nth]
    return i + 1, sum(len(s) + 2 for s in segments[:i])


def test_a_clean_fixture_is_read_by_the_kernel_without_warnings(kernel_refused):
    table, report = read_three(render(interchange([claim("C1"), claim("C2")])))
    assert kernel_refused == [1]  # only the reference read in read_three
    assert table.height == 2 and report.warnings == []
    assert table["diagnosis_codes"].to_list() == [["E119", "I10"]] * 2


# ------------------------------------------------------------------ 1. HI as separate elements


def test_hi_codes_as_separate_elements_are_read_as_pairs_with_a_warning(kernel_refused):
    segs = interchange([claim("C1", hi="HI*BK*8901*BF*87200*BF:5559"), claim("C2")])
    table, report = read_three(render(segs))
    assert kernel_refused == [1, 1]  # the reference read, and the fast path's hand-over
    assert table.height == 2 and report.claims_read == 2
    assert table["diagnosis_codes"].to_list() == [["8901", "87200", "5559"], ["E119", "I10"]]
    segment, offset = segment_at(segs, "HI*BK")
    [warning] = report.warnings
    assert warning.location == x12.Location("<bytes>", segment, offset, "2300")
    assert warning.message == (
        "HI has codes written as separate elements (HI*BK*code, not "
        "HI*BK:code): 2 diagnosis code(s) read from qualifier-code element pairs, "
        "0 element(s) not read"
    )


@pytest.mark.parametrize(
    ("hi", "codes", "pairs", "unread"),
    [
        ("HI*ABK:E119*I10", ["E119"], 0, 1),  # a code without its qualifier: not guessed
        ("HI*ABK*ABF*I10", ["I10"], 1, 1),  # a qualifier without its code, then a pair
        ("HI*BK*8901*87200", ["8901"], 1, 1),  # a pair, then a lone code
        ("HI*ABK*e11.9*ABF:I10", ["E119", "I10"], 1, 0),  # the pair's code normalised
        ("HI*ABK:E119*ABF", ["E119"], 0, 1),  # a trailing qualifier alone
        ("HI*BG*01*ABK:E119", ["E119"], 0, 2),  # another qualifier split: not a diagnosis
    ],
)
def test_hi_elements_that_cannot_be_paired_are_not_read(hi, codes, pairs, unread):
    segs = interchange([claim("C1", hi=hi)])
    table, report = read_three(render(segs))
    assert table["diagnosis_codes"].to_list() == [codes]
    [warning] = report.warnings
    assert warning.location.segment == segment_at(segs, "HI*")[0]
    assert warning.message.endswith(
        f"{pairs} diagnosis code(s) read from qualifier-code element pairs, "
        f"{unread} element(s) not read"
    )


@pytest.mark.parametrize(
    "hi", ["HI*ABK:E119*ABF:I10", "HI*ABK:E119", "HI* ABK : E11.9 *ABF:I10", "HI*ABK:E119**ABF:I10"]
)
def test_normal_hi_segments_read_every_composite_without_a_warning(hi):
    table, report = read_three(render(interchange([claim("C1", hi=hi)])))
    assert report.warnings == []
    assert table["diagnosis_codes"].to_list()[0][0] == "E119"


def test_a_quarantined_claim_has_no_hi_warning():
    bad = claim("C1", hi="HI*BK*8901")
    bad[4] = "DTP*472*D8*20251399"  # not a date: the claim is quarantined
    table, report = read_three(render(interchange([bad, claim("C2")])))
    assert table["claim_id"].to_list() == ["C2"]
    assert report.warnings == [] and len(report.quarantined) == 1


def test_pairs_count_toward_the_twelve_diagnosis_limit():
    # 7 pairs are 14 elements: only HI01-HI12 are read, 6 codes; 6 + 7 is over 12.
    many = "HI*" + "*".join(f"ABF*A{i:02d}" for i in range(7))
    hi2 = "HI*" + "*".join(f"ABF:B{i:02d}" for i in range(7))
    segs = interchange([claim("C1", hi=many)])
    segs.insert(segs.index(many) + 1, hi2)
    segs[-3] = f"SE*{int(segs[-3].split('*')[1]) + 1}*0001"
    table, report = read_three(render(segs))
    assert table.height == 0
    assert [q.reason for q in report.quarantined] == [rules.TOO_MANY_DX]


# ------------------------------------------------------------------ 2. CLM05-3 missing


@pytest.mark.parametrize("clm05", ["11:B", "11:B:", "11", ""])
def test_a_missing_claim_frequency_is_read_as_1_with_a_warning(kernel_refused, clm05):
    segs = interchange([claim("C1"), claim("C2", clm05=clm05)])
    table, report = read_three(render(segs))
    assert kernel_refused == [1, 1]
    assert table["frequency"].to_list() == ["1", "1"] and table.height == 2
    segment, offset = segment_at(segs, "CLM*C2")
    [warning] = report.warnings
    assert warning.location == x12.Location("<bytes>", segment, offset, "2300")
    assert warning.message == (
        "CLM05-3 (claim frequency code) is missing: read as 1 (original claim)"
    )


def test_a_given_frequency_is_kept_without_a_warning():
    table, report = read_three(render(interchange([claim("C1", clm05="11:B:7")])))
    assert table["frequency"].to_list() == ["7"] and report.warnings == []


# ------------------------------------------------------------------ 3. second REF*EI


@pytest.mark.parametrize(("second", "same"), [("987654321", False), (TIN, True)])
def test_a_second_ref_ei_is_ignored_with_a_warning(kernel_refused, second, same):
    segs = interchange(
        [claim("C1"), claim("C2")], billing_refs=(f"REF*EI*{TIN}", f"REF*EI*{second}")
    )
    table, report = read_three(render(segs))
    assert kernel_refused == [1, 1]
    assert table["tin"].to_list() == [TIN, TIN]
    segment, offset = segment_at(segs, "REF*EI", 1)
    [warning] = report.warnings
    assert warning.location == x12.Location("<bytes>", segment, offset, "2010AA")
    value = "the same" if same else "a different"
    assert warning.message == (
        f"the billing provider (2010AA) has a second REF*EI (tax id), with {value} value: "
        "the first one is used, this one is ignored"
    )
    assert TIN not in warning.message and second not in warning.message


def test_an_empty_first_ref_ei_leaves_the_second_in_use_without_a_warning():
    segs = interchange([claim("C1")], billing_refs=("REF*EI", f"REF*EI*{TIN}"))
    table, report = read_three(render(segs))
    assert table["tin"].to_list() == [TIN] and report.warnings == []


def test_each_billing_provider_has_its_own_first_ref_ei():
    one = interchange([claim("C1")], billing_refs=(f"REF*EI*{TIN}",))
    st_at = one.index("ST*837*0001*005010X222A1")
    body = one[st_at + 1 : -3]
    second = [s.replace("HL*1**20", "HL*3**20").replace("HL*2*1*22", "HL*4*3*22") for s in body[1:]]
    second = [s.replace(f"REF*EI*{TIN}", "REF*EI*555555555") for s in second]
    second = [s.replace("CLM*C1", "CLM*C2") for s in second]
    segs = one[: st_at + 1] + body + second + one[-3:]
    segs[-3] = f"SE*{len(body) + len(second) + 2}*0001"
    table, report = read_three(render(segs))
    assert table["tin"].to_list() == [TIN, "555555555"] and report.warnings == []


# ------------------------------------------------------------------ 4. IEA without terminator


@pytest.mark.parametrize("term", ["~\n", "~", "\n"])
@pytest.mark.parametrize("batch", [300, 1 << 20])
def test_an_iea_without_its_terminator_loses_no_claim(kernel_refused, term, batch):
    segs = interchange([claim("C1"), claim("C2")], control=1)
    segs += interchange([claim("C3"), claim("C4"), claim("C5")], control=2)
    whole = render(segs, term)
    cut = whole[: whole.rindex(b"IEA*1*000000002") + len(b"IEA*1*000000002")]
    full, _ = read_three(whole, batch)
    table, report = read_three(cut, batch)
    assert_frame_equal(table, full)
    assert table["claim_id"].to_list() == ["C1", "C2", "C3", "C4", "C5"]
    assert report.claims_read == 5 and not report.quarantined and not report.errors
    [warning] = report.warnings
    assert warning.message == (
        "IEA present, but the segment terminator is missing at the end of the input "
        "(the interchange is read)"
    )
    # Found by the chunker, before segments are numbered: located by its byte offset.
    assert warning.location == x12.Location("<bytes>", -1, cut.rindex(b"IEA*"))
    if batch == 1 << 20 and term == "~\n":
        # The reference reads of both inputs, and one hand-over: the unterminated one's.
        assert len(kernel_refused) == 3


def test_trailing_whitespace_after_an_unterminated_iea_is_still_that_warning():
    data = render(interchange([claim("C1")]))[:-2] + b"\r\n  "
    table, report = read_three(data)
    assert table.height == 1
    assert [w.message for w in report.warnings] == [rules.UNTERMINATED_IEA]


@pytest.mark.parametrize("gap", [b"", b"\n", b"\r\n  "])
def test_an_iea_without_its_terminator_before_the_next_isa_loses_no_claim(gap):
    first = render(interchange([claim("C1"), claim("C2")], control=1))
    second = render(interchange([claim("C3")], control=2))
    whole = first + second
    data = first[:-2] + gap + second  # "IEA*1*000000001" + gap + "ISA*..."
    full, _ = read_three(whole)
    table, report = read_three(data, batch=700)
    assert_frame_equal(table, full)
    assert report.interchanges == 2 and not report.errors and not report.quarantined
    [warning] = report.warnings
    assert warning.message == (
        "IEA present, but its segment terminator is missing before the next ISA "
        "(both interchanges are read)"
    )
    assert warning.location == x12.Location("<bytes>", -1, first.rindex(b"IEA*"))


def test_a_missing_iea_is_still_no_iea_trailer():
    data = render(interchange([claim("C1")])[:-1])
    table, report = read_three(data)
    assert table.height == 1
    assert [w.message for w in report.warnings] == ["interchange has no IEA trailer"]


# ------------------------------------------------------------------ the kernel's own check


def first_unproven(data: bytes) -> int | None:
    """The kernel's first segment (0-based) not proven clean, on the whole input at once
    (as the chunker gives it: no whitespace after the last terminator)."""
    block = vector.read_block(
        data.rstrip(b"\n"),
        Delimiters(),
        final=True,
        claim_seq0=0,
        source="t",
        controls=[],
        control0="",
    )
    return block.bad


@pytest.mark.parametrize(
    ("segs", "prefix", "nth"),
    [
        (interchange([claim("C1"), claim("C2", hi="HI*BK*8901")]), "HI*BK", 0),
        (interchange([claim("C1"), claim("C2", clm05="11:B")]), "CLM*C2", 0),
        (interchange([claim("C1")], billing_refs=(f"REF*EI*{TIN}",) * 2), "REF*EI", 1),
    ],
)
def test_the_kernel_names_the_shape_as_its_first_unproven_segment(segs, prefix, nth):
    assert first_unproven(render(interchange([claim("C1"), claim("C2")]))) is None
    assert first_unproven(render(segs)) == segment_at(segs, prefix, nth)[0] - 1


def test_the_kernel_refuses_an_iea_without_its_terminator():
    one, two = (render(interchange([claim(f"C{k}")], control=k)) for k in (1, 2))
    assert first_unproven(one + two) is None
    n_one = len(interchange([claim("C1")]))
    assert first_unproven(one[:-2]) is not None  # at the end of the input
    assert first_unproven(one[:-2] + b"\n" + two) == n_one - 1  # the IEA runs into the ISA
    assert first_unproven(one[:-2] + two) == n_one - 1


# ------------------------------------------------------------------ all shapes at once


def test_every_shape_in_one_file_between_clean_interchanges(kernel_refused):
    clean = interchange([claim("A1")], control=1)
    odd = interchange(
        [claim("B1", clm05="11:B", hi="HI*BK*8901*BF*87200")],
        control=2,
        billing_refs=(f"REF*EI*{TIN}", "REF*EI*987654321"),
    )
    last = interchange([claim("C1")], control=3)
    data = render(clean + odd + last)[:-2]
    table, report = read_three(data, batch=700)
    assert table["claim_id"].to_list() == ["A1", "B1", "C1"]
    assert table["frequency"].to_list() == ["1", "1", "1"]
    assert table["diagnosis_codes"].to_list()[1] == ["8901", "87200"]
    messages = [w.message for w in report.warnings]
    assert len(messages) == 4
    assert messages.count(rules.NO_FREQUENCY) == 1
    assert sum(m.startswith("HI has codes") for m in messages) == 1
    assert messages.count(rules.UNTERMINATED_IEA) == 1
    assert sum("second REF*EI" in m for m in messages) == 1


# ------------------------------------------------------------------ property: HI elements

ELEMENT = st.sampled_from(["ABK", "ABF", "BK", "BF", "BG", "E119", "i10", "8901", "", " ", "."])
COMPOSITE = st.sampled_from(["ABK:E119", "ABF:I10", "BF:5559", "BG:01", "ABF:", ":X1"])


# Other delimiters (element, component, terminator): none of them occurs in the fixture.
DELIMITERS = st.sampled_from([("*", ":", "~\n"), ("|", ">", "'"), ("!", "}", "\n")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(ELEMENT, COMPOSITE), min_size=1, max_size=12), DELIMITERS)
def test_any_hi_elements_read_the_same_three_ways(elements, delimiters):
    ele, comp, term = delimiters
    hi = "HI*" + "*".join(elements)
    data = render(interchange([claim("C1", hi=hi)]), term)
    data = data.replace(b"*", ele.encode()).replace(b":", comp.encode())
    table, report = read_three(data)
    composites = [
        (k, rules.normalise_code(e.split(":")[1].strip()))
        for k, e in enumerate(elements)
        if ":" in e and e.split(":")[0].strip() in rules.DIAGNOSIS_QUALIFIERS
    ]
    pairs, unread = rules.split_hi_codes([e.strip() for e in elements], ":")
    expected = [code for _, code in sorted(composites + pairs) if code]
    assert table["diagnosis_codes"].to_list() == [expected]
    bare = [e for e in elements if e.strip() and ":" not in e]
    assert [w.message for w in report.warnings] == (
        [rules.split_hi_message(len(pairs), unread)] if bare else []
    )
    assert unread + 2 * len(pairs) == len(bare)


def test_birth_date_in_the_fixture_is_real():
    assert dt.date(1940, 2, 29).strftime("%Y%m%d") == DOB  # a valid date: claims are read


def test_past_the_list_cap_warnings_are_counted_the_same_three_ways():
    import re

    from mipsclaims.synth import SynthConfig, synthetic_837
    from mipsclaims.x12.report import MAX_ISSUES

    data = synthetic_837(SynthConfig(claims=1100, seed=2))
    data, n = re.subn(rb":B:[0-9]\*", b":B*", data)
    assert n == 1100
    table, report = read_three(data, batch=64 * 1024)
    assert table["frequency"].unique().to_list() == ["1"]
    assert (len(report.warnings), report.warnings.total) == (MAX_ISSUES, 1100)
    stream_report = x12.ReadReport()
    for _ in x12.iter_claims(data, stream_report):
        pass
    assert stream_report.warnings.total == 1100
    assert set(map(str, stream_report.warnings)) == set(map(str, report.warnings))
