"""Replicas behind a router, the capacity search, rate curves and empirical lengths."""

from __future__ import annotations

import importlib.util
import math
from concurrent.futures import ThreadPoolExecutor

import brickwall as bw
import numpy as np
import pytest
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.errors import ValidationError
from brickwall.reference import serving as ref
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from .interrupt import interrupt

MODEL = bw.model("llama3.1-8b")
DEP = bw.Deployment("H100-SXM")
VIEWS = (cost_view(MODEL), plan_view(DEP), chip_view(DEP))


@st.composite
def pools(draw: st.DrawFn) -> tuple[bw.Trace, bw.Scheduler, int]:
    n = draw(st.integers(1, 14))
    inp = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    out = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    # bursts: many equal arrival times, so ties between replicas and with finishes are common
    gaps = draw(st.lists(st.sampled_from([0.0, 0.0, 0.001, 0.01, 0.05]), min_size=n, max_size=n))
    trace = bw.Trace(inp, out, arrival=np.cumsum(gaps))  # type: ignore[arg-type]
    policy = draw(st.sampled_from(bw.serve.POLICIES))
    block = draw(st.integers(1, 8))
    longest = max(i + o - 1 for i, o in zip(inp, out, strict=True))
    least = -(-longest // block)
    blocks = draw(st.integers(least, least * 3))
    budget = draw(st.integers(1, 64)) if policy == "chunked" else longest + draw(st.integers(0, 40))
    s = bw.Scheduler(policy, draw(st.integers(1, 4)), budget, block, blocks)  # type: ignore[arg-type]
    return trace, s, draw(st.integers(1, 4))


@settings(max_examples=60, deadline=None)
@given(pools(), st.sampled_from(bw.serve.ROUTERS))
def test_pools_match_the_reference_event_for_event(
    case: tuple[bw.Trace, bw.Scheduler, int], router: str
) -> None:
    trace, s, replicas = case
    got = bw.simulate(MODEL, DEP, trace, s, replicas=replicas, router=router)  # type: ignore[arg-type]
    assert (
        s.max_batched_tokens is not None and s.kv_blocks is not None and trace.arrival is not None
    )
    want = ref.simulate_pool(
        *VIEWS, trace.input.tolist(), trace.output.tolist(), trace.arrival.tolist(), s.policy,
        s.max_seqs, s.max_batched_tokens, s.block_size, s.kv_blocks, replicas, router,
    )  # fmt: skip
    assert got.replica is not None
    assert_array_equal(got.replica, want["replica"])
    for k in ("arrival", "scheduled", "first_token", "finish"):
        assert_allclose(getattr(got, k), want[k], rtol=1e-12, err_msg=k)
    assert_array_equal(got.preemptions, want["preemptions"])
    for k in ("sequences", "tokens", "prefill_tokens", "kv_blocks", "replica"):
        assert_array_equal(got.iterations[k], want[f"it_{k}"], err_msg=k)
    for k in ("start", "seconds"):
        assert_allclose(got.iterations[k], want[f"it_{k}"], rtol=1e-12, err_msg=k)


def _bursty(n: int = 600, rate: float = 40.0, seed: int = 3) -> bw.Workload:
    return bw.Workload(
        requests=n,
        rate=rate,
        arrival="gamma",
        cv=3.0,
        input=bw.Lengths.lognormal(600, 0.8),
        output=bw.Lengths.uniform(8, 200),
        seed=seed,
    )


def test_one_replica_is_the_same_whatever_the_router() -> None:
    w = _bursty(200)
    one = bw.simulate(MODEL, DEP, w)
    ll = bw.simulate(MODEL, DEP, w, router="least-loaded")
    for k in ("scheduled", "first_token", "finish"):
        assert_array_equal(getattr(ll, k), getattr(one, k))
    assert ll.router == "least-loaded" and ll.summary()["router"] == "least-loaded"


def test_least_loaded_conserves_requests_and_obeys_littles_law() -> None:
    rate = 40.0
    r = bw.simulate(MODEL, DEP, _bursty(3000, rate), replicas=3, router="least-loaded")
    assert np.all(np.isfinite(r.finish)) and np.all(r.finish >= r.first_token)
    once = int(r.input.sum() + r.output.sum()) - r.requests
    total = int(r.iterations["tokens"].sum())
    assert total >= once and (r.preemptions.any() or total == once)
    assert r.replica is not None and set(r.replica.tolist()) == {0, 1, 2}
    # each arrival went to a replica with the fewest in flight at that instant (ties: lowest)
    order = np.argsort(r.arrival, kind="stable")
    for i in order[::37]:
        a = r.arrival[i]
        earlier = np.arange(r.requests) < i
        busy = [int(np.sum(earlier & (r.replica == k) & (r.finish > a))) for k in range(3)]
        assert busy[r.replica[i]] == min(busy) and busy.index(min(busy)) == r.replica[i]
    # Little's law on the time average of requests in the system (gamma gaps of cv 3: the
    # arrival count's relative sd over the window is about 3 / sqrt(n) = 5.5%; 4 sd)
    grid = np.linspace(r.arrival.min(), r.finish.max(), 200_001)
    inside = np.searchsorted(np.sort(r.arrival), grid, "right") - np.searchsorted(
        np.sort(r.finish), grid, "right"
    )
    assert abs(inside.mean() / (rate * r.e2e.mean()) - 1.0) < 0.22


def test_least_loaded_disaggregated_pools_serve_everyone() -> None:
    w = _bursty(300)
    r = bw.serve.simulate_disaggregated(MODEL, DEP, w, 2, 3, router="least-loaded")
    assert np.all(np.isfinite(r.finish)) and r.router == "least-loaded"
    assert r.replica is not None
    decoded = r.output > 1
    assert np.all(r.replica[decoded] >= 2) and np.all(r.replica[~decoded] < 2)
    with pytest.raises(ValidationError, match="router"):
        bw.simulate(MODEL, DEP, w, router="random")  # type: ignore[arg-type]


def test_empirical_lengths() -> None:
    values, weights = [100, 700, 4000], [5.0, 3.0, 1.0]
    d = bw.Lengths.empirical(values, weights)
    x = d.draw(200_000, 7, 1)
    assert set(np.unique(x).tolist()) == set(values)
    want = np.dot(values, weights) / sum(weights)
    sd = math.sqrt(np.dot(np.square(np.array(values) - want), weights) / sum(weights))
    assert abs(x.mean() - want) < 5 * sd / math.sqrt(len(x))
    assert d.a == pytest.approx(want)
    assert_array_equal(d.draw(1000, 7, 1), x[:1000])  # seeded, and a prefix of a longer draw
    one = bw.Lengths.empirical([333], [2.0]).draw(50, 1, 2)
    assert_array_equal(one, bw.Lengths.fixed(333).draw(50, 1, 2))
    # equal weights resample observed lengths; a workload takes one
    w = bw.Workload(requests=100, input=bw.Lengths.empirical([10, 20, 30]), output=4)
    assert set(w.draw().input.tolist()) <= {10, 20, 30}
    for make, field in [
        (lambda: bw.Lengths.empirical([1, 2], [1.0, -1.0]), "weights"),
        (lambda: bw.Lengths.empirical([1, 2], [0.0, 0.0]), "sum"),
        (lambda: bw.Lengths.empirical([0, 2], [1.0, 1.0]), "values"),
        (lambda: bw.Lengths.empirical([], []), "values"),
        (lambda: bw.Lengths.empirical([1, 2], [1.0]), "len"),
    ]:
        with pytest.raises(ValidationError, match=field):
            make()


W = bw.Workload(requests=300, input=1024, output=64, seed=4)
AXES = {
    "chips": ["H100-SXM", "A100-80GB"],
    "tp": (1, 2, 4),
    "replicas": (1, 2, 3),
    "disaggregated": ["1:1", (1, 2)],
}


def test_search_ranks_by_cost_and_its_choice_meets_the_slo_alone() -> None:
    res = bw.serve.search(MODEL, W, rate=20.0, slo_ttft=0.3, slo_tpot=0.02, **AXES)  # type: ignore[arg-type]
    met = res.deployments
    assert met and res.best is met[0] and res.candidates == 2 * 3 * 5
    costs = [r["usd_per_hour"] for r in met]
    assert costs == sorted(costs)
    for row in [met[0], *[r for r in met if r["decode"]][:1]]:
        d, w = row["deployment"], bw.Workload(**{**_fields(W), "rate": 20.0})
        alone = (
            bw.simulate(MODEL, d, w, replicas=row["replicas"], timeline=False)
            if row["decode"] is None
            else bw.serve.simulate_disaggregated(
                MODEL, d, w, row["prefill"], row["decode"], timeline=False
            )
        )
        p = alone.percentiles("ttft", (99,))["p99"]
        assert p == pytest.approx(row["ttft_s"], rel=1e-12) and p <= 0.3
        assert alone.percentiles("tpot", (99,))["p99"] <= 0.02
        assert alone.usd_per_s * 3600 == pytest.approx(row["usd_per_hour"], rel=1e-9)
    # a missed row really misses
    missed = [r for r in res.rows if r["status"] == "missed"]
    assert all(r["ttft_s"] > 0.3 or r["tpot_s"] > 0.02 for r in missed)
    by_token = bw.serve.search(
        MODEL,
        W,
        rate=20.0,
        slo_ttft=0.3,
        slo_tpot=0.02,
        rank_by="token",
        **AXES,  # type: ignore[arg-type]
    )
    per_token = [r["usd_per_million_tokens"] for r in by_token.deployments]
    assert per_token == sorted(per_token) and len(per_token) == len(met)


def _fields(w: bw.Workload) -> dict[str, object]:
    return {k: getattr(w, k) for k in w.__dataclass_fields__}


def test_search_skips_what_cannot_run_and_says_when_nothing_meets_the_slo() -> None:
    big = bw.model("llama3.1-70b")
    res = bw.serve.search(big, W, rate=2.0, slo_ttft=1e-6, tp=(1, 8), replicas=(1,))
    status = {r["tp"]: r["status"] for r in res.rows}
    assert status[1] == "no memory for a KV cache" and status[8] == "missed"
    assert res.best is None and res.deployments == [] and res.simulated == 1
    assert "no deployment serves 2 req/s within p99 TTFT <= 1e-06 s" in res.message
    small = bw.serve.search(
        MODEL,
        W,
        rate=2.0,
        slo_ttft=1.0,
        tp=(1,),
        replicas=(1,),
        scheduler=bw.Scheduler(kv_blocks=3),
    )
    assert small.rows[0]["status"] == "KV cache too small" and small.simulated == 0
    with pytest.raises(ValidationError, match="at least one SLO"):
        bw.serve.search(MODEL, W, rate=2.0)
    with pytest.raises(ValidationError, match="rate"):
        bw.serve.search(MODEL, W, rate=0.0, slo_ttft=1.0)


def test_search_over_an_executor_equals_the_local_search() -> None:
    local = bw.serve.search(MODEL, W, rate=20.0, slo_ttft=0.3, slo_tpot=0.02, **AXES)  # type: ignore[arg-type]
    with ThreadPoolExecutor(3) as ex:
        split = bw.serve.search(
            MODEL,
            W,
            rate=20.0,
            slo_ttft=0.3,
            slo_tpot=0.02,
            executor=ex,
            parts=7,
            **AXES,  # type: ignore[arg-type]
        )
    strip = [{k: v for k, v in r.items() if k != "deployment"} for r in local.rows]
    assert strip == [{k: v for k, v in r.items() if k != "deployment"} for r in split.rows]


def test_rate_curve_rows_are_the_simulations_at_those_rates() -> None:
    rates = [2.0, 10.0, 40.0]
    c = bw.serve.rate_curve(MODEL, DEP, W, rates, slo_ttft=0.3)
    assert_array_equal(c.rates, rates)
    for i, rate in enumerate(rates):
        r = bw.simulate(MODEL, DEP, bw.Workload(**{**_fields(W), "rate": rate}), timeline=False)
        assert c.columns["ttft_p99"][i] == r.percentiles("ttft", (99,))["p99"]
        assert c.columns["tpot_p50"][i] == r.percentiles("tpot", (50,))["p50"]
    auto = bw.serve.rate_curve(MODEL, DEP, W, points=4)
    offline = bw.simulate(MODEL, DEP, bw.Workload(**{**_fields(W), "rate": math.inf}))
    assert auto.rates[-1] == pytest.approx(offline.throughput["requests_per_s"], rel=1e-12)
    assert len(auto.to_pandas()) == 4


def test_rate_curve_plot(tmp_path: object) -> None:
    pytest.importorskip("matplotlib")
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    path = tmp_path / "curve.png"
    bw.serve.rate_curve(MODEL, DEP, W, [5.0, 20.0], disaggregated=(1, 1)).plot(path)
    assert path.stat().st_size > 10_000


def test_cli_search_and_rate_curve(tmp_path: object) -> None:
    import json
    import pathlib

    from brickwall.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    args = ["serve", "llama3.1-8b", "--input", "1024", "--output", "64", "-n", "300", "--seed", "4"]
    slo = ["--slo-ttft", "0.3", "--slo-tpot", "0.02"]
    axes = ["--search-hardware", "H100-SXM,A100-80GB", "--search-tp", "1,2,4"]
    axes += ["--search-replicas", "1,2,3", "--search-disagg", "1:1,1:2"]
    r = runner.invoke(app, [*args, "--rate", "20", *slo, "--search", *axes, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    lib = bw.serve.search(MODEL, W, rate=20.0, slo_ttft=0.3, slo_tpot=0.02, **AXES)  # type: ignore[arg-type]
    assert [d["layout"] for d in out["deployments"]] == [d["layout"] for d in lib.deployments]
    r = runner.invoke(app, [*args, "--rate", "20", *slo, "--search", *axes])
    assert r.exit_code == 0 and "cheapest" in r.output, r.output
    r = runner.invoke(app, [*args, "--rate", "20", "--slo-ttft", "1e-6", "--search"])
    assert r.exit_code == 0 and "no deployment serves" in r.output, r.output
    r = runner.invoke(app, [*args, "--rate", "20", *slo, "--search", "--search-tp", "x"])
    assert r.exit_code == 2 and "--search-tp" in r.output, r.output
    assert isinstance(tmp_path, pathlib.Path)
    path = tmp_path / "curve.png"
    r = runner.invoke(app, [*args, *slo, "--rate-curve", "--plot", str(path)])
    assert r.exit_code == 0 and "TTFT p99" in r.output, r.output
    if importlib.util.find_spec("matplotlib") is not None:
        assert path.stat().st_size > 10_000
    r = runner.invoke(app, [*args, "--rate-curve", "--router", "least-loaded", "--replicas", "2"])
    assert r.exit_code == 0, r.output


def test_sigint_stops_a_long_search() -> None:
    interrupt(
        """
        w = bw.Workload(requests=2000, input=64, output=2000, seed=1)
        """,
        """
        bw.serve.search(bw.model("llama3.1-8b"), w, rate=5.0, slo_ttft=1.0,
                        tp=(1, 2, 4, 8), replicas=tuple(range(1, 200)))
        """,
        wait=1.5,
    )


@pytest.mark.parametrize(("tp", "pp"), [(4, 2), (2, 4), (1, 8)])
def test_pipelined_replicas_neither_outrun_their_chips_nor_beat_an_idle_first_token(
    tp: int, pp: int
) -> None:
    # Each engine's batch goes down the pipeline as one microbatch, so the pp engines in flight
    # share the stages (counting the pipeline once more would let them outrun the chips).
    m, d = bw.model("llama3.1-70b"), bw.Deployment("H100-SXM", tp=tp, pp=pp)
    flat = bw.Deployment("H100-SXM", tp=8)
    off = bw.Workload(requests=300, input=2048, output=256)
    r = bw.simulate(m, d, off, timeline=False)
    tokens_s = float(r.input.sum() + r.output.sum()) / r.duration
    assert tokens_s * 2 * m.matmul_params_active <= 8 * d.hardware.peak_flops["bf16"]
    # ... and a pipeline of 8 chips serves at most the work those chips do at tp 8 without the
    # all-reduces: within a small factor of it, not pp times it
    t8 = bw.simulate(m, flat, off, timeline=False)
    assert r.duration > 0.5 * t8.duration
    # Under load no request's first token comes faster than a lone request's.
    idle = bw.simulate(m, d, bw.Workload(requests=2, rate=1e-3, input=2048, output=64))
    busy = bw.simulate(m, d, bw.Workload(requests=120, rate=6.0, input=2048, output=64))
    assert busy.ttft.min() >= idle.ttft.min() * (1 - 1e-12)
