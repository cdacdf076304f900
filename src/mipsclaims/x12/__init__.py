"""Reader for X12 837P (005010X222A1) professional claims.

Two outputs that always agree (a property test compares them): :func:`iter_claims`
streams typed :class:`~mipsclaims.claims.Claim` models one claim at a time;
:func:`read_claim_lines` and :func:`iter_claim_line_batches` build the canonical
claim-line table (:data:`mipsclaims.schema.CLAIM_LINE_SCHEMA`) in batches whose size bounds
memory: clean interchanges through a numpy kernel (:mod:`.fast`, :mod:`.vector`), anything
else through the columnar polars reader (:mod:`.columnar`), with the same table and report.

Input: a path, bytes, a binary file object or an iterable of byte chunks. Delimiters come
from each ISA (element = byte 4, component = ISA16, terminator = the byte after ISA16,
repetition = ISA11 when it is not alphanumeric). A BOM, whitespace and CR/LF around
segments, a newline terminator and several interchanges (with different delimiters) in
one file are read. GS08/ST03 ``005010X222A1`` and ``005010X222`` are read; other
``005010X222*`` ids are read with a warning; anything else (004010, 835, 837I) is refused.

Rules where the implementation guide is silent (docs for users):

- Positions: ``segment`` is the 1-based number of the segment in the input (ISA = 1,
  empty segments not counted); ``byte_offset`` is 0-based from the start of the input.
  ``claim_seq`` counts every CLM of the input, quarantined ones included.
- Loops follow HL level codes (20 billing, 22 subscriber, 23 dependent): a claim belongs to
  the most recent HL of each level in its transaction (the shared samples carry wrong HL
  parent ids). Inside a loop, the last NM1 entity code places REF and DMG segments.
- Of repeated segments the first non-empty value wins (e.g. two NM1*82 in one 2310B).
- HI: qualifier:code composites with ABK/ABF/BK/BF are diagnoses (HI01-HI12). A code
  written as its own element after its qualifier (``HI*BK*8901``) is read as that pair;
  any other element without a component separator is not read; a claim read with either
  has a warning at the HI (:func:`.rules.split_hi_codes`).
- A missing CLM05-3 is read as 1 (original), with a warning. Of two REF*EI in one 2010AA
  the first is the TIN, with a warning at the second. An IEA without its terminator (at
  the end of the input, or running into the next ISA) is a warning; the interchange is
  read.
- Envelope: ISA, GS or ST that is malformed or not 837P 5010 fails its interchange from
  that segment on (earlier groups of it are kept) and is listed in ``ReadReport.errors``;
  :class:`EnvelopeError` is raised only when no interchange of the input could be read.
  SE/GE/IEA count or control-number mismatches are warnings. Warnings are fixed texts
  (the CLI counts them per text; the HI one carries two counts) located at their segment.
- A malformed claim (see :mod:`.rules` for the checks, in order) is quarantined as a
  whole with the first failing segment's position; an LX outside any claim is a warning.
- Damaged structure (a tag that is no 837P segment id, an HL of unknown level, a segment
  over the length limit, which the chunker skips) is never read around: the claim it is
  in, or every claim of the HL loop whose header holds it, is quarantined at that
  segment (docs/security.md has the rules), with that reason before any other. NUL
  bytes before a tag are padding.
- ``ReadReport.quarantine_counts()``: ``(reason, claims, lines)`` per reason.
- Messages never contain element values: a claim is ``claim #<claim_seq> (<hash of CLM01>)``.
"""

from __future__ import annotations

from .envelope import Delimiters

# The fast path (numpy kernel, columnar fallback); MIPSCLAIMS_X12_READER=columnar selects
# the columnar reader alone (A/B).
from .fast import iter_claim_line_batches, read_claim_lines
from .report import (
    EnvelopeError,
    Issue,
    Location,
    QuarantinedClaim,
    ReadReport,
    X12Error,
)
from .stream import iter_claims

__all__ = [
    "Delimiters",
    "EnvelopeError",
    "Issue",
    "Location",
    "QuarantinedClaim",
    "ReadReport",
    "X12Error",
    "iter_claim_line_batches",
    "iter_claims",
    "read_claim_lines",
]
