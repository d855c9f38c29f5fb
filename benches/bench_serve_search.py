"""Capacity search: the cheapest deployment of llama3.1-8b serving 200 requests (Poisson at
20 req/s, 1024 in / 128 out) within p99 TTFT 0.5 s and TPOT 50 ms, over 10^4 candidates:
10 chips x tp {1, 2, 4, 8} x pp {1, 2} x (100 replica counts + 25 prefill:decode splits).

The goal (issue 14): a search over 10^4 deployments finishes in seconds. The baseline is what
one would write without the core's search: a Python loop of ``bw.simulate`` per candidate
(the same core simulator, one candidate at a time), timed on a sample and scaled.
``python -m benches.bench_serve_search`` prints candidates/s of both and the ratio.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import brickwall as bw
import pytest

MODEL = bw.model("llama3.1-8b")
RATE = 20.0
W = bw.Workload(requests=200, input=1024, output=128, seed=0)
CHIPS = [
    "H100-SXM",
    "H100-NVL",
    "H200",
    "B200",
    "A100-80GB",
    "A100-40GB",
    "L40S",
    "MI300X",
    "GB200",
    "TPU-v5p",
]
AXES: dict[str, Any] = {
    "chips": CHIPS,
    "tp": (1, 2, 4, 8),
    "pp": (1, 2),
    "replicas": tuple(range(1, 101)),
    "disaggregated": [(x, y) for x in range(1, 6) for y in range(1, 6)],
}
SLO = {"slo_ttft": 0.5, "slo_tpot": 0.05}


def search() -> bw.serve.SearchResult:
    return bw.serve.search(MODEL, W, rate=RATE, **SLO, **AXES)


def loop(sample: list[dict[str, Any]]) -> int:
    """The baseline: simulate each sampled candidate with bw.simulate and judge it in Python."""
    w = replace(W, rate=RATE)
    met = 0
    for row in sample:
        d = row["deployment"]
        if row["decode"] is None:
            r = bw.simulate(MODEL, d, w, replicas=row["replicas"], timeline=False)
        else:
            r = bw.serve.simulate_disaggregated(
                MODEL, d, w, row["prefill"], row["decode"], timeline=False
            )
        ok = r.percentiles("ttft", (99,))["p99"] <= SLO["slo_ttft"]
        met += ok and r.percentiles("tpot", (99,))["p99"] <= SLO["slo_tpot"]
    return met


@pytest.mark.benchmark(group="serving-search/10^4")
def test_core_search(benchmark) -> None:  # type: ignore[no-untyped-def]
    res = benchmark.pedantic(search, rounds=1, iterations=1)
    benchmark.extra_info["candidates"] = res.candidates
    assert res.candidates == 10_000 and res.best is not None


def main() -> None:
    t = time.perf_counter()
    res = search()
    core = time.perf_counter() - t
    sim = [r for r in res.rows if r["status"] in ("met", "missed")]
    sample = sim[:: max(1, len(sim) // 200)]
    t = time.perf_counter()
    loop(sample)
    per = (time.perf_counter() - t) / len(sample)
    est = per * len(sim)
    print(
        f"search over {res.candidates:,} candidates ({res.simulated:,} simulated, "
        f"{res.candidates - res.simulated:,} skipped before simulating), {W.requests} requests each:"
    )
    print(f"  core search   {core:8.2f} s   {res.candidates / core:9,.0f} candidates/s")
    print(
        f"  Python loop   {est:8.2f} s   {res.simulated / est:9,.0f} simulated candidates/s "
        f"(bw.simulate per candidate, {len(sample)} sampled)"
    )
    print(f"  ratio {est / core:.1f}x;  {res.message}")


if __name__ == "__main__":
    main()
