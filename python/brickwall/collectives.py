"""Collective communication times (alpha-beta model), vectorised over numpy arrays.

Conventions for ``bytes``: all-reduce / reduce-scatter: the buffer each rank holds before the
call; all-gather: the gathered buffer after it; all-to-all: the buffer each rank holds, of which
(p-1)/p leaves the rank; p2p: the bytes sent. A group of one rank costs nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .validate import array, choice, integer, real

KINDS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all", "p2p")


def _broadcast(
    a: ArrayLike, b: ArrayLike, names: tuple[str, str]
) -> tuple[NDArray[np.float64], NDArray[np.uint64], tuple[int, ...]]:
    x = array(names[0], a, np.float64, minimum=0.0, ndim=None)
    n = array(names[1], b, np.uint64, minimum=1.0, ndim=None)
    try:
        x, n = np.broadcast_arrays(x, n)
    except ValueError as e:
        from .errors import invalid

        raise invalid(
            f"shape of {names[1]}", n.shape, f"broadcastable with {names[0]} {x.shape}"
        ) from e
    return np.ascontiguousarray(x.ravel()), np.ascontiguousarray(n.ravel()), x.shape


def collective_time(
    kind: str,
    bytes: ArrayLike,
    ranks: ArrayLike,
    *,
    bandwidth: float,
    latency: float = 0.0,
) -> Any:
    """Seconds for a collective of ``bytes`` among ``ranks`` ranks over links of ``bandwidth``
    bytes/s per rank per direction and ``latency`` s per step. Broadcasts like numpy; returns a
    float for scalar inputs.

    >>> round(collective_time("all-reduce", 1e9, 8, bandwidth=450e9), 12)  # 2 x 7/8 GB at 450 GB/s
    0.003888888889
    """
    kind = choice("kind", kind, KINDS)
    real("bandwidth", bandwidth, strict=True)
    real("latency", latency)
    x, n, shape = _broadcast(bytes, ranks, ("bytes", "ranks"))
    out = _core.collectives_times(kind, x, n, latency, bandwidth).reshape(shape)
    return float(out) if out.ndim == 0 else out


def hierarchical_all_reduce_time(
    bytes: ArrayLike,
    islands: ArrayLike,
    *,
    per_island: int,
    inner_bandwidth: float,
    outer_bandwidth: float,
    inner_latency: float = 0.0,
    outer_latency: float = 0.0,
) -> Any:
    """Two-level all-reduce: reduce-scatter inside islands of ``per_island`` ranks (fast links),
    all-reduce of each 1/per_island shard across ``islands`` islands (slow links), all-gather
    inside. Equals a flat ring when both link classes are equal (without latency)."""
    integer("per_island", per_island)
    for name, v in (("inner_bandwidth", inner_bandwidth), ("outer_bandwidth", outer_bandwidth)):
        real(name, v, strict=True)
    real("inner_latency", inner_latency)
    real("outer_latency", outer_latency)
    x, n, shape = _broadcast(bytes, islands, ("bytes", "islands"))
    out = _core.collectives_hierarchical_all_reduce_times(
        x, n, int(per_island), inner_latency, inner_bandwidth, outer_latency, outer_bandwidth
    ).reshape(shape)
    return float(out) if out.ndim == 0 else out


__all__ = ["KINDS", "collective_time", "hierarchical_all_reduce_time"]
