"""Empirical length draws: the core's guide-table inversion vs numpy's binary search
(``np.searchsorted`` over the cumulative weights) for 2^20 draws from a histogram of 10^6 bins,
and vs the core on 8 bins (the guide keeps a draw's cost nearly independent of the bins).

``python -m benches.bench_workload`` times all three in one run and prints ns per draw and the
ratios.
"""

from __future__ import annotations

import numpy as np
import pytest
from brickwall import _core
from numpy.typing import NDArray

from .timing import best_wall

DRAWS = 1 << 20
BINS = 10**6
VALUES = np.arange(1, BINS + 1, dtype=np.uint64)
WEIGHTS = np.random.default_rng(0).random(BINS)
SMALL = (VALUES[:8].copy(), WEIGHTS[:8].copy())


def core() -> NDArray[np.uint64]:
    return _core.serving_lengths_empirical(VALUES, WEIGHTS, DRAWS, 0, 1)


def core_small() -> NDArray[np.uint64]:
    return _core.serving_lengths_empirical(*SMALL, DRAWS, 0, 1)


def numpy_search() -> NDArray[np.uint64]:
    cdf = np.cumsum(WEIGHTS)
    u = np.random.default_rng(0).random(DRAWS) * cdf[-1]
    return VALUES[np.minimum(np.searchsorted(cdf, u, side="right"), BINS - 1)]


@pytest.mark.benchmark(group="workload-empirical")
def test_core_empirical(benchmark) -> None:  # type: ignore[no-untyped-def]
    out = benchmark(core)
    assert len(out) == DRAWS and out.min() >= 1 and out.max() <= BINS


@pytest.mark.benchmark(group="workload-empirical")
def test_numpy_empirical(benchmark) -> None:  # type: ignore[no-untyped-def]
    out = benchmark(numpy_search)
    # Same distribution (not the same stream): the means agree within 5 standard errors.
    sd = BINS / np.sqrt(12 * DRAWS)
    assert abs(float(out.mean()) - float(core().mean())) < 5 * np.sqrt(2) * sd


def main() -> None:
    big, small, ref = best_wall(core, 5), best_wall(core_small, 5), best_wall(numpy_search, 5)
    print(f"empirical lengths, {DRAWS:,} draws:")
    for name, t in (("core 10^6 bins", big), ("core 8 bins", small), ("numpy 10^6 bins", ref)):
        print(f"  {name:16} {t * 1e3:8.1f} ms {t / DRAWS * 1e9:7.1f} ns/draw")
    print(f"  numpy / core (10^6 bins) {ref / big:.2f}x; 10^6 bins / 8 bins {big / small:.2f}x")


if __name__ == "__main__":
    main()
