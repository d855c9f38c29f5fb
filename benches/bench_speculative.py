"""Speculative decoding: the acceptance kernel vs numpy on (rows x 131072) float32 arrays, with
a plain numpy ``p.sum()`` over the same bytes as the practical memory bandwidth; and the
simulation vs the pure-Python reference.

Plain ``pytest`` runs each benchmark once on 16 rows (smoke test). With ``--benchmark-enable``
the arrays have ``BRICKWALL_SPEC_ROWS`` rows (default 2048: two 1 GiB float32 arrays plus
numpy's 1 GiB temporary). ``python -m benches.bench_speculative [rows]`` prints every ratio in
one run, including 1 vs 2 threads (RAYON_NUM_THREADS, in subprocesses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from brickwall import speculative as spec
from brickwall.reference import speculative as ref

from .timing import best_wall

VOCAB = 131_072
SMOKE_ROWS = 16


def make_pair(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two (rows x VOCAB) float32 arrays of row-normalised probabilities, built in place."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        a = rng.random((rows, VOCAB), dtype=np.float32)
        a /= a.sum(axis=1, keepdims=True)
        out.append(a)
    return out[0], out[1]


@pytest.fixture(scope="module")
def pair(request: pytest.FixtureRequest) -> tuple[np.ndarray, np.ndarray]:
    cfg = request.config
    enabled = cfg.getoption("benchmark_enable", False) or not cfg.getoption(
        "benchmark_disable", True
    )
    rows = int(os.environ.get("BRICKWALL_SPEC_ROWS", "2048")) if enabled else SMOKE_ROWS
    return make_pair(rows)


def core_acceptance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return spec.acceptance(p, q)  # type: ignore[no-any-return]


def numpy_acceptance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.minimum(p, q).sum(axis=1)  # type: ignore[no-any-return]


def numpy_read(p: np.ndarray, q: np.ndarray) -> float:
    """A plain numpy reduction over the same bytes: the practical memory bandwidth."""
    return float(p.sum() + q.sum())


def test_agree(pair: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pair
    want = np.minimum(p[:4].astype(np.float64), q[:4]).sum(axis=1)
    np.testing.assert_allclose(core_acceptance(p, q)[:4], want, rtol=1e-5)


def _group(pair: tuple[np.ndarray, np.ndarray]) -> str:
    return f"acceptance/{pair[0].shape[0]}x{VOCAB}"


@pytest.mark.parametrize("name", ["core", "numpy", "numpy_sum"])
def test_acceptance(benchmark: Any, pair: tuple[np.ndarray, np.ndarray], name: str) -> None:
    benchmark.group = _group(pair)
    benchmark.extra_info["bytes"] = 2 * pair[0].nbytes
    fn = {"core": core_acceptance, "numpy": numpy_acceptance, "numpy_sum": numpy_read}[name]
    benchmark(fn, *pair)


# Simulation: 8 positions of a 64-token vocabulary.
SIM_V, SIM_GAMMA, SIM_TRIALS, REF_TRIALS = 64, 4, 200_000, 2_000
_rng = np.random.default_rng(3)
SIM_P = _rng.dirichlet(np.ones(SIM_V), SIM_GAMMA + 1)
SIM_Q = _rng.dirichlet(np.ones(SIM_V), SIM_GAMMA)


@pytest.mark.benchmark(group="simulate/64x4")
def test_simulate_core(benchmark: Any) -> None:
    benchmark(spec.simulate_sampling, SIM_P, SIM_Q, SIM_GAMMA, SIM_TRIALS, 1)


@pytest.mark.benchmark(group="simulate/64x4")
def test_simulate_reference(benchmark: Any) -> None:
    benchmark.extra_info["scale"] = SIM_TRIALS / REF_TRIALS
    p, q = SIM_P.tolist(), SIM_Q.tolist()
    benchmark(ref.simulate, p, q, SIM_GAMMA, REF_TRIALS, 1)


# ---------------------------------------------------------------------------------------------
# One-run report: python -m benches.bench_speculative [rows]


def _core_only(rows: int) -> float:
    """Best time of the core on uniform rows (cheap to build; the kernel is data-independent)."""
    p = np.full((rows, VOCAB), 1.0 / VOCAB, dtype=np.float32)
    q = p.copy()
    core_acceptance(p, q)
    return best_wall(lambda: core_acceptance(p, q), 7)


def report(rows: int) -> dict[str, float]:
    p, q = make_pair(rows)
    nbytes = 2 * p.nbytes
    t_core = best_wall(lambda: core_acceptance(p, q), 7)
    t_np = best_wall(lambda: numpy_acceptance(p, q), 7)
    t_sum = best_wall(lambda: numpy_read(p, q), 7)
    p = q = np.empty(0, np.float32)  # free the pair before the thread runs
    threads = {}
    for n in ("1", "2"):
        env = dict(os.environ, RAYON_NUM_THREADS=n)
        code = f"from benches.bench_speculative import _core_only; print(_core_only({rows}))"
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        threads[n] = float(out.stdout.strip())
    lp, lq = (np.log(np.maximum(a, 1e-30)) for a in make_pair(256, seed=1))
    t_logits = best_wall(lambda: spec.acceptance_from_logits(lp, lq), 3)
    t_sim = best_wall(lambda: spec.simulate_sampling(SIM_P, SIM_Q, SIM_GAMMA, SIM_TRIALS, 1), 3)
    t_ref = best_wall(
        lambda: ref.simulate(SIM_P.tolist(), SIM_Q.tolist(), SIM_GAMMA, REF_TRIALS, 1), 1
    )
    return {
        "rows": rows,
        "vocab": VOCAB,
        "core_GB_s": nbytes / t_core / 1e9,
        "numpy_minimum_sum_GB_s": nbytes / t_np / 1e9,
        "numpy_plain_sum_GB_s": nbytes / t_sum / 1e9,
        "core_vs_numpy": t_np / t_core,
        "core_vs_plain_sum_bandwidth": t_sum / t_core,
        "core_1_thread_GB_s": nbytes / threads["1"] / 1e9,
        "core_2_threads_GB_s": nbytes / threads["2"] / 1e9,
        "threads_2_vs_1": threads["1"] / threads["2"],
        "from_logits_256_rows_GB_s": 2 * lp.nbytes / t_logits / 1e9,
        "simulate_trials_per_s": SIM_TRIALS / t_sim,
        "reference_trials_per_s": REF_TRIALS / t_ref,
        "simulate_vs_reference": (SIM_TRIALS / t_sim) / (REF_TRIALS / t_ref),
    }


if __name__ == "__main__":
    print(json.dumps(report(int(sys.argv[1]) if len(sys.argv) > 1 else 2048), indent=2))
