"""Validation: brickwall's predictions against published measurements (``brickwall validate``).

>>> from brickwall import validation
>>> report = validation.run()                   # the shipped suite, published.toml
>>> s = report.summary()                        # doctest: +SKIP
>>> report.to_pandas()                          # doctest: +SKIP

Your own measurements use the same format: a TOML file of ``[[row]]`` tables, loaded with
``validation.load("mine.toml")`` and predicted with ``validation.run(rows)`` (or
``brickwall validate --file mine.toml``).

Fields brickwall reads (any other key is kept as provenance in ``Row.extra``):

- ``id`` (unique string), ``kind``, ``source`` (where the number comes from), ``source_tag``
  (short group label for summaries; default ``"user"``);
- ``model``: a catalog name, or an inline table of :class:`~brickwall.Model` fields
  (``model = { name = "my-gpt", layers = 24, d_model = 2048, ... }``);
- ``hardware`` (catalog chip), ``tp``, ``pp``, ``ep`` (default 1);
- ``batch``, ``input_tokens``, ``output_tokens`` (inference kinds; ``serving-offline`` reads the
  lengths, not ``batch``);
- ``weight_dtype``, ``act_dtype`` (default ``bf16``), ``kv_dtype`` (default ``act_dtype``);
- ``value`` (> 0, exactly as measured) and ``unit``;
- ``not_modelled``: a reason; the row is listed with it and not predicted (for rows that need
  what brickwall lacks, or whose source leaves the configuration open).

``serving-offline`` rows also read ``requests`` (required: how many fixed-length requests, all at
t = 0), ``policy`` (``continuous``, ``chunked`` or ``static``; default ``continuous``),
``max_seqs`` and ``max_batched_tokens`` (default: :class:`~brickwall.Scheduler`'s).

``training`` rows read the plan instead of batch and lengths: ``dp``, ``microbatch``,
``global_batch`` (sequences) and ``seq_len`` (required); ``gpus`` (checked = tp x pp x dp),
``cp`` (must be 1: brickwall has no context parallelism), ``chunks`` (interleaved stages; > 1
makes the default ``schedule`` ``interleaved-1f1b``, else ``1f1b``), ``recompute`` (``none``,
``selective``, ``full`` or ``auto`` = the least that fits; default ``auto``), ``zero`` (0-3,
default 1), ``sequence_parallel`` (default tp > 1), ``precision`` (``bf16``/``fp8``) and
``flops`` (what ``TFLOP/s/GPU`` counts: ``model`` FLOPs as MFU, or ``hardware`` FLOPs with the
recomputed forward as HFU; default ``model``).

``kind`` and ``unit`` fix what is computed:

========================  =========================  =========================================
kind                      unit                       brickwall computes
========================  =========================  =========================================
``static-batch``          ``s`` / ``ms``             T = prefill(batch, input) + decode steps
                                                     at contexts input .. input+output-2
``static-batch``          ``tokens/s``               batch x output / T (all GPUs)
``static-batch``          ``tokens/s/GPU``           batch x output / T / chips
``decode-latency``        ``s`` / ``ms``             one decode step at context
                                                     input + output // 2
``decode-latency``        ``tokens/s``               1 / that step (one stream)
``ttft``                  ``s`` / ``ms``             prefill(batch, input)
``serving-offline``       ``tokens/s``,              :func:`brickwall.simulate` of the offline
                          ``tokens/s/GPU``,          batch: output tokens/s (all GPUs, per
                          ``total tokens/s``,        GPU), input + output tokens/s, or
                          ``requests/s``             requests/s over the run
``training``              ``tokens/s``,              :func:`brickwall.plan_step` of the plan:
                          ``tokens/s/GPU``, ``MFU``, tokens/s (per GPU), MFU, step time, or
                          ``s``, ``TFLOP/s/GPU``     model (or hardware) FLOP/s per GPU
========================  =========================  =========================================

A malformed row fails with one line naming the file, row, field and what was expected.
"""

from __future__ import annotations

from .predict import Prediction, deployment, predict
from .report import Result, ValidationReport, evaluate, run
from .rows import KINDS, UNITS, Row, load, parse, parse_row

__all__ = [
    "KINDS",
    "UNITS",
    "Prediction",
    "Result",
    "Row",
    "ValidationReport",
    "deployment",
    "evaluate",
    "load",
    "parse",
    "parse_row",
    "predict",
    "run",
]
