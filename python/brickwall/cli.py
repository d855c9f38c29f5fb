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
        raise typer.BadParameter(f"{field} = {text!r}: expected N, N,M,... or A..B with 1 <= A <= B") from None


def _float_list(text: str, field: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"{field} = {text!r}: expected a number or a comma-separated list") from None


@app.command("spec")
def spec_cmd(
    alpha: str = typer.Option("0.8", help="acceptance rate(s) in [0, 1], e.g. 0.8 or 0.6,0.7,0.8"),
    gamma: str = typer.Option("1..8", help="draft lengths: N, N,M or A..B"),
    cost_ratio: str = typer.Option("0.05", "--cost-ratio", help="draft / target step time c, or a list"),
    target: Optional[str] = typer.Option(None, help="target model: switches to the batching analysis"),
    draft: Optional[str] = typer.Option(None, help="draft model (with --target)"),
    hardware_name: str = typer.Option("A100-80GB", "--hardware", help="accelerator (with --target)"),
    tp: int = typer.Option(8, help="tensor-parallel degree of the target"),
    pp: int = typer.Option(1, help="pipeline-parallel degree of the target (chips = tp x pp)"),
    draft_chips: Optional[int] = typer.Option(None, "--draft-chips", help="chips serving the draft (default: tp)"),
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
                results.append({
                    "alpha": a, "cost_ratio": c,
                    "rows": [{"gamma": g, "expected_tokens": float(x), "speedup": float(y)} for g, x, y in zip(gammas, e, s)],
                    "best_gamma": best, "best_speedup": float(spec.speedup(a, best, c)),
                })
        if as_json:
            emit_json(results)
            return
        for r in results:
            t = Table(title=f"speculative decoding: alpha = {r['alpha']:g}, cost ratio c = {r['cost_ratio']:g}")
            for col in ("gamma", "E\\[tokens]", "speedup"):
                t.add_column(col, justify="right")
            top = max(row["speedup"] for row in r["rows"])
            for row in r["rows"]:
                mark = "[b]" if row["speedup"] == top else ""
                end = "[/b]" if mark else ""
                t.add_row(str(row["gamma"]), f"{row['expected_tokens']:.3f}", f"{mark}{row['speedup']:.3f}x{end}")
            console.print(t)
            console.print(f"best gamma: [b]{r['best_gamma']}[/b] ({r['best_speedup']:.3f}x)")
        return

    if draft is None:
        raise typer.BadParameter("--target needs --draft")
    from .model import model as model_lookup

    tm, dm, hw = model_lookup(target), model_lookup(draft), hardware(hardware_name)
    dep = spec.SimpleDeployment(hw, tp * pp, weight_dtype, kv_dtype)
    ddep = spec.SimpleDeployment(hw, draft_chips or tp, weight_dtype, kv_dtype)
    batches = _int_list(batch, "batch", doubling=True)
    sweeps = [
        spec.sweep_batches(tm, dm, dep, batches, context, a, gammas, draft_step_time=spec.magicdec_step_time(ddep))
        for a in alphas
    ]
    if as_json:
        emit_json([sw.summary() | {"target": target, "draft": draft, "hardware": hardware_name,
                                   "chips": tp * pp, "draft_chips": ddep.chips} for sw in sweeps])
    else:
        for sw in sweeps:
            t = Table(title=(f"{target} on {tp * pp} x {hardware_name} (draft {draft} on {ddep.chips}), "
                             f"context {context:,}, alpha = {sw.alpha:g}"))
            t.add_column("batch", justify="right")
            t.add_column("plain step", justify="right")
            t.add_column("plain tok/s/user", justify="right")
            for g in sw.gammas:
                t.add_column(f"g={g}", justify="right")
            t.add_column("best g", justify="right")
            for i, b in enumerate(sw.batches):
                cells = [f"{x:.2f}x" for x in sw.speedup[i]]
                t.add_row(str(b), fmt_seconds(1 / sw.plain_tokens_per_s_per_user[i], 3),
                          f"{sw.plain_tokens_per_s_per_user[i]:,.1f}", *cells, str(sw.best_gamma[i]))
            console.print(t)
            cb = sw.crossover_batch
            console.print("speculation " + (f"stops paying at batch [b]{cb}[/b]" if cb else "pays at every batch shown"))
        console.print("[dim]step times: MagicDec's simple roofline max((W + B S kv)/BW, 2 N_act B n / F)[/dim]")
    if plot is not None:
        from .plot import spec_speedup_vs_batch

        spec_speedup_vs_batch(sweeps[0], title=f"{target} + draft {draft}, {tp * pp} x {hardware_name}", path=plot)
        if not as_json:
            console.print(f"saved {plot}")


def main() -> None:
    try:
        app()
    except BrickwallError as e:
        Console(stderr=True).print(f"[red]error:[/red] {e}")
        sys.exit(2)


__all__ = ["app", "main"]
