"""Reference alpha-beta collective times (Thakur, Rabenseifner & Gropp 2005)."""

from __future__ import annotations


def collective_time(kind: str, n: float, p: int, alpha: float, bandwidth: float) -> float:
    if p <= 1 or n <= 0:
        return 0.0
    beta = 1.0 / bandwidth
    if kind == "all-reduce":
        return 2 * (p - 1) * alpha + 2 * ((p - 1) / p) * n * beta
    if kind in ("reduce-scatter", "all-gather", "all-to-all"):
        return (p - 1) * alpha + ((p - 1) / p) * n * beta
    if kind == "p2p":
        return alpha + n * beta
    raise ValueError(kind)


def hierarchical_all_reduce(
    n: float, g: int, islands: int, a_in: float, bw_in: float, a_out: float, bw_out: float
) -> float:
    return (
        collective_time("reduce-scatter", n, g, a_in, bw_in)
        + collective_time("all-reduce", n / g, islands, a_out, bw_out)
        + collective_time("all-gather", n, g, a_in, bw_in)
    )
