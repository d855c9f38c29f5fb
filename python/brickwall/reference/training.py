"""Reference training step: a plain transcription of rust/brickwall-core/src/training/ (see its
module docs), one plan at a time, in pure Python except the stage's forward, which is the step
model's job (``_core.roofline_steps``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .collectives import all_reduce, collective_time, hierarchical_all_reduce
from .pipeline import closed_form_bubble


def activation_bytes_per_layer(
    s: float, b: float, h: float, a: float, t: float, sp: bool, recompute: str
) -> float:
    """Korthikanti et al. 2022 Table 2."""
    if recompute == "full":
        return 2 * s * b * h / (t if sp else 1)
    if recompute == "selective":
        return s * b * h * 34 / t if sp else s * b * h * (10 + 24 / t)
    if sp:
        return s * b * h / t * (34 + 5 * a * s / h)
    return s * b * h * (10 + 24 / t + 5 * a * s / (h * t))


def in_flight(schedule: str, p: int, m: int, v: int, i: int = 0) -> float:
    """Microbatches stage ``i`` holds at once."""
    if schedule == "gpipe":
        return m
    if schedule == "interleaved-1f1b":
        return min(m, p - i + (p - 1) / v)
    return min(m, p - i)


def stage_divisor(layers: float, pp: int) -> float:
    """The busiest stage holds ceil(L / p) layers: counts are divided by L / ceil(L / p)."""
    return layers / math.ceil(layers / pp)


PER_LAYER = (
    "layers",
    "moe_layers",
    "dense_params",
    "matmul_params_active",
    "attn_flops_per_context_token",
    "kv_elements_per_token",
)


def stages(
    cost: dict[str, float], pp: int, vocab: dict[str, float]
) -> list[tuple[int, dict[str, float], bool]]:
    """(index, the stage's share of the model, holds the logits) of the first, the earliest
    middle stage of each layer count and the last; the split is balance_layers' (the pipeline module's, tested against its own
    brute force) on GEMM FLOPs."""
    layers = cost["layers"]
    v = vocab["vocab"]
    if v <= 0 or pp > layers:
        d = stage_divisor(layers, pp)
        return [(0, {k: (x / d if k in PER_LAYER else x) for k, x in cost.items()}, False)]
    if pp == 1:
        return [(0, dict(cost), True)]
    vh = v * cost["d_model"]
    body_dense = max(
        (cost["dense_params"] - vocab["embedding_params"] - vocab["head_params"]) / layers, 0.0
    )
    body_mm = max((cost["matmul_params_active"] - vh) / layers, 0.0)
    tail = vh / body_mm if body_mm > 0 else 0.0
    split = [int(x) for x in _core.pipeline_balance_layers(np.ones(int(layers)), pp, 0.0, tail)]

    def share(k: int, first: bool, last: bool) -> dict[str, float]:
        out = dict(cost)
        out["layers"] = float(k)
        for key in ("moe_layers", "attn_flops_per_context_token", "kv_elements_per_token"):
            out[key] = cost[key] * (k / layers)
        out["dense_params"] = (
            body_dense * k + (vocab["embedding_params"] if first else 0.0) + (vh if last else 0.0)
        )
        out["matmul_params_active"] = body_mm * k + (vh if last else 0.0)
        return out

    found = [(0, share(split[0], True, False), False)]
    for i in range(1, pp - 1):
        if split[i] not in split[1:i]:
            found.append((i, share(split[i], False, False), False))
    found.append((pp - 1, share(split[-1], False, True), True))
    return found


def _params(stage: dict[str, float], tp: int, ep: int) -> tuple[float, float]:
    dense = stage["dense_params"] / tp
    expert = stage["moe_layers"] * stage["experts"] * stage["expert_params_per_layer"] / (tp * ep)
    return dense, expert


def stage_memory(
    stage: tuple[int, dict[str, float], bool], heads: float, plan: dict[str, Any], v: float
) -> dict[str, float]:
    index, cost, logits = stage
    tp, pp, dp, ep, cp = (int(plan[k]) for k in ("tp", "pp", "dp", "ep", "cp"))
    dense, expert = _params(cost, tp, ep)

    def held(sharded: bool) -> float:
        g = dp * cp
        return dense / g + expert / (g / ep) if sharded else dense + expert

    m = plan["global_batch"] // (dp * plan["microbatch"])
    flight = in_flight(plan["schedule"], pp, m, plan["chunks"], index)
    act = activation_bytes_per_layer(
        plan["seq_len"],
        plan["microbatch"],
        cost["d_model"],
        heads,
        tp,
        plan["sequence_parallel"],
        plan["recompute"],
    )
    weight_bytes = 3 if plan["precision"] == "fp8" else 2
    out = {
        "mem_weights": weight_bytes * held(plan["zero"] >= 3),
        "mem_grads": 2 * held(plan["zero"] >= 2),
        "mem_optimizer": 0.0 if plan["offload"] else 12 * held(plan["zero"] >= 1),
        "mem_activations": act * cost["layers"] * flight / cp,
        "mem_logits": 4 * plan["microbatch"] * plan["seq_len"] * v / (tp * cp) if logits else 0.0,
        "in_flight": flight,
        "mem_stage": float(index),
    }
    out["mem_total"] = (
        out["mem_weights"]
        + out["mem_grads"]
        + out["mem_optimizer"]
        + out["mem_activations"]
        + out["mem_logits"]
    )
    return out


def memory(
    stage_list: list[tuple[int, dict[str, float], bool]],
    heads: float,
    plan: dict[str, Any],
    v: float,
) -> dict[str, float]:
    """The stage that needs the most."""
    best = stage_memory(stage_list[0], heads, plan, v)
    for st in stage_list[1:]:
        m = stage_memory(st, heads, plan, v)
        if m["mem_total"] > best["mem_total"]:
            best = m
    return best


def _group_time(kind: str, n: float, ranks: int, stride: int, chip: dict[str, float]) -> float:
    room = max(int(chip["scale_up_domain"]) // max(stride, 1), 1)
    g = max(d for d in range(1, min(ranks, room) + 1) if ranks % d == 0)
    islands = ranks // g
    a_in, bw_in = chip["scale_up_latency"], chip["scale_up_bandwidth"] * chip["eff_network"]
    a_out, bw_out = chip["scale_out_latency"], chip["scale_out_bandwidth"] * chip["eff_network"]
    if islands <= 1:
        if kind == "all-reduce":
            return all_reduce(n, g, a_in, bw_in, "ring") if g > 1 and n > 0 else 0.0
        return collective_time(kind, n, g, a_in, bw_in)
    if kind == "all-reduce":
        return hierarchical_all_reduce(n, g, islands, a_in, bw_in, a_out, bw_out, "ring")
    return collective_time(kind, n, g, a_in, bw_in) + collective_time(
        kind, n / g, islands, a_out, bw_out
    )


def _forward(
    stage: dict[str, float], chip: dict[str, float], plan: dict[str, Any], peak: float
) -> dict[str, float]:
    """The step model's prefill of the microbatch on the stage (its job), and attention's
    compute seconds: the attended pairs x FLOPs per pair over the stage's achieved FLOP/s."""
    tp, ep, cp = plan["tp"], plan["ep"], plan["cp"]
    s = plan["seq_len"]
    n = s / cp
    ctx = 0.5 * (s - n)
    batch = plan["microbatch"] * ep
    stage_plan = {
        "tp": float(tp),
        "pp": 1.0,
        "ep": float(ep),
        "weight_bytes": 2.0,
        "kv_bytes": 2.0,
        "act_bytes": 2.0,
        "kv_batch_sharded": False,
        "overlap": False,
        "touched_experts": math.nan,
        "expert_imbalance": 1.0,
        "all_reduce": "auto",
    }
    one = np.array([1.0])
    args: tuple[Any, Any, Any] = (stage, stage_plan, {**chip, "peak_flops": peak})
    row = _core.roofline_steps(*args, one * batch, one * ctx, one * n)[0]
    out = dict(zip(_core.roofline_columns(), row, strict=True))
    pairs = batch * (n * ctx + 0.5 * n * (n + 1))
    out["t_attn_c"] = (
        pairs * stage["attn_flops_per_context_token"] / (tp * ep * peak * chip["eff_flops"])
    )
    return out


NO_VOCAB = {"vocab": 0.0, "embedding_params": 0.0, "head_params": 0.0}
NO_HOST = {"fp8_flops": 0.0, "host_bandwidth": 0.0}


def step(
    cost: dict[str, float],
    heads: float,
    chip: dict[str, float],
    plan: dict[str, Any],
    vocab: dict[str, float] | None = None,
    host: dict[str, float] | None = None,
) -> dict[str, float]:
    """Every entry of the core's training row, by name."""
    vocab = NO_VOCAB if vocab is None else vocab
    host = NO_HOST if host is None else host
    plan = {"cp": 1, "precision": "bf16", "offload": False, **plan}
    tp, pp, dp, ep, cp = plan["tp"], plan["pp"], plan["dp"], plan["ep"], plan["cp"]
    b, s, v = plan["microbatch"], plan["seq_len"], plan["chunks"]
    fp8 = plan["precision"] == "fp8"
    stage_list = stages(cost, pp, vocab)
    kv_shard = min(tp, max(cost["kv_heads"], 1.0))
    ring_in = tp * cp <= chip["scale_up_domain"]
    ring_key = "scale_up" if ring_in else "scale_out"
    ring_bw = max(chip[f"{ring_key}_bandwidth"], 5e-324) * chip["eff_network"]
    slow: dict[str, float] = {"latency": 0.0}
    for _, st, _ in stage_list:
        g = _forward(st, chip, plan, host["fp8_flops"] if fp8 else chip["peak_flops"])
        fw = {
            "latency": g["latency"],
            "t_compute": g["t_compute"],
            "t_comm": g["t_comm"],
            "t_attn": g["t_attn_c"],
        }
        if fp8:
            h = _forward(st, chip, plan, chip["peak_flops"])
            fw["latency"] = g["latency"] - g["t_attention"] + h["t_attention"]
            fw["t_compute"] = g["t_compute"] - g["t_attn_c"] + h["t_attn_c"]
            fw["t_attn"] = h["t_attn_c"]
        fw["t_ring"] = fw["ring_exposed"] = 0.0
        if cp > 1:
            per_layer = st["kv_elements_per_token"] / st["layers"] if st["layers"] > 0 else 0.0
            chunk = b * (s / cp) * per_layer * 2 / kv_shard
            hop = collective_time("p2p", chunk, 2, chip[f"{ring_key}_latency"], ring_bw)
            fw["t_ring"] = st["layers"] * (cp - 1) * hop
            fw["ring_exposed"] = max(fw["t_ring"] - fw["t_attn"], 0.0)
            fw["latency"] += fw["ring_exposed"]
        if fw["latency"] > slow["latency"]:
            slow = fw
    t_c, comm, f = slow["t_compute"], slow["t_comm"], slow["latency"]

    attn = cost["attn_flops_per_context_token"] * 0.5 * s * (s + 1)
    fwd_seq = s * 2 * cost["matmul_params_active"] + attn
    rec = plan["recompute"]
    t_rec = {"none": 0.0, "selective": attn / fwd_seq * t_c, "full": f}[rec]
    split = plan["schedule"] == "zb-h1"
    ring_b = 2 * slow["ring_exposed"]
    b_in, w = (
        (t_c + comm + t_rec + ring_b, t_c) if split else (2 * t_c + comm + t_rec + ring_b, 0.0)
    )

    dense, expert = 0.0, 0.0
    for _, st, _ in stage_list:
        d, e = _params(st, tp, ep)
        if d + e > dense + expert:
            dense, expert = d, e

    def coll(kind: str) -> float:
        return _group_time(kind, 2 * dense, dp * cp, tp, chip) + _group_time(
            kind, 2 * expert, dp * cp // ep, tp * ep, chip
        )

    last_bucket = min(max(4e7, 1e6 * dp * cp) / (dense + expert), 1.0)
    # fd, bd: the passes stretched by the traffic they overlap; edge: traffic nothing hides.
    if plan["zero"] <= 1:
        t_dp = coll("all-reduce")
        fd, bd = f, b_in
        edge = max(t_dp - (b_in + w), t_dp * last_bucket)
    elif plan["zero"] == 2:
        rs, ag = coll("reduce-scatter"), coll("all-gather")
        t_dp, fd, bd = rs + ag, f, max(b_in, rs - w)
        edge = max(ag - f, ag * last_bucket)
    else:
        rs, ag = coll("reduce-scatter"), coll("all-gather")
        t_dp, fd, bd = 2 * ag + rs, max(f, ag), max(b_in, ag + rs - w)
        edge = (ag + rs) * last_bucket

    m = plan["global_batch"] // (dp * b)

    def pipeline(f: float, b: float) -> tuple[float, float, float]:
        bf = closed_form_bubble(plan["schedule"], pp, m, v, f, b, w)
        busy = m * (f + b + w)
        return bf, busy, busy / (1 - bf)

    bf, busy, makespan = pipeline(f, b_in)
    stretched = pipeline(fd, bd)[2] if fd > f or bd > b_in else makespan
    exposed = stretched - makespan + edge
    gpus = tp * cp * pp * dp
    hop = 0.0
    if pp > 1:
        key = "scale_up" if gpus <= chip["scale_up_domain"] else "scale_out"
        bw = max(chip[f"{key}_bandwidth"], 5e-324) * chip["eff_network"]
        hop = (
            2
            * (pp * v - 1)
            * collective_time(
                "p2p", b * s * cost["d_model"] * 2 / (tp * cp), 2, chip[f"{key}_latency"], bw
            )
        )
    mem = memory(stage_list, heads, plan, vocab["vocab"])
    g = dp * cp
    opt = dense / g + expert / (g / ep) if plan["zero"] >= 1 else dense + expert
    t_opt = opt * 28 / (chip["memory_bandwidth"] * chip["eff_memory"])
    t_off = 0.0
    if plan["offload"]:
        t_off = opt * 12 / (max(host["host_bandwidth"], 5e-324) * chip["eff_network"])
    step_time = stretched + hop + edge + t_opt + t_off
    gb = plan["global_batch"]
    model_flops = 3 * gb * fwd_seq
    recomputed = {"none": 0.0, "selective": gb * attn, "full": gb * fwd_seq}[rec]
    peak = gpus * (host["fp8_flops"] if fp8 else chip["peak_flops"])
    return {
        "step_time": step_time,
        "t_forward": f,
        "t_backward": b_in + w,
        "t_recompute": t_rec,
        "t_pipeline_busy": busy,
        "t_bubble": makespan - busy,
        "t_p2p": hop,
        "t_dp": t_dp,
        "t_dp_exposed": exposed,
        "t_optimizer": t_opt,
        "t_tp_comm": comm,
        "tokens_per_s": gb * s / step_time,
        "mfu": model_flops / (step_time * peak),
        "hfu": (model_flops + recomputed) / (step_time * peak),
        "model_flops": model_flops,
        "microbatches": m,
        "bubble_fraction": bf,
        **mem,
        "headroom": chip["memory"] - mem["mem_total"],
        "fits": float(mem["mem_total"] <= chip["memory"]),
        "cost_per_step": step_time * gpus * chip["price_per_s"],
        "gpus": gpus,
        "t_cp_comm": slow["t_ring"],
        "t_cp_exposed": 3 * slow["ring_exposed"],
        "t_offload": t_off,
    }


def expected_wall(f: dict[str, float], work: float) -> float:
    """Daly 2006: segments of ``interval`` seconds of work, each M e^(R/M) (e^((x+d)/M) - 1)."""
    m, r, d, tau = f["mtbf"], f["restart"], f["checkpoint_write"], f["interval"]

    def seg(x: float) -> float:
        return m * math.exp(r / m) * math.expm1((x + d) / m)

    n = math.floor(work / tau)
    rest = work - n * tau
    return n * seg(tau) + (seg(rest) if rest > 0 else 0.0)
