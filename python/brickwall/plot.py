"""Matplotlib figures (extra ``plot``). Each function returns the Figure and saves it when given
a path; matplotlib is imported lazily with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import BrickwallError


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise BrickwallError("plotting needs matplotlib: pip install 'brickwall[plot]'") from e
    return plt


def finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig
