"""Roofline: the Rust kernel vs a vectorised numpy transcription vs the reference loop, over
10^6 (batch, context) points of one deployment (GPT-4 MoE on 128 A100, TP 8 x PP 16)."""

from __future__ import annotations

import numpy as np
import pytest

import brickwall as bw
from brickwall.inference import chip_view, cost_view, plan_view
from brickwall.reference import roofline as ref

N = 1_000_000
RNG = np.random.default_rng(1)
BATCH = RNG.integers(1, 4096, N).astype(np.float64)
CONTEXT = RNG.integers(0, 32768, N).astype(np.float64)
MODEL = bw.model("gpt4-moe-1.8t")
DEPLOY = bw.Deployment("A100-80GB", tp=8, pp=16)


def numpy_roofline(
    m: dict, p: dict, c: dict, batch: np.ndarray, context: np.ndarray, n: float = 1.0
) -> dict[str, np.ndarray]:
    """What a user would write with numpy: the same model, whole arrays at a time."""
    tp, pp, ep = p["tp"], p["pp"], p["ep"]
    mem_bw = c["memory_bandwidth"] * c["eff_memory"]
    flops = c["peak_flops"] * c["eff_flops"]
    kv_shard = tp if p["kv_batch_sharded"] else min(tp, m["kv_heads"])
    micro = np.minimum(batch, pp)
    b = batch / micro
    tokens = b * n
    e, k = m["experts"], m["top_k"]
    touched = e * (1 - (1 - k / e) ** tokens) if e else 0.0
    dense = m["dense_params"] * p["weight_bytes"] / (pp * tp)
    expert = m["moe_layers"] * m["expert_params_per_layer"] * p["weight_bytes"] / (pp * tp * ep)
    kv_tok = m["kv_elements_per_token"] * p["kv_bytes"] / (pp * kv_shard * ep)
    t_w = (dense + expert * touched) / mem_bw
    t_kv = b * (context + n) * kv_tok / mem_bw
    fl = tokens * 2 * m["matmul_params_active"] + b * m["attn_flops_per_context_token"] * (
        n * context + 0.5 * n * (n + 1)
    )
    t_c = fl / (pp * tp * ep) / flops
    act = m["d_model"] * p["act_bytes"]
    local = tokens / ep
    bw_up = c["scale_up_bandwidth"] * c["eff_network"]
    t_tp = (
        (m["layers"] / pp)
        * 2
        * (2 * (tp - 1) * c["scale_up_latency"] + 2 * (tp - 1) / tp * local * act / bw_up)
    )
    bw_out = c["scale_out_bandwidth"] * c["eff_network"]
    hop = c["scale_out_latency"] + tokens * act / (tp * ep) / bw_out
    t_mem = t_w + t_kv
    stage = np.maximum(t_mem, t_c) + t_tp
    latency = pp * stage + (pp - 1) * hop
    tokens_per_s = batch * n / latency
    # every column the kernel returns, so both do the same work
    bound = np.where(
        t_tp > np.maximum(t_mem, t_c), 3, np.where(t_c >= t_mem, 2, np.where(t_kv > t_w, 1, 0))
    ).astype(np.uint8)
    weights_chip = dense + expert * e
    mem_kv = batch * (context + n) * kv_tok
    mem_act = local * (4 * m["d_model"] + 2 * m["ffn_width"] / tp) * p["act_bytes"]
    return {
        "latency": latency,
        "t_weights": pp * t_w,
        "t_kv": pp * t_kv,
        "t_compute": pp * t_c,
        "t_comm": pp * t_tp + (pp - 1) * hop,
        "tokens_per_s": tokens_per_s,
        "mfu": micro * fl / latency / (tp * pp * ep * c["peak_flops"]),
        "mem_weights": np.full_like(latency, weights_chip),
        "mem_kv": mem_kv,
        "mem_act": mem_act,
        "cost_per_token": tp * pp * ep * c["price_per_s"] / tokens_per_s,
        "bound": bound,
        "fits": weights_chip + mem_kv + mem_act <= c["memory"],
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
