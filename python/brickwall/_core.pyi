# Stubs of the Rust extension (rust/brickwall-py). Checked by `python -m mypy.stubtest brickwall._core`.
import numpy as np
from numpy.typing import NDArray

__all__ = ["collective_times", "hierarchical_all_reduce_times", "roofline_columns", "roofline_steps"]

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
) -> NDArray[np.float64]: ...
def roofline_columns() -> list[str]: ...
