"""What brickwall predicts for a row, through the public API only (model, hardware, Deployment,
prefill, decode, steps, simulate, plan_step) with the chip's default efficiency: one profile per
chip, the same for every row, never tuned per row.

- ``static-batch``: the batch's wall time T = prefill(batch, input) + the decode steps that
  produce tokens 2..output at contexts input, input+1, ... (the prefill emits the first token),
  summed over one vectorised :func:`brickwall.steps` call. Reported as T (s or ms), as total
  output tokens/s ``batch x output / T``, or per GPU ``/ chips`` (TensorRT-LLM's definition).
- ``decode-latency``: one decode step at the run's median context ``input + output // 2``: its
  time (s or ms) or the stream's tokens/s (1 / step).
- ``ttft``: prefill(batch, input) time.
- ``serving-offline``: :func:`brickwall.simulate` of an offline :class:`~brickwall.Workload`
  (``requests`` requests of fixed ``input``/``output`` lengths, all at t = 0) under the row's
  :class:`~brickwall.Scheduler` (policy, max_seqs, max_batched_tokens; unset = the defaults):
  output tokens/s (all GPUs or per GPU), total tokens/s or requests/s over the run.
- ``training``: :func:`brickwall.plan_step` of the row's :class:`~brickwall.TrainingPlan`
  (``recompute = "auto"``: the least recomputation that fits): tokens/s (per GPU), MFU, the step
  time, or TFLOP/s/GPU counting model FLOPs (as MFU) or hardware FLOPs (as HFU, with the
  recomputed forward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..deployment import Deployment
from ..errors import BrickwallError, ValidationError
from ..hardware import hardware
from ..inference import decode, prefill, steps
from ..model import Model, model
from ..serve import Scheduler, Workload, simulate
from ..training import RECOMPUTE, TrainingPlan, TrainingStep, plan_step
from .rows import Row


@dataclass(frozen=True, slots=True)
class Prediction:
    value: float  #: in the row's unit
    fits: bool  #: brickwall's memory model agrees the batch (or plan) fits
    detail: str | None = None  #: what the prediction chose (serving batch, training recompute)


def row_model(row: Row) -> Model:
    """The catalog model, or the row's inline architecture."""
    if row.model_spec is not None:
        return Model(**row.model_spec)
    return model(row.model)


def deployment(row: Row) -> Deployment:
    """The row's plan on its catalog chip, default efficiency."""
    return Deployment(
        hardware(row.hardware),
        tp=row.tp,
        pp=row.pp,
        ep=row.ep,
        weight_dtype=row.weight_dtype,
        act_dtype=row.act_dtype,
        kv_dtype=row.kv_dtype,
    )


def batch_seconds(row: Row) -> tuple[float, bool]:
    """Wall time of a static batch (prefill, then output - 1 decode steps) and whether it fits."""
    m, d = row_model(row), deployment(row)
    first = prefill(m, d, row.batch, row.input_tokens)
    n = row.output_tokens - 1
    if n == 0:
        return first.step_time, first.fits
    t = steps(m, d, row.batch, context=row.input_tokens + np.arange(n, dtype=np.float64))
    return first.step_time + float(t.latency.sum()), first.fits and bool(t.fits.all())


def scheduler(row: Row) -> Scheduler:
    """The row's scheduler; limits the source does not state keep :class:`Scheduler`'s
    defaults."""
    limits: dict[str, int] = {}
    if row.max_seqs is not None:
        limits["max_seqs"] = row.max_seqs
    if row.max_batched_tokens is not None:
        limits["max_batched_tokens"] = row.max_batched_tokens
    return Scheduler(row.policy, **limits)  # type: ignore[arg-type]  # parse_row checked it


def serving(row: Row) -> Prediction:
    """An offline batch of the row's requests through the serving simulator."""
    d = deployment(row)
    work = Workload(requests=row.requests, input=row.input_tokens, output=row.output_tokens)
    r = simulate(row_model(row), d, work, scheduler(row), timeline=False)
    t = r.throughput
    out = t["output_tokens_per_s"]
    by_unit = {
        "tokens/s": out,
        "tokens/s/GPU": out / d.chips,
        "total tokens/s": out + t["input_tokens_per_s"],
        "requests/s": t["requests_per_s"],
    }
    # the mean number of sequences an iteration carried (every iteration decodes or prefills)
    per_iteration = float(r.output.sum()) / max(r.n_iterations, 1)
    detail = f"~{per_iteration:.0f} sequences/iteration, {int(r.preemptions.sum())} preemptions"
    return Prediction(by_unit[row.unit], True, detail)


def training_plan(row: Row, recompute: str) -> TrainingPlan:
    return TrainingPlan(
        tp=row.tp,
        pp=row.pp,
        dp=row.dp,
        cp=row.cp,
        ep=row.ep,
        microbatch=row.microbatch,
        global_batch=row.global_batch,
        seq_len=row.seq_len,
        schedule=row.schedule,
        chunks=row.chunks,
        sequence_parallel=row.sequence_parallel,
        recompute=recompute,
        zero=row.zero,
        precision=row.precision,
    )


def training_step(row: Row) -> TrainingStep:
    """The row's step; ``recompute = "auto"`` tries none, selective, full and keeps the first
    that fits (the last when none does)."""
    m = row_model(row)
    options = RECOMPUTE if row.recompute == "auto" else (row.recompute,)
    for r in options:
        s = plan_step(m, row.hardware, training_plan(row, r))
        if s.fits:
            break
    return s


def training(row: Row) -> Prediction:
    s = training_step(row)
    gpus = s.plan.gpus
    model_tflops = s.model_flops / s.step_time / gpus / 1e12
    by_unit = {
        "tokens/s": s.tokens_per_s,
        "tokens/s/GPU": s.tokens_per_s / gpus,
        "MFU": s.mfu,
        "s": s.step_time,
        "TFLOP/s/GPU": model_tflops * (s.hfu / s.mfu if row.flops == "hardware" else 1.0),
    }
    detail = f"recompute {s.plan.recompute}, bubble {s.bubble_fraction:.0%}, MFU {s.mfu:.1%}"
    return Prediction(by_unit[row.unit], s.fits, detail)


def predict(row: Row) -> Prediction:
    """The row's metric as brickwall computes it, in the row's unit. Raises
    :class:`ValidationError` (or a subclass) when the plan cannot be priced."""
    if row.not_modelled is not None:
        raise ValidationError(f"row {row.id} is not modelled: {row.not_modelled}")
    scale = {"s": 1.0, "ms": 1e3}
    if row.kind == "serving-offline":
        return serving(row)
    if row.kind == "training":
        try:
            return training(row)
        except ValidationError:
            raise
        except BrickwallError as err:  # e.g. a plan the model does not divide
            raise ValidationError(str(err)) from None
    if row.kind == "static-batch":
        t, fits = batch_seconds(row)
        tokens = row.batch * row.output_tokens / t
        by_unit = {"tokens/s": tokens, "tokens/s/GPU": tokens / deployment(row).chips}
        value = by_unit[row.unit] if row.unit in by_unit else t * scale[row.unit]
        return Prediction(value, fits)
    if row.kind == "decode-latency":
        e = decode(
            row_model(row),
            deployment(row),
            row.batch,
            row.input_tokens + row.output_tokens // 2,
        )
        if row.unit == "tokens/s":
            return Prediction(e.tokens_per_s_per_user, e.fits)
        return Prediction(e.step_time * scale[row.unit], e.fits)
    if row.kind == "ttft":
        e = prefill(row_model(row), deployment(row), row.batch, row.input_tokens)
        return Prediction(e.step_time * scale[row.unit], e.fits)
    raise ValidationError(f"row {row.id}: kind {row.kind!r} has no prediction")


__all__ = ["Prediction", "deployment", "predict", "row_model", "scheduler", "training_plan"]
