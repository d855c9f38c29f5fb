"""Readers of outside formats: Hugging Face ``config.json`` and chip files (TOML).

They build brickwall's own objects, so they import model.py and never the other way round: the
core types stay free of any file format. The chip reader is the exception that proves it: the
catalog lookup in hardware.py uses it too, so it returns checked fields and hardware.py builds
the ``Hardware``.
"""

from __future__ import annotations

from .chip_file import read_chip_file
from .hf_config import SUPPORTED, from_hf_config

__all__ = ["SUPPORTED", "from_hf_config", "read_chip_file"]
