"""From timings to the step model's profile.

- memory: the best copy bandwidth (a copy reads and writes its bytes; its time beyond the kernel
  floor) over the chip's peak;
- kernel floor: the tiny kernel's time (launch, prologue, gap: no work to hide it);
- GEMM: for each compute-bound measurement (its time well above the weight read at the measured
  bandwidth), the efficiency ``e(M) = 2 M N K / ((t - floor) x peak)``; the step model's curve
  ``e(M) = e_max M / (M + m_half)`` is linear in ``1/M`` as ``1/e = 1/e_max + (m_half/e_max)/M``,
  so a least-squares line through ``(1/M, 1/e)`` gives ``e_max`` and ``m_half``.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ValidationError
from ..hardware import Efficiency, Hardware
from ..hardware import hardware as lookup_hardware
from ..units import DTYPE_BYTES
from ..validate import boolean
from .backends import Backend

#: GEMM rows measured: decode (1-256) through prefill (4096+).
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
#: (N, K) of the GEMMs: the projections of 7B-70B models (d_model 4096 / 8192, FFN 14336 / 28672).
SHAPES_FULL = ((4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192), (28672, 8192))
SHAPES_QUICK = ((8192, 8192),)
COPY_BYTES = (256 << 20, 1 << 30)


@dataclass(frozen=True)
class Calibration:
    """What was measured on ``hardware`` and the profile fitted from it."""

    hardware: Hardware
    efficiency: Efficiency
    backend: str
    provenance: dict[str, str]
    copy_bytes_s: dict[int, float]  #: bytes -> achieved bytes/s (read + write)
    gemm_s: dict[tuple[int, int, int], float]  #: (M, N, K) -> seconds
    kernel_s: float
    notes: list[str] = field(default_factory=list)

    def profiled(self) -> Hardware:
        """The chip with the measured profile as its default efficiency."""
        return replace(self.hardware, efficiency=self.efficiency)


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


def calibrate(
    hardware: Hardware | str,
    backend: Backend,
    *,
    quick: bool = True,
    rows: tuple[int, ...] | None = None,
    shapes: tuple[tuple[int, int], ...] | None = None,
    copy_bytes: tuple[int, ...] | None = None,
) -> Calibration:
    """Measure with ``backend`` and fit the profile of ``hardware`` (its peaks are the
    denominators; the network fraction is not measured and keeps the chip's). ``rows``,
    ``shapes`` ((N, K) pairs) and ``copy_bytes`` override the quick or full sizes (a CPU dry run
    uses toy sizes; a backend with a ``sizes`` attribute, as the numpy one, brings its own)."""
    if isinstance(hardware, str):
        hardware = lookup_hardware(hardware)
    if not isinstance(hardware, Hardware):
        raise ValidationError(f"hardware = {hardware!r}: expected a Hardware or a chip name")
    if not all(hasattr(backend, a) for a in ("name", "describe", "copy", "gemm", "tiny_kernel")):
        raise ValidationError(f"backend = {backend!r}: expected a Backend (e.g. TorchBackend())")
    quick = boolean("quick", quick)
    base = hardware.efficiency
    notes: list[str] = []
    own = getattr(backend, "sizes", {})
    custom = any(x is not None for x in (rows, shapes, copy_bytes)) or bool(own)
    rows, shapes = rows or own.get("rows"), shapes or own.get("shapes")
    copy_bytes = copy_bytes or own.get("copy_bytes")
    if backend.name == "numpy":
        notes.append(
            "a CPU dry run: the fractions are this CPU's against the chip's peaks, not a GPU profile"
        )
    floor = _timing("the tiny kernel", backend.tiny_kernel())
    sizes = copy_bytes or (COPY_BYTES[:1] if quick else COPY_BYTES)
    # the copy kernel pays the floor too: the bandwidth is what moves bytes beyond it
    copies = {}
    for b in sizes:
        t = _timing(f"a copy of {b} bytes", backend.copy(b))
        if t <= floor:
            raise ValidationError(
                f"a copy of {b} bytes timed {t:.3g} s, within the kernel floor ({floor:.3g} s): "
                "expected a larger buffer"
            )
        copies[b] = 2 * b / (t - floor)
    bandwidth = max(copies.values())
    memory = bandwidth / hardware.memory_bandwidth
    if not (bandwidth >= 1 and memory <= 1):
        raise ValidationError(
            f"measured copy bandwidth {bandwidth:.4g} B/s is {memory:.3g}x the peak of "
            f"{hardware.name} ({hardware.memory_bandwidth:.4g} B/s): expected a fraction in (0, 1]; "
            "is --hardware the chip being measured?"
        )
    shapes = shapes or (SHAPES_QUICK if quick else SHAPES_FULL)
    rows = rows or (ROWS[::2] if quick else ROWS)
    gemms = {(m, n, k): backend.gemm(m, n, k) for n, k in shapes for m in rows}
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
    efficiency = Efficiency(
        flops=e_max,
        memory=memory,
        network=base.network,
        gemm_m_half=min(m_half, 1e9),
        kernel_overhead=min(max(floor, 0.0), 1.0),
        elementwise=base.elementwise,
    )
    provenance = {
        "tool": "brickwall calibrate"
        + (" at custom sizes" if custom else " --quick" if quick else " --full"),
        "backend": backend.name,
        "date": datetime.date.today().isoformat(),
        **backend.describe(),
    }
    return Calibration(hardware, efficiency, backend.name, provenance, copies, gemms, floor, notes)


def summary(c: Calibration) -> dict[str, Any]:
    """Human units, for the CLI and JSON."""
    e = c.efficiency
    return {
        "hardware": c.hardware.name,
        "backend": c.backend,
        "memory_fraction": e.memory,
        "gemm_plateau_fraction": e.flops,
        "gemm_m_half_rows": e.gemm_m_half,
        "kernel_floor_us": e.kernel_overhead * 1e6,
        "best_copy_tb_s": max(c.copy_bytes_s.values()) / 1e12,
        "notes": c.notes,
        "provenance": c.provenance,
    }
