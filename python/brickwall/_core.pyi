# Stubs of the Rust extension (rust/brickwall-py). Checked by `python -m mypy.stubtest brickwall._core`.
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "collective_times",
    "hierarchical_all_reduce_times",
    "pipeline_balance_layers",
    "pipeline_bubble_fractions",
    "pipeline_simulate",
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
def pipeline_simulate(
    schedule: str,
    stages: int,
    microbatches: int,
    chunks: int,
    forward: NDArray[np.float64],
    backward: NDArray[np.float64],
    weight_grad: NDArray[np.float64] | None,
    p2p: float,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]: ...
def pipeline_bubble_fractions(
    schedule: str,
    stages: NDArray[np.uint64],
    microbatches: NDArray[np.uint64],
    chunks: NDArray[np.uint64],
    forward: float,
    backward: float,
    weight_grad: float | None,
) -> NDArray[np.float64]: ...
def pipeline_balance_layers(
    layer_times: NDArray[np.float64],
    stages: int,
    head_extra: float,
    tail_extra: float,
) -> NDArray[np.uint64]: ...
