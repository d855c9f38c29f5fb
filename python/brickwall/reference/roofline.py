"""Reference step model: a plain transcription of rust/brickwall-core/src/roofline.rs and
step.rs (see their module docs), one (batch, context, n) at a time. ``step`` is the
per-operator model (sum of per-operator rooflines, default profile); ``aggregate_step`` keeps the
previous aggregate form max(bytes / bandwidth, FLOPs / peak) + communication as an oracle."""

from __future__ import annotations

import math
from typing import Any

from .collectives import all_reduce, collective_time


def _link(span: float, chip: dict[str, float]) -> tuple[float, float]:
    if span <= chip["scale_up_domain"]:
        lat, bw = chip["scale_up_latency"], chip["scale_up_bandwidth"]
    else:
        lat, bw = chip["scale_out_latency"], chip["scale_out_bandwidth"]
    if bw <= 0 and span > 1:
        raise ValueError("no link")
    return lat, max(bw, 5e-324) * chip["eff_network"]


def _aggregate(
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
    algorithm = p.get("all_reduce", "auto")
    if tp > chip["scale_up_domain"] and algorithm == "auto":
        algorithm = "ring"  # peer-access algorithms need the scale-up fabric
    t_comm = 0.0
    if tp > 1:
        t_comm = (m["layers"] / pp) * 2 * all_reduce(local * act, int(tp), tp_lat, tp_bw, algorithm)
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
        "_stage_comm": t_comm,
        "_hop": hop,
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


def aggregate_step(
    m: dict[str, float],
    p: dict[str, Any],
    chip: dict[str, float],
    batch: float,
    context: float,
    n: float,
) -> dict[str, float]:
    """The aggregate roofline: one max(memory, compute) per stage plus communication."""
    out = _aggregate(m, p, chip, batch, context, n)
    del out["_stage_comm"], out["_hop"]
    return out


# Structural constants of step.rs (see its comments for the reasoning behind each value).
KERNELS_DENSE_LAYER = 9.0
KERNELS_MOE_EXTRA = 4.0
KERNELS_COLLECTIVE = 2.0
ELEMENTWISE_D_MODEL = 12.0
ELEMENTWISE_FFN = 3.0
AGGREGATE_PROFILE = {"gemm_m_half": 0.0, "kernel_overhead_s": 0.0, "elementwise": False}


def _gemm_s(flops: float, rows: float, m_half: float, sec_per_flop: float) -> float:
    if m_half == 0 or rows <= 0:
        return flops * sec_per_flop
    return (flops + flops * m_half / rows) * sec_per_flop


def operators(
    m: dict[str, float],
    p: dict[str, Any],
    chip: dict[str, float],
    batch: float,
    context: float,
    n: float,
    profile: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The operators of one stage and one microbatch: name, FLOPs (whole model's share of the
    microbatch), compute seconds, memory seconds. The chip's profile unless ``profile`` overrides
    part of it."""
    keys = ("gemm_m_half", "kernel_overhead_s", "elementwise")
    prof = {**{k: chip[k] for k in keys}, **(profile or {})}
    tp, pp, ep = p["tp"], p["pp"], p["ep"]
    mem_bw = chip["memory_bandwidth"] * chip["eff_memory"]
    sec_per_flop = 1 / ((pp * tp * ep) * (chip["peak_flops"] * chip["eff_flops"]))
    kv_shard = tp if p["kv_batch_sharded"] else min(tp, m["kv_heads"])
    micro = min(batch, pp)
    b = batch / micro
    tokens = b * n
    e, k = m["experts"], m["top_k"]
    if not math.isnan(p["touched_experts"]):
        touched = p["touched_experts"]
    else:
        touched = 0.0 if e == 0 else e * (1 - (1 - k / e) ** tokens)
    expert_flops = 2 * k * m["moe_layers"] * m["expert_params_per_layer"]
    dense_flops = 2 * m["matmul_params_active"] - expert_flops
    dense_w = m["dense_params"] * p["weight_bytes"] / (pp * tp) / mem_bw
    expert_w = (
        (m["moe_layers"] * m["expert_params_per_layer"] * p["weight_bytes"] / (pp * tp * ep))
        * touched
        / mem_bw
    )
    straggler = tokens * (p["expert_imbalance"] - 1) * expert_flops
    rows = tokens * k / touched if touched > 0 else math.inf
    kv_chip_per_token = m["kv_elements_per_token"] * p["kv_bytes"] / (pp * kv_shard * ep)
    attended = n * context + 0.5 * n * (n + 1)
    attn_flops = b * m["attn_flops_per_context_token"] * attended
    layers_stage, moe_stage = m["layers"] / pp, m["moe_layers"] / pp
    elem = 0.0
    if prof["elementwise"]:
        per_token = (
            layers_stage
            * (ELEMENTWISE_D_MODEL * m["d_model"] + ELEMENTWISE_FFN * m["ffn_width"] / tp)
            * p["act_bytes"]
            / ep
        )
        elem = tokens * per_token / mem_bw
    kernels = layers_stage * KERNELS_DENSE_LAYER + moe_stage * KERNELS_MOE_EXTRA
    kernels += (layers_stage if tp > 1 else 0) * KERNELS_COLLECTIVE
    kernels += (moe_stage if ep > 1 else 0) * KERNELS_COLLECTIVE
    overhead = kernels * prof["kernel_overhead_s"]
    m_half = prof["gemm_m_half"]
    return [
        {
            "op": "dense_gemm",
            "flops": tokens * dense_flops,
            "compute_s": _gemm_s(tokens * dense_flops, tokens / ep, m_half, sec_per_flop),
            "memory_s": dense_w,
            "class": "weights",
        },
        {
            "op": "expert_gemm",
            "flops": tokens * expert_flops,
            "compute_s": _gemm_s(tokens * expert_flops + straggler, rows, m_half, sec_per_flop),
            "memory_s": expert_w,
            "class": "weights",
        },
        {
            "op": "attention",
            "flops": attn_flops,
            "compute_s": attn_flops * sec_per_flop,
            "memory_s": b * (context + n) * kv_chip_per_token / mem_bw,
            "class": "kv",
        },
        {"op": "elementwise", "flops": 0.0, "compute_s": 0.0, "memory_s": elem, "class": "act"},
        {
            "op": "kernel_overhead",
            "flops": 0.0,
            "compute_s": overhead,
            "memory_s": 0.0,
            "class": "fixed",
        },
    ]


def step(
    m: dict[str, float],
    p: dict[str, Any],
    chip: dict[str, float],
    batch: float,
    context: float,
    n: float,
    profile: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The per-operator step: the aggregate step's memory, communication and costs, with each
    stage's time the sum over :func:`operators` of max(compute, memory)."""
    agg = _aggregate(m, p, chip, batch, context, n)
    ops = operators(m, p, chip, batch, context, n, profile)
    pp = p["pp"]
    t_ops = sum(max(o["compute_s"], o["memory_s"]) for o in ops)
    # The aggregate step's per-stage communication and hop, recovered from its fields.
    hop, t_comm = agg.pop("_hop"), agg.pop("_stage_comm")
    stage = max(t_ops, t_comm) if p["overlap"] else t_ops + t_comm
    latency = pp * stage + (pp - 1) * hop
    on = {"compute": 0.0, "weights": 0.0, "kv": 0.0}
    for o in ops:
        if o["class"] in ("weights", "kv"):
            key = "compute" if o["compute_s"] >= o["memory_s"] else o["class"]
            on[key] += max(o["compute_s"], o["memory_s"])
    if t_comm > t_ops:
        bound = 3
    elif on["compute"] >= max(on["weights"], on["kv"]):
        bound = 2
    else:
        bound = 1 if on["kv"] > on["weights"] else 0
    gemm_attn = [o for o in ops if o["class"] in ("weights", "kv")]
    tokens_per_s = batch * n / latency
    chips = p["tp"] * pp * p["ep"]
    micro = min(batch, pp)
    flops_micro = sum(o["flops"] for o in ops)
    names = ("t_dense_gemm", "t_expert_gemm", "t_attention", "t_elementwise", "t_floor")
    per_op = {k: pp * max(o["compute_s"], o["memory_s"]) for k, o in zip(names, ops, strict=True)}
    return {
        **agg,
        **per_op,
        "latency": latency,
        "t_compute": pp * sum(o["compute_s"] for o in gemm_attn),
        "tokens_per_s": tokens_per_s,
        "mfu": micro * flops_micro / latency / (chips * chip["peak_flops"]),
        "cost_per_token": chips * chip["price_per_s"] / tokens_per_s,
        "bound": bound,
    }
