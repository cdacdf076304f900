"""``mipsclaims ingest``: append claim files to a year-long store (see ``store.py``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..report.progress import file_progress
from .common import errors, fail

console = Console()


def ingest(
    files: list[Path] = typer.Argument(..., help="Claim files (837P, or claim-line CSV/Parquet)."),
    store: Path = typer.Option(..., "--store", help="Store folder (created when missing)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Add claim files to a store; the same file twice changes nothing.

    Claims keep their order across files (store order, then position), so a replacement
    or void in a later file applies to a claim ingested earlier.
    Exit codes: 0 ok, 2 usage error or unreadable input (files before it stay ingested).

    Example: mipsclaims ingest --store claims-store 2025-01.837 2025-02.837
    """
    from .. import store as store_mod
    from ..x12.report import X12Error

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    total = sum(p.stat().st_size for p in files)
    done: list[tuple[Path, store_mod.IngestResult]] = []
    with file_progress(total, quiet=quiet) as progress:

        def on_file(path: Path, result: store_mod.IngestResult) -> None:
            done.append((path, result))
            progress.file_done(path.name, path.stat().st_size, result.claims)

        try:
            store_mod.ingest_files(store, files, on_file=on_file)
        except (store_mod.StoreError, OSError, ValueError, X12Error) as exc:
            raise fail(str(exc)) from None
    if not quiet:
        for path, result in done:
            state = "added" if result.added else "already in the store"
            console.print(
                f"{path.name}: {state} ({result.claims:,} claims, {result.lines:,} lines)",
                highlight=False,
                markup=False,
            )
            for problem in result.problems:
                errors.print(f"  left out: {problem}", highlight=False, markup=False)
