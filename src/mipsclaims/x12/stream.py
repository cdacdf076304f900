"""Streaming path: 837P segments -> typed :class:`~mipsclaims.claims.Claim`, one at a time.

A plain state machine over segments, for integrators and ``check_claim``. Loops are
tracked from the HL hierarchy (20 billing provider, 22 subscriber, 23 dependent) and from
the segments that open the 2300/2320/2400 loops; inside a loop, the last NM1 entity code
says which sub-loop (2010AA, 2310B, 2420A, ...) a REF or DMG belongs to. It must agree
with the columnar path (:mod:`.columnar`); a property test compares them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from ..claims import Claim, Patient, ServiceLine
from ..schema import pseudonymise_ssn, short_hash
from . import rules
from .envelope import (
    DEFAULT_BLOCK,
    ENVELOPE_TAGS,
    EnvelopeTracker,
    Source,
    iter_pieces,
    source_name,
)
from .report import EnvelopeError, Issue, Location, QuarantinedClaim, ReadReport, total

_WS = " \t\r\n"
_WSB = b" \t\r\n"
_LEAD = rules.PADDING.encode()  # what may come between a terminator and the next tag


@dataclass
class _Level:
    """First non-empty values seen in one HL loop (2000A, 2000B or 2000C)."""

    values: dict[str, str] = field(default_factory=dict)

    def set(self, key: str, value: str) -> None:
        if value and key not in self.values:
            self.values[key] = value

    def get(self, key: str) -> str | None:
        return self.values.get(key)


@dataclass
class _Line:
    segment: int
    offset: int
    number: str
    sv1: list[str] | None = None
    period: tuple[dt.date, dt.date] | None = None
    rendering: str | None = None


@dataclass
class _ClaimState:
    seq: int
    segment: int
    offset: int
    clm: list[str]
    billing: _Level | None
    subscriber: _Level | None
    dependent: _Level | None
    rendering: str | None = None
    period: tuple[dt.date, dt.date] | None = None
    diagnoses: list[str] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    error: tuple[int, int, str, str] | None = None  # segment, offset, loop, reason
    notes: list[tuple[int, int, str, str]] = field(default_factory=list)  # warnings if read
    damage: tuple[int, int, str, str] | None = None  # the first damage: wins over any error

    def fail(self, segment: int, offset: int, loop: str, reason: str) -> None:
        if self.error is None:
            self.error = (segment, offset, loop, reason)


# HL level -> depth of its loop, and loop names for locations.
_DEPTH = {"20": 1, "22": 2, "23": 3}
_LOOP_OF_MAJOR = {"HL20": "2000A", "HL22": "2000B", "HL23": "2000C"}


def _el(el: list[str], i: int) -> str:
    return el[i].strip(_WS) if len(el) > i else ""


class _Reader:
    def __init__(self, source: Source, report: ReadReport, claim_seq_start: int) -> None:
        self.source = source
        self.name = source_name(source)
        self.report = report
        self.tracker = EnvelopeTracker(self.name, report)
        self.seq = claim_seq_start
        self.segment = 0
        self.major = "ENV"
        self.entity = ""
        self.billing: _Level | None = None
        self.subscriber: _Level | None = None
        self.dependent: _Level | None = None
        self.claim: _ClaimState | None = None
        self.line: _Line | None = None
        self.control = ""
        self._comp = ":"
        # Structure in doubt (after a damaged segment), per HL depth (1 = 2000A, 2 = 2000B,
        # 3 = 2000C): the latest damage of that depth, as a claim error; every claim opened
        # while any is active is quarantined with the earliest of them.
        self.doubt: dict[int, tuple[int, int, str, str]] = {}
        # The last damaged segment outside a claim since the last CLM, HL or envelope
        # segment: when a service line follows, it was probably the CLM (see _pseudo_claim).
        self.pending: tuple[int, int, list[str], str] | None = None

    def run(self, block_size: int) -> Iterator[Claim]:
        skip_interchange = -1
        for piece in iter_pieces(self.source, self.report, block_size):
            self.control = piece.control
            d = piece.delimiters
            self._comp = d.component
            term = d.segment.encode("latin-1")
            offset = piece.byte_offset
            for raw in piece.data.split(term):
                start = offset
                offset += len(raw) + len(term)
                stripped = raw.lstrip(_LEAD).rstrip(_WSB)
                if not stripped:
                    continue
                el = stripped.decode("utf-8", "replace").split(d.element)
                tag = el[0].strip(_WS)
                if not tag and not any(el[1:14]):
                    continue
                self.segment += 1
                if piece.interchange == skip_interchange:
                    continue
                seg_offset = start + len(raw) - len(raw.lstrip(_LEAD))
                if tag in ENVELOPE_TAGS:
                    yield from self._close()
                    self.major, self.entity = "ENV", ""
                    self.doubt.clear()
                    self.pending = None
                    if tag == "ST":
                        self.billing = self.subscriber = self.dependent = None
                    problem = self.tracker.feed(tag, el, self.segment, seg_offset)
                    if problem:
                        self.tracker.fail(self.segment, seg_offset, problem)
                        skip_interchange = piece.interchange
                    continue
                yield from self._segment(tag, el, seg_offset, d.component)
            if piece.final:
                yield from self._close()

    def _segment(self, tag: str, el: list[str], offset: int, comp: str) -> Iterator[Claim]:
        n = self.segment
        hl_level = None
        if tag == "HL" or tag not in rules.KNOWN_TAGS:
            hl_level = rules.damaged_hl_level(tag, _el(el, 1), _el(el, 3))
            if hl_level is None:  # damage that is not an HL: in doubt from here
                self._damaged(tag, el, n, offset)
                return
        if hl_level is not None:
            yield from self._close()
            self.pending = None
            level = hl_level
            depth = _DEPTH.get(level, 1)  # an HL of unknown level may have been an HL20
            for d in [d for d in self.doubt if d >= depth]:
                del self.doubt[d]
            if tag != "HL" or level == "":
                loop = _LOOP_OF_MAJOR.get("HL" + level, "")
                self.doubt[depth] = (n, offset, loop, rules.damage_reason(tag))
            self.major, self.entity = "HL" + level, ""
            if level == "20":
                self.billing, self.subscriber, self.dependent = _Level(), None, None
            elif level == "22":
                self.subscriber, self.dependent = _Level(), None
            elif level == "23":
                self.dependent = _Level()
            return
        if tag == "CLM":
            yield from self._close()
            self.pending = None
            self.major, self.entity = "2300", ""
            self.report.claims_seen += 1
            self.claim = _ClaimState(
                self.seq, n, offset, el, self.billing, self.subscriber, self.dependent
            )
            if self.doubt:
                self.claim.damage = min(self.doubt.values())
            self.seq += 1
            return
        if tag == "LX":
            if self.claim is None and self.pending is not None:
                self._pseudo_claim()
            if self.claim is None:  # an orphan LX opens no loop
                self._warn(offset, "service line (LX) outside a claim ignored")
                return
            self.major, self.entity = "2400", ""
            self.line = _Line(n, offset, _el(el, 1))
            self.claim.lines.append(self.line)
            return
        if tag == "SBR" and self.major in ("2300", "2320"):
            self.major, self.entity = "2320", ""
            return
        if tag == "NM1":
            self.entity = _el(el, 1)
        major, entity, claim = self.major, self.entity, self.claim
        if major == "HL20" and self.billing is not None:
            if tag == "NM1" and entity == "85":
                self.billing.set("npi", _el(el, 9))
            elif tag == "REF" and entity == "85" and _el(el, 1) in ("EI", "SY"):
                used = self.billing.get("EI")
                if _el(el, 1) == "EI" and used and _el(el, 2):
                    same = used == _el(el, 2)
                    self._warn(offset, rules.second_ei_message(same), "2010AA")
                self.billing.set(_el(el, 1), _el(el, 2))
        elif major == "HL22" and self.subscriber is not None:
            self._patient(self.subscriber, "IL", tag, entity, el)
            if tag == "SBR":
                self.subscriber.set("filing", _el(el, 9))
            elif tag == "NM1" and entity == "PR":
                self.subscriber.set("payer", _el(el, 9))
            elif tag == "NM1" and entity == "IL":
                self.subscriber.set("member", _el(el, 9))
        elif major == "HL23" and self.dependent is not None:
            self._patient(self.dependent, "QC", tag, entity, el)
        elif major == "2300" and claim is not None:
            if tag == "HI":
                codes = []
                for k, element in enumerate(el[1:13]):  # HI01-HI12
                    parts = element.split(comp)
                    if len(parts) > 1 and parts[0].strip(_WS) in rules.DIAGNOSIS_QUALIFIERS:
                        code = rules.normalise_code(parts[1].strip(_WS))
                        if code:
                            codes.append((k, code))
                if not all(comp in e or not e.strip(_WS) for e in el[1:13]):  # any bare one
                    elements = [e.strip(_WS) for e in el[1:13]]
                    pairs, unread = rules.split_hi_codes(elements, comp)
                    message = rules.split_hi_message(len(pairs), unread)
                    claim.notes.append((n, offset, "2300", message))
                    codes += pairs
                claim.diagnoses.extend(code for _, code in sorted(codes))
            elif tag == "NM1" and entity == "82":
                claim.rendering = claim.rendering or (_el(el, 9) or None)
            elif tag == "DTP" and _el(el, 1) == "434":
                period = rules.parse_period(_el(el, 2), _el(el, 3))
                if period is None:
                    claim.fail(n, offset, "2300", rules.BAD_CLAIM_DATE)
                claim.period = claim.period or period
            elif tag == "SV1":
                claim.fail(n, offset, "2300", rules.SV1_OUTSIDE_LINE)
        elif major == "2400" and claim is not None and self.line is not None:
            line = self.line
            if tag == "SV1":
                self._check_sv1(claim, el, offset, comp)
                line.sv1 = line.sv1 or el
            elif tag == "DTP" and _el(el, 1) == "472":
                period = rules.parse_period(_el(el, 2), _el(el, 3))
                if period is None:
                    claim.fail(n, offset, "2400", rules.BAD_SERVICE_DATE)
                line.period = line.period or period
            elif tag == "NM1" and entity == "82":
                line.rendering = line.rendering or (_el(el, 9) or None)

    def _patient(self, level: _Level, code: str, tag: str, entity: str, el: list[str]) -> None:
        if tag == "NM1" and entity == code:
            level.set("last", _el(el, 3))
            level.set("first", _el(el, 4))
        elif tag == "DMG" and entity == code:
            level.set("dob", _el(el, 2))
            level.set("sex", _el(el, 3))

    def _check_sv1(self, claim: _ClaimState, el: list[str], offset: int, comp: str) -> None:
        n = self.segment
        parts = _el(el, 1).split(comp)
        charge, units = _el(el, 2), _el(el, 4)
        pointers = [p.strip(_WS) for p in _el(el, 7).split(comp)]
        if len(parts) < 2 or not parts[1].strip(_WS):
            claim.fail(n, offset, "2400", rules.NO_PROCEDURE)
        elif charge and not rules.is_number(charge):
            claim.fail(n, offset, "2400", rules.BAD_CHARGE)
        elif units and not rules.is_number(units):
            claim.fail(n, offset, "2400", rules.BAD_UNITS)
        elif not all(rules.is_pointer(p) for p in pointers if p):
            claim.fail(n, offset, "2400", rules.BAD_POINTER)

    def _damaged(self, tag: str, el: list[str], n: int, offset: int) -> None:
        """A damaged segment that is not an HL: the claim it is in is quarantined; outside
        a claim, every claim of the HL loop it is in (it may have been an NM1, a DMG, ...)."""
        reason = rules.damage_reason(tag)
        if self.claim is not None:
            self.claim.damage = self.claim.damage or (n, offset, self.major, reason)
        else:
            depth = _DEPTH.get(self.major[2:], 1) if self.major.startswith("HL") else 1
            self.doubt[depth] = (n, offset, _LOOP_OF_MAJOR.get(self.major, ""), reason)
            self.pending = (n, offset, el, tag)

    def _pseudo_claim(self) -> None:
        """A service line after a damaged segment outside any claim: that segment is taken
        for the claim's (damaged) CLM, so that the lost claim is counted and quarantined
        (with its lines, under the hash of its element 1, the CLM01 if it was a CLM)."""
        assert self.pending is not None
        n, offset, el, tag = self.pending
        self.pending = None
        self.report.claims_seen += 1
        clm01 = _el(el, 1) if tag != rules.LONG_TAG else ""
        self.claim = _ClaimState(
            self.seq, n, offset, [tag, clm01], self.billing, self.subscriber, self.dependent
        )
        self.seq += 1
        self.claim.damage = min(self.doubt.values())

    def _warn(self, offset: int, message: str, loop: str = "") -> None:
        """A warning at the current segment."""
        where = Location(self.name, self.segment, offset, loop)
        self.report.warnings.append(Issue(where, message))

    def _close(self) -> Iterator[Claim]:
        claim, self.claim, self.line = self.claim, None, None
        if claim is None:
            return
        reason = _claim_row_error(claim)
        if claim.damage is not None:  # damage explains any other error of the claim
            claim.error = claim.damage
        elif reason:  # the CLM segment comes first, so its error wins
            claim.error = (claim.segment, claim.offset, "2300", reason)
        else:
            line_error = _line_error(claim)
            if line_error and (claim.error is None or claim.error[0] > line_error[0]):
                claim.error = line_error
        if claim.error is None:
            try:
                built = self._build(claim)
            except ValidationError as exc:  # defensive: the rules above should prevent this
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                claim.error = (claim.segment, claim.offset, "2300", f"invalid {where}")
            else:
                self.report.claims_read += 1
                self.report.lines_read += len(built.lines)
                self._notes(claim)
                yield built
                return
        segment, offset, loop, reason = claim.error
        self.report.quarantined.append(
            QuarantinedClaim(
                claim.seq,
                short_hash(_el(claim.clm, 1)),
                Location(self.name, segment, offset, loop),
                reason,
                len(claim.lines),
            )
        )

    def _notes(self, claim: _ClaimState) -> None:
        """The warnings of a claim that is read (a quarantined claim's are moot)."""
        notes = list(claim.notes)
        clm05 = _el(claim.clm, 5).split(self._comp)
        if not (clm05[2].strip(_WS) if len(clm05) > 2 else ""):
            notes.append((claim.segment, claim.offset, "2300", rules.NO_FREQUENCY))
        for segment, offset, loop, message in sorted(notes):
            where = Location(self.name, segment, offset, loop)
            self.report.warnings.append(Issue(where, message))

    def _build(self, claim: _ClaimState) -> Claim:
        comp = self._comp
        billing = claim.billing or _Level()
        sub = claim.subscriber or _Level()
        who = claim.dependent or sub
        clm05 = _el(claim.clm, 5).split(comp)
        ssn = billing.get("SY")
        tin = billing.get("EI") or (pseudonymise_ssn(ssn) if ssn else None)
        patient = Patient(
            member_id=sub.get("member") or "",
            last_name=who.get("last") or "",
            first_name=who.get("first") or "",
            birth_date=rules.parse_date(who.get("dob") or ""),
            sex=who.get("sex"),
            is_dependent=claim.dependent is not None,
        )
        lines = []
        for line in claim.lines:
            sv1 = line.sv1 or []
            parts = [p.strip(_WS) for p in _el(sv1, 1).split(comp)]
            period = line.period or claim.period
            lines.append(
                ServiceLine(
                    line_number=int(line.number),
                    procedure_code=parts[1],
                    modifiers=parts[2:6],
                    place_of_service=_el(sv1, 5) or None,
                    charge=rules.parse_number(_el(sv1, 2)),
                    units=rules.parse_number(_el(sv1, 4)),
                    service_date=period[0] if period else None,
                    service_date_end=period[1] if period else None,
                    diagnosis_pointers=[
                        int(p) for p in (x.strip(_WS) for x in _el(sv1, 7).split(comp)) if p
                    ],
                    rendering_npi=line.rendering,
                )
            )
        return Claim(
            claim_id=_el(claim.clm, 1),
            frequency=(clm05[2].strip(_WS) if len(clm05) > 2 else "") or "1",
            filing_indicator=sub.get("filing"),
            payer_id=sub.get("payer"),
            tin=tin,
            billing_npi=billing.get("npi"),
            rendering_npi=claim.rendering,
            place_of_service=clm05[0].strip(_WS) or None,
            patient=patient,
            diagnosis_codes=claim.diagnoses,
            lines=lines,
            source=self.name,
            interchange_control=self.control,
            claim_seq=claim.seq,
        )


def _claim_row_error(claim: _ClaimState) -> str | None:
    """Checks attributed to the CLM segment, in rules order."""
    who = claim.dependent or claim.subscriber
    if not _el(claim.clm, 1):
        return rules.NO_CLAIM_ID
    if claim.subscriber is None:
        return rules.NOT_IN_SUBSCRIBER
    if not claim.subscriber.get("member"):
        return rules.NO_MEMBER_ID
    dob = who.get("dob") if who else None
    if dob and rules.parse_date(dob) is None:
        return rules.BAD_BIRTH_DATE
    if not claim.lines:
        return rules.NO_LINES
    if len(claim.diagnoses) > 12:
        return rules.TOO_MANY_DX
    return None


def _line_error(claim: _ClaimState) -> tuple[int, int, str, str] | None:
    """The first LX-segment error of the claim (checked when the claim ends)."""
    for line in claim.lines:
        if not rules.is_line_number(line.number):
            return (line.segment, line.offset, "2400", rules.BAD_LINE_NUMBER)
        if line.sv1 is None:
            return (line.segment, line.offset, "2400", rules.NO_SV1)
    return None


def iter_claims(
    source: Source,
    report: ReadReport | None = None,
    *,
    claim_seq_start: int = 0,
    block_size: int = DEFAULT_BLOCK,
) -> Iterator[Claim]:
    """Yield the claims of an 837P input one at a time (bad claims go to ``report``).

    ``source`` is a path, bytes, a binary file object or an iterable of byte chunks.
    Raises :class:`~.report.EnvelopeError` when no interchange of the input could be read.
    """
    report = report if report is not None else ReadReport()
    reader = _Reader(source, report, claim_seq_start)
    report.sources.append(reader.name)
    errors_before = len(report.errors)
    interchanges_before = report.interchanges
    yield from reader.run(block_size)
    _raise_if_nothing_read(report, errors_before, interchanges_before)


def _raise_if_nothing_read(report: ReadReport, errors_before: int, inter_before: int) -> None:
    """Raise the first new error when every interchange of this input failed.

    ``errors_before`` is the error count before the read (the kept ones; a report that
    already dropped errors, see MAX_ISSUES, is a merged one and not passed here).
    """
    new = total(report.errors) - errors_before
    if new > 0 and new >= report.interchanges - inter_before:
        first = report.errors[errors_before] if errors_before < len(report.errors) else None
        raise EnvelopeError(str(first) if first else f"{new} interchanges failed")
