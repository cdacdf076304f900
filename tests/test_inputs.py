"""load_claim_lines: sniffing by content, one table, claim_seq continuing across files."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from mipsclaims import flatfile, x12
from mipsclaims.inputs import InputError, load_claim_lines, sniff
from mipsclaims.synth import SynthConfig, synthetic_837


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
    with pytest.raises(InputError, match="cannot open"):
        load_claim_lines([tmp_path / "missing.837"])
    (tmp_path / "bad.837").write_bytes(b"ISA*00*garbage~")
    with pytest.raises(InputError):
        load_claim_lines([tmp_path / "bad.837"])
