"""Claim lines for a command: files read one by one (with progress), a store, or both.

Store claims come first (they were ingested earlier); files given on the command line come
after them, so their ``claim_seq`` continues the store's sequence and a replacement or void
in a new file applies to a claim already in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..schema import conform, empty_claim_lines
from .progress import file_progress


class InputError(Exception):
    """An input that cannot be read at all (missing file, not a claim file, bad store)."""


@dataclass
class Loaded:
    lines: pl.DataFrame
    files: int = 0
    claims: int = 0
    quarantined: list[str] = field(default_factory=list)  # PHI-free messages
    warnings: int = 0


def load(files: Sequence[Path], store: Path | None, *, quiet: bool) -> Loaded:
    """Store lines (if any), then each file's lines with continuing ``claim_seq``."""
    from .. import store as store_mod

    frames: list[pl.DataFrame] = []
    next_seq = 0
    if store is not None:
        try:
            stored = store_mod.read_store(store)
            next_seq = int(store_mod.read_manifest(store)["next_seq"])
        except store_mod.StoreError as exc:
            raise InputError(str(exc)) from None
        frames.append(stored)
    missing = [str(p) for p in files if not Path(p).is_file()]
    if missing:
        raise InputError(f"no such file: {', '.join(missing)}")
    loaded = Loaded(lines=empty_claim_lines(), files=len(files))
    if files:
        from .. import inputs  # lazy: the readers are only needed for files
        from ..x12.report import X12Error

        total = sum(Path(p).stat().st_size for p in files)
        with file_progress(total, quiet=quiet) as progress:
            for path in files:
                try:
                    frame, report = inputs.load_claim_lines([Path(path)])
                except (OSError, ValueError, X12Error) as exc:
                    raise InputError(str(exc)) from None
                frame = conform(frame)
                claims = frame["claim_seq"].n_unique() if frame.height else 0
                if frame.height:
                    frame = frame.with_columns(pl.col("claim_seq") + next_seq)
                    next_seq = int(frame["claim_seq"].max()) + 1
                frames.append(frame)
                loaded.quarantined.extend(str(q) for q in getattr(report, "quarantined", []))
                loaded.quarantined.extend(str(e) for e in getattr(report, "errors", []))
                loaded.warnings += len(getattr(report, "warnings", []))
                progress.file_done(Path(path).name, Path(path).stat().st_size, claims)
    if frames:
        loaded.lines = pl.concat([conform(f) for f in frames], how="vertical")
    loaded.claims = loaded.lines["claim_seq"].n_unique() if loaded.lines.height else 0
    return loaded
