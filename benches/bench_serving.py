"""Serving: the core's continuous-batching simulator vs the pure-Python reference on the same
1000-request workload (llama3.1-70b on 8x H100, Poisson at 10 req/s, 2048 in / 256 out).

The goal (issue 14): >= 10^6 simulated requests/s per core and >= 100x the reference.
``python -m benches.bench_serving`` times both in one run and prints requests/s and the ratio.
"""

from __future__ import annotations

from typing import Any

import brickwall as bw
import pytest
from brickwall import _core
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.reference import serving as ref

from .timing import best

MODEL = bw.model("llama3.1-70b")
DEP = bw.Deployment("H100-SXM", tp=8)
TRACE = bw.Workload(requests=1000, rate=10.0, input=2048, output=256, seed=0).draw()
SCHED = bw.Scheduler("continuous").resolved(MODEL, DEP, TRACE)
VIEWS = (cost_view(MODEL), plan_view(DEP), chip_view(DEP))


def core() -> dict[str, Any]:
    assert SCHED.max_batched_tokens is not None and SCHED.kv_blocks is not None
    return _core.serving_simulate_pool(
        *VIEWS,
        TRACE.input,
        TRACE.output,
        TRACE.arrival,
        1,
        0.0,
        SCHED.policy,
        SCHED.max_seqs,
        SCHED.max_batched_tokens,
        SCHED.block_size,
        SCHED.kv_blocks,
        False,
        None,
        1,
        "round-robin",
        0,
    )


def reference() -> dict[str, Any]:
    assert TRACE.arrival is not None
    assert SCHED.max_batched_tokens is not None and SCHED.kv_blocks is not None
    return ref.simulate(
        *VIEWS,
        TRACE.input.tolist(),
        TRACE.output.tolist(),
        TRACE.arrival.tolist(),
        1,
        0.0,
        SCHED.policy,
        SCHED.max_seqs,
        SCHED.max_batched_tokens,
        SCHED.block_size,
        SCHED.kv_blocks,
    )


@pytest.mark.benchmark(group="serving-continuous/1000")
def test_core_continuous(benchmark) -> None:  # type: ignore[no-untyped-def]
    out = benchmark(core)
    benchmark.extra_info["requests"] = len(TRACE)
    assert out["finish"].max() > 0


@pytest.mark.benchmark(group="serving-continuous/1000")
def test_reference_continuous(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark.extra_info["requests"] = len(TRACE)
    out = benchmark.pedantic(reference, rounds=1, iterations=1)
    assert out["finish"] == core()["finish"].tolist()


def main() -> None:
    n = len(TRACE)
    core_wall, core_cpu = best(core, 20)
    ref_wall, ref_cpu = best(reference, 1)
    print(f"continuous batching, {n} requests ({core()['iterations']} iterations), one core:")
    for name, wall, cpu in (("core", core_wall, core_cpu), ("reference", ref_wall, ref_cpu)):
        print(
            f"  {name:9} wall {wall * 1e3:9.2f} ms {n / wall:11,.0f} req/s   "
            f"cpu {cpu * 1e3:9.2f} ms {n / cpu:11,.0f} req/s"
        )
    print(f"  ratio (wall) {ref_wall / core_wall:.0f}x, (cpu) {ref_cpu / core_cpu:.0f}x")


if __name__ == "__main__":
    main()
