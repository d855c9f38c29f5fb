"""Readers of outside formats (today: Hugging Face ``config.json``).

They build brickwall's own objects, so they import model.py and never the other way round: the
core types stay free of any file format.
"""

from __future__ import annotations

from .hf_config import SUPPORTED, from_hf_config

__all__ = ["SUPPORTED", "from_hf_config"]
