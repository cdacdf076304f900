"""Exception types and the read report of the 837P reader.

Every message here is PHI-free: claims are named by position and a short hash of CLM01,
segments by number and byte offset, never by the names or ids they carry.

The lists of a :class:`ReadReport` keep at most :data:`MAX_ISSUES` entries each and count
the rest, so a pathological file (every claim broken) cannot grow memory without bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Self

from ..errors import MipsClaimsError

#: Entries kept in each list of a :class:`ReadReport` (quarantined, warnings, errors).
MAX_ISSUES = 1000


class X12Error(MipsClaimsError):
    """Base of every error the 837P reader raises (input that cannot be read as X12)."""


class EnvelopeError(X12Error):
    """An ISA/GS/ST envelope that is malformed or not an 837P 005010X222(A1) transaction."""


@dataclass(frozen=True)
class Location:
    """Where something is in the input: file, 1-based segment number, byte offset, loop."""

    source: str
    segment: int
    byte_offset: int
    loop: str = ""

    def __str__(self) -> str:
        if self.loop == "row":  # flat files: a 1-based line of the file (header = 1)
            return f"{self.source}: row {self.segment}"
        if self.segment < 0:  # found by the chunker, before segments are numbered
            return f"{self.source}: byte {self.byte_offset}"
        loop = f", loop {self.loop}" if self.loop else ""
        return f"{self.source}: segment {self.segment} (byte {self.byte_offset}){loop}"


@dataclass(frozen=True)
class Issue:
    """A warning or an interchange-level error, with its location."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


@dataclass(frozen=True)
class QuarantinedClaim:
    """A claim left out of the output because of malformed data, and why."""

    claim_seq: int
    claim_hash: str
    location: Location
    reason: str
    lines: int = 0  # service lines (LX) of the claim left out with it

    @property
    def reference(self) -> str:
        return f"claim #{self.claim_seq} ({self.claim_hash})"

    def __str__(self) -> str:
        return f"{self.reference} quarantined at {self.location}: {self.reason}"


class CappedList(list[Any]):
    """A list that keeps its first ``cap`` items and only counts the ones after (``dropped``)."""

    cap: int = MAX_ISSUES  # class defaults: copy and pickle append before __dict__ is set
    dropped: int = 0

    def __init__(self, items: Iterable[Any] = (), cap: int = MAX_ISSUES) -> None:
        super().__init__()
        self.cap = cap
        self.dropped = 0
        self.extend(items)

    def append(self, item: Any) -> None:
        if len(self) < self.cap:
            super().append(item)
        else:
            self.dropped += 1

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.append(item)
        self.dropped += getattr(items, "dropped", 0)

    # ignore: mypy checks a list subclass's __iadd__ against list.__add__, whose result is
    # generic over the other list's items; += must still cap, so list's C __iadd__ won't do.
    def __iadd__(self, items: Iterable[Any]) -> Self:  # type: ignore[misc]
        self.extend(items)
        return self

    @property
    def total(self) -> int:
        """Entries seen: kept plus dropped."""
        return len(self) + self.dropped


class QuarantineList(CappedList):
    """The quarantined claims: capped like the others, but claims and lines are counted per
    reason for every entry, kept or dropped (:meth:`ReadReport.quarantine_counts`)."""

    counts: dict[str, list[int]]

    def __init__(self, items: Iterable[Any] = (), cap: int = MAX_ISSUES) -> None:
        self.counts = {}
        super().__init__(items, cap)

    def append(self, item: Any) -> None:
        self._count(item.reason, 1, getattr(item, "lines", 0))
        super().append(item)

    def extend(self, items: Iterable[Any]) -> None:
        counts = getattr(items, "counts", None)
        if counts is None:  # a plain iterable: count each entry
            for item in items:
                self.append(item)
            return
        for item in items:  # kept entries of another QuarantineList: counted below
            CappedList.append(self, item)
        self.dropped += getattr(items, "dropped", 0)
        for reason, (claims, lines) in counts.items():
            self._count(reason, claims, lines)

    def _count(self, reason: str, claims: int, lines: int) -> None:
        entry = self.counts.setdefault(reason, [0, 0])
        entry[0] += claims
        entry[1] += lines


def total(items: list[Any]) -> int:
    """How many entries ``items`` saw (a plain list, or a :class:`CappedList` that dropped some)."""
    return len(items) + getattr(items, "dropped", 0)


@dataclass
class ReadReport:
    """What a read saw: counts, quarantined claims, warnings and failed interchanges."""

    sources: list[str] = field(default_factory=list)
    interchanges: int = 0
    transactions: int = 0
    claims_seen: int = 0
    claims_read: int = 0
    lines_read: int = 0
    quarantined: list[QuarantinedClaim] = field(default_factory=QuarantineList)
    warnings: list[Issue] = field(default_factory=CappedList)
    errors: list[Issue] = field(default_factory=CappedList)

    def __post_init__(self) -> None:
        if not isinstance(self.quarantined, QuarantineList):
            self.quarantined = QuarantineList(self.quarantined)
        for name in ("warnings", "errors"):
            value = getattr(self, name)
            if not isinstance(value, CappedList):
                setattr(self, name, CappedList(value))

    @property
    def ok(self) -> bool:
        """True when nothing was quarantined and no interchange failed."""
        return not self.quarantined and not self.errors

    def merge(self, other: ReadReport) -> None:
        """Add ``other`` (a later input) to this report."""
        self.sources.extend(other.sources)
        self.interchanges += other.interchanges
        self.transactions += other.transactions
        self.claims_seen += other.claims_seen
        self.claims_read += other.claims_read
        self.lines_read += other.lines_read
        self.quarantined.extend(other.quarantined)
        self.warnings.extend(other.warnings)
        self.errors.extend(other.errors)

    def take(self) -> ReadReport:
        """A report of everything noted so far; this one starts again empty (same object,
        so whoever writes to it keeps writing here)."""
        taken = ReadReport()
        taken.merge(self)
        empty = ReadReport()
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(empty, name))
        return taken

    def summary(self) -> str:
        text = (
            f"{self.claims_read} claims ({self.lines_read} lines) read from "
            f"{len(self.sources)} source(s); {total(self.quarantined)} quarantined, "
            f"{total(self.warnings)} warnings, {total(self.errors)} failed interchanges"
        )
        if self.truncated:
            text += f" (only the first {MAX_ISSUES} of each are listed)"
        return text

    def quarantine_counts(self) -> list[tuple[str, int, int]]:
        """``(reason, claims, service lines)`` quarantined, most claims first, counting every
        quarantined claim (also those past :data:`MAX_ISSUES` that are not listed). Reasons
        are fixed texts (no PHI); this is what a summary line per reason prints."""
        counts = getattr(self.quarantined, "counts", None)
        if counts is None:
            counts = QuarantineList(self.quarantined).counts
        rows = [(reason, c, n) for reason, (c, n) in counts.items()]
        return sorted(rows, key=lambda row: (-row[1], -row[2], row[0]))

    @property
    def truncated(self) -> bool:
        """True when some quarantined claims, warnings or errors were counted but not kept."""
        return any(total(x) > len(x) for x in (self.quarantined, self.warnings, self.errors))
