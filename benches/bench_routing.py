"""MoE routing: routed token-choices per second, core vs the best vectorised numpy vs the
pure-Python reference, and the core on 1 vs 2 threads (RAYON_NUM_THREADS, in subprocesses).

`pytest benches/bench_routing.py --benchmark-enable` measures; `python -m benches.bench_routing`
prints the ratios (choices/s per core included) in one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import brickwall as bw
import numpy as np
import pytest
from brickwall.reference import routing as ref

E, K, B = 16, 2, 8
TRIALS = 200_000  # 3.2e6 choices per call
CHOICES = TRIALS * B * K


def numpy_top2(trials: int, seed: int = 0, chunk: int = 1 << 16) -> dict[str, np.ndarray]:
    """The fastest numpy I could write for uniform top-2: the second expert drawn from the
    remaining E-1 (shifted past the first), loads by one bincount over (trial, expert) keys,
    then the same histograms as the core (per-expert load, max, touched)."""
    rng = np.random.default_rng(seed)
    load = np.zeros(B + 1, np.int64)
    mx = np.zeros(B + 1, np.int64)
    touched = np.zeros(E + 1, np.int64)
    offsets = (np.arange(chunk, dtype=np.int64) * E)[:, None]
    for start in range(0, trials, chunk):
        n = min(chunk, trials - start)
        first = rng.integers(0, E, size=(n, B), dtype=np.int64)
        second = rng.integers(0, E - 1, size=(n, B), dtype=np.int64)
        second += second >= first
        keys = np.concatenate([first + offsets[:n], second + offsets[:n]], axis=1)
        loads = np.bincount(keys.ravel(), minlength=n * E).reshape(n, E)
        load += np.bincount(loads.ravel(), minlength=B + 1)
        mx += np.bincount(loads.max(axis=1), minlength=B + 1)
        touched += np.bincount(np.count_nonzero(loads, axis=1), minlength=E + 1)
    return {"load": load, "max_load": mx, "touched": touched}


def core_top2(trials: int = TRIALS, seed: int = 0) -> bw.moe.ExpertLoad:
    return bw.moe.route(E, K, B, trials, seed)


def test_numpy_agrees_statistically() -> None:
    n = 100_000
    got = numpy_top2(n)["load"] / (n * E)
    want = bw.moe.load_pmf(E, K, B)
    assert np.all(np.abs(got - want) <= 5 * np.sqrt(want * (1 - want) / n) + 1e-9)


@pytest.mark.benchmark(group="routing/top2-of-16-b8-2e5")
def test_core(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["choices"] = CHOICES
    benchmark(core_top2)


@pytest.mark.benchmark(group="routing/top2-of-16-b8-2e5")
def test_numpy(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["choices"] = CHOICES
    benchmark(numpy_top2, TRIALS)


@pytest.mark.benchmark(group="routing/top2-of-16-b8-2e5")
def test_reference(benchmark) -> None:  # type: ignore[no-untyped-def]
    k = 1_000  # the pure-Python replay on 1/200 of the trials, scaled in the report
    benchmark.extra_info["scale"] = TRIALS / k
    benchmark(ref.replay, E, K, B, k, 0)


@pytest.mark.benchmark(group="routing/zipf-top2-of-64-b256-2e3")
def test_core_zipf(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(bw.moe.route, 64, 2, 256, 2_000, 0, ("zipf", 1.1))


# The exact laws (routing_exact.rs) vs their former Python loops (reference.routing).


@pytest.mark.benchmark(group="routing-exact/column-dp-16-2-8")
def test_exact_core_column_dp(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(bw.moe.max_load_cdf, 16, 2, 8)


@pytest.mark.benchmark(group="routing-exact/column-dp-16-2-8")
def test_exact_reference_column_dp(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(ref.max_load_cdf, 16, 2, 8, None)


@pytest.mark.benchmark(group="routing-exact/multinomial-zipf-16-1-200")
def test_exact_core_multinomial(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(bw.moe.max_load_cdf, 16, 1, 200, ("zipf", 1.0), method="multinomial")


@pytest.mark.benchmark(group="routing-exact/multinomial-zipf-16-1-200")
def test_exact_reference_multinomial(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(ref.max_load_cdf, 16, 1, 200, bw.moe.zipf(16, 1.0), "multinomial")


THREAD_SCRIPT = """
import json, time, brickwall as bw
bw.moe.route(16, 2, 8, 100_000)  # warm up the pool
wall, cpu = float("inf"), float("inf")
for _ in range({repeats}):
    w0, c0 = time.perf_counter(), time.process_time()
    bw.moe.route(16, 2, 8, {trials}, 1)
    wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
print(json.dumps([wall, cpu]))
"""


def core_seconds(threads: int, trials: int, repeats: int = 3) -> tuple[float, float]:
    """Best (wall, CPU) seconds of the core on `trials` steps with RAYON_NUM_THREADS=threads."""
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    code = THREAD_SCRIPT.format(trials=trials, repeats=repeats)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    wall, cpu = json.loads(out.stdout)
    return float(wall), float(cpu)


def test_one_vs_two_threads_smoke() -> None:
    # Timing lives in report(); here only that both pool sizes run.
    assert core_seconds(1, 20_000, 1)[0] > 0 and core_seconds(2, 20_000, 1)[0] > 0


def _best(f, repeats: int = 3) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        f()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu


def report() -> None:
    """Wall time (what a user waits) and CPU time (what a busy shared machine cannot inflate as
    much) of the same work, everything scaled to 10^7 steps."""
    trials = 10_000_000
    choices = trials * B * K
    one_w, one_c = core_seconds(1, trials)
    two_w, two_c = core_seconds(2, trials)
    n_np = 1_000_000
    np_w, np_c = (t * trials / n_np for t in _best(lambda: numpy_top2(n_np)))
    n_ref = 2_000
    ref_w, ref_c = (t * trials / n_ref for t in _best(lambda: ref.replay(E, K, B, n_ref, 0), 1))
    z_w, _ = _best(lambda: bw.moe.route(64, 2, 256, 20_000, 0, ("zipf", 1.1)))
    print(
        f"uniform top-{K} of {E}, {B} tokens, {trials:.0e} steps = {choices:.2e} choices; load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':24}{'wall s':>9}{'choices/s':>12}{'CPU s':>9}{'choices/CPU-s':>15}")
    for name, w, c in (
        ("core, 2 threads", two_w, two_c),
        ("core, 1 thread", one_w, one_c),
        ("numpy (1e6 scaled)", np_w, np_c),
        ("reference (2e3 scaled)", ref_w, ref_c),
    ):
        print(f"{name:24}{w:9.3f}{choices / w:12.3e}{c:9.3f}{choices / c:15.3e}")
    print(
        f"core 2 threads vs numpy: {np_w / two_w:.1f}x wall; core per core vs numpy: {np_c / one_c:.1f}x CPU;"
        f" vs reference: {ref_w / two_w:.0f}x wall; 2 vs 1 threads: {one_w / two_w:.2f}x wall"
    )
    print(
        f"zipf(1.1) top-2 of 64, 256 tokens, 2e4 steps: {z_w:.3f} s ({20_000 * 256 * 2 / z_w:.3e} choices/s)"
    )
    zipf = bw.moe.zipf(16, 1.0)
    for name, core, python in (
        (
            "max-load CDF, column DP, top-2 of 16, B = 8",
            lambda: bw.moe.max_load_cdf(16, 2, 8),
            lambda: ref.max_load_cdf(16, 2, 8, None),
        ),
        (
            "max-load CDF, multinomial, zipf top-1 of 16, B = 200",
            lambda: bw.moe.max_load_cdf(16, 1, 200, ("zipf", 1.0), method="multinomial"),
            lambda: ref.max_load_cdf(16, 1, 200, zipf, "multinomial"),
        ),
        (
            "inclusion probabilities, zipf top-8 of 64",
            lambda: bw.moe.inclusion_probabilities(64, 8, ("zipf", 1.0)),
            lambda: ref.inclusion_probabilities(64, 8, bw.moe.zipf(64, 1.0)),
        ),
    ):
        c_w, _ = _best(core)
        p_w, _ = _best(python, 1)
        print(
            f"{name}: core {c_w * 1e3:.2f} ms, Python (reference) {p_w * 1e3:.1f} ms: {p_w / c_w:.1f}x"
        )


if __name__ == "__main__":
    report()
