"""Reference serving simulator: one replica, the same scheduler rules as the core
(rust/brickwall-core/src/serving/sim.rs), written plainly with one object per request.

It is an oracle for the scheduling and event logic, not for the step model: each iteration's
seconds come from the same core call (``_core.serving_iteration_seconds``), one iteration at a
time. The core must match it event for event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core


@dataclass
class _Request:
    index: int
    input: int
    output: int
    arrival: float
    computed: int = 0  # tokens whose KV is cached
    generated: int = 0  # output tokens sampled
    blocks: int = 0  # KV blocks held
    scheduled: float = math.nan
    first_token: float = math.nan
    finish: float = math.nan
    preemptions: int = 0

    @property
    def tokens(self) -> int:
        """Prompt plus generated tokens: what a recomputation must prefill."""
        return self.input + self.generated


def _blocks(tokens: int, size: int) -> int:
    return -(-tokens // size)


def simulate(
    costs: Any,
    plan: Any,
    chip: Any,
    input: list[int],
    output: list[int],
    arrival: list[float] | None,
    clients: int,
    think: float,
    policy: str,
    max_seqs: int,
    max_batched_tokens: int,
    block_size: int,
    kv_blocks: int,
    prefilled: list[bool] | None = None,
) -> dict[str, Any]:
    """The run as lists: per request (arrival, scheduled, first_token, finish, preemptions)
    and per iteration (start, seconds, sequences, tokens, prefill_tokens, kv_blocks)."""
    n = len(input)
    closed = arrival is None
    if arrival is None:
        times = [0.0 if i < clients else math.nan for i in range(n)]
    else:
        times = list(arrival)
    reqs = [_Request(i, int(input[i]), int(output[i]), times[i]) for i in range(n)]
    for r in reqs:
        if prefilled is not None and prefilled[r.index]:
            # its prompt's KV cache came with it, and its first token
            r.computed, r.generated = r.input, 1
    issued = min(clients, n) if closed else n

    def price(seqs: float, tokens: float, attended: float, kv: float) -> float:
        out = _core.serving_iteration_seconds(
            costs,
            plan,
            chip,
            np.array([seqs]),
            np.array([tokens]),
            np.array([attended]),
            np.array([kv]),
        )
        return float(out[0])

    free = kv_blocks
    waiting: list[_Request] = []
    running: list[_Request] = []
    timeline: dict[str, list[Any]] = {
        k: [] for k in ("start", "seconds", "sequences", "tokens", "prefill_tokens", "kv_blocks")
    }
    arrived = 0
    t = 0.0
    while any(math.isnan(r.finish) for r in reqs):
        while arrived < issued and reqs[arrived].arrival <= t:
            waiting.append(reqs[arrived])
            arrived += 1
        if not running and not waiting:
            t = reqs[arrived].arrival
            continue
        budget = max_batched_tokens
        batch: list[tuple[_Request, int]] = []
        preempted = False
        # running requests, oldest first; the newest are preempted to free blocks
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            c = min(r.tokens - r.computed, budget)
            need = max(0, _blocks(r.computed + c, block_size) - r.blocks)
            gave_up = False
            while need > free:
                victim = running.pop()
                free += victim.blocks
                victim.blocks = 0
                victim.computed = 0
                victim.preemptions += 1
                waiting.insert(0, victim)
                preempted = True
                if victim is r:
                    gave_up = True
                    break
            if gave_up:
                break
            free -= need
            r.blocks += need
            batch.append((r, c))
            budget -= c
            i += 1
        # new admissions, first come first served
        if not preempted and (policy != "static" or not running):
            while waiting and len(running) < max_seqs and budget > 0:
                r = waiting[0]
                remaining = r.tokens - r.computed  # all of it, unless it arrived prefilled
                if policy != "chunked" and remaining > budget:
                    break
                c = min(remaining, budget)
                if policy == "static":
                    need = _blocks(r.input + r.output - 1, block_size)
                else:
                    need = _blocks(r.computed + c, block_size) - r.blocks
                if need > free:
                    break
                waiting.pop(0)
                running.append(r)
                free -= need
                r.blocks += need
                if math.isnan(r.scheduled):
                    r.scheduled = t
                batch.append((r, c))
                budget -= c
        assert batch, "the scheduler ran nothing"
        seqs = tokens = attended = kv = 0.0
        prefill = 0
        for r, c in batch:
            p = r.computed
            seqs += 1.0
            tokens += c
            attended += sum(pos + 1 for pos in range(p, p + c))
            kv += p + c
            is_decode = c == 1 and r.generated > 0 and p + 1 == r.tokens
            if not is_decode:
                prefill += c
        dt = price(seqs, tokens, attended, kv)
        end = t + dt
        for k, v in zip(
            timeline,
            (t, dt, len(batch), int(tokens), prefill, kv_blocks - free),
            strict=True,
        ):
            timeline[k].append(v)
        for r, c in batch:
            r.computed += c
            if r.computed == r.tokens:
                r.generated += 1
                if r.generated == 1:
                    r.first_token = end
                if r.generated == r.output:
                    r.finish = end
                    free += r.blocks
                    r.blocks = 0
                    if closed and issued < n:
                        reqs[issued].arrival = end + think
                        issued += 1
        running = [r for r in running if math.isnan(r.finish)]
        t = end
    return {
        "arrival": [r.arrival for r in reqs],
        "scheduled": [r.scheduled for r in reqs],
        "first_token": [r.first_token for r in reqs],
        "finish": [r.finish for r in reqs],
        "preemptions": [r.preemptions for r in reqs],
        **{f"it_{k}": v for k, v in timeline.items()},
    }


def simulate_pool(
    costs: Any,
    plan: Any,
    chip: Any,
    input: list[int],
    output: list[int],
    arrival: list[float],
    policy: str,
    max_seqs: int,
    max_batched_tokens: int,
    block_size: int,
    kv_blocks: int,
    replicas: int,
    router: str,
) -> dict[str, Any]:
    """Open traffic on ``replicas`` replicas behind ``router`` ("round-robin": request ``i`` to
    replica ``i mod replicas``; "least-loaded": to the replica with the fewest requests in
    flight at the arrival, ties to the lowest index).

    No event loop of its own: a replica's run up to time ``a`` depends only on the requests
    routed to it that arrived by ``a`` (the scheduler never looks ahead), so its in-flight count
    at an arrival is read off a fresh single-replica :func:`simulate` of what it holds so far -
    quadratic and plainly right. Per request (with the ``replica`` that served it) and per
    iteration (replica by replica, with ``it_replica``)."""
    n = len(input)
    r = min(replicas, n)

    def run(members: list[int]) -> dict[str, Any]:
        return simulate(
            costs,
            plan,
            chip,
            [input[j] for j in members],
            [output[j] for j in members],
            [arrival[j] for j in members],
            1,
            0.0,
            policy,
            max_seqs,
            max_batched_tokens,
            block_size,
            kv_blocks,
        )

    members: list[list[int]] = [[] for _ in range(r)]
    finish: list[list[float]] = [[] for _ in range(r)]  # of each replica's latest fresh run
    for i in range(n):
        if router == "round-robin":
            k = i % r
        else:
            busy = [sum(1 for f in finish[q] if f > arrival[i]) for q in range(r)]
            k = busy.index(min(busy))
        members[k].append(i)
        if router != "round-robin":
            finish[k] = run(members[k])["finish"]
    out: dict[str, Any] = {
        key: [math.nan] * n for key in ("arrival", "scheduled", "first_token", "finish")
    }
    out["preemptions"] = [0] * n
    out["replica"] = [0] * n
    keys = ("start", "seconds", "sequences", "tokens", "prefill_tokens", "kv_blocks")
    for key in (*keys, "replica"):
        out[f"it_{key}"] = []
    for k in range(r):
        got = run(members[k])
        for j, i in enumerate(members[k]):
            for key in ("arrival", "scheduled", "first_token", "finish", "preemptions"):
                out[key][i] = got[key][j]
            out["replica"][i] = k
        for key in keys:
            out[f"it_{key}"] += got[f"it_{key}"]
        out["it_replica"] += [k] * len(got["it_start"])
    return out
