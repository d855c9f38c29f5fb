"""Measure a GPU and write the chip's efficiency profile (``brickwall calibrate``).

Micro-benchmarks on the device (:mod:`.backends`: PyTorch for CUDA/ROCm, numpy for a CPU dry run)
time memory copies, GEMMs over the number of rows M (bf16, and fp8 where the chip has it), a
tiny kernel eagerly and under CUDA-graph replay, causal prefill and grouped-query decode
attention, and all-reduce / all-to-all when several GPUs are visible; :mod:`.fit` turns them into
the step model's profile (``Efficiency``: GEMM plateau and half-efficiency rows, memory and
network fractions, per-kernel floor) and sets each attention kernel beside the step model's
prediction of it (:mod:`.attention`); :mod:`.profile_file` writes a chip file that
``--hardware FILE`` loads, with every measurement in its ``[measured.*]`` tables.
"""

from __future__ import annotations

from .attention import AttentionPoint
from .backends import Backend, NumpyBackend, TorchBackend, Unsupported
from .fit import FULL, QUICK, Calibration, Sizes, calibrate
from .profile_file import chip_file_text, read_measured, write_profile

__all__ = [
    "FULL",
    "QUICK",
    "AttentionPoint",
    "Backend",
    "Calibration",
    "NumpyBackend",
    "Sizes",
    "TorchBackend",
    "Unsupported",
    "calibrate",
    "chip_file_text",
    "read_measured",
    "write_profile",
]
