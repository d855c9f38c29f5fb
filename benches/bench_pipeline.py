"""Pipeline: the core simulator vs the reference event loop (1F1B 64 x 4096, interleaved with 4
chunks), and the vectorised closed-form bubble fraction over 10^6 points vs numpy.

The reference runs on a slice of the microbatches (its cost is linear in the op count) and
records the scale factor in extra_info, as bench_collectives does.
"""

from __future__ import annotations

import numpy as np
import pytest

from brickwall import pipeline as pp
from brickwall.reference import pipeline as ref

P, M = 64, 4096
REF_M = 256  # the reference's slice: 64 x 256 microbatches, scaled by M / REF_M in the report

N = 1_000_000
RNG = np.random.default_rng(0)
STAGES = RNG.integers(1, 129, N).astype(np.uint64)
MICRO = (STAGES * RNG.integers(1, 64, N).astype(np.uint64)).astype(np.uint64)  # multiples of p
CHUNKS = RNG.integers(1, 9, N).astype(np.uint64)


def numpy_interleaved(
    p: np.ndarray, m: np.ndarray, v: np.ndarray, f: float, b: float
) -> np.ndarray:
    pf, mf, vf = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    bubble = (pf - 1) * (f + b) / vf
    return bubble / (mf * (f + b) + bubble)


def core_interleaved() -> np.ndarray:
    return np.asarray(
        pp.bubble_fraction("interleaved-1f1b", STAGES, MICRO, CHUNKS, forward=1.0, backward=2.0)
    )


def test_agree() -> None:
    np.testing.assert_allclose(
        core_interleaved(), numpy_interleaved(STAGES, MICRO, CHUNKS, 1.0, 2.0), rtol=1e-12
    )
    s = pp.simulate("1f1b", 8, 32, 1.0, 2.0)
    r = ref.simulate("1f1b", 8, 32, [1.0], [2.0])
    assert s.timeline.end.tolist() == r["end"]


@pytest.mark.benchmark(group="pipeline-1f1b/64x4096")
def test_core_1f1b(benchmark) -> None:  # type: ignore[no-untyped-def]
    s = benchmark(pp.simulate, "1f1b", P, M, 1.0, 2.0)
    assert s.makespan == (M + P - 1) * 3.0


@pytest.mark.benchmark(group="pipeline-1f1b/64x4096")
def test_reference_1f1b(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["scale"] = M / REF_M
    benchmark(ref.simulate, "1f1b", P, REF_M, [1.0], [2.0])


@pytest.mark.benchmark(group="pipeline-interleaved/64x4096x4")
def test_core_interleaved(benchmark) -> None:  # type: ignore[no-untyped-def]
    s = benchmark(pp.simulate, "interleaved-1f1b", P, M, 1.0, 2.0, chunks=4)
    assert s.bubble_ratio == pytest.approx((P - 1) / (4 * M), rel=1e-9)


@pytest.mark.benchmark(group="pipeline-interleaved/64x4096x4")
def test_reference_interleaved(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["scale"] = M / REF_M
    benchmark(ref.simulate, "interleaved-1f1b", P, REF_M, [1.0], [2.0], None, 4)


@pytest.mark.benchmark(group="pipeline-bubble-fraction/1e6")
def test_core_bubble_fraction(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(core_interleaved)


@pytest.mark.benchmark(group="pipeline-bubble-fraction/1e6")
def test_numpy_bubble_fraction(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(numpy_interleaved, STAGES, MICRO, CHUNKS, 1.0, 2.0)


def _ratios() -> None:
    """`python benches/bench_pipeline.py`: best-of-n wall times and the ratios, in one run."""
    import time

    def best(fn, n: int) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    core = best(lambda: pp.simulate("1f1b", P, M, 1.0, 2.0), 7)
    slow = best(lambda: ref.simulate("1f1b", P, REF_M, [1.0], [2.0]), 3) * M / REF_M
    print(
        f"1f1b {P}x{M}: core {core * 1e3:.1f} ms, reference {slow:.2f} s (scaled from {P}x{REF_M}): {slow / core:.0f}x"
    )
    core = best(lambda: pp.simulate("interleaved-1f1b", P, M, 1.0, 2.0, chunks=4), 5)
    slow = (
        best(lambda: ref.simulate("interleaved-1f1b", P, REF_M, [1.0], [2.0], None, 4), 3)
        * M
        / REF_M
    )
    print(
        f"interleaved {P}x{M}x4: core {core * 1e3:.1f} ms, reference {slow:.2f} s: {slow / core:.0f}x"
    )
    core = best(core_interleaved, 15)
    base = best(lambda: numpy_interleaved(STAGES, MICRO, CHUNKS, 1.0, 2.0), 15)
    print(
        f"bubble_fraction {N:.0e} points: core {core * 1e3:.2f} ms ({N / core / 1e6:.0f} M points/s), numpy {base * 1e3:.2f} ms: {base / core:.1f}x"
    )


if __name__ == "__main__":
    _ratios()
