"""Units: SI inside, human units only at the edges.

Internally brickwall uses bytes, seconds, FLOP, FLOP/s, bytes/s and USD. The constants convert
human units (decimal GB/TB as vendors print them; GiB where a vendor says GiB) and the ``fmt_*``
helpers label values for people.
"""

from __future__ import annotations

import math

from .validate import choice

KB, MB, GB, TB = 1e3, 1e6, 1e9, 1e12
GiB = 2.0**30
TERA = 1e12
PETA = 1e15
HOUR = 3600.0
DAY = 86400.0
GBIT = 1e9 / 8  # bytes/s in one Gb/s

#: Bytes per element of each numeric format. fp4/int4 pack two values per byte; the micro-scaling
#: block scales of MXFP4/NVFP4 (one 8-bit scale per 32 or 16 values) are ignored.
DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "fp4": 0.5,
    "int4": 0.5,
}

DTYPES: tuple[str, ...] = tuple(DTYPE_BYTES)


def dtype_bytes(dtype: str, field: str = "dtype") -> float:
    """Bytes per element of ``dtype`` (case-insensitive), or a clear error."""
    return DTYPE_BYTES[choice(field, dtype, DTYPES)]


def _scaled(value: float, steps: list[tuple[float, str]], digits: int) -> str:
    if not math.isfinite(value):
        return str(value)
    for factor, suffix in steps:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {suffix}"
    factor, suffix = steps[-1]
    return f"{value / factor:.{digits}g} {suffix}"


def fmt_bytes(b: float, digits: int = 4) -> str:
    return _scaled(
        b, [(1e15, "PB"), (1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1, "B")], digits
    )


def fmt_count(n: float, digits: int = 4) -> str:
    return _scaled(n, [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"), (1, "")], digits).rstrip()


def fmt_flops(f: float, digits: int = 4) -> str:
    return _scaled(
        f,
        [
            (1e18, "EFLOP"),
            (1e15, "PFLOP"),
            (1e12, "TFLOP"),
            (1e9, "GFLOP"),
            (1e6, "MFLOP"),
            (1, "FLOP"),
        ],
        digits,
    )


def fmt_seconds(s: float, digits: int = 4) -> str:
    if not math.isfinite(s):
        return str(s)
    if s >= DAY:
        return f"{s / DAY:.{digits}g} days"
    if s >= HOUR:
        return f"{s / HOUR:.{digits}g} h"
    if s >= 1:
        return f"{s:.{digits}g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.{digits}g} ms"
    return f"{s * 1e6:.{digits}g} us"


def fmt_usd(x: float) -> str:
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.3g}M"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    return f"${x:.3g}"
