"""The input layer: sniffing by content, files, a store and tables as one stream of
batches, the one claim_seq rule, progress, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from mipsclaims import api, flatfile, store, x12
from mipsclaims.inputs import InputError, iter_claim_lines, load_claim_lines, sniff
from mipsclaims.schema import conform
from mipsclaims.synth import SynthConfig, synthetic_837
from support_engine import claim, counts, frame


@pytest.fixture
def files(tmp_path):
    a = synthetic_837(SynthConfig(claims=20, seed=1))
    b = synthetic_837(SynthConfig(claims=30, seed=2))
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbf\n" + a)
    (tmp_path / "b.dat").write_bytes(b)
    table_b = x12.read_claim_lines(b)
    flatfile.write_flat_csv(table_b, tmp_path / "b.csv")
    table_b.write_parquet(tmp_path / "b.bin")
    return tmp_path, x12.read_claim_lines(a), table_b


def test_sniff_by_content(files):
    d, _, _ = files
    assert [sniff(d / n) for n in ("a.txt", "b.dat", "b.csv", "b.bin")] == [
        "x12",
        "x12",
        "csv",
        "parquet",
    ]


@pytest.mark.parametrize("second", ["b.dat", "b.csv", "b.bin"])
def test_claim_seq_continues_across_files(files, second):
    d, table_a, table_b = files
    table, report = load_claim_lines([d / "a.txt", d / second])
    assert table.height == table_a.height + table_b.height
    assert report.claims_read == 50 and len(report.sources) == 2
    tail = table.slice(table_a.height)
    assert tail["claim_seq"].min() == 20
    expected = table_b.with_columns((table_b["claim_seq"] + 20).alias("claim_seq"))
    assert_frame_equal(tail.drop("source"), expected.drop("source"))
    assert tail["source"].unique().to_list() == [str(d / second)]


def test_single_path_and_unreadable_inputs(files, tmp_path):
    d, table_a, _ = files
    table, _ = load_claim_lines(d / "a.txt")
    assert table.height == table_a.height
    with pytest.raises(InputError, match=r"no such file: .*missing\.837"):
        load_claim_lines([tmp_path / "missing.837"])
    (tmp_path / "bad.837").write_bytes(b"ISA*00*garbage~")
    with pytest.raises(InputError):
        load_claim_lines([tmp_path / "bad.837"])


# --- the one claim_seq rule ---------------------------------------------------------------


def _csv(path: Path, *claims) -> Path:
    flatfile.write_flat_csv(frame(*claims), path)
    return path


def _seqs(batches) -> list[int]:
    return pl.concat(list(batches))["claim_seq"].unique(maintain_order=True).to_list()


def test_a_file_hands_on_past_every_claim_it_saw_also_a_quarantined_last_one(tmp_path):
    # a.csv: 3 claims, the last one quarantined (a date that is none); b.csv: 1 claim.
    a = _csv(tmp_path / "a.csv", claim("A", ["99213"]), claim("B", ["99213"]),
             claim("C", ["99213"]))  # fmt: skip
    text = a.read_text().splitlines()
    text[-1] = text[-1].replace("2025-03-01", "2025-13-45")
    a.write_text("\n".join(text) + "\n")
    b = _csv(tmp_path / "b.csv", claim("D", ["99213"]))
    report = x12.ReadReport()
    assert _seqs(iter_claim_lines([a, b], report)) == [0, 1, 3]  # not 2: claim #2 was seen
    assert [q.claim_seq for q in report.quarantined] == [2]
    assert (report.claims_seen, report.claims_read) == (4, 3)


def test_a_file_with_its_own_claim_seq_hands_on_past_its_highest(tmp_path):
    lines = frame(claim("A", ["99213"]), claim("B", ["99213"]), claim("C", ["99213"]))
    own = lines.with_columns(pl.col("claim_seq").replace_strict([0, 1, 2], [0, 5, 9]))
    flatfile.write_flat_csv(own, tmp_path / "own.csv")
    b = _csv(tmp_path / "b.csv", claim("D", ["99213"]))
    assert _seqs(iter_claim_lines([tmp_path / "own.csv", b])) == [0, 5, 9, 10]
    # A table in the list follows the same rule, after the file before it.
    table = frame(claim("E", ["99213"]), claim("F", ["99213"]))
    assert _seqs(iter_claim_lines([b, table, b])) == [0, 1, 2, 3]


def test_the_store_comes_first_and_files_continue_its_sequence(tmp_path):
    st = tmp_path / "store"
    a = _csv(tmp_path / "a.csv", claim("A", ["99213"]), claim("B", ["99213"], patient="P2"))
    store.ingest_files(st, [a])
    b = _csv(tmp_path / "b.csv", claim("C", ["99213"]))
    report = x12.ReadReport()
    lines = pl.concat(list(iter_claim_lines([b], report, store=st)))
    assert lines["claim_id"].to_list() == ["A", "B", "C"]
    assert lines["claim_seq"].to_list() == [0, 1, 2]
    assert report.sources == [str(st), str(b)]  # the store is a source of the read
    assert (report.claims_read, report.lines_read) == (3, 3)


@pytest.mark.parametrize("where", ["files", "store"])
def test_a_void_in_a_later_file_removes_a_claim_of_an_earlier_file_or_the_store(tmp_path, where):
    original = claim("A", ["99213", "G8733"])  # 181 met
    first = _csv(tmp_path / "first.csv", original, claim("Z", ["99213"], patient="P9"))
    void = _csv(tmp_path / "void.csv", claim("A", ["99213"], frequency="8"))
    if where == "files":
        result = api.evaluate([first, void], 2025)
    else:
        store.ingest_files(tmp_path / "st", [first])
        result = api.evaluate([void], 2025, store=tmp_path / "st")
    scope = {r["reason"]: r["claims"] for r in result.scope.iter_rows(named=True)}
    assert scope["voided"] == 1 and scope["void_request"] == 1
    assert counts(result, "181") == (1, 0, 0, 0, 0, 1)  # only Z (no QDC) is left
    # Order matters: the same void before the original is ignored (measure-logic 1).
    assert counts(api.evaluate([void, first], 2025), "181") == (2, 1, 0, 0, 0, 1)


def test_a_replacement_in_a_later_file_replaces_a_claim_in_the_store(tmp_path):
    st = tmp_path / "st"
    store.ingest_files(st, [_csv(tmp_path / "a.csv", claim("A", ["99213"]))])
    fix = _csv(tmp_path / "fix.csv", claim("A", ["99213", "G8733"], frequency="7"))
    result = api.evaluate(fix, 2025, store=st)
    assert counts(result, "181") == (1, 1, 0, 0, 0, 0)  # only the replacement counts
    assert result.instances.filter(pl.col("measure_id") == "181")["claim_seqs"].to_list() == [[1]]


# --- the lazy store reader ------------------------------------------------------------------


def test_scan_store_is_lazy_and_equals_the_eager_read_and_the_batches(tmp_path):
    st = tmp_path / "st"
    files = []
    for n, seed in enumerate((1, 2, 3)):
        files.append(tmp_path / f"{n}.837")
        files[-1].write_bytes(synthetic_837(SynthConfig(claims=40, seed=seed)))
    store.ingest_files(st, files)
    scanned = store.scan_store(st)
    assert isinstance(scanned, pl.LazyFrame)
    eager = store.read_store(st)
    assert_frame_equal(scanned.collect(), eager)
    # What read_store used to do: every part read whole, then sorted.
    parts = [st / rel for e in store.read_manifest(st)["files"] for rel in e["parts"]]
    before = conform(pl.concat([pl.read_parquet(p) for p in parts], how="vertical_relaxed"))
    before = before.sort(["claim_seq", "line_number"], maintain_order=True, nulls_last=True)
    assert_frame_equal(eager, before)
    batches = list(store.iter_store_batches(st, batch_claims=7))
    assert len(batches) > 10 and all(b["claim_seq"].n_unique() <= 7 for b in batches)
    assert_frame_equal(pl.concat(batches), eager)
    # A claim's lines are never split between two batches.
    seqs = [set(b["claim_seq"].to_list()) for b in batches]
    assert all(not (x & y) for i, x in enumerate(seqs) for y in seqs[i + 1 :])
    assert eager["claim_seq"].to_list() == sorted(eager["claim_seq"].to_list())


def test_a_store_result_equals_its_files_result(tmp_path):
    files = []
    for n, seed in enumerate((4, 5)):
        files.append(tmp_path / f"{n}.837")
        files[-1].write_bytes(synthetic_837(SynthConfig(claims=60, seed=seed)))
    store.ingest_files(tmp_path / "st", files)
    from_store = api.evaluate(None, 2025, store=tmp_path / "st")
    from_files = api.evaluate(files, 2025)
    assert_frame_equal(from_store.rows, from_files.rows)


# --- errors and progress -----------------------------------------------------------------


def test_errors_say_where_before_anything_is_read(tmp_path, files):
    d, _, _ = files
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    # Every path is checked when the read is asked for, before a batch is made.
    with pytest.raises(InputError, match=r"no such file: .*x\.837, .*y\.837"):
        iter_claim_lines([d / "a.txt", tmp_path / "x.837", tmp_path / "y.837"])
    with pytest.raises(InputError, match=r"blob\.bin: not a claims file"):
        iter_claim_lines([d / "a.txt", tmp_path / "blob.bin"])
    with pytest.raises(InputError, match="not a mipsclaims store"):
        iter_claim_lines([d / "a.txt"], store=tmp_path)
    # A file that fails mid-way (an 835 given as claims) names itself.
    remit = tmp_path / "remit.835"
    remit.write_bytes(synthetic_837(SynthConfig(claims=2)).replace(b"ST*837*", b"ST*835*"))
    batches = iter_claim_lines([d / "a.txt", remit])
    with pytest.raises(InputError, match=r"remit\.835"):
        list(batches)


class _Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, list[int]] = {}
        self.done: list[tuple[str, int, int | None]] = []

    def reading(self, name: str):
        self.seen[name] = []
        return self.seen[name].append

    def file_done(self, name: str, size: int, claims: int | None = None) -> None:
        self.done.append((name, size, claims))


def test_progress_hears_bytes_as_they_are_read(files):
    d, _, _ = files
    progress = _Recorder()
    paths = [d / "a.txt", d / "b.csv", d / "b.bin"]
    list(iter_claim_lines(paths, progress=progress, batch_bytes=4096))
    sizes = [p.stat().st_size for p in paths]
    claims = (20, 30, 30)
    assert progress.done == [(p.name, s, c) for p, s, c in zip(paths, sizes, claims, strict=True)]
    for path, size in zip(paths, sizes, strict=True):
        heard = progress.seen[path.name]
        assert heard == sorted(heard) and heard[-1] == size
    assert len(progress.seen["a.txt"]) > 1  # during the file, not only at its end


def test_a_store_missing_a_part_fails_before_anything_is_read(tmp_path):
    st = tmp_path / "st"
    store.ingest_files(st, [_csv(tmp_path / "a.csv", claim("A", ["99213"]))])
    part = next(st.rglob("*.parquet"))
    part.unlink()
    with pytest.raises(InputError, match="manifest lists missing parts"):
        iter_claim_lines([], store=st)
    with pytest.raises(store.StoreError, match="missing parts"):
        store.scan_store(st)
