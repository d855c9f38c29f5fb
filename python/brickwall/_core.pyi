# Stubs of the Rust extension (rust/brickwall-py). Checked by `python -m mypy.stubtest brickwall._core`.
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "collective_times",
    "hierarchical_all_reduce_times",
    "pareto_reduce",
    "roofline_steps",
    "sweep_rows",
    "sweep_run",
]

def collective_times(
    kind: str,
    bytes: NDArray[np.float64],
    ranks: NDArray[np.uint64],
    latency_s: float,
    bandwidth_bytes_s: float,
) -> NDArray[np.float64]: ...
def hierarchical_all_reduce_times(
    bytes: NDArray[np.float64],
    islands: NDArray[np.uint64],
    per_island: int,
    inner_latency_s: float,
    inner_bandwidth_bytes_s: float,
    outer_latency_s: float,
    outer_bandwidth_bytes_s: float,
) -> NDArray[np.float64]: ...
def roofline_steps(
    model: dict[str, float],
    plan: dict[str, float | bool],
    chip: dict[str, float],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
) -> dict[str, NDArray[np.float64] | NDArray[np.uint8] | NDArray[np.bool_]]: ...
def sweep_run(
    model: dict[str, float],
    deployments: list[tuple[dict[str, Any], dict[str, float]]],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    phase: str,
    new_tokens: float,
    fits: bool,
    max_latency: float,
    min_tokens_per_s_per_user: float,
    objectives: list[str],
    senses: list[str],
    keep_kind: str,
    k: int,
    lo: int = 0,
    hi: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> tuple[int, int, int, NDArray[np.uint64], NDArray[np.float64]]: ...
def sweep_rows(
    model: dict[str, float],
    deployments: list[tuple[dict[str, Any], dict[str, float]]],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    phase: str,
    new_tokens: float,
    index: NDArray[np.uint64],
) -> dict[str, NDArray[np.float64] | NDArray[np.uint8] | NDArray[np.bool_]]: ...
def pareto_reduce(
    values: NDArray[np.float64],
    index: NDArray[np.uint64],
    senses: list[str],
    keep_kind: str,
    k: int,
) -> NDArray[np.uint64]: ...
