"""``mipsclaims lines``: write the canonical claim-line table of 837P / claim-line files.

PHI is masked unless ``--show-phi`` is given (docs/security.md): only ``gaps --show-phi``
and an explicit ``lines --show-phi`` may write patient data.
"""

from __future__ import annotations

import enum
import hashlib
import os
import sys
from pathlib import Path

import polars as pl
import typer
from rich.console import Console

from .. import flatfile
from ..inputs import InputError, load_claim_lines
from ..report.csvsafe import neutralised

err = Console(stderr=True, soft_wrap=True)

#: Same key as the SSN pseudonyms of :mod:`mipsclaims.schema` (set it to your own secret).
KEY_ENV = "MIPSCLAIMS_PSEUDONYM_KEY"
_DEFAULT_KEY = "mipsclaims-v1"


class LinesFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


def _pseudonyms(values: pl.Series, prefix: str) -> pl.Series:
    """Keyed, stable pseudonyms; Python runs once per distinct value, not per line."""
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
    return table.with_columns(
        patient_id=_pseudonyms(table["patient_id"], "PT-"),
        claim_id=_pseudonyms(table["claim_id"], "CLM-"),
        patient_name=pl.lit(None, pl.String),
        birth_date=pl.lit(None, pl.Date),
    )


def _neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """String cells a spreadsheet would run as a formula, prefixed with ``'`` (csvsafe)."""
    return frame.with_columns(
        neutralised(pl.col(c)).alias(c) for c, t in frame.schema.items() if t == pl.String
    )


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
) -> None:
    """Write one row per service line (the canonical table), PHI masked by default.

    Without --show-phi, patient_name and birth_date are empty and patient_id and claim_id
    are keyed pseudonyms (key: MIPSCLAIMS_PSEUDONYM_KEY). With --show-phi the output holds
    PHI: protect it like the claim files. Lists in CSV are ';'-separated, so the CSV reads
    back as a claim-line file (use --show-phi for that: age rules need birth dates); cells
    that a spreadsheet would run as a formula are prefixed with a quote. Quarantined claims
    and warnings are summarised on standard error, without PHI.

    Example: mipsclaims lines claims.837 more.837 --format parquet -o lines.parquet
    """
    try:
        table, report = load_claim_lines(files)
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    if fmt is LinesFormat.parquet and output is None:
        raise typer.BadParameter("parquet needs --output", param_hint="--output")
    if show_phi:
        err.print(
            "warning: --show-phi: the output contains PHI (patient ids, names, birth dates, "
            "claim numbers); protect it like the claim files",
            markup=False,
            highlight=False,
        )
    else:
        table = mask_phi(table)
    target = output if output is not None else sys.stdout.buffer
    if fmt is LinesFormat.csv:
        frame = _neutralised(flatfile.to_flat_csv_frame(table))
        frame.write_csv(target, date_format="%Y-%m-%d")
    elif fmt is LinesFormat.parquet:
        table.write_parquet(target)
    else:
        table.write_json(target)
    for item in [*report.errors, *report.quarantined, *report.warnings][:50]:
        err.print(str(item), markup=False, highlight=False)
    err.print(report.summary(), markup=False, highlight=False)
