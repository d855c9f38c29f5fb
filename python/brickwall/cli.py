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


@app.command("moe")
def moe_cmd(
    experts: int = typer.Option(16, "--experts", help="routed experts E"),
    top_k: int = typer.Option(2, "--top-k", help="experts per token k"),
    tokens: int = typer.Option(8, "--tokens", help="tokens per step (batch) B"),
    trials: float = typer.Option(1e6, "--trials", help="Monte Carlo steps (1e6 accepted)"),
    seed: int = typer.Option(0, "--seed"),
    zipf_s: Optional[float] = typer.Option(None, "--zipf", help="Zipf popularity exponent s (p_i ~ 1/i^s)"),
    dirichlet: Optional[float] = typer.Option(None, "--dirichlet", help="fresh Dirichlet(alpha) popularity per step"),
    devices: Optional[int] = typer.Option(None, "--devices", help="expert-parallel devices (divides E)"),
    capacity_factor: Optional[float] = typer.Option(None, "--capacity-factor", help="capacity ceil(cf k B / E) per expert"),
    plot_path: Optional[Path] = typer.Option(None, "--plot", help="save the load histograms to this image"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Distribution of tokens per expert / device in one MoE step (Monte Carlo + exact)."""
    from . import moe
    from .validate import integer

    if zipf_s is not None and dirichlet is not None:
        raise typer.BadParameter("give at most one of --zipf and --dirichlet")
    popularity: Any = ("zipf", zipf_s) if zipf_s is not None else ("dirichlet", dirichlet) if dirichlet is not None else None
    n = integer("trials", trials)
    with console.status(f"routing {n:,} steps..."):
        r = moe.route(experts, top_k, tokens, n, seed, popularity, capacity_factor, devices)
    exact: dict[str, Any] = {}
    if r.popularity != "dirichlet" and not r.popularity.startswith("dirichlet"):
        exact["load"] = r.top_k * r.tokens / r.n_experts
        exact["touched"] = moe.expected_experts_touched(experts, top_k, tokens, popularity)
        if r.capacity is not None:
            exact["dropped"] = moe.expected_drops(experts, top_k, tokens, popularity=popularity, capacity=r.capacity)
        mx = moe.max_load_cdf(experts, top_k, tokens, popularity)
        exact["max_load"] = mx.mean() if mx.exact else (float(np.sum(1 - mx.upper)), float(np.sum(1 - mx.lower)))
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
        "load": "tokens/expert", "max_load": "busiest expert",
        "device_load": f"busiest device ({r.n_experts // r.devices} exp.)",
        "touched": "experts touched", "dropped": f"dropped (cap {r.capacity})",
    }
    t = Table(title=f"top-{r.top_k} of {r.n_experts} experts, {r.tokens:,} tokens/step, {r.popularity}, "
                    f"{r.trials:,} steps (seed {r.seed})")
    for col in ("tokens", "mean", "exact", "std", "p50", "p90", "p99", "max"):
        t.add_column(col, justify="left" if col == "tokens" else "right", no_wrap=col == "tokens")
    for name in moe.QUANTITIES:
        if (name == "device_load" and r.devices == 1) or (name == "dropped" and r.capacity is None):
            continue
        ex = exact.get(name)
        ex_s = "-" if ex is None else (f"{ex[0]:.5g}-{ex[1]:.5g}" if isinstance(ex, tuple) else f"{ex:.4g}")
        p = r.percentiles(name)
        t.add_row(labels[name], f"{r.mean(name):.4g}", ex_s, f"{r.std(name):.3g}", str(p["p50"]), str(p["p90"]),
                  str(p["p99"]), str(r.max_value(name)))
    console.print(t)
    if r.tokens <= 32:
        pt = Table(title="P(c tokens): one expert, and the busiest expert of a step")
        for col in ("c", "expert MC", "expert exact", "busiest MC", "busiest exact"):
            pt.add_column(col, justify="right")
        pe = moe.load_pmf(experts, top_k, tokens) if r.popularity == "uniform" else None
        pm = mx.pmf() if r.popularity == "uniform" and mx.exact else None
        for c in range(r.tokens + 1):
            pt.add_row(str(c), f"{r.pmf('load')[c]:.3e}", "-" if pe is None else f"{pe[c]:.3e}",
                       f"{r.pmf('max_load')[c]:.3e}", "-" if pm is None else f"{pm[c]:.3e}")
        console.print(pt)
    if r.capacity is not None:
        console.print(f"capacity {r.capacity} tokens/expert: {r.drop_fraction:.2%} of assignments dropped on average")
    if plot_path is not None:
        console.print(f"[dim]plot: {plot_path}[/dim]")
    console.print("[dim]exact: k B / E, E(1-(1-k/E)^B), E E[(X-C)+] with X ~ Bin(B, k/E); busiest expert by "
                  f"{exact.get('max_load_method', '-')} (FORMULAS.md s2)[/dim]")


def main() -> None:
    try:
        app()
    except BrickwallError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        sys.exit(2)


__all__ = ["app", "main"]
