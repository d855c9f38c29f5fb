# Stubs of the Rust extension (rust/brickwall-py). Checked by `python -m mypy.stubtest brickwall._core`.
from collections.abc import Callable
from typing import Any, TypedDict, final, type_check_only

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "RooflineModel",
    "collectives_all_reduce_algorithms",
    "collectives_all_reduce_choices",
    "collectives_all_reduce_times",
    "collectives_hierarchical_all_reduce_times",
    "collectives_times",
    "pipeline_balance_layers",
    "pipeline_bubble_fractions",
    "pipeline_simulate",
    "roofline_columns",
    "roofline_crossover_batch",
    "roofline_links_available",
    "roofline_model",
    "roofline_quantile_plan",
    "roofline_steps",
    "roofline_steps_at_quantile",
    "roofline_touched_experts",
    "routing_balanced_load",
    "routing_chunk_trials",
    "routing_default_trials",
    "routing_expected_drops",
    "routing_expected_touched",
    "routing_histogram_quantile",
    "routing_histograms",
    "routing_inclusion_probabilities",
    "routing_load_pmf",
    "routing_max_load_cdf",
    "routing_mean_from_cdf",
    "serving_arrivals",
    "serving_iteration_seconds",
    "serving_kv_blocks",
    "serving_kv_transfer_seconds",
    "serving_lengths",
    "serving_lengths_empirical",
    "serving_search",
    "serving_simulate_pool",
    "serving_swap_seconds",
    "speculative_acceptance",
    "speculative_acceptance_from_logits",
    "speculative_lenient",
    "speculative_simulate",
    "speculative_tree_expected_tokens",
    "sweep_columns",
    "sweep_pareto_reduce",
    "sweep_rows",
    "sweep_run",
    "training_checkpoint_intervals",
    "training_columns",
    "training_expected_wall",
    "training_search",
    "training_simulate_failures",
    "training_step",
]

# -- payloads: what the kernels read by key (built by brickwall.deployment) -----------------------

@type_check_only
class ModelCosts(TypedDict):
    """A model as the step kernel sees it: element counts, no dtypes or layout
    (``deployment.cost_view``)."""

    layers: float
    moe_layers: float
    experts: float
    top_k: float
    dense_params: float  #: every parameter but the routed experts
    expert_params_per_layer: float  #: one routed expert's parameters in one MoE layer
    matmul_params_active: float  #: parameters a token multiplies through (2 FLOP each)
    attn_flops_per_context_token: float  #: attention FLOPs per new token per cached token
    kv_elements_per_token: float  #: KV-cache elements per token, all layers
    kv_heads: float  #: KV heads (1 for MLA's shared latent)
    d_model: float
    ffn_width: float  #: the widest FFN a token passes through (activation memory)

@type_check_only
class Plan(TypedDict):
    """A deployment's layout and dtypes (``deployment.plan_view``)."""

    tp: float
    pp: float
    ep: float
    weight_bytes: float  #: bytes per weight element
    kv_bytes: float  #: bytes per KV-cache element
    act_bytes: float  #: bytes per activation element
    kv_batch_sharded: bool  #: KV cache split by sequence over tp (else by head)
    overlap: bool  #: collectives overlap compute and memory traffic
    touched_experts: float  #: distinct experts per MoE layer (NaN: the uniform expectation)
    expert_imbalance: float  #: busiest expert-parallel device over the mean (>= 1)
    all_reduce: str  #: the TP all-reduce's algorithm: auto, ring, tree, one-shot, two-shot

@type_check_only
class Chip(TypedDict):
    """One chip's capabilities and efficiencies, SI units (``deployment.chip_view``)."""

    memory: float  #: bytes
    memory_bandwidth: float  #: bytes/s
    peak_flops: float  #: FLOP/s at the deployment's compute dtype
    scale_up_bandwidth: float  #: bytes/s per chip
    scale_up_latency: float  #: s
    scale_up_domain: float  #: chips
    scale_out_bandwidth: float  #: bytes/s per chip (0: none)
    scale_out_latency: float  #: s
    price_per_s: float  #: USD per chip-second (0: unknown)
    eff_flops: float
    eff_memory: float
    eff_network: float
    gemm_m_half: float  #: GEMM rows at half the compute plateau
    kernel_overhead_s: float  #: seconds per launched kernel
    elementwise: bool  #: price elementwise operators' activation traffic

@type_check_only
class TrainingPlanView(TypedDict):
    """A training plan as the core reads it (``training.TrainingPlan.view``)."""

    tp: int
    pp: int
    dp: int
    ep: int
    sequence_parallel: bool
    schedule: str  #: gpipe, 1f1b, interleaved-1f1b, zb-h1
    chunks: int
    microbatch: int  #: sequences
    global_batch: int  #: sequences
    seq_len: int
    recompute: str  #: none, selective, full
    zero: int
    cp: int
    precision: str  #: bf16, fp8
    offload: bool

@type_check_only
class TrainingVocab(TypedDict):
    """The vocabulary and its tables (``training``; 0 when unknown)."""

    vocab: float
    embedding_params: float
    head_params: float  #: untied output head, 0 when tied

@type_check_only
class TrainingHost(TypedDict):
    """A chip's training extras (0 when absent)."""

    fp8_flops: float  #: dense fp8 FLOP/s
    host_bandwidth: float  #: bytes/s per direction

@type_check_only
class TrainingAxes(TypedDict):
    """The axes of a plan search (``training.search_plans``)."""

    tp: list[int]
    pp: list[int]
    ep: list[int]
    microbatch: list[int]
    schedule: list[tuple[str, int]]  #: (schedule, chunks)
    recompute: list[str]
    zero: list[int]
    sequence_parallel: list[bool]
    cp: list[int]
    precision: list[str]
    offload: list[bool]

@type_check_only
class Failures(TypedDict):
    """A failure and checkpoint model, seconds (``training.goodput``)."""

    mtbf: float
    restart: float
    checkpoint_write: float
    interval: float

def collectives_times(
    kind: str,
    bytes: NDArray[np.float64],
    ranks: NDArray[np.uint64],
    latency_s: float,
    bandwidth_bytes_s: float,
    /,
) -> NDArray[np.float64]: ...
def collectives_all_reduce_times(
    bytes: NDArray[np.float64],
    ranks: NDArray[np.uint64],
    latency_s: float,
    bandwidth_bytes_s: float,
    algorithm: str,
    /,
) -> NDArray[np.float64]: ...
def collectives_all_reduce_choices(
    bytes: NDArray[np.float64],
    ranks: NDArray[np.uint64],
    latency_s: float,
    bandwidth_bytes_s: float,
    /,
) -> NDArray[np.uint8]: ...
def collectives_all_reduce_algorithms() -> list[str]: ...
def collectives_hierarchical_all_reduce_times(
    bytes: NDArray[np.float64],
    islands: NDArray[np.uint64],
    per_island: int,
    inner_latency_s: float,
    inner_bandwidth_bytes_s: float,
    outer_latency_s: float,
    outer_bandwidth_bytes_s: float,
    algorithm: str,
    /,
) -> NDArray[np.float64]: ...

@final
class RooflineModel:
    """A model on a plan on a chip, validated once (``roofline_model``)."""

    def step(self, batch: float, context: float, n: float, /) -> list[float]: ...
    def mixed(
        self, sequences: float, tokens: float, attended: float, kv_read: float, /
    ) -> list[float]: ...

def roofline_model(model: ModelCosts, plan: Plan, chip: Chip, /) -> RooflineModel: ...
def roofline_steps(
    model: ModelCosts,
    plan: Plan,
    chip: Chip,
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
    /,
) -> NDArray[np.float64]: ...
def roofline_columns() -> list[str]: ...
def roofline_steps_at_quantile(
    model: ModelCosts,
    plan: Plan,
    chip: Chip,
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    n: NDArray[np.float64],
    q: float,
    seed: int,
    /,
) -> NDArray[np.float64]: ...
def roofline_quantile_plan(
    model: ModelCosts, plan: Plan, tokens: int, q: float, seed: int, /
) -> tuple[float, float]: ...
def roofline_links_available(tp: float, pp: float, ep: float, chip: Chip, /) -> bool: ...
def roofline_crossover_batch(
    peak_flops: float, memory_bandwidth: float, weight_bytes: float, /
) -> float: ...
def roofline_touched_experts(experts: float, top_k: float, tokens: float, /) -> float: ...
def routing_histograms(
    experts: int,
    top_k: int,
    tokens: int,
    trials: int,
    seed: int,
    weights: NDArray[np.float64] | None,
    dirichlet_alpha: float | None,
    capacity: int | None,
    devices: int,
    /,
    progress: Callable[[int], object] | None = None,
) -> tuple[
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
    NDArray[np.uint64],
]: ...
def routing_chunk_trials(tokens: int, top_k: int, /) -> int: ...
def routing_default_trials(tokens: int, top_k: int, /) -> int: ...
def routing_balanced_load(experts: int, top_k: int, tokens: int, /) -> float: ...
def routing_inclusion_probabilities(
    experts: int, top_k: int, weights: NDArray[np.float64] | None, /
) -> NDArray[np.float64]: ...
def routing_load_pmf(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None, /
) -> NDArray[np.float64]: ...
def routing_expected_touched(
    experts: int, top_k: int, tokens: int, weights: NDArray[np.float64] | None, /
) -> float: ...
def routing_expected_drops(
    experts: int, top_k: int, tokens: int, capacity: int, weights: NDArray[np.float64] | None, /
) -> float: ...
def routing_max_load_cdf(
    experts: int,
    top_k: int,
    tokens: int,
    weights: NDArray[np.float64] | None,
    method: str,
    /,
    progress: Callable[[int], object] | None = None,
) -> tuple[str, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]: ...
def routing_mean_from_cdf(cdf: NDArray[np.float64], /) -> float: ...
def routing_histogram_quantile(hist: NDArray[np.uint64], q: float, /) -> int: ...
def speculative_acceptance(
    p: NDArray[np.float32] | NDArray[np.float64],
    q: NDArray[np.float32] | NDArray[np.float64],
    tol: float,
    /,
) -> NDArray[np.float64]: ...
def speculative_acceptance_from_logits(
    target_logits: NDArray[np.float32] | NDArray[np.float64],
    draft_logits: NDArray[np.float32] | NDArray[np.float64],
    temperature: float,
    /,
) -> NDArray[np.float64]: ...
def speculative_lenient(
    p: NDArray[np.float32] | NDArray[np.float64],
    q: NDArray[np.float32] | NDArray[np.float64],
    lam: float,
    tol: float,
    /,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...
def speculative_simulate(
    p: NDArray[np.float64],
    q: NDArray[np.float64],
    gamma: int,
    trials: int,
    seed: int,
    lam: float,
    /,
    progress: Callable[[int], object] | None = None,
) -> tuple[NDArray[np.uint64], NDArray[np.uint64]]: ...
def speculative_tree_expected_tokens(
    parents: NDArray[np.int64], accept_prob: NDArray[np.float64], /
) -> float: ...
def sweep_run(
    model: ModelCosts,
    deployments: list[tuple[Plan, Chip]],
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
    /,
    lo: int = 0,
    hi: int | None = None,
    progress: Callable[[int], Any] | None = None,
) -> tuple[int, int, int, NDArray[np.uint64], NDArray[np.float64]]: ...
def sweep_columns() -> list[str]: ...
def sweep_rows(
    model: ModelCosts,
    deployments: list[tuple[Plan, Chip]],
    batch: NDArray[np.float64],
    context: NDArray[np.float64],
    phase: str,
    new_tokens: float,
    index: NDArray[np.uint64],
    /,
) -> NDArray[np.float64]: ...
def sweep_pareto_reduce(
    values: NDArray[np.float64],
    index: NDArray[np.uint64],
    senses: list[str],
    keep_kind: str,
    k: int,
    /,
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
    /,
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
    /,
) -> NDArray[np.float64]: ...
def pipeline_balance_layers(
    layer_times: NDArray[np.float64], stages: int, head_extra: float, tail_extra: float, /
) -> NDArray[np.uint64]: ...
def training_columns() -> list[str]: ...
def training_step(
    model: ModelCosts,
    heads: float,
    chip: Chip,
    plan: TrainingPlanView,
    /,
    vocab: TrainingVocab | None = None,
    host: TrainingHost | None = None,
) -> NDArray[np.float64]: ...
def training_search(
    model: ModelCosts,
    heads: float,
    chip: Chip,
    gpus: int,
    global_batch: int,
    seq_len: int,
    axes: TrainingAxes,
    require_fits: bool,
    objectives: list[str],
    keep_kind: str,
    k: int,
    /,
    progress: Callable[[int], Any] | None = None,
    vocab: TrainingVocab | None = None,
    host: TrainingHost | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> dict[str, Any]: ...
def training_checkpoint_intervals(
    checkpoint_write: float, mtbf: float, /
) -> tuple[float, float]: ...
def training_expected_wall(failures: Failures, work: float, /) -> float: ...
def training_simulate_failures(
    failures: Failures,
    work: float,
    trials: int,
    seed: int,
    /,
    progress: Callable[[int], Any] | None = None,
) -> NDArray[np.float64]: ...
def serving_arrivals(
    process: str, n: int, rate: float, cv: float, seed: int, /
) -> NDArray[np.float64]: ...
def serving_lengths(
    kind: str, n: int, a: float, b: float, max: int, seed: int, stream: int, /
) -> NDArray[np.uint64]: ...
def serving_kv_blocks(
    model: ModelCosts,
    plan: Plan,
    chip: Chip,
    block_size: int,
    max_batched_tokens: float,
    /,
    draft: ModelCosts | None = None,
) -> int: ...
def serving_iteration_seconds(
    model: ModelCosts,
    plan: Plan,
    chip: Chip,
    sequences: NDArray[np.float64],
    tokens: NDArray[np.float64],
    attended: NDArray[np.float64],
    kv_read: NDArray[np.float64],
    /,
) -> NDArray[np.float64]: ...
def serving_swap_seconds(
    model: ModelCosts, plan: Plan, chip: Chip, host_bandwidth: float, tokens: NDArray[np.uint64], /
) -> NDArray[np.float64]: ...
def serving_kv_transfer_seconds(
    model: ModelCosts, plan: Plan, chip: Chip, tokens: NDArray[np.uint64], /
) -> NDArray[np.float64]: ...
def serving_lengths_empirical(
    values: NDArray[np.uint64], weights: NDArray[np.float64], n: int, seed: int, stream: int, /
) -> NDArray[np.uint64]: ...
def serving_simulate_pool(
    model: ModelCosts,
    plan: Plan,
    chip: Chip,
    input: NDArray[np.uint64],
    output: NDArray[np.uint64],
    arrival: NDArray[np.float64] | None,
    clients: int,
    think: float,
    policy: str,
    max_seqs: int,
    max_batched_tokens: int,
    block_size: int,
    kv_blocks: int,
    timeline: bool,
    prefilled: NDArray[np.bool_] | None,
    replicas: int,
    router: str,
    decode: int,
    /,
    prefix_id: NDArray[np.uint64] | None = None,
    prefix_tokens: NDArray[np.uint64] | None = None,
    prefix_cache: bool = False,
    preemption: str = "recompute",
    host_bandwidth: float = 0.0,
    expected_tokens: NDArray[np.float64] | None = None,
    draft: ModelCosts | None = None,
) -> dict[str, Any]: ...
def serving_search(
    model: ModelCosts,
    candidates: list[tuple[Plan, Chip, int, int, float]],
    input: NDArray[np.uint64],
    output: NDArray[np.uint64],
    arrival: NDArray[np.float64],
    policy: str,
    max_seqs: int,
    max_batched_tokens: int,
    block_size: int,
    kv_blocks: int | None,
    router: str,
    quantile: float,
    slo_ttft: float,
    slo_tpot: float,
    /,
    prefix_id: NDArray[np.uint64] | None = None,
    prefix_tokens: NDArray[np.uint64] | None = None,
    prefix_cache: bool = False,
    preemption: str = "recompute",
    expected_tokens: NDArray[np.float64] | None = None,
    draft: ModelCosts | None = None,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, NDArray[Any]]: ...
