"""From timings to the step model's profile.

- memory: the best copy bandwidth (a copy reads and writes its bytes; its time beyond the kernel
  floor) over the chip's peak;
- kernel floor: the tiny kernel's time (launch, prologue, gap: no work to hide it);
- GEMM: for each compute-bound measurement (its time well above the weight read at the measured
  bandwidth), the efficiency ``e(M) = 2 M N K / ((t - floor) x peak)``; the step model's curve
  ``e(M) = e_max M / (M + m_half)`` is linear in ``1/M`` as ``1/e = 1/e_max + (m_half/e_max)/M``,
  so a least-squares line through ``(1/M, 1/e)`` gives ``e_max`` and ``m_half``; the same fit
  of the fp8 GEMMs against the fp8 peak is recorded beside it (the profile has one ``flops``);
- network: the largest collective's fraction of the scale-up peak and the smallest all-reduce's
  latency per step (:mod:`.network`), when more than one GPU is visible;
- attention: each kernel's achieved fraction and the step model's prediction of it under the
  fitted profile (:mod:`.attention`); recorded as data, the step model is not changed by it.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ValidationError
from ..hardware import Efficiency, Hardware
from ..hardware import hardware as lookup_hardware
from ..units import DTYPE_BYTES
from ..validate import boolean
from .attention import AttentionPoint, median_abs_error, plateau
from .attention import points as attention_points
from .backends import COLLECTIVES, Backend, Unsupported
from .network import NetworkFit, fit_network
from .sizes import FULL, QUICK, Sizes

__all__ = ["FULL", "QUICK", "Calibration", "Sizes", "calibrate", "fit_gemm", "summary"]

#: A decode attention plateau this far from the copy fraction (relative) is reported: the step
#: model prices the KV read at the copy fraction.
ATTENTION_TOLERANCE = 0.15


@dataclass(frozen=True)
class Calibration:
    """What was measured on ``hardware`` and the profile fitted from it (times in seconds)."""

    hardware: Hardware
    efficiency: Efficiency
    backend: str
    provenance: dict[str, str]
    copy_bytes_s: dict[int, float]  #: bytes -> achieved bytes/s (read + write)
    gemm_s: dict[tuple[int, int, int], float]  #: (M, N, K) -> seconds, bf16
    kernel_s: float  #: the per-kernel floor under CUDA-graph replay (the profile's)
    eager_kernel_s: float | None = None  #: the same kernel launched eagerly
    fp8_gemm_s: dict[tuple[int, int, int], float] = field(default_factory=dict)
    #: (plateau fraction of the fp8 peak, half-efficiency rows), None when not fitted
    fp8_fit: tuple[float, float] | None = None
    attention: list[AttentionPoint] = field(default_factory=list)
    collectives_s: dict[tuple[str, int], float] = field(default_factory=dict)
    network: NetworkFit | None = None
    notes: list[str] = field(default_factory=list)

    def profiled(self) -> Hardware:
        """The chip with the measured profile as its default efficiency (and the fitted
        collective latency per step, when collectives were measured)."""
        h = replace(self.hardware, efficiency=self.efficiency)
        if self.network is not None and self.network.latency_s is not None:
            h = replace(h, scale_up_latency=self.network.latency_s)
        return h


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b x``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def _timing(what: str, t: object) -> float:
    """A measured time: a finite number of seconds > 0 (a backend that returns anything else is
    broken, and a fit through it would be silently wrong)."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (math.isfinite(t) and t > 0):
        raise ValidationError(f"{what} timed {t!r}: expected a finite number of seconds > 0")
    return float(t)


def fit_gemm(
    times: dict[tuple[int, int, int], float],
    floor: float,
    peak: float,
    bandwidth: float,
    element_bytes: float,
) -> tuple[float, float, int]:
    """``(e_max, m_half, points used)`` from GEMM timings; ``points used`` < 2 means no fit."""
    for name, v in (("peak", peak), ("bandwidth", bandwidth), ("element_bytes", element_bytes)):
        if not (math.isfinite(v) and v > 0):
            raise ValidationError(f"{name} = {v!r}: expected a finite number > 0")
    if not (math.isfinite(floor) and floor >= 0):
        raise ValidationError(f"floor = {floor!r}: expected a finite number of seconds >= 0")
    xs, ys = [], []
    for (m, n, k), t in times.items():
        if min(m, n, k) < 1:
            raise ValidationError(f"GEMM shape {(m, n, k)}: expected M, N, K >= 1")
        work = _timing(f"GEMM M={m} N={n} K={k}", t) - floor
        weight_read = (n * k + m * k + m * n) * element_bytes / bandwidth
        if work <= 1.5 * weight_read:
            continue  # bound by its memory traffic: says nothing about compute efficiency
        e = 2 * m * n * k / (work * peak)
        xs.append(1 / m)
        ys.append(1 / e)
    if len(xs) < 2 or len(set(xs)) < 2:
        return 0.0, 0.0, len(xs)
    a, b = _line(xs, ys)
    if a <= 0:
        return 0.0, 0.0, len(xs)
    return 1 / a, max(0.0, b / a), len(xs)


_METHODS = (
    "name",
    "describe",
    "copy",
    "gemm",
    "gemm_fp8",
    "tiny_kernel",
    "tiny_kernel_eager",
    "attention_prefill",
    "attention_decode",
    "devices",
    "collectives",
)


def _optional(what: str, measure: Callable[[], Any], notes: list[str]) -> Any:
    """``measure()``, or None with a note when the backend cannot make it here."""
    try:
        return measure()
    except Unsupported as e:
        notes.append(f"{what} not measured: {e}")
        return None


def calibrate(
    hardware: Hardware | str,
    backend: Backend,
    *,
    quick: bool = True,
    sizes: Sizes | None = None,
) -> Calibration:
    """Measure with ``backend`` and fit the profile of ``hardware`` (its peaks are the
    denominators). ``sizes`` overrides the quick or full grid (:class:`Sizes`: a CPU dry run
    uses toy sizes; a backend with a ``sizes`` attribute, as the numpy one, brings its own).
    Measurements the backend cannot make here (fp8, collectives on one GPU) are left out with a
    note; the network fraction and latency keep the chip's unless collectives were timed."""
    if isinstance(hardware, str):
        hardware = lookup_hardware(hardware)
    if not isinstance(hardware, Hardware):
        raise ValidationError(f"hardware = {hardware!r}: expected a Hardware or a chip name")
    if not all(hasattr(backend, a) for a in _METHODS):
        raise ValidationError(
            f"backend = {backend!r}: expected a Backend (e.g. TorchBackend()) with "
            + ", ".join(_METHODS)
        )
    quick = boolean("quick", quick)
    if sizes is not None and not isinstance(sizes, Sizes):
        raise ValidationError(f"sizes = {sizes!r}: expected a brickwall.calibrate.Sizes")
    base = hardware.efficiency
    notes: list[str] = []
    own = getattr(backend, "sizes", None)
    custom = sizes is not None or isinstance(own, Sizes)
    grid = sizes or (own if isinstance(own, Sizes) else QUICK if quick else FULL)
    if backend.name == "numpy":
        notes.append(
            "a CPU dry run: the fractions are this CPU's against the chip's peaks, not a GPU profile"
        )
    floor = _timing("the tiny kernel", backend.tiny_kernel())
    eager = _timing("the tiny kernel (eager)", backend.tiny_kernel_eager())
    # the copy kernel pays the floor too: the bandwidth is what moves bytes beyond it
    copies = {}
    for b in grid.copy_bytes:
        t = _timing(f"a copy of {b} bytes", backend.copy(b))
        if t <= floor:
            raise ValidationError(
                f"a copy of {b} bytes timed {t:.3g} s, within the kernel floor ({floor:.3g} s): "
                "expected a larger buffer"
            )
        copies[b] = 2 * b / (t - floor)
    if not copies:
        raise ValidationError("sizes.copy_bytes is empty: expected at least one copy size")
    bandwidth = max(copies.values())
    memory = bandwidth / hardware.memory_bandwidth
    if not (bandwidth >= 1 and memory <= 1):
        raise ValidationError(
            f"measured copy bandwidth {bandwidth:.4g} B/s is {memory:.3g}x the peak of "
            f"{hardware.name} ({hardware.memory_bandwidth:.4g} B/s): expected a fraction in (0, 1]; "
            "is --hardware the chip being measured?"
        )
    gemms = {
        (m, n, k): _timing(f"GEMM M={m} N={n} K={k}", backend.gemm(m, n, k))
        for n, k in grid.shapes
        for m in grid.rows
    }
    peak = (
        hardware.flops("bf16")
        if "bf16" in hardware.peak_flops
        else max(hardware.peak_flops.values())
    )
    e_max, m_half, used = fit_gemm(gemms, floor, peak, bandwidth, DTYPE_BYTES["bf16"])
    if used < 2 or not 0 < e_max <= 1:
        notes.append(
            f"GEMM curve not fitted ({used} compute-bound points, plateau {e_max:.3g}): kept "
            f"flops {base.flops:g} and gemm_m_half {base.gemm_m_half:g}"
        )
        e_max, m_half = base.flops, base.gemm_m_half

    fp8: dict[tuple[int, int, int], float] = {}
    fp8_fit = None
    if grid.fp8_rows and "fp8" not in hardware.peak_flops:
        notes.append(f"fp8 GEMMs not measured: {hardware.name} has no fp8 peak")
    elif grid.fp8_rows:
        for m, n, k in ((m, n, k) for n, k in grid.shapes for m in grid.fp8_rows):
            what = f"fp8 GEMM M={m} N={n} K={k}"
            t = _optional(what, functools.partial(backend.gemm_fp8, m, n, k), notes)
            if t is None:
                break  # the reason (no fp8 here) holds for the other shapes too
            fp8[m, n, k] = _timing(what, t)
        if fp8:
            p8, h8, used8 = fit_gemm(fp8, floor, hardware.flops("fp8"), bandwidth, 1.0)
            if used8 >= 2 and 0 < p8 <= 1:
                fp8_fit = (p8, min(h8, 1e9))
                notes.append(
                    f"fp8 GEMM plateau {p8:.3g} of the fp8 peak (bf16: {e_max:.3g} of its own); "
                    "the profile's flops is the bf16 one: [measured.gemm_fp8] has the fp8 curve"
                )
            else:
                notes.append(f"fp8 GEMM curve not fitted ({used8} compute-bound points)")

    efficiency = Efficiency(
        flops=e_max,
        memory=memory,
        network=base.network,
        gemm_m_half=min(m_half, 1e9),
        kernel_overhead=min(max(floor, 0.0), 1.0),
        elementwise=base.elementwise,
    )

    net = None
    times: dict[tuple[str, int], float] = {}
    if grid.collective_bytes:
        got = _optional(
            "collectives", lambda: backend.collectives(COLLECTIVES, grid.collective_bytes), notes
        )
        if got is not None:
            times = {key: _timing(f"{key[0]} of {key[1]} bytes", t) for key, t in got.items()}
            ranks = backend.devices()
            if ranks > hardware.scale_up_domain:
                notes.append(
                    f"{ranks} GPUs exceed {hardware.name}'s scale-up domain of "
                    f"{hardware.scale_up_domain}: the network fraction is not fitted"
                )
            elif times:
                net = fit_network(times, ranks, hardware.scale_up_bandwidth)
                notes.extend(net.notes)
                if net.fraction is not None:
                    efficiency = replace(efficiency, network=net.fraction)

    measured_attention: dict[tuple[str, int, int, int, int, int], float] = {}
    for phase, shapes, run in (
        ("prefill", grid.prefill, backend.attention_prefill),
        ("decode", grid.decode, backend.attention_decode),
    ):
        for b, h, kv, d, n in shapes:
            what = f"{phase} attention batch={b} heads={h}/{kv}x{d} tokens={n}"
            t = _optional(what, functools.partial(run, b, h, kv, d, n), notes)
            if t is not None:
                measured_attention[phase, b, h, kv, d, n] = _timing(what, t)
    att = attention_points(hardware, efficiency, floor, measured_attention)
    decode_plateau = plateau(att, "decode")
    if decode_plateau is not None and abs(decode_plateau / memory - 1) > ATTENTION_TOLERANCE:
        notes.append(
            f"decode attention reaches {decode_plateau:.3g} of peak bandwidth at best, copies "
            f"{memory:.3g}: the step model prices the KV read at the copy fraction "
            "([measured.attention] has both, and the error per kernel)"
        )

    provenance = {
        "tool": "brickwall calibrate"
        + (" at custom sizes" if custom else " --quick" if quick else " --full"),
        "backend": backend.name,
        "date": datetime.date.today().isoformat(),
        **backend.describe(),
    }
    return Calibration(
        hardware,
        efficiency,
        backend.name,
        provenance,
        copies,
        gemms,
        floor,
        eager_kernel_s=eager,
        fp8_gemm_s=fp8,
        fp8_fit=fp8_fit,
        attention=att,
        collectives_s=times,
        network=net,
        notes=notes,
    )


def summary(c: Calibration) -> dict[str, Any]:
    """Human units, for the CLI and JSON."""
    e = c.efficiency
    out: dict[str, Any] = {
        "hardware": c.hardware.name,
        "backend": c.backend,
        "memory_fraction": e.memory,
        "gemm_plateau_fraction": e.flops,
        "gemm_m_half_rows": e.gemm_m_half,
        "kernel_floor_us": e.kernel_overhead * 1e6,
        "eager_kernel_floor_us": None if c.eager_kernel_s is None else c.eager_kernel_s * 1e6,
        "best_copy_tb_s": max(c.copy_bytes_s.values()) / 1e12,
        "fp8_gemm_plateau_fraction": None if c.fp8_fit is None else c.fp8_fit[0],
        "network_fraction": None if c.network is None else c.network.fraction,
        "collective_latency_us": None
        if c.network is None or c.network.latency_s is None
        else c.network.latency_s * 1e6,
        "prefill_attention_flops_fraction": plateau(c.attention, "prefill"),
        "decode_attention_bandwidth_fraction": plateau(c.attention, "decode"),
        "attention_median_abs_error": median_abs_error(c.attention),
        "attention": [
            {
                "phase": p.phase,
                "batch": p.batch,
                "heads": p.heads,
                "kv_heads": p.kv_heads,
                "head_dim": p.head_dim,
                "tokens": p.tokens,
                "measured_us": p.measured_s * 1e6,
                "predicted_us": p.predicted_s * 1e6,
                "error": p.error,
                "fraction": None if math.isnan(p.fraction) else p.fraction,
            }
            for p in c.attention
        ],
        "notes": c.notes,
        "provenance": c.provenance,
    }
    return out
