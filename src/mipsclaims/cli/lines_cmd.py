"""``mipsclaims lines``: write the canonical claim-line table of 837P / claim-line files.

PHI is masked unless ``--show-phi`` is given (docs/security.md): only ``gaps --show-phi``
and an explicit ``lines --show-phi`` may write patient data.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer

from ..errors import MipsClaimsError
from .common import STRICT, errors, fail, note, read_losses, report_reading


class LinesFormat(enum.StrEnum):
    csv = "csv"
    parquet = "parquet"
    json = "json"


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
    if fmt is LinesFormat.parquet and output is None:
        raise typer.BadParameter("parquet needs --output", param_hint="--output")
    if show_phi:
        errors.print(
            "warning: --show-phi: the output contains PHI (patient ids, names, birth dates, "
            "claim numbers); protect it like the claim files",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    from .. import api  # polars and numpy only when a command reads input
    from ..x12.report import ReadReport

    report = ReadReport()
    try:
        api.write_claim_lines(
            files,
            sys.stdout.buffer if output is None else output,
            fmt.value,
            show_phi=show_phi,
            report=report,
            keep=lambda: not (strict and read_losses(report)),  # --strict: no file
        )
        if output is None:
            sys.stdout.flush()
    except MipsClaimsError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:  # a full disk, a vanished directory: nothing half-written stays
        raise fail(f"cannot write {output or 'standard output'}: {exc.strerror or exc}") from None
    report_reading(report, strict=strict)
    note(report.summary())
