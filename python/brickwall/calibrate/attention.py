"""Attention measurements against the step model.

Each measured kernel is set beside the step model's price of the same operator: a one-layer
model with the kernel's heads (:func:`probe`) through :func:`brickwall.decode` /
:func:`brickwall.prefill`, read from the step's ``operators["attention"]``. At the datasheet
peaks (``Efficiency.ideal()``) that operator is the kernel's roofline, so the achieved fraction
is ``roofline / (measured - kernel floor)``: of peak FLOP/s for a (compute-bound) prefill, of
peak bandwidth for a (KV-read-bound) decode. Under the fitted profile, the operator plus one
kernel floor is the step model's prediction of the kernel, and its error says how well the
profile prices attention on this GPU.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from ..deployment import Deployment
from ..hardware import Efficiency, Hardware
from ..inference import decode, prefill
from ..model import Model

PHASES = ("prefill", "decode")


@dataclass(frozen=True)
class AttentionPoint:
    """One measured attention kernel. ``tokens``: the prompt length (prefill) or the cached
    tokens each new token reads, itself included (decode)."""

    phase: str
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    tokens: int
    measured_s: float
    #: the step model's attention operator at the datasheet peaks (the kernel's roofline)
    roofline_s: float
    #: the step model's price under the fitted profile: the operator plus one kernel floor
    predicted_s: float
    #: roofline / (measured - floor): of peak FLOP/s (prefill) or bandwidth (decode); NaN when
    #: the kernel took no longer than the floor
    fraction: float

    @property
    def error(self) -> float:
        """predicted / measured - 1."""
        return self.predicted_s / self.measured_s - 1


def probe(heads: int, kv_heads: int, head_dim: int, tokens: int) -> Model:
    """A one-layer model whose attention is the measured kernel's (its weights do not enter
    the attention operator)."""
    return Model(
        name=f"attention probe {heads}/{kv_heads}x{head_dim}",
        layers=1,
        d_model=heads * head_dim,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab=1,
        d_ff=1,
        max_context=tokens + 1,
    )


def operator_s(
    hardware: Hardware,
    efficiency: Efficiency,
    phase: str,
    batch: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    tokens: int,
) -> float:
    """The step model's attention operator for the kernel (seconds, no kernel floor)."""
    m = probe(heads, kv_heads, head_dim, tokens)
    d = Deployment(hardware, efficiency=efficiency)
    if phase == "prefill":
        e = prefill(m, d, batch, tokens)
    else:  # the new token is cached before it attends: `tokens` entries read
        e = decode(m, d, batch, tokens - 1)
    return e.operators["attention"]


def points(
    hardware: Hardware,
    fitted: Efficiency,
    floor: float,
    measured: dict[tuple[str, int, int, int, int, int], float],
) -> list[AttentionPoint]:
    """Measured ``(phase, batch, heads, kv_heads, head_dim, tokens) -> seconds`` against the
    step model (see the module docs)."""
    out = []
    ideal = Efficiency.ideal()
    for (phase, b, h, kv, d, n), t in measured.items():
        roof = operator_s(hardware, ideal, phase, b, h, kv, d, n)
        pred = operator_s(hardware, fitted, phase, b, h, kv, d, n) + fitted.kernel_overhead
        frac = roof / (t - floor) if t > floor else math.nan
        out.append(AttentionPoint(phase, b, h, kv, d, n, t, roof, pred, frac))
    return out


def plateau(pts: list[AttentionPoint], phase: str) -> float | None:
    """The best fraction a phase reaches (its plateau), None without a measured point."""
    fr = [p.fraction for p in pts if p.phase == phase and math.isfinite(p.fraction)]
    return max(fr) if fr else None


def median_abs_error(pts: list[AttentionPoint]) -> float | None:
    return statistics.median(abs(p.error) for p in pts) if pts else None
