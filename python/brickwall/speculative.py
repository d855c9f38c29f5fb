"""Speculative decoding: acceptance from real distributions, the closed forms of Leviathan,
Kalman & Matias (ICML 2023), an exact simulation of the sampling rule, token trees, lenient
verification, and the economics under batching (MagicDec, arXiv 2408.11049).

A draft model proposes ``gamma`` tokens; the target verifies all of them (plus one) in a single
forward pass. With per-token acceptance ``alpha`` (the mean of ``beta = sum min(p, q)``), a step
emits ``N`` tokens with ``E[N] = (1 - alpha^(gamma+1)) / (1 - alpha)`` and, when a draft step
costs ``c`` target steps, the wall time improves by ``E[N] / (gamma c + 1)``.

>>> import brickwall.speculative as spec
>>> round(spec.expected_tokens(0.8, 4), 4), spec.expected_tokens(1.0, 4)
(3.3616, 5.0)
>>> spec.optimal_gamma(0.8, 0.05)
8
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .deployment import Deployment
from .errors import TooLargeError, invalid, too_large, wrong_type
from .inference import decode as roofline_decode
from .model import Model
from .validate import array, boolean, integer, real

# ---------------------------------------------------------------------------------------------
# Acceptance kernels


def _prob_pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[NDArray[Any], NDArray[Any], bool]:
    """Two equal-shape C-contiguous float32 (when both are float32) or float64 arrays, viewed
    as 2-d; the flag says whether the inputs were 1-d (a single row)."""
    out = []
    for name, x in zip(names, (a, b)):
        try:
            arr = np.asarray(x)
        except Exception as e:
            raise wrong_type(name, x, "an array of numbers") from e
        if arr.dtype.kind not in "iuf":
            raise wrong_type(name, x, "an array of numbers")
        if arr.ndim not in (1, 2):
            raise invalid(f"{name}.ndim", arr.ndim, "1 (one distribution) or 2 (rows x vocab)")
        if arr.shape[-1] == 0:
            raise invalid(f"{name}.shape", arr.shape, "a non-empty vocabulary")
        out.append(arr)
    p, q = out
    if p.shape != q.shape:
        raise invalid(f"{names[1]}.shape", q.shape, f"the shape of {names[0]} {p.shape}")
    dtype = np.float32 if p.dtype == np.float32 and q.dtype == np.float32 else np.float64
    single = p.ndim == 1
    p2 = np.ascontiguousarray(p, dtype=dtype).reshape(-1, p.shape[-1])
    q2 = np.ascontiguousarray(q, dtype=dtype).reshape(-1, q.shape[-1])
    return p2, q2, single


def _default_tol(dtype: Any, tol: float | None) -> float:
    if tol is None:
        return 1e-4 if dtype == np.float32 else 1e-6
    return real("tol", tol, maximum=0.5)


def acceptance(p: ArrayLike, q: ArrayLike, *, tol: float | None = None) -> Any:
    """Per-row acceptance ``beta = sum_x min(p(x), q(x)) = 1 - TV(p, q)`` of target ``p`` and
    draft ``q`` distributions, ``(rows x vocab)`` float32 or float64 (or one 1-d row -> a float).

    Rows must be finite, ``>= 0`` and sum to 1 within ``tol`` (default 1e-4 for float32, 1e-6
    for float64). float32 inputs are read in place (no copy, no temporaries); rows run in
    parallel without the GIL.

    >>> acceptance([0.5, 0.5, 0.0], [0.25, 0.25, 0.5])
    0.5
    """
    a, b, single = _prob_pair(p, q, ("p", "q"))
    out = _core.speculative_acceptance(a, b, _default_tol(a.dtype, tol))
    return float(out[0]) if single else out


def acceptance_from_logits(
    target_logits: ArrayLike, draft_logits: ArrayLike, temperature: float = 1.0
) -> Any:
    """Per-row acceptance of ``softmax(target_logits / T)`` against ``softmax(draft_logits / T)``
    with a numerically stable softmax computed inside the kernel (``-inf`` logits are masked
    tokens). Same shapes as :func:`acceptance`.

    >>> round(acceptance_from_logits([0.0, 0.0], [0.0, math.log(3)]), 12)
    0.75
    """
    t = real("temperature", temperature, strict=True)
    a, b, single = _prob_pair(target_logits, draft_logits, ("target_logits", "draft_logits"))
    out = _core.speculative_acceptance_from_logits(a, b, t)
    return float(out[0]) if single else out


# ---------------------------------------------------------------------------------------------
# Closed forms (Leviathan, Kalman & Matias, ICML 2023, arXiv 2211.17192, section 3)


# Largest table tokens_distribution builds (8 bytes a cell: 32 MiB).
_MAX_CELLS = 1 << 22
MAX_GAMMA = 4096
"""Longest draft :func:`optimal_gamma` searches and the tables accept: alpha^4096 < 1e-18 for
any alpha <= 0.99, so no longer draft changes a speedup."""
#: Most (batch, gamma) estimates :func:`sweep_batches` runs without ``allow_large`` (each is a
#: roofline evaluation in Python: a few ms).
SWEEP_BATCHES_LIMIT = 10_000


def _gammas(gammas: ArrayLike) -> NDArray[np.int64]:
    """Draft lengths for a table, each in 1..MAX_GAMMA; a range is checked before it is built."""
    if isinstance(gammas, range) and len(gammas) and not 1 <= max(gammas) <= MAX_GAMMA:
        raise invalid("gammas", gammas, f"draft lengths in 1..{MAX_GAMMA}")
    g = array("gammas", gammas, np.int64, minimum=1.0)
    if g.size and g.max() > MAX_GAMMA:
        raise invalid("gammas", int(g.max()), f"draft lengths in 1..{MAX_GAMMA}")
    return g


def _alpha(alpha: ArrayLike) -> NDArray[np.float64]:
    a = array("alpha", alpha, np.float64, minimum=0.0, ndim=None)
    if a.size and a.max() > 1.0:
        raise invalid("alpha", a[a > 1.0].flat[0].item(), "an acceptance rate in [0, 1]")
    return a


def _gamma(gamma: ArrayLike, name: str = "gamma") -> NDArray[np.float64]:
    g = array(name, gamma, np.int64, minimum=1.0, ndim=None)
    return g.astype(np.float64)


def _cost(cost_ratio: ArrayLike) -> NDArray[np.float64]:
    return array("cost_ratio", cost_ratio, np.float64, minimum=0.0, ndim=None)


def _out(x: NDArray[Any]) -> Any:
    return x.item() if x.ndim == 0 else x


def _geometric_sum(a: NDArray[np.float64], g: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_{i=0..g} a^i``, accurate near ``a = 1`` and exact at ``a = 1`` and ``a = 0``."""
    a, g = np.broadcast_arrays(a, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a = np.log1p(a - 1.0)  # a - 1 is exact near 1
        ratio = np.expm1((g + 1.0) * log_a) / np.expm1(log_a)
    return np.where(a == 1.0, g + 1.0, np.where(a == 0.0, 1.0, ratio))


def expected_tokens(alpha: ArrayLike, gamma: ArrayLike) -> Any:
    """Expected tokens per step ``E[N] = (1 - alpha^(gamma+1)) / (1 - alpha)`` with draft length
    ``gamma`` and acceptance ``alpha`` (``gamma + 1`` at ``alpha = 1``). Broadcasts."""
    return _out(_geometric_sum(_alpha(alpha), _gamma(gamma)))


def tokens_distribution(
    alpha: ArrayLike, gamma: int, *, allow_large: bool = False
) -> NDArray[np.float64]:
    """``P(N = n)`` for ``n = 1..gamma+1`` along the last axis: ``alpha^(n-1) (1 - alpha)`` for
    ``n <= gamma`` and ``alpha^gamma`` for ``n = gamma + 1`` (a truncated geometric law).
    Tables over 2^22 cells (32 MiB) need ``allow_large=True``."""
    a = _alpha(alpha)[..., None]
    g = integer("gamma", gamma)
    if a.size * (g + 1) > _MAX_CELLS and not boolean("allow_large", allow_large):
        raise too_large(
            "tokens_distribution: alphas x (gamma + 1) probabilities (8 bytes each)",
            a.size * (g + 1),
            _MAX_CELLS,
            "ask for fewer alphas or a smaller gamma (the mass past n is alpha^n)",
        )
    n = np.arange(1, g + 2, dtype=np.float64)
    out = a ** (n - 1) * (1.0 - a)
    out[..., -1] = a[..., 0] ** g
    return out


def speedup(alpha: ArrayLike, gamma: ArrayLike, cost_ratio: ArrayLike) -> Any:
    """Expected wall-time improvement over plain decoding (Thm 3.8):
    ``(1 - alpha^(gamma+1)) / ((1 - alpha)(gamma c + 1))`` with ``c = T_draft / T_target``."""
    a, g, c = _alpha(alpha), _gamma(gamma), _cost(cost_ratio)
    return _out(_geometric_sum(a, g) / (g * c + 1.0))


def ops_factor(alpha: ArrayLike, gamma: ArrayLike, cost_ratio_ops: ArrayLike) -> Any:
    """Factor by which total arithmetic grows (Thm 3.11):
    ``(1 - alpha)(gamma c_hat + gamma + 1) / (1 - alpha^(gamma+1))``, ``c_hat`` = draft / target
    arithmetic per token."""
    a, g, c = (
        _alpha(alpha),
        _gamma(gamma),
        array("cost_ratio_ops", cost_ratio_ops, np.float64, minimum=0.0, ndim=None),
    )
    return _out((g * c + g + 1.0) / _geometric_sum(a, g))


def optimal_gamma(alpha: ArrayLike, cost_ratio: ArrayLike, max_gamma: int = 32) -> Any:
    """The integer draft length in ``1..max_gamma`` that maximises :func:`speedup` (the smallest
    on ties). Broadcasts over ``alpha`` and ``cost_ratio``. It can still be slower than plain
    decoding (check ``speedup(...) > 1``; by Cor 3.9 ``alpha > c`` guarantees a gain)."""
    a, c = np.broadcast_arrays(_alpha(alpha), _cost(cost_ratio))
    gmax = integer("max_gamma", max_gamma, maximum=MAX_GAMMA)
    g = np.arange(1, gmax + 1, dtype=np.float64)
    s = _geometric_sum(a[..., None], g) / (g * c[..., None] + 1.0)
    return _out(np.argmax(s, axis=-1) + 1)


@dataclass(frozen=True, slots=True)
class SpeedupTable:
    """Expected tokens and speedup per draft length at one acceptance rate and cost ratio, with
    the best draft length over ``1..max_gamma`` (which need not be among ``gammas``)."""

    alpha: float
    cost_ratio: float
    gammas: NDArray[np.int64]
    expected_tokens: NDArray[np.float64]  #: E[N] per gamma
    speedup: NDArray[np.float64]  #: per gamma
    best_gamma: int
    best_speedup: float

    def summary(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "cost_ratio": self.cost_ratio,
            "rows": [
                {"gamma": int(g), "expected_tokens": float(e), "speedup": float(s)}
                for g, e, s in zip(self.gammas, self.expected_tokens, self.speedup)
            ],
            "best_gamma": self.best_gamma,
            "best_speedup": self.best_speedup,
        }


def speedup_tables(
    alphas: ArrayLike,
    cost_ratios: ArrayLike,
    gammas: ArrayLike = (1, 2, 3, 4, 5, 6, 7, 8),
    *,
    max_gamma: int | None = None,
) -> list[SpeedupTable]:
    """One :class:`SpeedupTable` per (alpha, cost ratio), alpha-major: the closed forms
    :func:`expected_tokens` and :func:`speedup` at each of ``gammas``, and :func:`optimal_gamma`
    over ``1..max_gamma`` (default: 64 or the largest of ``gammas`` if larger).

    >>> t = speedup_tables([0.8], [0.05], [1, 4, 8])[0]
    >>> t.best_gamma, round(t.best_speedup, 3), t.speedup.round(3).tolist()
    (8, 3.092, [1.714, 2.801, 3.092])
    """
    a_all = _alpha(alphas).ravel()
    c_all = _cost(cost_ratios).ravel()
    g = _gammas(gammas)
    if a_all.size == 0 or c_all.size == 0 or g.size == 0:
        raise invalid(
            "alphas / cost_ratios / gammas", (a_all.size, c_all.size, g.size), "non-empty"
        )
    top = max(64, int(g.max())) if max_gamma is None else integer("max_gamma", max_gamma)
    out = []
    for a in a_all.tolist():
        for c in c_all.tolist():
            best = int(optimal_gamma(a, c, max_gamma=top))
            out.append(
                SpeedupTable(
                    alpha=a,
                    cost_ratio=c,
                    gammas=g,
                    expected_tokens=np.asarray(expected_tokens(a, g), dtype=np.float64),
                    speedup=np.asarray(speedup(a, g, c), dtype=np.float64),
                    best_gamma=best,
                    best_speedup=float(speedup(a, best, c)),
                )
            )
    return out


# ---------------------------------------------------------------------------------------------
# Simulation and lenient verification


@dataclass(frozen=True, slots=True)
class Simulation:
    """Counts from :func:`simulate_sampling`."""

    gamma: int
    trials: int
    seed: int
    lam: float
    tokens: NDArray[np.uint64]  #: ``tokens[n-1]``: steps that emitted n tokens, n = 1..gamma+1
    emitted: NDArray[np.uint64]  #: ``(gamma+1, vocab)``: emitted-token counts per position

    @property
    def token_probabilities(self) -> NDArray[np.float64]:
        """Empirical ``P(N = n)``, n = 1..gamma+1."""
        return self.tokens / self.trials

    @property
    def mean_tokens(self) -> float:
        """Empirical ``E[N]``."""
        return float(np.dot(np.arange(1, self.gamma + 2), self.tokens) / self.trials)

    @property
    def reached(self) -> NDArray[np.uint64]:
        """Steps that emitted a token at position i (i = 0..gamma)."""
        return np.cumsum(self.tokens[::-1])[::-1]

    @property
    def frequencies(self) -> NDArray[np.float64]:
        """Emitted-token frequencies per position, given the position was reached: estimates
        of the target rows ``p`` (exactly when ``lam = 1``)."""
        r = self.reached.astype(np.float64)[:, None]
        return np.divide(self.emitted, r, out=np.zeros(self.emitted.shape), where=r > 0)


def _positions(x: ArrayLike, rows: int, name: str) -> NDArray[np.float64]:
    a = array(name, x, np.float64, minimum=0.0, ndim=None)
    if a.ndim == 1:
        a = np.broadcast_to(a, (rows, a.shape[0]))
    if a.ndim != 2 or a.shape[0] < rows or a.shape[1] == 0:
        raise invalid(f"{name}.shape", a.shape, f"(vocab,) or ({rows}, vocab)")
    return np.ascontiguousarray(a[:rows])


SIM_MAX_CELLS = 1 << 24  #: the core's limit on (gamma + 1) x vocab
#: Most draft positions (trials x gamma) :func:`simulate_sampling` runs without ``allow_large``:
#: about a minute (10^6 trials of gamma 4 take ~0.5 s on a laptop).
SIM_MAX_DRAWS = 10**9


def simulate_sampling(
    p: ArrayLike,
    q: ArrayLike,
    gamma: int,
    trials: int = 100_000,
    seed: int = 0,
    *,
    lam: float = 1.0,
    progress: Callable[[int], Any] | None = None,
    allow_large: bool = False,
) -> Simulation:
    """Run ``trials`` steps of speculative sampling with draft length ``gamma``.

    ``p``: target distributions, ``(vocab,)`` for every position or ``(gamma+1, vocab)`` (the
    last row is the bonus token's); ``q``: draft distributions, ``(vocab,)`` or ``(gamma,
    vocab)`` (extra rows ignored). Per position the draft token ``x ~ q`` is kept with
    probability ``min(1, p(x) / (lam q(x)))``, else replaced by a draw from
    ``norm(max(0, p - q))`` and the step ends; if all are kept a bonus token comes from the last
    row of ``p``. Deterministic for a seed on any thread count; honours Ctrl-C; ``progress(done)``
    is called with the trials done so far. Over :data:`SIM_MAX_DRAWS` draft positions
    (``trials x gamma``) it needs ``allow_large=True``.
    """
    g = integer("gamma", gamma)
    n = integer("trials", trials, maximum=10**12)
    if n * g > SIM_MAX_DRAWS and not boolean("allow_large", allow_large):
        raise too_large(
            "simulate_sampling: trials x gamma draft positions",
            n * g,
            SIM_MAX_DRAWS,
            "ask for fewer trials (the acceptance rate's error falls as 1/sqrt(trials))",
        )
    s = integer("seed", seed, minimum=0, maximum=2**64 - 1)
    lm = real("lam", lam, strict=True, maximum=1.0)
    vocab = np.shape(p)[-1] if np.ndim(p) else 1
    if (g + 1) * vocab > SIM_MAX_CELLS:
        raise TooLargeError(
            f"(gamma + 1) x vocab = {(g + 1) * vocab:,}: the emitted histogram is limited to "
            f"{SIM_MAX_CELLS:,} cells; use a smaller vocabulary or gamma"
        )
    pp = _positions(p, g + 1, "p")
    qq = _positions(q, g, "q")
    if pp.shape[1] != qq.shape[1]:
        raise invalid("q vocab", qq.shape[1], f"the vocab of p ({pp.shape[1]})")
    tokens, emitted = _core.speculative_simulate(pp, qq, g, n, s, lm, progress)
    return Simulation(g, n, s, lm, tokens, emitted.reshape(g + 1, pp.shape[1]))


@dataclass(frozen=True, slots=True)
class Lenient:
    """The quality-for-speed trade of lenient verification (accept with ``min(1, p/(lam q))``)."""

    lam: float
    gamma: int
    acceptance: NDArray[np.float64]  #: per-row acceptance under the lenient rule
    exact_acceptance: NDArray[np.float64]  #: per-row ``sum min(p, q)`` (lam = 1)
    tv: NDArray[np.float64]  #: per-row total-variation distance of the emitted distribution from p

    @property
    def alpha(self) -> float:
        return float(self.acceptance.mean())

    @property
    def exact_alpha(self) -> float:
        return float(self.exact_acceptance.mean())

    @property
    def expected_tokens(self) -> float:
        return float(expected_tokens(min(self.alpha, 1.0), self.gamma))

    @property
    def exact_expected_tokens(self) -> float:
        return float(expected_tokens(min(self.exact_alpha, 1.0), self.gamma))

    @property
    def gain(self) -> float:
        """Tokens per step relative to exact verification (>= 1)."""
        return self.expected_tokens / self.exact_expected_tokens

    @property
    def mean_tv(self) -> float:
        return float(self.tv.mean())


def lenient(
    p: ArrayLike, q: ArrayLike, lam: float, gamma: int = 4, *, tol: float | None = None
) -> Lenient:
    """Lenient verification with leniency ``lam`` in (0, 1]: a draft token is accepted with
    probability ``min(1, p(x) / (lam q(x)))`` (``lam = 1`` is exact speculative sampling), so more
    tokens are accepted at the price of an emitted distribution
    ``e = min(q, p/lam) + (1 - beta) norm(max(0, p - q))`` that differs from ``p``. Returns the
    acceptance per row, the exact one, and ``TV(e, p)`` per row (exact, no sampling)."""
    lm = real("lam", lam, strict=True, maximum=1.0)
    g = integer("gamma", gamma)
    a, b, _ = _prob_pair(p, q, ("p", "q"))
    if a.size == 0:  # the mean acceptance of no rows would be NaN
        raise invalid("p", f"shape {a.shape}", "at least one distribution with at least one token")
    t = _default_tol(a.dtype, tol)
    beta, tv = _core.speculative_lenient(a, b, lm, t)
    exact = _core.speculative_acceptance(a, b, t)
    return Lenient(lm, g, beta, exact, tv)


def tree_expected_tokens(parents: ArrayLike, accept_prob: ArrayLike) -> float:
    """Expected tokens per step of a token tree whose siblings are mutually exclusive (staged /
    tree speculative decoding): ``E[N] = 1 + sum_v P(every edge root -> v accepted)``.

    ``parents[i]`` is the parent of draft node ``i``: ``-1`` for the root (the last verified
    token) or an earlier node. ``accept_prob[i]`` is the probability node ``i`` is accepted
    given its parent was; siblings' probabilities sum to at most 1. A chain of ``gamma`` nodes
    with probability ``alpha`` gives :func:`expected_tokens`.

    >>> tree_expected_tokens([-1, 0, 1], [0.8, 0.8, 0.8]) == expected_tokens(0.8, 3)
    True
    """
    par = array("parents", parents, np.int64, minimum=-1.0)
    acc = array("accept_prob", accept_prob, np.float64, minimum=0.0)
    return float(_core.speculative_tree_expected_tokens(par, acc))


# ---------------------------------------------------------------------------------------------
# Under batching


class StepTime(Protocol):
    """Seconds of one forward step of ``model`` over ``batch`` sequences, each processing
    ``tokens_per_sequence`` new tokens against ``context`` cached tokens."""

    def __call__(
        self, model: Model, batch: int, tokens_per_sequence: int, context: int
    ) -> float: ...


def roofline_step_time(deployment: Deployment) -> StepTime:
    """The inference roofline (:func:`brickwall.decode` with ``new_tokens``) as a step-time
    function: touched experts, KV reads, attention FLOPs, collectives and pipeline stages."""

    def step(model: Model, batch: int, tokens_per_sequence: int, context: int) -> float:
        return roofline_decode(
            model, deployment, batch, context, new_tokens=tokens_per_sequence
        ).step_time

    return step


def _step_times(deployment: Deployment | None, step_time: StepTime | None) -> StepTime:
    if step_time is not None:
        return step_time
    if not isinstance(deployment, Deployment):
        raise wrong_type("deployment", deployment, "a brickwall.Deployment (or pass step_time=)")
    return roofline_step_time(deployment)


@dataclass(frozen=True, slots=True)
class SpecDecode:
    """Speculative vs plain decoding of ``batch`` sequences at ``context`` (seconds, tokens/s)."""

    batch: int
    context: int
    alpha: float
    gamma: int
    target_step: float  #: one plain decode step of the target (1 token per sequence)
    draft_step: float  #: one draft step (1 token per sequence)
    verify_step: float  #: the target verifying gamma + 1 tokens per sequence
    expected_tokens: float  #: E[N] per sequence per speculative step

    @property
    def step(self) -> float:
        """Seconds of one speculative step: gamma draft steps + one verification."""
        return self.gamma * self.draft_step + self.verify_step

    @property
    def tokens_per_s_per_user(self) -> float:
        return self.expected_tokens / self.step

    @property
    def tokens_per_s(self) -> float:
        """Aggregate tokens/s over the batch."""
        return self.batch * self.tokens_per_s_per_user

    @property
    def plain_tokens_per_s_per_user(self) -> float:
        return 1.0 / self.target_step

    @property
    def speedup(self) -> float:
        """``E[N] T_target / (gamma T_draft + T_verify)`` (MagicDec Eq. for T_SD / T_T, inverted)."""
        return self.expected_tokens * self.target_step / self.step

    @property
    def cost_ratio(self) -> float:
        return self.draft_step / self.target_step

    def summary(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "context": self.context,
            "alpha": self.alpha,
            "gamma": self.gamma,
            "target_step_s": self.target_step,
            "draft_step_s": self.draft_step,
            "verify_step_s": self.verify_step,
            "expected_tokens": self.expected_tokens,
            "step_s": self.step,
            "tokens_per_s_per_user": self.tokens_per_s_per_user,
            "tokens_per_s": self.tokens_per_s,
            "speedup": self.speedup,
            "cost_ratio": self.cost_ratio,
        }


def estimate(
    target: Model,
    draft: Model,
    deployment: Deployment | None,
    batch: int,
    context: int,
    alpha: float,
    gamma: int,
    *,
    step_time: StepTime | None = None,
    draft_step_time: StepTime | None = None,
) -> SpecDecode:
    """Speculative decoding of ``batch`` sequences at ``context`` tokens through a step-time
    model: ``gamma`` draft steps of one token per sequence, then one target step verifying
    ``gamma + 1`` tokens per sequence, emitting ``E[N]`` tokens per sequence.

    ``step_time(model, batch, tokens_per_sequence, context)`` defaults to
    :func:`roofline_step_time` of ``deployment``, the inference roofline; ``draft_step_time``
    (the draft's, e.g. on other chips) defaults to ``step_time``.
    """
    for name, m in (("target", target), ("draft", draft)):
        if not isinstance(m, Model):
            raise wrong_type(name, m, "a brickwall.Model")
    b = integer("batch", batch)
    s = integer("context", context, minimum=0)
    a = float(_alpha(alpha))
    g = integer("gamma", gamma)
    st = _step_times(deployment, step_time)
    dst = draft_step_time if draft_step_time is not None else st
    t_target = st(target, b, 1, s)
    t_verify = st(target, b, g + 1, s)
    t_draft = dst(draft, b, 1, s)
    for name, t in (
        ("target step time", t_target),
        ("verify step time", t_verify),
        ("draft step time", t_draft),
    ):
        if not (math.isfinite(t) and t > 0):
            raise invalid(name, t, "a finite number of seconds > 0 from step_time")
    return SpecDecode(b, s, a, g, t_target, t_draft, t_verify, float(expected_tokens(a, g)))


@dataclass(frozen=True, slots=True)
class BatchSweep:
    """Speedup of speculative decoding over a grid of batches x draft lengths."""

    batches: NDArray[np.int64]
    gammas: NDArray[np.int64]
    speedup: NDArray[np.float64]  #: (len(batches), len(gammas))
    plain_tokens_per_s_per_user: NDArray[np.float64]  #: per batch
    alpha: float
    context: int

    @property
    def best_gamma(self) -> NDArray[np.int64]:
        """Per batch, the draft length with the largest speedup."""
        out: NDArray[np.int64] = self.gammas[np.argmax(self.speedup, axis=1)]
        return out

    @property
    def best_speedup(self) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.speedup.max(axis=1)
        return out

    @property
    def crossover_batch(self) -> int | None:
        """The smallest batch of the grid from which no draft length pays (speedup <= 1 at
        this and every larger batch); None when speculation still pays at the largest batch."""
        pays = self.best_speedup > 1.0
        if pays[-1]:
            return None
        last = np.nonzero(pays)[0]
        return int(self.batches[0 if last.size == 0 else last[-1] + 1])

    def summary(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "context": self.context,
            "batches": self.batches.tolist(),
            "gammas": self.gammas.tolist(),
            "speedup": self.speedup.tolist(),
            "best_gamma": self.best_gamma.tolist(),
            "best_speedup": self.best_speedup.tolist(),
            "plain_tokens_per_s_per_user": self.plain_tokens_per_s_per_user.tolist(),
            "crossover_batch": self.crossover_batch,
        }


def sweep_batches(
    target: Model,
    draft: Model,
    deployment: Deployment | None,
    batches: ArrayLike,
    context: int,
    alpha: float,
    gammas: ArrayLike = (1, 2, 3, 4, 5, 6, 7, 8),
    *,
    step_time: StepTime | None = None,
    draft_step_time: StepTime | None = None,
    allow_large: bool = False,
) -> BatchSweep:
    """:func:`estimate` over batches x draft lengths: the best gamma per batch and the batch at
    which speculation stops paying. More than :data:`SWEEP_BATCHES_LIMIT` estimates need
    ``allow_large=True``."""
    n_b = len(batches) if isinstance(batches, range) else None
    n_g = len(gammas) if isinstance(gammas, range) else None
    if n_b is not None and n_g is not None and n_b * n_g > SWEEP_BATCHES_LIMIT:
        _sweep_too_large(n_b * n_g, allow_large)  # before a huge range is built
    bs = array("batches", batches, np.int64, minimum=1.0)
    gs = _gammas(gammas)
    if bs.size == 0 or gs.size == 0:
        raise invalid("batches / gammas", (bs.size, gs.size), "non-empty")
    if bs.size * gs.size > SWEEP_BATCHES_LIMIT:
        _sweep_too_large(bs.size * gs.size, allow_large)
    bs, gs = np.sort(bs), np.sort(gs)
    st = _step_times(deployment, step_time)
    out = np.empty((bs.size, gs.size))
    plain = np.empty(bs.size)
    for i, b in enumerate(bs):
        for j, g in enumerate(gs):
            r = estimate(
                target,
                draft,
                deployment,
                int(b),
                context,
                alpha,
                int(g),
                step_time=st,
                draft_step_time=draft_step_time,
            )
            out[i, j] = r.speedup
        plain[i] = r.plain_tokens_per_s_per_user
    return BatchSweep(bs, gs, out, plain, float(alpha), int(context))


def _sweep_too_large(cells: int, allow_large: bool) -> None:
    if not boolean("allow_large", allow_large):
        raise too_large(
            "sweep_batches: batches x gammas estimates",
            cells,
            SWEEP_BATCHES_LIMIT,
            "give fewer batches (a geometric range such as 1..4096:x2) or draft lengths",
        )


__all__ = [
    "MAX_GAMMA",
    "SIM_MAX_DRAWS",
    "SWEEP_BATCHES_LIMIT",
    "BatchSweep",
    "Lenient",
    "Simulation",
    "SpecDecode",
    "SpeedupTable",
    "StepTime",
    "acceptance",
    "acceptance_from_logits",
    "estimate",
    "expected_tokens",
    "lenient",
    "roofline_step_time",
    "ops_factor",
    "optimal_gamma",
    "simulate_sampling",
    "speedup",
    "speedup_tables",
    "sweep_batches",
    "tokens_distribution",
    "tree_expected_tokens",
]
