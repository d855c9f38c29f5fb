"""Collectives: the vectorised core vs numpy vs the reference loop over 10^6 (bytes, ranks)."""

from __future__ import annotations

import brickwall as bw
import numpy as np
import pytest
from brickwall.reference import collectives as ref

N = 1_000_000
RNG = np.random.default_rng(0)
BYTES = RNG.uniform(0, 1e10, N)
RANKS = RNG.integers(1, 1024, N).astype(np.uint64)


def numpy_all_reduce(n: np.ndarray, p: np.ndarray, alpha: float, bandwidth: float) -> np.ndarray:
    pf = p.astype(np.float64)
    t = 2 * (pf - 1) * alpha + 2 * ((pf - 1) / pf) * n / bandwidth
    return np.where((pf <= 1) | (n <= 0), 0.0, t)


def numpy_auto_all_reduce(
    n: np.ndarray, p: np.ndarray, alpha: float, bandwidth: float
) -> np.ndarray:
    pf = p.astype(np.float64)
    share = (pf - 1) / pf
    t = np.minimum.reduce(
        [
            2 * (pf - 1) * alpha + 2 * share * n / bandwidth,  # ring
            2 * np.ceil(np.log2(pf)) * alpha + 2 * n / bandwidth,  # tree
            alpha + (pf - 1) * n / bandwidth,  # one-shot
            2 * alpha + 2 * share * n / bandwidth,  # two-shot
        ]
    )
    return np.where((pf <= 1) | (n <= 0), 0.0, t)


def core_auto_all_reduce() -> np.ndarray:
    return bw.collective_time(
        "all-reduce", BYTES, RANKS, bandwidth=450e9, latency=2e-6, algorithm="auto"
    )


def core_all_reduce() -> np.ndarray:
    return bw.collective_time("all-reduce", BYTES, RANKS, bandwidth=450e9, latency=2e-6)


def test_agree() -> None:
    np.testing.assert_allclose(
        core_all_reduce(), numpy_all_reduce(BYTES, RANKS, 2e-6, 450e9), rtol=1e-12
    )


def test_agree_auto() -> None:
    np.testing.assert_allclose(
        core_auto_all_reduce(), numpy_auto_all_reduce(BYTES, RANKS, 2e-6, 450e9), rtol=1e-12
    )


@pytest.mark.benchmark(group="collectives-auto/1e6")
def test_core_auto(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(core_auto_all_reduce)


@pytest.mark.benchmark(group="collectives-auto/1e6")
def test_numpy_auto(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(numpy_auto_all_reduce, BYTES, RANKS, 2e-6, 450e9)


@pytest.mark.benchmark(group="collectives-auto/1e6")
def test_reference_auto(benchmark) -> None:  # type: ignore[no-untyped-def]
    k = 20_000  # the pure-Python loop on a 1/50 slice, scaled in the report
    b, r = BYTES[:k].tolist(), RANKS[:k].tolist()
    benchmark.extra_info["scale"] = N / k
    benchmark(lambda: [ref.all_reduce(x, int(p), 2e-6, 450e9, "auto") for x, p in zip(b, r)])


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
