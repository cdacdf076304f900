"""``mipsclaims ingest``: append claim files to a year-long store (see ``store.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..report.progress import file_progress
from ..report.termsafe import SafeConsole
from .common import STRICT, fail, note, report_reading

if TYPE_CHECKING:
    from ..remit.store import RemitIngest
    from ..store import IngestResult

console = SafeConsole()


def ingest(
    files: list[Path] = typer.Argument(
        ..., help="Claim files (837P, or claim-line CSV/Parquet) and 835 remittances."
    ),
    store: Path = typer.Option(..., "--store", help="Store folder (created when missing)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
    strict: bool = STRICT,
) -> None:
    """Add claim files to a store; the same file twice changes nothing, and claims the
    store holds already (same CLM01, frequency, TIN, patient and dates) are skipped.

    Claims keep their order across files (store order, then position), so a replacement
    or void in a later file applies to a claim ingested earlier. 835 remittance files
    (found by content) are kept beside the claims for `report --remit` / `gaps --remit`.
    What could not be read is summarised on standard error; with --strict such a file is
    not ingested (exit 3). Exit codes: 0 ok, 2 usage error, unreadable input or a store
    that cannot be written (disk full: the store stays as it was before that file); 3
    --strict. Files before a failing one stay ingested.

    Example: mipsclaims ingest --store claims-store 2025-01.837 2025-02.837
    """
    from .. import api
    from ..errors import MipsClaimsError
    from ..store import LossError

    total = sum(p.stat().st_size for p in files if p.is_file())
    done: list[tuple[Path, IngestResult]] = []
    with file_progress(total, quiet=quiet) as progress:

        def on_file(path: Path, result: IngestResult) -> None:
            done.append((path, result))
            progress.file_done(path.name, path.stat().st_size, result.claims)

        try:
            api.ingest(
                store,
                files,
                strict=strict,
                on_remit=lambda path, result: _remit_done(path, result, quiet),
                on_file=on_file,
            )
        except LossError as exc:
            _summarise(done, quiet)
            report_reading(exc.report, quiet=quiet)
            note(f"error: {exc} (--strict)")
            raise typer.Exit(3) from None
        except OSError as exc:
            _summarise(done, quiet)
            raise fail(f"cannot ingest into {store}: {exc.strerror or exc}") from None
        except (MipsClaimsError, ValueError) as exc:
            _summarise(done, quiet)
            raise fail(str(exc)) from None
    _summarise(done, quiet)


def _summarise(done: list[tuple[Path, IngestResult]], quiet: bool) -> None:
    """Per file: added or not, claims and lines, duplicates skipped, what was left out."""
    for path, result in done:
        if not quiet:
            _print_done(path, "added" if result.added else "already in the store", result)
        if result.duplicates:
            refs = ", ".join(result.duplicate_refs)
            more = result.duplicates - len(result.duplicate_refs)
            note(
                f"{path.name}: {result.duplicates:,} claim(s) skipped, already in the store "
                f"(same CLM01, frequency, TIN, patient and dates): {refs}"
                + (f" and {more:,} more" if more > 0 else "")
            )
        if result.report is not None:
            report_reading(result.report, quiet=True)


def _print_done(path: Path, state: str, result: IngestResult | RemitIngest) -> None:
    console.print(
        f"{path.name}: {state} ({result.claims:,} claims, {result.lines:,} lines)",
        highlight=False,
        markup=False,
    )


def _remit_done(path: Path, result: RemitIngest, quiet: bool) -> None:
    if not quiet:
        _print_done(path, "835 added" if result.added else "835 already in the store", result)
    for problem in result.problems:
        note(f"  left out: {problem}")
