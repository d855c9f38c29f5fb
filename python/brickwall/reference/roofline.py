"""Reference step roofline: a plain transcription of rust/brickwall-core/src/roofline.rs's
model (see its module docs), one (batch, context, n) at a time."""

from __future__ import annotations

import math

from typing import Any

from .collectives import collective_time


def _link(span: float, chip: dict[str, float]) -> tuple[float, float]:
    if span <= chip["scale_up_domain"]:
        lat, bw = chip["scale_up_latency"], chip["scale_up_bandwidth"]
    else:
        lat, bw = chip["scale_out_latency"], chip["scale_out_bandwidth"]
    if bw <= 0 and span > 1:
        raise ValueError("no link")
    return lat, max(bw, 5e-324) * chip["eff_network"]


def step(
    m: dict[str, float],
    p: dict[str, Any],
    chip: dict[str, float],
    batch: float,
    context: float,
    n: float,
) -> dict[str, float]:
    tp, pp, ep = p["tp"], p["pp"], p["ep"]
    chips = tp * pp * ep
    mem_bw = chip["memory_bandwidth"] * chip["eff_memory"]
    flops = chip["peak_flops"] * chip["eff_flops"]
    kv_shard = tp if p["kv_batch_sharded"] else min(tp, m["kv_heads"])

    micro = min(batch, pp)
    b = batch / micro
    tokens = b * n
    e, k = m["experts"], m["top_k"]
    if not math.isnan(p["touched_experts"]):  # a fixed (routing quantile) value
        touched = p["touched_experts"]
    else:
        touched = 0.0 if e == 0 else e * (1 - (1 - k / e) ** tokens)

    dense_chip = m["dense_params"] * p["weight_bytes"] / (pp * tp)
    expert_chip = (
        m["moe_layers"] * m["expert_params_per_layer"] * p["weight_bytes"] / (pp * tp * ep)
    )
    kv_chip_per_token = m["kv_elements_per_token"] * p["kv_bytes"] / (pp * kv_shard * ep)

    t_w = (dense_chip + expert_chip * touched) / mem_bw
    t_kv = b * (context + n) * kv_chip_per_token / mem_bw
    attended = n * context + 0.5 * n * (n + 1)
    flops_micro = (
        tokens * 2 * m["matmul_params_active"] + b * m["attn_flops_per_context_token"] * attended
    )
    straggler = (
        tokens
        * (p["expert_imbalance"] - 1)
        * 2
        * k
        * m["moe_layers"]
        * m["expert_params_per_layer"]
    )
    t_c = (flops_micro + straggler) / (pp * tp * ep) / flops

    act = m["d_model"] * p["act_bytes"]
    local = tokens / ep
    tp_lat, tp_bw = _link(tp, chip)
    ep_lat, ep_bw = _link(tp * ep, chip)
    t_comm = (
        (m["layers"] / pp) * 2 * collective_time("all-reduce", local * act, int(tp), tp_lat, tp_bw)
    )
    t_comm += (
        (m["moe_layers"] / pp)
        * 2
        * collective_time("all-to-all", local * k * act, int(ep), ep_lat, ep_bw)
    )
    t_mem = t_w + t_kv
    stage = max(t_mem, t_c, t_comm) if p["overlap"] else max(t_mem, t_c) + t_comm
    hop = 0.0
    if pp > 1:
        pp_lat, pp_bw = _link(chips, chip)
        hop = collective_time("p2p", tokens * act / (tp * ep), 2, pp_lat, pp_bw)
    latency = pp * stage + (pp - 1) * hop
    tokens_per_s = batch * n / latency
    if t_comm > max(t_mem, t_c):
        bound = 3
    elif t_c >= t_mem:
        bound = 2
    else:
        bound = 1 if t_kv > t_w else 0
    weights_chip = dense_chip + expert_chip * e
    mem_kv = batch * (context + n) * kv_chip_per_token
    mem_act = local * (4 * m["d_model"] + 2 * m["ffn_width"] / tp) * p["act_bytes"]
    return {
        "latency": latency,
        "t_weights": pp * t_w,
        "t_kv": pp * t_kv,
        "t_compute": pp * t_c,
        "t_comm": pp * t_comm + (pp - 1) * hop,
        "tokens_per_s": tokens_per_s,
        "mfu": micro * flops_micro / latency / (chips * chip["peak_flops"]),
        "mem_weights": weights_chip,
        "mem_kv": mem_kv,
        "mem_act": mem_act,
        "cost_per_token": chips * chip["price_per_s"] / tokens_per_s,
        "bound": bound,
        "fits": weights_chip + mem_kv + mem_act <= chip["memory"],
    }
