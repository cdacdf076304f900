"""``mipsclaims lines``: write the canonical claim-line table of 837P / claim-line files."""

from __future__ import annotations

import enum
import sys
from pathlib import Path

import typer
from rich.console import Console

from .. import flatfile
from ..inputs import InputError, load_claim_lines

err = Console(stderr=True, soft_wrap=True)


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
) -> None:
    """Write one row per service line (the canonical table, which includes PHI columns).

    Lists in CSV are ';'-separated, so the CSV reads back as a claim-line file.
    Quarantined claims and warnings are summarised on standard error, without PHI.

    Example: mipsclaims lines claims.837 more.837 --format parquet -o lines.parquet
    """
    try:
        table, report = load_claim_lines(files)
    except InputError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    if fmt is LinesFormat.parquet and output is None:
        raise typer.BadParameter("parquet needs --output", param_hint="--output")
    target = output if output is not None else sys.stdout.buffer
    if fmt is LinesFormat.csv:
        flatfile.write_flat_csv(table, target)
    elif fmt is LinesFormat.parquet:
        table.write_parquet(target)
    else:
        table.write_json(target)
    for item in [*report.errors, *report.quarantined, *report.warnings][:50]:
        err.print(str(item), markup=False, highlight=False)
    err.print(report.summary(), markup=False, highlight=False)
