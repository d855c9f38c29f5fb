"""Reference alpha-beta collective times (Thakur, Rabenseifner & Gropp 2005) and the all-reduce
algorithms (ring, double binary tree, one-shot, two-shot, auto = the fastest)."""

from __future__ import annotations

import math

ALGORITHMS = ("ring", "tree", "one-shot", "two-shot")


def all_reduce(n: float, p: int, alpha: float, bandwidth: float, algorithm: str) -> float:
    """One all-reduce by ``algorithm``; "auto" is the least of the four."""
    if p <= 1 or n <= 0:
        return 0.0
    if algorithm == "auto":
        return min(all_reduce(n, p, alpha, bandwidth, a) for a in ALGORITHMS)
    if algorithm == "ring":  # reduce-scatter + all-gather around the ring
        steps, moved = 2 * (p - 1), 2 * ((p - 1) / p) * n
    elif algorithm == "tree":  # reduce up a binary tree, broadcast down; two trees share n
        steps, moved = 2 * math.ceil(math.log2(p)), 2 * n
    elif algorithm == "one-shot":  # read every peer's whole buffer, once
        steps, moved = 1, (p - 1) * n
    elif algorithm == "two-shot":  # direct reduce-scatter, direct all-gather
        steps, moved = 2, 2 * ((p - 1) / p) * n
    else:
        raise ValueError(algorithm)
    return steps * alpha + moved / bandwidth


def auto_algorithm(n: float, p: int, alpha: float, bandwidth: float) -> str:
    """The first of ALGORITHMS with the least time ("ring" when nothing is sent)."""
    times = [all_reduce(n, p, alpha, bandwidth, a) for a in ALGORITHMS]
    return ALGORITHMS[times.index(min(times))]


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
    n: float,
    g: int,
    islands: int,
    a_in: float,
    bw_in: float,
    a_out: float,
    bw_out: float,
    algorithm: str = "ring",
) -> float:
    if algorithm == "auto":
        return min(
            hierarchical_all_reduce(n, g, islands, a_in, bw_in, a_out, bw_out, a)
            for a in ("ring", "two-shot")
        )
    if algorithm == "two-shot":
        return all_reduce(n, g, a_in, bw_in, "two-shot") + collective_time(
            "all-reduce", n / g, islands, a_out, bw_out
        )
    return (
        collective_time("reduce-scatter", n, g, a_in, bw_in)
        + collective_time("all-reduce", n / g, islands, a_out, bw_out)
        + collective_time("all-gather", n, g, a_in, bw_in)
    )
