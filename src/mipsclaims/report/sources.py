"""Claim lines for a command: files read one by one (with progress), a store, or both.

Store claims come first (they were ingested earlier); files given on the command line come
after them, so their ``claim_seq`` continues the store's sequence and a replacement or void
in a new file applies to a claim already in the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import polars as pl

from .. import interrupt
from ..errors import InputError
from ..schema import conform, empty_claim_lines
from ..x12.report import ReadReport
from .progress import file_progress


@dataclass
class Loaded:
    lines: pl.DataFrame
    files: int = 0
    claims: int = 0
    report: ReadReport = field(default_factory=ReadReport)  # every file's, PHI-free


def iter_batches(
    files: Sequence[Path], store: Path | None, *, quiet: bool, loaded: Loaded
) -> Iterator[pl.DataFrame]:
    """Store lines (if any), then each file's batches with continuing ``claim_seq``.

    The engine's streaming path consumes this directly; :func:`load` concatenates it.
    ``loaded`` collects the files, claims and PHI-free notes on what could not be read.
    """
    from .. import store as store_mod

    next_seq = 0
    if store is not None:
        try:
            stored = store_mod.read_store(store)
            next_seq = int(store_mod.read_manifest(store)["next_seq"])
        except store_mod.StoreError as exc:
            raise InputError(str(exc)) from None
        loaded.claims += stored["claim_seq"].n_unique() if stored.height else 0
        yield conform(stored)
        del stored
    missing = [str(p) for p in files if not Path(p).exists()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    if not files:
        return
    from .. import inputs  # lazy: the readers are only needed for files
    from ..x12.report import X12Error

    # Every file is sniffed before any is read: a wrong one fails at once (InputError).
    kinds = [inputs.sniff(p) for p in files]
    total = sum(Path(p).stat().st_size for p in files)
    with file_progress(total, quiet=quiet) as progress:
        for path, kind in zip(files, kinds, strict=True):
            part, offset, claims = ReadReport(), next_seq, 0
            reading = progress.reading(Path(path).name)
            try:
                for batch in inputs.iter_file_batches(
                    Path(path), part, kind=kind, progress=reading
                ):
                    interrupt.check()  # a Ctrl-C lost somewhere stops the read here
                    batch = conform(batch)
                    if batch.height:  # an 837P batch holds whole claims
                        batch = batch.with_columns(pl.col("claim_seq") + offset)
                        # polars types max() as any scalar; claim_seq is Int64, so an int
                        next_seq = max(next_seq, cast(int, batch["claim_seq"].max()) + 1)
                        claims += batch["claim_seq"].n_unique()
                    yield batch
            except (OSError, ValueError, X12Error) as exc:
                raise InputError(str(exc)) from None
            loaded.claims += claims
            loaded.report.merge(part)
            progress.file_done(Path(path).name, Path(path).stat().st_size, claims)


def load(files: Sequence[Path], store: Path | None, *, quiet: bool) -> Loaded:
    """Store lines (if any), then each file's lines with continuing ``claim_seq``."""
    loaded = Loaded(lines=empty_claim_lines(), files=len(files))
    frames = list(iter_batches(files, store, quiet=quiet, loaded=loaded))
    if frames:
        loaded.lines = pl.concat(frames, how="vertical")
    loaded.claims = loaded.lines["claim_seq"].n_unique() if loaded.lines.height else 0
    return loaded
