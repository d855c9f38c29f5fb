"""Roofline: the Rust kernel vs a vectorised numpy transcription vs the reference loop, over
10^6 (batch, context) points of one deployment (GPT-4 MoE on 128 A100, TP 8 x PP 16)."""

from __future__ import annotations

import time
from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.reference import roofline as ref

N = 1_000_000
RNG = np.random.default_rng(1)
BATCH = RNG.integers(1, 4096, N).astype(np.float64)
CONTEXT = RNG.integers(0, 32768, N).astype(np.float64)
MODEL = bw.model("gpt4-moe-1.8t")
DEPLOY = bw.Deployment("A100-80GB", tp=8, pp=16)


def _collective(
    kind: str, nbytes: np.ndarray, ranks: float, lat: float, bw_: float
) -> np.ndarray | float:
    if ranks <= 1:
        return 0.0
    steps, vol = {
        "all-reduce": (2 * (ranks - 1), 2 * (ranks - 1) / ranks),
        "all-to-all": (ranks - 1, (ranks - 1) / ranks),
        "p2p": (1.0, 1.0),
    }[kind]
    return np.where(nbytes > 0, steps * lat + vol * nbytes / bw_, 0.0)


def _link(span: float, c: dict[str, float]) -> tuple[float, float]:
    if span <= c["scale_up_domain"]:
        return c["scale_up_latency"], max(c["scale_up_bandwidth"], 5e-324) * c["eff_network"]
    return c["scale_out_latency"], max(c["scale_out_bandwidth"], 5e-324) * c["eff_network"]


def _all_reduce(msg: np.ndarray, ranks: float, alpha: float, bw: float, algorithm: str) -> Any:
    """One all-reduce of ``msg`` bytes per rank by ``algorithm`` ("auto": the fastest)."""
    if ranks <= 1:
        return np.zeros_like(msg)
    share = (ranks - 1) / ranks
    forms = {
        "ring": (2 * (ranks - 1), 2 * share),
        "tree": (2 * np.ceil(np.log2(ranks)), 2.0),
        "one-shot": (1.0, ranks - 1),
        "two-shot": (2.0, 2 * share),
    }
    names = list(forms) if algorithm == "auto" else [algorithm]
    return np.minimum.reduce([forms[a][0] * alpha + forms[a][1] / bw * msg for a in names])


def numpy_roofline(
    m: dict, p: dict, c: dict, batch: np.ndarray, context: np.ndarray, n: float = 1.0
) -> dict[str, np.ndarray]:
    """What a user would write with numpy: the same per-operator model, whole arrays at a time."""
    tp, pp, ep = p["tp"], p["pp"], p["ep"]
    mem_bw = c["memory_bandwidth"] * c["eff_memory"]
    sec_per_flop = 1 / ((pp * tp * ep) * (c["peak_flops"] * c["eff_flops"]))
    kv_shard = tp if p["kv_batch_sharded"] else min(tp, m["kv_heads"])
    micro = np.minimum(batch, pp)
    b = batch / micro
    tokens = b * n
    e, k = m["experts"], m["top_k"]
    touched = e * (1 - (1 - k / e) ** tokens) if e else np.zeros_like(tokens)
    dense = m["dense_params"] * p["weight_bytes"] / (pp * tp)
    expert = m["moe_layers"] * m["expert_params_per_layer"] * p["weight_bytes"] / (pp * tp * ep)
    kv_tok = m["kv_elements_per_token"] * p["kv_bytes"] / (pp * kv_shard * ep)
    # GEMMs at M rows reach M / (M + m_half) of the compute plateau
    m_half = c["gemm_m_half"]
    expert_fl = 2 * k * m["moe_layers"] * m["expert_params_per_layer"]
    dense_fl = 2 * m["matmul_params_active"] - expert_fl
    rows = np.divide(tokens * k, touched, out=np.full_like(tokens, np.inf), where=touched > 0)
    dense_c = tokens * dense_fl * (1 + m_half / (tokens / ep)) * sec_per_flop
    expert_c = tokens * expert_fl * (1 + m_half / rows) * sec_per_flop
    dense_w, expert_w = dense / mem_bw, expert * touched / mem_bw
    t_kv = b * (context + n) * kv_tok / mem_bw
    attn_c = b * (n * context + 0.5 * n * (n + 1)) * m["attn_flops_per_context_token"]
    attn_c = attn_c * sec_per_flop
    layers, moe = m["layers"] / pp, m["moe_layers"] / pp
    elem = 12 * m["d_model"] + 3 * m["ffn_width"] / tp if c["elementwise"] else 0.0
    t_elem = tokens * layers * elem * p["act_bytes"] / ep / mem_bw
    kernels = layers * 9 + moe * 4 + (layers * 2 if tp > 1 else 0) + (moe * 2 if ep > 1 else 0)
    t_floor = kernels * c["kernel_overhead_s"]
    ops = [np.maximum(dense_c, dense_w), np.maximum(expert_c, expert_w), np.maximum(attn_c, t_kv)]
    t_ops = ops[0] + ops[1] + ops[2] + t_elem + t_floor
    act = m["d_model"] * p["act_bytes"]
    local = tokens / ep
    algorithm = p["all_reduce"]
    if tp > c["scale_up_domain"] and algorithm == "auto":
        algorithm = "ring"  # peer-access algorithms need the scale-up fabric
    t_tp = layers * 2 * _all_reduce(local * act, tp, *_link(tp, c), algorithm)
    t_tp = t_tp + moe * 2 * _collective("all-to-all", local * k * act, ep, *_link(tp * ep, c))
    hop = (
        _collective("p2p", tokens * act / (tp * ep), 2, *_link(tp * pp * ep, c)) if pp > 1 else 0.0
    )
    latency = pp * (t_ops + t_tp) + (pp - 1) * hop
    tokens_per_s = batch * n / latency
    # every column the kernel returns, so both do the same work; the bound is the resource
    # whose operators take the most time
    on_c = sum(
        np.where(cc >= w, t, 0.0)
        for cc, w, t in zip((dense_c, expert_c, attn_c), (dense_w, expert_w, t_kv), ops)
    )
    on_w = sum(
        np.where(cc < w, t, 0.0) for cc, w, t in zip((dense_c, expert_c), (dense_w, expert_w), ops)
    )
    on_kv = np.where(attn_c < t_kv, t_kv, 0.0)
    bound = np.where(
        t_tp > t_ops,
        3,
        np.where(on_c >= np.maximum(on_w, on_kv), 2, np.where(on_kv > on_w, 1, 0)),
    ).astype(np.uint8)
    weights_chip = dense + expert * e
    mem_kv = batch * (context + n) * kv_tok
    mem_act = local * (4 * m["d_model"] + 2 * m["ffn_width"] / tp) * p["act_bytes"]
    flops_micro = tokens * 2 * m["matmul_params_active"] + attn_c / sec_per_flop
    return {
        "latency": latency,
        "t_weights": pp * (dense_w + expert_w),
        "t_kv": pp * t_kv,
        "t_compute": pp * (dense_c + expert_c + attn_c),
        "t_comm": pp * t_tp + (pp - 1) * hop,
        "tokens_per_s": tokens_per_s,
        "mfu": micro * flops_micro / latency / (tp * pp * ep * c["peak_flops"]),
        "mem_weights": np.full_like(latency, weights_chip),
        "mem_kv": mem_kv,
        "mem_act": mem_act,
        "cost_per_token": tp * pp * ep * c["price_per_s"] / tokens_per_s,
        "bound": bound,
        "fits": weights_chip + mem_kv + mem_act <= c["memory"],
        "t_dense_gemm": pp * ops[0],
        "t_expert_gemm": pp * ops[1],
        "t_attention": pp * ops[2],
        "t_elementwise": pp * t_elem,
        "t_floor": np.full_like(latency, pp * t_floor),
    }


def core() -> dict:
    return bw.steps(MODEL, DEPLOY, BATCH, CONTEXT).columns


def test_numpy_baseline_agrees() -> None:
    got = core()
    want = numpy_roofline(cost_view(MODEL), plan_view(DEPLOY), chip_view(DEPLOY), BATCH, CONTEXT)
    for key, value in want.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-12, err_msg=key)


@pytest.mark.benchmark(group="roofline/1e6")
def test_core(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(core)


@pytest.mark.benchmark(group="roofline/1e6")
def test_numpy(benchmark) -> None:  # type: ignore[no-untyped-def]
    m, p, c = cost_view(MODEL), plan_view(DEPLOY), chip_view(DEPLOY)
    benchmark(numpy_roofline, m, p, c, BATCH, CONTEXT)


@pytest.mark.benchmark(group="roofline/1e6")
def test_reference(benchmark) -> None:  # type: ignore[no-untyped-def]
    k = 2_000  # a slice; benches/report.py scales it to N
    m, p, c = cost_view(MODEL), plan_view(DEPLOY), chip_view(DEPLOY)
    b, x = BATCH[:k].tolist(), CONTEXT[:k].tolist()
    benchmark.extra_info["scale"] = N / k
    benchmark(lambda: [ref.step(m, p, c, bi, ci, 1.0) for bi, ci in zip(b, x)])


# -- one scalar estimate: the warm Python call vs the core it wraps ------------------------------

SCALAR_MODEL = bw.model("llama3.1-70b")
SCALAR_DEPLOY = bw.Deployment("H100-SXM", tp=8)


def scalar_decode() -> bw.StepEstimate:
    return bw.decode(SCALAR_MODEL, SCALAR_DEPLOY, 64, 2048)


def scalar_array_of_one() -> dict:
    return bw.steps(SCALAR_MODEL, SCALAR_DEPLOY, [64.0], [2048.0]).columns


@pytest.mark.benchmark(group="roofline/scalar")
def test_scalar_decode(benchmark) -> None:  # type: ignore[no-untyped-def]
    scalar_decode()  # warm: the deployment's step model is built once and cached
    benchmark(scalar_decode)


@pytest.mark.benchmark(group="roofline/scalar")
def test_scalar_array_of_one(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(scalar_array_of_one)


def test_scalar_agrees_with_the_array_path() -> None:
    e, cols = scalar_decode(), scalar_array_of_one()
    assert e.step_time == cols["latency"][0] and e.mfu == cols["mfu"][0]


def _per_call(fn: Any, calls: int = 20000) -> float:
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def main() -> None:
    from brickwall.inference import _step_model

    sm = _step_model(SCALAR_MODEL, SCALAR_DEPLOY)
    core = _per_call(lambda: sm.step(64.0, 2048.0, 1.0))
    warm = _per_call(scalar_decode)
    array = _per_call(scalar_array_of_one, 5000)
    m, p, c = cost_view(SCALAR_MODEL), plan_view(SCALAR_DEPLOY), chip_view(SCALAR_DEPLOY)
    reference = _per_call(lambda: ref.step(m, p, c, 64, 2048, 1), 2000)
    print("one decode estimate (llama3.1-70b, H100 x 8, batch 64, context 2048), best of 5:")
    print(f"core step          {core * 1e6:7.2f} us")
    print(f"bw.decode (warm)   {warm * 1e6:7.2f} us   (goal <= 10 us)")
    print(f"bw.steps of one    {array * 1e6:7.2f} us   bw.decode is {array / warm:.1f}x faster")
    print(
        f"reference step     {reference * 1e6:7.2f} us   bw.decode is {reference / warm:.1f}x faster"
    )


if __name__ == "__main__":
    main()
