"""The serving simulator: the core against the reference event for event, and its oracles."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.errors import BrickwallTypeError, ValidationError
from brickwall.reference import serving as ref
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from .interrupt import interrupt

MODEL = bw.model("llama3.1-8b")
DEP = bw.Deployment("H100-SXM")


def _reference(trace: bw.Trace, s: bw.Scheduler) -> dict[str, list[float]]:
    assert s.max_batched_tokens is not None and s.kv_blocks is not None
    return ref.simulate(
        cost_view(MODEL),
        plan_view(DEP),
        chip_view(DEP),
        [int(x) for x in trace.input],
        [int(x) for x in trace.output],
        None if trace.arrival is None else [float(x) for x in trace.arrival],
        trace.clients or 1,
        trace.think,
        s.policy,
        s.max_seqs,
        s.max_batched_tokens,
        s.block_size,
        s.kv_blocks,
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[bw.Trace, bw.Scheduler]:
    n = draw(st.integers(1, 12))
    inp = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    out = draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    if draw(st.booleans()):
        gaps = draw(
            st.lists(st.sampled_from([0.0, 0.001, 0.01, 0.05, 0.3]), min_size=n, max_size=n)
        )
        trace = bw.Trace(inp, out, arrival=np.cumsum(gaps))  # type: ignore[arg-type]
    else:
        trace = bw.Trace(
            inp,  # type: ignore[arg-type]
            out,  # type: ignore[arg-type]
            clients=draw(st.integers(1, 4)),
            think=draw(st.sampled_from([0.0, 0.02])),
        )
    policy = draw(st.sampled_from(bw.serve.POLICIES))
    block = draw(st.integers(1, 8))
    longest = max(i + o - 1 for i, o in zip(inp, out, strict=True))
    least = -(-longest // block)
    blocks = draw(st.integers(least, least * 4))
    budget = draw(st.integers(1, 64)) if policy == "chunked" else longest + draw(st.integers(0, 40))
    s = bw.Scheduler(policy, draw(st.integers(1, 6)), budget, block, blocks)  # type: ignore[arg-type]
    return trace, s


@given(cases())
def test_core_matches_the_reference_event_for_event(case: tuple[bw.Trace, bw.Scheduler]) -> None:
    trace, s = case
    got = bw.simulate(MODEL, DEP, trace, s)
    want = _reference(trace, s)
    for k in ("arrival", "scheduled", "first_token", "finish"):
        assert_allclose(getattr(got, k), want[k], rtol=1e-12, err_msg=k)
    assert_array_equal(got.preemptions, want["preemptions"])
    for k in ("sequences", "tokens", "prefill_tokens", "kv_blocks"):
        assert_array_equal(got.iterations[k], want[f"it_{k}"], err_msg=k)
    for k in ("start", "seconds"):
        assert_allclose(got.iterations[k], want[f"it_{k}"], rtol=1e-12, err_msg=k)
    # conservation: every request completes; each prompt token and each output token but the
    # last is processed once, plus whatever preemption made it recompute
    assert np.all(np.isfinite(got.finish))
    once = int(trace.input.sum() + trace.output.sum()) - len(trace)
    total = int(got.iterations["tokens"].sum())
    assert total >= once and (got.preemptions.any() or total == once)
    assert np.all(got.iterations["kv_blocks"] <= s.kv_blocks)


def test_tiny_cache_preempts_and_loses_nothing() -> None:
    trace = bw.Workload(
        requests=60, rate=50.0, input=bw.Lengths.uniform(20, 200), output=100, seed=3
    ).draw()
    s = bw.Scheduler("continuous", max_seqs=32, kv_blocks=60)
    r = bw.simulate(MODEL, DEP, trace, s)
    assert r.preemptions.sum() > 0
    assert np.all(np.isfinite(r.finish)) and np.all(r.finish >= r.first_token)
    want = _reference(trace, r.scheduler)
    assert_allclose(r.finish, want["finish"], rtol=1e-12)
    assert_array_equal(r.preemptions, want["preemptions"])


def test_vanishing_rate_ttft_is_the_prefill_step_and_tpot_the_batch_one_decode() -> None:
    inp, out = 1000, 9
    r = bw.simulate(MODEL, DEP, bw.Workload(requests=20, rate=1e-3, input=inp, output=out))
    prefill = bw.prefill(MODEL, DEP, 1, inp).step_time
    assert_allclose(r.ttft, prefill, rtol=1e-9)
    decode = bw.steps(MODEL, DEP, 1, np.arange(inp, inp + out - 1)).latency
    assert_allclose(r.tpot, decode.mean(), rtol=1e-9)
    assert_allclose(r.queueing, 0.0, atol=0.0)


@pytest.mark.parametrize("batch", [1, 4, 8])
def test_static_batching_with_fixed_lengths_matches_its_closed_form(batch: int) -> None:
    n, inp, out = 24, 300, 20
    s = bw.Scheduler("static", max_seqs=batch, max_batched_tokens=batch * inp)
    r = bw.simulate(MODEL, DEP, bw.Workload(requests=n, input=inp, output=out), s)
    one_batch = (
        bw.prefill(MODEL, DEP, batch, inp).step_time
        + bw.steps(MODEL, DEP, batch, np.arange(inp, inp + out - 1)).latency.sum()
    )
    assert_allclose(r.finish.max(), n // batch * one_batch, rtol=1e-12)
    assert r.n_iterations == n // batch * out


def test_littles_law_holds_within_sampling_error() -> None:
    rate = 20.0
    r = bw.simulate(
        MODEL,
        DEP,
        bw.Workload(
            requests=4000, rate=rate, input=bw.Lengths.lognormal(800, 0.6), output=128, seed=1
        ),
    )
    # time-average of the number in the system, from a fine grid of the arrival/finish events
    grid = np.linspace(r.arrival.min(), r.finish.max(), 200_001)
    in_system = np.searchsorted(np.sort(r.arrival), grid, "right") - np.searchsorted(
        np.sort(r.finish), grid, "right"
    )
    little = rate * r.e2e.mean()
    # the arrival count over the window has relative sd 1/sqrt(n) ~ 1.6%; 4 sd
    assert abs(in_system.mean() / little - 1.0) < 0.065


def test_policies_order_as_expected_under_load() -> None:
    w = bw.Workload(
        requests=300, rate=30.0, input=bw.Lengths.uniform(200, 2000), output=200, seed=2
    )
    res = {p: bw.simulate(MODEL, DEP, w, bw.Scheduler(p)) for p in bw.serve.POLICIES}  # type: ignore[arg-type]
    # continuous batching beats static on latency under the same load
    assert res["continuous"].e2e.mean() < res["static"].e2e.mean()
    for r in res.values():
        assert r.throughput["requests_per_s"] > 0 and 0 < r.utilisation <= 1 + 1e-12


def test_seeded_and_deterministic() -> None:
    w = bw.Workload(
        requests=200,
        rate=8.0,
        arrival="gamma",
        cv=2.0,
        input=bw.Lengths.lognormal(500, 1.0),
        seed=7,
    )
    a, b = bw.simulate(MODEL, DEP, w), bw.simulate(MODEL, DEP, w)
    assert_array_equal(a.finish, b.finish)
    c = bw.simulate(MODEL, DEP, bw.Workload(**{**_fields(w), "seed": 8}))
    assert not np.array_equal(a.arrival, c.arrival)
    off = bw.Workload(requests=5).draw()
    assert off.arrival is not None and not off.arrival.any()


def _fields(w: bw.Workload) -> dict[str, object]:
    return {k: getattr(w, k) for k in w.__dataclass_fields__}


def test_closed_loop_keeps_at_most_clients_in_flight() -> None:
    r = bw.simulate(MODEL, DEP, bw.Workload(requests=100, clients=4, input=500, output=50))
    assert np.all(r.arrival[:4] == 0)
    times = np.sort(np.concatenate([r.arrival, r.finish]))
    for t in times:
        assert np.sum((r.arrival <= t) & (r.finish > t)) <= 4


def test_result_metrics_and_pandas() -> None:
    r = bw.simulate(MODEL, DEP, bw.Workload(requests=100, rate=5.0, input=512, output=64))
    p = r.percentiles("ttft")
    assert p["p50"] <= p["p90"] <= p["p99"]
    assert r.goodput() == pytest.approx(r.throughput["requests_per_s"])
    assert r.goodput(1e-9, 1e-9) == 0.0
    cost = r.cost_per_million_tokens
    assert cost is not None and cost["input"] > 0 and cost["output"] > 0
    df = r.to_pandas()
    assert list(df.columns) == list(bw.serve.REQUEST_UNITS) and len(df) == 100
    free = bw.simulate(
        MODEL, DEP.with_(price_per_hour=0.0), bw.Workload(requests=3, input=8, output=2)
    )
    assert free.cost_per_million_tokens is None
    one = bw.simulate(MODEL, DEP, bw.Workload(requests=3, input=8, output=1))
    assert np.all(np.isnan(one.tpot)) and math.isnan(one.percentiles("tpot")["p50"])


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: bw.Workload(rate=-1.0), "Workload.rate"),
        (lambda: bw.Workload(requests=0), "Workload.requests"),
        (lambda: bw.Workload(clients=2, rate=3.0), "Workload.rate"),
        (lambda: bw.Lengths.uniform(5, 4), "Lengths.uniform.hi"),
        (lambda: bw.Lengths.lognormal(-1.0, 0.5), "Lengths.lognormal.mean"),
        (lambda: bw.Trace([1, 2], [1, 1], arrival=[1.0, 0.5]), "Trace.arrival[1]"),  # type: ignore[arg-type]
        (lambda: bw.Trace([0], [1], arrival=[0.0]), "Trace.input"),  # type: ignore[arg-type]
        (lambda: bw.Scheduler("fifo"), "Scheduler.policy"),  # type: ignore[arg-type]
        (lambda: bw.Scheduler(max_seqs=0), "Scheduler.max_seqs"),
        (
            lambda: bw.simulate(
                MODEL, DEP, bw.Workload(requests=2, input=100, output=10), bw.Scheduler(kv_blocks=2)
            ),
            "kv_blocks",
        ),
        (
            lambda: bw.simulate(
                MODEL, DEP, bw.Workload(requests=2, input=100), bw.Scheduler(max_batched_tokens=50)
            ),
            "max_batched_tokens",
        ),
        (lambda: bw.simulate(bw.model("llama3.1-70b"), DEP, bw.Workload(requests=2)), "memory"),
    ],
)
def test_bad_input_names_the_field(make: object, field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        make()  # type: ignore[operator]


def test_wrong_types_are_refused() -> None:
    with pytest.raises(BrickwallTypeError):
        bw.simulate(MODEL, DEP, "traffic")  # type: ignore[arg-type]
    with pytest.raises(BrickwallTypeError):
        bw.Workload(input="long")  # type: ignore[arg-type]


def test_sigint_stops_a_long_simulation() -> None:
    interrupt(
        """
        w = bw.Workload(requests=1_000_000, rate=1e4, input=64, output=8192)
        t = w.draw()
        """,
        """
        bw.simulate(bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"), t, timeline=False)
        """,
        wait=1.0,
    )


def test_max_rate_meets_the_slo_and_a_higher_rate_does_not() -> None:
    w = bw.Workload(requests=300, input=1024, output=64, seed=4)
    c = bw.serve.max_rate(MODEL, DEP, w, ttft=0.5, tpot=0.02)
    assert c.result is not None and c.rate > 0
    assert c.result.percentiles("ttft", (99,))["p99"] <= 0.5
    assert c.result.percentiles("tpot", (99,))["p99"] <= 0.02
    above = bw.simulate(MODEL, DEP, bw.Workload(**{**_fields(w), "rate": 1.5 * c.rate}))
    assert not (
        above.percentiles("ttft", (99,))["p99"] <= 0.5
        and above.percentiles("tpot", (99,))["p99"] <= 0.02
    )
    never = bw.serve.max_rate(MODEL, DEP, w, ttft=1e-6)
    assert never.rate == 0.0 and never.result is None
    with pytest.raises(ValidationError, match="at least one SLO"):
        bw.serve.max_rate(MODEL, DEP, w)
    with pytest.raises(ValidationError, match="workload.clients"):
        bw.serve.max_rate(MODEL, DEP, bw.Workload(clients=3), ttft=1.0)


def test_round_robin_replicas_are_independent_shares() -> None:
    w = bw.Workload(requests=90, rate=30.0, input=bw.Lengths.uniform(100, 900), output=40, seed=5)
    three = bw.simulate(MODEL, DEP, w, replicas=3)
    trace = w.draw()
    assert trace.arrival is not None
    for k in range(3):
        part = bw.Trace(trace.input[k::3], trace.output[k::3], arrival=trace.arrival[k::3])
        one = bw.simulate(MODEL, DEP, part)
        assert_array_equal(three.finish[k::3], one.finish)
    single = bw.simulate(MODEL, DEP, w)
    assert three.e2e.mean() < single.e2e.mean()
    assert three.usd_per_s == pytest.approx(3 * single.usd_per_s, rel=1e-12)
    assert set(three.iterations["replica"].tolist()) == {0, 1, 2}
    with pytest.raises(ValidationError, match="replicas"):
        bw.simulate(MODEL, DEP, bw.Workload(requests=4, clients=2), replicas=2)


@given(cases(), st.data())
def test_prefilled_arrivals_match_the_reference(
    case: tuple[bw.Trace, bw.Scheduler], data: st.DataObject
) -> None:
    trace, s = case
    if trace.arrival is None:
        return
    mask = [o >= 2 and data.draw(st.booleans()) for o in trace.output.tolist()]
    assert s.max_batched_tokens is not None and s.kv_blocks is not None
    views = (cost_view(MODEL), plan_view(DEP), chip_view(DEP))
    got = bw._core.serving_simulate_pool(
        *views, trace.input, trace.output, trace.arrival, 1, 0.0, s.policy, s.max_seqs,
        s.max_batched_tokens, s.block_size, s.kv_blocks, True, np.array(mask, dtype=bool),
        1, "round-robin", 0,
    )  # fmt: skip
    want = ref.simulate(
        *views, trace.input.tolist(), trace.output.tolist(), trace.arrival.tolist(), 1, 0.0,
        s.policy, s.max_seqs, s.max_batched_tokens, s.block_size, s.kv_blocks, mask,
    )  # fmt: skip
    for k in ("scheduled", "first_token", "finish"):
        assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)
    for k in ("tokens", "prefill_tokens", "kv_blocks"):
        assert_array_equal(got[f"it_{k}"], want[f"it_{k}"], err_msg=k)
    assert np.all(np.isnan(got["first_token"][np.array(mask, dtype=bool)]))


def test_disaggregated_at_a_vanishing_rate_is_prefill_transfer_and_decodes() -> None:
    inp, out = 1500, 6
    d = bw.Deployment("H100-SXM", tp=2)
    w = bw.Workload(requests=10, rate=1e-3, input=inp, output=out)
    r = bw.serve.simulate_disaggregated(MODEL, d, w, 1, 1)
    prefill = bw.prefill(MODEL, d, 1, inp).step_time
    moved = bw._core.serving_kv_transfer_seconds(
        cost_view(MODEL), plan_view(d), chip_view(d), np.array([inp], dtype=np.uint64)
    )[0]
    decodes = bw.steps(MODEL, d, 1, np.arange(inp, inp + out - 1)).latency.sum()
    assert_allclose(r.ttft, prefill, rtol=1e-9)
    assert_allclose(r.e2e, prefill + moved + decodes, rtol=1e-9)
    assert moved > 0 and r.replicas == 2 and r.disaggregated == (1, 1)
    assert r.summary()["disaggregated"] == {"prefill": 1, "decode": 1}


def test_disaggregated_serves_everyone_and_prices_both_pools() -> None:
    w = bw.Workload(
        requests=200,
        rate=20.0,
        input=bw.Lengths.uniform(100, 3000),
        output=bw.Lengths.uniform(1, 80),
        seed=6,
    )
    r = bw.serve.simulate_disaggregated(MODEL, DEP, w, 2, 3)
    assert np.all(np.isfinite(r.finish)) and np.all(r.finish >= r.first_token)
    one = r.output == 1
    assert_array_equal(r.finish[one], r.first_token[one])
    agg = bw.simulate(MODEL, DEP, w, replicas=5)
    assert r.usd_per_s == pytest.approx(agg.usd_per_s, rel=1e-12)
    assert set(r.iterations["replica"].tolist()) == {0, 1, 2, 3, 4}
    with pytest.raises(ValidationError, match="open traffic"):
        bw.serve.simulate_disaggregated(MODEL, DEP, bw.Workload(requests=3, clients=1), 1, 1)


@pytest.mark.parametrize("policy", bw.serve.POLICIES)
def test_throughput_never_exceeds_the_step_models_best(policy: str) -> None:
    w = bw.Workload(requests=400, input=bw.Lengths.uniform(300, 1200), output=100, seed=9)
    s = bw.Scheduler(policy, max_seqs=64)  # type: ignore[arg-type]
    r = bw.simulate(MODEL, DEP, w, s)
    # decode tokens at the shortest context, in the best batch up to max_seqs, with no prefill
    best = (np.arange(1, 65) / bw.steps(MODEL, DEP, np.arange(1, 65), 300).latency).max()
    assert r.throughput["output_tokens_per_s"] <= best
    assert r.throughput["output_tokens_per_s"] > 0.1 * best  # and it is not idle


# -- scheduler options: prefix caching, swap preemption, speculative decoding -------------------

#: a stand-in draft model (the catalog has no small Llama); only its pricing is exercised
DRAFT = bw.model("llama2-7b")


@st.composite
def option_cases(draw: st.DrawFn) -> tuple[bw.Trace, bw.Scheduler]:
    trace, s = draw(cases())
    n = len(trace)
    ids = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    lens = [min(8 * i, int(x) - 1) if i else 0 for i, x in zip(ids, trace.input, strict=True)]
    lens = [x if x > 0 else 0 for x in lens]
    # one length per id: the shortest any of its requests allows
    per_id = {i: min(ln for j, ln in zip(ids, lens, strict=True) if j == i) for i in set(ids)}
    lens = [per_id[i] for i in ids]
    trace = bw.Trace(
        trace.input,
        trace.output,
        arrival=trace.arrival,
        clients=trace.clients,
        think=trace.think,
        prefix_id=ids,  # type: ignore[arg-type]
        prefix_tokens=lens,  # type: ignore[arg-type]
    )
    spec = None
    if draw(st.booleans()):
        spec = bw.Speculation(
            draw(st.integers(1, 5)),
            draw(st.sampled_from([0.0, 0.3, 0.8, 1.0])),
            draw(st.sampled_from([None, DRAFT])),
        )
    s = replace(
        s,
        prefix_cache=draw(st.booleans()),
        preemption=draw(st.sampled_from(["recompute", "swap"])),
        speculative=spec,
    )
    return trace, s


def _reference_with(trace: bw.Trace, s: bw.Scheduler) -> dict[str, Any]:
    assert s.max_batched_tokens is not None and s.kv_blocks is not None
    sp = s.speculative
    return ref.simulate(
        cost_view(MODEL),
        plan_view(DEP),
        chip_view(DEP),
        [int(x) for x in trace.input],
        [int(x) for x in trace.output],
        None if trace.arrival is None else [float(x) for x in trace.arrival],
        trace.clients or 1,
        trace.think,
        s.policy,
        s.max_seqs,
        s.max_batched_tokens,
        s.block_size,
        s.kv_blocks,
        prefix_id=None if trace.prefix_id is None else [int(x) for x in trace.prefix_id],
        prefix_tokens=None
        if trace.prefix_tokens is None
        else [int(x) for x in trace.prefix_tokens],
        prefix_cache=s.prefix_cache,
        preemption=s.preemption,
        host_bandwidth=s.host_bandwidth or 0.0,
        expected_tokens=None if sp is None else [float(x) for x in sp.expected()],
        draft=None if sp is None or sp.draft is None else cost_view(sp.draft),
    )


def _raw(trace: bw.Trace, s: bw.Scheduler) -> dict[str, Any]:
    assert s.max_batched_tokens is not None and s.kv_blocks is not None
    return bw._core.serving_simulate_pool(
        cost_view(MODEL),
        plan_view(DEP),
        chip_view(DEP),
        trace.input,
        trace.output,
        trace.arrival,
        trace.clients or 1,
        trace.think,
        s.policy,
        s.max_seqs,
        s.max_batched_tokens,
        s.block_size,
        s.kv_blocks,
        True,
        None,
        1,
        "round-robin",
        0,
        prefix_id=trace.prefix_id,
        prefix_tokens=trace.prefix_tokens,
        **s.core_options(),
    )


@given(option_cases())
def test_core_matches_the_reference_with_every_option(case: tuple[bw.Trace, bw.Scheduler]) -> None:
    trace, s = case
    s = s.resolved(MODEL, DEP, trace)
    got = _raw(trace, s)
    want = _reference_with(trace, s)
    for k in ("arrival", "scheduled", "first_token", "finish"):
        assert_allclose(got[k], want[k], rtol=1e-12, err_msg=k)
    for k in ("preemptions", "cached"):
        assert_array_equal(got[k], want[k], err_msg=k)
    assert got["swapped_tokens"] == want["swapped_tokens"]
    for k in ("sequences", "tokens", "prefill_tokens", "kv_blocks"):
        assert_array_equal(got[f"it_{k}"], want[f"it_{k}"], err_msg=k)
    for k in ("start", "seconds"):
        assert_allclose(got[f"it_{k}"], want[f"it_{k}"], rtol=1e-12, err_msg=k)
    # every request completes; swap never recomputes, so prompts are prefilled exactly once
    # (less what the prefix cache served)
    assert np.all(np.isfinite(got["finish"]))
    prefilled = int(got["it_prefill_tokens"].sum()) + int(got["cached"].sum())
    if s.preemption == "swap" or not got["preemptions"].any():
        assert prefilled == int(trace.input.sum())


def test_prefix_cache_without_shared_prefixes_is_no_cache() -> None:
    w = bw.Workload(requests=300, rate=8.0, input=bw.Lengths.uniform(200, 900), output=64, seed=2)
    t = w.draw()
    distinct = bw.Trace.from_arrays(
        t.arrival, t.input, t.output, prefix_id=np.arange(len(t)), prefix_tokens=t.input // 2
    )
    off = bw.simulate(MODEL, DEP, t)
    on = bw.simulate(MODEL, DEP, distinct, bw.Scheduler(prefix_cache=True))
    assert not off.preemptions.any()
    assert_array_equal(on.finish, off.finish)
    assert_array_equal(on.iterations["tokens"], off.iterations["tokens"])


def test_a_fully_shared_prefix_skips_exactly_its_tokens() -> None:
    n, inp, prefix = 40, 1200, 1024  # 64 full blocks of 16
    t = bw.Workload(requests=n, rate=2.0, input=inp, output=32, seed=4).draw()
    shared = bw.Trace.from_arrays(
        t.arrival, t.input, t.output, prefix_id=np.zeros(n), prefix_tokens=np.full(n, prefix)
    )
    off = bw.simulate(MODEL, DEP, shared)
    on = bw.simulate(MODEL, DEP, shared, bw.Scheduler(prefix_cache=True))
    skipped = int(off.iterations["prefill_tokens"].sum() - on.iterations["prefill_tokens"].sum())
    # every request but the first finds it resident (the first computes it before the next
    # arrives at this rate)
    assert skipped == (n - 1) * prefix
    assert on.ttft.mean() < off.ttft.mean()


def test_swap_never_loses_a_request_and_conserves_tokens() -> None:
    trace = bw.Workload(
        requests=60, rate=50.0, input=bw.Lengths.uniform(20, 200), output=100, seed=3
    ).draw()
    s = bw.Scheduler("continuous", max_seqs=32, kv_blocks=60, preemption="swap")
    r = bw.simulate(MODEL, DEP, trace, s)
    assert r.preemptions.sum() > 0
    assert np.all(np.isfinite(r.finish)) and np.all(r.finish >= r.first_token)
    once = int(trace.input.sum() + trace.output.sum()) - len(trace)
    assert int(r.iterations["tokens"].sum()) == once
    slow = bw.simulate(MODEL, DEP, trace, replace(s, host_bandwidth=1e6))
    assert slow.finish.max() > r.finish.max()


def test_speculation_at_zero_acceptance_emits_one_token_per_verification() -> None:
    inp, out = 500, 20
    w = bw.Workload(requests=1, rate=1.0, input=inp, output=out)
    plain = bw.simulate(MODEL, DEP, w)
    for k in (1, 4):
        r = bw.simulate(MODEL, DEP, w, bw.Scheduler(speculative=bw.Speculation(k, 0.0)))
        assert r.n_iterations == plain.n_iterations == out
        # each verification carries min(k, tokens still needed - 1) drafts
        need = out - 1 - np.arange(out - 1)
        assert_array_equal(r.iterations["tokens"][1:], 1 + np.minimum(k, need - 1))
    fast = bw.simulate(MODEL, DEP, w, bw.Scheduler(speculative=bw.Speculation(4, 0.9)))
    assert fast.n_iterations < plain.n_iterations and fast.tpot[0] < plain.tpot[0]


@pytest.mark.parametrize(
    "s",
    [
        bw.Scheduler(prefix_cache=True),
        bw.Scheduler(preemption="swap", kv_blocks=3000),
        bw.Scheduler(speculative=bw.Speculation(3, 0.7)),
    ],
)
def test_littles_law_holds_with_every_option(s: bw.Scheduler) -> None:
    rate, n = 20.0, 3000
    t = bw.Workload(
        requests=n, rate=rate, input=bw.Lengths.lognormal(800, 0.6), output=128, seed=1
    ).draw()
    t = bw.Trace.from_arrays(
        t.arrival,
        t.input,
        t.output,
        prefix_id=np.arange(n) % 5,
        prefix_tokens=np.full(n, min(256, int(t.input.min()) - 1)),
    )
    r = bw.simulate(MODEL, DEP, t, s)
    grid = np.linspace(r.arrival.min(), r.finish.max(), 200_001)
    in_system = np.searchsorted(np.sort(r.arrival), grid, "right") - np.searchsorted(
        np.sort(r.finish), grid, "right"
    )
    assert abs(in_system.mean() / (rate * r.e2e.mean()) - 1.0) < 0.065


def test_option_inputs_name_the_field() -> None:
    with pytest.raises(ValidationError, match="Scheduler.preemption"):
        bw.Scheduler(preemption="drop")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="Speculation.acceptance"):
        bw.Speculation(4, 1.5)
    with pytest.raises(ValidationError, match="Speculation.draft_tokens"):
        bw.Speculation(0, 0.5)
    with pytest.raises(ValidationError, match=r"Trace.prefix_tokens\[0\]"):
        bw.Trace.from_arrays([0.0], [10], [2], prefix_id=[1], prefix_tokens=[10])
    with pytest.raises(ValidationError, match="prefix_tokens"):
        bw.Trace.from_arrays([0.0], [10], [2], prefix_id=[1])
    with pytest.raises(BrickwallTypeError, match="Scheduler.speculative"):
        bw.Scheduler(speculative=4)  # type: ignore[arg-type]


def test_trace_files_carry_prefix_columns(tmp_path: Any) -> None:
    p = tmp_path / "t.csv"
    p.write_text("arrival,input,output,prefix_id,prefix_tokens\n0.5,100,4,7,64\n0.1,50,3,,\n")
    t = bw.Trace.from_file(p)
    assert t.prefix_id is not None and t.prefix_tokens is not None
    assert_array_equal(t.prefix_tokens, [0, 64])
    assert_array_equal(t.prefix_id, [0, 7])
    j = tmp_path / "t.jsonl"
    j.write_text('{"arrival": 0, "input": 100, "output": 4, "prefix_id": 3, "prefix_tokens": 40}\n')
    assert_array_equal(bw.Trace.from_file(j).prefix_tokens, [40])


def test_max_rate_counts_only_rates_the_run_keeps_up_with() -> None:
    # SLOs so loose that a short run's backlog meets them at any rate: the rate found must
    # still be one the replica finishes its requests at (at least OVERLOAD x it).
    m, d = bw.model("llama3.1-70b"), bw.Deployment("H100-SXM", tp=8)
    w = bw.Workload(requests=20, input=2048, output=256)
    c = bw.serve.max_rate(m, d, w, ttft=10.0, tpot=1.0)
    assert c.result is not None and c.rate > 0
    served = len(c.result.input) / c.result.duration
    assert served >= bw.serve.OVERLOAD * c.rate


def test_sigint_stops_a_huge_speculative_batch_promptly() -> None:
    # Speculation keeps every request walked: Ctrl-C checks count that work, not iterations.
    interrupt(
        """
        import numpy as np
        n = 2**18
        t = bw.Trace(np.full(n, 1), np.full(n, 2000), arrival=np.zeros(n))
        s = bw.Scheduler("continuous", max_seqs=n, max_batched_tokens=1 << 40, kv_blocks=1 << 30,
                         speculative=bw.Speculation(32, 0.0))
        """,
        """
        bw.simulate(bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"), t, s, timeline=False)
        """,
        wait=1.5,
    )
