"""What brickwall predicts for a row, through the public API only (model, hardware, Deployment,
prefill, decode, steps) with the chip's default efficiency: one profile per chip, the same for
every row, never tuned per row.

- ``static-batch``: the batch's wall time T = prefill(batch, input) + the decode steps that
  produce tokens 2..output at contexts input, input+1, ... (the prefill emits the first token),
  summed over one vectorised :func:`brickwall.steps` call. Reported as T (s or ms), as total
  output tokens/s ``batch x output / T``, or per GPU ``/ chips`` (TensorRT-LLM's definition).
- ``decode-latency``: one decode step at the run's median context ``input + output // 2``: its
  time (s or ms) or the stream's tokens/s (1 / step).
- ``ttft``: prefill(batch, input) time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..deployment import Deployment
from ..errors import ValidationError
from ..hardware import hardware
from ..inference import decode, prefill, steps
from ..model import model
from .rows import Row


@dataclass(frozen=True, slots=True)
class Prediction:
    value: float  #: in the row's unit
    fits: bool  #: brickwall's memory model agrees the batch fits


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
    m, d = model(row.model), deployment(row)
    first = prefill(m, d, row.batch, row.input_tokens)
    n = row.output_tokens - 1
    if n == 0:
        return first.step_time, first.fits
    t = steps(m, d, row.batch, context=row.input_tokens + np.arange(n, dtype=np.float64))
    return first.step_time + float(t.latency.sum()), first.fits and bool(t.fits.all())


def predict(row: Row) -> Prediction:
    """The row's metric as brickwall computes it, in the row's unit. Raises
    :class:`ValidationError` (or a subclass) when the plan cannot be priced."""
    if row.not_modelled is not None:
        raise ValidationError(f"row {row.id} is not modelled: {row.not_modelled}")
    scale = {"s": 1.0, "ms": 1e3}
    if row.kind == "static-batch":
        t, fits = batch_seconds(row)
        tokens = row.batch * row.output_tokens / t
        by_unit = {"tokens/s": tokens, "tokens/s/GPU": tokens / deployment(row).chips}
        value = by_unit[row.unit] if row.unit in by_unit else t * scale[row.unit]
        return Prediction(value, fits)
    if row.kind == "decode-latency":
        e = decode(
            model(row.model),
            deployment(row),
            row.batch,
            row.input_tokens + row.output_tokens // 2,
        )
        if row.unit == "tokens/s":
            return Prediction(e.tokens_per_s_per_user, e.fits)
        return Prediction(e.step_time * scale[row.unit], e.fits)
    if row.kind == "ttft":
        e = prefill(model(row.model), deployment(row), row.batch, row.input_tokens)
        return Prediction(e.step_time * scale[row.unit], e.fits)
    raise ValidationError(f"row {row.id}: kind {row.kind!r} has no prediction")
