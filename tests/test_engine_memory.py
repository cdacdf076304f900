"""Free heap memory is handed back once, between the engine's two phases (engine/memory.py).

The saving itself is measured, not tested (``benchmarks/bench_memory.py``): RSS depends on
the allocator and the machine. What is tested is where the release happens, that it
changes no result, and that a C library without ``malloc_trim`` is no error.
"""

from __future__ import annotations

import ctypes
import sys

import pytest

from mipsclaims.engine import evaluate_levels, memory, pipeline

synth = pytest.importorskip("mipsclaims.synth")
x12 = pytest.importorskip("mipsclaims.x12")


@pytest.fixture(scope="module")
def lines():
    data = synth.synthetic_837(synth.SynthConfig(year=2025, claims=300, seed=3))
    return x12.read_claim_lines(data)


def test_memory_is_released_after_every_batch_is_reduced_and_before_counting(lines, monkeypatch):
    events: list[str] = []
    reduce, evaluate = pipeline._reduce, pipeline._evaluate

    def reduced(*args, **kwargs):
        events.append("reduce")
        return reduce(*args, **kwargs)

    def evaluated(*args, **kwargs):
        events.append("evaluate")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_reduce", reduced)
    monkeypatch.setattr(pipeline, "_evaluate", evaluated)
    monkeypatch.setattr(pipeline, "release_free_memory", lambda: events.append("release"))
    batches = [lines.slice(i, 200) for i in range(0, lines.height, 200)]
    monkeypatch.setattr(pipeline, "GATHER_ROWS", 1)  # one reduction per batch
    evaluate_levels(iter(batches), 2025, ["tin-npi", "tin"])
    reductions = events.count("reduce")
    assert reductions >= 2
    assert events == ["reduce"] * reductions + ["release", "evaluate", "evaluate"]


def test_releasing_memory_changes_no_result(lines, monkeypatch):
    released = evaluate_levels(lines, 2025, ["tin-npi"])[0]
    monkeypatch.setattr(pipeline, "release_free_memory", lambda: False)
    kept = evaluate_levels(lines, 2025, ["tin-npi"])[0]
    assert released.rows.equals(kept.rows)
    assert released.scope.equals(kept.scope)
    assert released.rows.height > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_glibc_memory_is_released():
    if not hasattr(ctypes.CDLL(None), "malloc_trim"):
        pytest.skip("a C library without malloc_trim (musl)")
    assert memory.release_free_memory() is True


def test_a_c_library_without_malloc_trim_is_no_error(monkeypatch):
    class NoTrim:
        def __init__(self, name):
            pass

        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(memory.ctypes, "CDLL", NoTrim)
    memory._malloc_trim.cache_clear()
    try:
        assert memory.release_free_memory() is False
    finally:
        memory._malloc_trim.cache_clear()
