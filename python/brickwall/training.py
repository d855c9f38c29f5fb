"""Training: compute, time and cost of a run, and the plans that determine its MFU.

:func:`training_run` is the arithmetic of a run from a given MFU. Both it and the plan step
count model FLOPs with one function, :meth:`Model.training_flops_per_token
<brickwall.Model.training_flops_per_token>`: 3 x the forward, i.e. 6 x the parameters in matrix
products per token (forward 2, backward 4; Kaplan et al. 2020) plus 3 x the causal attention
term at the sequence length (PaLM's MFU convention, Chowdhery et al. 2022 App. B). MFU counts
those model FLOPs only; HFU (plan steps) adds what recomputation re-runs. Give any two of
``gpus``, ``mfu``, ``days``; it solves the third.

:class:`TrainingPlan` and :func:`plan_step` predict that MFU instead: memory per GPU (ZeRO
states, Korthikanti et al. 2022 activations, microbatches in flight), the step time composed in
the core from the step model, the pipeline bubble and the collectives, MFU and HFU.
:func:`search_plans` runs the grid engine over plans; :func:`goodput` adds failures and
checkpoints (Young 1974, Daly 2006) and a seeded Monte Carlo of a run's interruptions. The
formulas and assumptions are in the core's docs (``rust/brickwall-core/src/training/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, fields
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import _core
from .deployment import Deployment, chip_view, cost_view
from .errors import ValidationError, invalid, wrong_type
from .executors import checked
from .hardware import Efficiency, Hardware
from .hardware import hardware as lookup_hardware
from .model import Model
from .units import DAY, HOUR
from .validate import boolean, choice, integer, real

if TYPE_CHECKING:
    from ._core import (
        Chip,
        Failures,
        ModelCosts,
        TrainingAxes,
        TrainingHost,
        TrainingPlanView,
        TrainingVocab,
    )

#: Hoffmann et al. 2022 (Chinchilla) Table 3: ~20 training tokens per parameter.
CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """A solved training run (SI units; money in USD)."""

    model: str
    hardware: str
    dtype: str
    tokens: float
    seq_len: int
    flops: float  #: 6 x params in matrix products x tokens
    attention_flops: float  #: the context-dependent attention term (3 x forward), all tokens
    gpus: float
    mfu: float  #: of dense peak in ``dtype``; model FLOPs ``total_flops`` (attention, no recompute)
    seconds: float
    price_per_hour: float | None

    @property
    def total_flops(self) -> float:
        return self.flops + self.attention_flops

    @property
    def days(self) -> float:
        return self.seconds / DAY

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.seconds / HOUR

    @property
    def cost(self) -> float | None:
        return None if self.price_per_hour is None else self.gpu_hours * self.price_per_hour

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "hardware": self.hardware,
            "dtype": self.dtype,
            "tokens": self.tokens,
            "flops": self.flops,
            "attention_flops": self.attention_flops,
            "total_flops": self.total_flops,
            "gpus": self.gpus,
            "mfu": self.mfu,
            "days": self.days,
            "gpu_hours": self.gpu_hours,
            "price_per_hour_usd": self.price_per_hour,
            "cost_usd": self.cost,
        }


def training_flops(model: Model, tokens: float) -> float:
    """6 x the parameters in matrix products x tokens (:meth:`Model.training_flops_per_token
    <brickwall.Model.training_flops_per_token>` without its attention term)."""
    return model.training_flops_per_token(0, attention=False) * real("tokens", tokens, strict=True)


def training_run(
    model: Model,
    tokens: float,
    hardware: Hardware | str,
    *,
    gpus: float | None = None,
    mfu: float | None = None,
    days: float | None = None,
    price_per_hour: float | None = None,
    dtype: str = "bf16",
    seq_len: int | None = None,
) -> TrainingRun:
    """Solve a training run from exactly two of ``gpus``, ``mfu`` and ``days``. The MFU counts
    model FLOPs, 6N per token plus the attention term at ``seq_len`` (default: the model's
    context; GPT-4's 8k adds ~5% to 6ND).

    >>> import brickwall as bw
    >>> r = bw.training_run(bw.model("gpt4-moe-1.8t"), 13e12, "A100-40GB", gpus=25_000, mfu=0.34)
    >>> round(r.days)
    102
    """
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    hw = lookup_hardware(hardware) if isinstance(hardware, str) else hardware
    if not isinstance(hw, Hardware):
        raise wrong_type("hardware", hardware, "a Hardware or a hardware name")
    tokens = real("tokens", tokens, strict=True)  # a Python float: no float16 overflow below
    peak = hw.flops(dtype)
    given = {k: v for k, v in (("gpus", gpus), ("mfu", mfu), ("days", days)) if v is not None}
    if len(given) != 2:
        raise ValidationError(
            f"give exactly two of gpus, mfu, days (got {', '.join(given) or 'none'})"
        )
    flops = training_flops(model, tokens)
    s = integer("seq_len", model.max_context if seq_len is None else seq_len)
    # The plan step's model FLOPs (one count, model.py's): 3 x forward, the matrix products and
    # the causal attention term; the MFU counts both.
    attention = model.training_flops_per_token(s) * tokens - flops
    if not math.isfinite(flops + attention):  # finite tokens whose FLOPs overflow
        raise invalid("tokens", tokens, "few enough that the run's FLOPs are finite")
    # Python floats from here: numpy scalars (float16) would overflow in the products below.
    if gpus is not None:
        gpus = real("gpus", gpus, minimum=1.0)  # at least one whole accelerator
    if mfu is not None:
        mfu = real("mfu", mfu, strict=True, maximum=1.0)
    if days is not None:
        days = real("days", days, strict=True)
    if days is None:
        assert gpus is not None and mfu is not None
        rate = gpus * peak * mfu
        if not 0 < rate < math.inf:  # 1e-250 GPUs x 1e-250 MFU underflows to 0
            raise invalid("gpus", gpus, f"a count whose FLOP rate is finite and > 0 (got {rate})")
        seconds = (flops + attention) / rate
    else:
        seconds = days * DAY
        if gpus is None:
            assert mfu is not None
            gpus = (flops + attention) / (seconds * peak * mfu)
        else:
            mfu = (flops + attention) / (seconds * peak * gpus)
            if mfu > 1:
                raise invalid(
                    "days", days, f"long enough for MFU <= 1 on {gpus:g} GPUs (needs MFU {mfu:.2f})"
                )
    price = price_per_hour if price_per_hour is not None else hw.price_per_hour
    if price is not None:
        real("price_per_hour", price)
    assert gpus is not None and mfu is not None
    # Finite inputs can still overflow (1e308 dollars an hour): a typed error, never inf or NaN.
    if not seconds > 0:
        raise invalid("gpus", gpus, f"few enough that the run takes > 0 s (got {seconds} s)")
    for field, value, out in (
        ("tokens", tokens, flops + attention),
        ("gpus" if days is None else "days", days or gpus, seconds * gpus),
        ("price_per_hour", price, (price or 0.0) * seconds * gpus / HOUR),
    ):
        if not math.isfinite(out):
            raise invalid(field, value, f"a value whose result is finite (got {out})")
    return TrainingRun(
        model.name,
        hw.name,
        dtype,
        float(tokens),
        s,
        flops,
        attention,
        float(gpus),
        float(mfu),
        seconds,
        price,
    )


def chinchilla_tokens(model: Model, basis: Literal["total", "active"] = "total") -> float:
    """Compute-optimal training tokens: 20 per parameter (Hoffmann et al. 2022). The paper's
    models are dense; for MoE models say which count you mean: ``total`` or ``active``."""
    if basis not in ("total", "active"):
        raise invalid("basis", basis, "'total' or 'active'")
    p = model.params
    return CHINCHILLA_TOKENS_PER_PARAM * (p.total if basis == "total" else p.active)


# -- plans ----------------------------------------------------------------------------------------

#: Pipeline schedules a plan takes (the core's ``training::plan::SCHEDULES``).
SCHEDULES = ("gpipe", "1f1b", "interleaved-1f1b", "zb-h1")
#: Activation recomputation, in increasing order.
RECOMPUTE = ("none", "selective", "full")
#: GEMM precision: bf16, or fp8 GEMMs as in Transformer Engine (attention and the rest stay
#: bf16; 16-bit weights plus an fp8 copy, 16-bit gradients, fp32 master weights and moments).
PRECISIONS = ("bf16", "fp8")


@dataclass(frozen=True, slots=True)
class TrainingPlan:
    """How ``tp x cp x pp x dp`` GPUs train a model.

    ``ep`` shards routed experts over that many of the ``dp`` replicas (it must divide ``dp``).
    ``cp`` splits each sequence over that many ranks (context parallelism: ring attention, as
    Megatron and Llama 3; ``seq_len`` a multiple of ``2 cp``). ``precision`` ``fp8`` runs the
    GEMMs at the chip's fp8 peak (refused on chips without fp8). ``offload`` keeps Adam's states
    in host memory, streamed over the chip's ``host_bandwidth`` each step.
    ``schedule``: one of :data:`SCHEDULES`; ``chunks`` model chunks per device for
    ``interleaved-1f1b`` (>= 2), else 1. ``global_batch`` and ``microbatch`` are in sequences of
    ``seq_len`` tokens (see :meth:`from_tokens`). ``recompute``: ``none``, ``selective`` (core
    attention; Korthikanti et al. 2022) or ``full``. ``zero``: ZeRO stage 0-3 (1 shards Adam's
    states over ``dp``, 2 also gradients, 3 also weights). Mixed-precision Adam: 2 + 2 + 12 bytes
    per parameter (Rajbhandari et al. 2020).
    """

    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    microbatch: int = 1
    global_batch: int = 1
    seq_len: int = 2048
    schedule: str = "1f1b"
    chunks: int = 1
    sequence_parallel: bool = True
    recompute: str = "selective"
    zero: int = 1
    precision: str = "bf16"
    cp: int = 1
    offload: bool = False

    def __post_init__(self) -> None:
        for name in (
            "tp",
            "pp",
            "dp",
            "ep",
            "microbatch",
            "global_batch",
            "seq_len",
            "chunks",
            "cp",
        ):
            object.__setattr__(
                self, name, integer(f"TrainingPlan.{name}", getattr(self, name), maximum=1 << 40)
            )
        object.__setattr__(
            self, "zero", integer("TrainingPlan.zero", self.zero, minimum=0, maximum=3)
        )
        for name, options in (
            ("schedule", SCHEDULES),
            ("recompute", RECOMPUTE),
            ("precision", PRECISIONS),
        ):  # stored normalised ("FP8" -> "fp8"): the core takes the lower-case names
            object.__setattr__(
                self, name, choice(f"TrainingPlan.{name}", getattr(self, name), options)
            )
        boolean("TrainingPlan.sequence_parallel", self.sequence_parallel)
        boolean("TrainingPlan.offload", self.offload)
        if self.cp > 1 and self.seq_len % (2 * self.cp):
            raise invalid(
                "TrainingPlan.seq_len",
                self.seq_len,
                f"a multiple of 2 x cp = {2 * self.cp} (the ring splits it into 2 cp chunks)",
            )
        if self.schedule == "interleaved-1f1b" and self.chunks < 2:
            raise invalid("TrainingPlan.chunks", self.chunks, ">= 2 for interleaved-1f1b")
        if self.schedule == "interleaved-1f1b" and self.pp < 2:
            raise invalid("TrainingPlan.pp", self.pp, ">= 2 for interleaved-1f1b")
        if self.schedule != "interleaved-1f1b" and self.chunks != 1:
            raise invalid("TrainingPlan.chunks", self.chunks, f"1 for schedule {self.schedule!r}")
        gpus = self.tp * self.cp * self.pp * self.dp
        if gpus > 1 << 40:
            raise invalid(
                "TrainingPlan.tp x cp x pp x dp",
                gpus,
                f"at most 2^40 = {1 << 40} chips",
            )
        if self.dp % self.ep:
            raise invalid("TrainingPlan.ep", self.ep, f"a divisor of dp = {self.dp}")
        step = self.dp * self.microbatch
        if self.global_batch % step:
            raise invalid(
                "TrainingPlan.global_batch",
                self.global_batch,
                f"a multiple of dp x microbatch = {step} sequences",
            )

    @classmethod
    def from_tokens(cls, batch_tokens: float, seq_len: int, **kw: Any) -> TrainingPlan:
        """A plan whose global batch is ``batch_tokens`` tokens, rounded to whole sequences and
        down to a multiple of ``dp x microbatch``."""
        real("batch_tokens", batch_tokens, strict=True)
        s = integer("seq_len", seq_len)
        step = integer("dp", kw.get("dp", 1)) * integer("microbatch", kw.get("microbatch", 1))
        sequences = max(1, round(batch_tokens / s) // step) * step
        return cls(global_batch=sequences, seq_len=s, **kw)

    @property
    def gpus(self) -> int:
        return self.tp * self.cp * self.pp * self.dp

    @property
    def microbatches(self) -> int:
        """Microbatches each pipeline runs per step."""
        return self.global_batch // (self.dp * self.microbatch)

    @property
    def batch_tokens(self) -> int:
        return self.global_batch * self.seq_len

    def check(self, model: Model) -> None:
        """Raise :class:`~brickwall.errors.InfeasibleError` if the plan does not divide
        ``model`` (heads, KV heads, experts; layers for interleaving; a ``pp`` that does not divide
        the layers prices every stage as the busiest, ``ceil(layers / pp)`` layers); the core
        re-checks the rest."""
        Deployment(lookup_hardware("H100-SXM"), tp=self.tp, pp=1, ep=self.ep).check(model)
        if self.pp > model.layers:
            raise invalid("pp", self.pp, f"at most the {model.layers} layers of {model.name}")
        stages = self.pp * self.chunks
        if self.chunks > 1 and model.layers % stages:
            raise invalid(
                "pp x chunks", stages, f"a divisor of the {model.layers} layers of {model.name}"
            )

    def view(self) -> TrainingPlanView:
        """The plan as the core reads it."""
        return {
            "tp": self.tp,
            "pp": self.pp,
            "dp": self.dp,
            "ep": self.ep,
            "sequence_parallel": self.sequence_parallel,
            "schedule": self.schedule,
            "chunks": self.chunks,
            "microbatch": self.microbatch,
            "global_batch": self.global_batch,
            "seq_len": self.seq_len,
            "recompute": self.recompute,
            "zero": self.zero,
            "cp": self.cp,
            "precision": self.precision,
            "offload": self.offload,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TrainingStep:
    """One optimizer step of a plan (SI: seconds, bytes, FLOP; money USD).

    Times of one stage: ``t_forward`` / ``t_backward`` per microbatch (backward = 2 x the forward's
    compute + its collectives + recomputation: an assumption, see the core's docs);
    ``t_pipeline_busy`` = microbatches x both; ``t_bubble`` the closed-form bubble; ``t_p2p`` the
    fill/drain hops; ``t_dp_exposed`` the data-parallel traffic no pass hides (where it outlasts a pass, the stretch
    of the pipeline; ZeRO-3 also its first gather and last reduce-scatter bucket);
    ``t_optimizer`` Adam's memory-bound update; ``t_offload`` offloaded states crossing the host
    link; ``t_cp_comm`` / ``t_cp_exposed`` the context-parallel ring (one microbatch's forward
    before overlap / forward + backward exposed). ``mfu`` counts model FLOPs
    (:meth:`Model.training_flops_per_token <brickwall.Model.training_flops_per_token>`: 3 x
    forward, 6N per token + attention) over the cluster's dense peak in the GEMMs' precision (fp8
    plans: the fp8 peak); ``hfu`` adds recomputed FLOPs (hardware FLOPs). Memory is per GPU on the
    stage that needs the most (``mem_stage``: 0 the first, which holds the most microbatches; the
    last holds the LM head and ``mem_logits``, one microbatch's fp32 logits).
    """

    model: str
    hardware: str
    plan: TrainingPlan
    step_time: float
    t_forward: float
    t_backward: float
    t_recompute: float
    t_pipeline_busy: float
    t_bubble: float
    t_p2p: float
    t_dp: float
    t_dp_exposed: float
    t_optimizer: float
    t_tp_comm: float
    tokens_per_s: float
    mfu: float
    hfu: float
    model_flops: float
    microbatches: float
    bubble_fraction: float
    mem_weights: float
    mem_grads: float
    mem_optimizer: float
    mem_activations: float
    mem_total: float
    in_flight: float
    headroom: float
    fits: bool
    cost_per_step: float
    gpus: float
    t_cp_comm: float
    t_cp_exposed: float
    t_offload: float
    mem_logits: float
    mem_stage: float
    price_per_hour: float | None = dc_field(default=None)

    @property
    def breakdown(self) -> dict[str, float]:
        """Where the step's seconds go (sums to ``step_time``)."""
        return {
            "compute": self.t_pipeline_busy,
            "bubble": self.t_bubble,
            "pipeline p2p": self.t_p2p,
            "data-parallel (exposed)": self.t_dp_exposed,
            "optimizer": self.t_optimizer,
            "optimizer offload": self.t_offload,
        }

    @property
    def memory(self) -> dict[str, float]:
        """Bytes per GPU by kind (sums to ``mem_total``)."""
        return {
            "weights": self.mem_weights,
            "gradients": self.mem_grads,
            "optimizer": self.mem_optimizer,
            "activations": self.mem_activations,
            "logits": self.mem_logits,
        }

    def seconds_for(self, tokens: float) -> float:
        """Wall seconds to train on ``tokens`` tokens at this step's rate (no failures)."""
        return real("tokens", tokens, strict=True) / self.tokens_per_s

    def cost_for(self, tokens: float) -> float | None:
        """USD to train on ``tokens`` tokens (None when the chip's price is unknown)."""
        if self.price_per_hour is None:
            return None
        return self.seconds_for(tokens) / self.step_time * self.cost_per_step

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "plan"}
        d["plan"] = self.plan.as_dict()
        d["breakdown"] = self.breakdown
        return d


_STEP_FIELDS = tuple(_core.training_columns())


def _inputs(
    model: Model,
    hardware: Hardware | str,
    precisions: Sequence[str],
    efficiency: Efficiency | None,
    price_per_hour: float | None,
) -> tuple[Hardware, Chip, TrainingHost]:
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    hw = lookup_hardware(hardware) if isinstance(hardware, str) else hardware
    if not isinstance(hw, Hardware):
        raise wrong_type("hardware", hardware, "a Hardware or a hardware name")
    if precisions and all(p == "fp8" for p in precisions) and "fp8" not in hw.peak_flops:
        raise invalid(
            "precision",
            "fp8",
            f"bf16 on {hw.name}: it has no fp8 dense peak (it has {', '.join(hw.peak_flops)})",
        )
    # A one-chip bf16 deployment gives the chip as the core reads it; fp8 GEMMs use `host`.
    d = Deployment(
        hw,
        weight_dtype="bf16",
        act_dtype="bf16",
        efficiency=efficiency,
        price_per_hour=price_per_hour,
    )
    host: TrainingHost = {
        "fp8_flops": hw.peak_flops.get("fp8", 0.0),
        "host_bandwidth": hw.host_bandwidth or 0.0,
    }
    return hw, chip_view(d), host


def _vocab(model: Model) -> TrainingVocab:
    """The vocabulary and its tables, for the first and last pipeline stages."""
    p = model.params
    return {
        "vocab": float(model.vocab),
        "embedding_params": float(p.embedding),
        "head_params": float(p.output_head),
    }


def _step(
    model: Model, hw: Hardware, plan: TrainingPlan, row: Any, price: float | None
) -> TrainingStep:
    values = dict(zip(_STEP_FIELDS, (float(x) for x in row), strict=True))
    fits = bool(values.pop("fits"))
    return TrainingStep(model.name, hw.name, plan, fits=fits, price_per_hour=price, **values)


def plan_step(
    model: Model,
    hardware: Hardware | str,
    plan: TrainingPlan,
    *,
    efficiency: Efficiency | None = None,
    price_per_hour: float | None = None,
) -> TrainingStep:
    """Memory per GPU and the time of one optimizer step of ``plan``.

    >>> import brickwall as bw
    >>> plan = bw.TrainingPlan(tp=8, pp=4, dp=4, microbatch=1, global_batch=512, seq_len=2048)
    >>> s = bw.plan_step(bw.model("llama3.1-70b"), "H100-SXM", plan)
    >>> 0 < s.mfu < 1 and s.fits
    True
    """
    if not isinstance(plan, TrainingPlan):
        raise wrong_type("plan", plan, "a TrainingPlan")
    hw, chip, host = _inputs(model, hardware, (plan.precision,), efficiency, price_per_hour)
    plan.check(model)
    row = _core.training_step(
        cost_view(model), float(model.heads), chip, plan.view(), vocab=_vocab(model), host=host
    )
    price = price_per_hour if price_per_hour is not None else hw.price_per_hour
    return _step(model, hw, plan, row, price)


@dataclass(frozen=True, slots=True)
class PlanSearch:
    """The kept plans of a search, best first, and how many points were evaluated / feasible."""

    objectives: tuple[str, ...]
    steps: tuple[TrainingStep, ...]
    points: int
    evaluated: int
    feasible: int

    @property
    def best(self) -> TrainingStep:
        if not self.steps:
            raise ValidationError("no plan fits: more GPUs, a smaller microbatch or more sharding")
        return self.steps[0]


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


OBJECTIVES = ("step_time", "memory", "headroom", "mfu", "cost")


@dataclass(frozen=True, slots=True)
class _SearchCall:
    """The arguments of one plan search's core calls (picklable, so executors can run parts)."""

    model: ModelCosts
    heads: float
    chip: Chip
    gpus: int
    global_batch: int
    seq_len: int
    axes: TrainingAxes
    require_fits: bool
    objectives: list[str]
    keep: str
    k: int
    vocab: TrainingVocab
    host: TrainingHost

    def run(
        self,
        lo: int | None = None,
        hi: int | None = None,
        progress: Callable[[int], Any] | None = None,
    ) -> dict[str, Any]:
        return _core.training_search(
            self.model,
            self.heads,
            self.chip,
            self.gpus,
            self.global_batch,
            self.seq_len,
            self.axes,
            self.require_fits,
            self.objectives,
            self.keep,
            self.k,
            progress=progress,
            vocab=self.vocab,
            host=self.host,
            lo=lo,
            hi=hi,
        )


def _run_part(call: _SearchCall, lo: int, hi: int) -> dict[str, Any]:
    """One executor worker's share of a plan search: grid points [lo, hi)."""
    return call.run(lo, hi)


def _distributed(call: _SearchCall, executor: Executor, parts: int) -> dict[str, Any]:
    """The search split over ``executor`` in ``parts`` slices, merged as the core's reducer
    would have kept them in one run (same rows, same order)."""
    executor = checked(executor, keys=("index", "keys", "table", "plans", "evaluated", "feasible"))
    points = int(call.run(0, 0)["points"])
    step = max(1, -(-points // parts))
    futures = [
        executor.submit(_run_part, call, a, min(a + step, points)) for a in range(0, points, step)
    ]
    try:
        outs = [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    dims = len(call.objectives)
    index = np.concatenate([o["index"] for o in outs]).astype(np.uint64)
    keys = np.concatenate([np.asarray(o["keys"], dtype=np.float64) for o in outs])
    table = np.concatenate([o["table"] for o in outs]) if outs else np.zeros((0, len(_STEP_FIELDS)))
    plans = [p for o in outs for p in o["plans"]]
    kept = _core.sweep_pareto_reduce(
        np.ascontiguousarray(keys), index, ["min"] * dims, call.keep, call.k
    )
    where = {int(ix): n for n, ix in enumerate(index)}
    order = [where[int(ix)] for ix in kept]
    return {
        "index": index[order],
        "table": table[order],
        "plans": [plans[n] for n in order],
        "evaluated": sum(int(o["evaluated"]) for o in outs),
        "feasible": sum(int(o["feasible"]) for o in outs),
        "points": points,
    }


def _axis(name: str, values: Any, check: Callable[[str, Any], Any]) -> list[Any]:
    """A search axis: one value or a sequence of them, each checked."""
    seq = [values] if isinstance(values, (str, bool, int)) else list(values)
    if not seq:
        raise invalid(name, values, ">= 1 choice")
    return [check(name, v) for v in seq]


def search_plans(
    model: Model,
    hardware: Hardware | str,
    gpus: int,
    global_batch: int,
    seq_len: int,
    *,
    tp: Sequence[int] | None = None,
    pp: Sequence[int] | None = None,
    ep: Sequence[int] = (1,),
    cp: Sequence[int] = (1,),
    microbatch: Sequence[int] = (1, 2, 4, 8),
    schedules: Sequence[str | tuple[str, int]] = ("1f1b", ("interleaved-1f1b", 2)),
    recompute: Sequence[str] = RECOMPUTE,
    zero: Sequence[int] = (0, 1, 2, 3),
    sequence_parallel: Sequence[bool] = (True,),
    offload: Sequence[bool] = (False,),
    objectives: Sequence[str] = ("step_time",),
    keep: Literal["top", "pareto", "all"] = "top",
    k: int = 10,
    require_fits: bool = True,
    precision: str | Sequence[str] = "bf16",
    efficiency: Efficiency | None = None,
    price_per_hour: float | None = None,
    progress: Callable[[int], Any] | None = None,
    executor: Executor | None = None,
    parts: int = 8,
) -> PlanSearch:
    """The best plans of ``gpus`` GPUs for a global batch of ``global_batch`` sequences, on the
    core's grid engine (plans that do not divide or do not fit are skipped). ``tp`` defaults to
    the divisors of the heads up to the scale-up domain, ``pp`` to the divisors of the layers up
    to 64. ``cp``, ``offload`` and ``precision`` (one or several of :data:`PRECISIONS`) are axes
    too; fp8 on a chip without an fp8 peak and offload on one without a host bandwidth are
    skipped (counted in ``points``, not feasible), refused only when nothing else is asked.
    ``schedules``: names or ``(name, chunks)``, chunks as :class:`TrainingPlan` takes them.
    ``objectives`` from :data:`OBJECTIVES`; ``keep="top"`` ranks by the first,
    ``"pareto"`` keeps the frontier of 2 or 3. ``executor`` (any
    ``concurrent.futures.Executor``, e.g. a Dask client's) runs the grid in ``parts`` slices;
    the merged result is the local run's.

    >>> import brickwall as bw
    >>> r = bw.search_plans(bw.model("llama3.1-8b"), "H100-SXM", 64, 512, 4096, k=3)
    >>> r.best.fits and r.feasible > 0
    True
    """
    asked = _axis("precision", precision, lambda n, v: choice(n, v, PRECISIONS))
    hw, chip, host = _inputs(model, hardware, asked, efficiency, price_per_hour)
    # Plans the chip cannot run (fp8 without an fp8 peak, offload without a host link) are left
    # out of the grid and counted as points that are not feasible; all of an axis refuses above.
    precisions = [p for p in asked if p != "fp8" or "fp8" in hw.peak_flops]
    offloads = _axis("offload", offload, boolean)
    runnable = [o for o in offloads if not o or hw.host_bandwidth]
    if not runnable:
        raise invalid(
            "offload",
            True,
            f"False on {hw.name}: it has no known host bandwidth (Hardware.host_bandwidth)",
        )
    gpus = integer("gpus", gpus, maximum=1 << 40)
    global_batch = integer("global_batch", global_batch, maximum=1 << 40)
    seq_len = integer("seq_len", seq_len, maximum=1 << 40)
    choice("keep", keep, ("top", "pareto", "all"))
    k = integer("k", k)
    parts = integer("parts", parts, maximum=1 << 16)
    for o in objectives:
        choice("objectives", o, OBJECTIVES)
    sched: list[tuple[str, int]] = []
    for s in schedules:
        name, v = (s, 2 if s == "interleaved-1f1b" else 1) if isinstance(s, str) else s
        name, v = choice("schedules", name, SCHEDULES), integer("chunks", v)
        if (name == "interleaved-1f1b") != (v >= 2):  # what TrainingPlan takes
            want = ">= 2 for interleaved-1f1b" if name == "interleaved-1f1b" else f"1 for {name!r}"
            raise invalid("schedules", s, f"(schedule, chunks) with chunks {want}")
        sched.append((name, v))
    for r in recompute:
        choice("recompute", r, RECOMPUTE)
    tps = list(tp) if tp is not None else _divisors(model.heads, hw.scale_up_domain)
    pps = list(pp) if pp is not None else _divisors(model.layers, 64)
    axes: TrainingAxes = {
        "tp": [integer("tp", x) for x in tps],
        "pp": [integer("pp", x) for x in pps],
        "ep": [integer("ep", x) for x in ep],
        "microbatch": [integer("microbatch", x) for x in microbatch],
        "schedule": sched,
        "recompute": list(recompute),
        "zero": [integer("zero", z, minimum=0, maximum=3) for z in zero],
        "sequence_parallel": [boolean("sequence_parallel", b) for b in sequence_parallel],
        "cp": [integer("cp", x) for x in cp],
        "precision": precisions,
        "offload": runnable,
    }
    call = _SearchCall(
        cost_view(model),
        float(model.heads),
        chip,
        gpus,
        global_batch,
        seq_len,
        axes,
        require_fits,
        list(objectives),
        keep,
        k,
        _vocab(model),
        host,
    )
    out = call.run(progress=progress) if executor is None else _distributed(call, executor, parts)
    price = price_per_hour if price_per_hour is not None else hw.price_per_hour
    steps = []
    for plan_d, row in zip(out["plans"], out["table"], strict=True):
        plan = TrainingPlan(**plan_d)
        steps.append(_step(model, hw, plan, row, price))
    left_out = len(asked) * len(offloads) / (len(precisions) * len(runnable))
    return PlanSearch(
        tuple(objectives),
        tuple(steps),
        round(out["points"] * left_out),
        out["evaluated"],
        out["feasible"],
    )


# -- goodput ---------------------------------------------------------------------------------------

#: Unexpected job interruptions per GPU-hour in Llama 3 405B pre-training: 419 in a 54-day
#: snapshot on up to 16,384 H100 GPUs (Dubey et al. 2024, "The Llama 3 Herd of Models", s3.3.4
#: and Table 5): 419 / (54 x 24 x 16384).
LLAMA3_INTERRUPTIONS_PER_GPU_HOUR = 419 / (54 * 24 * 16384)


@dataclass(frozen=True, slots=True)
class Goodput:
    """A run of ``work`` productive seconds under failures (SI seconds).

    ``mtbf`` of the whole job; ``interval`` of computation between checkpoints (Daly's optimum
    unless given); ``expected_seconds`` the expected wall time (Daly 2006's model);
    ``productive_fraction`` = work / expected; ``effective_mfu`` = MFU x that fraction.
    ``simulated_seconds``: the Monte Carlo's runs (empty when ``trials = 0``).
    """

    work: float
    gpus: int
    mtbf: float
    restart: float
    checkpoint_write: float
    interval: float
    young_interval: float
    daly_interval: float
    expected_seconds: float
    productive_fraction: float
    mfu: float | None
    effective_mfu: float | None
    simulated_seconds: tuple[float, ...]

    def quantile(self, q: float) -> float:
        """Quantile ``q`` of the simulated wall seconds."""
        if not self.simulated_seconds:
            raise ValidationError("no Monte Carlo runs: pass trials >= 1 to goodput()")
        return float(np.quantile(self.simulated_seconds, real("q", q, maximum=1.0)))

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "simulated_seconds"}
        if self.simulated_seconds:
            d["simulated_days"] = {
                f"p{int(q * 100)}": self.quantile(q) / DAY for q in (0.1, 0.5, 0.9)
            }
        return d


def goodput(
    work: float | TrainingStep,
    *,
    gpus: int | None = None,
    tokens: float | None = None,
    mtbf: float | None = None,
    interruptions_per_gpu_hour: float = LLAMA3_INTERRUPTIONS_PER_GPU_HOUR,
    restart: float = 20 * 60.0,
    checkpoint_write: float = 5 * 60.0,
    interval: float | None = None,
    trials: int = 0,
    seed: int = 0,
    progress: Callable[[int], Any] | None = None,
) -> Goodput:
    """Expected productive fraction of a run and, with ``trials``, a Monte Carlo of its days.

    ``work``: productive seconds, or a :class:`TrainingStep` with ``tokens`` (then ``gpus`` and
    the MFU come from it). The job's ``mtbf`` (seconds) defaults to one over ``gpus x
    interruptions_per_gpu_hour`` (default: Llama 3's rate). ``restart`` (detect, re-queue,
    reload; default 20 min, an assumption) and ``checkpoint_write`` (default 5 min, an
    assumption) in seconds; ``interval`` defaults to Daly's optimum.

    Llama 3's rate is 419 interruptions in 54 days on 16,384 GPUs, so a 16,384-GPU job is
    interrupted every 54 x 24 / 419 = 3.09 hours; Young's first-order waste with 5 min
    checkpoints and 20 min restarts, sqrt(2 x 300 / 11,135) + 1,200 / 11,135 = 0.34 of the
    work, puts the productive fraction near 1 / 1.34 = 0.75 (Daly's form is a little lower):

    >>> import brickwall as bw
    >>> g = bw.goodput(30 * 86400.0, gpus=16384)
    >>> round(g.mtbf / 3600, 2)
    3.09
    >>> 0.65 < g.productive_fraction < 0.75
    True
    """
    mfu: float | None = None
    if isinstance(work, TrainingStep):
        if tokens is None:
            raise invalid("tokens", None, "the token budget when work is a TrainingStep")
        gpus = int(work.gpus) if gpus is None else gpus
        mfu = work.mfu
        seconds = work.seconds_for(tokens)
    else:
        seconds = real("work", work, strict=True)
    if mtbf is None:
        if gpus is None:
            raise invalid("gpus", None, "a GPU count (or give mtbf)")
        gpus = integer("gpus", gpus, maximum=1 << 40)
        rate = real("interruptions_per_gpu_hour", interruptions_per_gpu_hour, strict=True)
        mtbf = HOUR / (gpus * rate)
    else:
        mtbf = real("mtbf", mtbf, strict=True)
        gpus = 0 if gpus is None else integer("gpus", gpus, maximum=1 << 40)
    young, daly = _core.training_checkpoint_intervals(
        real("checkpoint_write", checkpoint_write, strict=True), mtbf
    )
    tau = daly if interval is None else real("interval", interval, strict=True)
    failures: Failures = {
        "mtbf": mtbf,
        "restart": real("restart", restart),
        "checkpoint_write": checkpoint_write,
        "interval": tau,
    }
    expected = _core.training_expected_wall(failures, seconds)
    trials = integer("trials", trials, minimum=0, maximum=1 << 32)
    runs: tuple[float, ...] = ()
    if trials:
        seed = integer("seed", seed, minimum=0, maximum=(1 << 64) - 1)
        sim = _core.training_simulate_failures(failures, seconds, trials, seed, progress=progress)
        runs = tuple(float(x) for x in sim)
    fraction = seconds / expected
    return Goodput(
        seconds,
        gpus,
        mtbf,
        restart,
        checkpoint_write,
        tau,
        young,
        daly,
        expected,
        fraction,
        mfu,
        None if mfu is None else mfu * fraction,
        runs,
    )


__all__ = [
    "CHINCHILLA_TOKENS_PER_PARAM",
    "LLAMA3_INTERRUPTIONS_PER_GPU_HOUR",
    "OBJECTIVES",
    "PRECISIONS",
    "RECOMPUTE",
    "SCHEDULES",
    "Goodput",
    "PlanSearch",
    "TrainingPlan",
    "TrainingRun",
    "TrainingStep",
    "chinchilla_tokens",
    "goodput",
    "plan_step",
    "search_plans",
    "training_flops",
    "training_run",
]
