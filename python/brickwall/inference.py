"""Serving: how fast and at what cost a model decodes and prefills on a partitioned cluster.

:func:`decode` and :func:`prefill` return a :class:`StepEstimate` with the step's breakdown;
:func:`steps` evaluates arrays of (batch, context) at once. All go through one Rust kernel
(``rust/brickwall-core/src/roofline.rs``, whose module docs state the model), so a point estimate
and a sweep can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .errors import InfeasibleError, ValidationError, invalid
from .hardware import Efficiency, Hardware, hardware as lookup_hardware
from .model import Model
from .units import DTYPE_BYTES, dtype_bytes, fmt_bytes, fmt_seconds
from .validate import array, choice, integer, real

BOUNDS = ("memory: weights", "memory: KV cache", "compute", "communication")


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model replica's layout: ``tp x pp x ep`` chips of ``hardware``.

    ``kv_dtype`` defaults to ``act_dtype``. ``kv_sharding``: ``"heads"`` (each tensor-parallel
    chip caches its heads' KV; with fewer KV heads than ``tp`` the cache is replicated, as MQA
    causes) or ``"batch"`` (Pope et al.: sequences spread over the ``tp`` chips). ``overlap``:
    whether collectives overlap with compute and memory traffic (default False: in decode the
    tensor-parallel all-reduces sit on the critical path between layers). ``price_per_hour`` overrides the
    catalog's chip price (USD per chip-hour).
    """

    hardware: Hardware
    tp: int = 1
    pp: int = 1
    ep: int = 1
    weight_dtype: str = "bf16"
    kv_dtype: str | None = None
    act_dtype: str = "bf16"
    efficiency: Efficiency | None = None
    kv_sharding: Literal["heads", "batch"] = "heads"
    overlap: bool = False
    price_per_hour: float | None = None

    def __post_init__(self) -> None:
        hw = self.hardware
        if isinstance(hw, str):
            object.__setattr__(self, "hardware", lookup_hardware(hw))
        elif not isinstance(hw, Hardware):
            raise invalid("Deployment.hardware", hw, "a Hardware or a catalog name")
        for name in ("tp", "pp", "ep"):
            object.__setattr__(self, name, integer(f"Deployment.{name}", getattr(self, name)))
        object.__setattr__(
            self,
            "weight_dtype",
            choice("Deployment.weight_dtype", self.weight_dtype, tuple(DTYPE_BYTES)),
        )
        object.__setattr__(
            self, "act_dtype", choice("Deployment.act_dtype", self.act_dtype, tuple(DTYPE_BYTES))
        )
        kv = (
            self.act_dtype
            if self.kv_dtype is None
            else choice("Deployment.kv_dtype", self.kv_dtype, tuple(DTYPE_BYTES))
        )
        object.__setattr__(self, "kv_dtype", kv)
        if self.efficiency is None:
            object.__setattr__(self, "efficiency", Efficiency())
        elif not isinstance(self.efficiency, Efficiency):
            raise invalid("Deployment.efficiency", self.efficiency, "an Efficiency")
        choice("Deployment.kv_sharding", self.kv_sharding, ("heads", "batch"))
        if not isinstance(self.overlap, bool):
            raise invalid("Deployment.overlap", self.overlap, "True or False")
        if self.price_per_hour is not None:
            real("Deployment.price_per_hour", self.price_per_hour)

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.ep

    @property
    def compute_dtype(self) -> str:
        """Math runs in the wider of the weight and activation formats the chip supports."""
        wider = max(self.weight_dtype, self.act_dtype, key=lambda d: DTYPE_BYTES[d])
        return self.hardware.compute_dtype(wider)

    @property
    def chip_price_per_hour(self) -> float | None:
        return (
            self.price_per_hour if self.price_per_hour is not None else self.hardware.price_per_hour
        )

    def with_(self, **changes: Any) -> Deployment:
        return replace(self, **changes)

    def check(self, model: Model) -> None:
        """Raise :class:`InfeasibleError` if this partitioning does not divide ``model``."""
        if model.heads % self.tp:
            raise InfeasibleError(
                f"tp = {self.tp}: must divide the {model.heads} attention heads of {model.name}"
            )
        kv = 1 if model.attention == "mla" else model.kv_heads
        if kv >= self.tp and kv % self.tp or kv < self.tp and self.tp % kv:
            raise InfeasibleError(
                f"tp = {self.tp}: must divide, or be a multiple of, the {kv} KV heads of {model.name}"
            )
        if self.pp > model.layers:
            raise InfeasibleError(
                f"pp = {self.pp}: at most the {model.layers} layers of {model.name}"
            )
        if self.ep > 1 and (not model.is_moe or model.experts % self.ep):
            raise InfeasibleError(
                f"ep = {self.ep}: must divide the {model.experts} routed experts of {model.name}"
            )


def cost_view(model: Model) -> dict[str, float]:
    """The model as the kernel sees it: element counts, no dtypes or layout."""
    p = model.params
    ffn = max(
        model.d_ff, model.top_k * model.d_ff_expert + model.shared_experts * model.d_ff_shared
    )
    return {
        "layers": float(model.layers),
        "moe_layers": float(model.moe_layers),
        "experts": float(model.experts),
        "top_k": float(model.top_k),
        "dense_params": float(p.total - p.routed_experts),
        "expert_params_per_layer": float(model.expert_params_per_layer),
        "matmul_params_active": float(model.matmul_params_active),
        "attn_flops_per_context_token": float(model.attention_flops_per_context_token),
        "kv_elements_per_token": float(model.kv_elements_per_token),
        "kv_heads": float(1 if model.attention == "mla" else model.kv_heads),
        "d_model": float(model.d_model),
        "ffn_width": float(ffn),
    }


def plan_view(
    d: Deployment, touched_experts: float = math.nan, expert_imbalance: float = 1.0
) -> dict[str, Any]:
    """The layout as the kernel sees it; ``touched_experts`` (NaN: the uniform expectation) and
    ``expert_imbalance`` carry a routing quantile (see :func:`routing_quantile`)."""
    assert d.kv_dtype is not None
    return {
        "touched_experts": float(touched_experts),
        "expert_imbalance": float(expert_imbalance),
        "tp": float(d.tp),
        "pp": float(d.pp),
        "ep": float(d.ep),
        "weight_bytes": dtype_bytes(d.weight_dtype),
        "kv_bytes": dtype_bytes(d.kv_dtype),
        "act_bytes": dtype_bytes(d.act_dtype),
        "kv_batch_sharded": d.kv_sharding == "batch",
        "overlap": d.overlap,
    }


def chip_view(d: Deployment) -> dict[str, float]:
    h, e = d.hardware, d.efficiency
    assert e is not None
    price = d.chip_price_per_hour
    return {
        "memory": h.memory,
        "memory_bandwidth": h.memory_bandwidth,
        "peak_flops": h.flops(d.compute_dtype),
        "scale_up_bandwidth": h.scale_up_bandwidth,
        "scale_up_latency": h.scale_up_latency,
        "scale_up_domain": float(h.scale_up_domain),
        "scale_out_bandwidth": h.scale_out_bandwidth or 0.0,
        "scale_out_latency": h.scale_out_latency,
        "price_per_s": (price or 0.0) / 3600.0,
        "eff_flops": e.flops,
        "eff_memory": e.memory,
        "eff_network": e.network,
    }


Routing = Union[Literal["expected"], float]


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


def _kernel(
    model: Model,
    d: Deployment,
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
    routing: Routing = "expected",
) -> dict[str, NDArray[Any]]:
    d.check(model)
    if routing == "expected" or not model.is_moe:
        return _table(model, d, plan_view(d), batch, context, n)
    q = real("routing", routing, minimum=0.0, strict=True, maximum=1.0)
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
    plan: dict[str, Any],
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
    cols = _kernel(
        model,
        d,
        np.array([float(batch)]),
        np.array([float(context)]),
        np.array([float(n)]),
        routing,
    )
    c = {k: v[0].item() for k, v in cols.items()}
    used = c["mem_weights"] + c["mem_kv"] + c["mem_act"]
    price = d.chip_price_per_hour
    return StepEstimate(
        model=model.name,
        deployment=d,
        phase=phase,
        batch=batch,
        context=context,
        new_tokens=n,
        step_time=c["latency"],
        breakdown={
            "weights": c["t_weights"],
            "kv_cache": c["t_kv"],
            "compute": c["t_compute"],
            "communication": c["t_comm"],
        },
        bound=BOUNDS[int(c["bound"])],
        tokens_per_s=c["tokens_per_s"],
        mfu=c["mfu"],
        memory={
            "weights": c["mem_weights"],
            "kv_cache": c["mem_kv"],
            "activations": c["mem_act"],
            "free": d.hardware.memory - used,
        },
        fits=bool(c["fits"]),
        cost_per_million_tokens=None if price is None else c["cost_per_token"] * 1e6,
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
    "BOUNDS",
    "Deployment",
    "StepEstimate",
    "StepTable",
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
