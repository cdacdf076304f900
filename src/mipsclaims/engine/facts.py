"""Phase-1 facts of every batch, kept until phase 2 reads them in groups of patients.

The facts grow with the number of claims (about 190 bytes each). While they are small they
stay in memory and phase 2 reads them as one group. Past :data:`SPILL_BYTES` they are
written to Arrow IPC files in a private temporary directory (mode 0700, removed when the
last reader of the facts is gone), and phase 2 reads them back in groups of whole patients
of about :data:`GROUP_CLAIMS` claims each, so that peak memory stays about the same for a
month of claims or for five years of them.

Every eligible instance lies within one patient, and counts add up over patients, so a
group of patients can be counted on its own. Only the replacement/void keys (``keys``)
and the late scope reasons (``splits``) are needed across all claims; they are scanned.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import cast

import polars as pl

from ..errors import MipsClaimsError

#: Estimated bytes of facts held in memory before they are written to disk.
SPILL_BYTES = 64 << 20
#: Candidate claims per group when spilled facts are read back.
GROUP_CLAIMS = 200_000
#: Facts are bucketed by a hash of the patient id; groups are buckets modulo their number.
_BUCKETS = 1 << 12
_BUCKET = "_bucket"


class SpillError(MipsClaimsError, OSError):
    """The facts could not be written to the temporary directory (full, or not writable)."""


@dataclass(frozen=True)
class Reduced:
    """Phase 1 of one batch: compact per-claim facts, no PHI beyond ``patient_id``.

    ``uid`` numbers the candidate split claims; phase 2 needs it dense (0 .. n-1) and in
    (``claim_seq``, NPI) order, which :func:`localised` makes it.
    """

    keys: pl.DataFrame  # per input claim: replacement/void keys (scope.BatchScope.keys)
    splits: pl.DataFrame  # per split claim: late scope reason, lines
    claims: pl.DataFrame  # per candidate split claim: uid, entity, patient, date, claim ids
    markers: pl.DataFrame  # per eligible (uid, mkey): rank
    details: pl.DataFrame  # per (uid, mkey) with QDCs: QDC codes, conflicts
    visit_lines: pl.DataFrame  # qualifying lines of visit measures (uid, mkey)
    claim_dx: pl.DataFrame  # (uid, dx) of measure diagnoses only (episode linking)
    findings: pl.DataFrame


#: Every kind of fact, and those keyed by ``uid`` (``keys`` and ``splits`` are keyed by
#: ``claim_seq`` and read across all claims).
_KINDS = tuple(f.name for f in fields(Reduced))
PER_CLAIM = tuple(n for n in _KINDS if n not in ("keys", "splits"))


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]


class FactStore:
    """The facts of every batch in input order, with ``uid`` numbered across batches.

    :meth:`add` each batch's facts, then read :meth:`keys` and :meth:`splits` and take
    :meth:`groups`.
    """

    def __init__(self, *, spill: bool = True, reread: bool = False) -> None:
        """``spill=False`` keeps every fact in memory (nothing is written to disk);
        ``reread``: facts kept in memory are handed over by every :meth:`groups`, not once
        (phase 2 runs more than once: one run per entity level)."""
        self._reread = reread
        self._spill_bytes = SPILL_BYTES if spill else float("inf")
        self._group_claims = max(1, GROUP_CLAIMS)
        self._held: dict[str, list[pl.DataFrame]] = {n: [] for n in _KINDS}
        self._held_bytes = 0
        self._claims = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._files: dict[str, list[Path]] = {n: [] for n in self._held}
        self._empty: Reduced | None = None

    @property
    def empty(self) -> bool:
        """Whether no batch was added."""
        return self._empty is None

    @property
    def spilled(self) -> bool:
        """Whether facts were written to disk (then every :meth:`groups` reads them back)."""
        return self._dir is not None

    def add(self, part: Reduced) -> None:
        """Keep one batch's facts (batch-local ``uid``), spilling if the budget is passed."""
        if self._empty is None:
            self._empty = replace(part, **{n: getattr(part, n).clear() for n in _KINDS})
        offset = self._claims
        self._claims += part.claims.height
        for name in _KINDS:
            frame = getattr(part, name)
            if name in PER_CLAIM:
                frame = frame.with_columns(pl.col("uid") + offset)
            self._held[name].append(frame)
        self._held_bytes += sum(getattr(part, n).estimated_size() for n in _KINDS)
        if self._held_bytes > self._spill_bytes:
            self._spill()

    def keys(self) -> pl.LazyFrame:
        """Replacement/void keys of every input claim (scanned from disk if spilled)."""
        return self._scan("keys")

    def splits(self) -> pl.LazyFrame:
        """Late scope reasons of every split claim (scanned from disk if spilled)."""
        return self._scan("splits")

    def _scan(self, name: str) -> pl.LazyFrame:
        if self.spilled:
            self._spill()
            return pl.scan_ipc(self._files[name])
        return _concat(self._held[name]).lazy()

    def _spill(self) -> None:
        """Write the held facts to one IPC file per kind, each fact with its patient's
        bucket. The store changes only once every kind is written: a failed write (a
        :class:`SpillError`) leaves the facts held."""
        if not self._held["claims"]:
            return
        try:
            written = self._write_held()
        except OSError as exc:
            where = self._dir.name if self._dir else (exc.filename or "the temporary directory")
            raise SpillError(
                f"could not write the run's temporary facts to {where}: {exc.strerror or exc}; "
                "set TMPDIR to a writable directory with free space"
            ) from exc
        for name, path in written.items():
            self._files[name].append(path)
            self._held[name] = []
        self._held_bytes = 0

    def _write_held(self) -> dict[str, Path]:
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="mipsclaims-facts-")
        claims = _concat(self._held["claims"])
        first = claims["uid"][0] if claims.height else 0
        # Held parts are consecutive and each in uid order: a claim's bucket is a gather.
        bucket = claims["patient_id"].hash(seed=0) % _BUCKETS
        del claims
        written = {}
        for name, frames in self._held.items():
            frame = _concat(frames)  # no copy: the frames become chunks
            if name in PER_CLAIM:
                frame = frame.with_columns(bucket.gather(frame["uid"] - first).alias(_BUCKET))
            path = Path(self._dir.name) / f"{name}-{len(self._files[name])}.arrow"
            frame.write_ipc(path, compression="uncompressed")
            written[name] = path
        return written

    def groups(self) -> Iterator[Reduced]:
        """The facts in groups of whole patients, ``uid`` local to the group (see
        :func:`localised`); ``keys`` and ``splits`` of each group are empty (read them
        with :meth:`keys` and :meth:`splits`).

        Facts never spilled are handed over as one group, once (every time when
        ``reread``); spilled facts are read back on every call.
        """
        if self._empty is None:
            return
        if not self.spilled:  # one group, handed over: the store keeps keys and splits
            if not self._held["claims"]:
                return
            combined = {n: _concat(self._held[n]) for n in PER_CLAIM}
            for name in PER_CLAIM:
                self._held[name] = [combined[name]] if self._reread else []
            yield localised(replace(self._empty, **combined))
            return
        self._spill()
        # At most one group per bucket: more would be empty.
        count = min(max(1, -(-self._claims // self._group_claims)), _BUCKETS)
        for group in range(count):
            in_group = (pl.col(_BUCKET) % count) == group
            read = {
                name: pl.scan_ipc(self._files[name]).filter(in_group).drop(_BUCKET).collect()
                for name in PER_CLAIM
            }
            yield localised(replace(self._empty, **read))


def localised(r: Reduced) -> Reduced:
    """``uid`` made dense (0 .. n-1) and in (``claim_seq``, NPI) order, as phase 2 needs.

    Batches in input order keep uid in that order already (each claim is in one batch):
    a group then only needs its uids made dense, by position. Batches out of input order
    are numbered by sorting their claims first.
    """
    claims = r.claims
    uid = claims["uid"]
    in_order = (
        uid.is_sorted()
        and claims.select(pl.col("claim_seq").diff().fill_null(0).ge(0).all()).item()
    )
    if in_order and (uid.len() == 0 or (uid[0] == 0 and uid[-1] == uid.len() - 1)):
        return r
    ordered = uid if in_order else claims.sort("claim_seq", pl.col("npi").cast(pl.String))["uid"]
    # New numbers by position in that order, scattered into an array indexed by old uid.
    positions = pl.int_range(uid.len(), dtype=pl.Int64, eager=True)
    size = cast(int, uid.max()) + 1  # polars types max() as any scalar; uid: non-empty Int64
    new = pl.select(pl.repeat(None, size, dtype=pl.Int64)).to_series().scatter(ordered, positions)
    renumbered = {
        n: getattr(r, n).with_columns(new.gather(getattr(r, n)["uid"]).alias("uid"))
        for n in PER_CLAIM
    }
    if not in_order:
        renumbered["claims"] = renumbered["claims"].sort("uid")
    return replace(r, **renumbered)
