"""Pipeline-parallel schedules: bubbles, activation memory and timelines.

Each schedule (GPipe, 1F1B, interleaved 1F1B, zero-bubble ZB-H1 / ZB-H2, forward-only inference)
is a per-device op order; the Rust core runs it as a dependency DAG with heterogeneous stage
times and p2p latency (docs/sources.md, "Pipeline schedules") and returns the exact timeline.

Times are seconds (any consistent unit works: ratios like ``forward=1, backward=2`` give
makespans in units of one forward).

>>> from brickwall import pipeline
>>> s = pipeline.simulate("1f1b", 4, 8, forward=1.0, backward=2.0)
>>> s.makespan, round(s.bubble_fraction, 4)  # (m + p - 1)(f + b), (p - 1) / (m + p - 1)
(33.0, 0.2727)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .errors import invalid
from .validate import array, choice, integer, real

SCHEDULES = ("gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "forward")
"""Schedule names accepted by :func:`simulate`."""
KINDS = ("F", "B", "W")
"""Op kinds by code in :attr:`Timeline.kind`: 0 forward, 1 backward, 2 weight gradient."""
BACKWARD_PER_FORWARD = 2.0
"""The backward's time in forwards when a caller gives none: the input and the weight gradient
each cost about one forward. Every ``backward=None`` below means ``BACKWARD_PER_FORWARD x
forward`` (0 for the forward-only schedule)."""


def _default_backward(schedule: str, forward: ArrayLike) -> ArrayLike:
    if schedule == "forward":
        return 0.0
    return np.asarray(forward, dtype=np.float64) * BACKWARD_PER_FORWARD


@dataclass(frozen=True, slots=True)
class Timeline:
    """One row per op, device-major and in each device's order."""

    stage: NDArray[np.uint32]
    kind: NDArray[np.uint8]
    """0 = F, 1 = B (input gradient when W is split off, else the whole backward), 2 = W."""
    microbatch: NDArray[np.uint32]
    chunk: NDArray[np.uint32]
    start: NDArray[np.float64]
    """seconds"""
    end: NDArray[np.float64]
    """seconds"""

    def __len__(self) -> int:
        return int(self.start.size)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A simulated pipeline schedule."""

    schedule: str
    stages: int
    microbatches: int
    chunks: int
    p2p: float
    """seconds per hop between devices"""
    makespan: float
    """seconds from the first op's start to the last op's end"""
    busy: NDArray[np.float64]
    """seconds each device computes"""
    idle: NDArray[np.float64]
    """makespan - busy per device, seconds"""
    bubble: float
    """total idle, device-seconds"""
    bubble_fraction: float
    """bubble / (stages x makespan): the share of device time lost"""
    bubble_ratio: float
    """bubble / total busy: idle relative to the ideal (the (p-1)/m convention)"""
    peak_in_flight: NDArray[np.float64]
    """most microbatches' activations a device holds at once (F done, B not done); 1 when
    forward-only"""
    peak_activation_bytes: NDArray[np.float64] | None
    """peak_in_flight x activation_bytes, when activation_bytes was given"""
    lower_bound: float
    """no schedule of these stage times can finish sooner (:func:`lower_bound`), seconds"""
    timeline: Timeline

    def __repr__(self) -> str:
        chunks = f" x {self.chunks} chunks" if self.chunks > 1 else ""
        return (
            f"Schedule({self.schedule}: {self.stages} stages x {self.microbatches} microbatches"
            f"{chunks}, makespan {self.makespan:.6g} s (lower bound {self.lower_bound:.6g}), "
            f"bubble {self.bubble_fraction:.2%} of device time, peak in-flight "
            f"{self.peak_in_flight.max():.4g} microbatches, timeline of {len(self.timeline):,} ops)"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "stages": self.stages,
            "microbatches": self.microbatches,
            "chunks": self.chunks,
            "p2p_s": self.p2p,
            "makespan_s": self.makespan,
            "bubble_s": self.bubble,
            "bubble_fraction": self.bubble_fraction,
            "bubble_ratio": self.bubble_ratio,
            "lower_bound_s": self.lower_bound,
            "busy_s": self.busy.tolist(),
            "idle_s": self.idle.tolist(),
            "peak_in_flight": self.peak_in_flight.tolist(),
            "peak_activation_bytes": None
            if self.peak_activation_bytes is None
            else self.peak_activation_bytes.tolist(),
        }


def _times(field: str, value: ArrayLike, stages: int, chunks: int) -> NDArray[np.float64]:
    a = array(field, value, np.float64, minimum=0.0)
    allowed = {1, stages} | ({stages * chunks} if chunks > 1 else set())
    if a.size not in allowed:
        raise invalid(f"len({field})", a.size, " or ".join(str(x) for x in sorted(allowed)))
    return a


def _per_device(a: NDArray[np.float64], stages: int, chunks: int) -> NDArray[np.float64]:
    """Per-device totals (a per-virtual-stage array summed over chunks)."""
    if a.size == 1:
        return np.full(stages, float(a[0]))
    if a.size == stages:
        return a
    return np.asarray(a.reshape(chunks, stages).sum(axis=0))


def simulate(
    schedule: str,
    stages: int,
    microbatches: int,
    forward: ArrayLike,
    backward: ArrayLike | None = None,
    weight_grad: ArrayLike | None = None,
    chunks: int = 1,
    p2p: float = 0.0,
    *,
    activation_bytes: ArrayLike | None = None,
    progress: Callable[[int], Any] | None = None,
) -> Schedule:
    """Simulate ``schedule`` on ``stages`` devices for ``microbatches`` microbatches.

    ``forward`` / ``backward`` / ``weight_grad``: seconds per microbatch, one number or one per
    stage (or per virtual stage, ``stages x chunks``, for interleaved); ``backward`` defaults to
    :data:`BACKWARD_PER_FORWARD` x ``forward`` (0 for ``forward``). Without ``weight_grad``
    ``backward`` is the full backward; with it, ``backward`` is the input-gradient part and
    ``weight_grad`` the weight-gradient part (zb-h1 / zb-h2 need it; the other schedules run the
    two fused). ``chunks`` > 1 only with ``interleaved-1f1b`` (microbatches a multiple of
    stages). ``p2p``: seconds added per hop between devices. ``activation_bytes``: bytes of one
    microbatch's activations on each device, to report peak activation memory in bytes.
    ``progress``: called with the number of ops done (long runs).

    Orders: GPipe (all F, then all B); 1F1B (``p-1-d`` warm-up forwards on device d);
    interleaved 1F1B (Megatron's order over ``chunks``); ZB-H1 (1F1B's forwards, W of device d
    deferred d steps: bubble ``(p-1)(F+B-W)`` for m >= p and W <= min(F, B)); ZB-H2 (``2(p-d)-1``
    warm-up forwards, W deferred ``ceil(sum_{s<d} b_s / w_d)`` steps so the tail's W's cover the
    backward chain; falls back to ZB-H1's order when m < 2p); forward (inference).

    >>> simulate("zb-h1", 4, 8, 1.0, 1.0, weight_grad=1.0).bubble  # 1F1B's (p-1)(F+B+W) / 3
    12.0
    """
    schedule = choice("schedule", schedule, SCHEDULES)
    stages = integer("stages", stages)
    microbatches = integer("microbatches", microbatches)
    chunks = integer("chunks", chunks)
    p2p = real("p2p", p2p)
    f = _times("forward", forward, stages, chunks)
    if backward is None:
        backward = _default_backward(schedule, f)
    b = _times("backward", backward, stages, chunks)
    w = None if weight_grad is None else _times("weight_grad", weight_grad, stages, chunks)
    if schedule == "forward" and (np.any(b != 0) or w is not None):
        raise invalid("backward", backward, "0 and weight_grad None for the forward-only schedule")
    raw = _core.pipeline_simulate(schedule, stages, microbatches, chunks, f, b, w, p2p, progress)
    peak = raw["peak_in_flight"]
    peak_bytes = None
    if activation_bytes is not None:
        act = array("activation_bytes", activation_bytes, np.float64, minimum=0.0)
        if act.size not in (1, stages):
            raise invalid("len(activation_bytes)", act.size, f"1 or {stages}")
        peak_bytes = peak * act
    timeline = Timeline(
        stage=raw["stage"],
        kind=raw["kind"],
        microbatch=raw["microbatch"],
        chunk=raw["chunk"],
        start=raw["start"],
        end=raw["end"],
    )
    bound = lower_bound(
        f,
        b,
        w,
        microbatches,
        p2p,
        stages=stages,
        chunks=chunks,
        split=schedule in ("zb-h1", "zb-h2"),
        forward_only=schedule == "forward",
    )
    return Schedule(
        schedule=schedule,
        stages=stages,
        microbatches=microbatches,
        chunks=chunks,
        p2p=p2p,
        makespan=float(raw["makespan"]),
        busy=raw["busy"],
        idle=raw["idle"],
        bubble=float(raw["bubble"]),
        bubble_fraction=float(raw["bubble_fraction"]),
        bubble_ratio=float(raw["bubble_ratio"]),
        peak_in_flight=peak,
        peak_activation_bytes=peak_bytes,
        lower_bound=bound,
        timeline=timeline,
    )


def lower_bound(
    forward: ArrayLike,
    backward: ArrayLike,
    weight_grad: ArrayLike | None,
    microbatches: int,
    p2p: float = 0.0,
    *,
    stages: int | None = None,
    chunks: int = 1,
    split: bool = False,
    forward_only: bool = False,
) -> float:
    """Seconds no schedule of these stage times can beat (derived: docs/sources.md).

    Times are per virtual stage (``stages x chunks`` values, chunk-major) or per device (divided
    evenly over chunks). Training: device d cannot start before the first forward reaches it
    through the chunk-0 stages above it, must do all its work, and its last backward must still
    travel up through a stage of every device above (and the head run a last W when W is split):
    ``max_d [sum_{s<d} f_{0,s} + m sum_c (f + b)_{c,d} + sum_{s<d} min_c b_{c,s} + 2 d p2p]``, b the full
    backward when fused. Forward-only: ``max_s [sum_{s' != s} f + m f_s] + (p - 1) p2p``.
    """
    f = np.atleast_1d(np.asarray(forward, dtype=np.float64))
    p = int(stages) if stages is not None else (f.size if f.size > 1 else 1)
    v = int(chunks)

    def per_vs(a: ArrayLike | None) -> NDArray[np.float64]:
        x = np.zeros(1) if a is None else np.atleast_1d(np.asarray(a, dtype=np.float64))
        if x.size == p * v and v > 1:
            return x.reshape(v, p)
        x = np.broadcast_to(x, (p,)) if x.size == 1 else x
        return np.tile(x / v, (v, 1))

    fv, bv, wv = per_vs(f), per_vs(backward), per_vs(weight_grad)
    b_in = bv if split else bv + wv
    m = microbatches
    best = 0.0
    for d in range(p):
        up_f = float(fv[0, :d].sum())
        if forward_only:
            t = float(fv[0].sum() - fv[0, d]) + m * float(fv[0, d]) + (p - 1) * p2p
        else:
            work = m * float(fv[:, d].sum() + b_in[:, d].sum() + (wv[:, d].sum() if split else 0.0))
            device = up_f + d * p2p + work
            chain = (
                up_f
                + m * float(fv[:, d].sum() + b_in[:, d].sum())
                + float(b_in[:, :d].min(axis=0).sum())
                + 2 * d * p2p
            )
            if split:
                chain += float(wv[0, 0])
            t = max(device, chain)
        best = max(best, t)
    return best


@dataclass(frozen=True, slots=True)
class Inference:
    """A forward-only pipeline of microbatches (e.g. decode batches through p stages)."""

    latency: float
    """seconds until the last microbatch leaves the last stage"""
    first_latency: float
    """seconds until the first microbatch leaves the last stage"""
    throughput: float
    """microbatches per second over the whole run"""
    steady_throughput: float
    """1 / slowest stage: the rate once the pipeline is full, microbatches per second"""
    schedule: Schedule


def inference(stages: int, microbatches: int, forward: ArrayLike, p2p: float = 0.0) -> Inference:
    """Latency and throughput of ``microbatches`` forward passes through ``stages`` stages of
    ``forward`` seconds each (one number or one per stage). Without p2p latency the total is
    ``sum(t) + (m - 1) max(t)``.

    >>> inference(4, 10, [1.0, 2.0, 1.0, 1.0]).latency  # 5 + 9 x 2
    23.0
    """
    s = simulate("forward", stages, microbatches, forward, 0.0, None, 1, p2p)
    t = s.timeline
    last = (t.stage == stages - 1) & (t.microbatch == 0)
    first = float(t.end[last][0])
    slowest = float(np.max(_per_device(_times("forward", forward, stages, 1), stages, 1)))
    return Inference(
        latency=s.makespan,
        first_latency=first,
        throughput=microbatches / s.makespan if s.makespan > 0 else math.inf,
        steady_throughput=1.0 / slowest if slowest > 0 else math.inf,
        schedule=s,
    )


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Per-microbatch times (seconds, one value or one per stage) to :func:`simulate` a schedule
    with, and how the defaults filled them in (``note``, empty when nothing was split)."""

    forward: NDArray[np.float64]
    backward: NDArray[np.float64]
    weight_grad: NDArray[np.float64] | None
    note: str


def stage_times(
    schedule: str,
    forward: ArrayLike = 1.0,
    backward: ArrayLike | None = None,
    weight_grad: ArrayLike | None = None,
) -> StageTimes:
    """The times a training step of ``schedule`` runs with when only some are known: backward
    defaults to twice the forward (the usual 1:2, as :func:`bubble_fraction` assumes); the
    zero-bubble schedules (zb-h1, zb-h2) without ``weight_grad`` split the backward evenly into
    B and W; ``"forward"`` (inference) has no backward.

    >>> t = stage_times("zb-h1", [1.0, 2.0])
    >>> t.backward.tolist(), t.weight_grad.tolist(), t.note
    ([1.0, 2.0], [1.0, 2.0], 'backward split evenly into B and W')
    """
    schedule = choice("schedule", schedule, SCHEDULES)
    f = array("forward", forward, np.float64, minimum=0.0, ndim=None).ravel()
    if schedule == "forward":
        # Inference has no backward: a time given for one would be silently ignored.
        if backward is not None and np.any(
            array("backward", backward, np.float64, minimum=0.0, ndim=None)
        ):
            raise invalid("backward", backward, "0 or None for the forward-only schedule")
        if weight_grad is not None:
            raise invalid("weight_grad", weight_grad, "None for the forward-only schedule")
        return StageTimes(f, np.zeros(1), None, "")
    b = (
        2.0 * f
        if backward is None
        else array("backward", backward, np.float64, minimum=0.0, ndim=None).ravel()
    )
    w = (
        None
        if weight_grad is None
        else array("weight_grad", weight_grad, np.float64, minimum=0.0, ndim=None).ravel()
    )
    if schedule in ("zb-h1", "zb-h2") and w is None:
        return StageTimes(f, b / 2.0, b / 2.0, "backward split evenly into B and W")
    return StageTimes(f, b, w, "")


@dataclass(frozen=True, slots=True)
class BubbleComparison:
    """Simulated bubble fraction of several schedules over microbatch counts."""

    stages: int
    microbatches: NDArray[np.int64]
    bubble_fraction: dict[str, NDArray[np.float64]]
    """by schedule label (``"interleaved-1f1b (v=2)"`` names its chunks), aligned with
    ``microbatches``; NaN where the schedule does not apply (interleaved: m not a multiple of
    stages)"""

    def summary(self) -> dict[str, Any]:
        return {
            "stages": self.stages,
            "microbatches": self.microbatches.tolist(),
            "bubble_fraction": {k: v.tolist() for k, v in self.bubble_fraction.items()},
        }


def compare_bubbles(
    schedules: Sequence[str],
    stages: int,
    microbatches: ArrayLike = (),
    forward: ArrayLike = 1.0,
    backward: ArrayLike | None = None,
    weight_grad: ArrayLike | None = None,
    chunks: int | None = None,
    p2p: float = 0.0,
) -> BubbleComparison:
    """:func:`simulate` each of ``schedules`` at ``stages x 1, 2, 4, ..., 32`` microbatches plus
    any given in ``microbatches``, with :func:`stage_times` filling in the times;
    interleaved-1f1b runs with ``chunks`` chunks per device (default 2).

    >>> c = compare_bubbles(["1f1b", "interleaved-1f1b"], 4, [6])
    >>> c.microbatches.tolist()[:3], c.bubble_fraction["1f1b"][:3].round(4).tolist()
    ([4, 6, 8], [0.4286, 0.3333, 0.2727])
    """
    names = [choice("schedule", s, SCHEDULES) for s in schedules]
    if not names:
        raise invalid("schedules", schedules, "at least one of " + ", ".join(SCHEDULES))
    p = integer("stages", stages)
    v_il = 2 if chunks is None else integer("chunks", chunks, minimum=2)
    extra = array("microbatches", microbatches, np.int64, minimum=1.0, ndim=None).ravel().tolist()
    grid = np.array(sorted({p * k for k in (1, 2, 4, 8, 16, 32)} | set(extra)), dtype=np.int64)
    curves: dict[str, NDArray[np.float64]] = {}
    for name in names:
        t = stage_times(name, forward, backward, weight_grad)
        v = v_il if name == "interleaved-1f1b" else 1
        curves[f"{name} (v={v})" if v > 1 else name] = np.array(
            [
                math.nan
                if (v > 1 and m % p)
                else simulate(
                    name, p, int(m), t.forward, t.backward, t.weight_grad, v, p2p
                ).bubble_fraction
                for m in grid
            ]
        )
    return BubbleComparison(p, grid, curves)


@dataclass(frozen=True, slots=True)
class Balance:
    """A contiguous assignment of layers to pipeline stages."""

    layers: NDArray[np.int64]
    """layers on each stage, head first"""
    first_layer: NDArray[np.int64]
    """index of each stage's first layer"""
    stage_times: NDArray[np.float64]
    """each stage's time including head / tail extras"""
    bottleneck: float
    """the slowest stage's time: the pipeline's step rate is 1 / bottleneck"""
    imbalance: float
    """bottleneck / mean stage time (1 = perfectly balanced)"""


def balance_layers(
    layer_times: ArrayLike, stages: int, head_extra: float = 0.0, tail_extra: float = 0.0
) -> Balance:
    """The contiguous assignment of layers to ``stages`` non-empty stages that minimises the
    slowest stage; the first stage also pays ``head_extra`` (embedding, data loading) and the
    last ``tail_extra`` (output head, loss), in the units of ``layer_times``. Among optimal
    assignments: the most even (smallest sum of squared stage times), then the lightest head.
    ``layer_times``: one time per layer, or (int) a number of equal layers.

    >>> b = balance_layers(120, 16, head_extra=1.0)  # 120 layers, 16 stages, embedding = 1 layer
    >>> b.layers.tolist(), b.bottleneck
    ([6, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8], 8.0)
    """
    if isinstance(layer_times, (int, np.integer)) and not isinstance(layer_times, bool):
        # a layer count: bounded before allocating (the DP refuses far fewer anyway)
        t = np.ones(integer("layer_times", layer_times, maximum=1_000_000), dtype=np.float64)
    else:
        t = array("layer_times", layer_times, np.float64, minimum=0.0)
    stages = integer("stages", stages)
    head_extra = real("head_extra", head_extra)
    tail_extra = real("tail_extra", tail_extra)
    counts = _core.pipeline_balance_layers(t, stages, head_extra, tail_extra).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    times = np.array([t[a : a + c].sum() for a, c in zip(first, counts)], dtype=np.float64)
    times[0] += head_extra
    times[-1] += tail_extra
    worst = float(times.max())
    mean = float(times.mean())
    return Balance(
        layers=counts,
        first_layer=first,
        stage_times=times,
        bottleneck=worst,
        imbalance=worst / mean if mean > 0 else 1.0,
    )


def _counts(field: str, value: ArrayLike) -> NDArray[np.uint64]:
    # uint64 arrays go straight to the core, which checks every element (>= 1, combinations);
    # anything else is validated and converted here.
    if isinstance(value, np.ndarray) and value.dtype == np.uint64:
        return value
    return array(field, value, np.uint64, minimum=1.0, ndim=None)


def bubble_fraction(
    schedule: str,
    stages: ArrayLike,
    microbatches: ArrayLike,
    chunks: ArrayLike = 1,
    *,
    forward: float = 1.0,
    backward: float | None = None,
    weight_grad: float | None = None,
) -> Any:
    """Closed-form bubble fraction (idle / total device time) for uniform stages without p2p
    latency, vectorised over (broadcast) arrays of stages, microbatches and chunks. Exact for the
    schedules :func:`simulate` runs (Narayanan et al. 2021 s2.2; Qi et al. 2024): GPipe / 1F1B
    ``(p-1)/(m+p-1)``, interleaved ``(p-1)/(v m + p-1)``, ZB-H1 with ``(p-1)(F+B-W)`` (m >= p,
    W <= min(F, B)), forward-only. ZB-H2 has no closed form: use :func:`simulate`. Returns a
    float for scalars. ``backward`` defaults to :data:`BACKWARD_PER_FORWARD` x ``forward`` (0
    for ``forward``).

    >>> bubble_fraction("1f1b", 15, [35, 70, 140]).round(4).tolist()
    [0.2857, 0.1667, 0.0909]
    """
    schedule = choice("schedule", schedule, SCHEDULES)
    real("forward", forward)
    if backward is None:
        backward = float(_default_backward(schedule, forward))  # type: ignore[arg-type]
    real("backward", backward)
    if weight_grad is not None:
        real("weight_grad", weight_grad)
    p = _counts("stages", stages)
    m = _counts("microbatches", microbatches)
    v = _counts("chunks", chunks)
    try:
        p, m, v = np.broadcast_arrays(p, m, v)
    except ValueError as e:
        raise invalid("shapes", (p.shape, m.shape, v.shape), "broadcastable arrays") from e
    shape = p.shape
    out = _core.pipeline_bubble_fractions(
        schedule,
        np.ascontiguousarray(p.ravel()),
        np.ascontiguousarray(m.ravel()),
        np.ascontiguousarray(v.ravel()),
        float(forward),
        float(backward),
        None if weight_grad is None else float(weight_grad),
    ).reshape(shape)
    return float(out) if out.ndim == 0 else out


__all__ = [
    "BACKWARD_PER_FORWARD",
    "KINDS",
    "SCHEDULES",
    "Balance",
    "BubbleComparison",
    "Inference",
    "Schedule",
    "StageTimes",
    "Timeline",
    "balance_layers",
    "bubble_fraction",
    "compare_bubbles",
    "inference",
    "lower_bound",
    "simulate",
    "stage_times",
]
