"""Serving: how fast and at what cost a model decodes and prefills on a partitioned cluster.

:func:`decode` and :func:`prefill` return a :class:`StepEstimate` with the step's breakdown;
:func:`steps` evaluates arrays of (batch, context) at once. All go through one Rust kernel
(``rust/brickwall-core/src/roofline.rs``, whose module docs state the model), so a point estimate
and a sweep can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .deployment import BOUNDS, Deployment, chip_view, cost_view, plan_view
from .errors import InfeasibleError, ValidationError, invalid, wrong_type
from .hardware import Efficiency, Hardware
from .hardware import hardware as lookup_hardware
from .model import Model
from .units import dtype_bytes, fmt_bytes, fmt_seconds
from .validate import array, integer, real

if TYPE_CHECKING:
    from ._core import Plan

Routing = Literal["expected"] | float


def routing_quantile(
    model: Model, d: Deployment, tokens: int, q: float, *, seed: int = 0
) -> tuple[float, float]:
    """(distinct experts touched, busiest-device imbalance) at quantile ``q`` of the routing
    distribution of ``tokens`` tokens per MoE layer (Monte Carlo in the core, as
    :func:`brickwall.moe.load_quantiles`): the touched experts set the weight bytes read, the
    busiest expert-parallel device the compute."""
    t = integer("tokens", tokens)
    q = real("q", q, minimum=0.0, strict=True, maximum=1.0)
    seed = integer("seed", seed, minimum=0, maximum=(1 << 64) - 1)
    return _core.roofline_quantile_plan(cost_view(model), plan_view(d), t, q, seed)


def _checked_routing(model: Model, d: Deployment, routing: Routing) -> float | None:
    """Check the arguments every estimate takes; the routing quantile, None for the
    expectation (and for dense models, where a quantile changes nothing)."""
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    if not isinstance(d, Deployment):
        raise wrong_type("deployment", d, "a Deployment")
    if isinstance(routing, str) and routing == "expected":
        return None
    # checked on dense models too: never accept and ignore
    q = real("routing", routing, minimum=0.0, strict=True, maximum=1.0)
    return q if model.is_moe else None


# Each (model, deployment) pair's core step model, validated and precomputed once, so a warm
# scalar estimate is one call into the core. Keyed by identity (both are frozen); the entry holds
# the pair so an id cannot be reused while it is cached.
_STEP_MODELS: dict[tuple[int, int], tuple[Model, Deployment, _core.RooflineModel]] = {}
_STEP_MODELS_MAX = 256


def _step_model(model: Model, d: Deployment) -> _core.RooflineModel:
    hit = _STEP_MODELS.get((id(model), id(d)))
    if hit is not None:
        return hit[2]
    d.check(model)
    sm = _core.roofline_model(cost_view(model), plan_view(d), chip_view(d))
    if len(_STEP_MODELS) >= _STEP_MODELS_MAX:
        _STEP_MODELS.clear()
    _STEP_MODELS[id(model), id(d)] = (model, d, sm)
    return sm


def _kernel(
    model: Model,
    d: Deployment,
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
    routing: Routing = "expected",
) -> dict[str, NDArray[Any]]:
    q = _checked_routing(model, d, routing)
    d.check(model)
    if q is None:
        return _table(model, d, plan_view(d), batch, context, n)
    # the core splits each row's batch into microbatches and prices each microbatch size at q
    table = _core.roofline_steps_at_quantile(
        cost_view(model),
        plan_view(d),
        chip_view(d),
        np.ascontiguousarray(batch),
        np.ascontiguousarray(context),
        np.ascontiguousarray(n),
        q,
        0,
    )
    return step_columns(table)


def _table(
    model: Model,
    d: Deployment,
    plan: Plan,
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
) -> dict[str, NDArray[Any]]:
    table = _core.roofline_steps(
        cost_view(model),
        plan,
        chip_view(d),
        np.ascontiguousarray(batch),
        np.ascontiguousarray(context),
        np.ascontiguousarray(n),
    )
    return step_columns(table)


_COLUMNS = tuple(_core.roofline_columns())
# _estimate unpacks a kernel row by position: fail at import, not with wrong numbers, if the
# kernel's columns ever move.
_ROW = (
    *("latency", "t_weights", "t_kv", "t_compute", "t_comm", "tokens_per_s", "mfu"),
    *("mem_weights", "mem_kv", "mem_act", "cost_per_token", "bound", "fits"),
    *("t_dense_gemm", "t_expert_gemm", "t_attention", "t_elementwise", "t_floor"),
)
if _ROW != _COLUMNS:
    raise ImportError(f"brickwall._core's step columns changed: {_COLUMNS}")


def step_columns(table: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
    """Named column views of a kernel step table (``roofline_steps``; column-major, so each
    column is contiguous)."""
    cols: dict[str, NDArray[Any]] = {name: table[:, j] for j, name in enumerate(_COLUMNS)}
    cols["bound"] = cols["bound"].astype(np.uint8)
    cols["fits"] = cols["fits"] != 0
    return cols


@dataclass(frozen=True, slots=True)
class StepEstimate:
    """One step of ``batch`` sequences, each adding ``new_tokens`` tokens after ``context``
    cached ones. Times in seconds, memory in bytes per chip, money in USD."""

    model: str
    deployment: Deployment = field(repr=False)
    phase: str
    batch: int
    context: int
    new_tokens: int
    step_time: float  #: seconds for the step, all pipeline stages
    breakdown: dict[str, float]  #: seconds of weights / kv_cache / compute / communication
    bound: str
    tokens_per_s: float  #: new tokens per second, all sequences
    mfu: float
    memory: dict[str, float]  #: bytes per chip: weights / kv_cache / activations / free
    fits: bool
    cost_per_million_tokens: float | None  #: USD per 1M new tokens (None if the price is unknown)
    #: seconds per operator class, all stages, each the slower of its compute and memory time;
    #: with communication they add up to ``step_time`` (without overlap)
    operators: dict[str, float] = field(default_factory=dict)

    @property
    def chips(self) -> int:
        return self.deployment.chips

    @property
    def tokens_per_s_per_user(self) -> float:
        return self.new_tokens / self.step_time

    @property
    def per_token_latency(self) -> float:
        """Decode: seconds between a sequence's tokens. Prefill: time to first token."""
        return self.step_time if self.phase == "prefill" else self.step_time / self.new_tokens

    @property
    def ttft(self) -> float:
        return self.step_time

    def as_dict(self) -> dict[str, Any]:
        d = self.deployment
        return {
            "model": self.model,
            "hardware": d.hardware.name,
            "tp": d.tp,
            "pp": d.pp,
            "ep": d.ep,
            "chips": d.chips,
            "weight_dtype": d.weight_dtype,
            "kv_dtype": d.kv_dtype,
            "phase": self.phase,
            "batch": self.batch,
            "context": self.context,
            "new_tokens": self.new_tokens,
            "step_time_s": self.step_time,
            "per_token_latency_s": self.per_token_latency,
            "breakdown_s": self.breakdown,
            "bound": self.bound,
            "tokens_per_s": self.tokens_per_s,
            "tokens_per_s_per_user": self.tokens_per_s_per_user,
            "mfu": self.mfu,
            "memory_bytes_per_chip": self.memory,
            "fits": self.fits,
            "usd_per_million_tokens": self.cost_per_million_tokens,
            "operators_s": self.operators,
        }

    def describe(self) -> str:
        b = self.breakdown
        parts = ", ".join(f"{k} {fmt_seconds(v)}" for k, v in b.items())
        return (
            f"{self.phase} {self.model} on {self.chips}x {self.deployment.hardware.name}: "
            f"step {fmt_seconds(self.step_time)} ({parts}); {self.bound}-bound; "
            f"{self.tokens_per_s:,.0f} tok/s; MFU {self.mfu:.1%}; "
            f"{fmt_bytes(sum(v for k, v in self.memory.items() if k != 'free'))}/chip"
            f"{'' if self.fits else ' (DOES NOT FIT)'}"
        )


@dataclass(frozen=True, slots=True)
class StepTable:
    """:func:`steps` over arrays: every field of :class:`StepEstimate` as a numpy column."""

    model: str
    deployment: Deployment
    batch: NDArray[np.float64]
    context: NDArray[np.float64]
    new_tokens: NDArray[np.float64]
    columns: dict[str, NDArray[Any]]

    def __getattr__(self, name: str) -> NDArray[Any]:
        try:
            return self.columns[name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.batch)


def _estimate(
    model: Model, d: Deployment, phase: str, batch: int, context: int, n: int, routing: Routing
) -> StepEstimate:
    if _checked_routing(model, d, routing) is None:
        row = _step_model(model, d).step(batch, context, n)
    else:
        b, c, k = (np.array([float(x)]) for x in (batch, context, n))
        cols = _kernel(model, d, b, c, k, routing)
        row = [float(cols[k][0]) for k in _COLUMNS]
    (latency, t_w, t_kv, t_c, t_comm, tokens_per_s, mfu, m_w, m_kv, m_act, cost, bound, fits) = row[
        :13
    ]
    price = d.chip_price_per_hour
    return StepEstimate(
        model.name,
        d,
        phase,
        batch,
        context,
        n,
        latency,
        {"weights": t_w, "kv_cache": t_kv, "compute": t_c, "communication": t_comm},
        BOUNDS[int(bound)],
        tokens_per_s,
        mfu,
        {
            "weights": m_w,
            "kv_cache": m_kv,
            "activations": m_act,
            "free": d.hardware.memory - (m_w + m_kv + m_act),
        },
        bool(fits),
        None if price is None else cost * 1e6,
        {
            "dense GEMMs": row[13],
            "routed experts": row[14],
            "attention": row[15],
            "elementwise": row[16],
            "kernel floor": row[17],
            "communication": t_comm,
        },
    )


def decode(
    model: Model,
    deployment: Deployment,
    batch: int,
    context: int,
    *,
    new_tokens: int = 1,
    routing: Routing = "expected",
) -> StepEstimate:
    """One decode step: ``batch`` sequences with ``context`` cached tokens each produce
    ``new_tokens`` (1; ``gamma + 1`` when verifying speculative drafts).

    ``routing`` (MoE models): ``"expected"`` reads the expected number of distinct experts under
    uniform routing; a quantile such as ``0.99`` prices the step at that quantile of the routing
    distribution (more experts touched, the busiest expert-parallel device sets the compute).

    >>> import brickwall as bw
    >>> e = bw.decode(bw.model("llama3.1-70b"), bw.Deployment(bw.hardware("H100-SXM"), tp=8), batch=1, context=0)
    >>> e.bound
    'memory: weights'
    """
    b = integer("batch", batch)
    c = integer("context", context, minimum=0)
    n = integer("new_tokens", new_tokens)
    return _estimate(model, deployment, "decode", b, c, n, routing)


def prefill(
    model: Model,
    deployment: Deployment,
    batch: int,
    prompt: int,
    *,
    context: int = 0,
    routing: Routing = "expected",
) -> StepEstimate:
    """Prefill ``batch`` prompts of ``prompt`` tokens (after ``context`` cached ones): time to
    first token, input tokens/s, MFU and $ per 1M input tokens. Input tokens are cheaper than
    output tokens because one weight read serves ``batch x prompt`` tokens, so prefill is
    compute-bound where decode is memory-bound."""
    b = integer("batch", batch)
    p = integer("prompt", prompt)
    c = integer("context", context, minimum=0)
    return _estimate(model, deployment, "prefill", b, c, p, routing)


def steps(
    model: Model,
    deployment: Deployment,
    batch: ArrayLike,
    context: ArrayLike = 0,
    new_tokens: ArrayLike = 1,
    routing: Routing = "expected",
) -> StepTable:
    """The kernel over broadcast arrays of batch, context and new tokens per sequence."""
    b = array("batch", batch, np.float64, minimum=1.0, ndim=None)
    c = array("context", context, np.float64, minimum=0.0, ndim=None)
    n = array("new_tokens", new_tokens, np.float64, minimum=1.0, ndim=None)
    try:
        b, c, n = (np.ascontiguousarray(x.ravel()) for x in np.broadcast_arrays(b, c, n))
    except ValueError as e:
        raise invalid(
            "shapes of batch, context, new_tokens", (b.shape, c.shape, n.shape), "broadcastable"
        ) from e
    return StepTable(model.name, deployment, b, c, n, _kernel(model, deployment, b, c, n, routing))


# -- inversions --------------------------------------------------------------------------------


def max_batch(
    model: Model, deployment: Deployment, context: int, *, new_tokens: int = 1, limit: int = 1 << 24
) -> int:
    """The largest batch whose weights, KV cache and activations fit on every chip (0 if even
    batch 1 does not fit). Memory grows monotonically with batch, so bisection is exact."""
    c = integer("context", context, minimum=0)
    n = integer("new_tokens", new_tokens)
    limit = integer("limit", limit)

    def fits(b: int) -> bool:
        return bool(
            _kernel(
                model, deployment, np.array([float(b)]), np.array([float(c)]), np.array([float(n)])
            )["fits"][0]
        )

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= limit and fits(hi):
        lo, hi = hi, hi * 2
    if hi > limit:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def required_bandwidth(
    model: Model, deployment: Deployment, tokens_per_s: float, *, batch: int = 1, context: int = 0
) -> float:
    """Memory bandwidth per chip (bytes/s, at the deployment's memory efficiency) for each
    sequence to get ``tokens_per_s`` when memory traffic is the only cost: the bytes a chip
    reads per step times the step rate."""
    r = real("tokens_per_s", tokens_per_s, strict=True)
    e = decode(model, deployment, batch, context)
    memory_time = e.breakdown["weights"] + e.breakdown["kv_cache"]
    return deployment.hardware.memory_bandwidth * memory_time * r


def _seconds_per_param(deployment: Deployment, context: int) -> float:
    """Batch-1 weight-read seconds per dense parameter on ``deployment``: exact, since that time
    is linear in the parameter count, so one kernel evaluation of a probe model scales."""
    probe = Model(
        name="probe",
        layers=max(1, deployment.pp),
        d_model=64,
        heads=max(8, deployment.tp),
        kv_heads=max(8, deployment.tp),
        head_dim=8,
        vocab=1,
        d_ff=1 << 20,
        ffn="mlp",
    )
    e = decode(probe, deployment.with_(ep=1), 1, context)
    return e.breakdown["weights"] / probe.params.total


def max_params_for_speed(
    deployment: Deployment, tokens_per_s: float, *, overhead: float = 0.0, context: int = 0
) -> float:
    """The largest dense parameter count a deployment decodes at ``tokens_per_s`` per user at
    batch 1, when weight reads (times ``1 + overhead`` for other traffic) are the only cost."""
    r = real("tokens_per_s", tokens_per_s, strict=True)
    k = real("overhead", overhead)
    return 1.0 / (r * _seconds_per_param(deployment, context) * (1.0 + k))


def speed_for_params(
    deployment: Deployment, params: float, *, overhead: float = 0.0, context: int = 0
) -> float:
    """Batch-1 tokens/s of a dense model of ``params`` parameters when weight reads (times
    ``1 + overhead``) are the only cost: the inverse of :func:`max_params_for_speed`."""
    n = real("params", params, strict=True)
    k = real("overhead", overhead)
    return 1.0 / (n * _seconds_per_param(deployment, context) * (1.0 + k))


def bandwidth_for_params(
    deployment: Deployment,
    params: ArrayLike,
    tokens_per_s: ArrayLike,
    *,
    overhead: float = 0.0,
    context: int = 0,
) -> Any:
    """:func:`required_bandwidth` for a dense model known only by its parameter count: the
    memory bandwidth per chip (bytes/s, at the deployment's memory efficiency) for batch-1
    decoding at ``tokens_per_s`` when weight reads (times ``1 + overhead``) are the only cost.
    ``params`` and ``tokens_per_s`` broadcast (``params[:, None]`` against speeds gives a
    table); a float for scalars. The seed's chart: ``Efficiency.ideal()`` and ``overhead=1``.

    >>> d = Deployment(lookup_hardware("H100-SXM"), efficiency=Efficiency.ideal())
    >>> round(bandwidth_for_params(d, 70e9, 20.0) / 1e12, 2)  # 2 bytes x 70e9 x 20 /s
    2.8
    """
    n = array("params", params, np.float64, minimum=0.0, ndim=None)
    r = array("tokens_per_s", tokens_per_s, np.float64, minimum=0.0, ndim=None)
    k = real("overhead", overhead)
    try:
        need = (
            deployment.hardware.memory_bandwidth
            * _seconds_per_param(deployment, context)
            * (1.0 + k)
            * n
            * r
        )
    except ValueError as e:
        raise invalid("shapes of params, tokens_per_s", (n.shape, r.shape), "broadcastable") from e
    return need.item() if need.ndim == 0 else need


def chips_needed(
    model: Model,
    hardware: Hardware | str,
    *,
    batch: int = 1,
    context: int = 0,
    tokens_per_s_per_user: float | None = None,
    weight_dtype: str = "bf16",
    kv_dtype: str | None = None,
    efficiency: Efficiency | None = None,
    max_chips: int = 4096,
) -> StepEstimate:
    """The smallest deployment (fewest chips; tp within the scale-up domain, then pp) that fits
    ``model`` at this batch and context and, if given, reaches the per-user speed."""
    hw = lookup_hardware(hardware) if isinstance(hardware, str) else hardware
    if tokens_per_s_per_user is not None:
        real("tokens_per_s_per_user", tokens_per_s_per_user, strict=True)
    max_chips = integer("max_chips", max_chips)
    best: StepEstimate | None = None
    tps = [t for t in (1, 2, 4, 8, 16, 32, 64, 72) if t <= hw.scale_up_domain]
    for tp in tps:
        for pp in range(1, model.layers + 1):
            if tp * pp > max_chips or (best is not None and tp * pp >= best.chips):
                break
            d = Deployment(
                hw,
                tp=tp,
                pp=pp,
                weight_dtype=weight_dtype,
                kv_dtype=kv_dtype,
                efficiency=efficiency,
            )
            try:
                e = decode(model, d, batch, context)
            except ValidationError:  # does not divide the model, or needs a network the chip lacks
                continue
            if e.fits and (
                tokens_per_s_per_user is None or e.tokens_per_s_per_user >= tokens_per_s_per_user
            ):
                best = e
                break
    if best is None:
        raise InfeasibleError(
            f"no deployment of up to {max_chips} {hw.name} chips fits {model.name} at batch {batch}, context {context}"
            + (
                ""
                if tokens_per_s_per_user is None
                else f" at {tokens_per_s_per_user:g} tok/s per user"
            )
        )
    return best


def crossover_batch(hardware: Hardware, dtype: str = "bf16") -> float:
    """Batch above which a dense decode step turns compute-bound when weights dominate memory
    traffic: peak FLOP/s over bandwidth, times bytes per parameter, over 2 FLOP per parameter
    (kipply: 208 for an A100 at 16-bit)."""
    return _core.roofline_crossover_batch(
        hardware.flops(hardware.compute_dtype(dtype)), hardware.memory_bandwidth, dtype_bytes(dtype)
    )


__all__ = [
    "StepEstimate",
    "StepTable",
    "bandwidth_for_params",
    "chips_needed",
    "crossover_batch",
    "decode",
    "max_batch",
    "max_params_for_speed",
    "prefill",
    "required_bandwidth",
    "routing_quantile",
    "speed_for_params",
    "steps",
]
