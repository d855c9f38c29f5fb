"""Ctrl-C during workload draws, and the executor= checks shared by sweeps and searches."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall import _core
from brickwall.errors import BrickwallError, ValidationError

MODEL = bw.model("llama3.1-8b")
W = bw.Workload(requests=60, input=256, output=16, seed=4)
IMPORTS = "import brickwall as bw, numpy as np\nfrom brickwall import _core"


def _interrupt(code: str) -> subprocess.CompletedProcess[str]:
    """Import brickwall, run ``code`` and press Ctrl-C 0.3 s into it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen(
        [sys.executable, "-c", f"{IMPORTS}\nprint('go', flush=True)\n{code}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stdout.readline() == "go\n"
    time.sleep(0.3)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    # Stopped within a few checks, not when the whole draw had finished.
    assert time.perf_counter() - t0 < 3.0, err
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


@pytest.mark.parametrize(
    "call",
    [
        "bw.Workload(requests=2**26, rate=1.0, input=bw.Lengths.lognormal(100, 1.0), output=8).draw()",
        "_core.serving_arrivals('gamma', 2**26, 1.0, 2.0, 0)",
        "_core.serving_lengths_empirical(np.arange(1, 10**6 + 1, dtype=np.uint64),"
        " np.ones(10**6), 2**26, 0, 1)",
    ],
)
def test_ctrl_c_during_a_draw_is_a_clean_keyboard_interrupt(call: str) -> None:
    r = _interrupt(call)
    assert r.returncode != 0
    assert "KeyboardInterrupt" in r.stderr and "Panic" not in r.stderr, r.stderr


def test_empirical_draws_are_seeded_and_follow_their_weights() -> None:
    values = np.arange(1, 10**5 + 1, dtype=np.uint64)
    weights = np.zeros(10**5)
    weights[[9, 99, 99_999]] = [1.0, 2.0, 1.0]
    x = _core.serving_lengths_empirical(values, weights, 40_000, 7, 1)
    assert np.array_equal(x, _core.serving_lengths_empirical(values, weights, 40_000, 7, 1))
    assert set(np.unique(x).tolist()) == {10, 100, 100_000}
    share = np.mean(x == 100)
    assert abs(share - 0.5) < 5 * 0.5 / np.sqrt(40_000)


def _fork_pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))


SEARCHES: dict[str, Callable[[Any], object]] = {
    "sweep": lambda ex: bw.sweep(
        MODEL, hardware=["H100-SXM"], tp=[1, 2], batch=[1, 8], context=[512], executor=ex
    ),
    "search_plans": lambda ex: bw.search_plans(MODEL, "H100-SXM", 8, 64, 1024, executor=ex),
    "serve.search": lambda ex: bw.serve.search(
        MODEL, W, rate=5.0, slo_ttft=1.0, tp=(1,), replicas=(1,), executor=ex
    ),
}


@pytest.mark.parametrize("name", SEARCHES)
def test_a_forking_process_pool_is_refused(name: str) -> None:
    with _fork_pool() as ex, pytest.raises(ValidationError, match=r"executor.*spawn"):
        SEARCHES[name](ex)


def test_a_spawning_process_pool_runs_a_sweep() -> None:
    local = SEARCHES["sweep"](None)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as ex:
        split = SEARCHES["sweep"](ex)
    assert isinstance(local, bw.SweepResult) and isinstance(split, bw.SweepResult)
    assert split.index.tolist() == local.index.tolist()


class _Broken(Executor):
    """Runs each task at submission, then breaks the result the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.mode == "none":
            return None  # type: ignore[return-value]
        f: Future[Any] = Future()
        out = fn(*args, **kwargs)
        f.set_result({"unexpected": 1} if self.mode == "dict" else 42)
        del out
        return f


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("mode", ["none", "dict", "int"])
def test_a_broken_executor_is_a_clear_error_naming_it(name: str, mode: str) -> None:
    with pytest.raises(BrickwallError, match="^executor = ") as e:
        SEARCHES[name](_Broken(mode))
    assert not isinstance(e.value, (KeyError, AttributeError, TypeError))


def test_a_thread_pool_still_matches_the_local_search() -> None:
    local = SEARCHES["search_plans"](None)
    with ThreadPoolExecutor(2) as ex:
        split = SEARCHES["search_plans"](ex)
    assert isinstance(local, bw.PlanSearch) and isinstance(split, bw.PlanSearch)
    assert split.steps == local.steps
