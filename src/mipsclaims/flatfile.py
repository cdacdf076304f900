"""Claim-line exports (CSV or Parquet) read and validated into the canonical table.

For billing systems that export service lines rather than 837P. Columns are named as in
:data:`mipsclaims.schema.CLAIM_LINE_SCHEMA`; ``claim_id`` and ``procedure_code`` are
required, every other column is optional (missing -> null). Unknown columns are ignored
with a warning.

CSV encoding:

- UTF-8 (a byte-order mark is accepted), comma-separated, with a header row.
- Dates as ``YYYY-MM-DD`` or ``YYYYMMDD``; numbers with a ``.`` decimal point.
- List columns (``diagnosis_codes``, ``modifiers``, ``diagnosis_pointers``) hold their
  items separated by ``;`` (``E11.65;I10``); ``|`` is accepted too. Empty = no items.
- Codes are uppercased; ICD-10 dots are removed.

Rows of one claim must be consecutive. Without a ``claim_seq`` column, a new claim starts
whenever ``claim_id``, ``frequency`` or ``tin`` changes from the previous row. A row
that fails validation quarantines its whole claim (reported by row number, the header
being row 1, and a hash of ``claim_id``; never by value); the other claims are kept.

Files are read in batches of whole claims, so memory follows the batch size, not the
file size: a CSV in blocks of about ``batch_bytes`` cut at a record end (a newline outside
quotes), a Parquet file in slices of rows (polars' streaming scan). A file that is not a
CSV (binary bytes, no header line in the first MB) or lacks a required column is refused
before the rest is read. A row that is not valid CSV (a stray quote) quarantines its claim
like any bad row (:func:`_salvage`). Errors name a row, a column and the file, never a
value.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from .errors import MipsClaimsError
from .schema import CLAIM_LINE_SCHEMA, empty_claim_lines, short_hash
from .x12.report import Issue, Location, QuarantinedClaim, ReadReport

__all__ = [
    "FlatFileError",
    "iter_flat_claim_lines",
    "read_flat_claim_lines",
    "to_flat_csv_frame",
    "write_flat_csv",
]

REQUIRED = ("claim_id", "procedure_code")
LIST_SEPARATORS = ";|"
PARQUET_MAGIC = b"PAR1"
#: A CSV whose first record (the header) is longer than this is not a claim-line CSV.
MAX_HEADER_BYTES = 1 << 20
#: A CSV record (a row with its quoted newlines) longer than this is taken to be an
#: unbalanced quote: the slice is cut at a line end and its bad row quarantined.
MAX_RECORD_BYTES = 1 << 20
#: Rows that are not valid CSV quarantined (with their claims) before a file is refused.
MAX_UNREADABLE_ROWS = 100
#: Bytes of CSV per batch: about the 837P reader's batch.
BATCH_BYTES = 8 * 1024 * 1024
#: Parquet is compressed: its batches are ``batch_bytes // ROW_BYTES`` rows (the size of a
#: claim line in CSV), so that a batch holds about as many lines whatever the format.
ROW_BYTES = 200
LIST_COLUMNS = ("diagnosis_codes", "modifiers", "diagnosis_pointers")

FlatSource = str | os.PathLike[str] | bytes | BinaryIO
Progress = Callable[[int], None]  # called with the bytes read so far


class FlatFileError(MipsClaimsError, ValueError):
    """A claim-line file that cannot be read at all (format, header, required columns)."""


def binary_reason(head: bytes) -> str | None:
    """Why ``head`` (the first bytes of a file) cannot be CSV text, or None if it can."""
    if not head:
        return "the file is empty"
    if b"\x00" in head:
        return "it holds NUL bytes (binary data)"
    controls = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    if controls > len(head) // 100:
        return "it holds control bytes (binary data)"
    return None


def _polars_csv_error(exc: Exception, name: str, first_row: int, rows: int) -> FlatFileError:
    """A CSV parse error with its place but without the field polars quotes (PHI)."""
    text = str(exc)
    match = re.search(r"column '([^']*)' \(column number (\d+)\)", text)
    where = ""
    if match:
        column = match.group(1)
        shown = f"'{column}' " if column in CLAIM_LINE_SCHEMA else ""
        where = f" in column {shown}(number {match.group(2)})"
    if "escaped" in text:
        what = "a field is not properly quoted"
    elif "more fields" in text:
        what = "a row has more fields than the header"
    else:
        what = "malformed CSV"
    span = f"row {first_row}" if rows <= 1 else f"rows {first_row}-{first_row + rows - 1}"
    return FlatFileError(f"{name}: not a readable CSV claim-line file: {what}{where}, {span}")


def _parse_csv(data: bytes, name: str, first_row: int, rows_hint: int) -> pl.DataFrame:
    try:
        return pl.read_csv(
            io.BytesIO(data), infer_schema=False, encoding="utf8-lossy", raise_if_empty=False
        )
    except pl.exceptions.PolarsError as exc:
        raise _polars_csv_error(exc, name, first_row, rows_hint) from None


def _record_end(block: bytes) -> int:
    """Index just past the last newline of ``block`` that ends a CSV record (one with an
    even number of quotes before it: not inside a quoted field), or 0 when there is none.
    ``block`` starts at a record start. Walks back from the end, newline by newline."""
    quotes = block.count(b'"')
    stop = len(block)
    while True:
        newline = block.rfind(b"\n", 0, stop)
        if newline < 0:
            return 0
        quotes -= block.count(b'"', newline, stop)
        if quotes % 2 == 0:
            return newline + 1
        stop = newline


def _first_record_end(block: bytes, start: int) -> int:
    """Index just past the first record-ending newline at or after ``start``, or 0."""
    newline = block.find(b"\n", start)
    while newline >= 0 and block.count(b'"', 0, newline) % 2:
        newline = block.find(b"\n", newline + 1)
    return newline + 1


def _csv_header(handle: BinaryIO, name: str) -> tuple[bytes, bytes]:
    """The header record (with its newline) and the bytes read after it."""
    buffer = b""
    while True:
        block = handle.read(64 * 1024)
        buffer += block
        first = _first_record_end(buffer, 0)
        if first:
            return buffer[:first].removeprefix(b"\xef\xbb\xbf"), buffer[first:]
        if not block:
            return buffer.removeprefix(b"\xef\xbb\xbf") + b"\n", b""
        if len(buffer) > MAX_HEADER_BYTES:
            raise FlatFileError(
                f"{name}: not a claim-line CSV: no header line in the first "
                f"{MAX_HEADER_BYTES // (1 << 20)} MB"
            )


def _salvage(header: bytes, chunk: bytes, columns: list[str], error: FlatFileError) -> pl.DataFrame:
    """The rows of a slice polars cannot parse as a whole, found by halving it line by line:
    each line that fails alone becomes a row marked ``_unreadable`` that holds only the
    claim key (``claim_id``, ``frequency``, ``tin``, read leniently), so that its claim is
    quarantined and every other claim kept. More than :data:`MAX_UNREADABLE_ROWS` such
    rows: ``error`` (the file is not a CSV worth salvaging)."""
    lines = [line for line in chunk.split(b"\n") if line.strip()]
    pieces: list[pl.DataFrame] = []
    bad = 0

    def parse(lo: int, hi: int) -> None:
        nonlocal bad
        data = b"\n".join(lines[lo:hi]) + b"\n"
        try:
            frame = pl.read_csv(
                io.BytesIO(header + data), infer_schema=False, encoding="utf8-lossy"
            )
            if frame.columns != columns:
                raise FlatFileError("header")
            pieces.append(frame.with_columns(_unreadable=pl.lit(False), _quoted=pl.lit(False)))
        except (pl.exceptions.PolarsError, FlatFileError):
            if hi - lo > 1:
                parse(lo, (lo + hi) // 2)
                parse((lo + hi) // 2, hi)
                return
            bad += 1
            if bad > MAX_UNREADABLE_ROWS:
                raise error from None
            pieces.append(_unreadable_row(lines[lo], columns))

    parse(0, len(lines))
    return pl.concat(pieces, how="vertical") if pieces else pl.DataFrame()


def _unreadable_row(line: bytes, columns: list[str]) -> pl.DataFrame:
    """A row for a line that is not valid CSV: its claim key (read leniently by Python's
    csv module, which accepts stray quotes) and nothing else."""
    cells = next(csv.reader([line.decode("utf-8", "replace").rstrip("\r")]), [])
    keep = {"claim_id", "frequency", "tin"}
    row = {c: (cells[i] if c in keep and i < len(cells) else None) for i, c in enumerate(columns)}
    return pl.DataFrame([row], schema=dict.fromkeys(columns, pl.String)).with_columns(
        _unreadable=pl.lit(True), _quoted=pl.lit(b'"' in line)
    )


def _csv_raw(
    handle: BinaryIO, name: str, batch_bytes: int, progress: Progress | None
) -> Iterator[tuple[pl.DataFrame, int]]:
    """Tables of text cells of a CSV, cut at record ends, with the file row of their first
    row (header = row 1)."""
    header, carry = _csv_header(handle, name)
    columns = _parse_csv(header, name, 1, 1).columns
    _check_columns(columns, name)
    yield pl.DataFrame(schema=dict.fromkeys(columns, pl.String)), 2
    done, row, buffer, eof = len(header), 2, carry, False
    while True:
        while len(buffer) < batch_bytes and not eof:
            block = handle.read(batch_bytes)
            eof, buffer = not block, buffer + block
        if eof and len(buffer) <= batch_bytes:
            end = len(buffer)
        else:
            end = _record_end(buffer[:batch_bytes]) or _first_record_end(buffer, batch_bytes)
            if not end and len(buffer) > batch_bytes + MAX_RECORD_BYTES:
                # an unbalanced quote: cut at a line end, the bad row is salvaged below
                end = buffer.rfind(b"\n", 0, batch_bytes) + 1 or buffer.find(b"\n") + 1
            if not end and not eof:  # one record longer than what is read: read on
                block = handle.read(batch_bytes)
                eof, buffer = not block, buffer + block
                continue
            end = end or len(buffer)
        chunk, buffer = buffer[:end], buffer[end:]
        if chunk.strip():
            estimate = chunk.count(b"\n") or 1
            try:
                frame = _parse_csv(header + chunk, name, row, estimate)
            except FlatFileError as exc:  # one bad row must not cost the others
                frame = _salvage(header, chunk, columns, exc)
            else:
                if frame.columns != columns:
                    raise FlatFileError(f"{name}: not a readable CSV claim-line file: row {row}-")
            yield frame, row
            row += frame.height
        done += len(chunk)
        if progress is not None:
            progress(done)
        if eof and not buffer:
            return


def _parquet_raw(
    path: Path, name: str, batch_bytes: int, progress: Progress | None
) -> Iterator[tuple[pl.DataFrame, int]]:
    """Slices of rows of a Parquet file (about ``batch_bytes`` of the file each)."""
    try:
        schema = pl.read_parquet_schema(path)
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FlatFileError(
            f"{name}: not a readable Parquet claim-line file ({type(exc).__name__})"
        ) from None
    _check_columns(list(schema), name)
    _check_types(schema, name)
    yield pl.DataFrame(schema=schema), 1
    size, step, done = path.stat().st_size, max(1, batch_bytes // ROW_BYTES), 0
    try:
        for frame in pl.scan_parquet(path).collect_batches(chunk_size=step):
            yield frame, done + 1
            done += frame.height
            if progress is not None:
                progress(size * done // max(rows, 1))
    except pl.exceptions.PolarsError as exc:
        raise FlatFileError(
            f"{name}: not a readable Parquet claim-line file from row {done + 1} "
            f"({type(exc).__name__})"
        ) from None


def _check_columns(columns: list[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise FlatFileError(f"{name}: required column(s) missing: {', '.join(missing)}")


def _check_types(schema: pl.Schema | dict[str, Any], name: str) -> None:
    """Refuse a Parquet column whose type cannot hold what the canonical column holds
    (a list of names where a name is expected), naming the column and type only."""
    for col, dtype in schema.items():
        if col not in CLAIM_LINE_SCHEMA:
            continue
        inner = getattr(dtype, "inner", None) if col in LIST_COLUMNS else None
        scalar = inner if inner is not None else dtype
        bad = (dtype.is_nested() and inner is None) or not _castable(scalar)
        if bad:
            raise FlatFileError(
                f"{name}: column {col} holds {dtype} values; expected "
                f"{'a list of text' if col in LIST_COLUMNS else 'text, numbers or dates'}"
            )


def _castable(dtype: pl.DataType) -> bool:
    """Whether values of ``dtype`` read as text: text, numbers, dates and times, not a
    Duration, binary or nested value."""
    if isinstance(dtype, pl.Duration):
        return False
    return (
        dtype.is_numeric()
        or dtype.is_temporal()
        or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Boolean | pl.Null)
    )


def _text(col: str) -> pl.Expr:
    """Column as stripped text, null when empty (lists joined with ';' first)."""
    return pl.col(col).cast(pl.String).str.strip_chars().replace("", None)


def _list(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A list column from either a native list or ';'/'|'-separated text."""
    if isinstance(frame.schema[col], pl.List | pl.Array):
        return pl.col(col).cast(pl.List(pl.String)).list.eval(pl.element().str.strip_chars())
    text = pl.col(col).cast(pl.String).fill_null("").str.replace_all(r"\|", ";")
    return text.str.split(";").list.eval(
        pl.element().str.strip_chars().filter(pl.element().str.strip_chars() != "")
    )


def _date(col: str) -> pl.Expr:
    text = _text(col)
    return (
        pl.when(text.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        .then(text.str.to_date("%Y-%m-%d", strict=False))
        .when(text.str.contains(r"^[0-9]{8}$"))
        .then(text.str.to_date("%Y%m%d", strict=False))
    )


def _parse(frame: pl.DataFrame, first_row: int, name: str) -> pl.DataFrame:
    """Row-wise parsing of one slice: canonical columns plus ``_row``, ``_error`` and the
    claim key ``_key`` (claims are numbered later, across slices)."""
    for col in CLAIM_LINE_SCHEMA:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
    frame = frame.with_columns(
        pl.col(c).cast(pl.Date) for c, t in frame.schema.items() if isinstance(t, pl.Datetime)
    )
    frame = frame.with_columns(_row=pl.int_range(pl.len(), dtype=pl.Int64) + first_row)
    dx = _list(frame, "diagnosis_codes").list.eval(
        pl.element()
        .str.replace_all(".", "", literal=True)
        .str.replace_all(" ", "")
        .str.to_uppercase()
    )
    pointers_text = _list(frame, "diagnosis_pointers")
    parsed = frame.with_columns(
        claim_id=_text("claim_id"),
        frequency=_text("frequency").fill_null("1"),
        procedure_code=_text("procedure_code").str.to_uppercase(),
        modifiers=_list(frame, "modifiers").list.eval(pl.element().str.to_uppercase()),
        diagnosis_codes=dx,
        _ptr_text=pointers_text,
        diagnosis_pointers=pointers_text.list.eval(pl.element().cast(pl.Int8, strict=False)),
        **{c: _text(c) for c in ("source", "interchange_control", "filing_indicator",
                                 "payer_id", "tin", "billing_npi", "rendering_npi",
                                 "patient_id", "patient_name", "sex", "claim_pos", "line_pos")},
        **{f"_{c}": _text(c) for c in ("charge", "units", "line_number", "claim_seq",
                                        "birth_date", "service_date", "service_date_end")},
        birth_date=_date("birth_date"),
        service_date=_date("service_date"),
        service_date_end=_date("service_date_end"),
        charge=_text("charge").cast(pl.Float64, strict=False),
        units=_text("units").cast(pl.Float64, strict=False),
        line_number=_text("line_number").cast(pl.Int32, strict=False),
        claim_seq=_text("claim_seq").cast(pl.Int64, strict=False),
    )  # fmt: skip
    parsed = parsed.with_columns(
        sex=pl.col("sex").str.to_uppercase(),
        rendering_npi=pl.coalesce("rendering_npi", "billing_npi"),
        service_date_end=pl.coalesce("service_date_end", "service_date"),
        source=pl.lit(name),  # the file the line was read from (schema.py)
    )
    unreadable = pl.col("_unreadable") if "_unreadable" in frame.columns else pl.lit(False)
    checks = [
        (unreadable, "row is not valid CSV (a stray or unbalanced quote)"),
        (pl.col("claim_id").is_null(), "claim_id is empty"),
        (pl.col("procedure_code").is_null(), "procedure_code is empty"),
        (pl.col("modifiers").list.len() > 4, "more than 4 modifiers"),
        (pl.col("diagnosis_codes").list.len() > 12, "more than 12 diagnosis codes"),
        (pl.col("sex").is_not_null() & ~pl.col("sex").is_in(["M", "F", "U"]), "sex is not M/F/U"),
    ]
    for col, what in (
        ("charge", "a number"),
        ("units", "a number"),
        ("line_number", "a whole number"),
        ("claim_seq", "a whole number"),
        ("birth_date", "a date (YYYY-MM-DD or YYYYMMDD)"),
        ("service_date", "a date (YYYY-MM-DD or YYYYMMDD)"),
        ("service_date_end", "a date (YYYY-MM-DD or YYYYMMDD)"),
    ):
        checks.append(
            (pl.col(f"_{col}").is_not_null() & pl.col(col).is_null(), f"{col} is not {what}")
        )
    bad_ptr = (
        pl.col("_ptr_text").list.eval(~pl.element().str.contains(r"^(0?[1-9]|1[0-2])$")).list.any()
    )
    checks.append((bad_ptr, "diagnosis_pointers are not 1-12"))
    error = pl.lit(None, pl.String)
    for condition, message in reversed(checks):
        error = pl.when(condition.fill_null(False)).then(pl.lit(message)).otherwise(error)
    key = pl.concat_str(
        [pl.col("claim_id").fill_null(""), pl.col("frequency"), pl.col("tin").fill_null("")],
        separator="\x00",
    )
    # An unreadable row's key was read leniently: trusted when a neighbour has it or the
    # row has no quote (cells split at commas exactly), else the row is glued to both
    # neighbours' claims, so that no claim is kept with a line missing.
    quoted = pl.col("_quoted") if "_quoted" in frame.columns else pl.lit(False)
    alone = (key != key.shift(1)).fill_null(True) & (key != key.shift(-1)).fill_null(True)
    glue = unreadable & quoted & alone
    return parsed.with_columns(_error=error, _key=key, _glue=glue).drop(
        "_unreadable", "_quoted", strict=False
    )


class _Claims:
    """Numbers claims across slices and hands out whole claims: without a ``claim_seq``
    column a new claim starts whenever ``claim_id``, ``frequency`` or ``tin`` changes from
    the previous row, including the last row of the previous slice, except around a row
    that is not valid CSV and whose key no neighbour shares (``_glue``): its neighbours'
    claims and it make one claim, quarantined whole."""

    def __init__(self, name: str, report: ReadReport, claim_seq_start: int) -> None:
        self.name, self.report, self.start = name, report, claim_seq_start
        self.last_key: str | None = None
        self.last_glue = False  # the last row was glued to the next one's claim
        self.last_group = -1
        self.held: pl.DataFrame | None = None

    def add(self, parsed: pl.DataFrame, *, last: bool) -> pl.DataFrame:
        """The canonical lines of every claim complete so far (``last``: all of them)."""
        if parsed.height:
            changed = (
                pl.col("_key") != pl.col("_key").shift(1, fill_value=self.last_key)
            ).fill_null(True) & ~(
                pl.col("_glue") | pl.col("_glue").shift(1, fill_value=self.last_glue)
            )
            if self.last_key is None:  # the very first row starts the first claim
                changed = changed | (pl.int_range(pl.len()) == 0)
            parsed = parsed.with_columns(_group=changed.cum_sum().cast(pl.Int64) + self.last_group)
            self.last_key = parsed["_key"][-1]
            self.last_glue = bool(parsed["_glue"][-1])
            self.last_group = int(parsed["_group"][-1])
        frames = [f for f in (self.held, parsed) if f is not None and f.height]
        if not frames:
            return empty_claim_lines()
        lines = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
        self.held = None
        if not last:  # the last claim may go on in the next slice
            tail = pl.col("_group") == self.last_group
            self.held, lines = lines.filter(tail), lines.filter(~tail)
        return self._claims(lines)

    def _claims(self, parsed: pl.DataFrame) -> pl.DataFrame:
        if not parsed.height:
            return empty_claim_lines()
        parsed = parsed.with_columns(
            claim_seq=pl.coalesce(pl.col("claim_seq"), pl.col("_group")) + self.start,
            line_number=pl.coalesce(
                "line_number", (pl.int_range(pl.len()).over("_group") + 1).cast(pl.Int32)
            ),
        )
        bad = (
            parsed.filter(pl.col("_error").is_not_null())
            .unique("claim_seq", keep="first", maintain_order=True)
            .select("claim_seq", "claim_id", "_row", "_error")
        )
        for seq, claim_id, row, message in bad.iter_rows():
            self.report.quarantined.append(
                QuarantinedClaim(
                    seq, short_hash(claim_id or ""), Location(self.name, row, -1, "row"), message
                )
            )
        good = parsed.filter(~pl.col("claim_seq").is_in(bad["claim_seq"].implode()))
        table = good.select(pl.col(c).cast(t) for c, t in CLAIM_LINE_SCHEMA.items())
        n_claims = parsed["claim_seq"].n_unique()
        self.report.claims_seen += n_claims
        self.report.claims_read += n_claims - bad.height
        self.report.lines_read += table.height
        return table


def _raw_slices(
    source: FlatSource, fmt: str | None, batch_bytes: int, progress: Progress | None
) -> tuple[str, str, Iterator[tuple[pl.DataFrame, int]]]:
    """The name, format and raw slices of ``source`` (first slice: an empty table of the
    file's columns, so the columns are checked before any row is read)."""
    if isinstance(source, str | os.PathLike):
        name, path = os.fspath(source), Path(source)
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise FlatFileError(f"cannot open {name}: {exc.strerror}") from None
        head = handle.read(len(PARQUET_MAGIC))
        handle.seek(0)
        fmt = fmt or ("parquet" if head == PARQUET_MAGIC else "csv")
        if fmt == "parquet":
            handle.close()
            return name, fmt, _parquet_raw(path, name, batch_bytes, progress)
        return name, fmt, _closing(handle, _csv_raw(handle, name, batch_bytes, progress))
    if isinstance(source, bytes):
        name, data = "<bytes>", source
    else:
        name, data = getattr(source, "name", "<stream>"), source.read()
    fmt = fmt or ("parquet" if data[:4] == PARQUET_MAGIC else "csv")
    if fmt == "parquet":
        try:
            frame = pl.read_parquet(io.BytesIO(data))
        except pl.exceptions.PolarsError as exc:
            raise FlatFileError(
                f"{name}: not a readable Parquet claim-line file ({type(exc).__name__})"
            ) from None
        _check_columns(frame.columns, name)
        _check_types(frame.schema, name)
        return name, fmt, iter([(frame.clear(), 1), (frame, 1)])
    return name, fmt, _csv_raw(io.BytesIO(data), name, batch_bytes, progress)


def _closing(
    handle: BinaryIO, slices: Iterator[tuple[pl.DataFrame, int]]
) -> Iterator[tuple[pl.DataFrame, int]]:
    with handle:
        yield from slices


def iter_flat_claim_lines(
    source: FlatSource,
    report: ReadReport | None = None,
    *,
    claim_seq_start: int = 0,
    fmt: str | None = None,
    batch_bytes: int = BATCH_BYTES,
    progress: Progress | None = None,
) -> Iterator[pl.DataFrame]:
    """Canonical tables of whole claims of a CSV/Parquet export, about ``batch_bytes`` of
    input each (bad claims to ``report``; ``progress(bytes_read)`` after each slice)."""
    report = report if report is not None else ReadReport()
    name, fmt, slices = _raw_slices(source, fmt, batch_bytes, progress)
    columns, _ = next(slices)
    report.sources.append(name)
    extra = [c for c in columns.columns if c not in CLAIM_LINE_SCHEMA]
    if extra:
        report.warnings.append(
            Issue(Location(name, 1, -1, "row"), f"unknown columns ignored: {', '.join(extra)}")
        )
    claims = _Claims(name, report, claim_seq_start)
    for frame, first_row in slices:
        if fmt == "parquet":
            _check_types(frame.schema, name)
        try:
            parsed = _parse(frame, first_row, name)
        except pl.exceptions.PolarsError as exc:  # its message may quote values: type only
            raise FlatFileError(
                f"{name}: cannot read the rows from row {first_row} ({type(exc).__name__})"
            ) from None
        table = claims.add(parsed, last=False)
        if table.height:
            yield table
    table = claims.add(_parse(columns, 1, name), last=True)
    if table.height:
        yield table


def read_flat_claim_lines(
    source: FlatSource,
    report: ReadReport | None = None,
    *,
    claim_seq_start: int = 0,
    fmt: str | None = None,
) -> pl.DataFrame:
    """The canonical claim-line table of a CSV/Parquet export (bad claims to ``report``)."""
    frames = list(iter_flat_claim_lines(source, report, claim_seq_start=claim_seq_start, fmt=fmt))
    return pl.concat(frames, how="vertical") if frames else empty_claim_lines()


def to_flat_csv_frame(table: pl.DataFrame) -> pl.DataFrame:
    """The canonical table with list columns joined by ';' (the CSV encoding above)."""
    return table.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";")
        for c, t in table.schema.items()
        if isinstance(t, pl.List)
    )


def write_flat_csv(table: pl.DataFrame, target: str | os.PathLike[str] | BinaryIO) -> None:
    """Write the canonical table as a claim-line CSV that :func:`read_flat_claim_lines` reads
    (a path atomically: :mod:`mipsclaims.atomicfile`)."""
    frame = to_flat_csv_frame(table)
    if isinstance(target, str | os.PathLike):
        from .atomicfile import atomic_path

        with atomic_path(target) as path:
            frame.write_csv(path, date_format="%Y-%m-%d")
        return
    frame.write_csv(target, date_format="%Y-%m-%d")
