"""Reference pipeline schedules: per-device op lists and a plain event loop over them.

Slow and obviously correct; written independently of rust/brickwall-core/src/pipeline/. The
core's timelines must equal these exactly (same op order, same float operations).

Ops are (kind, microbatch, chunk) with kind 0 = F (forward), 1 = B (backward, or input-gradient
backward when W is split off), 2 = W (weight-gradient backward). Device d holds chunk c as
virtual stage c * p + d; forward runs virtual stages upwards, backward downwards.
"""

from __future__ import annotations

import math
from typing import Any

F, B, W = 0, 1, 2
SCHEDULES = ("gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "forward")


def expand(times: list[float], p: int, v: int) -> list[float]:
    """Per-virtual-stage times from per-device times (split evenly over chunks) or as given."""
    if len(times) == p * v:
        return list(times)
    if len(times) == 1:
        times = times * p
    assert len(times) == p
    return [times[vs % p] / v for vs in range(p * v)]


def _one_f_one_b(p: int, m: int, d: int, split: bool) -> list[tuple[int, int, int]]:
    warm = min(p - 1 - d, m)
    ops = [(F, j, 0) for j in range(warm)]
    for k in range(m):
        if warm + k < m:
            ops.append((F, warm + k, 0))
        ops.append((B, k, 0))
        if split:
            ops.append((W, k, 0))
    return ops


def _zero_bubble(m: int, warm: int, lag: int) -> list[tuple[int, int, int]]:
    """warm forwards first; then per microbatch k: B_k, the W lagging `lag` behind, the next F;
    the remaining W's at the end."""
    warm = min(warm, m)
    ops = [(F, j, 0) for j in range(warm)]
    next_w = 0
    for k in range(m):
        ops.append((B, k, 0))
        if next_w <= k - lag:
            ops.append((W, next_w, 0))
            next_w += 1
        if warm + k < m:
            ops.append((F, warm + k, 0))
    ops.extend((W, j, 0) for j in range(next_w, m))
    return ops


def orders(
    schedule: str, p: int, m: int, v: int, split: bool, b: list[float], w: list[float]
) -> list[list[tuple[int, int, int]]]:
    """The op list of every device. b and w are per-virtual-stage times (used by zb-h2 only)."""
    out: list[list[tuple[int, int, int]]] = []
    for d in range(p):
        if schedule == "forward":
            ops = [(F, j, 0) for j in range(m)]
        elif schedule == "gpipe":
            ops = [(F, j, 0) for j in range(m)]
            for j in range(m):
                ops.append((B, j, 0))
                if split:
                    ops.append((W, j, 0))
        elif schedule == "1f1b" or (schedule == "interleaved-1f1b" and v == 1):
            ops = _one_f_one_b(p, m, d, split)
        elif schedule == "interleaved-1f1b":
            total = m * v

            def fwd(k: int) -> tuple[int, int, int]:
                return (F, (k // (p * v)) * p + k % p, (k // p) % v)

            def bwd(k: int) -> tuple[int, int, int]:
                return (B, (k // (p * v)) * p + k % p, v - 1 - (k // p) % v)

            warm = total if m == p else min((p - d - 1) * 2 + (v - 1) * p, total)
            ops = [fwd(k) for k in range(warm)]
            for k in range(total):
                if warm + k < total:
                    ops.append(fwd(warm + k))
                op = bwd(k)
                ops.append(op)
                if split:
                    ops.append((W, op[1], op[2]))
        elif schedule == "zb-h1":
            ops = _zero_bubble(m, p - d, d)
        elif schedule == "zb-h2":
            if m < 2 * p:
                ops = _zero_bubble(m, p - d, d)
            else:
                ahead = 0.0
                for s in range(d):
                    ahead += b[s]
                if w[d] <= 0.0 or ahead / w[d] >= m:
                    lag = m
                else:
                    lag = math.ceil(ahead / w[d])
                ops = _zero_bubble(m, 2 * (p - d) - 1, lag)
        else:
            raise ValueError(schedule)
        out.append(ops)
    return out


def simulate(
    schedule: str,
    p: int,
    m: int,
    f: list[float],
    b: list[float],
    w: list[float] | None = None,
    v: int = 1,
    p2p: float = 0.0,
) -> dict[str, Any]:
    """Run the op lists: an op starts when its device is free and its inputs have arrived."""
    split = w is not None and schedule in ("zb-h1", "zb-h2")
    fv = expand(f, p, v)
    bv = expand(b, p, v) if schedule != "forward" else [0.0] * (p * v)
    wv = expand(w, p, v) if w is not None else [0.0] * (p * v)
    if not split:
        # Schedules that do not split the backward run B and W as one op.
        bv = [x + y for x, y in zip(bv, wv)]
        wv = [0.0] * (p * v)
    lists = orders(schedule, p, m, v, split, bv, wv)
    nvs = p * v
    finish: dict[tuple[int, int, int], float] = {}
    free = [0.0] * p
    pos = [0] * p
    rows: list[list[tuple[int, int, int, int, float, float]]] = [[] for _ in range(p)]
    remaining = sum(len(ops) for ops in lists)
    while remaining:
        progressed = False
        for d in range(p):
            while pos[d] < len(lists[d]):
                kind, j, c = lists[d][pos[d]]
                vs = c * p + d
                deps: list[tuple[tuple[int, int, int], float]] = []
                if kind == F:
                    if vs > 0:
                        deps.append(((F, vs - 1, j), p2p if p > 1 else 0.0))
                elif kind == B:
                    deps.append(((F, vs, j), 0.0))
                    if vs < nvs - 1:
                        deps.append(((B, vs + 1, j), p2p if p > 1 else 0.0))
                else:
                    deps.append(((B, vs, j), 0.0))
                if any(key not in finish for key, _ in deps):
                    break
                start = free[d]
                for key, lat in deps:
                    start = max(start, finish[key] + lat)
                dur = (fv, bv, wv)[kind][vs]
                end = start + dur
                finish[(kind, vs, j)] = end
                free[d] = end
                rows[d].append((d, kind, j, c, start, end))
                pos[d] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            raise RuntimeError("deadlock")
    flat = [r for dev in rows for r in dev]
    makespan = max((r[5] for r in flat), default=0.0)
    peak = []
    for d in range(p):
        live = top = 0
        for kind, _, _ in lists[d]:
            if kind == F:
                live += 1
                top = max(top, live)
            elif kind == B:
                live -= 1
        if schedule == "forward":
            top = min(top, 1)  # activations live only during the forward
        peak.append(top / v)
    # busy time: the sum of op durations in device order
    busy = []
    for d in range(p):
        total = 0.0
        for ops_kind, _mb, c in lists[d]:
            total += (fv, bv, wv)[ops_kind][c * p + d]
        busy.append(total)
    return {
        "stage": [r[0] for r in flat],
        "kind": [r[1] for r in flat],
        "microbatch": [r[2] for r in flat],
        "chunk": [r[3] for r in flat],
        "start": [r[4] for r in flat],
        "end": [r[5] for r in flat],
        "makespan": makespan,
        "busy": busy,
        "peak_in_flight": peak,
    }


def closed_form_bubble(
    schedule: str, p: int, m: int, v: int, f: float, b: float, w: float
) -> float:
    """Idle / (p x makespan) for uniform stages and no p2p latency (Narayanan et al. 2021 s2.2;
    Qi et al. 2024, arXiv 2401.10241)."""
    ideal = m * (f + b + w)
    if schedule in ("gpipe", "1f1b"):
        bubble = (p - 1) * (f + b + w)
    elif schedule == "interleaved-1f1b":
        bubble = (p - 1) * (f + b + w) / v
    elif schedule == "zb-h1":
        bubble = (p - 1) * (f + b - w)
    elif schedule == "forward":
        ideal = m * f
        bubble = (p - 1) * f
    else:
        raise ValueError(schedule)
    total = ideal + bubble
    return 0.0 if total == 0 else bubble / total


def balance(layer_times: list[float], p: int, head: float = 0.0, tail: float = 0.0) -> list[int]:
    """Brute force over every contiguous split into p non-empty stages: the smallest bottleneck,
    then the smallest sum of squared stage times (added head first), then the most layers at the
    tail (reverse lexicographic)."""
    n = len(layer_times)

    def stage_times(counts: tuple[int, ...]) -> list[float]:
        out = []
        i = 0
        for s, c in enumerate(counts):
            t = 0.0
            for x in layer_times[i : i + c]:
                t += x
            if s == 0:
                t += head
            if s == p - 1:
                t += tail
            out.append(t)
            i += c
        return out

    def compositions(left: int, k: int) -> list[tuple[int, ...]]:
        if k == 1:
            return [(left,)]
        return [
            (c,) + rest for c in range(1, left - k + 2) for rest in compositions(left - c, k - 1)
        ]

    best: tuple[float, float, tuple[int, ...]] | None = None
    for counts in compositions(n, p):
        ts = stage_times(counts)
        squares = 0.0
        for t in ts:
            squares += t * t
        key = (max(ts), squares, tuple(-x for x in reversed(counts)))
        if best is None or key < best:
            best = key
    assert best is not None
    return [-x for x in reversed(best[2])]
