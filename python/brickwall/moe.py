"""Mixture-of-Experts routing: how many tokens each expert and each expert-parallel device sees
in one step, by Monte Carlo (the Rust core) and exactly where closed forms exist (the laws and
their derivations: docs/sources.md, "MoE routing: the exact laws").

The routing model. A step routes ``tokens`` tokens; each picks ``top_k`` distinct experts of
``n_experts`` independently of the other tokens. Uniform popularity picks a uniformly random
k-subset. A popularity vector ``p`` picks by successive sampling without replacement: the first
expert with probability proportional to ``p``, the next proportional to ``p`` among the rest, and
so on - the top-k of ``log p + Gumbel noise``, i.e. a router with noisy logits. ``("zipf", s)``
is ``p_i ~ 1 / i^s``; ``("dirichlet", alpha)`` draws a fresh symmetric Dirichlet popularity per
step (router drift). Experts are split into ``devices`` equal contiguous groups; the step waits
for the busiest device. A capacity factor ``cf`` gives every expert a capacity
``ceil(cf * k * tokens / E)`` tokens; assignments beyond it are dropped.

>>> import brickwall as bw
>>> r = bw.moe.route(16, 2, 8, trials=100_000, seed=1)
>>> r.mean("load")  # k B / E exactly
1.0
>>> round(bw.moe.expected_experts_touched(16, 2, 8), 3)  # E (1 - (1 - k/E)^B)
10.502
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .errors import invalid, too_large, wrong_type
from .validate import array, boolean, integer, real

Popularity = ArrayLike | tuple[str, float] | None

#: Histogram names of an :class:`ExpertLoad`.
MAX_ROUTED_CHOICES = 10**10
"""Most routed choices (trials x tokens x top_k) :func:`route` runs without ``allow_large``:
a minute or two at the 10^8 choices a second of a two-core laptop (benches/bench_routing.py
measures the rate); 10^12 would be hours."""
QUANTITIES = ("load", "max_load", "device_load", "touched", "dropped")


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class _Routing:
    experts: int
    top_k: int
    tokens: int
    weights: NDArray[np.float64] | None  # normalised, None = uniform
    dirichlet_alpha: float | None
    label: str


def _routing(n_experts: Any, top_k: Any, tokens: Any, popularity: Popularity) -> _Routing:
    e = integer("n_experts", n_experts, maximum=1 << 20)
    k = integer("top_k", top_k, maximum=e)
    b = integer("tokens", tokens)
    weights, alpha, label = _popularity(popularity, e, k)
    return _Routing(e, k, b, weights, alpha, label)


def zipf(n_experts: int, s: float) -> NDArray[np.float64]:
    """Zipf popularity ``p_i ~ 1 / i^s`` for experts i = 1..E (expert 0 the most popular)."""
    e = integer("n_experts", n_experts)
    s = real("zipf exponent", s)
    w: NDArray[np.float64] = np.arange(1, e + 1, dtype=np.float64) ** -s
    out: NDArray[np.float64] = w / w.sum()
    return out


def _popularity(
    popularity: Popularity, e: int, k: int
) -> tuple[NDArray[np.float64] | None, float | None, str]:
    if popularity is None:
        return None, None, "uniform"
    if isinstance(popularity, tuple) and len(popularity) == 2 and isinstance(popularity[0], str):
        kind, value = popularity[0].lower(), popularity[1]
        if kind == "zipf":
            s = real("popularity zipf exponent", value)
            return zipf(e, s), None, f"zipf({s:g})"
        if kind == "dirichlet":
            a = real("popularity dirichlet alpha", value, strict=True)
            return None, a, f"dirichlet({a:g})"
        raise invalid(
            "popularity",
            popularity,
            "None, an array of E probabilities, ('zipf', s) or ('dirichlet', alpha)",
        )
    if isinstance(popularity, str):
        raise wrong_type(
            "popularity",
            popularity,
            "None, an array of E probabilities, ('zipf', s) or ('dirichlet', alpha)",
        )
    p = array("popularity", popularity, np.float64, minimum=0.0)
    if p.size != e:
        raise invalid("len(popularity)", p.size, f"n_experts = {e}")
    total = float(p.sum())
    if abs(total - 1.0) > 1e-6:
        raise invalid("sum(popularity)", total, "1 (probabilities, within 1e-6)")
    if int(np.count_nonzero(p)) < k:
        raise invalid(
            "popularity", f"{int(np.count_nonzero(p))} positive entries", f"at least top_k = {k}"
        )
    return np.ascontiguousarray(p / total), None, "custom"


def expert_capacity(n_experts: int, top_k: int, tokens: int, capacity_factor: float) -> int:
    """Per-expert capacity ``ceil(cf * k * tokens / E)`` tokens (the common top-k convention;
    Switch Transformer's ``tokens / E * cf`` at k = 1)."""
    e = integer("n_experts", n_experts)
    k = integer("top_k", top_k, maximum=e)
    t = integer("tokens", tokens)
    cf = real("capacity_factor", capacity_factor, strict=True)
    cap = cf * k * t / e
    if not cap < 2**63:  # inf, or past the core's 64-bit counts
        raise invalid(
            "capacity_factor",
            cf,
            f"a factor giving a capacity below 2^63 tokens (it gives {cap:.3g}; any capacity >= "
            f"tokens = {t} drops nothing)",
        )
    return max(0, math.ceil(round(cap, 9)))


def _devices(devices: Any, e: int) -> int:
    if devices is None:
        return 1
    d = integer("devices", devices, maximum=e)
    if e % d:
        raise invalid("devices", devices, f"a divisor of n_experts = {e}")
    return d


# ---------------------------------------------------------------------------------------------
# Monte Carlo


@dataclass(frozen=True, slots=True)
class ExpertLoad:
    """Distributions of one routing experiment (Monte Carlo). Every histogram is indexed by value
    (tokens, experts or assignments) and counts trials (``load``: trial x expert pairs).

    - ``load``: per-expert load before drops, pooled over experts;
    - ``max_load``: the largest per-expert load of a step (before drops);
    - ``device_load``: tokens the busiest device processes (after drops);
    - ``touched``: distinct experts with at least one token (= expert weights read);
    - ``dropped``: assignments dropped by the capacity limit;
    - ``expert_mean``: each expert's mean load (before drops).
    """

    n_experts: int
    top_k: int
    tokens: int
    trials: int
    seed: int
    devices: int
    capacity: int | None
    popularity: str
    load: NDArray[np.int64] = field(repr=False)
    max_load: NDArray[np.int64] = field(repr=False)
    device_load: NDArray[np.int64] = field(repr=False)
    touched: NDArray[np.int64] = field(repr=False)
    dropped: NDArray[np.int64] = field(repr=False)
    expert_mean: NDArray[np.float64] = field(repr=False)

    def __repr__(self) -> str:
        extra = (f", {self.devices} devices" if self.devices > 1 else "") + (
            f", capacity {self.capacity}" if self.capacity is not None else ""
        )

        def line(name: str, label: str) -> str:
            p = self.percentiles(name, (0.99,))["p99"]
            return f"{label} mean {self.mean(name):.3g} (p99 {p}, max {self.max_value(name)})"

        parts = [line("load", "tokens/expert"), line("max_load", "busiest expert")]
        parts.append(f"experts touched mean {self.mean('touched'):.3g}")
        if self.capacity is not None:
            parts.append(f"dropped {self.drop_fraction:.2%}")
        return (
            f"ExpertLoad(top-{self.top_k} of {self.n_experts} experts, {self.tokens:,} tokens/step, "
            f"{self.popularity}{extra}, {self.trials:,} trials, seed {self.seed}: "
            + "; ".join(parts)
            + ")"
        )

    def histogram(self, name: str = "load") -> NDArray[np.int64]:
        if name not in QUANTITIES:
            raise invalid("name", name, f"one of {', '.join(QUANTITIES)}")
        out: NDArray[np.int64] = getattr(self, name)
        return out

    def pmf(self, name: str = "load") -> NDArray[np.float64]:
        """Empirical probability of each value."""
        h = self.histogram(name)
        out: NDArray[np.float64] = h / h.sum()
        return out

    def mean(self, name: str = "load") -> float:
        h = self.histogram(name)
        return float(np.dot(np.arange(h.size, dtype=np.float64), h) / h.sum())

    def std(self, name: str = "load") -> float:
        h = self.histogram(name)
        x = np.arange(h.size, dtype=np.float64)
        m = np.dot(x, h) / h.sum()
        return float(math.sqrt(max(0.0, np.dot((x - m) ** 2, h) / h.sum())))

    def quantile(self, name: str, q: float) -> int:
        """Smallest value v with P(X <= v) >= q."""
        real("q", q, maximum=1.0)
        return _core.routing_histogram_quantile(self.histogram(name).astype(np.uint64), q)

    def percentiles(
        self, name: str = "load", qs: Sequence[float] = (0.5, 0.9, 0.99)
    ) -> dict[str, int]:
        return {f"p{100 * q:g}": self.quantile(name, q) for q in qs}

    def max_value(self, name: str = "load") -> int:
        """The largest value seen in any trial."""
        return int(np.flatnonzero(self.histogram(name))[-1])

    def prob_load_at_least(self, c: int) -> float:
        """P(a given expert receives >= c tokens), pooled over experts."""
        c = integer("c", c, minimum=0)
        return float(self.load[c:].sum() / self.load.sum()) if c < self.load.size else 0.0

    def prob_max_at_least(self, c: int) -> float:
        """P(the busiest expert of a step receives >= c tokens)."""
        c = integer("c", c, minimum=0)
        return (
            float(self.max_load[c:].sum() / self.max_load.sum()) if c < self.max_load.size else 0.0
        )

    @property
    def drop_fraction(self) -> float:
        """Mean fraction of the k x tokens assignments that are dropped."""
        return self.mean("dropped") / (self.top_k * self.tokens)

    def summary(self) -> dict[str, Any]:
        """Plain dict (JSON-ready): parameters, and mean / std / p50 / p90 / p99 / max of each."""
        out: dict[str, Any] = {
            "n_experts": self.n_experts,
            "top_k": self.top_k,
            "tokens": self.tokens,
            "trials": self.trials,
            "seed": self.seed,
            "devices": self.devices,
            "capacity": self.capacity,
            "popularity": self.popularity,
        }
        for name in QUANTITIES:
            out[name] = {
                "mean": self.mean(name),
                "std": self.std(name),
                **self.percentiles(name),
                "max": self.max_value(name),
            }
        out["drop_fraction"] = self.drop_fraction
        out["load_pmf"] = self.pmf("load").tolist()
        return out


def route(
    n_experts: int,
    top_k: int,
    tokens: int,
    trials: int,
    seed: int = 0,
    popularity: Popularity = None,
    capacity_factor: float | None = None,
    devices: int | None = None,
    *,
    progress: Callable[[int], Any] | None = None,
    allow_large: bool = False,
) -> ExpertLoad:
    """Monte Carlo of ``trials`` routing steps (see the module docstring for the model).

    Deterministic in (inputs, seed) whatever the thread count. Releases the GIL; Ctrl-C raises
    KeyboardInterrupt; ``progress(trials_done)`` is called every few milliseconds. Runs of more
    than :data:`MAX_ROUTED_CHOICES` routed choices (``trials x tokens x top_k``) need
    ``allow_large=True``.

    >>> r = route(16, 2, 8, trials=200_000, seed=3)
    >>> r.percentiles("max_load")["p50"], r.quantile("touched", 0.5)
    (3, 11)
    """
    r = _routing(n_experts, top_k, tokens, popularity)
    n = integer("trials", trials)
    seed = integer("seed", seed, minimum=0, maximum=(1 << 64) - 1)
    d = _devices(devices, r.experts)
    choices = n * r.tokens * r.top_k
    if choices > MAX_ROUTED_CHOICES and not boolean("allow_large", allow_large):
        raise too_large(
            "route: trials x tokens x top_k routed choices",
            choices,
            MAX_ROUTED_CHOICES,
            f"ask for fewer trials (at most {MAX_ROUTED_CHOICES // (r.tokens * r.top_k):,} "
            "here; the quantiles settle long before)",
        )
    cap = (
        None
        if capacity_factor is None
        else expert_capacity(r.experts, r.top_k, r.tokens, capacity_factor)
    )
    load, mx, dev, touched, dropped, total = _core.routing_histograms(
        r.experts, r.top_k, r.tokens, n, seed, r.weights, r.dirichlet_alpha, cap, d, progress
    )

    def as_int(a: NDArray[np.uint64]) -> NDArray[np.int64]:
        return a.astype(np.int64)  # counts < 2^62 by the core's check

    return ExpertLoad(
        n_experts=r.experts,
        top_k=r.top_k,
        tokens=r.tokens,
        trials=n,
        seed=seed,
        devices=d,
        capacity=cap,
        popularity=r.label,
        load=as_int(load),
        max_load=as_int(mx),
        device_load=as_int(dev),
        touched=as_int(touched),
        dropped=as_int(dropped),
        expert_mean=total.astype(np.float64) / n,
    )


# ---------------------------------------------------------------------------------------------
# Exact results (docs/sources.md, "MoE routing: the exact laws")


def balanced_load(n_experts: int, top_k: int, tokens: int) -> float:
    """The perfectly balanced load of one expert, ``k B / E`` tokens (the mean of every
    per-expert load law)."""
    r = _routing(n_experts, top_k, tokens, None)
    return _core.routing_balanced_load(r.experts, r.top_k, r.tokens)


def inclusion_probabilities(
    n_experts: int, top_k: int, popularity: Popularity = None
) -> NDArray[np.float64]:
    """P(expert e is among a token's top_k) for each expert: k/E when uniform, p when k = 1, and
    for successive sampling the exponential-race integral
    ``pi_e = int_0^inf p_e e^(-p_e t) P(fewer than k others arrived by t) dt``
    (others arrive at Exp(p_i) times), by tanh-sinh quadrature (~1e-12). Under Dirichlet drift
    the law is symmetric, so k/E by exchangeability."""
    r = _routing(n_experts, top_k, 1, popularity)
    return _core.routing_inclusion_probabilities(r.experts, r.top_k, r.weights)


def load_pmf(
    n_experts: int, top_k: int, tokens: int, popularity: Popularity = None
) -> NDArray[np.float64]:
    """Exact marginal law of one expert's load: ``X_e ~ Binomial(tokens, pi_e)``. Uniform
    routing gives one row (pi = k/E) of length tokens+1; a popularity vector gives one row per
    expert, shape (E, tokens+1)."""
    r = _routing(n_experts, top_k, tokens, popularity)
    pmf = _core.routing_load_pmf(r.experts, r.top_k, r.tokens, r.weights)
    return pmf[0] if r.weights is None else pmf


def expected_experts_touched(
    n_experts: int, top_k: int, tokens: int, popularity: Popularity = None
) -> float:
    """Mean number of distinct experts receiving a token: ``sum_e 1 - (1 - pi_e)^B``
    (= ``E (1 - (1 - k/E)^B)`` uniform, the roofline's own formula)."""
    r = _routing(n_experts, top_k, tokens, popularity)
    if r.dirichlet_alpha is not None:
        raise invalid(
            "popularity",
            popularity,
            "None, an array or ('zipf', s) (no closed form under Dirichlet drift)",
        )
    return _core.routing_expected_touched(r.experts, r.top_k, r.tokens, r.weights)


def expected_drops(
    n_experts: int,
    top_k: int,
    tokens: int,
    capacity_factor: float | None = None,
    popularity: Popularity = None,
    *,
    capacity: int | None = None,
) -> float:
    """Mean assignments dropped per step, ``sum_e E[(X_e - C)+]`` with ``X_e ~ Bin(B, pi_e)``
    (exact by linearity). Give ``capacity_factor`` (C = ceil(cf k B / E)) or ``capacity``."""
    r = _routing(n_experts, top_k, tokens, popularity)
    if r.dirichlet_alpha is not None:
        raise invalid("popularity", popularity, "None, an array or ('zipf', s)")
    if (capacity_factor is None) == (capacity is None):
        raise invalid(
            "capacity", (capacity_factor, capacity), "exactly one of capacity_factor and capacity"
        )
    c = (
        expert_capacity(r.experts, r.top_k, r.tokens, capacity_factor)
        if capacity_factor is not None
        else integer("capacity", capacity, minimum=0)
    )
    return _core.routing_expected_drops(r.experts, r.top_k, r.tokens, c, r.weights)


@dataclass(frozen=True, slots=True)
class ExactLoads:
    """The exact companions of a routing Monte Carlo (docs/sources.md), per step."""

    balanced_load: float
    """``k B / E``: every expert's mean load in tokens (the perfectly balanced load)"""
    touched: float
    """mean distinct experts receiving a token"""
    dropped: float | None
    """mean assignments dropped at ``capacity`` (None without a capacity)"""
    max_load: MaxLoadCdf
    """the busiest expert's law (exact or bounds, see its ``method``)"""

    @property
    def max_load_mean_bounds(self) -> tuple[float, float]:
        """Bounds on E[busiest expert's load] (equal when the law is exact)."""
        return self.max_load.mean_bounds()

    def summary(self) -> dict[str, Any]:
        """JSON-ready: ``max_load`` is the mean when exact, else ``[lower, upper]`` bounds."""
        out: dict[str, Any] = {"load": self.balanced_load, "touched": self.touched}
        if self.dropped is not None:
            out["dropped"] = self.dropped
        out["max_load"] = self.max_load.mean() if self.max_load.exact else self.max_load_mean_bounds
        out["max_load_method"] = self.max_load.method
        return out


def exact_loads(
    n_experts: int,
    top_k: int,
    tokens: int,
    popularity: Popularity = None,
    *,
    capacity: int | None = None,
) -> ExactLoads:
    """The balanced load ``k B / E``, :func:`expected_experts_touched`, :func:`expected_drops`
    at ``capacity`` tokens per expert and :func:`max_load_cdf`, in one call (no closed forms
    under Dirichlet drift: ValidationError).

    >>> x = exact_loads(16, 2, 8, capacity=2)
    >>> x.balanced_load, round(x.touched, 3), round(x.max_load.mean(), 4), x.max_load.method
    (1.0, 10.502, 2.9548, 'column-dp')
    """
    return ExactLoads(
        balanced_load=balanced_load(n_experts, top_k, tokens),
        touched=expected_experts_touched(n_experts, top_k, tokens, popularity),
        dropped=None
        if capacity is None
        else expected_drops(n_experts, top_k, tokens, popularity=popularity, capacity=capacity),
        max_load=max_load_cdf(n_experts, top_k, tokens, popularity),
    )


@dataclass(frozen=True, slots=True)
class MaxLoadCdf:
    """P(max per-expert load <= c) for c = 0..tokens.

    ``method``: ``"column-dp"`` (uniform top-k, exact), ``"multinomial"`` (top-1 with any
    popularity, exact up to rounding) or ``"bounds"`` (``cdf`` is then the midpoint of the
    negative-association bounds ``1 - sum_e P(X_e > c) <= P <= prod_e P(X_e <= c)``).
    ``lower``/``upper`` always hold valid bounds (equal to ``cdf`` when exact)."""

    n_experts: int
    top_k: int
    tokens: int
    method: str
    cdf: NDArray[np.float64] = field(repr=False)
    lower: NDArray[np.float64] = field(repr=False)
    upper: NDArray[np.float64] = field(repr=False)

    def __repr__(self) -> str:
        how = "exact" if self.exact else "midpoint of bounds"
        return (
            f"MaxLoadCdf(top-{self.top_k} of {self.n_experts} experts, {self.tokens:,} tokens, "
            f"{self.method} ({how}): busiest expert mean {self.mean():.4g}, "
            f"p50 {self.quantile(0.5)}, p99 {self.quantile(0.99)}, "
            f"P(max = {self.tokens}) {self.pmf()[-1]:.3g})"
        )

    @property
    def exact(self) -> bool:
        return self.method != "bounds"

    def pmf(self) -> NDArray[np.float64]:
        return np.diff(self.cdf, prepend=0.0)

    def mean(self) -> float:
        """E[max] = sum_c (1 - P(max <= c))."""
        return _core.routing_mean_from_cdf(self.cdf)

    def mean_bounds(self) -> tuple[float, float]:
        """Bounds on E[max] from the CDF's bounds (the upper CDF gives the lower mean); both
        equal :meth:`mean` when exact."""
        return _core.routing_mean_from_cdf(self.upper), _core.routing_mean_from_cdf(self.lower)

    def quantile(self, q: float) -> int:
        real("q", q, maximum=1.0)
        return int(np.searchsorted(self.cdf, q - 1e-12, side="left"))


def max_load_cdf(
    n_experts: int,
    top_k: int,
    tokens: int,
    popularity: Popularity = None,
    *,
    method: str = "auto",
    progress: Callable[[int], Any] | None = None,
) -> MaxLoadCdf:
    """P(max per-expert load <= c), c = 0..tokens: exact by the column DP (uniform top-k), by the
    multinomial form (top-1, any popularity), else the negative-association bounds. ``method``:
    "auto" (exact when affordable), "column-dp", "multinomial" or "bounds". Runs in the core
    (releases the GIL, Ctrl-C raises KeyboardInterrupt; an exact method beyond its work limit
    raises TooLargeError).

    >>> m = max_load_cdf(16, 2, 8)
    >>> m.method, round(float(m.cdf[2]), 4)
    ('column-dp', 0.2401)
    """
    r = _routing(n_experts, top_k, tokens, popularity)
    if r.dirichlet_alpha is not None:
        raise invalid("popularity", popularity, "None, an array or ('zipf', s)")
    if not isinstance(method, str):
        raise wrong_type("method", method, "a string: auto, column-dp, multinomial or bounds")
    name, cdf, lower, upper = _core.routing_max_load_cdf(
        r.experts, r.top_k, r.tokens, r.weights, method, progress
    )
    return MaxLoadCdf(r.experts, r.top_k, r.tokens, name, cdf, lower, upper)


# ---------------------------------------------------------------------------------------------
# For the roofline and the claims ledger


@dataclass(frozen=True, slots=True)
class LoadQuantiles:
    """What a decode step waits for (``max_load`` per expert, ``device_load`` per device, in
    tokens) and what it reads (``touched`` experts), at the requested quantiles; plus means."""

    n_experts: int
    top_k: int
    tokens: int
    devices: int
    trials: int
    max_load: dict[float, int]
    device_load: dict[float, int]
    touched: dict[float, int]
    mean_max_load: float
    mean_device_load: float
    mean_touched: float
    mean_load: float


def load_quantiles(
    n_experts: int,
    top_k: int,
    tokens: int,
    devices: int | None = None,
    popularity: Popularity = None,
    quantiles: Sequence[float] = (0.5, 0.99),
    *,
    trials: int | None = None,
    seed: int = 0,
    capacity_factor: float | None = None,
    allow_large: bool = False,
) -> LoadQuantiles:
    """Quantiles of the busiest expert's and busiest device's load and of the distinct experts
    touched in one step (Monte Carlo with ``trials`` steps), for the roofline: step compute time
    follows the busiest device, weight bytes follow the touched experts. ``trials=None`` picks
    about 2 x 10^7 routed choices (between 2,000 and 100,000 steps: ~0.1 s); ``allow_large``
    as in :func:`route`.

    >>> q = load_quantiles(16, 2, 8, devices=8, trials=50_000)
    >>> q.max_load[0.5], q.device_load[0.99], round(q.mean_touched, 1)
    (3, 6, 10.5)
    """
    qs = [real("quantile", q, maximum=1.0) for q in quantiles]
    if trials is None:
        trials = _core.routing_default_trials(integer("tokens", tokens), integer("top_k", top_k))
    r = route(
        n_experts,
        top_k,
        tokens,
        trials,
        seed,
        popularity,
        capacity_factor,
        devices,
        allow_large=allow_large,
    )
    return LoadQuantiles(
        n_experts=r.n_experts,
        top_k=r.top_k,
        tokens=r.tokens,
        devices=r.devices,
        trials=r.trials,
        max_load={q: r.quantile("max_load", q) for q in qs},
        device_load={q: r.quantile("device_load", q) for q in qs},
        touched={q: r.quantile("touched", q) for q in qs},
        mean_max_load=r.mean("max_load"),
        mean_device_load=r.mean("device_load"),
        mean_touched=r.mean("touched"),
        mean_load=r.mean("load"),
    )


def expert_batch_table(
    n_experts: int = 16, top_k: int = 2, tokens: int = 8, trials: int = 1_000_000, seed: int = 0
) -> dict[str, Any]:
    """Claim moe.expert_batch.8: the probability that an expert sees c = 0..tokens tokens in a
    step (Monte Carlo and exact Binomial), and that the busiest expert sees c (Monte Carlo and
    exact column DP / bounds)."""
    r = route(n_experts, top_k, tokens, trials, seed)
    exact = load_pmf(n_experts, top_k, tokens)
    mx = max_load_cdf(n_experts, top_k, tokens)
    rows = [
        {
            "tokens": c,
            "p_expert_mc": float(r.pmf("load")[c]),
            "p_expert_exact": float(exact[c]),
            "p_max_mc": float(r.pmf("max_load")[c]),
            "p_max_exact": float(mx.pmf()[c]),
        }
        for c in range(tokens + 1)
    ]
    return {
        "n_experts": r.n_experts,
        "top_k": r.top_k,
        "tokens": r.tokens,
        "trials": r.trials,
        "seed": seed,
        "max_method": mx.method,
        "rows": rows,
        "mean_touched_mc": r.mean("touched"),
        "mean_touched_exact": expected_experts_touched(n_experts, top_k, tokens),
        "p_some_expert_gets_at_least_4": r.prob_max_at_least(4),
        "p_idle_expert": float(exact[0]),
    }


def expert_batch_stats(
    n_experts: int = 16, top_k: int = 2, tokens: int = 4096, trials: int = 20_000, seed: int = 0
) -> dict[str, Any]:
    """Claim moe.expert_batch.4k: per-expert load at a large batch - the perfectly balanced
    ``k B / E`` (512 for top-2 of 16 at 4096 tokens), and the Monte Carlo mean, p99 and maximum
    of one expert's load and of the busiest expert's load per step, with the exact Binomial
    p99 and the bounds on E[max] as cross-checks."""
    r = route(n_experts, top_k, tokens, trials, seed)
    pmf = load_pmf(n_experts, top_k, tokens)
    mx = max_load_cdf(n_experts, top_k, tokens, method="bounds")
    return {
        "n_experts": r.n_experts,
        "top_k": r.top_k,
        "tokens": r.tokens,
        "trials": r.trials,
        "seed": seed,
        "balanced": balanced_load(r.n_experts, r.top_k, r.tokens),
        "load_mean": r.mean("load"),
        "load_p99": r.quantile("load", 0.99),
        "load_p99_exact": int(np.searchsorted(np.cumsum(pmf), 0.99)),
        "load_max": r.max_value("load"),
        "max_load_mean": r.mean("max_load"),
        "max_load_p50": r.quantile("max_load", 0.5),
        "max_load_p99": r.quantile("max_load", 0.99),
        "max_load_max": r.max_value("max_load"),
        "max_load_mean_bounds": mx.mean_bounds(),
    }


__all__ = [
    "MAX_ROUTED_CHOICES",
    "QUANTITIES",
    "ExpertLoad",
    "LoadQuantiles",
    "MaxLoadCdf",
    "ExactLoads",
    "balanced_load",
    "exact_loads",
    "expected_drops",
    "expected_experts_touched",
    "expert_batch_stats",
    "expert_batch_table",
    "expert_capacity",
    "inclusion_probabilities",
    "load_pmf",
    "load_quantiles",
    "max_load_cdf",
    "route",
    "zipf",
]
