"""From collective timings to the network fraction and the per-step latency.

brickwall prices a collective with the alpha-beta model of :mod:`brickwall.collectives`:
``t = steps x latency + u / fraction``, where ``u`` is the model's time at the link's peak with
no latency and ``steps`` the model's latency steps (both from the core, for each message). The
model is linear in ``(latency, 1 / fraction)``, so a least-squares fit over the message sizes
(each equation divided by its time: relative residuals, as the sizes span six decades) gives
both: large messages set the fraction, small ones the latency. Rings for every kind, as NCCL
runs large messages; the all-reduce's fit is the profile's (tensor parallelism all-reduces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..collectives import collective_time


@dataclass(frozen=True)
class NetworkFit:
    ranks: int
    #: kind -> the fraction of the link's peak its largest message reaches
    fractions: dict[str, float]
    #: the profile's network fraction (the all-reduce's; the all-to-all's without one)
    fraction: float | None
    #: seconds per latency step of the all-reduce, None without two sizes to separate it
    latency_s: float | None
    notes: list[str] = field(default_factory=list)


def _fit(times: dict[int, float], kind: str, ranks: int, link: float) -> tuple[float, float | None]:
    """``(fraction, latency per step)`` of one kind; the latency is None from a single size
    (then the fraction takes the whole time)."""
    u = {b: collective_time(kind, b, ranks, bandwidth=link) for b in times}
    s = {b: collective_time(kind, b, ranks, bandwidth=link, latency=1.0) - u[b] for b in times}
    if len(times) < 2:
        ((b, t),) = times.items()
        return u[b] / t, None
    # normal equations of sum (1 - latency s/t - inv u/t)^2
    xs = [(s[b] / t, u[b] / t) for b, t in times.items()]
    a11 = sum(x * x for x, _ in xs)
    a12 = sum(x * y for x, y in xs)
    a22 = sum(y * y for _, y in xs)
    b1, b2 = sum(x for x, _ in xs), sum(y for _, y in xs)
    det = a11 * a22 - a12 * a12
    if det <= 1e-12 * a11 * a22:  # one regime only: no latency to separate
        largest = max(times)
        return u[largest] / times[largest], None
    latency, inverse = (b1 * a22 - b2 * a12) / det, (a11 * b2 - a12 * b1) / det
    return (1 / inverse if inverse > 0 else math.inf), max(0.0, latency)


def fit_network(
    times: dict[tuple[str, int], float], ranks: int, link_bandwidth: float
) -> NetworkFit:
    """Fit ``times`` (``(kind, bytes per rank) -> seconds``) among ``ranks`` ranks over links of
    ``link_bandwidth`` bytes/s per rank per direction (the chip's scale-up peak)."""
    fractions: dict[str, float] = {}
    latencies: dict[str, float | None] = {}
    notes: list[str] = []
    for kind in sorted({k for k, _ in times}):
        mine = {b: t for (k, b), t in times.items() if k == kind}
        fractions[kind], latencies[kind] = _fit(mine, kind, ranks, link_bandwidth)
    main = "all-reduce" if "all-reduce" in fractions else "all-to-all"
    fraction, latency = fractions.get(main), latencies.get(main)
    if fraction is not None and not 0 < fraction <= 1:
        notes.append(
            f"{main} reached {fraction:.3g}x the chip's scale-up peak: not a fraction in (0, 1], "
            "so the network fraction is not fitted (is --hardware the chip measured?)"
        )
        fraction = latency = None
    return NetworkFit(ranks, fractions, fraction, latency, notes)
