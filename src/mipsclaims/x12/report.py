"""Exception types and the read report of the 837P reader.

Every message here is PHI-free: claims are named by position and a short hash of CLM01,
segments by number and byte offset, never by the names or ids they carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class X12Error(Exception):
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

    @property
    def reference(self) -> str:
        return f"claim #{self.claim_seq} ({self.claim_hash})"

    def __str__(self) -> str:
        return f"{self.reference} quarantined at {self.location}: {self.reason}"


@dataclass
class ReadReport:
    """What a read saw: counts, quarantined claims, warnings and failed interchanges."""

    sources: list[str] = field(default_factory=list)
    interchanges: int = 0
    transactions: int = 0
    claims_seen: int = 0
    claims_read: int = 0
    lines_read: int = 0
    quarantined: list[QuarantinedClaim] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)

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

    def summary(self) -> str:
        return (
            f"{self.claims_read} claims ({self.lines_read} lines) read from "
            f"{len(self.sources)} source(s); {len(self.quarantined)} quarantined, "
            f"{len(self.warnings)} warnings, {len(self.errors)} failed interchanges"
        )
