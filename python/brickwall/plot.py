"""Matplotlib figures (extra ``plot``). Each function returns the Figure and saves it when given
a path; matplotlib is imported lazily with the non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BrickwallError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import ArrayLike

    from .deployment import Deployment
    from .model import Model
    from .moe import ExpertLoad
    from .pipeline import Schedule
    from .speculative import BatchSweep
    from .sweep import SweepResult
    from .training import TrainingStep
    from .validation import ValidationReport


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


def plain_log_ticks(ax: Any, axes: str = "xy") -> None:
    """Tick labels on log axes as plain numbers (30, 400, 0.5), not 3x10^1: major and minor."""
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):  # matplotlib's choice of which ticks to label, written plainly
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:g}"

    for name in axes:
        axis = ax.xaxis if name == "x" else ax.yaxis
        axis.set_major_formatter(Plain(labelOnlyBase=False))
        axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


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
    """Step time by operator and per-user / aggregate tokens/s vs batch, with the memory/compute
    crossover."""
    import numpy as np

    from .inference import crossover_batch, steps

    plt = pyplot()
    batch = np.unique(np.geomspace(1, max_batch, 200).round())
    t = steps(model, deployment, batch, context, new_tokens)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    a1.loglog(batch, t.latency * 1e3, label="step time", lw=2)
    # the operators, which add up to the step (rust/brickwall-core/src/step.rs)
    for key, label in (
        ("t_dense_gemm", "dense GEMMs"),
        ("t_expert_gemm", "routed experts"),
        ("t_attention", "attention"),
        ("t_elementwise", "elementwise"),
        ("t_floor", "kernel floor"),
        ("t_comm", "communication"),
    ):
        if t.columns[key].max() > 0:
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
            ax.axvline(mark, color="black", lw=0.8, label=f"this batch: {mark:,}")
        ax.set_xlabel("batch (sequences)")
        ax.grid(True, which="both", alpha=0.3)
        plain_log_ticks(ax)
    unfit = batch[~t.fits]
    for ax in (a1, a2):
        if unfit.size:
            ax.axvspan(unfit[0], batch[-1], color="red", alpha=0.07, label="does not fit in memory")
        ax.legend(fontsize=7)
    a1.set_ylabel("ms per step")
    a2.set_ylabel("tokens/s")
    d = deployment
    fig.suptitle(
        f"{model.name} on {d.chips}x {d.hardware.name} (TP{d.tp} PP{d.pp} EP{d.ep}), "
        f"context {context:,}, KV cache sharded over the {d.kv_sharding}",
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


def _around_mode(p: Any, floor: float) -> tuple[int, int]:
    """The contiguous run of ``p > floor`` around its mode (first, last index): a law's body and
    tails, without the rounding noise a CDF difference leaves far out (~1e-10 near 1)."""
    import numpy as np

    mode = int(np.argmax(p))
    below = np.flatnonzero(p <= floor)
    left, right = below[below < mode], below[below > mode]
    return (int(left[-1]) + 1 if left.size else 0), (
        int(right[0]) - 1 if right.size else p.size - 1
    )


def moe_load(result: ExpertLoad, path: str | Path | None = None) -> Any:
    """The per-expert load distribution (left) and the busiest expert's load per step (right) of
    a :class:`brickwall.moe.ExpertLoad`: Monte Carlo bars with the exact Binomial marginal and the
    exact / bounded max-load law overlaid where they exist; the bottom row repeats both on a log
    scale, since the tails are what sizes an expert's buffers."""
    import numpy as np

    from . import moe
    from .errors import TooLargeError

    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex="col")
    overlays: list[tuple[int, Any, Any, str, str]] = []  # (column, x, p, style, label)
    if result.popularity == "uniform":
        exact = moe.load_pmf(result.n_experts, result.top_k, result.tokens)
        overlays.append((0, np.arange(exact.size), exact, "o-", "exact Binomial(B, k/E)"))
    if result.popularity == "uniform" or result.popularity.startswith("zipf("):
        pop = None if result.popularity == "uniform" else ("zipf", float(result.popularity[5:-1]))
        try:
            mx = moe.max_load_cdf(result.n_experts, result.top_k, result.tokens, popularity=pop)
        except TooLargeError:  # pragma: no cover - guarded by the method choice
            mx = None
        if mx is not None and mx.exact:
            overlays.append((1, np.arange(mx.cdf.size), mx.pmf(), "o-", f"exact ({mx.method})"))
        elif mx is not None:
            # prod_e P(X_e <= c) is the law of the max of independent Binomials: an upper
            # bound on the true CDF (negative association), drawn as a distribution.
            bound = np.diff(mx.upper, prepend=0.0)
            x = np.arange(bound.size)
            overlays.append((1, x, bound, "--", "independent-experts law (bound)"))
    for col, (name, title) in enumerate(
        (("load", "tokens per expert"), ("max_load", "tokens at the busiest expert"))
    ):
        pmf = result.pmf(name)
        # the probability of a single Monte Carlo hit: one per step for the busiest expert, one
        # per expert and step for the per-expert load; below it only the exact laws can reach
        hit = 1.0 / (result.trials * (result.n_experts if name == "load" else 1))
        keep = np.flatnonzero(pmf > 0)
        lo, hi = int(keep[0]), int(keep[-1])
        for c, xo, p, _, _ in overlays:
            if c == col:
                a, b = _around_mode(p, 1e-12)
                lo, hi = min(lo, int(xo[a])), max(hi, int(xo[b]))
        x = np.arange(lo, hi + 1)
        for row, ax in enumerate(axes[:, col]):
            ax.bar(
                x,
                pmf[lo : hi + 1],
                width=1.0 if hi - lo > 40 else 0.8,
                color="#4c72b0",
                alpha=0.75,
                label=f"Monte Carlo ({result.trials:,} steps)",
            )
            for c, xo, p, style, label in overlays:
                a, b = _around_mode(p, 1e-12 if row else 1e-7)
                m = np.zeros(p.size, dtype=bool)
                m[a : b + 1] = True
                if c == col:
                    ax.plot(xo[m], p[m], style, color="#dd8452", ms=3, lw=1.2, label=label)
            if row:
                ax.set_yscale("log")
                ax.axhline(hit, color="grey", ls=":", lw=0.8, label="one Monte Carlo hit")
                ax.set_xlabel(title)
                ax.set_ylabel("probability (log)")
            else:
                ax.set_ylabel("probability")
                ax.set_title(title)
            ax.legend(fontsize=7)
    fig.suptitle(
        f"MoE routing, one step: B = {result.tokens:,} tokens, each routed to its top k = "
        f"{result.top_k} of E = {result.n_experts} experts ({result.popularity} popularity)",
        fontsize=10,
    )
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
    ax.set_xticks(sweep.batches)  # ticks at the data points, written plainly
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
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
    plain_log_ticks(ax)
    unit = "time to first token (ms)" if result.phase == "prefill" else "per-token latency (ms)"
    ax.set_xlabel(unit)
    ax.set_ylabel("$ per 1M tokens")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(
        title
        or f"{result.model} {result.phase}: cost vs latency frontier "
        f"({result.evaluated:,} evaluated, {result.feasible:,} feasible)",
        fontsize=10,
    )
    return finish(fig, path)


# --- pipeline ------------------------------------------------------------------------------------

PIPELINE_COLOURS = {0: "#4C72B0", 1: "#55A868", 2: "#C44E52"}
"""F, B, W block colours of the Gantt chart."""


def _timeline(ax: Any, schedule: Schedule, labels: bool, until: float) -> None:
    """F / B / W blocks of ``schedule`` on ``ax`` from time 0 to ``until``, microbatch numbers
    inside the blocks when ``labels``."""
    import numpy as np

    t = schedule.timeline
    p = schedule.stages
    names = ("F", "B", "W")
    for k in (0, 1, 2):
        sel = (t.kind == k) & (t.start < until)
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
    if labels:
        for i in np.flatnonzero((t.start + t.end) / 2 < until):
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
    ax.set_yticklabels([f"stage {d}" for d in range(p)], fontsize=7 if p > 12 else 9)
    ax.set_xlim(0, until if until > 0 else 1)


def pipeline_gantt(
    schedule: Schedule, path: str | Path | None = None, *, labels: bool | None = None
) -> Any:
    """The classic pipeline diagram of a simulated :class:`brickwall.pipeline.Schedule`: stages as
    rows (stage 0 on top), F / B / W blocks coloured, idle time white; makespan and bubble in the
    title, microbatch numbers inside the blocks. A schedule with more blocks than stay legible
    at full width (more than ~40 a stage) gets a second panel below the whole: its first ~30
    blocks a stage (warm-up and steady state), numbered."""
    plt = pyplot()
    t = schedule.timeline
    p = schedule.stages
    per_stage = len(t) / max(p, 1)
    makespan = schedule.makespan if schedule.makespan > 0 else 1.0
    zoom = per_stage > 40
    row_h = max(2.0, 0.3 * p + 1.0)
    fig, axes = plt.subplots(
        2 if zoom else 1, 1, figsize=(12, 2 * row_h + 0.6 if zoom else row_h + 0.2), squeeze=False
    )
    whole = axes[0, 0]
    _timeline(whole, schedule, (labels if labels is not None else not zoom), makespan)
    chunks = f", {schedule.chunks} chunks" if schedule.chunks > 1 else ""
    whole.set_title(
        f"{schedule.schedule}: {p} stages x {schedule.microbatches} microbatches{chunks} - makespan "
        f"{schedule.makespan:.4g} s, bubble {schedule.bubble_fraction:.1%} of device time",
        fontsize=10,
    )
    if zoom:
        until = makespan * 30 / per_stage
        part = axes[1, 0]
        _timeline(part, schedule, labels if labels is not None else True, until)
        part.set_title(f"the first {until:.3g} s, microbatches numbered", fontsize=9)
        part.set_xlabel("time (s)")
        whole.axvspan(0, until, color="black", alpha=0.06, lw=0)
    else:
        whole.set_xlabel("time (s)")
    handles, lab = whole.get_legend_handles_labels()
    if handles:
        whole.legend(handles, lab, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
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
    drawn: dict[str, Any] = {}
    for i, (name, ys) in enumerate(fractions.items()):
        y = np.asarray(ys, dtype=float)
        ok = ~np.isnan(y)  # schedules that do not apply at some points (interleaved: m % p != 0)
        # a curve equal to one already drawn (gpipe and 1f1b idle alike) gets a hollow, larger
        # marker over it and says so in the legend, so neither hides the other
        same = [n for n, prev in drawn.items() if np.allclose(prev, y, equal_nan=True)]
        ax.plot(
            x[ok],
            y[ok],
            linestyle=styles[i % len(styles)],
            marker=markers[i % len(markers)],
            markersize=9 if same else 4,
            fillstyle="none" if same else "full",
            label=f"{name} (same as {same[0]})" if same else name,
        )
        drawn[name] = y
    ax.set_xscale("log", base=2)
    ax.set_xticks(x)  # ticks at the data points
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.tick_params(axis="x", which="minor", bottom=False)
    ax.set_xlabel("microbatches per pipeline per step")
    ax.set_ylabel("bubble (share of device time)")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.set_title(f"Pipeline bubble vs microbatches, {stages} stages")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return finish(fig, path)


# -- training ------------------------------------------------------------------------------------


def training_step(
    steps: Sequence[TrainingStep], path: str | Path | None = None, *, memory: float | None = None
) -> Any:
    """A training plan (or a few, side by side): memory per GPU stacked by kind (GB, device
    memory dashed when given, in bytes) and the step's time stacked by where it goes (s)."""
    plt = pyplot()
    fig, (ax_m, ax_t) = plt.subplots(1, 2, figsize=(12, 4.4))
    short = {
        "interleaved-1f1b": "interl.",
        "selective": "sel.",
        "none": "no rec.",
        "full": "full rec.",
    }
    labels = [
        f"tp{s.plan.tp} pp{s.plan.pp} dp{s.plan.dp}"
        + (f" ep{s.plan.ep}" if s.plan.ep > 1 else "")
        + f"\n{short.get(s.plan.schedule, s.plan.schedule)}"
        + (f"x{s.plan.chunks}" if s.plan.chunks > 1 else "")
        + f" mb{s.plan.microbatch}\n{short[s.plan.recompute]} ZeRO {s.plan.zero}"
        for s in steps
    ]
    x = range(len(steps))
    for ax, parts, unit, scale in (
        (ax_m, [s.memory for s in steps], "GB per GPU", 1e-9),
        (ax_t, [s.breakdown for s in steps], "seconds per step", 1.0),
    ):
        bottom = [0.0] * len(steps)
        for key in parts[0]:
            vals = [p[key] * scale for p in parts]
            ax.bar(x, vals, bottom=bottom, label=key, width=0.6)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(list(x), labels, fontsize=7)
        ax.set_ylabel(unit)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if memory is not None:
        ax_m.axhline(memory * 1e-9, color="black", ls="--", lw=1)
        ax_m.text(
            0.01,
            memory * 1e-9,
            " device memory",
            va="bottom",
            fontsize=8,
            transform=ax_m.get_yaxis_transform(),
        )
    s0 = steps[0]
    ax_m.set_title(f"{s0.model} on {s0.hardware}: memory per GPU", fontsize=10)
    ax_t.set_title("step time (MFU " + " / ".join(f"{s.mfu:.1%}" for s in steps) + ")", fontsize=10)
    return finish(fig, path)


def training_frontier(
    plans: Sequence[TrainingStep],
    frontier: Sequence[TrainingStep],
    path: str | Path | None = None,
    *,
    tokens: float | None = None,
    memory: float | None = None,
) -> Any:
    """A plan search's feasible plans (grey) and its Pareto frontier of time vs memory per GPU
    (highlighted, each labelled with its layout): days for ``tokens`` tokens (no failures) when
    given, else seconds per step, against GB per GPU (device memory dashed, bytes)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))

    def y(s: TrainingStep) -> float:
        return s.seconds_for(tokens) / 86400.0 if tokens else s.step_time

    ax.scatter(
        [s.mem_total * 1e-9 for s in plans],
        [y(s) for s in plans],
        s=8,
        color="0.7",
        label=f"plans ({len(plans)} shown)",
    )
    front = sorted(frontier, key=lambda s: s.mem_total)
    ax.plot(
        [s.mem_total * 1e-9 for s in front],
        [y(s) for s in front],
        "o-",
        color="tab:red",
        ms=5,
        label=f"Pareto frontier ({len(front)} plans)",
    )
    labelled: list[float] = []
    for s in front:
        if any(abs(y(s) / t - 1) < 0.05 for t in labelled):
            continue  # a neighbour within 5% already carries a label
        labelled.append(y(s))
        q = s.plan
        label = (
            f"tp{q.tp} pp{q.pp} dp{q.dp}"
            + (f" cp{q.cp}" if q.cp > 1 else "")
            + (f" ep{q.ep}" if q.ep > 1 else "")
            + f" mb{q.microbatch} {q.recompute[:3]} Z{q.zero}"
            + (" off" if q.offload else "")
        )
        ax.annotate(
            label, (s.mem_total * 1e-9, y(s)), fontsize=6, xytext=(4, 3), textcoords="offset points"
        )
    if memory is not None:
        ax.axvline(memory * 1e-9, color="black", ls="--", lw=1)
        ax.text(
            memory * 1e-9,
            0.98,
            " device memory",
            fontsize=8,
            va="top",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_yscale("log")
    ax.set_xlabel("memory per GPU (GB)")
    ax.set_ylabel(f"days for {tokens:.3g} tokens (no failures)" if tokens else "seconds per step")
    s0 = (front or list(plans))[0]
    ax.set_title(
        f"{s0.model} on {int(s0.gpus):,} x {s0.hardware}: plans, time vs memory per GPU",
        fontsize=10,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center")
    return finish(fig, path)


def validation_scatter(report: ValidationReport, path: str | Path | None = None) -> Any:
    """Predicted vs measured for every predicted row (log axes, each row in its own unit, one
    colour per source), with the diagonal and the 2x band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 6))
    rows = report.modelled
    pairs = [(r.row.value, r.predicted) for r in rows if r.predicted is not None]
    lo = min(min(p) for p in pairs) / 1.5
    hi = min(max(max(p) for p in pairs) * 1.5, 1e308)
    ax.loglog([lo, hi], [lo, hi], color="black", lw=0.8, label="predicted = measured")
    ax.fill_between(
        [lo, hi], [lo / 2, hi / 2], [lo * 2, hi * 2], color="grey", alpha=0.12, label="within 2x"
    )
    # one colour per source; the marker says the kind (o inference, s serving, ^ training)
    markers = {"serving-offline": "s", "training": "^"}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, tag in enumerate(sorted({r.row.source_tag for r in rows})):
        mine = [r for r in rows if r.row.source_tag == tag]
        for k, kind in enumerate(sorted({r.row.kind for r in mine})):
            pts = [r for r in mine if r.row.kind == kind]
            ax.scatter(
                [r.row.value for r in pts],
                [r.predicted or 0.0 for r in pts],
                s=18,
                marker=markers.get(kind, "o"),
                color=colours[i % len(colours)],
                label=tag if k == 0 else None,
            )
    s = report.summary()
    kinds = ", ".join(
        f"{k} {g['median_abs_error']:.0%}"
        for k, g in s["by_kind"].items()
        if g["median_abs_error"] is not None
    )
    ax.set_title(
        f"brickwall vs {s['modelled']} published measurements: median |error| "
        f"{s['median_abs_error']:.1%}\n({kinds})",
        fontsize=9,
    )
    ax.set_xlabel(
        "measured (the row's unit: tokens/s, s, ms, TFLOP/s/GPU)\n"
        "marker: o inference step, square offline serving, triangle training"
    )
    ax.set_ylabel("predicted (same unit)")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return finish(fig, path)
