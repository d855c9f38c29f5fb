"""Write a calibration as a chip file (docs/chip-format.md): the chip's own facts, the measured
``[efficiency]`` table, the provenance in ``source`` and the raw measurements as comments."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..units import GB, TB, TERA
from .fit import Calibration


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    return repr(v)


def chip_file_text(c: Calibration, name: str | None = None) -> str:
    """The chip file's text; ``name`` defaults to the chip's name + "-measured"."""
    h, e, p = c.hardware, c.efficiency, c.provenance
    what = ", ".join(f"{k} {v}" for k, v in p.items() if k not in ("tool", "date"))
    keys: dict[str, object] = {
        "name": name or (h.name if h.name.endswith("-measured") else f"{h.name}-measured"),
        "memory_gb": h.memory / GB,
        "memory_bandwidth_tb_s": h.memory_bandwidth / TB,
        "scale_up_gb_s": h.scale_up_bandwidth / GB,
        "scale_up_domain": h.scale_up_domain,
        "scale_up_latency_us": h.scale_up_latency * 1e6,
        "scale_out_latency_us": h.scale_out_latency * 1e6,
    }
    if h.scale_out_bandwidth is not None:
        keys["scale_out_gb_s"] = h.scale_out_bandwidth / GB
    if h.tdp is not None:
        keys["tdp_w"] = h.tdp
    if h.price_per_hour is not None and h.price_date and h.price_source:
        keys |= {
            "price_per_hour_usd": h.price_per_hour,
            "price_date": h.price_date,
            "price_source": h.price_source,
        }
    keys["source"] = (
        f"{h.source}; efficiency measured by {p['tool']} on {p['date']} ({what})"
        if h.source
        else f"efficiency measured by {p['tool']} on {p['date']} ({what})"
    )
    lines = [
        f"# {json.dumps(h.name)}: the chip's facts as brickwall had them, [efficiency] measured here.",
        *(f"# note: {n}" for n in c.notes),
        *(f"{k} = {_value(v)}" for k, v in keys.items()),
        "tflops = { "
        + ", ".join(f"{k} = {_value(v / TERA)}" for k, v in h.peak_flops.items())
        + " }",
        "",
        "[efficiency]",
        f"flops = {_value(e.flops)}",
        f"memory = {_value(e.memory)}",
        f"network = {_value(e.network)}",
        f"gemm_m_half = {_value(e.gemm_m_half)}",
        f"kernel_overhead_us = {_value(e.kernel_overhead * 1e6)}",
        f"elementwise = {_value(e.elementwise)}",
        "",
        "# measurements (seconds):",
        *(f"#   copy {b} bytes: {2 * b / bw:.6g}" for b, bw in c.copy_bytes_s.items()),
        *(f"#   gemm M={m} N={n} K={k}: {t:.6g}" for (m, n, k), t in c.gemm_s.items()),
        f"#   tiny kernel: {c.kernel_s:.6g}",
    ]
    return "\n".join(lines) + "\n"


def write_profile(c: Calibration, path: str | os.PathLike[str], name: str | None = None) -> Path:
    """Write :func:`chip_file_text` to ``path``; returns the path."""
    out = Path(path)
    out.write_text(chip_file_text(c, name), encoding="utf-8")
    return out
