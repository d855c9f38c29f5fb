# Stubs of the Rust extension (rust/brickwall-py). Checked by `python -m mypy.stubtest brickwall._core`.
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "collective_times",
    "hierarchical_all_reduce_times",
    "acceptance",
    "acceptance_from_logits",
    "lenient",
    "pareto_reduce",
    "pipeline_balance_layers",
    "pipeline_bubble_fractions",
    "pipeline_simulate",
    "roofline_columns",
    "roofline_crossover_batch",
    "roofline_links_available",
    "roofline_quantile_plan",
    "roofline_steps",
    "roofline_steps_at_quantile",
    "roofline_touched_experts",
    "route_histograms",
    "routing_balanced_load",
    "routing_chunk_trials",
    "routing_default_trials",
    "routing_expected_drops",
    "routing_expected_touched",
    "routing_histogram_quantile",
    "routing_inclusion_probabilities",
    "routing_load_pmf",
    "routing_max_load_cdf",
    "routing_mean_from_cdf",
    "simulate",
    "sweep_columns",
    "sweep_rows",
    "sweep_run",
    "tree_expected_tokens",
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
) -> NDArray[np.float64]: ...
def roofline_columns() -> list[str]: ...
def roofline_steps_at_quantile(
    model: dict[str, float],
    plan: dict[str, float | bool],
    chip: dict[str, float],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
    q: float,
    seed: int,
) -> NDArray[np.float64]: ...
def roofline_quantile_plan(
    model: dict[str, float],
    plan: dict[str, float | bool],
    tokens: int,
    q: float,
    seed: int,
) -> tuple[float, float]: ...
def roofline_links_available(tp: float, pp: float, ep: float, chip: dict[str, float]) -> bool: ...
def roofline_crossover_batch(
    peak_flops: float, memory_bandwidth: float, weight_bytes: float
) -> float: ...
def roofline_touched_experts(experts: float, top_k: float, tokens: float) -> float: ...
def route_histograms(
    experts: int,
    top_k: int,
    tokens: int,
    trials: int,
    seed: int,
    weights: NDArray[np.float64] | None,
    dirichlet_alpha: float | None,
    capacity: int | None,
    devices: int,
    progress: Callable[[int], object] | None = None,
) -> tuple[
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
]: ...
def routing_chunk_trials(tokens: int, top_k: int) -> int: ...
def routing_default_trials(tokens: int, top_k: int) -> int: ...
def routing_balanced_load(experts: int, top_k: int, tokens: int) -> float: ...
def routing_inclusion_probabilities(
    experts: int, top_k: int, weights: NDArray[np.float64] | None
) -> NDArray[np.float64]: ...
def routing_load_pmf(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None
) -> NDArray[np.float64]: ...
def routing_expected_touched(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None
) -> float: ...
def routing_expected_drops(
    experts: int, top_k: int, tokens: int, capacity: int, weights: NDArray[np.float64] | None
) -> float: ...
def routing_max_load_cdf(
    experts: int,
    top_k: int,
    tokens: int,
    weights: NDArray[np.float64] | None,
    method: str,
    progress: Callable[[int], object] | None = None,
) -> tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def routing_mean_from_cdf(cdf: NDArray[np.float64]) -> float: ...
def routing_histogram_quantile(hist: NDArray[np.uint64], q: float) -> int: ...
def acceptance(
    p: NDArray[np.float32] | NDArray[np.float64],
    q: NDArray[np.float32] | NDArray[np.float64],
    tol: float,
) -> NDArray[np.float64]: ...
def acceptance_from_logits(
    target_logits: NDArray[np.float32] | NDArray[np.float64],
    draft_logits: NDArray[np.float32] | NDArray[np.float64],
    temperature: float,
) -> NDArray[np.float64]: ...
def lenient(
    p: NDArray[np.float32] | NDArray[np.float64],
    q: NDArray[np.float32] | NDArray[np.float64],
    lam: float,
    tol: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def simulate(
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    gamma: int,
    trials: int,
    seed: int,
    lam: float,
    progress: Callable[[int], object] | None = None,
) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]: ...
def tree_expected_tokens(parents: NDArray[np.int64], accept_prob: NDArray[np.float64]) -> float: ...
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
def sweep_columns() -> list[str]: ...
def sweep_rows(
    model: dict[str, float],
    deployments: list[tuple[dict[str, Any], dict[str, float]]],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    phase: str,
    new_tokens: float,
    index: NDArray[np.uint64],
) -> NDArray[np.float64]: ...
def pareto_reduce(
    values: NDArray[np.float64],
    index: NDArray[np.uint64],
    senses: list[str],
    keep_kind: str,
    k: int,
) -> NDArray[np.uint64]: ...
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
