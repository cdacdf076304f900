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
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

import polars as pl

from .errors import MipsClaimsError
from .schema import CLAIM_LINE_SCHEMA, short_hash
from .x12.report import Issue, Location, QuarantinedClaim, ReadReport

__all__ = ["FlatFileError", "read_flat_claim_lines", "to_flat_csv_frame", "write_flat_csv"]

REQUIRED = ("claim_id", "procedure_code")
LIST_SEPARATORS = ";|"
PARQUET_MAGIC = b"PAR1"

FlatSource = str | os.PathLike | bytes | BinaryIO


class FlatFileError(MipsClaimsError, ValueError):
    """A claim-line file that cannot be read at all (format, header, required columns)."""


def _load(source: FlatSource, fmt: str | None) -> tuple[pl.DataFrame, str, str]:
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise FlatFileError(f"cannot open {name}: {exc.strerror}") from None
    elif isinstance(source, bytes):
        name, data = "<bytes>", source
    else:
        name, data = getattr(source, "name", "<stream>"), source.read()
    fmt = fmt or ("parquet" if data[:4] == PARQUET_MAGIC else "csv")
    try:
        if fmt == "parquet":
            frame = pl.read_parquet(io.BytesIO(data))
        else:
            frame = pl.read_csv(
                io.BytesIO(data.removeprefix(b"\xef\xbb\xbf")),
                infer_schema=False,
                encoding="utf8-lossy",
            )
    except pl.exceptions.PolarsError as exc:
        raise FlatFileError(f"{name}: not a readable {fmt} claim-line file ({exc})") from None
    return frame, name, fmt


def _text(col: str) -> pl.Expr:
    """Column as stripped text, null when empty (lists joined with ';' first)."""
    return pl.col(col).cast(pl.String).str.strip_chars().replace("", None)


def _list(frame: pl.DataFrame, col: str) -> pl.Expr:
    """A list column from either a native list or ';'/'|'-separated text."""
    if isinstance(frame.schema[col], pl.List):
        return pl.col(col).list.eval(pl.element().cast(pl.String).str.strip_chars())
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


def read_flat_claim_lines(
    source: FlatSource,
    report: ReadReport | None = None,
    *,
    claim_seq_start: int = 0,
    fmt: str | None = None,
) -> pl.DataFrame:
    """The canonical claim-line table of a CSV/Parquet export (bad claims to ``report``)."""
    report = report if report is not None else ReadReport()
    frame, name, fmt = _load(source, fmt)
    report.sources.append(name)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise FlatFileError(f"{name}: required column(s) missing: {', '.join(missing)}")
    extra = [c for c in frame.columns if c not in CLAIM_LINE_SCHEMA]
    if extra:
        report.warnings.append(
            Issue(Location(name, 1, -1, "row"), f"unknown columns ignored: {', '.join(extra)}")
        )
    for col in CLAIM_LINE_SCHEMA:
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(col))
    first_row = 2 if fmt == "csv" else 1
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
    checks = [
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

    # Claims: given claim_seq, else consecutive rows with the same claim_id/frequency/tin.
    key = pl.concat_str(
        [pl.col("claim_id").fill_null(""), pl.col("frequency"), pl.col("tin").fill_null("")],
        separator="\x00",
    )
    derived = (key != key.shift(1)).fill_null(True).cum_sum().cast(pl.Int64) - 1
    parsed = parsed.with_columns(
        _error=error,
        claim_seq=pl.coalesce(pl.col("claim_seq"), derived) + claim_seq_start,
        line_number=pl.coalesce(
            "line_number", (pl.int_range(pl.len()).over(derived) + 1).cast(pl.Int32)
        ),
    )
    bad = (
        parsed.filter(pl.col("_error").is_not_null())
        .unique("claim_seq", keep="first", maintain_order=True)
        .select("claim_seq", "claim_id", "_row", "_error")
    )
    for seq, claim_id, row, message in bad.iter_rows():
        report.quarantined.append(
            QuarantinedClaim(
                seq, short_hash(claim_id or ""), Location(name, row, -1, "row"), message
            )
        )
    good = parsed.filter(~pl.col("claim_seq").is_in(bad["claim_seq"].implode()))
    table = good.select(pl.col(c).cast(t) for c, t in CLAIM_LINE_SCHEMA.items())
    n_claims = parsed["claim_seq"].n_unique()
    report.claims_seen += n_claims
    report.claims_read += n_claims - bad.height
    report.lines_read += table.height
    return table


def to_flat_csv_frame(table: pl.DataFrame) -> pl.DataFrame:
    """The canonical table with list columns joined by ';' (the CSV encoding above)."""
    return table.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";")
        for c, t in table.schema.items()
        if isinstance(t, pl.List)
    )


def write_flat_csv(table: pl.DataFrame, target: str | os.PathLike | BinaryIO) -> None:
    """Write the canonical table as a claim-line CSV that :func:`read_flat_claim_lines` reads."""
    to_flat_csv_frame(table).write_csv(target, date_format="%Y-%m-%d")
