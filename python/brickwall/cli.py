"""The ``brickwall`` command: each command parses its options (one grammar, cli_args.py), calls
the library, and renders the result as a table, JSON, CSV or a plot. The arithmetic here is
display only (units, shares of a total); every quantity comes from the library."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .cli_args import (
    COUNT,
    FLOATS,
    GRAMMAR,
    INTS,
    Commands,
    QuietConsole,
    counts_from,
    floats,
    ints_from,
    names,
)
from .cli_args import (
    routing as parse_routing,
)
from .cli_tables import print_fitted
from .deployment import Deployment
from .hardware import hardware, hardware_names
from .inference import Routing
from .model import Model, model, model_names
from .readers import from_hf_config
from .speculative import MAX_GAMMA
from .units import fmt_bytes, fmt_count, fmt_flops, fmt_seconds

app = typer.Typer(
    cls=Commands,
    help="brickwall: first-principles cost of training and serving dense and MoE transformers.\n\n"
    + GRAMMAR,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = QuietConsole()


def _print_version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"brickwall {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="print brickwall's version and exit",
    ),
) -> None:
    pass


# Options several commands share, with one default each. Where a command's default differs, its
# own option says why (spec's hardware and tp, prefill's and model's context).
HW_OPT = typer.Option(
    "H100-SXM",
    "--hardware",
    "-H",
    help="catalog accelerator (see `brickwall catalog hardware`) or a chip file, ./my-chip.toml",
)
TP_OPT = typer.Option(
    1, "--tp", parser=counts_from(1), metavar=COUNT, help="tensor-parallel degree"
)
PP_OPT = typer.Option(1, "--pp", parser=counts_from(1), metavar=COUNT, help="pipeline stages")
EP_OPT = typer.Option(
    1, "--ep", parser=counts_from(1), metavar=COUNT, help="expert-parallel degree"
)
BATCH_OPT = typer.Option(
    1, "--batch", "-b", parser=counts_from(1), metavar=COUNT, help="sequences decoded together"
)
CONTEXT_OPT = typer.Option(
    2048,
    "--context",
    "-c",
    parser=counts_from(0),
    metavar=COUNT,
    help="tokens already in each sequence's KV cache",
)
WD_OPT = typer.Option("bf16", "--weight-dtype", help="weight format (bf16, fp8, fp4, ...)")
KD_OPT = typer.Option(None, "--kv-dtype", help="KV-cache format (default: the activation format)")
KS_OPT = typer.Option("heads", "--kv-sharding", help="heads (replicated under MQA) or batch")
OV_OPT = typer.Option(False, "--overlap", help="overlap communication with compute")
PR_OPT = typer.Option(None, "--price", help="USD per chip-hour (default: the catalog's)")
JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
ALLOW_LARGE_OPT = typer.Option(
    False,
    "--allow-large",
    help="run a request over the size limits (long runs or large tables) instead of refusing it",
)
HF_OPT = typer.Option(
    None, "--hf-config", help="a Hugging Face config.json instead of a catalog model NAME"
)


class CatalogKind(str, Enum):
    hardware = "hardware"
    models = "models"


def plot_target(ctx: typer.Context, value: Path | None) -> Path | None:
    """``--plot``: the file the chart goes to, checked before any work. A directory gets
    ``<command>.png`` inside it; a name without a suffix gets ``.png`` (what matplotlib would
    write); the suffix must be a format matplotlib writes and the folder must exist. The path
    returned is the one written and reported."""
    if value is None:
        return None
    path = value / f"{ctx.info_name}.png" if value.is_dir() else value
    if not path.suffix:
        path = path.with_suffix(".png")
    formats = _plot_formats()
    if formats and path.suffix[1:].lower() not in formats:
        raise typer.BadParameter(
            f"{str(value)!r}: expected a file ending in one of {', '.join(sorted(formats))}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise typer.BadParameter(
            f"{str(value)!r}: expected a file in an existing folder ({str(folder)!r} is not one)"
        )
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(
            f"{str(value)!r}: expected a file this user can write ({str(path)!r} is not)"
        )
    existed = path.exists()
    try:  # access() says yes to root everywhere, also in /proc: try it (removed after)
        with open(path, "ab"):
            pass
    except OSError as e:
        raise typer.BadParameter(
            f"{str(value)!r}: expected a file this user can write ({e.strerror})"
        ) from None
    if not existed:
        path.unlink()
    return path


def _plot_formats() -> set[str]:
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:  # pragma: no cover - the plot extra is missing: plotting says so
        return set()
    return set(FigureCanvasBase.get_supported_filetypes())


def announce_plot(path: Path) -> None:
    """Every plotting command says the same line, on stderr (stdout stays JSON/CSV-clean)."""
    sys.stdout.flush()  # after the command's own output, also when both go to one pipe
    typer.echo(f"plot written to {path}", err=True)
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:  # the figure is written: a long-lived caller (tests) should not keep it
        plt.close("all")


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _hardware_table() -> Table:
    t = Table(title="Accelerators (dense peaks, per chip)")
    # two-line headers: the unit under the quantity keeps the columns as narrow as their values
    for col in (
        "name",
        "memory",
        "HBM\nTB/s",
        "bf16\nTFLOP/s",
        "fp8\nTFLOP/s",
        "scale-up\nGB/s/dir",
        "domain",
        "$/chip\nhour",
    ):
        t.add_column(col, justify="left" if col == "name" else "right", no_wrap=col == "name")
    for name in hardware_names():
        h = hardware(name)
        fp8 = h.peak_flops.get("fp8")
        t.add_row(
            name,
            fmt_bytes(h.memory, 3),
            f"{h.memory_bandwidth / 1e12:.3g}",
            f"{h.peak_flops.get('bf16', 0) / 1e12:,.1f}",
            "-" if fp8 is None else f"{fp8 / 1e12:,.1f}",
            f"{h.scale_up_bandwidth / 1e9:,.0f}",
            str(h.scale_up_domain),
            "-" if h.price_per_hour is None else f"{h.price_per_hour:.2f}",
        )
    return t


def _models_table() -> Table:
    t = Table(title="Models (exact counts from shapes)")
    for col in (
        "name",
        "layers",
        "d_model",
        "attention",
        "experts",
        "total",
        "active",
        "GFLOP/\ntoken",
        "KV/token\n(16-bit)",
    ):
        t.add_column(
            col, justify="left" if col in ("name", "attention") else "right", no_wrap=col == "name"
        )
    for name in model_names():
        m = model(name)
        p = m.params
        moe = (
            f"{m.experts} top-{m.top_k}" + (f" +{m.shared_experts}sh" if m.shared_experts else "")
            if m.is_moe
            else "-"
        )
        t.add_row(
            name,
            str(m.layers),
            f"{m.d_model:,}",
            f"{m.attention} {m.heads}/{m.kv_heads}",
            moe,
            fmt_count(p.total),
            fmt_count(p.active),
            f"{m.flops_per_token() / 1e9:,.1f}",
            fmt_bytes(m.kv_bytes_per_token("bf16")),
        )
    return t


@app.command()
def catalog(
    kind: CatalogKind | None = typer.Argument(None, help="hardware or models (default: both)"),
    as_json: bool = JSON_OPT,
) -> None:
    """List the catalog's accelerators and models."""
    kinds = [kind] if kind else list(CatalogKind)
    if as_json:
        out: dict[str, Any] = {}
        if CatalogKind.hardware in kinds:
            out["hardware"] = [hardware(n).summary() for n in hardware_names()]
        if CatalogKind.models in kinds:
            out["models"] = [model(n).summary() for n in model_names()]
        emit_json(out)
        return
    if CatalogKind.hardware in kinds:
        print_fitted(console, _hardware_table())
    if CatalogKind.models in kinds:
        print_fitted(console, _models_table())


def resolve_model(name: str | None, hf_config: Path | None) -> Model:
    if (name is None) == (hf_config is None):
        raise typer.BadParameter("give a catalog model NAME or --hf-config FILE (exactly one)")
    if hf_config is not None:
        return from_hf_config(hf_config)
    assert name is not None
    return model(name)


@app.command("model")
def model_cmd(
    name: str | None = typer.Argument(
        None, help="catalog model name (see `brickwall catalog models`)"
    ),
    hf_config: Path | None = typer.Option(
        None, "--hf-config", help="a Hugging Face config.json instead"
    ),
    context: int = typer.Option(
        0,
        "--context",
        "-c",
        parser=counts_from(0),
        metavar=COUNT,
        help="context for the FLOPs/token attention term (default 0: the context-free count)",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Parameter, FLOP and KV-cache accounting of one model."""
    m = resolve_model(name, hf_config)
    p = m.params
    if as_json:
        data = m.summary()
        data["flops_per_token"] = m.flops_per_token(context)
        data["context"] = context
        emit_json(data)
        return
    t = Table(title=f"{escape(m.name)}: parameters by component")
    t.add_column("component")
    t.add_column("parameters", justify="right")
    t.add_column("share", justify="right")
    for key, value in p.as_dict().items():
        if key in ("total", "active", "routed_experts_active"):
            continue
        t.add_row(key.replace("_", " "), f"{value:,}", f"{value / p.total:.1%}")
    t.add_section()
    t.add_row("[b]total[/b]", f"[b]{p.total:,}[/b] ({fmt_count(p.total)})", "100%")
    t.add_row(
        "[b]active per token[/b]",
        f"[b]{p.active:,}[/b] ({fmt_count(p.active)})",
        f"{p.active / p.total:.1%}",
    )
    console.print(t)
    console.print(
        f"forward FLOPs/token at context {context:,}: {fmt_flops(m.flops_per_token(context))}"
        f"  |  KV cache/token: {fmt_bytes(m.kv_bytes_per_token('bf16'))} at 16-bit ({m.attention}, "
        f"{m.kv_heads} kv heads)  |  weights: {fmt_bytes(m.weight_bytes('bf16'))} at 16-bit"
    )
    if m.source:
        console.print(f"[dim]source: {escape(m.source)}[/dim]")
    if m.notes:
        console.print(f"[dim]note: {escape(m.notes)}[/dim]")


# --- speculative decoding ------------------------------------------------------------------------


@app.command("spec")
def spec_cmd(
    alpha: Sequence[float] = typer.Option(
        "0.8",
        "--alpha",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="acceptance rate(s) in [0, 1], e.g. 0.8 or 0.6,0.7,0.8",
    ),
    gamma: Sequence[int] = typer.Option(
        "1..8",
        "--gamma",
        parser=ints_from(1, MAX_GAMMA),
        metavar=INTS,
        help=f"draft lengths (at most {MAX_GAMMA})",
    ),
    cost_ratio: Sequence[float] = typer.Option(
        "0.05",
        "--cost-ratio",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="draft / target step time c, or a list",
    ),
    target: str | None = typer.Option(None, help="target model: switches to the batching analysis"),
    draft: str | None = typer.Option(None, help="draft model (with --target)"),
    hardware_name: str = typer.Option(
        "A100-80GB",
        "--hardware",
        "-H",
        help="accelerator or chip file (with --target; default A100-80GB, unlike the other commands: "
        "the seed's GPT-4 deployment, as in `reproduce`)",
    ),
    tp: int = typer.Option(
        8,
        "--tp",
        parser=counts_from(1),
        metavar=COUNT,
        help="tensor-parallel degree of the target (default 8: one A100 node, the seed's TP)",
    ),
    pp: int = PP_OPT,
    draft_chips: int | None = typer.Option(
        None,
        "--draft-chips",
        parser=counts_from(1),
        metavar=COUNT,
        help="chips serving the draft (default: tp)",
    ),
    batch: Sequence[int] = typer.Option(
        "1..1024:x2",
        "--batch",
        "-b",
        parser=ints_from(1),
        metavar=INTS,
        help="batches (sequences decoded together)",
    ),
    context: int = CONTEXT_OPT,
    weight_dtype: str = WD_OPT,
    kv_dtype: str | None = KD_OPT,
    plot: Path | None = typer.Option(
        None, "--plot", callback=plot_target, help="save speedup vs batch (with --target)"
    ),
    as_json: bool = JSON_OPT,
    allow_large: bool = ALLOW_LARGE_OPT,
) -> None:
    """Speculative decoding: expected tokens, speedup and the best draft length (Leviathan et al.), or with --target/--draft the speedup vs batch through the roofline and the batch where it stops paying (MagicDec)."""
    from . import speculative as spec
    from .units import fmt_seconds

    if target is None:
        tables = spec.speedup_tables(alpha, cost_ratio, gamma)
        if as_json:
            emit_json([t.summary() for t in tables])
            return
        for r in tables:
            t = Table(
                title=f"speculative decoding: alpha = {r.alpha:g}, cost ratio c = {r.cost_ratio:g}"
            )
            for col in ("gamma", "E\\[tokens]", "speedup"):
                t.add_column(col, justify="right")
            top = r.speedup.max()
            for g, e, x in zip(r.gammas, r.expected_tokens, r.speedup):
                mark, end = ("[b]", "[/b]") if x == top else ("", "")
                t.add_row(str(g), f"{e:.3f}", f"{mark}{x:.3f}x{end}")
            console.print(t)
            console.print(f"best gamma: [b]{r.best_gamma}[/b] ({r.best_speedup:.3f}x)")
        return

    if draft is None:
        raise typer.BadParameter("--target needs --draft")
    tm, dm, hw = model(target), model(draft), hardware(hardware_name)
    dep = Deployment(hw, tp=tp, pp=pp, weight_dtype=weight_dtype, kv_dtype=kv_dtype)
    ddep = Deployment(hw, tp=draft_chips or tp, weight_dtype=weight_dtype, kv_dtype=kv_dtype)
    draft_step = spec.roofline_step_time(ddep)
    sweeps = [
        spec.sweep_batches(
            tm,
            dm,
            dep,
            batch,
            context,
            a,
            gamma,
            draft_step_time=draft_step,
            allow_large=allow_large,
        )
        for a in alpha
    ]
    if as_json:
        emit_json(
            [
                sw.summary()
                | {
                    "target": target,
                    "draft": draft,
                    "hardware": hardware_name,
                    "chips": dep.chips,
                    "draft_chips": ddep.chips,
                }
                for sw in sweeps
            ]
        )
    else:
        for sw in sweeps:
            t = Table(
                title=(
                    f"{target} on {dep.chips} x {hardware_name} (draft {draft} on {ddep.chips}), "
                    f"context {context:,}, alpha = {sw.alpha:g}"
                )
            )
            t.add_column("batch", justify="right")
            t.add_column("plain step", justify="right")
            t.add_column("plain tok/s/user", justify="right")
            for g in sw.gammas:
                t.add_column(f"g={g}", justify="right")
            t.add_column("best g", justify="right")
            for b, speed, row, best in zip(
                sw.batches, sw.plain_tokens_per_s_per_user, sw.speedup, sw.best_gamma
            ):
                t.add_row(
                    str(b),
                    fmt_seconds(1 / speed, 3),
                    f"{speed:,.1f}",
                    *(f"{x:.2f}x" for x in row),
                    str(best),
                )
            console.print(t)
            cb = sw.crossover_batch
            console.print(
                "speculation "
                + (f"stops paying at batch [b]{cb}[/b]" if cb else "pays at every batch shown")
            )
        console.print(
            "[dim]step times: the inference roofline (brickwall.decode with gamma + 1 new tokens per sequence)[/dim]"
        )
    if plot is not None:
        from .plot import spec_speedup_vs_batch

        spec_speedup_vs_batch(
            sweeps[0], title=f"{target} + draft {draft}, {dep.chips} x {hardware_name}", path=plot
        )
        announce_plot(plot)


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def _print_estimate(e: Any) -> None:
    from .units import fmt_seconds, fmt_usd

    d = e.deployment
    t = Table(
        title=f"{e.phase}: {escape(e.model)} on {d.chips}x {d.hardware.name} (TP {d.tp} x PP {d.pp} x EP {d.ep}), "
        f"batch {e.batch:,}, context {e.context:,}"
        + (f", prompt {e.new_tokens:,}" if e.phase == "prefill" else "")
    )
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("step time", fmt_seconds(e.step_time))
    for k, v in e.operators.items():  # they add up to the step (without overlap)
        if v > 0:
            t.add_row(f"  {k}", f"{fmt_seconds(v)} ({v / e.step_time:.0%} of the step)")
    t.add_section()
    for k, v in e.breakdown.items():  # resources: what the operators wait on; they overlap
        t.add_row(f"{k.replace('_', ' ')} time (overlapping)", fmt_seconds(v))
    t.add_row("bound", e.bound)
    if e.phase == "prefill":
        t.add_row("time to first token", fmt_seconds(e.ttft))
        t.add_row("input tokens/s", f"{e.tokens_per_s:,.0f}")
    else:
        t.add_row("per-token latency", fmt_seconds(e.per_token_latency))
        t.add_row("tokens/s per user", f"{e.tokens_per_s_per_user:,.2f}")
        t.add_row("tokens/s aggregate", f"{e.tokens_per_s:,.0f}")
    t.add_row("MFU", f"{e.mfu:.1%}")
    t.add_section()
    for k, v in e.memory.items():
        t.add_row(f"memory/chip: {k.replace('_', ' ')}", fmt_bytes(v))
    t.add_row("fits", "yes" if e.fits else "[red]NO[/red]")
    label = "input" if e.phase == "prefill" else "output"
    cost = e.cost_per_million_tokens
    t.add_row(
        f"$ per 1M {label} tokens", "price unknown (--price)" if cost is None else fmt_usd(cost)
    )
    console.print(t)
    eff = d.efficiency
    console.print(
        f"[dim]assumptions: weights {d.weight_dtype}, KV {d.kv_dtype} ({d.kv_sharding}-sharded), compute {d.compute_dtype}; "
        f"efficiency flops {eff.flops:g} / memory {eff.memory:g} / network {eff.network:g}, "
        f"GEMM half-efficiency at {eff.gemm_m_half:g} rows, {eff.kernel_overhead * 1e6:g} us per kernel; "
        f"all-reduce {d.all_reduce}; communication {'overlapped' if d.overlap else 'not overlapped'}[/dim]"
    )


def _step_command(
    phase: str,
    name: str | None,
    hf_config: Path | None,
    hardware_name: str,
    tp: int,
    pp: int,
    ep: int,
    batch: int,
    tokens: int,
    context: int,
    weight_dtype: str,
    kv_dtype: str | None,
    kv_sharding: str,
    overlap: bool,
    price: float | None,
    as_json: bool,
    plot: Path | None,
    routing: Routing = "expected",
) -> None:
    from . import inference

    m = resolve_model(name, hf_config)
    d = Deployment(
        hardware(hardware_name),
        tp=tp,
        pp=pp,
        ep=ep,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        kv_sharding=kv_sharding,  # type: ignore[arg-type]  # Deployment validates it
        overlap=overlap,
        price_per_hour=price,
    )
    if phase == "decode":
        e = inference.decode(m, d, batch, context, routing=routing)
    else:
        e = inference.prefill(m, d, batch, tokens, context=context, routing=routing)
    if as_json:
        emit_json(e.as_dict())
    else:
        _print_estimate(e)
    if plot is not None:
        from .plot import step_vs_batch

        step_vs_batch(
            m,
            d,
            context=context,
            new_tokens=1 if phase == "decode" else tokens,
            path=plot,
            mark=batch,
        )
        announce_plot(plot)


@app.command()
def decode(
    name: str | None = typer.Argument(None, help="catalog model"),
    hf_config: Path | None = HF_OPT,
    hardware_name: str = HW_OPT,
    tp: int = TP_OPT,
    pp: int = PP_OPT,
    ep: int = EP_OPT,
    batch: int = BATCH_OPT,
    context: int = CONTEXT_OPT,
    weight_dtype: str = WD_OPT,
    kv_dtype: str | None = KD_OPT,
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: float | None = PR_OPT,
    as_json: bool = JSON_OPT,
    plot: Path | None = typer.Option(
        None, "--plot", callback=plot_target, help="PNG: step time and tokens/s vs batch"
    ),
    routing: Any = typer.Option(
        "expected",
        "--routing",
        parser=parse_routing,
        metavar="expected|Q",
        help="MoE: 'expected' or a quantile of the routing distribution, e.g. 0.99",
    ),
) -> None:
    """One decode step: time and its breakdown, tokens/s, MFU, memory per chip, $ per 1M output tokens."""
    _step_command(
        "decode",
        name,
        hf_config,
        hardware_name,
        tp,
        pp,
        ep,
        batch,
        1,
        context,
        weight_dtype,
        kv_dtype,
        kv_sharding,
        overlap,
        price,
        as_json,
        plot,
        routing,
    )


@app.command()
def prefill(
    name: str | None = typer.Argument(None, help="catalog model"),
    hf_config: Path | None = HF_OPT,
    hardware_name: str = HW_OPT,
    tp: int = TP_OPT,
    pp: int = PP_OPT,
    ep: int = EP_OPT,
    batch: int = BATCH_OPT,
    prompt: int = typer.Option(
        2048,
        "--prompt",
        "-p",
        parser=counts_from(1),
        metavar=COUNT,
        help="prompt tokens per sequence",
    ),
    context: int = typer.Option(
        0,
        "--context",
        "-c",
        parser=counts_from(0),
        metavar=COUNT,
        help="tokens already cached before the prompt (default 0: a fresh prompt, "
        "which --prompt sizes)",
    ),
    weight_dtype: str = WD_OPT,
    kv_dtype: str | None = KD_OPT,
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: float | None = PR_OPT,
    as_json: bool = JSON_OPT,
    plot: Path | None = typer.Option(
        None, "--plot", callback=plot_target, help="PNG: step time and tokens/s vs batch"
    ),
) -> None:
    """Prefill: time to first token, input tokens/s, MFU, $ per 1M input tokens."""
    _step_command(
        "prefill",
        name,
        hf_config,
        hardware_name,
        tp,
        pp,
        ep,
        batch,
        prompt,
        context,
        weight_dtype,
        kv_dtype,
        kv_sharding,
        overlap,
        price,
        as_json,
        plot,
    )


def _train_plan_args(n: int, **kw: Any) -> None:
    """The plan options of ``train``, checked before any work: every degree and length a whole
    number >= 1, the batch a finite token count > 0, and room for one data-parallel rank."""
    from .errors import invalid

    for key in ("tp", "pp", "dp", "cp", "seq_len"):
        v = kw[key]
        if v is not None and v < 1:
            raise invalid(f"--{key.replace('_', '-')}", v, "an integer >= 1")
    bt = kw["batch_tokens"]
    if not (math.isfinite(bt) and bt > 0):
        raise invalid("--batch-tokens", bt, "a finite token count > 0")
    if kw["searched"]:
        return
    model_ranks = (kw["tp"] or 1) * (kw["pp"] or 1) * kw["cp"]
    if kw["dp"] is None and model_ranks > n:
        raise invalid(
            "--gpus",
            n,
            f"at least tp x cp x pp = {model_ranks} (no GPUs left for a data-parallel rank)",
        )


@app.command()
def train(
    name: str | None = typer.Argument(None, help="catalog model"),
    hf_config: Path | None = HF_OPT,
    tokens: float = typer.Option(..., "--tokens", help="training tokens, e.g. 13e12"),
    hardware_name: str = HW_OPT,
    gpus: float | None = typer.Option(None, "--gpus", help="accelerators, e.g. 25000 or 2.5e4"),
    mfu: float | None = typer.Option(None, "--mfu", help="model FLOPs utilisation in (0, 1]"),
    days: float | None = typer.Option(None, "--days", help="wall-clock days"),
    price: float | None = PR_OPT,
    dtype: str = typer.Option(
        "bf16", "--dtype", help="the peak MFU refers to; a plan's GEMM precision (bf16, fp8)"
    ),
    tp: int | None = typer.Option(None, "--tp", help="plan: tensor-parallel degree"),
    pp: int | None = typer.Option(None, "--pp", help="plan: pipeline stages"),
    dp: int | None = typer.Option(
        None, "--dp", help="plan: data-parallel degree (default GPUs / (tp x pp))"
    ),
    ep: int = typer.Option(1, "--ep", help="plan: expert-parallel degree (inside dp)"),
    cp: int = typer.Option(
        1,
        "--cp",
        help="plan: context-parallel degree (ring attention; with --search: the largest tried)",
    ),
    offload: bool = typer.Option(
        False, "--offload", help="plan: optimizer states in host memory (over the host link)"
    ),
    microbatch: int = typer.Option(1, "--microbatch", help="plan: sequences per microbatch"),
    schedule: str = typer.Option(
        "1f1b", "--schedule", help="plan: gpipe, 1f1b, interleaved-1f1b, zb-h1"
    ),
    chunks: int = typer.Option(1, "--chunks", help="plan: model chunks per device (interleaved)"),
    recompute: str = typer.Option("selective", "--recompute", help="plan: none, selective, full"),
    zero: int = typer.Option(1, "--zero", help="plan: ZeRO stage 0-3"),
    seq_len: int = typer.Option(4096, "--seq-len", help="plan: tokens per sequence"),
    batch_tokens: float = typer.Option(
        4e6, "--batch-tokens", help="plan: global batch in tokens (rounded to sequences)"
    ),
    search: bool = typer.Option(
        False, "--search", help="search plans for the GPU count (the best by step time)"
    ),
    top: int = typer.Option(5, "--top", help="with --search: plans shown"),
    mtbf_hours: float | None = typer.Option(
        None,
        "--mtbf-hours",
        help="job MTBF (default: Llama 3's 419 interruptions in 54 days on 16,384 GPUs, scaled)",
    ),
    checkpoint_minutes: float = typer.Option(
        5.0, "--checkpoint-minutes", help="checkpoint write time"
    ),
    restart_minutes: float = typer.Option(
        20.0, "--restart-minutes", help="restart time after a failure"
    ),
    trials: int = typer.Option(
        1000, "--trials", help="Monte Carlo runs for the days' spread (0: none)"
    ),
    seed: int = typer.Option(0, "--seed", help="Monte Carlo seed"),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        callback=plot_target,
        help="PNG: memory per GPU and step breakdown (when plans are searched, i.e. --search or no --tp/--pp/--dp, also PATH-frontier.png: days vs memory, the Pareto plans)",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Training time and cost: from a given MFU (two of --gpus, --mfu, --days), or predicted from a plan (--gpus with --tp/--pp..., or --search).

    A plan shows memory per GPU, the step's breakdown, MFU / HFU and goodput under failures."""
    from .training import (
        TrainingPlan,
        chinchilla_tokens,
        goodput,
        plan_step,
        search_plans,
        training_run,
    )
    from .units import DAY, HOUR, fmt_usd

    m = resolve_model(name, hf_config)
    hw = hardware(hardware_name)
    if mfu is not None or days is not None:
        r = training_run(
            m,
            tokens,
            hw,
            gpus=gpus,
            mfu=mfu,
            days=days,
            price_per_hour=price,
            dtype=dtype,
        )
        if as_json:
            emit_json(r.as_dict())
            return
        t = Table(title=f"training {escape(m.name)} on {tokens:.3g} tokens, {r.hardware}")
        t.add_column("quantity")
        t.add_column("value", justify="right")
        t.add_row("FLOPs (6 x matmul params x tokens)", f"{r.flops:.3g}")
        t.add_row("attention FLOPs (3 x forward; in the MFU)", f"{r.attention_flops:.3g}")
        t.add_row("GPUs", f"{r.gpus:,.0f}")
        t.add_row(f"MFU (of {dtype} peak)", f"{r.mfu:.1%}")
        t.add_row("days", f"{r.days:,.1f}")
        t.add_row("GPU-hours", f"{r.gpu_hours:,.3g}")
        t.add_row(
            "cost",
            "price unknown (--price)"
            if r.cost is None
            else f"{fmt_usd(r.cost)} at ${r.price_per_hour:g}/GPU-h",
        )
        t.add_section()
        for basis in ("total", "active"):
            c = chinchilla_tokens(m, basis)
            t.add_row(
                f"Chinchilla tokens (20 x {basis} params)",
                f"{c:.3g} ({c / tokens:.2f}x these tokens)",
            )
        console.print(t)
        return
    # A plan: predicted MFU.
    if gpus is None or not math.isfinite(gpus) or gpus != int(gpus) or gpus < 1:
        raise typer.BadParameter(
            f"--gpus {gpus}: a whole GPU count >= 1 for a plan (or give --mfu / --days)"
        )
    n = int(gpus)
    searched = search or tp is None and pp is None
    _train_plan_args(
        n, tp=tp, pp=pp, dp=dp, cp=cp, seq_len=seq_len, batch_tokens=batch_tokens, searched=searched
    )
    sequences = max(1, round(batch_tokens / seq_len))
    cps = tuple(c for c in (1, 2, 4, 8, 16, 32) if c <= cp)
    axes: dict[str, Any] = dict(ep=(ep,), cp=cps, offload=(False, True) if offload else (False,))
    if searched:
        # A power of two of sequences: divisible by the data-parallel degrees of most layouts.
        sequences = 2 ** max(0, round(math.log2(sequences)))
        found = search_plans(
            m, hw, n, sequences, seq_len, precision=dtype, price_per_hour=price, k=top, **axes
        )
        if not found.steps:
            raise typer.BadParameter(
                f"--gpus {n}: no plan divides and fits (global batch {sequences} sequences)"
            )
        steps = list(found.steps)
    else:
        t_, p_ = tp or 1, pp or 1
        d_ = dp if dp is not None else n // (t_ * p_ * cp)
        if t_ * p_ * d_ * cp != n:
            raise typer.BadParameter(
                f"--gpus {n}: must equal tp x cp x pp x dp = {t_ * p_ * d_ * cp}"
            )
        step_ = d_ * microbatch
        plan = TrainingPlan(
            tp=t_,
            pp=p_,
            dp=d_,
            ep=ep,
            microbatch=microbatch,
            global_batch=max(1, sequences // step_) * step_,
            seq_len=seq_len,
            schedule=schedule,
            chunks=chunks,
            recompute=recompute,
            zero=zero,
            precision=dtype,
            cp=cp,
            offload=offload,
        )
        steps = [plan_step(m, hw, plan, price_per_hour=price)]
    best = steps[0]
    g = goodput(
        best,
        tokens=tokens,
        mtbf=None if mtbf_hours is None else mtbf_hours * HOUR,
        checkpoint_write=checkpoint_minutes * 60,
        restart=restart_minutes * 60,
        trials=trials,
        seed=seed,
    )
    frontier_path: Path | None = None
    if plot is not None:
        from .plot import training_frontier
        from .plot import training_step as plot_training

        plot_training(steps[:4], plot, memory=hw.memory)
        if searched:
            # The frontier of time vs memory per GPU, over the plans that fit, and a cloud of
            # the fastest plans around it.
            kw: dict[str, Any] = dict(precision=dtype, price_per_hour=price, **axes)
            cloud = search_plans(m, hw, n, sequences, seq_len, k=2000, **kw)
            front = search_plans(
                m,
                hw,
                n,
                sequences,
                seq_len,
                objectives=("step_time", "memory"),
                keep="pareto",
                **kw,
            )
            frontier_path = plot.with_name(plot.stem + "-frontier" + (plot.suffix or ".png"))
            training_frontier(
                cloud.steps, front.steps, frontier_path, tokens=tokens, memory=hw.memory
            )
    if as_json:
        out = best.as_dict()
        out["tokens"] = tokens
        out["days_no_failures"] = best.seconds_for(tokens) / DAY
        out["cost_usd"] = best.cost_for(tokens)
        out["goodput"] = g.as_dict()
        if len(steps) > 1:
            out["alternatives"] = [s.as_dict() for s in steps[1:]]
        emit_json(out)
    else:
        p = best.plan
        t = Table(title=f"training {escape(m.name)} on {n:,} x {hw.name}, {tokens:.3g} tokens")
        t.add_column("quantity")
        t.add_column("value", justify="right")
        t.add_row(
            "plan",
            f"tp {p.tp} x "
            + (f"cp {p.cp} x " if p.cp > 1 else "")
            + f"pp {p.pp} x dp {p.dp}"
            + (f" (ep {p.ep})" if p.ep > 1 else "")
            + (f", {p.precision}" if p.precision != "bf16" else "")
            + (", optimizer offloaded" if p.offload else "")
            + f", {p.schedule}"
            + (f" x{p.chunks}" if p.chunks > 1 else "")
            + f", microbatch {p.microbatch}, {p.recompute} recompute, ZeRO {p.zero}",
        )
        t.add_row(
            "global batch",
            f"{p.global_batch:,} x {p.seq_len} = {p.batch_tokens / 1e6:.3g}M tokens, {int(best.microbatches)} microbatches/pipeline",
        )
        t.add_section()
        for k, v in best.memory.items():
            t.add_row(f"memory: {k}", f"{v / 1e9:,.1f} GB")
        t.add_row(
            "memory per GPU",
            f"{best.mem_total / 1e9:,.1f} of {hw.memory / 1e9:.0f} GB ({'fits' if best.fits else 'DOES NOT FIT'})",
        )
        t.add_section()
        for k, v in best.breakdown.items():
            t.add_row(f"time: {k}", f"{v:.3g} s ({v / best.step_time:.1%})")
        t.add_row("step time", f"{best.step_time:.3g} s, {best.tokens_per_s:,.3g} tokens/s")
        t.add_row(
            f"MFU / HFU (of dense {best.plan.precision} peak)", f"{best.mfu:.1%} / {best.hfu:.1%}"
        )
        t.add_section()
        cost = best.cost_for(tokens)
        t.add_row("days (no failures)", f"{best.seconds_for(tokens) / DAY:,.1f}")
        t.add_row("cost", "price unknown (--price)" if cost is None else fmt_usd(cost))
        t.add_row(
            "job MTBF",
            f"{g.mtbf / HOUR:,.2f} h; checkpoint every {g.interval / 60:,.0f} min (Daly)",
        )
        t.add_row(
            "productive fraction",
            f"{g.productive_fraction:.1%} (effective MFU {g.effective_mfu or 0:.1%})",
        )
        t.add_row("days with failures (expected)", f"{g.expected_seconds / DAY:,.1f}")
        if g.simulated_seconds:
            t.add_row(
                "days, Monte Carlo p10 / p50 / p90",
                " / ".join(f"{g.quantile(q) / DAY:,.1f}" for q in (0.1, 0.5, 0.9)),
            )
        console.print(t)
        if len(steps) > 1:
            alt = Table(title="other plans (search)")
            for col in (
                "tp",
                "cp",
                "pp",
                "dp",
                "mb",
                "schedule",
                "recompute",
                "zero",
                "GB/GPU",
                "step s",
                "MFU",
            ):
                alt.add_column(col, justify="right")
            for s in steps[1:]:
                q = s.plan
                alt.add_row(
                    str(q.tp),
                    str(q.cp),
                    str(q.pp),
                    str(q.dp),
                    str(q.microbatch),
                    q.schedule,
                    q.recompute,
                    str(q.zero),
                    f"{s.mem_total / 1e9:.1f}",
                    f"{s.step_time:.3g}",
                    f"{s.mfu:.1%}",
                )
            console.print(alt)
    if plot is not None:
        announce_plot(plot)
    if frontier_path is not None:
        announce_plot(frontier_path)


class ClaimsFormat(str, Enum):
    auto = "auto"
    blocks = "blocks"
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


WIDE = 160  # columns from which `reproduce` shows the full table by default
_VERDICT_STYLE = {
    "consistent": "green",
    "partly": "yellow",
    "depends": "yellow",
    "inconsistent": "red",
    "assumption": "cyan",
}


def _fit(text: str, width: int) -> str:
    """One line of at most ``width`` characters (cut with '...')."""
    return text if len(text) <= width else text[: max(width - 3, 1)].rstrip() + "..."


def _field(label: str, text: str, width: int, verbose: bool) -> list[str]:
    """``label text`` indented two columns: wrapped whole with --verbose, else one line."""
    if not verbose:
        return [_fit(f"  {label}{text}", width)]
    import textwrap

    return textwrap.wrap(
        text,
        width,
        initial_indent=f"  {label}",
        subsequent_indent=" " * (2 + len(label)),
        break_on_hyphens=False,
    ) or [f"  {label}"]


def _claim_block(r: Any, width: int, verbose: bool) -> list[Text]:
    """One claim in a few lines: id, verdict and unit, the article's sentence, both numbers, and
    the why (one line; whole, with assumptions and details, under --verbose)."""
    head = Text(r.id, style="bold")
    head.append("  ")
    head.append(r.verdict, style=_VERDICT_STYLE[r.verdict])
    head.append(f"  ({r.unit})", style="dim")
    head.truncate(width, overflow="ellipsis")
    lines = _field("", r.claim, width, verbose)
    numbers = f"article {r.article}  |  brickwall {r.computed}"
    if len(numbers) + 2 <= width or verbose:
        lines += _field("", numbers, width, verbose)
    else:
        lines += _field("article   ", r.article, width, verbose)
        lines += _field("brickwall ", r.computed, width, verbose)
    if r.why:
        lines += _field("why: ", r.why, width, verbose)
    if verbose and r.assumptions:
        lines += _field("assumptions: ", "; ".join(r.assumptions), width, True)
    if verbose and r.details:
        details = ", ".join(f"{k} {v:.4g}" for k, v in r.details.items())
        lines += _field("details: ", details, width, True)
    return [head, *(Text(line) for line in lines)]


@app.command()
def reproduce(
    fmt: ClaimsFormat = typer.Option(
        ClaimsFormat.auto,
        "--format",
        "-f",
        help="auto: one block per claim, or the full table on a terminal at least "
        f"{WIDE} columns wide; or blocks, table, markdown, json, csv",
    ),
    only: str | None = typer.Option(
        None,
        "--only",
        metavar="ID[,ID...]",
        help="claim ids or id prefixes, comma-separated (e.g. cost,spec.tokens)",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="blocks: the whole why, the assumptions and the details"
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Re-derive every quantitative claim of the GPT-4 analysis and give each a verdict."""
    from .claims import MEANING, VERDICTS
    from .claims import reproduce as run

    rows = run(only)
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    summary = f"{len(rows)} claim{'s' * (len(rows) != 1)}: " + ", ".join(
        f"{n} {v}{'s' * (v == 'assumption' and n != 1)}" for v, n in counts.items() if n
    )
    if as_json:
        fmt = ClaimsFormat.json
    if fmt is ClaimsFormat.auto:
        wide = console.is_terminal and console.width >= WIDE
        fmt = ClaimsFormat.table if wide else ClaimsFormat.blocks
    if fmt is ClaimsFormat.json:
        emit_json(
            {
                "summary": counts,
                "verdicts": MEANING,
                "claims": [r.as_dict() for r in rows],
            }
        )
    elif fmt is ClaimsFormat.csv:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(["id", "claim", "article", "computed", "unit", "verdict", "why", "assumptions"])
        for r in rows:
            w.writerow(
                [
                    r.id,
                    r.claim,
                    r.article,
                    r.computed,
                    r.unit,
                    r.verdict,
                    r.why,
                    "; ".join(r.assumptions),
                ]
            )
    elif fmt is ClaimsFormat.markdown:
        typer.echo(
            "| id | claim | article | brickwall | unit | verdict | why / assumptions |\n"
            "|---|---|---|---|---|---|---|"
        )
        for r in rows:
            why = "; ".join(x for x in (r.why, *r.assumptions) if x).replace("|", "/")
            typer.echo(
                f"| {r.id} | {r.claim} | {r.article} | {r.computed} | {r.unit} | {r.verdict} "
                f"| {why} |"
            )
        typer.echo(f"\n{summary}")
    elif fmt is ClaimsFormat.table:
        t = Table(title="The seed's claims, re-derived", show_lines=True)
        for col in ("id", "claim", "article", "brickwall", "unit", "verdict", "why / assumptions"):
            t.add_column(col, no_wrap=col in ("id", "verdict"))
        for r in rows:
            why = "; ".join(x for x in (r.why, *r.assumptions) if x)
            verdict = Text(r.verdict, style=_VERDICT_STYLE[r.verdict])
            cells = (r.id, r.claim, r.article, r.computed, r.unit)
            t.add_row(*(Text(c) for c in cells), verdict, Text(why))  # Text: no markup
        console.print(t)
        console.print(Text(summary, style="bold"))
    else:
        width = max(console.width, 40)
        for i, r in enumerate(rows):
            if i:
                console.print()
            for text in _claim_block(r, width, verbose):
                console.print(text, no_wrap=True, overflow="ignore", crop=False)
        console.print()
        console.print(Text(summary, style="bold"))
        if verbose:
            for v, meaning in MEANING.items():
                for legend in _field(f"{v}: ", meaning, width, True):
                    console.print(Text(legend, style="dim"), no_wrap=True, crop=False)
        else:
            console.print(Text("--verbose: the whole why, assumptions and details", style="dim"))


@app.command()
def bandwidth(
    speeds: Sequence[float] = typer.Option(
        "8.33,20,33.33",
        "--speeds",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="tokens/s per user",
    ),
    params: Sequence[float] = typer.Option(
        "70e9,175e9,300e9,1e12,1.8e12",
        "--params",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="dense parameter counts",
    ),
    dtype: str = typer.Option("bf16", "--dtype", help="weight format"),
    overhead: float = typer.Option(
        1.0, "--overhead", help="other traffic as a multiple of weight reads (the seed: 1)"
    ),
    plot: Path | None = typer.Option(
        None, "--plot", callback=plot_target, help="PNG: the seed's bandwidth-vs-model-size chart"
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Memory bandwidth a batch-1 dense model needs to reach reading speeds (the seed's chart)."""
    import numpy as np

    from .hardware import Efficiency
    from .inference import bandwidth_for_params

    one = Deployment(hardware("H100-SXM"), weight_dtype=dtype, efficiency=Efficiency.ideal())
    with np.errstate(over="ignore"):
        need = bandwidth_for_params(
            one, np.array(params)[:, None], np.array(speeds), overhead=overhead
        )
    if not np.all(np.isfinite(need)):  # finite inputs whose product overflows
        raise typer.BadParameter(
            "the bandwidth needed overflows (over 1.8e308 B/s): expected smaller "
            "--params, --speeds or --overhead"
        )
    if as_json:
        emit_json(
            [
                {"params": p, "tokens_per_s": s, "bandwidth_bytes_s": float(v)}
                for p, row in zip(params, need)
                for s, v in zip(speeds, row)
            ]
        )
    else:
        t = Table(
            title=f"memory bandwidth needed at batch 1 ({dtype} weights, overhead {overhead:g}x)"
        )
        t.add_column("params")
        for s in speeds:
            t.add_column(f"{s:g} tok/s", justify="right")
        for p, row in zip(params, need):
            t.add_row(fmt_count(p), *(f"{v / 1e12:,.1f} TB/s" for v in row))
        console.print(t)
        scale = ", ".join(
            f"8x {n} = {8 * hardware(n).memory_bandwidth / 1e12:.1f} TB/s"
            for n in ("H100-SXM", "A100-80GB")
        )
        console.print(f"[dim]for scale: {scale}[/dim]")
    if plot is not None:
        from .plot import bandwidth_chart

        bandwidth_chart(tuple(speeds), path=plot, dtype=dtype, overhead=overhead)
        announce_plot(plot)


@app.command("moe")
def moe_cmd(
    experts: int = typer.Option(
        16, "--experts", parser=counts_from(1), metavar=COUNT, help="routed experts E"
    ),
    top_k: int = typer.Option(
        2, "--top-k", parser=counts_from(1), metavar=COUNT, help="experts per token k"
    ),
    tokens: int = typer.Option(
        8, "--tokens", parser=counts_from(1), metavar=COUNT, help="tokens per step (batch) B"
    ),
    trials: int = typer.Option(
        1_000_000,
        "--trials",
        parser=counts_from(1),
        metavar=COUNT,
        help="Monte Carlo steps, e.g. 1e6",
    ),
    seed: int = typer.Option(0, "--seed", parser=counts_from(0), metavar=COUNT, help="RNG seed"),
    zipf_s: float | None = typer.Option(
        None, "--zipf", help="Zipf popularity exponent s (p_i ~ 1/i^s)"
    ),
    dirichlet: float | None = typer.Option(
        None, "--dirichlet", help="fresh Dirichlet(alpha) popularity per step"
    ),
    devices: int | None = typer.Option(
        None,
        "--devices",
        parser=counts_from(1),
        metavar=COUNT,
        help="expert-parallel devices (divides E)",
    ),
    capacity_factor: float | None = typer.Option(
        None, "--capacity-factor", help="capacity ceil(cf k B / E) per expert"
    ),
    plot_path: Path | None = typer.Option(
        None, "--plot", callback=plot_target, help="save the load histograms to this image"
    ),
    as_json: bool = JSON_OPT,
    allow_large: bool = ALLOW_LARGE_OPT,
) -> None:
    """Distribution of tokens per expert / device in one MoE step (Monte Carlo + exact)."""
    from . import moe

    if zipf_s is not None and dirichlet is not None:
        raise typer.BadParameter("give at most one of --zipf and --dirichlet")
    popularity: Any = (
        ("zipf", zipf_s)
        if zipf_s is not None
        else ("dirichlet", dirichlet)
        if dirichlet is not None
        else None
    )
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    # a bar with the time left: a long run says how long it will take
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(TextColumn("routing"), *columns, console=console, transient=True) as bar:
        task = bar.add_task("routing", total=trials)
        r = moe.route(
            experts,
            top_k,
            tokens,
            trials,
            seed,
            popularity,
            capacity_factor,
            devices,
            progress=lambda done: bar.update(task, completed=done),
            allow_large=allow_large,
        )
    # no closed forms under Dirichlet drift
    ex = (
        None
        if dirichlet is not None
        else moe.exact_loads(experts, top_k, tokens, popularity, capacity=r.capacity)
    )
    exact: dict[str, Any] = {} if ex is None else ex.summary()
    if plot_path is not None:
        from .plot import moe_load

        moe_load(r, plot_path)
        announce_plot(plot_path)
    if as_json:
        data = r.summary()
        data["exact"] = exact
        emit_json(data)
        return
    labels = {
        "load": "tokens/expert",
        "max_load": "busiest expert",
        "device_load": f"busiest device ({r.n_experts // r.devices} exp.)",
        "touched": "experts touched",
        "dropped": f"dropped (cap {r.capacity})",
    }
    t = Table(
        title=f"top-{r.top_k} of {r.n_experts} experts, {r.tokens:,} tokens/step, {r.popularity}, "
        f"{r.trials:,} steps (seed {r.seed})"
    )
    for col in ("tokens", "mean", "exact", "std", "p50", "p90", "p99", "max"):
        t.add_column(col, justify="left" if col == "tokens" else "right", no_wrap=col == "tokens")
    for name in moe.QUANTITIES:
        if (name == "device_load" and r.devices == 1) or (name == "dropped" and r.capacity is None):
            continue
        x = exact.get(name)
        ex_s = (
            "-" if x is None else (f"{x[0]:.5g}-{x[1]:.5g}" if isinstance(x, tuple) else f"{x:.4g}")
        )
        p = r.percentiles(name)
        t.add_row(
            labels[name],
            f"{r.mean(name):.4g}",
            ex_s,
            f"{r.std(name):.3g}",
            str(p["p50"]),
            str(p["p90"]),
            str(p["p99"]),
            str(r.max_value(name)),
        )
    console.print(t)
    if r.tokens <= 32:
        pt = Table(title="P(c tokens): one expert, and the busiest expert of a step")
        for col in ("c", "expert MC", "expert exact", "busiest MC", "busiest exact"):
            pt.add_column(col, justify="right")
        pe = moe.load_pmf(experts, top_k, tokens) if r.popularity == "uniform" else None
        pm = (
            ex.max_load.pmf()
            if ex is not None and r.popularity == "uniform" and ex.max_load.exact
            else None
        )
        for c in range(r.tokens + 1):
            pt.add_row(
                str(c),
                f"{r.pmf('load')[c]:.3e}",
                "-" if pe is None else f"{pe[c]:.3e}",
                f"{r.pmf('max_load')[c]:.3e}",
                "-" if pm is None else f"{pm[c]:.3e}",
            )
        console.print(pt)
    if r.capacity is not None:
        console.print(
            f"capacity {r.capacity} tokens/expert: {r.drop_fraction:.2%} of assignments dropped on average"
        )
    console.print(
        "[dim]exact: k B / E, E(1-(1-k/E)^B), E E[(X-C)+] with X ~ Bin(B, k/E); busiest expert by "
        f"{exact.get('max_load_method', '-')}[/dim]"
    )


# -- sweep ---------------------------------------------------------------------------------------


def _pick(n: int, k: int) -> list[int]:
    """At most k row positions spread evenly over n rows, ends included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _why_none_feasible(m: Model, r: Any, axes: dict[str, Any], constraints: dict[str, Any]) -> str:
    """Why a sweep kept nothing: the roomiest layout on the axes (most free memory per chip at
    the smallest batch and context) either does not fit, or fits and misses a constraint."""
    from itertools import product

    from . import inference
    from .errors import BrickwallError

    best: Any = None
    for h, t, wd, kd in product(
        axes["hardware"], axes["tp"], axes["weight_dtype"], axes["kv_dtype"]
    ):
        hw = hardware(h)
        if constraints["tp_within_scale_up"] and t > hw.scale_up_domain:
            continue
        try:
            d = Deployment(
                hw,
                tp=t,
                pp=max(axes["pp"]),
                ep=max(axes["ep"]),
                weight_dtype=wd,
                kv_dtype=kd,
                **axes["deployment"],
            )
            b, c = min(axes["batch"]), min(axes["context"])
            e = (
                inference.decode(m, d, b, c)
                if r.phase == "decode"
                else inference.prefill(m, d, b, c)
            )
        except BrickwallError:
            continue
        if (
            best is None
            or e.memory["free"] / hw.memory > best.memory["free"] / best.deployment.hardware.memory
        ):
            best = e
    if best is None:
        return "no layout on the axes is valid for this model"
    d = best.deployment
    where = (
        f"{d.hardware.name} TP {d.tp} x PP {d.pp} x EP {d.ep} ({d.weight_dtype} weights) at "
        f"batch {best.batch:,}, context {best.context:,}"
    )
    if not best.fits:
        need = best.memory["weights"] + best.memory["kv_cache"] + best.memory["activations"]
        return (
            f"nothing fits in memory: the roomiest layout, {where}, needs {fmt_bytes(need)} per "
            f"chip of {fmt_bytes(d.hardware.memory)} (more --tp/--pp/--ep or a smaller "
            "--weight-dtype would help)"
        )
    misses = []
    latency = best.per_token_latency if r.phase == "decode" else best.ttft
    if constraints["max_latency"] is not None and latency > constraints["max_latency"]:
        misses.append(f"latency {latency * 1e3:,.3g} ms > --max-latency-ms")
    need_speed = constraints["min_tokens_per_s_per_user"]
    if need_speed is not None and best.tokens_per_s_per_user < need_speed:
        misses.append(
            f"{best.tokens_per_s_per_user:,.3g} tok/s per user < --min-tokens-per-s-per-user"
        )
    if constraints["max_chips"] is not None and d.chips > constraints["max_chips"]:
        misses.append(f"{d.chips} chips > --max-chips")
    return (
        f"no configuration that fits meets the constraints (the roomiest, {where}: "
        f"{'; '.join(misses) or 'excluded by a constraint'})"
    )


@app.command()
def sweep(
    name: str | None = typer.Argument(None, help="catalog model"),
    hf_config: Path | None = HF_OPT,
    hardware_list: Sequence[str] = typer.Option(
        "H100-SXM",
        "--hardware",
        "-H",
        parser=names,
        metavar="NAME[,NAME...]",
        help="catalog accelerators or chip files (./my-chip.toml), comma-separated",
    ),
    tp: Sequence[int] = typer.Option(
        "1,2,4,8",
        "--tp",
        parser=ints_from(1),
        metavar=INTS,
        help="tensor-parallel degrees (default 1,2,4,8: a sweep searches them)",
    ),
    pp: Sequence[int] = typer.Option(
        "1", "--pp", parser=ints_from(1), metavar=INTS, help="pipeline stages, e.g. 1..16:x2"
    ),
    ep: Sequence[int] = typer.Option(
        "1", "--ep", parser=ints_from(1), metavar=INTS, help="expert-parallel degrees"
    ),
    batch: Sequence[int] = typer.Option(
        "1..256",
        "--batch",
        "-b",
        parser=ints_from(1),
        metavar=INTS,
        help="batch sizes, e.g. 1..4096, 1..4096:8 or 1..4096:x2",
    ),
    context: Sequence[int] = typer.Option(
        "2048",
        "--context",
        "-c",
        parser=ints_from(0),
        metavar=INTS,
        help="context lengths (prefill: prompt lengths)",
    ),
    weight_dtype: Sequence[str] = typer.Option(
        "bf16",
        "--weight-dtype",
        parser=names,
        metavar="NAME[,NAME...]",
        help="weight formats, comma-separated",
    ),
    kv_dtype: Sequence[str] | None = typer.Option(
        None,
        "--kv-dtype",
        parser=names,
        metavar="NAME[,NAME...]",
        help="KV formats, comma-separated (default: the activation format)",
    ),
    phase: str = typer.Option("decode", "--phase", help="decode or prefill"),
    objectives: str = typer.Option(
        "cost,latency",
        "--objectives",
        "-o",
        help="2-3 of cost, latency, tokens_per_s_per_user, tokens_per_s, chips, mfu (name:min/max)",
    ),
    top: int | None = typer.Option(
        None,
        "--top",
        parser=counts_from(1),
        metavar=COUNT,
        help="keep the top K by the first objective instead of the frontier",
    ),
    max_latency_ms: float | None = typer.Option(
        None, "--max-latency-ms", help="per-token latency (prefill: TTFT) at most, ms"
    ),
    min_speed: float | None = typer.Option(
        None, "--min-tokens-per-s-per-user", help="per-user tokens/s at least"
    ),
    max_chips: int | None = typer.Option(
        None, "--max-chips", parser=counts_from(1), metavar=COUNT, help="chips at most"
    ),
    tp_scale_out: bool = typer.Option(
        False, "--tp-across-nodes", help="allow tp beyond the scale-up domain"
    ),
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: float | None = typer.Option(
        None, "--price", help="USD per chip-hour for every hardware (default: the catalog's)"
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        callback=plot_target,
        help="PNG: cost vs per-token latency, one frontier per hardware",
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = typer.Option(False, "--csv", help="every kept row as CSV"),
    rows: int = typer.Option(
        20, "--rows", parser=counts_from(2), metavar=COUNT, help="frontier rows shown in the table"
    ),
    no_progress: bool = typer.Option(
        False, "--no-progress", help="no progress bar (off anyway with --json or --csv)"
    ),
    allow_large: bool = ALLOW_LARGE_OPT,
) -> None:
    """Sweep hardware x tp x pp x ep x dtypes x batch x context through the roofline and print the Pareto frontier (or the top K): which configuration is best, and what each trade costs."""
    from .sweep import COLUMN_UNITS
    from .sweep import sweep as run
    from .units import fmt_seconds, fmt_usd

    m = resolve_model(name, hf_config)
    keep: Any = "pareto" if top is None else ("top", top)
    machine = as_json or as_csv
    by = (
        "hardware"
        if (len(hardware_list) > 1 and top is None and (plot is not None or not machine))
        else None
    )
    constraints = {
        "max_latency": None if max_latency_ms is None else max_latency_ms / 1e3,
        "min_tokens_per_s_per_user": min_speed,
        "max_chips": max_chips,
        "tp_within_scale_up": not tp_scale_out,
    }
    r = run(
        m,
        hardware=hardware_list,
        tp=tp,
        pp=pp,
        ep=ep,
        batch=batch,
        context=context,
        weight_dtype=weight_dtype,
        kv_dtype=[None] if kv_dtype is None else kv_dtype,
        phase=phase,  # type: ignore[arg-type]
        constraints=constraints,
        objectives=objectives,
        keep=keep,
        progress=not (machine or no_progress),
        by=by,  # type: ignore[arg-type]
        kv_sharding=kv_sharding,  # type: ignore[arg-type]
        overlap=overlap,
        price_per_hour=price,
        allow_large=allow_large,
    )
    cols = r.columns
    shown = list(range(r.kept))
    if "on_frontier" in cols:
        shown = [i for i in shown if cols["on_frontier"][i]]
    axes = {
        "hardware": hardware_list,
        "tp": tp,
        "pp": pp,
        "ep": ep,
        "batch": batch,
        "context": context,
        "weight_dtype": weight_dtype,
        "kv_dtype": [None] if kv_dtype is None else kv_dtype,
        "deployment": {"kv_sharding": kv_sharding, "overlap": overlap},
    }
    why_none = _why_none_feasible(m, r, axes, constraints) if r.feasible == 0 else None
    if why_none is not None and not machine:
        console.print(Text(f"no feasible configuration: {why_none}"))
        console.print(Text(r.counts()))
        if plot is not None:
            raise typer.BadParameter(f"--plot: nothing to plot ({why_none})")
        return
    if as_json:
        summary = r.summary() | ({} if why_none is None else {"why_none_feasible": why_none})
        emit_json(
            {
                "summary": summary,
                "units": COLUMN_UNITS,
                "rows": [r.row(i) for i in range(r.kept)],
            }
        )
    elif as_csv:
        import csv

        w = csv.writer(sys.stdout)
        keys = list(cols)
        w.writerow(keys)
        for i in range(r.kept):
            w.writerow([cols[k][i] for k in keys])
    else:
        what = "frontier" if top is None else f"top {top} by {r.objectives[0][0]}"
        t = Table(
            title=f"{escape(m.name)} {r.phase}: {what} over {', '.join(f'{n} ({s})' for n, s in r.objectives)}"
            + (" - the joint frontier of all hardware" if by else "")
        )
        many = {k: len(set(cols[k].tolist())) > 1 for k in ("weight_dtype", "kv_dtype", "context")}
        heads = (
            ["hardware", "TPxPPxEP", "batch"]
            + (["ctx"] if many["context"] else [])
            + (["weights"] if many["weight_dtype"] else [])
            + (["KV"] if many["kv_dtype"] else [])
            + [
                "$/1M tok",
                "latency" if r.phase == "decode" else "TTFT",
                "tok/s/user",
                "tok/s",
                "MFU",
            ]
        )
        for col in heads:
            t.add_column(
                col,
                justify="left" if col in ("hardware", "TPxPPxEP", "weights", "KV") else "right",
                no_wrap=True,
            )
        for i in [shown[j] for j in _pick(len(shown), rows)]:
            cells = [
                cols["hardware"][i],
                f"{cols['tp'][i]}x{cols['pp'][i]}x{cols['ep'][i]}",
                f"{cols['batch'][i]:,}",
            ]
            cells += [f"{cols['context'][i]:,}"] if many["context"] else []
            cells += [cols["weight_dtype"][i]] if many["weight_dtype"] else []
            cells += [cols["kv_dtype"][i]] if many["kv_dtype"] else []
            cells += [
                fmt_usd(cols["cost"][i]),
                fmt_seconds(cols["latency"][i]),
                f"{cols['tokens_per_s_per_user'][i]:,.1f}",
                f"{cols['tokens_per_s'][i]:,.0f}",
                f"{cols['mfu'][i]:.1%}",
            ]
            t.add_row(*cells)
        console.print(t)
        if len(shown) > rows:
            joint = (
                f" (of the {r.kept:,} kept: each hardware's own frontier)"
                if len(shown) < r.kept
                else ""
            )
            console.print(
                f"[dim]{rows} of {len(shown):,} frontier rows shown{joint}, evenly spaced "
                "(--rows, --json or --csv for all)[/dim]"
            )
        console.print(Text(r.counts()))
    if plot is not None:
        r.plot(plot)
        announce_plot(plot)


# --- pipeline ------------------------------------------------------------------------------------


@app.command("pipeline")
def pipeline_cmd(
    schedule: str = typer.Argument(
        ..., help="gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-h2 or forward"
    ),
    stages: int = typer.Option(
        16, "--stages", "-p", parser=counts_from(1), metavar=COUNT, help="pipeline stages (devices)"
    ),
    microbatches: int = typer.Option(
        64,
        "--microbatches",
        "-m",
        parser=counts_from(1),
        metavar=COUNT,
        help="microbatches per step (with --compare: added to the grid)",
    ),
    forward: Sequence[float] = typer.Option(
        "1",
        "--forward",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="forward seconds per microbatch: one number or one per stage",
    ),
    backward: Sequence[float] | None = typer.Option(
        None,
        "--backward",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="backward seconds (default 2 x forward; 0 for forward)",
    ),
    weight_grad: Sequence[float] | None = typer.Option(
        None,
        "--weight-grad",
        parser=lambda t: floats(t, minimum=0.0),
        metavar=FLOATS,
        help="weight-gradient seconds; zb-* default: half the backward",
    ),
    chunks: int | None = typer.Option(
        None,
        "--chunks",
        "-v",
        parser=counts_from(1),
        metavar=COUNT,
        help="chunks per device for interleaved-1f1b (default 1; 2 with --compare)",
    ),
    p2p: float = typer.Option(0.0, "--p2p", help="seconds per hop between stages"),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        callback=plot_target,
        help="write the Gantt chart (or with --compare, bubble vs microbatches) here",
    ),
    compare: Sequence[str] | None = typer.Option(
        None,
        "--compare",
        parser=names,
        metavar="NAME[,NAME...]",
        help="schedules to compare: bubble vs microbatches",
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Simulate a pipeline schedule: makespan, bubble, per-stage idle and peak activations."""
    from . import pipeline as pp

    if compare is not None:
        c = pp.compare_bubbles(
            [n.lower() for n in compare],
            stages,
            [microbatches],
            forward,
            backward,
            weight_grad,
            chunks,
            p2p,
        )
        if as_json:
            emit_json(c.summary())
        else:
            t = Table(title=f"Bubble (share of device time), {c.stages} stages")
            t.add_column("microbatches", justify="right")
            for label in c.bubble_fraction:
                t.add_column(label, justify="right")
            for i, m in enumerate(c.microbatches):
                t.add_row(
                    str(m),
                    *("-" if y[i] != y[i] else f"{y[i]:.2%}" for y in c.bubble_fraction.values()),
                )
            console.print(t)
        if plot is not None:
            from .plot import pipeline_bubbles

            pipeline_bubbles(c.microbatches, c.bubble_fraction, c.stages, plot)
            announce_plot(plot)
        return

    times = pp.stage_times(schedule, forward, backward, weight_grad)
    s = pp.simulate(
        schedule,
        stages,
        microbatches,
        times.forward,
        times.backward,
        times.weight_grad,
        chunks or 1,
        p2p,
    )
    if as_json:
        data = s.summary()
        if times.note:
            data["note"] = times.note
        emit_json(data)
    else:
        console.print(
            f"[b]{s.schedule}[/b]: {s.stages} stages x {s.microbatches} microbatches"
            + (f" x {s.chunks} chunks" if s.chunks > 1 else "")
            + f"  |  makespan {s.makespan:.6g} s (lower bound {s.lower_bound:.6g})"
            + f"  |  bubble {s.bubble_fraction:.2%} of device time, {s.bubble_ratio:.2%} of ideal"
        )
        if times.note:
            console.print(f"[dim]{times.note}[/dim]")
        if s.stages <= 64:
            t = Table()
            for col in ("stage", "busy s", "idle s", "idle", "peak in-flight"):
                t.add_column(col, justify="right")
            for d in range(s.stages):
                t.add_row(
                    str(d),
                    f"{s.busy[d]:.6g}",
                    f"{s.idle[d]:.6g}",
                    f"{s.idle[d] / s.makespan:.1%}" if s.makespan > 0 else "-",
                    f"{s.peak_in_flight[d]:.4g}",
                )
            console.print(t)
    if plot is not None:
        from .plot import pipeline_gantt

        pipeline_gantt(s, plot)
        announce_plot(plot)


@app.command()
def validate(
    only: str | None = typer.Option(
        None, "--only", help="keep rows of this kind or source tag (e.g. ttft, S5-lmdeploy)"
    ),
    file: Path | None = typer.Option(
        None, "--file", help="your own rows (same TOML format) instead of the shipped suite"
    ),
    as_json: bool = JSON_OPT,
    as_csv: bool = typer.Option(False, "--csv", help="every row as CSV"),
    markdown: bool = typer.Option(False, "--markdown", help="the tables as Markdown"),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        callback=plot_target,
        help="PNG: predicted vs measured, one colour per source",
    ),
) -> None:
    """Predicted vs published: brickwall's error on measured step times, throughputs and TTFTs.

    Default efficiency, one profile per chip; the rows and their sources: docs/validation.md."""
    from .validation import ValidationReport, load, run

    rows = load(file)
    if only is not None:
        rows = [r for r in rows if only in (r.kind, r.source_tag)]
        if not rows:
            raise typer.BadParameter(f"--only {only!r}: no row has this kind or source tag")
    report: ValidationReport = run(rows)
    if plot is not None:
        if not report.modelled:
            raise typer.BadParameter("--plot: no row is predicted, nothing to plot")
        from .plot import validation_scatter

        validation_scatter(report, plot)
    _print_validation(report, as_json, as_csv, markdown)
    if plot is not None:
        announce_plot(plot)


def _print_validation(report: Any, as_json: bool, as_csv: bool, markdown: bool) -> None:
    if as_json:
        emit_json({"summary": report.summary(), "rows": [r.as_dict() for r in report.rows]})
        return
    if as_csv:
        import csv

        dicts = [r.as_dict() for r in report.rows]
        w = csv.DictWriter(sys.stdout, fieldnames=list(dicts[0]))
        w.writeheader()
        w.writerows(dicts)
        return
    head = ("id", "model", "chip", "plan", "workload", "measured", "predicted", "error")
    body = [
        (
            r.row.id,
            r.row.model,
            r.row.hardware,
            r.plan,
            r.workload,
            f"{r.row.value:.4g} {r.row.unit}",
            f"{r.predicted:.4g} {r.row.unit}" + ("" if r.fits else " (no fit)"),
            f"{r.error or 0.0:+.1%}",
        )
        for r in report.modelled
    ]
    s = report.summary()
    groups = [("all", s)] + [
        (f"{key[3:]} {name}", g) for key in ("by_kind", "by_source") for name, g in s[key].items()
    ]
    shead = ("group", "rows", "predicted", "median abs error", "mean error", "faster", "worst")
    sbody = [
        (
            name,
            str(g["rows"]),
            str(g["modelled"]),
            "-" if g["median_abs_error"] is None else f"{g['median_abs_error']:.1%}",
            "-" if g["mean_signed_error"] is None else f"{g['mean_signed_error']:+.1%}",
            f"{g['optimistic']}/{g['modelled']}",
            "-" if g["worst"] is None else f"{g['worst']['id']} ({g['worst']['error']:+.0%})",
        )
        for name, g in groups
    ]
    reasons: dict[str, int] = {}
    for r in report.rows:
        if r.reason is not None:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    notes = [f"{n} rows listed, not predicted: {why}" for why, n in reasons.items()]
    notes.append(
        "error = (predicted - measured) / measured; faster = rows where brickwall predicts a "
        "faster run than measured (more tokens/s, FLOP/s or MFU; less time)"
    )
    if markdown:
        for h, b in ((head, body), (shead, sbody)):
            typer.echo("| " + " | ".join(h) + " |\n|" + "---|" * len(h))
            for line in b:
                typer.echo("| " + " | ".join(line) + " |")
            typer.echo("")
        typer.echo("\n".join(f"- {n}" for n in notes))
        return
    for h, b in ((head, body), (shead, sbody)):
        t = Table()
        for col in h:
            t.add_column(col, justify="left" if col in h[:4] or col == "worst" else "right")
        for line in b:
            t.add_row(*line)
        print_fitted(console, t)
    for n in notes:
        console.print(f"[dim]{n}[/dim]")


# -- serve: a replica under traffic ---------------------------------------------------------------


def _speculation(spec: str | None) -> Any:
    """``K:ACCEPTANCE[:DRAFT]`` -> a serve.Speculation (None when not given)."""
    from . import serve as sv
    from .errors import invalid

    if spec is None:
        return None
    parts = spec.split(":")
    try:
        k, alpha = int(parts[0]), float(parts[1])
    except (ValueError, IndexError):
        raise invalid(
            "--speculative", spec, "K:ACCEPTANCE[:DRAFT], e.g. 4:0.7 or 4:0.7:llama3.1-8b"
        ) from None
    if len(parts) > 3:
        raise invalid("--speculative", spec, "K:ACCEPTANCE[:DRAFT]")
    return sv.Speculation(k, alpha, model(parts[2]) if len(parts) == 3 else None)


@app.command()
def serve(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="catalog model"),
    hf_config: Path | None = HF_OPT,
    hardware_name: str = HW_OPT,
    tp: int = TP_OPT,
    pp: int = PP_OPT,
    ep: int = EP_OPT,
    weight_dtype: str = WD_OPT,
    kv_dtype: str | None = KD_OPT,
    price: float | None = PR_OPT,
    rate: float | None = typer.Option(
        None,
        "--rate",
        help="requests/s (inf or unset: an offline batch, all at t = 0; with --search: the "
        "rate the deployments must serve)",
    ),
    offline: bool = typer.Option(False, "--offline", help="an offline batch, all at t = 0"),
    arrival: str = typer.Option("poisson", "--arrival", help="poisson or gamma gaps"),
    cv: float = typer.Option(1.0, "--cv", help="gamma: coefficient of variation of the gaps"),
    clients: int | None = typer.Option(
        None,
        "--clients",
        parser=counts_from(1),
        metavar=COUNT,
        help="a closed loop of N clients, each sending its next request when the last finishes",
    ),
    requests: int = typer.Option(
        1000, "--requests", "-n", parser=counts_from(1), metavar=COUNT, help="requests to serve"
    ),
    input_tokens: int = typer.Option(
        2048,
        "--input",
        parser=counts_from(1),
        metavar=COUNT,
        help="prompt tokens per request (the mean with --sigma)",
    ),
    output_tokens: int = typer.Option(
        256,
        "--output",
        parser=counts_from(1),
        metavar=COUNT,
        help="output tokens per request (the mean with --sigma)",
    ),
    sigma: float = typer.Option(
        0.0, "--sigma", help="lognormal lengths with this log-sd around the means (0: fixed)"
    ),
    scheduler: str = typer.Option(
        "continuous", "--scheduler", help="continuous, static or chunked (prefill)"
    ),
    max_seqs: int = typer.Option(
        256, "--max-seqs", parser=counts_from(1), metavar=COUNT, help="most sequences per iteration"
    ),
    max_batched_tokens: int | None = typer.Option(
        None,
        "--max-batched-tokens",
        parser=counts_from(1),
        metavar=COUNT,
        help="new tokens per iteration (default: 2048 chunked, else max(8192, longest request))",
    ),
    kv_blocks: int | None = typer.Option(
        None,
        "--kv-blocks",
        parser=counts_from(1),
        metavar=COUNT,
        help="KV blocks of 16 tokens per replica (default: what memory leaves)",
    ),
    prefix_cache: bool = typer.Option(
        False,
        "--prefix-cache",
        help="cache shared prefixes: a --trace's prefix_id and prefix_tokens columns name them "
        "(a generated workload has none)",
    ),
    preemption: str = typer.Option(
        "recompute", "--preemption", help="recompute or swap (over the chip's host link)"
    ),
    speculative: str | None = typer.Option(
        None,
        "--speculative",
        metavar="K:ACCEPTANCE[:DRAFT]",
        help="speculative decoding: K draft tokens at an acceptance rate, an optional draft model",
    ),
    seed: int = typer.Option(
        0, "--seed", parser=counts_from(0), metavar=COUNT, help="seed of arrivals and lengths"
    ),
    slo_ttft: float | None = typer.Option(
        None,
        "--slo-ttft",
        help="SLO: seconds to first token (goodput counts the requests within it; --search "
        "holds the p99 to it)",
    ),
    slo_tpot: float | None = typer.Option(
        None, "--slo-tpot", help="SLO: seconds per output token (as --slo-ttft)"
    ),
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="requests from a CSV (columns arrival,input,output and optionally prefix_id,"
        "prefix_tokens) or JSONL file, instead of --rate/--requests/--input/--output...",
    ),
    disagg: str | None = typer.Option(
        None,
        "--disagg",
        metavar="X:Y",
        help="disaggregated: X prefill and Y decode replicas, KV moved over the scale-out network "
        "(not with --replicas)",
    ),
    replicas: int = typer.Option(
        1,
        "--replicas",
        parser=counts_from(1),
        metavar=COUNT,
        help="replicas sharing the arrivals (see --router)",
    ),
    search: bool = typer.Option(
        False,
        "--search",
        help="without --rate: the largest rate this deployment serves within the p99 SLO "
        "(--slo-ttft/--slo-tpot); with --rate: the cheapest deployments serving that rate within "
        "it, over the --search-* axes, where --hardware/--tp/--pp/--ep/--replicas/--disagg fix "
        "one value instead (not both forms of one axis)",
    ),
    router: str = typer.Option(
        "round-robin", "--router", help="how replicas share arrivals: round-robin or least-loaded"
    ),
    search_hardware: str | None = typer.Option(
        None,
        "--search-hardware",
        metavar="A,B",
        help="--search --rate: chips to try (default --hardware)",
    ),
    search_tp: str = typer.Option(
        "1,2,4,8", "--search-tp", metavar=INTS, help="--search --rate: tp degrees to try"
    ),
    search_pp: str = typer.Option(
        "1", "--search-pp", metavar=INTS, help="--search --rate: pp degrees to try"
    ),
    search_ep: str = typer.Option(
        "1", "--search-ep", metavar=INTS, help="--search --rate: ep degrees to try"
    ),
    search_replicas: str = typer.Option(
        "1,2,4,8",
        "--search-replicas",
        metavar=INTS,
        help="--search --rate: aggregated replica counts to try (none by default with --disagg)",
    ),
    rows: int = typer.Option(
        20,
        "--rows",
        parser=counts_from(1),
        metavar=COUNT,
        help="--search --rate: deployments to list",
    ),
    search_disagg: str = typer.Option(
        "",
        "--search-disagg",
        metavar="X:Y,..",
        help="--search --rate: prefill:decode splits to try (default none)",
    ),
    rate_curve: bool = typer.Option(
        False,
        "--rate-curve",
        help="TTFT and TPOT (p50, p99) against the request rate (--plot draws them)",
    ),
    as_json: bool = JSON_OPT,
    plot: Path | None = typer.Option(
        None,
        "--plot",
        callback=plot_target,
        help="PNG: latency CDFs, batch size and KV occupancy over time (--rate-curve: latency "
        "against rate; not with --search)",
    ),
) -> None:
    """Replicas under traffic: TTFT, TPOT and latency percentiles, throughput, goodput under an SLO, $ per 1M tokens at that load.

    A continuous-batching simulator; each iteration is priced by the step model. One run serves --rate (or --offline, --clients, --trace) on the deployment given by --hardware/--tp/--pp/--ep and --replicas or --disagg. --search without --rate finds the largest rate that deployment serves within the SLO; --search --rate R lists the cheapest deployments serving R, searching the --search-* axes (an axis given as --tp 8 is searched at that value alone); --rate-curve draws latency against the rate."""
    import math
    from dataclasses import replace

    from . import serve as sv
    from .errors import invalid

    if offline and rate is not None and rate != math.inf:
        raise invalid("--rate", rate, "unset (or inf) with --offline")
    if search and rate == math.inf:
        why = "a finite rate with --search (the cheapest deployments serving it), or unset (the "
        raise invalid("--rate", rate, why + "largest rate within the SLO)")
    axes = _serve_axes(ctx, search and rate is not None and not offline, trace is not None)
    if search and plot is not None:
        raise invalid("--plot", str(plot), "unset with --search (it prints a table; plot one "
                      "deployment with --rate-curve or a plain run)")  # fmt: skip
    if not (math.isfinite(sigma) and 0.0 <= sigma <= 5.0):
        raise invalid("--sigma", sigma, "a finite log-sd in [0, 5] (0: fixed lengths)")
    route: sv.RouterName = "least-loaded" if router == "least-loaded" else "round-robin"
    if router != route:
        raise invalid("--router", router, "round-robin or least-loaded")
    m = resolve_model(name, hf_config)
    d = Deployment(
        hardware(hardware_name),
        tp=tp,
        pp=pp,
        ep=ep,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        price_per_hour=price,
    )

    def lengths(mean: int) -> int | sv.Lengths:
        return sv.Lengths.lognormal(mean, sigma) if sigma > 0 else mean

    w = sv.Workload(
        requests=requests,
        rate=math.inf if rate is None or offline else rate,
        input=lengths(input_tokens),
        output=lengths(output_tokens),
        arrival=arrival,  # type: ignore[arg-type]  # Workload validates it
        cv=cv,
        clients=clients,
        seed=seed,
    )
    s = sv.Scheduler(
        scheduler,  # type: ignore[arg-type]  # Scheduler validates it
        max_seqs=max_seqs,
        max_batched_tokens=max_batched_tokens,
        kv_blocks=kv_blocks,
        prefix_cache=prefix_cache,
        preemption=preemption,  # type: ignore[arg-type]  # Scheduler validates it
        speculative=_speculation(speculative),
    )
    extra: dict[str, Any] = {}
    split: tuple[int, int] | None = None
    if (search and rate is not None and not offline) or rate_curve:
        _serve_capacity(
            m, d, w, s, search, rate_curve, route, slo_ttft, slo_tpot, replicas, disagg,
            axes, as_json, plot, rows,
        )  # fmt: skip
        return
    if disagg is not None:
        split = _split("--disagg", disagg)
        if search:
            why = "with --search only beside --rate R (the cheapest deployments at R); the "
            raise invalid("--disagg", disagg, why + "largest-rate search runs one aggregated one")
    if split is not None:
        tr = sv.Trace.from_file(trace) if trace is not None else w
        r = sv.simulate_disaggregated(
            m,
            d,
            tr,
            *split,
            s,
            router=route,
            timeline=plot is not None,
        )
        summary = r.summary(slo_ttft, slo_tpot)
        load = (
            f"trace {trace.name}"
            if trace is not None
            else "offline batch"
            if w.offline
            else f"{w.arrival} arrivals at {w.rate:.4g} req/s"
        ) + f", {split[0]} prefill : {split[1]} decode replicas"
    elif trace is not None:
        if search:
            raise invalid("--search", True, "a generated workload, not --trace")
        tr = sv.Trace.from_file(trace)
        r = sv.simulate(m, d, tr, s, replicas=replicas, router=route, timeline=plot is not None)
        summary = r.summary(slo_ttft, slo_tpot)
        load = f"trace {trace.name}"
    elif search:
        cap = sv.max_rate(
            m, d, w, ttft=slo_ttft, tpot=slo_tpot, scheduler=s, replicas=replicas, router=route
        )
        extra = {"max_rate_requests_per_s": cap.rate, "search_simulations": cap.evaluations}
        if cap.result is None:
            if as_json:
                emit_json(extra)
            else:
                console.print("no rate meets the SLO, even at 1/1000 of the offline throughput")
            return
        w = replace(w, rate=cap.rate)
        if not as_json:
            within = sv.slo_text(99.0, slo_ttft, slo_tpot)
            console.print(
                f"largest rate within {within}: "
                f"[b]{cap.rate:.4g} req/s[/b] ({cap.evaluations} simulations); at that rate:"
            )
    if trace is None and split is None:
        r = sv.simulate(
            m,
            d,
            w,
            s,
            replicas=replicas,
            router=route,
            timeline=plot is not None,
        )
        summary = {**extra, **r.summary(slo_ttft, slo_tpot)}
        load = (
            f"closed loop of {clients} clients"
            if clients
            else "offline batch"
            if w.offline
            else f"{w.arrival} arrivals at {w.rate:.4g} req/s"
        )
    if as_json:
        emit_json(_finite(summary))
    else:
        sc = r.scheduler
        # (a disaggregated split is named in `load`)
        fleet = f"{replicas} replicas of " if replicas > 1 and split is None else ""
        options = "".join(
            (
                f", speculative k={sc.speculative.draft_tokens}" if sc.speculative else "",
                ", prefix cache" if sc.prefix_cache else "",
                ", swap" if sc.preemption == "swap" else "",
            )
        )
        t = Table(
            title=f"{m.name} on {fleet}{d.chips}x {d.hardware.name} (TP{tp} PP{pp} EP{ep}): "
            f"{r.requests:,} requests, {load}, {sc.policy} batching{options}"
        )
        t.add_column("latency")
        for q in ("p50", "p90", "p99"):
            t.add_column(q, justify="right")
        for key, label in (
            ("ttft", "time to first token"),
            ("tpot", "time per output token"),
            ("e2e", "end to end"),
            ("queueing", "queueing"),
        ):
            p = summary[f"{key}_s"]
            t.add_row(label, *(_secs(p[q]) for q in ("p50", "p90", "p99")))
        console.print(t)
        console.print(
            f"throughput {summary['requests_per_s']:.4g} req/s, "
            f"{summary['input_tokens_per_s']:,.0f} input + {summary['output_tokens_per_s']:,.0f} "
            f"output tok/s over {fmt_seconds(summary['duration_s'])}; busy (running any "
            f"batch) {summary['utilisation']:.1%} of the time; {summary['iterations']:,} "
            f"iterations; peak KV {summary['peak_kv_blocks'] / summary['kv_blocks']:.1%} of "
            f"{summary['kv_blocks']:,} blocks; {summary['preemptions']:,} preemptions"
            + (f"; {summary['cached_tokens']:,} prompt tokens from the prefix cache"
               if summary["prefix_cache"] else "")
            + (f"; {summary['swapped_tokens']:,} tokens swapped to host and back"
               if summary["preemption"] == "swap" else "")
        )  # fmt: skip
        if "goodput_requests_per_s" in summary:
            console.print(
                f"goodput {summary['goodput_requests_per_s']:.4g} req/s within the SLO "
                f"({summary['slo_attainment']:.1%} of requests)"
            )
        cost = summary["usd_per_million_tokens"]
        if cost is not None:
            console.print(
                f"${cost['input']:.4g} per 1M input, ${cost['output']:.4g} per 1M output tokens "
                "at this load"
            )
    if plot is not None:
        r.plot(plot)
        announce_plot(plot)


#: serve's options of a generated workload (parameter, flag), refused beside --trace
_WORKLOAD_FLAGS = (
    ("rate", "--rate"), ("offline", "--offline"), ("clients", "--clients"),
    ("requests", "--requests"), ("input_tokens", "--input"), ("output_tokens", "--output"),
    ("sigma", "--sigma"), ("arrival", "--arrival"), ("cv", "--cv"), ("seed", "--seed"),
    ("rate_curve", "--rate-curve"),
)  # fmt: skip
#: serve's deployment-search axes: (parameter, flag) of the plain option fixing one value and
#: of the --search-* option listing the values to try
_SEARCH_AXES = (
    ("hardware_name", "--hardware", "search_hardware", "--search-hardware"),
    ("tp", "--tp", "search_tp", "--search-tp"),
    ("pp", "--pp", "search_pp", "--search-pp"),
    ("ep", "--ep", "search_ep", "--search-ep"),
    ("replicas", "--replicas", "search_replicas", "--search-replicas"),
    ("disagg", "--disagg", "search_disagg", "--search-disagg"),
)


def _serve_axes(ctx: typer.Context, searching: bool, traced: bool) -> dict[str, str]:
    """The deployment search's axes (``searching``: ``serve --search --rate R``) from what the
    command line gave: a plain option (--tp 8) fixes its axis, a --search-* option lists it,
    their defaults otherwise. Refused instead of ignored: both forms of one axis, --search-*
    options without a deployment search, --disagg with --replicas, and the options of a
    generated workload beside a trace (``traced``) or --rate beside --rate-curve."""
    from .errors import invalid

    def given(param: str) -> bool:
        # by name: typer vendors its own click, whose ParameterSource is another enum
        src = ctx.get_parameter_source(param)
        return src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")

    p = ctx.params
    for param, flag in _WORKLOAD_FLAGS if traced else ():
        if given(param):
            why = "unset with --trace (the trace's columns set the arrivals and lengths)"
            raise invalid(flag, p[param], why)
    for param, flag in (("rate", "--rate"), ("offline", "--offline")):
        if p["rate_curve"] and given(param):
            why = "unset with --rate-curve (it serves rates from 5% to 100% of the offline "
            raise invalid(flag, p[param], why + "batch's throughput)")
    if given("disagg") and given("replicas"):
        why = "without --replicas (X:Y is the replicas: X prefill and Y decode)"
        raise invalid("--disagg", p["disagg"], why)
    if not searching:
        for param, flag in [(x[2], x[3]) for x in _SEARCH_AXES] + [("rows", "--rows")]:
            if given(param):
                why = "only with --search --rate R (the cheapest deployments at rate R); "
                why += "elsewhere --hardware/--tp/--pp/--ep/--replicas/--disagg set the deployment"
                raise invalid(flag, p[param], why)
        return {}
    axes: dict[str, str] = {}
    for plain, flag, param, search_flag in _SEARCH_AXES:
        if given(plain) and given(param):
            why = f"not with {search_flag}: with --search --rate, {flag} searches that one value "
            raise invalid(flag, p[plain], why + f"and {search_flag} lists several")
        # the --search-* list, else the plain value (--hardware: also by default)
        use = given(param) or (not given(plain) and p[param] is not None)
        axes[param] = p[param] if use else str(p[plain])
    if given("disagg") and not given("search_replicas"):
        axes["search_replicas"] = ""  # --disagg X:Y searches that split alone
    return axes


def _ints(option: str, text: str) -> list[int]:
    """A --search axis in the shared integer grammar (``1,2,4``, ``1..8``, ``1..64:x2``)."""
    from .cli_args import ints
    from .errors import invalid

    try:
        return list(ints(text, minimum=1, maximum=1 << 20))
    except typer.BadParameter as e:
        raise invalid(option, text, e.message.split("expected ", 1)[-1]) from None


def _split(option: str, text: str) -> tuple[int, int]:
    """``X:Y``: prefill and decode replicas."""
    from .errors import invalid

    parts = text.split(":")
    try:
        split = (int(parts[0]), int(parts[1])) if len(parts) == 2 else None
    except ValueError:
        split = None
    if split is None or not 1 <= min(split) <= max(split) <= 1 << 20:
        raise invalid(option, text, "X:Y, prefill and decode replicas (integers in 1..2^20)")
    return split


def _finite(x: Any) -> Any:
    """JSON-safe: NaN and infinities (undefined values, e.g. TPOT of one-token outputs) as null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _secs(s: float) -> str:
    """Seconds for a table; n/a where undefined (TPOT of one-token outputs)."""
    return "n/a" if math.isnan(s) else fmt_seconds(s)


def _serve_capacity(
    m: Model,
    d: Deployment,
    w: Any,
    s: Any,
    search: bool,
    curve: bool,
    router: Literal["round-robin", "least-loaded"],
    slo_ttft: float | None,
    slo_tpot: float | None,
    replicas: int,
    disagg: str | None,
    axes: dict[str, str],
    as_json: bool,
    plot: Path | None,
    shown: int = 20,
) -> None:
    """`serve --search --rate R` (the cheapest deployments) and `serve --rate-curve`."""
    from . import serve as sv
    from .errors import invalid

    if search and curve:
        raise invalid("--rate-curve", True, "without --search")
    if search:
        hw = axes["search_hardware"]
        try:
            chips = names(hw)
        except typer.BadParameter:
            raise invalid("--search-hardware", hw, "chip names, comma-separated") from None
        reps = axes["search_replicas"]
        splits = [] if axes["search_disagg"] == "" else axes["search_disagg"].split(",")
        res = sv.search(
            m,
            w,
            rate=w.rate,
            slo_ttft=slo_ttft,
            slo_tpot=slo_tpot,
            chips=chips,
            tp=_ints("--search-tp", axes["search_tp"]),
            pp=_ints("--search-pp", axes["search_pp"]),
            ep=_ints("--search-ep", axes["search_ep"]),
            replicas=() if reps == "" else _ints("--search-replicas", reps),
            disaggregated=[_split("--search-disagg", x.strip()) for x in splits],
            scheduler=s,
            router=router,
            weight_dtype=d.weight_dtype,
            kv_dtype=d.kv_dtype,
            price_per_hour=d.price_per_hour,
        )
        if as_json:
            emit_json(
                _finite(
                    {
                        "message": res.message,
                        "candidates": res.candidates,
                        "simulated": res.simulated,
                        "seconds": res.seconds,
                        "deployments": [
                            {k: v for k, v in r.items() if k != "deployment"}
                            for r in res.deployments
                        ],
                    }
                )
            )
            return
        q = f"p{res.quantile:g}"
        t = Table(title=f"{m.name}: deployments serving {w.rate:g} req/s, cheapest first")
        for col in ("deployment", "chips", "$/hour", "$/1M tokens", f"{q} TTFT", f"{q} TPOT"):
            t.add_column(col, justify="left" if col == "deployment" else "right")
        for r in res.deployments[:shown]:
            t.add_row(
                r["layout"],
                str(r["chips"]),
                f"{r['usd_per_hour']:.4g}",
                f"{r['usd_per_million_tokens']:.3g}",
                _secs(r["ttft_s"]),
                _secs(r["tpot_s"]),
            )
        if res.deployments:
            console.print(t)
        met = len(res.deployments)
        listed = f"{min(shown, met)} of {met} shown (--rows), " if met > shown else ""
        console.print(
            f"{res.message} ({listed}{res.candidates} candidates, {res.simulated} simulated, "
            f"{res.seconds:.2g} s)"
        )
        return
    split = None if disagg is None else _split("--disagg", disagg)
    c = sv.rate_curve(
        m,
        d,
        w,
        None,
        scheduler=s,
        replicas=replicas,
        router=router,
        disaggregated=split,
        slo_ttft=slo_ttft,
        slo_tpot=slo_tpot,
    )
    cols = c.columns
    meets = None
    if slo_ttft is not None or slo_tpot is not None:
        # p99 against the SLO, as --search judges it (an undefined TPOT never misses)
        meets = [
            (slo_ttft is None or bool(cols["ttft_p99"][i] <= slo_ttft))
            and (slo_tpot is None or not bool(cols["tpot_p99"][i] > slo_tpot))
            for i in range(len(c.rates))
        ]
    if as_json:
        out: dict[str, Any] = {k: v.tolist() for k, v in cols.items()}
        if meets is not None:
            out["meets_slo_p99"] = meets
        emit_json(_finite(out))
    else:
        t = Table(title=f"{m.name} on {c.label}: latency against request rate")
        heads = ["req/s", "TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99", "served req/s"]
        for col in heads + (["p99 SLO"] if meets is not None else []):
            t.add_column(col, justify="right")
        for i in range(len(c.rates)):
            t.add_row(
                f"{cols['rate'][i]:.4g}",
                *(_secs(cols[k][i]) for k in ("ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99")),
                f"{cols['requests_per_s'][i]:.4g}",
                *([] if meets is None else ["met" if meets[i] else "missed"]),
            )
        console.print(t)
    if plot is not None:
        c.plot(plot)
        announce_plot(plot)


@app.command()
def calibrate(
    hardware: str = typer.Option(
        ...,
        "--hardware",
        "-H",
        help="the chip being measured: its catalog name or chip file (its peaks are the denominators)",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="the chip file to write (default ./<chip>-measured.toml)"
    ),
    quick: bool = typer.Option(True, "--quick/--full", help="about a minute, or the full grid"),
    backend: str = typer.Option(
        "torch", "--backend", help="torch (a CUDA/ROCm GPU) or numpy (a CPU dry run of the harness)"
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Measure this machine's GPU and write its efficiency profile as a chip file.

    Times copies, GEMMs over the rows M (bf16; fp8 where the chip has it), a tiny kernel under
    CUDA-graph replay and eagerly, causal prefill and grouped-query decode attention, and
    all-reduce / all-to-all when several GPUs are visible. Fits the step model's profile (memory
    and network fractions, GEMM plateau and half-efficiency rows, per-kernel floor), prints each
    attention kernel against the step model's prediction, and writes every measurement into
    the file's [measured.*] tables. Load the file with --hardware FILE. Needs PyTorch (pip
    install torch) for --backend torch; --quick takes under a minute, --full a few."""
    from .calibrate import NumpyBackend, TorchBackend, write_profile
    from .calibrate import calibrate as run_calibration
    from .calibrate.attention import median_abs_error, plateau
    from .calibrate.fit import summary
    from .hardware import hardware as lookup

    chip = lookup(hardware)
    path = out or Path(f"{chip.name.replace('/', '_')}-measured.toml")
    # check where the file goes before measuring, so a bad --out never wastes a run
    if path.is_dir() or not path.parent.is_dir() or str(path) == "":
        raise typer.BadParameter(
            f"--out {str(path)!r}: expected a file path in an existing directory"
        )
    if backend == "torch":
        try:
            measurer: Any = TorchBackend()
        except (ImportError, RuntimeError) as e:
            raise typer.BadParameter(
                f"--backend torch (the default): {e}; install the extra with "
                "pip install '.[calibrate]', or try the harness on the CPU with --backend numpy"
            ) from None
    elif backend == "numpy":
        measurer = NumpyBackend()
    else:
        raise typer.BadParameter(f"--backend {backend!r}: expected torch or numpy")
    # a CPU dry run measures toy sizes: it checks the harness and the file, not a GPU
    c = run_calibration(chip, measurer, quick=quick)
    try:
        path = write_profile(c, path)
    except OSError as e:
        raise typer.BadParameter(
            f"--out {str(path)!r}: cannot write it ({e.strerror or e})"
        ) from None
    if as_json:
        emit_json({**summary(c), "file": str(path)})
        return
    eff = c.efficiency
    console.print(f"{chip.name} measured with {backend}: written to {path}")
    eager = "" if c.eager_kernel_s is None else f" ({c.eager_kernel_s * 1e6:.2f} us eager)"
    console.print(
        f"  memory {eff.memory:.3g} of peak, GEMM plateau {eff.flops:.3g} of peak, half at "
        f"{eff.gemm_m_half:.1f} rows, {eff.kernel_overhead * 1e6:.2f} us per kernel under graph "
        f"replay{eager}"
    )
    if c.fp8_fit is not None:
        console.print(f"  fp8 GEMM plateau {c.fp8_fit[0]:.3g} of the fp8 peak")
    if c.network is not None and c.network.fraction is not None:
        lat = c.network.latency_s
        console.print(
            f"  collectives over {c.network.ranks} GPUs: network {c.network.fraction:.3g} of the "
            "scale-up peak" + ("" if lat is None else f", {lat * 1e6:.2f} us per step")
        )
    if c.attention:
        pre, dec = plateau(c.attention, "prefill"), plateau(c.attention, "decode")
        t = Table(
            title="attention, measured vs the step model under this profile: prefill reaches "
            f"{pre or 0:.3g} of peak FLOP/s, decode {dec or 0:.3g} of peak bandwidth; median "
            f"|error| {median_abs_error(c.attention) or 0:.1%}"
        )
        for col in ("phase", "batch", "heads / kv", "tokens", "measured", "predicted", "error"):
            t.add_column(col, justify="left" if col == "phase" else "right")
        t.add_column("of peak", justify="right")
        for p in c.attention:
            t.add_row(
                p.phase,
                str(p.batch),
                f"{p.heads}/{p.kv_heads}x{p.head_dim}",
                f"{p.tokens:,}",
                fmt_seconds(p.measured_s),
                fmt_seconds(p.predicted_s),
                f"{p.error:+.1%}",
                "-" if math.isnan(p.fraction) else f"{p.fraction:.2g}",
            )
        console.print(t)
    from rich.markup import escape

    for n in c.notes:
        console.print(f"[dim]note: {escape(n)}[/dim]")


def main() -> None:
    """The ``brickwall`` script: bad input exits with status 2 and one line (see cli_args.Commands)."""
    app()


__all__ = ["app", "main"]
