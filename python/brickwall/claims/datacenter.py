"""Claims on the data centre's IO: data loading for vision tokens, network segments."""

from __future__ import annotations

from .. import collectives, training
from ..units import GB
from .ledger import Finding, claim, near, verdict
from .seed import SEED_BATCH_TOKENS, gpt4


@claim(
    "vision.io",
    section="datacenter",
    unit="ratio",
    text="vision tokens cost ~150x the data-loading IO: 600 vs 4 bytes per token",
)
def vision_io() -> Finding:
    r = 600 / 4
    return Finding("150x", f"{r:.0f}x", verdict(near(r, 150, 0.01)), "", (), 150, r)


@claim(
    "net.segments",
    section="datacenter",
    unit="s per all-reduce",
    text="800G/1.6T within cluster segments, 200G/400G between them",
)
def net_segments() -> Finding:
    m = gpt4()
    shard = m.params.total * 2 / (8 * 15)  # 16-bit gradients of one TP x PP rank
    dp = 25_000 // (8 * 15)
    per_segment = 8
    islands = dp // per_segment
    inner, outer = 1.6e12 / 8 / 8, 400e9 / 8 / 8  # per GPU: a node's NICs shared by its 8 GPUs
    hier = collectives.hierarchical_all_reduce_time(
        shard, islands, per_island=per_segment, inner_bandwidth=inner, outer_bandwidth=outer
    )
    flat = collectives.collective_time("all-reduce", shard, per_segment * islands, bandwidth=outer)
    step = training.training_run(m, SEED_BATCH_TOKENS, "A100-40GB", gpus=25_000, mfu=0.34).seconds
    return Finding(
        "(bandwidths)",
        f"{hier:.1f} s per gradient all-reduce ({flat:.1f} s flat at 400G)",
        "assumption",
        f"per data-parallel rank: {shard / GB:.0f} GB of 16-bit gradients over {dp} ranks; a "
        f"60M-token step computes for {step:.0f} s",
        (
            f"{per_segment} data-parallel ranks per segment",
            "1.6 Tb/s inside, 400 Gb/s between, per 8-GPU node",
        ),
        None,
        hier,
        {"flat": flat, "step_compute_s": step},
    )
