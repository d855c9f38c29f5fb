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


# --- pipeline ------------------------------------------------------------------------------------


def _floats(option: str, text: Optional[str]) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise typer.BadParameter(f"{option} = {text!r}: expected a number or comma-separated numbers") from e


@app.command("pipeline")
def pipeline_cmd(
    schedule: str = typer.Argument(..., help="gpipe, 1f1b, interleaved-1f1b, zb-h1, zb-h2 or forward"),
    stages: int = typer.Option(16, "--stages", "-p", help="pipeline stages (devices)"),
    microbatches: int = typer.Option(64, "--microbatches", "-m", help="microbatches per step"),
    forward: str = typer.Option("1", "--forward", help="forward seconds per microbatch: one number or one per stage, comma-separated"),
    backward: Optional[str] = typer.Option(None, "--backward", help="backward seconds (default 2 x forward; 0 for forward)"),
    weight_grad: Optional[str] = typer.Option(None, "--weight-grad", help="weight-gradient seconds; zb-* default: half the backward"),
    chunks: int = typer.Option(1, "--chunks", "-v", help="chunks per device (interleaved-1f1b)"),
    p2p: float = typer.Option(0.0, "--p2p", help="seconds per hop between stages"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write the Gantt chart (or with --compare, bubble vs microbatches) here"),
    compare: Optional[str] = typer.Option(None, "--compare", help="comma-separated schedules: bubble vs microbatches"),
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
                raise typer.BadParameter(f"--compare: {n!r} is not one of {', '.join(pp.SCHEDULES)}")
        grid = sorted({stages * k for k in (1, 2, 4, 8, 16, 32)} | {microbatches})
        v_il = chunks if chunks > 1 else 2
        curves: dict[str, list[float]] = {}
        for n in names:
            v = v_il if n == "interleaved-1f1b" else 1
            label = f"{n} (v={v})" if v > 1 else n
            curves[label] = [
                float("nan") if (v > 1 and m % stages) else run(n, m, v).bubble_fraction for m in grid
            ]
        if as_json:
            emit_json({"stages": stages, "microbatches": grid, "bubble_fraction": curves})
        else:
            t = Table(title=f"Bubble (share of device time), {stages} stages")
            t.add_column("microbatches", justify="right")
            for label in curves:
                t.add_column(label, justify="right")
            for i, m in enumerate(grid):
                t.add_row(str(m), *("-" if c[i] != c[i] else f"{c[i]:.2%}" for c in curves.values()))
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
                    str(d), f"{s.busy[d]:.6g}", f"{s.idle[d]:.6g}",
                    f"{s.idle[d] / s.makespan:.1%}" if s.makespan > 0 else "-", f"{s.peak_in_flight[d]:.4g}",
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
