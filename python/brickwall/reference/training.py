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


def in_flight(schedule: str, p: int, m: int, v: int) -> float:
    if schedule == "gpipe":
        return m
    if schedule == "interleaved-1f1b":
        return min(m, p + (p - 1) / v)
    return min(m, p)


def stage_divisor(layers: float, pp: int) -> float:
    """The busiest stage holds ceil(L / p) layers: counts are divided by L / ceil(L / p)."""
    return layers / math.ceil(layers / pp)


def memory(cost: dict[str, float], heads: float, plan: dict[str, Any]) -> dict[str, float]:
    tp, pp, dp, ep = (int(plan[k]) for k in ("tp", "pp", "dp", "ep"))
    share = stage_divisor(cost["layers"], pp)
    dense = cost["dense_params"] / (tp * share)
    expert = (
        cost["moe_layers"] * cost["experts"] * cost["expert_params_per_layer"] / (tp * share * ep)
    )

    def held(sharded: bool) -> float:
        return dense / dp + expert / (dp / ep) if sharded else dense + expert

    m = plan["global_batch"] // (dp * plan["microbatch"])
    flight = in_flight(plan["schedule"], pp, m, plan["chunks"])
    act = activation_bytes_per_layer(
        plan["seq_len"],
        plan["microbatch"],
        cost["d_model"],
        heads,
        tp,
        plan["sequence_parallel"],
        plan["recompute"],
    )
    out = {
        "mem_weights": 2 * held(plan["zero"] >= 3),
        "mem_grads": 2 * held(plan["zero"] >= 2),
        "mem_optimizer": 12 * held(plan["zero"] >= 1),
        "mem_activations": act * (cost["layers"] / share) * flight,
        "in_flight": flight,
    }
    out["mem_total"] = (
        out["mem_weights"] + out["mem_grads"] + out["mem_optimizer"] + out["mem_activations"]
    )
    return out


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


def step(
    cost: dict[str, float], heads: float, chip: dict[str, float], plan: dict[str, Any]
) -> dict[str, float]:
    """Every entry of the core's training row, by name."""
    tp, pp, dp, ep = plan["tp"], plan["pp"], plan["dp"], plan["ep"]
    b, s, v = plan["microbatch"], plan["seq_len"], plan["chunks"]
    per_layer = (
        "layers",
        "moe_layers",
        "dense_params",
        "matmul_params_active",
        "attn_flops_per_context_token",
        "kv_elements_per_token",
    )
    share = stage_divisor(cost["layers"], pp)
    stage = {k: (x / share if k in per_layer else x) for k, x in cost.items()}
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
    args: tuple[Any, Any, Any] = (stage, stage_plan, chip)  # plain dicts with the payload keys
    row = _core.roofline_steps(*args, one * b * ep, one * 0.0, one * s)[0]
    fwd = dict(zip(_core.roofline_columns(), row, strict=True))
    t_c, comm, f = fwd["t_compute"], fwd["t_comm"], fwd["latency"]

    attn = cost["attn_flops_per_context_token"] * 0.5 * s * (s + 1)
    fwd_seq = s * 2 * cost["matmul_params_active"] + attn
    rec = plan["recompute"]
    t_rec = {"none": 0.0, "selective": attn / fwd_seq * t_c, "full": f}[rec]
    split = plan["schedule"] == "zb-h1"
    b_in, w = (t_c + comm + t_rec, t_c) if split else (2 * t_c + comm + t_rec, 0.0)

    dense = cost["dense_params"] / (tp * share)
    expert = (
        cost["moe_layers"] * cost["experts"] * cost["expert_params_per_layer"] / (tp * share * ep)
    )

    def coll(kind: str) -> float:
        return _group_time(kind, 2 * dense, dp, tp, chip) + _group_time(
            kind, 2 * expert, dp // ep, tp * ep, chip
        )

    last_bucket = min(max(4e7, 1e6 * dp) / (dense + expert), 1.0)
    if plan["zero"] <= 1:
        t_dp = coll("all-reduce")
        exposed = max(t_dp - (b_in + w), t_dp * last_bucket)
    elif plan["zero"] == 2:
        rs, ag = coll("reduce-scatter"), coll("all-gather")
        b_in = max(b_in, rs - w)
        t_dp, exposed = rs + ag, max(ag - f, ag * last_bucket)
    else:
        rs, ag = coll("reduce-scatter"), coll("all-gather")
        f = max(f, ag)
        b_in = max(b_in, ag + rs - w)
        t_dp, exposed = 2 * ag + rs, 0.0

    m = plan["global_batch"] // (dp * b)
    bf = closed_form_bubble(plan["schedule"], pp, m, v, f, b_in, w)
    busy = m * (f + b_in + w)
    makespan = busy / (1 - bf)
    gpus = tp * pp * dp
    hop = 0.0
    if pp > 1:
        key = "scale_up" if gpus <= chip["scale_up_domain"] else "scale_out"
        bw = max(chip[f"{key}_bandwidth"], 5e-324) * chip["eff_network"]
        hop = (
            2
            * (pp * v - 1)
            * collective_time(
                "p2p", b * s * cost["d_model"] * 2 / tp, 2, chip[f"{key}_latency"], bw
            )
        )
    mem = memory(cost, heads, plan)
    opt = dense / dp + expert / (dp / ep) if plan["zero"] >= 1 else dense + expert
    t_opt = opt * 28 / (chip["memory_bandwidth"] * chip["eff_memory"])
    step_time = makespan + hop + exposed + t_opt
    gb = plan["global_batch"]
    model_flops = 3 * gb * fwd_seq
    recomputed = {"none": 0.0, "selective": gb * attn, "full": gb * fwd_seq}[rec]
    peak = gpus * chip["peak_flops"]
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
    }


def expected_wall(f: dict[str, float], work: float) -> float:
    """Daly 2006: segments of ``interval`` seconds of work, each M e^(R/M) (e^((x+d)/M) - 1)."""
    m, r, d, tau = f["mtbf"], f["restart"], f["checkpoint_write"], f["interval"]

    def seg(x: float) -> float:
        return m * math.exp(r / m) * math.expm1((x + d) / m)

    n = math.floor(work / tau)
    rest = work - n * tau
    return n * seg(tau) + (seg(rest) if rest > 0 else 0.0)
