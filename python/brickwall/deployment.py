"""A model replica's layout (:class:`Deployment`) and the typed payloads the core takes.

:func:`cost_view`, :func:`plan_view` and :func:`chip_view` turn a model and a deployment into
the flat dicts the Rust kernels read by key (their TypedDicts are declared in ``_core.pyi``);
every kernel that prices a step - decode, prefill, sweeps - builds them here and nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from .collectives import ALGORITHMS
from .errors import InfeasibleError, invalid
from .hardware import MAX_PRICE_PER_HOUR, Efficiency, Hardware
from .hardware import hardware as lookup_hardware
from .model import Model
from .units import DTYPE_BYTES, dtype_bytes
from .validate import choice, integer, real

#: The tensor-parallel all-reduce's algorithms a Deployment takes.
ALL_REDUCE_ALGORITHMS: tuple[str, ...] = ("auto", *ALGORITHMS)

if TYPE_CHECKING:
    from ._core import Chip, ModelCosts, Plan

#: What binds a step, by the core's bound code (the `bound` column of a step table).
BOUNDS = ("memory: weights", "memory: KV cache", "compute", "communication")


@dataclass(frozen=True, slots=True)
class Deployment:
    """A model replica's layout: ``tp x pp x ep`` chips of ``hardware``.

    ``kv_dtype`` defaults to ``act_dtype``. ``kv_sharding``: ``"heads"`` (each tensor-parallel
    chip caches its heads' KV; with fewer KV heads than ``tp`` the cache is replicated, as MQA
    causes) or ``"batch"`` (Pope et al.: sequences spread over the ``tp`` chips). ``overlap``:
    whether collectives overlap with compute and memory traffic (default False: in decode the
    tensor-parallel all-reduces sit on the critical path between layers). ``price_per_hour`` overrides the
    catalog's chip price (USD per chip-hour). ``efficiency`` None takes the chip's default
    (``hardware.efficiency``: ``Efficiency()`` unless its chip file sets one). ``all_reduce``:
    the tensor-parallel all-reduce's algorithm (``"auto"``: the fastest of ring, tree, one-shot
    and two-shot per message inside the scale-up domain, the ring beyond it; see
    :func:`brickwall.collectives.collective_time`).
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
    all_reduce: Literal["auto", "ring", "tree", "one-shot", "two-shot"] = "auto"
    # whether ``efficiency`` was left to the chip's default (so ``with_(hardware=...)`` follows
    # the new chip's default rather than keeping the old one's)
    _efficiency_from_hardware: bool = field(default=False, init=False, repr=False, compare=False)

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
            object.__setattr__(self, "efficiency", self.hardware.efficiency)
            object.__setattr__(self, "_efficiency_from_hardware", True)
        elif not isinstance(self.efficiency, Efficiency):
            raise invalid("Deployment.efficiency", self.efficiency, "an Efficiency")
        choice("Deployment.kv_sharding", self.kv_sharding, ("heads", "batch"))
        if not isinstance(self.overlap, bool):
            raise invalid("Deployment.overlap", self.overlap, "True or False")
        if self.price_per_hour is not None:
            real("Deployment.price_per_hour", self.price_per_hour, maximum=MAX_PRICE_PER_HOUR)
        object.__setattr__(
            self,
            "all_reduce",
            choice("Deployment.all_reduce", self.all_reduce, ALL_REDUCE_ALGORITHMS),
        )

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
        """A copy with some fields changed; an efficiency left to the chip's default stays so
        (a new ``hardware`` brings its own default)."""
        follow = self._efficiency_from_hardware and "efficiency" not in changes
        if follow and "hardware" in changes:
            changes["efficiency"] = None
        out = replace(self, **changes)
        object.__setattr__(
            out, "_efficiency_from_hardware", out._efficiency_from_hardware or follow
        )
        return out

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


def cost_view(model: Model) -> ModelCosts:
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
) -> Plan:
    """The layout as the kernel sees it; ``touched_experts`` (NaN: the uniform expectation) and
    ``expert_imbalance`` carry a routing quantile (see :func:`brickwall.inference.routing_quantile`)."""
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
        "all_reduce": d.all_reduce,
    }


def chip_view(d: Deployment) -> Chip:
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
        "gemm_m_half": e.gemm_m_half,
        "kernel_overhead_s": e.kernel_overhead,
        "elementwise": e.elementwise,
    }


__all__ = ["BOUNDS", "Deployment", "chip_view", "cost_view", "plan_view"]
