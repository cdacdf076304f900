"""``mipsclaims ingest``: append claim files to a year-long store (see ``store.py``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..report.progress import file_progress
from .common import errors, fail

console = Console()


def ingest(
    files: list[Path] = typer.Argument(
        ..., help="Claim files (837P, or claim-line CSV/Parquet) and 835 remittances."
    ),
    store: Path = typer.Option(..., "--store", help="Store folder (created when missing)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Add claim files to a store; the same file twice changes nothing.

    Claims keep their order across files (store order, then position), so a replacement
    or void in a later file applies to a claim ingested earlier. 835 remittance files
    (found by content) are kept beside the claims for `report --remit` / `gaps --remit`.
    Exit codes: 0 ok, 2 usage error or unreadable input (files before it stay ingested).

    Example: mipsclaims ingest --store claims-store 2025-01.837 2025-02.837
    """
    from .. import store as store_mod
    from ..x12.report import X12Error

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    from ..remit.store import is_835

    remits = [p for p in files if is_835(p)]
    files = [p for p in files if p not in remits]
    if remits:
        _ingest_remits(store, remits, quiet)
    if not files:
        return
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


def _ingest_remits(store: Path, remits: list[Path], quiet: bool) -> None:
    from ..remit.store import ingest_remittance
    from ..store import StoreError

    for path in remits:
        try:
            result = ingest_remittance(store, path)
        except (StoreError, OSError) as exc:
            raise fail(str(exc)) from None
        if not quiet:
            state = "835 added" if result.added else "835 already in the store"
            console.print(
                f"{path.name}: {state} ({result.claims:,} claims, {result.lines:,} lines)",
                highlight=False,
                markup=False,
            )
            for problem in result.problems:
                errors.print(f"  left out: {problem}", highlight=False, markup=False)
