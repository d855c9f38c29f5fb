"""The ``brickwall`` command."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from .hardware import hardware, hardware_names
from .model import Model, model, model_names
from .errors import BrickwallError
from .units import fmt_bytes, fmt_count, fmt_flops

app = typer.Typer(
    help="brickwall: first-principles cost of training and serving dense and MoE transformers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


class CatalogKind(str, Enum):
    hardware = "hardware"
    models = "models"


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _hardware_table() -> Table:
    t = Table(title="Accelerators (dense peaks, per chip)")
    for col in (
        "name",
        "memory",
        "HBM TB/s",
        "bf16 TFLOP/s",
        "fp8 TFLOP/s",
        "scale-up GB/s/dir",
        "domain",
        "$/chip-h",
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
        "GFLOP/token",
        "KV/token (16-bit)",
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
    kind: Optional[CatalogKind] = typer.Argument(None, help="hardware or models (default: both)"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
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
        console.print(_hardware_table())
    if CatalogKind.models in kinds:
        console.print(_models_table())


def resolve_model(name: Optional[str], hf_config: Optional[Path]) -> Model:
    if (name is None) == (hf_config is None):
        raise typer.BadParameter("give a catalog model NAME or --hf-config FILE (exactly one)")
    if hf_config is not None:
        return Model.from_hf_config(hf_config)
    assert name is not None
    return model(name)


@app.command("model")
def model_cmd(
    name: Optional[str] = typer.Argument(
        None, help="catalog model name (see `brickwall catalog models`)"
    ),
    hf_config: Optional[Path] = typer.Option(
        None, "--hf-config", help="a Hugging Face config.json instead"
    ),
    context: int = typer.Option(0, help="context length for the FLOPs/token attention term"),
    as_json: bool = typer.Option(False, "--json"),
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
    t = Table(title=f"{m.name}: parameters by component")
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
        console.print(f"[dim]source: {m.source}[/dim]")
    if m.notes:
        console.print(f"[dim]note: {m.notes}[/dim]")


# --- speculative decoding ------------------------------------------------------------------------


def _int_list(text: str, field: str, *, doubling: bool = False) -> list[int]:
    """``4``, ``1,2,4`` or ``A..B`` (every integer; powers of two times A when ``doubling``)."""
    try:
        if ".." in text:
            lo_s, hi_s = text.split("..", 1)
            lo, hi = int(lo_s), int(hi_s)
            if lo < 1 or hi < lo:
                raise ValueError
            if doubling:
                out, b = [], lo
                while b <= hi:
                    out.append(b)
                    b *= 2
                return out if out[-1] == hi else [*out, hi]
            return list(range(lo, hi + 1))
        out = [int(x) for x in text.split(",")]
        if min(out) < 1:
            raise ValueError
        return out
    except ValueError:
        raise typer.BadParameter(
            f"{field} = {text!r}: expected N, N,M,... or A..B with 1 <= A <= B"
        ) from None


def _float_list(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"{field} = {text!r}: expected a number or a comma-separated list"
        ) from None


@app.command("spec")
def spec_cmd(
    alpha: str = typer.Option("0.8", help="acceptance rate(s) in [0, 1], e.g. 0.8 or 0.6,0.7,0.8"),
    gamma: str = typer.Option("1..8", help="draft lengths: N, N,M or A..B"),
    cost_ratio: str = typer.Option(
        "0.05", "--cost-ratio", help="draft / target step time c, or a list"
    ),
    target: Optional[str] = typer.Option(
        None, help="target model: switches to the batching analysis"
    ),
    draft: Optional[str] = typer.Option(None, help="draft model (with --target)"),
    hardware_name: str = typer.Option(
        "A100-80GB", "--hardware", help="accelerator (with --target)"
    ),
    tp: int = typer.Option(8, help="tensor-parallel degree of the target"),
    pp: int = typer.Option(1, help="pipeline-parallel degree of the target (chips = tp x pp)"),
    draft_chips: Optional[int] = typer.Option(
        None, "--draft-chips", help="chips serving the draft (default: tp)"
    ),
    batch: str = typer.Option("1..1024", help="batches: N, N,M or A..B (doubling)"),
    context: int = typer.Option(2048, help="context tokens per sequence"),
    weight_dtype: str = typer.Option("bf16", "--weight-dtype"),
    kv_dtype: str = typer.Option("bf16", "--kv-dtype"),
    plot: Optional[Path] = typer.Option(None, help="save speedup vs batch (with --target)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Speculative decoding: expected tokens, speedup and the best draft length (Leviathan et
    al.), or with --target/--draft the speedup vs batch through the roofline and the batch where
    it stops paying (MagicDec)."""
    from . import speculative as spec
    from .units import fmt_seconds

    alphas = _float_list(alpha, "alpha")
    gammas = _int_list(gamma, "gamma")
    if target is None:
        ratios = _float_list(cost_ratio, "cost-ratio")
        results: list[dict[str, Any]] = []
        for a in alphas:
            for c in ratios:
                e = spec.expected_tokens(a, np.array(gammas))
                s = spec.speedup(a, np.array(gammas), c)
                best = int(spec.optimal_gamma(a, c, max_gamma=max(64, max(gammas))))
                results.append(
                    {
                        "alpha": a,
                        "cost_ratio": c,
                        "rows": [
                            {"gamma": g, "expected_tokens": float(x), "speedup": float(y)}
                            for g, x, y in zip(gammas, e, s)
                        ],
                        "best_gamma": best,
                        "best_speedup": float(spec.speedup(a, best, c)),
                    }
                )
        if as_json:
            emit_json(results)
            return
        for r in results:
            t = Table(
                title=f"speculative decoding: alpha = {r['alpha']:g}, cost ratio c = {r['cost_ratio']:g}"
            )
            for col in ("gamma", "E\\[tokens]", "speedup"):
                t.add_column(col, justify="right")
            top = max(row["speedup"] for row in r["rows"])
            for row in r["rows"]:
                mark = "[b]" if row["speedup"] == top else ""
                end = "[/b]" if mark else ""
                t.add_row(
                    str(row["gamma"]),
                    f"{row['expected_tokens']:.3f}",
                    f"{mark}{row['speedup']:.3f}x{end}",
                )
            console.print(t)
            console.print(f"best gamma: [b]{r['best_gamma']}[/b] ({r['best_speedup']:.3f}x)")
        return

    if draft is None:
        raise typer.BadParameter("--target needs --draft")
    from .model import model as model_lookup

    tm, dm, hw = model_lookup(target), model_lookup(draft), hardware(hardware_name)
    from .inference import Deployment

    dep = Deployment(hw, tp=tp, pp=pp, weight_dtype=weight_dtype, kv_dtype=kv_dtype)
    ddep = Deployment(hw, tp=draft_chips or tp, weight_dtype=weight_dtype, kv_dtype=kv_dtype)
    batches = _int_list(batch, "batch", doubling=True)
    sweeps = [
        spec.sweep_batches(
            tm, dm, dep, batches, context, a, gammas, draft_step_time=spec.roofline_step_time(ddep)
        )
        for a in alphas
    ]
    if as_json:
        emit_json(
            [
                sw.summary()
                | {
                    "target": target,
                    "draft": draft,
                    "hardware": hardware_name,
                    "chips": tp * pp,
                    "draft_chips": ddep.chips,
                }
                for sw in sweeps
            ]
        )
    else:
        for sw in sweeps:
            t = Table(
                title=(
                    f"{target} on {tp * pp} x {hardware_name} (draft {draft} on {ddep.chips}), "
                    f"context {context:,}, alpha = {sw.alpha:g}"
                )
            )
            t.add_column("batch", justify="right")
            t.add_column("plain step", justify="right")
            t.add_column("plain tok/s/user", justify="right")
            for g in sw.gammas:
                t.add_column(f"g={g}", justify="right")
            t.add_column("best g", justify="right")
            for i, b in enumerate(sw.batches):
                cells = [f"{x:.2f}x" for x in sw.speedup[i]]
                t.add_row(
                    str(b),
                    fmt_seconds(1 / sw.plain_tokens_per_s_per_user[i], 3),
                    f"{sw.plain_tokens_per_s_per_user[i]:,.1f}",
                    *cells,
                    str(sw.best_gamma[i]),
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
            sweeps[0], title=f"{target} + draft {draft}, {tp * pp} x {hardware_name}", path=plot
        )
        if not as_json:
            console.print(f"saved {plot}")


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def _deployment(
    hardware_name: str,
    tp: int,
    pp: int,
    ep: int,
    weight_dtype: str,
    kv_dtype: Optional[str],
    kv_sharding: str,
    overlap: bool,
    price: Optional[float],
) -> Any:
    from .inference import Deployment

    return Deployment(
        hardware(hardware_name),
        tp=tp,
        pp=pp,
        ep=ep,
        weight_dtype=weight_dtype,
        kv_dtype=kv_dtype,
        kv_sharding=kv_sharding,
        overlap=overlap,
        price_per_hour=price,
    )  # type: ignore[arg-type]


def _print_estimate(e: Any) -> None:
    from .units import fmt_seconds, fmt_usd

    d = e.deployment
    t = Table(
        title=f"{e.phase}: {e.model} on {d.chips}x {d.hardware.name} (TP {d.tp} x PP {d.pp} x EP {d.ep}), "
        f"batch {e.batch:,}, context {e.context:,}"
        + (f", prompt {e.new_tokens:,}" if e.phase == "prefill" else "")
    )
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("step time", fmt_seconds(e.step_time))
    for k, v in e.breakdown.items():
        t.add_row(
            f"  {k.replace('_', ' ')}", f"{fmt_seconds(v)} ({v / e.step_time:.0%} of the step)"
        )
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
        f"efficiency flops {eff.flops:g} / memory {eff.memory:g} / network {eff.network:g}; "
        f"communication {'overlapped' if d.overlap else 'not overlapped'}[/dim]"
    )


def _step_command(
    phase: str,
    name: Optional[str],
    hf_config: Optional[Path],
    hardware_name: str,
    tp: int,
    pp: int,
    ep: int,
    batch: int,
    tokens: int,
    context: int,
    weight_dtype: str,
    kv_dtype: Optional[str],
    kv_sharding: str,
    overlap: bool,
    price: Optional[float],
    as_json: bool,
    plot: Optional[Path],
    routing: str = "expected",
) -> None:
    from . import inference

    m = resolve_model(name, hf_config)
    d = _deployment(hardware_name, tp, pp, ep, weight_dtype, kv_dtype, kv_sharding, overlap, price)
    r: Any = routing
    if routing != "expected":
        try:
            r = float(routing)
        except ValueError:
            raise typer.BadParameter(
                f"--routing {routing!r}: expected 'expected' or a quantile such as 0.99"
            ) from None
    if phase == "decode":
        e = inference.decode(m, d, batch, context, routing=r)
    else:
        e = inference.prefill(m, d, batch, tokens, context=context, routing=r)
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
        Console(stderr=True).print(f"[dim]plot written to {plot}[/dim]")


HW_OPT = typer.Option("H100-SXM", "--hardware", "-H", help="catalog accelerator")
TP_OPT = typer.Option(1, "--tp", help="tensor-parallel degree")
PP_OPT = typer.Option(1, "--pp", help="pipeline stages")
EP_OPT = typer.Option(1, "--ep", help="expert-parallel degree")
WD_OPT = typer.Option("bf16", "--weight-dtype", help="weight format (bf16, fp8, fp4, ...)")
KD_OPT = typer.Option(None, "--kv-dtype", help="KV-cache format (default: the activation format)")
KS_OPT = typer.Option("heads", "--kv-sharding", help="heads (replicated under MQA) or batch")
OV_OPT = typer.Option(False, "--overlap", help="overlap communication with compute")
PR_OPT = typer.Option(None, "--price", help="USD per chip-hour (default: the catalog's)")


@app.command()
def decode(
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    hardware_name: str = HW_OPT,
    tp: int = TP_OPT,
    pp: int = PP_OPT,
    ep: int = EP_OPT,
    batch: int = typer.Option(1, "--batch", "-b"),
    context: int = typer.Option(2048, "--context", "-c"),
    weight_dtype: str = WD_OPT,
    kv_dtype: Optional[str] = KD_OPT,
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: Optional[float] = PR_OPT,
    as_json: bool = typer.Option(False, "--json"),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="PNG: step time and tokens/s vs batch"
    ),
    routing: str = typer.Option(
        "expected",
        "--routing",
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
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    hardware_name: str = HW_OPT,
    tp: int = TP_OPT,
    pp: int = PP_OPT,
    ep: int = EP_OPT,
    batch: int = typer.Option(1, "--batch", "-b"),
    prompt: int = typer.Option(2048, "--prompt", "-p"),
    context: int = typer.Option(0, "--context", help="tokens already cached before the prompt"),
    weight_dtype: str = WD_OPT,
    kv_dtype: Optional[str] = KD_OPT,
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: Optional[float] = PR_OPT,
    as_json: bool = typer.Option(False, "--json"),
    plot: Optional[Path] = typer.Option(None, "--plot"),
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


@app.command()
def train(
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    tokens: float = typer.Option(..., "--tokens", help="training tokens, e.g. 13e12"),
    hardware_name: str = typer.Option("H100-SXM", "--hardware", "-H"),
    gpus: Optional[float] = typer.Option(None, "--gpus"),
    mfu: Optional[float] = typer.Option(None, "--mfu"),
    days: Optional[float] = typer.Option(None, "--days"),
    price: Optional[float] = PR_OPT,
    dtype: str = typer.Option("bf16", "--dtype", help="the peak MFU refers to"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Training compute, time and cost: give two of --gpus, --mfu, --days."""
    from .training import chinchilla_tokens, training_run
    from .units import fmt_usd

    m = resolve_model(name, hf_config)
    r = training_run(
        m,
        tokens,
        hardware(hardware_name),
        gpus=gpus,
        mfu=mfu,
        days=days,
        price_per_hour=price,
        dtype=dtype,
    )
    if as_json:
        emit_json(r.as_dict())
        return
    t = Table(title=f"training {m.name} on {tokens:.3g} tokens, {r.hardware}")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("FLOPs (6 x active params x tokens)", f"{r.flops:.3g}")
    t.add_row("attention FLOPs (separate)", f"{r.attention_flops:.3g}")
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
            f"Chinchilla tokens (20 x {basis} params)", f"{c:.3g} ({c / tokens:.2f}x these tokens)"
        )
    console.print(t)


@app.command()
def reproduce(
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    only: Optional[str] = typer.Option(None, "--only", help="one claim id (or an id prefix)"),
) -> None:
    """Re-derive every quantitative claim of the GPT-4 analysis and give each a verdict."""
    from .claims import reproduce as run

    rows = run(only)
    counts = {
        v: sum(r.verdict == v for r in rows) for v in ("consistent", "inconsistent", "assumption")
    }
    summary = f"{len(rows)} claims: {counts['consistent']} consistent, {counts['inconsistent']} inconsistent, {counts['assumption']} assumptions"
    if fmt is Format.json:
        emit_json({"summary": counts, "claims": [r.as_dict() for r in rows]})
    elif fmt is Format.csv:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(["id", "claim", "article", "computed", "verdict", "why", "assumptions"])
        for r in rows:
            w.writerow(
                [r.id, r.claim, r.article, r.computed, r.verdict, r.why, "; ".join(r.assumptions)]
            )
    elif fmt is Format.markdown:
        typer.echo(
            "| id | claim | article | brickwall | verdict | why / assumptions |\n|---|---|---|---|---|---|"
        )
        for r in rows:
            why = "; ".join(x for x in (r.why, *r.assumptions) if x).replace("|", "/")
            typer.echo(f"| {r.id} | {r.claim} | {r.article} | {r.computed} | {r.verdict} | {why} |")
        typer.echo(f"\n{summary}")
    else:
        colour = {"consistent": "green", "inconsistent": "red", "assumption": "yellow"}
        t = Table(title="The seed's claims, re-derived", show_lines=True)
        for col in ("id", "article", "brickwall", "verdict", "why / assumptions"):
            t.add_column(col, no_wrap=col == "id", overflow="fold")
        for r in rows:
            why = "; ".join(x for x in (r.why, *r.assumptions) if x)
            t.add_row(r.id, r.article, r.computed, f"[{colour[r.verdict]}]{r.verdict}[/]", why)
        console.print(t)
        console.print(f"[b]{summary}[/b]")


@app.command()
def bandwidth(
    speeds: str = typer.Option(
        "8.33,20,33.33", "--speeds", help="tokens/s per user, comma-separated"
    ),
    params: str = typer.Option(
        "70e9,175e9,300e9,1e12,1.8e12", "--params", help="dense parameter counts"
    ),
    dtype: str = typer.Option("bf16", "--dtype"),
    overhead: float = typer.Option(
        1.0, "--overhead", help="other traffic as a multiple of weight reads (the seed: 1)"
    ),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="PNG: the seed's bandwidth-vs-model-size chart"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Memory bandwidth a batch-1 dense model needs to reach reading speeds (the seed's chart)."""
    from .hardware import Efficiency
    from .inference import Deployment, speed_for_params

    one = Deployment(hardware("H100-SXM"), weight_dtype=dtype, efficiency=Efficiency.ideal())
    bw = one.hardware.memory_bandwidth
    s_list = _float_list(speeds, "--speeds")
    p_list = _float_list(params, "--params")
    need = {
        p: {s: bw * s / speed_for_params(one, p, overhead=overhead) for s in s_list} for p in p_list
    }
    if as_json:
        emit_json(
            [
                {"params": p, "tokens_per_s": s, "bandwidth_bytes_s": v}
                for p, row in need.items()
                for s, v in row.items()
            ]
        )
    else:
        t = Table(
            title=f"memory bandwidth needed at batch 1 ({dtype} weights, overhead {overhead:g}x)"
        )
        t.add_column("params")
        for s in s_list:
            t.add_column(f"{s:g} tok/s", justify="right")
        for p, row in need.items():
            t.add_row(fmt_count(p), *(f"{v / 1e12:,.1f} TB/s" for v in row.values()))
        console.print(t)
        scale = ", ".join(
            f"8x {n} = {8 * hardware(n).memory_bandwidth / 1e12:.1f} TB/s"
            for n in ("H100-SXM", "A100-80GB")
        )
        console.print(f"[dim]for scale: {scale}[/dim]")
    if plot is not None:
        from .plot import bandwidth_chart

        bandwidth_chart(tuple(s_list), path=plot, dtype=dtype, overhead=overhead)
        Console(stderr=True).print(f"[dim]plot written to {plot}[/dim]")


@app.command("moe")
def moe_cmd(
    experts: int = typer.Option(16, "--experts", help="routed experts E"),
    top_k: int = typer.Option(2, "--top-k", help="experts per token k"),
    tokens: int = typer.Option(8, "--tokens", help="tokens per step (batch) B"),
    trials: float = typer.Option(1e6, "--trials", help="Monte Carlo steps (1e6 accepted)"),
    seed: int = typer.Option(0, "--seed"),
    zipf_s: Optional[float] = typer.Option(
        None, "--zipf", help="Zipf popularity exponent s (p_i ~ 1/i^s)"
    ),
    dirichlet: Optional[float] = typer.Option(
        None, "--dirichlet", help="fresh Dirichlet(alpha) popularity per step"
    ),
    devices: Optional[int] = typer.Option(
        None, "--devices", help="expert-parallel devices (divides E)"
    ),
    capacity_factor: Optional[float] = typer.Option(
        None, "--capacity-factor", help="capacity ceil(cf k B / E) per expert"
    ),
    plot_path: Optional[Path] = typer.Option(
        None, "--plot", help="save the load histograms to this image"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Distribution of tokens per expert / device in one MoE step (Monte Carlo + exact)."""
    from . import moe
    from .validate import integer

    if zipf_s is not None and dirichlet is not None:
        raise typer.BadParameter("give at most one of --zipf and --dirichlet")
    popularity: Any = (
        ("zipf", zipf_s)
        if zipf_s is not None
        else ("dirichlet", dirichlet)
        if dirichlet is not None
        else None
    )
    n = integer("trials", trials)
    with console.status(f"routing {n:,} steps..."):
        r = moe.route(experts, top_k, tokens, n, seed, popularity, capacity_factor, devices)
    exact: dict[str, Any] = {}
    if r.popularity != "dirichlet" and not r.popularity.startswith("dirichlet"):
        exact["load"] = r.top_k * r.tokens / r.n_experts
        exact["touched"] = moe.expected_experts_touched(experts, top_k, tokens, popularity)
        if r.capacity is not None:
            exact["dropped"] = moe.expected_drops(
                experts, top_k, tokens, popularity=popularity, capacity=r.capacity
            )
        mx = moe.max_load_cdf(experts, top_k, tokens, popularity)
        exact["max_load"] = (
            mx.mean() if mx.exact else (float(np.sum(1 - mx.upper)), float(np.sum(1 - mx.lower)))
        )
        exact["max_load_method"] = mx.method
    if plot_path is not None:
        from .plot import moe_load

        moe_load(r, plot_path)
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
        ex = exact.get(name)
        ex_s = (
            "-"
            if ex is None
            else (f"{ex[0]:.5g}-{ex[1]:.5g}" if isinstance(ex, tuple) else f"{ex:.4g}")
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
        pm = mx.pmf() if r.popularity == "uniform" and mx.exact else None
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
    if plot_path is not None:
        console.print(f"[dim]plot: {plot_path}[/dim]")
    console.print(
        "[dim]exact: k B / E, E(1-(1-k/E)^B), E E[(X-C)+] with X ~ Bin(B, k/E); busiest expert by "
        f"{exact.get('max_load_method', '-')} (FORMULAS.md s2)[/dim]"
    )


# -- sweep ---------------------------------------------------------------------------------------


def parse_axis(field: str, text: str) -> list[int] | range:
    """``1,2,4``; ``1..4096`` (inclusive); ``1..4096:8`` (step 8); ``1..4096*2`` (1, 2, 4, ...,
    4096); or comma-separated mixes. A single plain range stays a ``range`` (never materialised)."""
    from .errors import invalid

    items: list[int] = []
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise invalid(field, text, "values like 1,2,4 or 1..4096 or 1..4096*2")
    try:
        for part in parts:
            if ".." not in part:
                items.append(int(part))
                continue
            lo_s, hi_s = part.split("..", 1)
            lo = int(lo_s)
            if "*" in hi_s:
                hi_txt, f_txt = hi_s.split("*", 1)
                hi, factor = int(hi_txt), int(f_txt)
                if factor < 2 or lo < 1:
                    raise ValueError
                x = lo
                while x <= hi:
                    items.append(x)
                    x *= factor
                continue
            hi_txt, _, step_txt = hi_s.partition(":")
            hi, step = int(hi_txt), int(step_txt or 1)
            if step < 1 or hi < lo:
                raise ValueError
            if len(parts) == 1:
                return range(lo, hi + 1, step)
            items.extend(range(lo, hi + 1, step))
    except ValueError:
        raise invalid(
            field,
            text,
            "values like 1,2,4 or 1..4096 (inclusive), 1..4096:8 (step) or 1..4096*2 (powers)",
        ) from None
    return items


def _pick(n: int, k: int) -> list[int]:
    """At most k row positions spread evenly over n rows, ends included."""
    if n <= k:
        return list(range(n))
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


@app.command()
def sweep(
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    hardware_names: str = typer.Option(
        "H100-SXM", "--hardware", "-H", help="comma-separated catalog accelerators"
    ),
    tp: str = typer.Option("1,2,4,8", "--tp", help="tensor-parallel degrees, e.g. 1,2,4,8"),
    pp: str = typer.Option("1", "--pp", help="pipeline stages, e.g. 1..16*2"),
    ep: str = typer.Option("1", "--ep", help="expert-parallel degrees"),
    batch: str = typer.Option(
        "1..256", "--batch", "-b", help="batch sizes: 1..4096, 1..4096:8, 1..4096*2 or a list"
    ),
    context: str = typer.Option(
        "2048", "--context", "-c", help="context lengths (prefill: prompt lengths)"
    ),
    weight_dtype: str = typer.Option(
        "bf16", "--weight-dtype", help="comma-separated weight formats"
    ),
    kv_dtype: Optional[str] = typer.Option(
        None, "--kv-dtype", help="comma-separated KV formats (default: the activation format)"
    ),
    phase: str = typer.Option("decode", "--phase", help="decode or prefill"),
    objectives: str = typer.Option(
        "cost,latency",
        "--objectives",
        "-o",
        help="2-3 of cost, latency, tokens_per_s_per_user, tokens_per_s, chips, mfu (name:min/max)",
    ),
    top: Optional[int] = typer.Option(
        None, "--top", help="keep the top K by the first objective instead of the frontier"
    ),
    max_latency_ms: Optional[float] = typer.Option(
        None, "--max-latency-ms", help="per-token latency (prefill: TTFT) at most, ms"
    ),
    min_speed: Optional[float] = typer.Option(
        None, "--min-tokens-per-s-per-user", help="per-user tokens/s at least"
    ),
    max_chips: Optional[int] = typer.Option(None, "--max-chips"),
    tp_scale_out: bool = typer.Option(
        False, "--tp-across-nodes", help="allow tp beyond the scale-up domain"
    ),
    kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT,
    price: Optional[float] = typer.Option(
        None, "--price", help="USD per chip-hour for every hardware (default: the catalog's)"
    ),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="PNG: cost vs per-token latency, one frontier per hardware"
    ),
    as_json: bool = typer.Option(False, "--json"),
    as_csv: bool = typer.Option(False, "--csv"),
    rows: int = typer.Option(20, "--rows", help="frontier rows shown in the table"),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Sweep hardware x tp x pp x ep x dtypes x batch x context through the roofline and print the
    Pareto frontier (or the top K): which configuration is best, and what each trade costs."""
    from .sweep import sweep as run
    from .units import fmt_seconds, fmt_usd

    m = resolve_model(name, hf_config)
    hws = [h.strip() for h in hardware_names.split(",") if h.strip()]
    keep: Any = "pareto" if top is None else ("top", top)
    machine = as_json or as_csv
    by = (
        "hardware" if (len(hws) > 1 and top is None and (plot is not None or not machine)) else None
    )
    r = run(
        m,
        hardware=hws,
        tp=parse_axis("tp", tp),
        pp=parse_axis("pp", pp),
        ep=parse_axis("ep", ep),
        batch=parse_axis("batch", batch),
        context=parse_axis("context", context),
        weight_dtype=[d.strip() for d in weight_dtype.split(",")],
        kv_dtype=[None] if kv_dtype is None else [d.strip() for d in kv_dtype.split(",")],
        phase=phase,  # type: ignore[arg-type]
        constraints={
            "max_latency": None if max_latency_ms is None else max_latency_ms / 1e3,
            "min_tokens_per_s_per_user": min_speed,
            "max_chips": max_chips,
            "tp_within_scale_up": not tp_scale_out,
        },
        objectives=objectives,
        keep=keep,
        progress=not (machine or no_progress),
        by=by,  # type: ignore[arg-type]
        kv_sharding=kv_sharding,
        overlap=overlap,
        price_per_hour=price,  # type: ignore[arg-type]
    )
    cols = r.columns
    shown = list(range(r.kept))
    if "on_frontier" in cols:
        shown = [i for i in shown if cols["on_frontier"][i]]
    if as_json:
        emit_json({"summary": r.summary(), "rows": [r.row(i) for i in range(r.kept)]})
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
            title=f"{m.name} {r.phase}: {what} over {', '.join(f'{n} ({s})' for n, s in r.objectives)}"
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
            console.print(
                f"[dim]{rows} of {len(shown)} frontier rows shown, evenly spaced (--rows, --json or --csv for all)[/dim]"
            )
        console.print(
            f"{r.grid:,} configurations named, {r.evaluated:,} evaluated, {r.feasible:,} feasible, {r.kept:,} kept "
            f"in {r.elapsed:.2f} s ({r.configs_per_s:,.3g} configs/s)"
        )
    if plot is not None:
        r.plot(plot)
        if not machine:
            console.print(f"[dim]plot written to {plot}[/dim]")


# --- pipeline ------------------------------------------------------------------------------------


def _floats(option: str, text: Optional[str]) -> Optional[list[float]]:
    return None if text is None else _float_list(text, option)


@app.command("pipeline")
def pipeline_cmd(
    schedule: str = typer.Argument(
        ..., help="gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-h2 or forward"
    ),
    stages: int = typer.Option(16, "--stages", "-p", help="pipeline stages (devices)"),
    microbatches: int = typer.Option(64, "--microbatches", "-m", help="microbatches per step"),
    forward: str = typer.Option(
        "1",
        "--forward",
        help="forward seconds per microbatch: one number or one per stage, comma-separated",
    ),
    backward: Optional[str] = typer.Option(
        None, "--backward", help="backward seconds (default 2 x forward; 0 for forward)"
    ),
    weight_grad: Optional[str] = typer.Option(
        None, "--weight-grad", help="weight-gradient seconds; zb-* default: half the backward"
    ),
    chunks: int = typer.Option(1, "--chunks", "-v", help="chunks per device (interleaved-1f1b)"),
    p2p: float = typer.Option(0.0, "--p2p", help="seconds per hop between stages"),
    plot: Optional[Path] = typer.Option(
        None,
        "--plot",
        help="write the Gantt chart (or with --compare, bubble vs microbatches) here",
    ),
    compare: Optional[str] = typer.Option(
        None, "--compare", help="comma-separated schedules: bubble vs microbatches"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Simulate a pipeline schedule: makespan, bubble, per-stage idle and peak activations."""
    from . import pipeline as pp

    f = _floats("--forward", forward) or [1.0]
    b_given = _floats("--backward", backward)
    w_given = _floats("--weight-grad", weight_grad)

    def times(name: str) -> tuple[list[float], list[float], Optional[list[float]], str]:
        if name == "forward":
            return f, [0.0], None, ""
        b = b_given if b_given is not None else [2 * x for x in f]
        if name in ("zb-h1", "zb-h2") and w_given is None:
            half = [x / 2 for x in b]
            return f, half, half, "backward split evenly into B and W"
        return f, b, w_given, ""

    def run(name: str, m: int, v: int) -> "pp.Schedule":
        ff, bb, ww, _ = times(name)
        return pp.simulate(name, stages, m, ff, bb, ww, v, p2p)

    if compare is not None:
        names = [x.strip().lower() for x in compare.split(",") if x.strip()]
        for n in names:
            if n not in pp.SCHEDULES:
                raise typer.BadParameter(
                    f"--compare: {n!r} is not one of {', '.join(pp.SCHEDULES)}"
                )
        grid = sorted({stages * k for k in (1, 2, 4, 8, 16, 32)} | {microbatches})
        v_il = chunks if chunks > 1 else 2
        curves: dict[str, list[float]] = {}
        for n in names:
            v = v_il if n == "interleaved-1f1b" else 1
            label = f"{n} (v={v})" if v > 1 else n
            curves[label] = [
                float("nan") if (v > 1 and m % stages) else run(n, m, v).bubble_fraction
                for m in grid
            ]
        if as_json:
            emit_json({"stages": stages, "microbatches": grid, "bubble_fraction": curves})
        else:
            t = Table(title=f"Bubble (share of device time), {stages} stages")
            t.add_column("microbatches", justify="right")
            for label in curves:
                t.add_column(label, justify="right")
            for i, m in enumerate(grid):
                t.add_row(
                    str(m), *("-" if c[i] != c[i] else f"{c[i]:.2%}" for c in curves.values())
                )
            console.print(t)
        if plot is not None:
            from .plot import pipeline_bubbles

            pipeline_bubbles(grid, curves, stages, plot)
            if not as_json:
                console.print(f"wrote {plot}")
        return

    s = run(schedule.lower(), microbatches, chunks)
    note = times(s.schedule)[3]
    if as_json:
        data = s.summary()
        if note:
            data["note"] = note
        emit_json(data)
    else:
        console.print(
            f"[b]{s.schedule}[/b]: {s.stages} stages x {s.microbatches} microbatches"
            + (f" x {s.chunks} chunks" if s.chunks > 1 else "")
            + f"  |  makespan {s.makespan:.6g} s (lower bound {s.lower_bound:.6g})"
            + f"  |  bubble {s.bubble_fraction:.2%} of device time, {s.bubble_ratio:.2%} of ideal"
        )
        if note:
            console.print(f"[dim]{note}[/dim]")
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
        if not as_json:
            console.print(f"wrote {plot}")


def main() -> None:
    try:
        app()
    except BrickwallError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        sys.exit(2)


__all__ = ["app", "main"]
