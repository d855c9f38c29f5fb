"""Collective communication times (alpha-beta model), vectorised over numpy arrays.

Conventions for ``bytes``: all-reduce / reduce-scatter: the buffer each rank holds before the
call; all-gather: the gathered buffer after it; all-to-all: the buffer each rank holds, of which
(p-1)/p leaves the rank; p2p: the bytes sent. A group of one rank costs nothing.

All-reduce comes in several algorithms (``ALGORITHMS``; formulas and sources in the core's
``collectives::Algorithm`` docs), with ``latency`` = alpha per step and ``bandwidth`` = B:

- ``ring``: 2(p-1) alpha + 2(p-1)/p n / B (the default, as before);
- ``tree`` (double binary tree): 2 ceil(log2 p) alpha + 2 n / B;
- ``one-shot`` (every rank reads all peers' buffers): alpha + (p-1) n / B;
- ``two-shot`` (direct reduce-scatter + all-gather): 2 alpha + 2(p-1)/p n / B;
- ``auto``: the least of the four for each message (:func:`all_reduce_algorithm` says which).
  One-shot and two-shot need peer access (a group inside one NVLink/NVSwitch domain).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _core
from .validate import array, choice, integer, real

KINDS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all", "p2p")
#: The concrete all-reduce algorithms, in the order of the core's codes; "auto" picks among them.
ALGORITHMS: tuple[str, ...] = tuple(_core.collectives_all_reduce_algorithms())


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
    algorithm: str = "ring",
) -> Any:
    """Seconds for a collective of ``bytes`` among ``ranks`` ranks over links of ``bandwidth``
    bytes/s per rank per direction and ``latency`` s per step. Broadcasts like numpy; returns a
    float for scalar inputs. ``algorithm`` (all-reduce only; the others are rings or pairwise):
    one of ``ALGORITHMS`` or ``"auto"``.

    >>> round(collective_time("all-reduce", 1e9, 8, bandwidth=450e9), 12)  # 2 x 7/8 GB at 450 GB/s
    0.003888888889
    >>> t = collective_time("all-reduce", 16384, 8, bandwidth=360e9, latency=1e-6, algorithm="auto")
    >>> round(t * 1e6, 4)  # one-shot: one latency step and 7 peer buffers read
    1.3186
    """
    kind = choice("kind", kind, KINDS)
    algorithm = choice("algorithm", algorithm, (*ALGORITHMS, "auto"))
    if kind != "all-reduce" and algorithm != "ring":
        from .errors import invalid

        raise invalid("algorithm", algorithm, f"'ring' for {kind} (algorithms are for all-reduce)")
    real("bandwidth", bandwidth, strict=True)
    real("latency", latency)
    x, n, shape = _broadcast(bytes, ranks, ("bytes", "ranks"))
    if kind == "all-reduce":
        out = _core.collectives_all_reduce_times(x, n, latency, bandwidth, algorithm)
    else:
        out = _core.collectives_times(kind, x, n, latency, bandwidth)
    out = out.reshape(shape)
    return float(out) if out.ndim == 0 else out


def all_reduce_algorithm(
    bytes: ArrayLike,
    ranks: ArrayLike,
    *,
    bandwidth: float,
    latency: float = 0.0,
) -> Any:
    """The all-reduce algorithm ``algorithm="auto"`` picks for ``bytes`` among ``ranks`` ranks
    (the least modelled time; ``"ring"`` when nothing is sent). A str for scalar inputs, else an
    array of str. For a chip's tensor-parallel group use its scale-up link,
    ``bandwidth = hw.scale_up_bandwidth * efficiency.network`` and ``latency = hw.scale_up_latency``.

    >>> all_reduce_algorithm([16384, 2**28], 8, bandwidth=360e9, latency=1e-6).tolist()
    ['one-shot', 'two-shot']
    """
    real("bandwidth", bandwidth, strict=True)
    real("latency", latency)
    x, n, shape = _broadcast(bytes, ranks, ("bytes", "ranks"))
    codes = _core.collectives_all_reduce_choices(x, n, latency, bandwidth).reshape(shape)
    names = np.array(ALGORITHMS)[codes]
    return str(names) if names.ndim == 0 else names


def hierarchical_all_reduce_time(
    bytes: ArrayLike,
    islands: ArrayLike,
    *,
    per_island: int,
    inner_bandwidth: float,
    outer_bandwidth: float,
    inner_latency: float = 0.0,
    outer_latency: float = 0.0,
    algorithm: str = "ring",
) -> Any:
    """Two-level all-reduce: reduce-scatter inside islands of ``per_island`` ranks (fast links),
    all-reduce of each 1/per_island shard across ``islands`` islands (slow links, a ring), all-gather
    inside. Equals a flat ring when both link classes are equal (without latency).
    ``algorithm`` sets the in-island halves: ``"ring"`` ((g-1) steps each), ``"two-shot"`` (one
    direct step each, same bytes) or ``"auto"`` (the faster); tree and one-shot have no
    reduce-scatter half and are refused."""
    algorithm = choice("algorithm", algorithm, (*ALGORITHMS, "auto"))
    integer("per_island", per_island)
    for name, v in (("inner_bandwidth", inner_bandwidth), ("outer_bandwidth", outer_bandwidth)):
        real(name, v, strict=True)
    real("inner_latency", inner_latency)
    real("outer_latency", outer_latency)
    x, n, shape = _broadcast(bytes, islands, ("bytes", "islands"))
    out = _core.collectives_hierarchical_all_reduce_times(
        x,
        n,
        int(per_island),
        inner_latency,
        inner_bandwidth,
        outer_latency,
        outer_bandwidth,
        algorithm,
    ).reshape(shape)
    return float(out) if out.ndim == 0 else out


__all__ = [
    "ALGORITHMS",
    "KINDS",
    "all_reduce_algorithm",
    "collective_time",
    "hierarchical_all_reduce_time",
]
