"""The ``brickwall`` command."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

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
    for col in ("name", "memory", "HBM TB/s", "bf16 TFLOP/s", "fp8 TFLOP/s", "scale-up GB/s/dir", "domain", "$/chip-h"):
        t.add_column(col, justify="left" if col == "name" else "right", no_wrap=col == "name")
    for name in hardware_names():
        h = hardware(name)
        fp8 = h.peak_flops.get("fp8")
        t.add_row(
            name, fmt_bytes(h.memory, 3), f"{h.memory_bandwidth / 1e12:.3g}",
            f"{h.peak_flops.get('bf16', 0) / 1e12:,.1f}", "-" if fp8 is None else f"{fp8 / 1e12:,.1f}",
            f"{h.scale_up_bandwidth / 1e9:,.0f}", str(h.scale_up_domain),
            "-" if h.price_per_hour is None else f"{h.price_per_hour:.2f}",
        )
    return t


def _models_table() -> Table:
    t = Table(title="Models (exact counts from shapes)")
    for col in ("name", "layers", "d_model", "attention", "experts", "total", "active", "GFLOP/token", "KV/token (16-bit)"):
        t.add_column(col, justify="left" if col in ("name", "attention") else "right", no_wrap=col == "name")
    for name in model_names():
        m = model(name)
        p = m.params
        moe = f"{m.experts} top-{m.top_k}" + (f" +{m.shared_experts}sh" if m.shared_experts else "") if m.is_moe else "-"
        t.add_row(
            name, str(m.layers), f"{m.d_model:,}", f"{m.attention} {m.heads}/{m.kv_heads}", moe,
            fmt_count(p.total), fmt_count(p.active), f"{m.flops_per_token() / 1e9:,.1f}",
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
    name: Optional[str] = typer.Argument(None, help="catalog model name (see `brickwall catalog models`)"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config", help="a Hugging Face config.json instead"),
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
    t.add_row("[b]active per token[/b]", f"[b]{p.active:,}[/b] ({fmt_count(p.active)})", f"{p.active / p.total:.1%}")
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


class Format(str, Enum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def _deployment(hardware_name: str, tp: int, pp: int, ep: int, weight_dtype: str, kv_dtype: Optional[str],
                kv_sharding: str, overlap: bool, price: Optional[float]) -> Any:
    from .inference import Deployment

    return Deployment(hardware(hardware_name), tp=tp, pp=pp, ep=ep, weight_dtype=weight_dtype, kv_dtype=kv_dtype,
                      kv_sharding=kv_sharding, overlap=overlap, price_per_hour=price)  # type: ignore[arg-type]


def _print_estimate(e: Any) -> None:
    from .units import fmt_seconds, fmt_usd

    d = e.deployment
    t = Table(title=f"{e.phase}: {e.model} on {d.chips}x {d.hardware.name} (TP {d.tp} x PP {d.pp} x EP {d.ep}), "
                    f"batch {e.batch:,}, context {e.context:,}" + (f", prompt {e.new_tokens:,}" if e.phase == "prefill" else ""))
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row("step time", fmt_seconds(e.step_time))
    for k, v in e.breakdown.items():
        t.add_row(f"  {k.replace('_', ' ')}", f"{fmt_seconds(v)} ({v / e.step_time:.0%} of the step)")
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
    t.add_row(f"$ per 1M {label} tokens", "price unknown (--price)" if cost is None else fmt_usd(cost))
    console.print(t)
    eff = d.efficiency
    console.print(f"[dim]assumptions: weights {d.weight_dtype}, KV {d.kv_dtype} ({d.kv_sharding}-sharded), compute {d.compute_dtype}; "
                  f"efficiency flops {eff.flops:g} / memory {eff.memory:g} / network {eff.network:g}; "
                  f"communication {'overlapped' if d.overlap else 'not overlapped'}[/dim]")


def _step_command(phase: str, name: Optional[str], hf_config: Optional[Path], hardware_name: str, tp: int, pp: int, ep: int,
                  batch: int, tokens: int, context: int, weight_dtype: str, kv_dtype: Optional[str], kv_sharding: str,
                  overlap: bool, price: Optional[float], as_json: bool, plot: Optional[Path]) -> None:
    from . import inference

    m = resolve_model(name, hf_config)
    d = _deployment(hardware_name, tp, pp, ep, weight_dtype, kv_dtype, kv_sharding, overlap, price)
    e = inference.decode(m, d, batch, context) if phase == "decode" else inference.prefill(m, d, batch, tokens, context=context)
    if as_json:
        emit_json(e.as_dict())
    else:
        _print_estimate(e)
    if plot is not None:
        from .plot import step_vs_batch

        step_vs_batch(m, d, context=context, new_tokens=1 if phase == "decode" else tokens, path=plot, mark=batch)
        console.print(f"[dim]plot written to {plot}[/dim]")


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
    hardware_name: str = HW_OPT, tp: int = TP_OPT, pp: int = PP_OPT, ep: int = EP_OPT,
    batch: int = typer.Option(1, "--batch", "-b"), context: int = typer.Option(2048, "--context", "-c"),
    weight_dtype: str = WD_OPT, kv_dtype: Optional[str] = KD_OPT, kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT, price: Optional[float] = PR_OPT,
    as_json: bool = typer.Option(False, "--json"), plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: step time and tokens/s vs batch"),
) -> None:
    """One decode step: time and its breakdown, tokens/s, MFU, memory per chip, $ per 1M output tokens."""
    _step_command("decode", name, hf_config, hardware_name, tp, pp, ep, batch, 1, context, weight_dtype, kv_dtype,
                  kv_sharding, overlap, price, as_json, plot)


@app.command()
def prefill(
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    hardware_name: str = HW_OPT, tp: int = TP_OPT, pp: int = PP_OPT, ep: int = EP_OPT,
    batch: int = typer.Option(1, "--batch", "-b"), prompt: int = typer.Option(2048, "--prompt", "-p"),
    context: int = typer.Option(0, "--context", help="tokens already cached before the prompt"),
    weight_dtype: str = WD_OPT, kv_dtype: Optional[str] = KD_OPT, kv_sharding: str = KS_OPT,
    overlap: bool = OV_OPT, price: Optional[float] = PR_OPT,
    as_json: bool = typer.Option(False, "--json"), plot: Optional[Path] = typer.Option(None, "--plot"),
) -> None:
    """Prefill: time to first token, input tokens/s, MFU, $ per 1M input tokens."""
    _step_command("prefill", name, hf_config, hardware_name, tp, pp, ep, batch, prompt, context, weight_dtype, kv_dtype,
                  kv_sharding, overlap, price, as_json, plot)


@app.command()
def train(
    name: Optional[str] = typer.Argument(None, help="catalog model"),
    hf_config: Optional[Path] = typer.Option(None, "--hf-config"),
    tokens: float = typer.Option(..., "--tokens", help="training tokens, e.g. 13e12"),
    hardware_name: str = typer.Option("H100-SXM", "--hardware", "-H"),
    gpus: Optional[float] = typer.Option(None, "--gpus"), mfu: Optional[float] = typer.Option(None, "--mfu"),
    days: Optional[float] = typer.Option(None, "--days"), price: Optional[float] = PR_OPT,
    dtype: str = typer.Option("bf16", "--dtype", help="the peak MFU refers to"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Training compute, time and cost: give two of --gpus, --mfu, --days."""
    from .training import chinchilla_tokens, training_run
    from .units import fmt_usd

    m = resolve_model(name, hf_config)
    r = training_run(m, tokens, hardware(hardware_name), gpus=gpus, mfu=mfu, days=days, price_per_hour=price, dtype=dtype)
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
    t.add_row("cost", "price unknown (--price)" if r.cost is None else f"{fmt_usd(r.cost)} at ${r.price_per_hour:g}/GPU-h")
    t.add_section()
    for basis in ("total", "active"):
        c = chinchilla_tokens(m, basis)  # type: ignore[arg-type]
        t.add_row(f"Chinchilla tokens (20 x {basis} params)", f"{c:.3g} ({c / tokens:.2f}x these tokens)")
    console.print(t)


@app.command()
def reproduce(
    fmt: Format = typer.Option(Format.table, "--format", "-f"),
    only: Optional[str] = typer.Option(None, "--only", help="one claim id (or an id prefix)"),
) -> None:
    """Re-derive every quantitative claim of the GPT-4 analysis and give each a verdict."""
    from .claims import reproduce as run

    rows = run(only)
    counts = {v: sum(r.verdict == v for r in rows) for v in ("consistent", "inconsistent", "assumption")}
    summary = f"{len(rows)} claims: {counts['consistent']} consistent, {counts['inconsistent']} inconsistent, {counts['assumption']} assumptions"
    if fmt is Format.json:
        emit_json({"summary": counts, "claims": [r.as_dict() for r in rows]})
    elif fmt is Format.csv:
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(["id", "claim", "article", "computed", "verdict", "why", "assumptions"])
        for r in rows:
            w.writerow([r.id, r.claim, r.article, r.computed, r.verdict, r.why, "; ".join(r.assumptions)])
    elif fmt is Format.markdown:
        typer.echo("| id | claim | article | brickwall | verdict | why / assumptions |\n|---|---|---|---|---|---|")
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
        raise invalid(field, text, "values like 1,2,4 or 1..4096 (inclusive), 1..4096:8 (step) or 1..4096*2 (powers)") from None
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
    hardware_names: str = typer.Option("H100-SXM", "--hardware", "-H", help="comma-separated catalog accelerators"),
    tp: str = typer.Option("1,2,4,8", "--tp", help="tensor-parallel degrees, e.g. 1,2,4,8"),
    pp: str = typer.Option("1", "--pp", help="pipeline stages, e.g. 1..16*2"),
    ep: str = typer.Option("1", "--ep", help="expert-parallel degrees"),
    batch: str = typer.Option("1..256", "--batch", "-b", help="batch sizes: 1..4096, 1..4096:8, 1..4096*2 or a list"),
    context: str = typer.Option("2048", "--context", "-c", help="context lengths (prefill: prompt lengths)"),
    weight_dtype: str = typer.Option("bf16", "--weight-dtype", help="comma-separated weight formats"),
    kv_dtype: Optional[str] = typer.Option(None, "--kv-dtype", help="comma-separated KV formats (default: the activation format)"),
    phase: str = typer.Option("decode", "--phase", help="decode or prefill"),
    objectives: str = typer.Option("cost,latency", "--objectives", "-o",
                                   help="2-3 of cost, latency, tokens_per_s_per_user, tokens_per_s, chips, mfu (name:min/max)"),
    top: Optional[int] = typer.Option(None, "--top", help="keep the top K by the first objective instead of the frontier"),
    max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="per-token latency (prefill: TTFT) at most, ms"),
    min_speed: Optional[float] = typer.Option(None, "--min-tokens-per-s-per-user", help="per-user tokens/s at least"),
    max_chips: Optional[int] = typer.Option(None, "--max-chips"),
    tp_scale_out: bool = typer.Option(False, "--tp-across-nodes", help="allow tp beyond the scale-up domain"),
    kv_sharding: str = KS_OPT, overlap: bool = OV_OPT,
    price: Optional[float] = typer.Option(None, "--price", help="USD per chip-hour for every hardware (default: the catalog's)"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="PNG: cost vs per-token latency, one frontier per hardware"),
    as_json: bool = typer.Option(False, "--json"), as_csv: bool = typer.Option(False, "--csv"),
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
    by = "hardware" if (len(hws) > 1 and top is None and (plot is not None or not machine)) else None
    r = run(
        m, hardware=hws, tp=parse_axis("tp", tp), pp=parse_axis("pp", pp), ep=parse_axis("ep", ep),
        batch=parse_axis("batch", batch), context=parse_axis("context", context),
        weight_dtype=[d.strip() for d in weight_dtype.split(",")],
        kv_dtype=[None] if kv_dtype is None else [d.strip() for d in kv_dtype.split(",")],
        phase=phase,  # type: ignore[arg-type]
        constraints={"max_latency": None if max_latency_ms is None else max_latency_ms / 1e3,
                     "min_tokens_per_s_per_user": min_speed, "max_chips": max_chips, "tp_within_scale_up": not tp_scale_out},
        objectives=objectives, keep=keep, progress=not (machine or no_progress), by=by,  # type: ignore[arg-type]
        kv_sharding=kv_sharding, overlap=overlap, price_per_hour=price,  # type: ignore[arg-type]
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
        t = Table(title=f"{m.name} {r.phase}: {what} over {', '.join(f'{n} ({s})' for n, s in r.objectives)}"
                        + (" - the joint frontier of all hardware" if by else ""))
        many = {k: len(set(cols[k].tolist())) > 1 for k in ("weight_dtype", "kv_dtype", "context")}
        heads = ["hardware", "TPxPPxEP", "batch"] + (["ctx"] if many["context"] else []) \
            + (["weights"] if many["weight_dtype"] else []) + (["KV"] if many["kv_dtype"] else []) \
            + ["$/1M tok", "latency" if r.phase == "decode" else "TTFT", "tok/s/user", "tok/s", "MFU"]
        for col in heads:
            t.add_column(col, justify="left" if col in ("hardware", "TPxPPxEP", "weights", "KV") else "right", no_wrap=True)
        for i in [shown[j] for j in _pick(len(shown), rows)]:
            cells = [cols["hardware"][i], f"{cols['tp'][i]}x{cols['pp'][i]}x{cols['ep'][i]}", f"{cols['batch'][i]:,}"]
            cells += [f"{cols['context'][i]:,}"] if many["context"] else []
            cells += [cols["weight_dtype"][i]] if many["weight_dtype"] else []
            cells += [cols["kv_dtype"][i]] if many["kv_dtype"] else []
            cells += [fmt_usd(cols["cost"][i]), fmt_seconds(cols["latency"][i]), f"{cols['tokens_per_s_per_user'][i]:,.1f}",
                      f"{cols['tokens_per_s'][i]:,.0f}", f"{cols['mfu'][i]:.1%}"]
            t.add_row(*cells)
        console.print(t)
        if len(shown) > rows:
            console.print(f"[dim]{rows} of {len(shown)} frontier rows shown, evenly spaced (--rows, --json or --csv for all)[/dim]")
        console.print(f"{r.grid:,} configurations named, {r.evaluated:,} evaluated, {r.feasible:,} feasible, {r.kept:,} kept "
                      f"in {r.elapsed:.2f} s ({r.configs_per_s:,.3g} configs/s)")
    if plot is not None:
        r.plot(plot)
        if not machine:
            console.print(f"[dim]plot written to {plot}[/dim]")


def main() -> None:
    try:
        app()
    except BrickwallError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        sys.exit(2)


__all__ = ["app", "main"]
