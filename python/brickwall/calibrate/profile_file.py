"""Write a calibration as a chip file (docs/chip-format.md): the chip's own facts, the measured
``[efficiency]`` table, the provenance in ``source``, and every measurement in ``[measured.*]``
tables (columns as arrays, units in the key names) that the chip reader accepts and leaves out of
the :class:`~brickwall.Hardware`; :func:`read_measured` reads them back."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from ..catalog import toml_loads
from ..errors import ValidationError, wrong_type
from ..units import GB, TB, TERA
from .attention import plateau
from .fit import Calibration


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, (int, float)):
        return repr(v)  # nan and inf are TOML's spellings too; repr round-trips a float
    raise TypeError(f"no TOML form for {v!r}")


def _tables(c: Calibration) -> list[tuple[str, dict[str, Any]]]:
    """``[measured.*]`` tables: (header, keys) in file order; a column table's arrays line up."""
    e, net = c.efficiency, c.network
    out: list[tuple[str, dict[str, Any]]] = [
        ("measured", {"backend": c.backend, "notes": list(c.notes)}),
        ("measured.provenance", dict(c.provenance)),
        (
            "measured.copy",
            {
                "bytes": list(c.copy_bytes_s),
                "time_s": [2 * b / bw for b, bw in c.copy_bytes_s.items()],
                "bandwidth_tb_s": [bw / 1e12 for bw in c.copy_bytes_s.values()],
                "memory_fraction": e.memory,
            },
        ),
        (
            "measured.kernels",
            {
                "graph_replay_us": c.kernel_s * 1e6,
                **({} if c.eager_kernel_s is None else {"eager_us": c.eager_kernel_s * 1e6}),
            },
        ),
    ]

    def gemm(name: str, times: dict[tuple[int, int, int], float], fit: tuple[float, float]) -> None:
        out.append(
            (
                name,
                {
                    "plateau_fraction": fit[0],
                    "m_half_rows": fit[1],
                    "m": [m for m, _, _ in times],
                    "n": [n for _, n, _ in times],
                    "k": [k for _, _, k in times],
                    "time_s": list(times.values()),
                    "tflops": [2 * m * n * k / t / 1e12 for (m, n, k), t in times.items()],
                },
            )
        )

    gemm("measured.gemm_bf16", c.gemm_s, (e.flops, e.gemm_m_half))
    if c.fp8_gemm_s and c.fp8_fit is not None:
        gemm("measured.gemm_fp8", c.fp8_gemm_s, c.fp8_fit)
    if c.attention:
        summary: dict[str, Any] = {
            "step_model_uses": "efficiency.flops for attention FLOPs, efficiency.memory for the "
            "KV-cache read, one kernel_overhead per kernel",
            "copy_memory_fraction": e.memory,
        }
        for phase, key in (
            ("prefill", "prefill_flops_fraction"),
            ("decode", "decode_bandwidth_fraction"),
        ):
            best = plateau(c.attention, phase)
            if best is not None:
                summary[key] = best
        out.append(("measured.attention", summary))
        for phase in ("prefill", "decode"):
            pts = [p for p in c.attention if p.phase == phase]
            if pts:
                out.append(
                    (
                        f"measured.attention.{phase}",
                        {
                            "batch": [p.batch for p in pts],
                            "heads": [p.heads for p in pts],
                            "kv_heads": [p.kv_heads for p in pts],
                            "head_dim": [p.head_dim for p in pts],
                            "tokens": [p.tokens for p in pts],
                            "time_s": [p.measured_s for p in pts],
                            "predicted_s": [p.predicted_s for p in pts],
                            "error": [p.error for p in pts],
                            "roofline_s": [p.roofline_s for p in pts],
                            "fraction": [p.fraction for p in pts],
                        },
                    )
                )
    if c.collectives_s:
        keys: dict[str, Any] = {}
        if net is not None:
            keys["ranks"] = net.ranks
            if net.fraction is not None:
                keys["network_fraction"] = net.fraction
            if net.latency_s is not None:
                keys["latency_per_step_us"] = net.latency_s * 1e6
            keys |= {f"{k.replace('-', '_')}_fraction": f for k, f in net.fractions.items()}
        out.append(("measured.collectives", keys))
        for kind in sorted({k for k, _ in c.collectives_s}):
            rows = sorted((b, t) for (k, b), t in c.collectives_s.items() if k == kind)
            out.append(
                (
                    f"measured.collectives.{kind.replace('-', '_')}",
                    {
                        "bytes": [b for b, _ in rows],
                        "time_s": [t for _, t in rows],
                        "algorithm_gb_s": [b / t / 1e9 for b, t in rows],
                    },
                )
            )
    return out


def chip_file_text(c: Calibration, name: str | None = None) -> str:
    """The chip file's text; ``name`` defaults to the chip's name + "-measured"."""
    h, e, p = c.profiled(), c.efficiency, c.provenance
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
        "# what was measured (brickwall reads the chip and [efficiency]; these tables are data)",
    ]
    for header, keys in _tables(c):
        lines += ["", f"[{header}]", *(f"{k} = {_value(v)}" for k, v in keys.items())]
    return "\n".join(lines) + "\n"


def write_profile(c: Calibration, path: str | os.PathLike[str], name: str | None = None) -> Path:
    """Write :func:`chip_file_text` to ``path``; returns the path."""
    out = Path(path)
    out.write_text(chip_file_text(c, name), encoding="utf-8")
    return out


def read_measured(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``[measured]`` table of a chip file written by calibrate (nested dicts and lists, as
    written); an empty dict when the file has none. Its tables are checked against what
    :func:`chip_file_text` writes (subtables, columns of numbers that line up, scalars)."""
    if not isinstance(path, (str, os.PathLike)):
        raise wrong_type("path", path, "a chip file's path (str or os.PathLike)")
    shown = os.fspath(path)
    try:
        doc = toml_loads(Path(shown).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ValidationError(f"chip file {shown}: cannot read its measurements ({e})") from None
    if "measured" not in doc and len(doc) == 1:  # a catalog-style file: one chip table
        doc = next(iter(doc.values()))
    measured = doc.get("measured", {}) if isinstance(doc, dict) else {}
    if not isinstance(measured, dict):
        raise ValidationError(f"chip file {shown}: measured = {measured!r}: expected a table")
    _check_measured(f"chip file {shown}", "measured", measured)
    return measured


#: The subtables under [measured]: calibrate's (_tables above) and a user's own, one level down;
#: only attention and collectives hold tables of their own.
_SUBTABLES = re.compile(r"measured\.(\w+|attention\.(prefill|decode)|collectives\.\w+)")
#: Text keys; every other scalar is a finite number. Columns (arrays) are finite numbers too,
#: times > 0, the signed ``error`` any finite value and the rest >= 0.
_TEXT = frozenset({"backend", "step_model_uses"})
_TIMES = frozenset({"time_s", "predicted_s", "roofline_s"})


def _check_measured(where: str, name: str, table: dict[str, Any]) -> None:
    columns: dict[str, int] = {}
    for key, v in table.items():
        at = f"{name}.{key}"
        if isinstance(v, dict):
            if not _SUBTABLES.fullmatch(at):
                raise ValidationError(
                    f"{where}: {at} is a table: expected a value (no table nests this deep)"
                )
            _check_measured(where, at, v)
        elif name == "measured.provenance" or key in _TEXT:
            if not isinstance(v, (str, int, float, bool)):
                raise ValidationError(f"{where}: {at} = {v!r}: expected text or a number")
        elif key == "notes" and name == "measured":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValidationError(f"{where}: {at} = {v!r}: expected a list of text")
        elif isinstance(v, list):
            low = "> 0" if key in _TIMES else "finite" if key == "error" else ">= 0"
            for x in v:
                ok = (
                    not isinstance(x, bool)
                    and isinstance(x, (int, float))
                    and math.isfinite(x)
                    and (x > 0 if key in _TIMES else key == "error" or x >= 0)
                )
                if not ok:
                    raise ValidationError(
                        f"{where}: {at} = {v!r}: expected a list of numbers {low} (got {x!r})"
                    )
            columns[key] = len(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValidationError(f"{where}: {at} = {v!r}: expected a finite number")
    if len(set(columns.values())) > 1:
        raise ValidationError(
            f"{where}: [{name}] columns of different lengths "
            f"({', '.join(f'{k}: {n}' for k, n in columns.items())}): expected them to line up"
        )
