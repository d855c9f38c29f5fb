"""Collectives: the vectorised core vs numpy vs the reference loop over 10^6 (bytes, ranks)."""

from __future__ import annotations

import numpy as np
import pytest

import brickwall as bw
from brickwall.reference import collectives as ref

N = 1_000_000
RNG = np.random.default_rng(0)
BYTES = RNG.uniform(0, 1e10, N)
RANKS = RNG.integers(1, 1024, N).astype(np.uint64)


def numpy_all_reduce(n: np.ndarray, p: np.ndarray, alpha: float, bandwidth: float) -> np.ndarray:
    pf = p.astype(np.float64)
    t = 2 * (pf - 1) * alpha + 2 * ((pf - 1) / pf) * n / bandwidth
    return np.where((pf <= 1) | (n <= 0), 0.0, t)


def core_all_reduce() -> np.ndarray:
    return bw.collective_time("all-reduce", BYTES, RANKS, bandwidth=450e9, latency=2e-6)


def test_agree() -> None:
    np.testing.assert_allclose(
        core_all_reduce(), numpy_all_reduce(BYTES, RANKS, 2e-6, 450e9), rtol=1e-12
    )


@pytest.mark.benchmark(group="collectives/1e6")
def test_core(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(core_all_reduce)


@pytest.mark.benchmark(group="collectives/1e6")
def test_numpy(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(numpy_all_reduce, BYTES, RANKS, 2e-6, 450e9)


@pytest.mark.benchmark(group="collectives/1e6")
def test_reference(benchmark) -> None:  # type: ignore[no-untyped-def]
    k = 20_000  # the pure-Python loop on a 1/50 slice, scaled in the report
    b, r = BYTES[:k].tolist(), RANKS[:k].tolist()
    benchmark.extra_info["scale"] = N / k
    benchmark(
        lambda: [ref.collective_time("all-reduce", x, int(p), 2e-6, 450e9) for x, p in zip(b, r)]
    )
