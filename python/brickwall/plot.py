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


# --- pipeline ------------------------------------------------------------------------------------

PIPELINE_COLOURS = {0: "#4C72B0", 1: "#55A868", 2: "#C44E52"}
"""F, B, W block colours of the Gantt chart."""


def pipeline_gantt(schedule: Any, path: str | Path | None = None, *, labels: bool | None = None) -> Any:
    """The classic pipeline diagram of a simulated :class:`brickwall.pipeline.Schedule`: stages as
    rows (stage 0 on top), F / B / W blocks coloured, idle time white; makespan and bubble in the
    title. Microbatch numbers are drawn inside blocks when there are few enough ops."""
    import numpy as np

    plt = pyplot()
    t = schedule.timeline
    p = schedule.stages
    fig, ax = plt.subplots(figsize=(12, max(2.0, 0.35 * p + 1.2)))
    names = ("F", "B", "W")
    for k in (0, 1, 2):
        sel = t.kind == k
        if not np.any(sel):
            continue
        for d in range(p):
            rows = sel & (t.stage == d)
            if np.any(rows):
                spans = list(zip(t.start[rows].tolist(), (t.end[rows] - t.start[rows]).tolist()))
                ax.broken_barh(spans, (d - 0.4, 0.8), facecolors=PIPELINE_COLOURS[k], edgecolor="white",
                               linewidth=0.3, label=names[k] if d == 0 else None)
    if labels is None:
        labels = len(t) <= 600
    if labels:
        for i in range(len(t)):
            ax.text((t.start[i] + t.end[i]) / 2, int(t.stage[i]), str(int(t.microbatch[i])), ha="center",
                    va="center", fontsize=6, color="white")
    ax.set_ylim(p - 0.5, -0.5)
    ax.set_yticks(range(p))
    ax.set_yticklabels([f"stage {d}" for d in range(p)], fontsize=7 if p > 16 else 9)
    ax.set_xlim(0, schedule.makespan if schedule.makespan > 0 else 1)
    ax.set_xlabel("time (s)")
    chunks = f", {schedule.chunks} chunks" if schedule.chunks > 1 else ""
    ax.set_title(
        f"{schedule.schedule}: {p} stages x {schedule.microbatches} microbatches{chunks} - makespan "
        f"{schedule.makespan:.4g} s, bubble {schedule.bubble_fraction:.1%} of device time"
    )
    handles, lab = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, lab, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return finish(fig, path)


def pipeline_bubbles(
    microbatches: Any, fractions: dict[str, Any], stages: int, path: str | Path | None = None
) -> Any:
    """Bubble fraction vs microbatches, one line per schedule (``fractions[name]`` aligned with
    ``microbatches``; NaN where a schedule does not apply)."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = ["-", "--", "-.", ":"]
    markers = ["o", "s", "^", "v", "D", "x"]
    x = np.asarray(microbatches, dtype=float)
    for i, (name, ys) in enumerate(fractions.items()):
        y = np.asarray(ys, dtype=float)
        ok = ~np.isnan(y)  # schedules that do not apply at some points (interleaved: m % p != 0)
        ax.plot(x[ok], y[ok], linestyle=styles[i % len(styles)], marker=markers[i % len(markers)],
                markersize=4, label=name)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("microbatches per pipeline per step")
    ax.set_ylabel("bubble (share of device time)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_title(f"Pipeline bubble vs microbatches, {stages} stages")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return finish(fig, path)
