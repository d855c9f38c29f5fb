"""Measure a GPU and write the chip's efficiency profile (``brickwall calibrate``).

Micro-benchmarks on the device (:mod:`.backends`: PyTorch for CUDA/ROCm, numpy for a CPU dry run)
time memory copies, GEMMs over the number of rows M and a tiny kernel; :mod:`.fit` turns them into
the step model's profile (``Efficiency``: GEMM plateau and half-efficiency rows, memory fraction,
per-kernel floor); :mod:`.profile_file` writes a chip file that ``--hardware FILE`` loads.
"""

from __future__ import annotations

from .backends import Backend, NumpyBackend, TorchBackend
from .fit import Calibration, calibrate
from .profile_file import chip_file_text, write_profile

__all__ = [
    "Backend",
    "Calibration",
    "NumpyBackend",
    "TorchBackend",
    "calibrate",
    "chip_file_text",
    "write_profile",
]
