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
- ``model`` (catalog name), ``hardware`` (catalog chip), ``tp``, ``pp``, ``ep`` (default 1);
- ``batch``, ``input_tokens``, ``output_tokens``;
- ``weight_dtype``, ``act_dtype`` (default ``bf16``), ``kv_dtype`` (default ``act_dtype``);
- ``value`` (> 0, exactly as measured) and ``unit``;
- ``not_modelled``: a reason; the row is listed with it and not predicted.

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
``serving-offline``,      any                        nothing yet: ``not_modelled`` required
``training``
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
