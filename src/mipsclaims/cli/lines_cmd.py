"""``mipsclaims lines``: write the canonical claim-line table of 837P / claim-line files.

PHI is masked unless ``--show-phi`` is given (docs/security.md): only ``gaps --show-phi``
and an explicit ``lines --show-phi`` may write patient data.
"""

from __future__ import annotations

import enum
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import typer

from ..atomicfile import atomic_path, written_directly
from .common import STRICT, errors, fail, note, read_losses, report_reading

if TYPE_CHECKING:
    import polars as pl

#: Same key as the SSN pseudonyms of :mod:`mipsclaims.schema` (set it to your own secret).
KEY_ENV = "MIPSCLAIMS_PSEUDONYM_KEY"
_DEFAULT_KEY = "mipsclaims-v1"


class LinesFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


def _pseudonyms(values: pl.Series, prefix: str) -> pl.Series:
    """Keyed, stable pseudonyms; Python runs once per distinct value, not per line."""
    import polars as pl

    key = os.environ.get(KEY_ENV, _DEFAULT_KEY)
    distinct = values.drop_nulls().unique()
    mapped = [
        prefix + hashlib.sha256(f"{key}\x00{prefix}{v}".encode()).hexdigest()[:16]
        for v in distinct.to_list()
    ]
    return values.replace_strict(distinct, pl.Series(mapped, dtype=pl.String), default=None)


def mask_phi(table: pl.DataFrame) -> pl.DataFrame:
    """The table without PHI: names and birth dates null, patient and claim ids pseudonymised.

    Pseudonyms are consistent within a key, so patients still count once and replacement /
    void claims still find the claim they replace. Birth dates are dropped, so age criteria
    cannot be evaluated on a masked table.
    """
    import polars as pl

    return table.with_columns(
        patient_id=_pseudonyms(table["patient_id"], "PT-"),
        claim_id=_pseudonyms(table["claim_id"], "CLM-"),
        patient_name=pl.lit(None, pl.String),
        birth_date=pl.lit(None, pl.Date),
    )


def _neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """String cells a spreadsheet would run as a formula, prefixed with ``'`` (csvsafe)."""
    import polars as pl

    from ..report.csvsafe import neutralised

    return frame.with_columns(
        neutralised(pl.col(c)).alias(c) for c, t in frame.schema.items() if t == pl.String
    )


class _StrictLoss(Exception):
    """--strict and a claim could not be read: the output is abandoned."""


def _write_text(tables: Iterable[pl.DataFrame], fmt: LinesFormat, handle: BinaryIO) -> None:
    """Write the canonical tables as one CSV or one JSON array, batch by batch: memory
    follows the reader's batch size, not the input size."""
    from .. import flatfile
    from ..schema import empty_claim_lines

    first = True
    if fmt is LinesFormat.json:
        handle.write(b"[")
    for table in tables:
        if fmt is LinesFormat.csv:
            frame = _neutralised(flatfile.to_flat_csv_frame(table))
            frame.write_csv(handle, include_header=first, date_format="%Y-%m-%d")
        elif table.height:
            rows = table.write_json().encode()[1:-1]  # the objects of one JSON array
            handle.write(rows if first else b"," + rows)
        else:
            continue
        first = False
    if fmt is LinesFormat.json:
        handle.write(b"]")
    elif first:  # no lines: the header alone
        flatfile.to_flat_csv_frame(empty_claim_lines()).write_csv(handle)


def _write_parquet(tables: Iterable[pl.DataFrame], target: Path) -> None:
    """One Parquet file from many tables: each is spilled to a part file beside ``target``,
    then polars streams the parts into one file (no table is held with another)."""
    import polars as pl

    from ..schema import empty_claim_lines

    # Parts beside the output (they hold what it holds); in the temp directory for a link,
    # a device or a pipe.
    beside = None if written_directly(target) else target.parent
    with tempfile.TemporaryDirectory(prefix=".mipsclaims-parts-", dir=beside) as tmp:
        parts = []
        for number, table in enumerate(tables):
            part = Path(tmp) / f"{number:06d}.parquet"
            table.write_parquet(part)
            parts.append(part)
        if not parts:
            empty_claim_lines().write_parquet(target)
            return
        lazy = pl.concat([pl.scan_parquet(part) for part in parts], how="vertical")
        lazy.sink_parquet(target)


def lines(
    files: list[Path] = typer.Argument(..., help="837P, claim-line CSV or Parquet files."),
    fmt: LinesFormat = typer.Option(LinesFormat.csv, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output file (default: standard output; not for parquet)."
    ),
    show_phi: bool = typer.Option(
        False,
        "--show-phi",
        help="Write patient ids, names, birth dates and claim numbers as read (PHI).",
    ),
    strict: bool = STRICT,
) -> None:
    """Write one row per service line (the canonical table), PHI masked by default.

    Without --show-phi, patient_name and birth_date are empty and patient_id and claim_id
    are keyed pseudonyms (key: MIPSCLAIMS_PSEUDONYM_KEY). With --show-phi the output holds
    PHI: protect it like the claim files. Lists in CSV are ';'-separated, so the CSV reads
    back as a claim-line file (use --show-phi for that: age rules need birth dates); cells
    that a spreadsheet would run as a formula are prefixed with a quote. Quarantined claims
    and warnings are summarised on standard error, without PHI. 837P input is read and
    written batch by batch (memory stays flat); with -o the file appears only when all was
    read, while standard output may already hold part of the table when a later file fails
    (exit code 2). With --strict a claim that could not be read is an error (exit code 3;
    with -o the file is then not written).

    Example: mipsclaims lines claims.837 more.837 --format parquet -o lines.parquet
    """
    import polars as pl

    from ..inputs import InputError, iter_claim_lines, sniff
    from ..x12 import ReadReport

    if fmt is LinesFormat.parquet and output is None:
        raise typer.BadParameter("parquet needs --output", param_hint="--output")
    try:
        for path in files:
            sniff(path)  # an unreadable file fails before anything is written
    except InputError as exc:
        raise fail(str(exc)) from None
    if show_phi:
        errors.print(
            "warning: --show-phi: the output contains PHI (patient ids, names, birth dates, "
            "claim numbers); protect it like the claim files",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    report = ReadReport()
    batches = iter_claim_lines(files, report)
    tables = batches if show_phi else map(mask_phi, batches)
    try:
        if output is None:
            _write_text(tables, fmt, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            with atomic_path(output) as path:
                if fmt is LinesFormat.parquet:
                    _write_parquet(tables, path)
                else:
                    with open(path, "wb") as handle:
                        _write_text(tables, fmt, handle)
                if strict and read_losses(report):
                    raise _StrictLoss  # the file is not put in place
    except _StrictLoss:
        pass
    except InputError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # a full disk, a vanished directory: nothing half-written stays
        raise fail(f"cannot write {output or 'standard output'}: {exc.strerror or exc}") from None
    except pl.exceptions.ComputeError as exc:  # polars' word for a failed Parquet write
        raise fail(f"cannot write {output}: {exc}") from None
    report_reading(report, strict=strict)
    note(report.summary())
