"""Slow, obviously-correct oracles for MoE routing (rust/brickwall-core/src/routing.rs).

- :func:`replay` re-draws the core's exact random stream (brickwall.reference.rng) with plain
  Python loops and returns the same histograms, so core and reference must agree exactly.
- :func:`brute_force_max_load_cdf` enumerates every routing of a tiny case: the independent
  oracle of the column DP.
- :func:`max_load_cdf`, :func:`inclusion_probabilities`, :func:`load_pmf`,
  :func:`expected_touched` and :func:`expected_drops` are the exact laws of
  rust/brickwall-core/src/routing_exact.rs written plainly (numpy and exact integers: the column
  DP counts routings with Python's big integers), the oracles of ``brickwall.moe``'s exact
  functions.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from itertools import combinations, product

import numpy as np
from numpy.typing import NDArray

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


# ---------------------------------------------------------------------------------------------
# Exact laws (docs/sources.md, "MoE routing: the exact laws"); weights are normalised popularity
# vectors, None = uniform.

EXACT_DP_WORK = 10_000_000  # column-DP transitions up to which "auto" picks the DP
EXACT_MULTINOMIAL_WORK = 2_000_000_000


def binomial_pmf(n: int, p: float) -> NDArray[np.float64]:
    """Binomial(n, p) probabilities of 0..n, in log space (stable for large n)."""
    x = np.arange(n + 1)
    if p <= 0.0 or p >= 1.0:
        edge: NDArray[np.float64] = np.zeros(n + 1)
        edge[0 if p <= 0.0 else n] = 1.0
        return edge
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
    logc = logfact[n] - logfact[x] - logfact[n - x]
    out: NDArray[np.float64] = np.exp(logc + x * math.log(p) + (n - x) * math.log1p(-p))
    return out


def inclusion_probabilities(
    experts: int, top_k: int, weights: NDArray[np.float64] | None
) -> NDArray[np.float64]:
    """P(expert e is among a token's top_k): k/E uniform, p at k = 1, else the exponential-race
    integral ``pi_e = int_0^inf p_e e^(-p_e t) P(fewer than k others arrived by t) dt`` by
    tanh-sinh quadrature."""
    if weights is None:
        return np.full(experts, top_k / experts)
    p = weights
    if top_k == 1:
        return p.copy()
    if top_k == experts:
        return np.ones(experts)
    tau = np.arange(-4.0, 4.0 + 1e-9, 1.0 / 32)
    y = 0.5 * math.pi * np.sinh(tau)
    u = 1.0 / (1.0 + np.exp(-2.0 * y))
    w = 1.0 / (1.0 + np.exp(2.0 * y))  # 1 - u without cancellation
    wts = math.pi * u * w * np.cosh(tau) / 32
    out = np.zeros(experts)
    for e in np.flatnonzero(p > 0):
        t = -np.log(w) / p[e]
        arrived = -np.expm1(-np.outer(t, np.delete(p, e)))  # P(T_i < t), shape (nodes, E-1)
        # Poisson-binomial P(count < k) by DP over the others, truncated at k.
        dist = np.zeros((u.size, top_k))
        dist[:, 0] = 1.0
        for j in range(arrived.shape[1]):
            q = arrived[:, j : j + 1]
            shifted = np.concatenate([np.zeros((u.size, 1)), dist[:, :-1]], axis=1)
            dist = dist * (1.0 - q) + shifted * q
        out[e] = float(np.dot(wts, dist.sum(axis=1)))
    return out


def load_pmf(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None
) -> NDArray[np.float64]:
    """X_e ~ Binomial(tokens, pi_e): one row (uniform) or one per expert, shape (rows, tokens+1)."""
    if weights is None:
        return binomial_pmf(tokens, top_k / experts)[None, :]
    pi = inclusion_probabilities(experts, top_k, weights)
    return np.stack([binomial_pmf(tokens, float(x)) for x in pi])


def expected_touched(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None
) -> float:
    """``sum_e 1 - (1 - pi_e)^B``."""
    pi = inclusion_probabilities(experts, top_k, weights)
    return float(np.sum(1.0 - (1.0 - pi) ** tokens))


def expected_drops(
    experts: int, top_k: int, tokens: int, capacity: int, weights: NDArray[np.float64] | None
) -> float:
    """``sum_e E[(X_e - C)+]``."""
    excess = np.maximum(np.arange(tokens + 1) - capacity, 0)
    pmf = load_pmf(experts, top_k, tokens, weights)
    if weights is None:
        return float(experts * np.dot(pmf[0], excess))
    return float(np.sum(pmf @ excess))


def column_dp_counts(e: int, k: int, b: int, c: int) -> int:
    """N_c: B x E 0/1 matrices with row sums k and column sums <= c (docs/sources.md). State
    (n_1..n_k): tokens still needing r experts; n_0 implied."""
    binom = [[math.comb(n, j) for j in range(b + 1)] for n in range(b + 1)]
    states: dict[tuple[int, ...], int] = {tuple([0] * (k - 1) + [b]): 1}

    def expand(state: tuple[int, ...], ways: int, nxt: dict[tuple[int, ...], int]) -> None:
        """Every way to choose j_r <= n_r tokens of class r (r = 1..k) to take one expert,
        sum j <= c, added into ``nxt``."""

        def rec(r: int, budget: int, w: int, picks: list[int]) -> None:
            if r == k:
                new = [state[i] - picks[i] + (picks[i + 1] if i + 1 < k else 0) for i in range(k)]
                key = tuple(new)
                nxt[key] = nxt.get(key, 0) + w
                return
            for j in range(min(state[r], budget) + 1):
                picks.append(j)
                rec(r + 1, budget - j, w * binom[state[r]][j], picks)
                picks.pop()

        rec(0, c, ways, [])

    for _ in range(e):
        nxt: dict[tuple[int, ...], int] = {}
        for state, ways in states.items():
            expand(state, ways, nxt)
        states = nxt
    return states.get(tuple([0] * k), 0)


def dp_work(e: int, k: int, b: int) -> int:
    return e * math.comb(b + k, k) * math.comb(b + k, k) * (b + 1)


def column_dp_cdf(e: int, k: int, b: int) -> NDArray[np.float64]:
    """P(max <= c) under uniform top-k by exact counts over C(E, k)^B routings."""
    total = math.comb(e, k) ** b
    cdf = np.ones(b + 1)
    for c in range(b + 1):
        if c * e < k * b:  # pigeonhole: the loads cannot all fit
            cdf[c] = 0.0
            continue
        n_c = column_dp_counts(e, k, b, c)
        cdf[c] = float(Fraction(n_c, total))
        if n_c == total:
            break
    return cdf


def multinomial_cdf(p: NDArray[np.float64], b: int) -> NDArray[np.float64]:
    """Top-1 (multinomial) P(max <= c) for every c by conditional binomials: X_1 ~ Bin(B, p_1),
    X_2 | X_1 ~ Bin(B - X_1, p_2 / (p_2 + ... + p_E)), ...; f(n) = P(the experts so far all
    took <= c tokens and n tokens are left)."""
    p = p[p > 0]
    rest = np.cumsum(p[::-1])[::-1]  # p_i + ... + p_E
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, b + 1, dtype=np.float64)))])
    n = np.arange(b + 1)[:, None]
    m = np.arange(b + 1)[None, :]
    j = n - m  # tokens this expert takes when n are left before it and m after
    ok = j >= 0
    jj = np.where(ok, j, 0)
    logc = logfact[n] - logfact[jj] - logfact[np.where(ok, m, 0)]
    moves = []
    for i in range(p.size - 1):
        q = min(1.0, float(p[i] / rest[i]))
        with np.errstate(divide="ignore", invalid="ignore"):
            lq, l1q = (
                (math.log(q) if q > 0 else -math.inf),
                (math.log1p(-q) if q < 1 else -math.inf),
            )
            logt = logc + np.where(jj > 0, jj * lq, 0.0) + np.where(m > 0, m * l1q, 0.0)
        moves.append(np.exp(np.where(ok, logt, -np.inf)))  # exp only where the move exists
    out = np.ones(b + 1)
    for c in range(b + 1):
        f = np.zeros(b + 1)
        f[b] = 1.0
        allowed = ok & (j <= c)
        for t in moves:
            f = f @ np.where(allowed, t, 0.0)
        out[c] = min(1.0, float(f[: c + 1].sum()))  # the last expert takes all that is left
        if out[c] >= 1.0 - 1e-15:
            out[c:] = 1.0
            break
    return out


def max_load_bounds(
    pi: NDArray[np.float64], b: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``1 - sum_e P(X_e > c) <= P(max <= c) <= prod_e P(X_e <= c)``."""
    cdfs = np.cumsum(np.stack([binomial_pmf(b, float(x)) for x in pi]), axis=1)
    cdfs = np.minimum(cdfs, 1.0)
    upper = np.prod(cdfs, axis=0)
    lower = np.maximum(0.0, 1.0 - np.sum(1.0 - cdfs, axis=0))
    upper[-1] = lower[-1] = 1.0
    return lower, np.maximum(upper, lower)


def max_load_cdf(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None, method: str = "auto"
) -> tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(method, cdf, lower, upper) of the busiest expert's load, choosing as the core does."""
    e, k, b = experts, top_k, tokens
    if method == "auto":
        if weights is None and dp_work(e, k, b) <= EXACT_DP_WORK:
            method = "column-dp"
        elif k == 1 and e * (b + 1) ** 3 <= EXACT_MULTINOMIAL_WORK:
            method = "multinomial"
        else:
            method = "bounds"
    if method == "column-dp":
        cdf = column_dp_cdf(e, k, b)
        return method, cdf, cdf, cdf
    if method == "multinomial":
        cdf = multinomial_cdf(weights if weights is not None else np.full(e, 1.0 / e), b)
        return method, cdf, cdf, cdf
    lower, upper = max_load_bounds(inclusion_probabilities(e, k, weights), b)
    return "bounds", 0.5 * (lower + upper), lower, upper
