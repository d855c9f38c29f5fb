"""Slow, obviously-correct oracles for MoE routing (rust/brickwall-core/src/routing.rs).

- :func:`replay` re-draws the core's exact random stream (brickwall.reference.rng) with plain
  Python loops and returns the same histograms, so core and reference must agree exactly.
- :func:`brute_force_max_load_cdf` enumerates every routing of a tiny case: the independent
  oracle of the column DP in brickwall.moe.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from itertools import combinations, product

from .rng import Rng

MIN_WEIGHT = 1e-300
HALF_WORD_EXPERTS = 4096


class Halves:
    """Uniform integers from 32-bit halves of the generator's 64-bit words: low half first, the
    high half kept for the next draw (the spare lives for a whole chunk)."""

    def __init__(self, rng: Rng) -> None:
        self.rng = rng
        self.spare: int | None = None

    def below(self, n: int) -> int:
        if self.spare is None:
            w = self.rng.next_u64()
            half, self.spare = w & 0xFFFFFFFF, w >> 32
        else:
            half, self.spare = self.spare, None
        return (half * n) >> 32


def chunk_trials(tokens: int, top_k: int) -> int:
    return max(1, (1 << 16) // (max(tokens, 1) * max(top_k, 1)))


def _normal(rng: Rng) -> float:
    u1 = rng.uniform()
    u2 = rng.uniform()
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def _gamma(rng: Rng, alpha: float) -> float:
    if alpha < 1.0:
        g = _gamma(rng, alpha + 1.0)
        u = rng.uniform()
        return float(g * u ** (1.0 / alpha))
    d = alpha - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = _normal(rng)
        t = 1.0 + c * x
        if t <= 0.0:
            continue
        v = t * t * t
        u = rng.uniform()
        if (math.log(u) if u > 0 else -math.inf) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v


def _pick_uniform(rng: Rng | Halves, experts: int, top_k: int) -> list[int]:
    """Floyd's algorithm: a uniform top_k-subset."""
    chosen: list[int] = []
    for j in range(experts - top_k, experts):
        t = rng.below(j + 1)
        chosen.append(j if t in chosen else t)
    return chosen


def _pick_weighted(rng: Rng, w: Sequence[float], cdf: Sequence[float], top_k: int) -> list[int]:
    """Successive sampling proportional to w: rejection while the chosen experts hold at most half
    the mass, then an inverse-CDF scan over the rest."""
    total = cdf[-1]
    last_positive = max(i for i, x in enumerate(w) if x > 0) if any(x > 0 for x in w) else 0
    chosen: list[int] = []
    mass = 0.0
    for _ in range(top_k):
        if mass <= 0.5 * total:
            while True:
                x = rng.uniform() * total
                i = min(bisect_right(cdf, x), last_positive)
                if i not in chosen:
                    break
        else:
            free = [i for i in range(len(w)) if i not in chosen and w[i] > 0]
            rest = 0.0
            for i in free:
                rest += w[i]
            x = rng.uniform() * rest
            acc, i = 0.0, free[-1]
            for j in free:
                acc += w[j]
                if acc > x:
                    i = j
                    break
        chosen.append(i)
        mass += w[i]
    return chosen


def _cumulative(w: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for x in w:
        acc += x
        out.append(acc)
    return out


def step_loads(
    rng: Rng,
    experts: int,
    top_k: int,
    tokens: int,
    weights: Sequence[float] | None = None,
    dirichlet_alpha: float | None = None,
    halves: Halves | None = None,
) -> tuple[list[int], list[list[int]]]:
    """One step: (per-expert loads, the experts each token chose). Uniform routing with
    experts <= HALF_WORD_EXPERTS draws from ``halves`` (the chunk's half-word stream)."""
    if (
        weights is None
        and dirichlet_alpha is None
        and experts <= HALF_WORD_EXPERTS
        and halves is None
    ):
        halves = Halves(rng)
    if dirichlet_alpha is not None:
        weights = [max(_gamma(rng, dirichlet_alpha), MIN_WEIGHT) for _ in range(experts)]
    cdf = _cumulative(weights) if weights is not None else []
    loads = [0] * experts
    picks = []
    for _ in range(tokens):
        if weights is None:
            chosen = _pick_uniform(
                halves if halves is not None and experts <= HALF_WORD_EXPERTS else rng,
                experts,
                top_k,
            )
        else:
            chosen = _pick_weighted(rng, weights, cdf, top_k)
        for e in chosen:
            loads[e] += 1
        picks.append(chosen)
    return loads, picks


def replay(
    experts: int,
    top_k: int,
    tokens: int,
    trials: int,
    seed: int = 0,
    weights: Sequence[float] | None = None,
    dirichlet_alpha: float | None = None,
    capacity: int | None = None,
    devices: int = 1,
) -> dict[str, list[int]]:
    """The core's histograms, recomputed from the same random draws."""
    per_device = experts // devices
    h = {
        "load": [0] * (tokens + 1),
        "max_load": [0] * (tokens + 1),
        "device_load": [0] * (tokens * min(top_k, per_device) + 1),
        "touched": [0] * (experts + 1),
        "dropped": [0] * (tokens * top_k + 1),
        "expert_total": [0] * experts,
    }
    per_chunk = chunk_trials(tokens, top_k)
    cap = capacity if capacity is not None else 1 << 62
    for c in range(-(-trials // per_chunk)):
        rng = Rng.for_chunk(seed, c)
        halves = Halves(rng)
        for _ in range(min(per_chunk, trials - c * per_chunk)):
            loads, _ = step_loads(rng, experts, top_k, tokens, weights, dirichlet_alpha, halves)
            for e, x in enumerate(loads):
                h["load"][x] += 1
                h["expert_total"][e] += x
            h["max_load"][max(loads)] += 1
            h["touched"][sum(1 for x in loads if x > 0)] += 1
            h["dropped"][sum(max(0, x - cap) for x in loads)] += 1
            busiest = max(
                sum(min(x, cap) for x in loads[d * per_device : (d + 1) * per_device])
                for d in range(devices)
            )
            h["device_load"][busiest] += 1
    return h


def brute_force_max_load_cdf(experts: int, top_k: int, tokens: int) -> list[Fraction]:
    """P(max load <= c) for c = 0..tokens under uniform top-k routing, by enumerating all
    C(E, k)^B routings (tiny cases only)."""
    subsets = list(combinations(range(experts), top_k))
    counts = [0] * (tokens + 1)
    for routing in product(subsets, repeat=tokens):
        loads = [0] * experts
        for s in routing:
            for e in s:
                loads[e] += 1
        counts[max(loads)] += 1
    total = len(subsets) ** tokens
    out, acc = [], 0
    for n in counts:
        acc += n
        out.append(Fraction(acc, total))
    return out


def brute_force_multinomial_max_cdf(p: Sequence[float], tokens: int) -> list[float]:
    """P(max load <= c) for top-1 routing with popularity p, summing over all E^B routings."""
    e = len(p)
    out = [0.0] * (tokens + 1)
    for routing in product(range(e), repeat=tokens):
        loads = [0] * e
        prob = 1.0
        for i in routing:
            loads[i] += 1
            prob *= p[i]
        out[max(loads)] += prob
    acc, cdf = 0.0, []
    for x in out:
        acc += x
        cdf.append(acc)
    return cdf


def successive_inclusion(p: Sequence[float], top_k: int) -> list[float]:
    """P(expert e is among the top_k) under successive sampling, by enumerating ordered picks."""
    total = sum(p)
    w = [x / total for x in p]
    pi = [0.0] * len(w)

    def walk(chosen: list[int], prob: float, mass: float) -> None:
        if len(chosen) == top_k:
            for e in chosen:
                pi[e] += prob
            return
        for e, x in enumerate(w):
            if e not in chosen and x > 0:
                walk(chosen + [e], prob * x / (1.0 - mass), mass + x)

    walk([], 1.0, 0.0)
    return pi
