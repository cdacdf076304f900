"""Streaming reader of X12 835 remittance advice (005010X221A1) into the remittance-line table.

The 835 is the payer's answer to an 837: loop 2100 ``CLP`` per adjudicated claim (CLP01 =
the claim's CLM01), loop 2110 ``SVC`` per service line, each with its ``CAS`` adjustments,
``DTM*472`` date, ``REF*6R`` line control number and ``LQ*HE`` remark codes. A quality-data
code that Medicare recorded comes back denied at $0 with remark N365 (docs/remittance.md).

Input is cut into interchange-aligned pieces by the 837 reader's chunker
(:func:`mipsclaims.x12.envelope.iter_pieces`: delimiters from each ISA, BOM and whitespace
tolerated, overlong segments stop their interchange); each piece is read column-wise by
:mod:`.columnar` (segments as rows, loops as forward fills), a claim left open at the end
of a piece being carried to the next. A malformed claim is quarantined as a whole with the
segment number and byte offset of its first bad segment; the claims around it are kept.
No patient data is kept: the patient and insured names and ids (``NM1*QC``/``IL``) are
never read, and messages name a claim by position and a hash of CLP01.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import polars as pl

from ..x12.envelope import DEFAULT_BLOCK, Source, iter_pieces, source_name
from ..x12.report import ReadReport
from .columnar import State, piece_rows, segments

__all__ = [
    "CLAIM_STATUS",
    "REMIT_LINE_COLUMNS",
    "REMIT_LINE_SCHEMA",
    "iter_remit_line_batches",
    "read_remit_lines",
]

_S, _D, _F, _LS = pl.String(), pl.Date(), pl.Float64(), pl.List(pl.String())

#: The remittance-line table: one row per 835 service line (SVC); a claim that came back
#: without service lines has one row with null line columns. Claim fields repeat.
REMIT_LINE_SCHEMA: dict[str, pl.DataType] = {
    "source": _S,  # file name (or "<bytes>")
    "interchange_control": _S,  # ISA13
    "transaction_control": _S,  # ST02
    "remit_seq": pl.Int64(),  # position of the CLP in the input (0-based, across files)
    "payer_name": _S,  # N102 of N1*PR (1000A)
    "payer_id": _S,  # REF*2U of 1000A, else N104 of N1*PR
    "payee_npi": _S,  # N104 of N1*PE when N103 = XX
    "payee_tin": _S,  # N104 of N1*PE when N103 = FI, else REF*TJ of 1000B
    "trace_number": _S,  # TRN02: check or EFT trace number
    "payment_date": _D,  # BPR16
    "claim_id": _S,  # CLP01 = the 837's CLM01
    "claim_status": _S,  # CLP02: 1/2/3/19/20/21 processed, 4 denied, 22 reversal, ...
    "claim_charge": _F,  # CLP03
    "claim_paid": _F,  # CLP04
    "filing_indicator": _S,  # CLP06: MB = Medicare Part B
    "payer_claim_control": _S,  # CLP07: the payer's claim control number (ICN)
    "frequency": _S,  # CLP09
    "rendering_npi": _S,  # NM109 of NM1*82 (2100) when NM108 = XX
    "statement_start": _D,  # DTM*232
    "statement_end": _D,  # DTM*233
    "claim_adjustments": _LS,  # claim CAS as "GROUP-REASON", e.g. "CO-16"
    "claim_remarks": _LS,  # MOA03..MOA07 remark codes
    "line_index": pl.Int32(),  # 1-based position of the SVC in its claim (null: no lines)
    "procedure_code": _S,  # SVC01-2, uppercase: the code as adjudicated
    "modifiers": _LS,  # SVC01-3..6, uppercase
    "original_procedure_code": _S,  # SVC06-2 when the payer changed the code (else null)
    "original_modifiers": _LS,  # SVC06-3..6 (null without SVC06)
    "line_charge": _F,  # SVC02
    "line_paid": _F,  # SVC03
    "units": _F,  # SVC05 (1 when absent)
    "service_date": _D,  # DTM*472, else DTM*150
    "service_date_end": _D,  # DTM*151, else = service_date
    "line_control": _S,  # REF*6R: the 837's line item control number, when returned
    "line_rendering_npi": _S,  # REF*HPI of 2110: the line's rendering NPI, when it differs
    "adjustments": _LS,  # line CAS as "GROUP-REASON", e.g. "CO-246"
    "remarks": _LS,  # LQ*HE remark codes, e.g. "N365"
}
REMIT_LINE_COLUMNS: tuple[str, ...] = tuple(REMIT_LINE_SCHEMA)

#: CLP02 claim status codes of 005010X221A1 (anything else quarantines the claim).
CLAIM_STATUS: dict[str, str] = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to additional payer(s)",
    "20": "processed as secondary, forwarded to additional payer(s)",
    "21": "processed as tertiary, forwarded to additional payer(s)",
    "22": "reversal of previous payment",
    "23": "not our claim, forwarded to additional payer(s)",
    "25": "predetermination pricing only, no payment",
}


def iter_remit_line_batches(
    source: Source,
    report: ReadReport | None = None,
    *,
    claim_seq_start: int = 0,
    batch_bytes: int = DEFAULT_BLOCK,
) -> Iterator[pl.DataFrame]:
    """Remittance-line tables of one 835 input, in input order, about ``batch_bytes`` of
    input each; a claim's lines are always in one batch. ``report`` collects counts,
    quarantined claims, warnings and failed interchanges."""
    report = report if report is not None else ReadReport()
    name = source_name(source)
    report.sources.append(name)
    state = State(name, report, claim_seq_start, tuple(CLAIM_STATUS))
    for piece in iter_pieces(source, report, batch_bytes):
        d = piece.delimiters
        frame = segments(piece.data, piece.byte_offset, d.segment, d.element, state.segment)
        state.segment += frame.height
        rows, warnings = piece_rows(frame, state, d.component, piece.final)
        report.warnings.extend(warnings)
        if rows.height:
            yield rows.select([pl.col(c).cast(t) for c, t in REMIT_LINE_SCHEMA.items()])


def read_remit_lines(
    sources: Source | Sequence[Source],
    report: ReadReport | None = None,
) -> pl.DataFrame:
    """Every remittance line of one 835 input, or of several files in the order given
    (``remit_seq`` continues across files, so later files come later). A list or tuple
    is several inputs; any other iterable is one input given as chunks of bytes."""
    report = report if report is not None else ReadReport()
    # The type says Sequence (a list[Path] is no list[Source]); only lists and tuples are
    # several inputs at run time, so anything else is the one Source it must then be.
    paths: list[Source] = (
        list(sources) if isinstance(sources, list | tuple) else [cast(Source, sources)]
    )
    frames: list[pl.DataFrame] = []
    seq = 0
    for path in paths:
        before = report.claims_seen
        frames.extend(iter_remit_line_batches(path, report, claim_seq_start=seq))
        seq += report.claims_seen - before
    if not frames:
        return pl.DataFrame(schema=REMIT_LINE_SCHEMA)
    return pl.concat(frames)
