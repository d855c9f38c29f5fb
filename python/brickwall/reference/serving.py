"""Reference serving simulator: one replica, the same scheduler rules as the core
(rust/brickwall-core/src/serving/sim.rs), written plainly with one object per request.

It is an oracle for the scheduling and event logic, not for the step model: each iteration's
seconds come from the same core calls (``_core.serving_iteration_seconds`` for the target and
the draft model, ``_core.serving_swap_seconds`` for host transfers), one iteration at a time.
The core must match it event for event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core


@dataclass
class _Prefix:
    blocks: int  # its full blocks: what is cached and shared
    resident: bool = False
    refs: int = 0  # running requests sharing it
    released: int = 0  # when its last holder let go (a counter): the LRU order


@dataclass
class _Request:
    index: int
    input: int
    output: int
    arrival: float
    prefix: _Prefix | None = None
    computed: int = 0  # tokens whose KV is cached (a shared prefix included)
    generated: int = 0  # output tokens sampled
    blocks: int = 0  # KV blocks held privately
    shared: bool = False  # holds its prefix's resident blocks (its first blocks)
    swapped: bool = False  # its cache sits in host memory
    carry: float = 0.0  # fractional expected tokens carried between verifications
    scheduled: float = math.nan
    first_token: float = math.nan
    finish: float = math.nan
    preemptions: int = 0
    cached: int = 0  # prompt tokens taken from the prefix cache

    @property
    def tokens(self) -> int:
        """Prompt plus generated tokens: what a recomputation must prefill."""
        return self.input + self.generated

    @property
    def held(self) -> int:
        """Blocks it holds, its shared prefix's included."""
        assert not self.shared or self.prefix is not None
        return self.blocks + (self.prefix.blocks if self.shared and self.prefix else 0)


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
    *,
    prefix_id: list[int] | None = None,
    prefix_tokens: list[int] | None = None,
    prefix_cache: bool = False,
    preemption: str = "recompute",
    host_bandwidth: float = 0.0,
    expected_tokens: list[float] | None = None,
    draft: Any = None,
) -> dict[str, Any]:
    """The run as lists: per request (arrival, scheduled, first_token, finish, preemptions,
    cached) and per iteration (start, seconds, sequences, tokens, prefill_tokens, kv_blocks).
    ``expected_tokens[g]`` (g = 0..k) turns on speculation with k drafts; ``draft`` is the
    draft model's cost view (None: free drafts)."""
    n = len(input)
    closed = arrival is None
    if arrival is None:
        times = [0.0 if i < clients else math.nan for i in range(n)]
    else:
        times = list(arrival)
    reqs = [_Request(i, int(input[i]), int(output[i]), times[i]) for i in range(n)]
    prefixes: dict[int, _Prefix] = {}
    for r in reqs:
        if prefilled is not None and prefilled[r.index]:
            # its prompt's KV cache came with it, and its first token
            r.computed, r.generated = r.input, 1
        if prefix_cache and prefix_id is not None and prefix_tokens is not None:
            full = int(prefix_tokens[r.index]) // block_size
            if full > 0:
                r.prefix = prefixes.setdefault(int(prefix_id[r.index]), _Prefix(full))
    issued = min(clients, n) if closed else n
    k = None if expected_tokens is None else len(expected_tokens) - 1

    def price(views: Any, seqs: float, tokens: float, attended: float, kv: float) -> float:
        out = _core.serving_iteration_seconds(
            views,
            plan,
            chip,
            np.array([seqs]),
            np.array([tokens]),
            np.array([attended]),
            np.array([kv]),
        )
        return float(out[0])

    clock = 0

    def release(p: _Prefix) -> None:
        nonlocal clock
        p.refs -= 1
        if p.refs == 0:
            clock += 1
            p.released = clock

    def evictable() -> list[_Prefix]:
        return [p for p in prefixes.values() if p.resident and p.refs == 0]

    def evict() -> int:
        """Evict the least recently released unheld prefix; its blocks."""
        p = min(evictable(), key=lambda p: p.released)
        p.resident = False
        return p.blocks

    def run_length(r: _Request, start: int, budget: int) -> int:
        remaining = r.tokens - start
        if remaining == 1 and r.generated > 0 and k is not None:
            return 1 + min(k, budget - 1, r.output - r.generated - 1)
        return min(remaining, budget)

    free = kv_blocks
    waiting: list[_Request] = []
    running: list[_Request] = []
    timeline: dict[str, list[Any]] = {
        k: [] for k in ("start", "seconds", "sequences", "tokens", "prefill_tokens", "kv_blocks")
    }
    swapped_total = 0
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
        swapped = 0
        # running requests, oldest first; cached prefixes nobody holds are evicted, then the
        # newest requests preempted, to free blocks
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            c = run_length(r, r.computed, budget)
            need = max(0, _blocks(r.computed + c, block_size) - r.held)
            gave_up = False
            while need > free:
                if evictable():
                    free += evict()
                    continue
                victim = running.pop()
                free += victim.blocks
                victim.blocks = 0
                if victim.shared:
                    assert victim.prefix is not None
                    victim.shared = False
                    release(victim.prefix)
                if preemption == "swap":
                    swapped += victim.computed
                    victim.swapped = victim.computed > 0
                else:
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
                p = r.prefix
                hit = p is not None and r.computed == 0 and p.resident
                start, held = (p.blocks * block_size, p.blocks) if hit and p else (r.computed, 0)
                remaining = r.tokens - start  # all of it, unless it has its cache
                if policy != "chunked" and remaining > budget:
                    break
                c = run_length(r, start, budget)
                if policy == "static":
                    need = _blocks(r.input + r.output - 1, block_size) - held
                else:
                    need = max(0, _blocks(start + c, block_size) - r.blocks - held)
                spare = sum(q.blocks for q in evictable() if not (hit and q is p))
                if need > free + spare:
                    break
                waiting.pop(0)
                running.append(r)
                if hit and p:
                    p.refs += 1
                    r.shared = True
                    r.computed = start
                    r.cached += start
                while need > free:
                    free += evict()
                free -= need
                r.blocks += need
                if r.swapped:
                    swapped += r.computed
                    r.swapped = False
                if math.isnan(r.scheduled):
                    r.scheduled = t
                batch.append((r, c))
                budget -= c
        assert batch, "the scheduler ran nothing"
        seqs = tokens = attended = kv = 0.0
        prefill = 0
        drafts: list[list[float]] = []  # per draft step: [sequences, sum of contexts]
        for r, c in batch:
            p0 = r.computed
            seqs += 1.0
            tokens += c
            attended += sum(pos + 1 for pos in range(p0, p0 + c))
            kv += p0 + c
            is_decode = r.generated > 0 and p0 + 1 == r.tokens
            if not is_decode:
                prefill += c
            else:
                for j in range(c - 1):
                    if j == len(drafts):
                        drafts.append([0.0, 0.0])
                    drafts[j][0] += 1.0
                    drafts[j][1] += p0 + j + 1
        dt = price(costs, seqs, tokens, attended, kv)
        for s, ctx in drafts:
            dt += 0.0 if draft is None else price(draft, s, s, ctx, ctx)
        if swapped:
            dt += float(
                _core.serving_swap_seconds(
                    costs, plan, chip, host_bandwidth, np.array([swapped], dtype=np.uint64)
                )[0]
            )
            swapped_total += swapped
        end = t + dt
        for key, v in zip(
            timeline,
            (t, dt, len(batch), int(tokens), prefill, kv_blocks - free),
            strict=True,
        ):
            timeline[key].append(v)
        done: list[_Request] = []
        for r, c in batch:
            if r.generated > 0 and r.computed + 1 == r.tokens:
                # a decode verifying c - 1 drafts emits its expected tokens
                e = 1
                if expected_tokens is not None:
                    x = r.carry + expected_tokens[c - 1]
                    e = math.floor(x)
                    r.carry = x - e
                    e = min(e, r.output - r.generated)
                r.computed += e
                r.generated += e
            else:
                r.computed += c
                if r.computed == r.tokens:
                    r.generated += 1
                    if r.generated == 1:
                        r.first_token = end
            if r.generated == r.output:
                done.append(r)
        # a request holding a private copy of a prefix that is not resident makes it resident
        for r, _ in batch:
            p = r.prefix
            if (
                p is not None
                and not r.shared
                and not p.resident
                and r.computed >= p.blocks * block_size
            ):
                p.resident, p.refs = True, 1
                r.blocks -= p.blocks
                r.shared = True
        for r in done:
            r.finish = end
            free += r.blocks
            r.blocks = 0
            if r.shared and r.prefix is not None:
                r.shared = False
                release(r.prefix)
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
        "cached": [r.cached for r in reqs],
        "swapped_tokens": swapped_total,
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
