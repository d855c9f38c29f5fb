"""Matplotlib figures (extra ``plot``). Each function returns the Figure and saves it when given
a path; matplotlib is imported lazily with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BrickwallError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from numpy.typing import ArrayLike

    from .deployment import Deployment
    from .model import Model
    from .moe import ExpertLoad
    from .pipeline import Schedule
    from .speculative import BatchSweep
    from .sweep import SweepResult


def pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the extra
        raise BrickwallError(
            "plotting needs matplotlib, which the base install leaves out: "
            "pip install matplotlib (or from a brickwall source tree: pip install '.[plot]')"
        ) from e
    return plt


def finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=130)
    return fig


# -- inference -----------------------------------------------------------------------------------


def step_vs_batch(
    model: Model,
    deployment: Deployment,
    *,
    context: int = 0,
    new_tokens: int = 1,
    max_batch: int = 4096,
    path: str | Path | None = None,
    mark: int | None = None,
) -> Any:
    """Step time and per-user / aggregate tokens/s vs batch, with the memory/compute crossover."""
    import numpy as np

    from .inference import crossover_batch, steps

    plt = pyplot()
    batch = np.unique(np.geomspace(1, max_batch, 200).round())
    t = steps(model, deployment, batch, context, new_tokens)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.loglog(batch, t.latency * 1e3, label="step time")
    for key, label in (
        ("t_weights", "weight reads"),
        ("t_kv", "KV reads"),
        ("t_compute", "compute"),
        ("t_comm", "communication"),
    ):
        a1.loglog(batch, np.maximum(t.columns[key], 1e-9) * 1e3, "--", lw=1, label=label)
    a2.loglog(batch, new_tokens / t.latency, label="tokens/s per user")
    a2.loglog(batch, t.tokens_per_s, label="tokens/s aggregate")
    star = crossover_batch(deployment.hardware, deployment.weight_dtype)
    compute_bound = batch[t.bound == 2]
    for ax in (a1, a2):
        ax.axvline(star, color="grey", ls=":", label=f"B* = peak/bandwidth = {star:.0f}")
        if compute_bound.size:
            ax.axvline(
                compute_bound[0],
                color="red",
                ls=":",
                lw=1,
                label=f"compute-bound from {compute_bound[0]:.0f}",
            )
        if mark is not None:
            ax.axvline(mark, color="black", lw=0.8)
        ax.set_xlabel("batch (sequences)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    unfit = batch[~t.fits]
    if unfit.size:
        for ax in (a1, a2):
            ax.axvspan(unfit[0], batch[-1], color="red", alpha=0.07)
    a1.set_ylabel("ms per step")
    a2.set_ylabel("tokens/s")
    d = deployment
    fig.suptitle(
        f"{model.name} on {d.chips}x {d.hardware.name} (TP{d.tp} PP{d.pp} EP{d.ep}), context {context:,}"
        + (" - shaded: does not fit" if unfit.size else ""),
        fontsize=10,
    )
    return finish(fig, path)


def bandwidth_chart(
    speeds: tuple[float, ...] = (8.33, 20.0, 33.33),
    *,
    path: str | Path | None = None,
    dtype: str = "bf16",
    overhead: float = 1.0,
) -> Any:
    """The seed's chart: memory bandwidth required vs dense model size at reading speeds, with
    the aggregate bandwidth of 8x H100 and 8x A100 as horizontal lines."""
    import numpy as np

    from .deployment import Deployment
    from .hardware import Efficiency, hardware
    from .inference import bandwidth_for_params

    plt = pyplot()
    params = np.geomspace(10e9, 2e12, 60)
    one = Deployment(hardware("H100-SXM"), weight_dtype=dtype, efficiency=Efficiency.ideal())
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in speeds:
        need = bandwidth_for_params(one, params, s, overhead=overhead)
        ax.loglog(params / 1e9, need / 1e12, label=f"{s:g} tokens/s")
    for name in ("H100-SXM", "A100-80GB"):
        h = hardware(name)
        ax.axhline(8 * h.memory_bandwidth / 1e12, ls="--", color="grey")
        ax.text(12, 8 * h.memory_bandwidth / 1e12 * 1.05, f"8x {name}", fontsize=8)
    ax.set_xlabel("dense parameters (B)")
    ax.set_ylabel("memory bandwidth needed (TB/s)")
    ax.set_title(
        f"batch 1, {dtype} weights, other traffic = {overhead:g}x weight reads", fontsize=10
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return finish(fig, path)


# --- MoE routing -------------------------------------------------------------------------------


def moe_load(result: ExpertLoad, path: str | Path | None = None) -> Any:
    """Two panels for a :class:`brickwall.moe.ExpertLoad`: the per-expert load distribution and
    the busiest expert's load per step (Monte Carlo bars), with the exact Binomial marginal and
    the exact / bounded max-load law overlaid where they exist."""
    import numpy as np

    from . import moe
    from .errors import TooLargeError

    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, name, title in (
        (a, "load", "tokens per expert"),
        (b, "max_load", "tokens at the busiest expert"),
    ):
        pmf = result.pmf(name)
        keep = np.flatnonzero(pmf > 1e-7)
        lo, hi = int(keep[0]), int(keep[-1])
        x = np.arange(lo, hi + 1)
        ax.bar(
            x,
            pmf[lo : hi + 1],
            width=1.0 if hi - lo > 40 else 0.8,
            color="#4c72b0",
            alpha=0.75,
            label=f"Monte Carlo ({result.trials:,} steps)",
        )
        ax.set_xlabel(title)
        ax.set_ylabel("probability")
        ax.set_title(f"{title}: top-{result.top_k} of {result.n_experts}, {result.tokens:,} tokens")
    if result.popularity == "uniform":
        exact = moe.load_pmf(result.n_experts, result.top_k, result.tokens)
        x = np.arange(exact.size)
        m = exact > 1e-7
        a.plot(x[m], exact[m], "o-", color="#dd8452", ms=3, label="exact Binomial(B, k/E)")
    if result.popularity == "uniform" or result.popularity.startswith("zipf("):
        pop = None if result.popularity == "uniform" else ("zipf", float(result.popularity[5:-1]))
        try:
            mx = moe.max_load_cdf(result.n_experts, result.top_k, result.tokens, popularity=pop)
        except TooLargeError:  # pragma: no cover - guarded by the method choice
            mx = None
        if mx is not None:
            x = np.arange(mx.cdf.size)
            if mx.exact:
                p = mx.pmf()
                m = p > 1e-7
                b.plot(x[m], p[m], "o-", color="#dd8452", ms=3, label=f"exact ({mx.method})")
            else:
                # prod_e P(X_e <= c) is the law of the max of independent Binomials: an upper
                # bound on the true CDF (negative association), drawn as a distribution.
                p = np.diff(mx.upper, prepend=0.0)
                m = p > 1e-7
                b.plot(
                    x[m],
                    p[m],
                    "--",
                    color="#dd8452",
                    lw=1.2,
                    label="independent-experts law (bound)",
                )
    a.legend()
    b.legend()
    return finish(fig, path)


# --- speculative decoding ------------------------------------------------------------------------


def spec_speedup_vs_batch(
    sweep: BatchSweep, title: str = "", path: str | Path | None = None
) -> Any:
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
        ax.annotate(
            f"stops paying\nat batch {cb}",
            (cb, 1.0),
            xytext=(6, 12),
            textcoords="offset points",
            color="red",
            fontsize=8,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch (sequences)")
    ax.set_ylabel("speedup vs plain decoding")
    ax.set_title(f"{title}\nalpha = {sweep.alpha:g}, context {sweep.context:,}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return finish(fig, path)


# -- sweep ---------------------------------------------------------------------------------------


def sweep_frontier(
    result: SweepResult,
    *,
    path: str | Path | None = None,
    color_by: str = "hardware",
    title: str | None = None,
) -> Any:
    """The PaLM-inference picture (Pope et al. 2022, fig. 1): cost per 1M tokens vs per-token
    latency along each group's frontier (``color_by``: ``hardware`` or ``partitioning``), with
    the batch annotated at the ends. Lower-left is better; the ``on_frontier`` rows of a
    ``by="hardware"`` sweep are ringed."""
    import numpy as np

    from .validate import choice

    key = choice("color_by", color_by, ("hardware", "partitioning"))
    plt = pyplot()
    c = result.columns
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    if key == "hardware":
        groups = c["hardware"]
    else:
        groups = np.array(
            [f"TP{t} PP{p} EP{e}" for t, p, e in zip(c["tp"], c["pp"], c["ep"])], dtype=object
        )
    for g in sorted(set(groups.tolist())):
        sel = groups == g
        lat, cost, batch = c["latency"][sel] * 1e3, c["cost"][sel], c["batch"][sel]
        order = np.argsort(lat)
        lat, cost, batch = lat[order], cost[order], batch[order]
        style = "-o" if len(lat) <= 150 else "-"
        (line,) = ax.plot(lat, cost, style, ms=3, lw=1.6, label=f"{g} ({sel.sum()} configs)")
        for j in {0, len(lat) - 1}:
            ax.annotate(
                f"B={batch[j]}",
                (lat[j], cost[j]),
                fontsize=7,
                color=line.get_color(),
                xytext=(4, 4),
                textcoords="offset points",
            )
    if "on_frontier" in c:
        f = c["on_frontier"]
        order = np.argsort(c["latency"][f])
        ax.plot(
            c["latency"][f][order] * 1e3,
            c["cost"][f][order],
            ":",
            color="black",
            lw=1.0,
            label="joint frontier",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    unit = "time to first token (ms)" if result.phase == "prefill" else "per-token latency (ms)"
    ax.set_xlabel(unit)
    ax.set_ylabel("$ per 1M tokens")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(
        title
        or f"{result.model} {result.phase}: cost vs latency frontier "
        f"({result.evaluated:,} configurations, {result.feasible:,} feasible)",
        fontsize=10,
    )
    return finish(fig, path)


# --- pipeline ------------------------------------------------------------------------------------

PIPELINE_COLOURS = {0: "#4C72B0", 1: "#55A868", 2: "#C44E52"}
"""F, B, W block colours of the Gantt chart."""


def pipeline_gantt(
    schedule: Schedule, path: str | Path | None = None, *, labels: bool | None = None
) -> Any:
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
                ax.broken_barh(
                    spans,
                    (d - 0.4, 0.8),
                    facecolors=PIPELINE_COLOURS[k],
                    edgecolor="white",
                    linewidth=0.3,
                    label=names[k] if d == 0 else None,
                )
    if labels is None:
        labels = len(t) <= 600
    if labels:
        for i in range(len(t)):
            ax.text(
                (t.start[i] + t.end[i]) / 2,
                int(t.stage[i]),
                str(int(t.microbatch[i])),
                ha="center",
                va="center",
                fontsize=6,
                color="white",
            )
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
    microbatches: ArrayLike,
    fractions: Mapping[str, ArrayLike],
    stages: int,
    path: str | Path | None = None,
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
        ax.plot(
            x[ok],
            y[ok],
            linestyle=styles[i % len(styles)],
            marker=markers[i % len(markers)],
            markersize=4,
            label=name,
        )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("microbatches per pipeline per step")
    ax.set_ylabel("bubble (share of device time)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_title(f"Pipeline bubble vs microbatches, {stages} stages")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return finish(fig, path)
