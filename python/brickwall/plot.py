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


# --- speculative decoding ------------------------------------------------------------------------


def spec_speedup_vs_batch(sweep: Any, title: str = "", path: str | Path | None = None) -> Any:
    """Speedup of speculative decoding vs batch, one line per draft length, the best one bold,
    and the batch where it stops paying marked (``sweep``: a ``speculative.BatchSweep``)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for j, g in enumerate(sweep.gammas):
        ax.plot(sweep.batches, sweep.speedup[:, j], lw=1, alpha=0.8, label=f"gamma = {g}")
    ax.plot(sweep.batches, sweep.best_speedup, "k-", lw=2.2, label="best gamma")
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    cb = sweep.crossover_batch
    if cb is not None:
        ax.axvline(cb, color="red", ls="--", lw=1)
        ax.annotate(f"stops paying\nat batch {cb}", (cb, 1.0), xytext=(6, 12), textcoords="offset points",
                    color="red", fontsize=8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (sequences)")
    ax.set_ylabel("speedup vs plain decoding")
    ax.set_title(f"{title}\nalpha = {sweep.alpha:g}, context {sweep.context:,}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return finish(fig, path)
