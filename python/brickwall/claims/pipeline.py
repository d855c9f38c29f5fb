"""brickwall's own pipeline claims (not numbers of the article): the bubbles the article's 15-way
training pipeline should leave, and its lighter head stage."""

from __future__ import annotations

from typing import Any

from ..errors import invalid
from ..pipeline import BACKWARD_PER_FORWARD, Balance, balance_layers, bubble_fraction, simulate
from ..validate import integer, real
from .ledger import Finding, claim


def seed_training_bubbles(
    batch_tokens: float = 60e6,
    sequence_length: int = 8192,
    gpus: int = 25_000,
    tensor_parallel: int = 8,
    pipeline_parallel: int = 15,
    microbatch_sequences: int = 1,
    forward: float = 1.0,
    backward: float | None = None,
) -> dict[str, Any]:
    """The seed's training setup (60M-token batches of 8k sequences on 25,000 A100 with TP 8 x
    PP 15): microbatches per pipeline per step and the bubble of each schedule.

    Data-parallel replicas = floor(gpus / (TP x PP)); sequences per replica per step =
    floor(batch / seq / replicas); microbatches = that / microbatch_sequences. The bubbles come
    from :func:`~brickwall.pipeline.simulate` with uniform stages (backward =
    :data:`~brickwall.pipeline.BACKWARD_PER_FORWARD` x forward unless given; zero-bubble
    schedules split it evenly into B and W). Interleaved needs m a multiple of p,
    so it is reported at the nearest multiple below (and above).
    """
    p = integer("pipeline_parallel", pipeline_parallel)
    tp = integer("tensor_parallel", tensor_parallel)
    replicas = integer("gpus", gpus) // (tp * p)
    if replicas < 1:
        raise invalid("gpus", gpus, f">= tensor_parallel x pipeline_parallel = {tp * p}")
    sequences = int(
        real("batch_tokens", batch_tokens, strict=True)
        // integer("sequence_length", sequence_length)
    )
    per_replica = sequences // replicas
    m = per_replica // integer("microbatch_sequences", microbatch_sequences)
    if m < 1:
        raise invalid(
            "microbatch_sequences", microbatch_sequences, f"<= {per_replica} sequences per replica"
        )
    if backward is None:
        backward = BACKWARD_PER_FORWARD * forward
    half = backward / 2
    rows: dict[str, float] = {}
    rows["gpipe"] = simulate("gpipe", p, m, forward, backward).bubble_fraction
    rows["1f1b"] = simulate("1f1b", p, m, forward, backward).bubble_fraction
    rows["zb-h1"] = simulate("zb-h1", p, m, forward, half, half).bubble_fraction
    rows["zb-h2"] = simulate("zb-h2", p, m, forward, half, half).bubble_fraction
    for v in (2, 4):
        for mm in sorted({max(p, (m // p) * p), -(-m // p) * p}):
            rows[f"interleaved-1f1b v={v} m={mm}"] = simulate(
                "interleaved-1f1b", p, mm, forward, backward, chunks=v
            ).bubble_fraction
    return {
        "data_parallel_replicas": replicas,
        "sequences_per_step": sequences,
        "sequences_per_replica": per_replica,
        "microbatches": m,
        "stages": p,
        "bubble_fraction": rows,
        "closed_form_1f1b": bubble_fraction("1f1b", p, m, forward=forward, backward=backward),
    }


def seed_head_balance(
    layers: int = 120, stages: tuple[int, ...] = (15, 16), head_extra: float = 1.0
) -> dict[int, Balance]:
    """The seed's "fewer layers on the head node": 120 equal layers over 15 or 16 stages, the
    head also paying ``head_extra`` layer-equivalents (embedding, data loading)."""
    return {int(p): balance_layers(layers, p, head_extra=head_extra) for p in stages}


@claim(
    "pipeline.bubble",
    section="pipeline",
    unit="fraction of device time (1F1B)",
    seed=False,
    text="15-way pipelines should leave huge bubbles at GPT-4's batch (the article cannot "
    "explain how they avoid them)",
)
def bubble() -> Finding:
    b = seed_training_bubbles()
    f = b["bubble_fraction"]
    return Finding(
        "huge bubbles",
        f"1F1B {f['1f1b']:.1%}, ZB-H1 {f['zb-h1']:.1%}, interleaved x4 "
        f"{f['interleaved-1f1b v=4 m=30']:.1%}-{f['interleaved-1f1b v=4 m=45']:.1%} of device "
        "time idle",
        "consistent",
        f"{b['sequences_per_step']:,} sequences of 8k per 60M-token step over "
        f"{b['data_parallel_replicas']} TP8 x PP15 replicas leave {b['microbatches']} "
        f"one-sequence microbatches per pipeline: plain 1F1B idles (p-1)/(m+p-1) = "
        f"{b['closed_form_1f1b']:.1%}; interleaving or zero-bubble schedules cut it to ~7-12%",
        ("one sequence per microbatch", "backward = 2x forward, weight-grad half of it for ZB"),
        None,
        f["1f1b"],
        {k: float(v) for k, v in f.items()},
    )


@claim(
    "pipeline.head",
    section="pipeline",
    unit="layers on the head stage (16 stages)",
    seed=False,
    text="a lighter head stage (embedding, data loading): 120 layers on 15/16 stages",
)
def head() -> Finding:
    heads = seed_head_balance()
    h15, h16 = heads[15], heads[16]
    return Finding(
        "fewer layers on the head",
        f"15 stages: {h15.layers.min()}-{h15.layers.max()} layers (head {h15.layers[0]}); "
        f"16 stages: head {h16.layers[0]}, others {h16.layers[1:].min()}-{h16.layers[1:].max()}",
        "consistent" if h16.layers[0] <= h16.layers[1:].min() else "inconsistent",
        f"the contiguous split minimising the slowest stage, with the head's extra work worth one "
        f"layer: bottleneck {h15.bottleneck:g} / {h16.bottleneck:g} layer-times, imbalance "
        f"{h15.imbalance:.3f} / {h16.imbalance:.3f}",
        ("head extra work = one layer",),
        None,
        float(h16.layers[0]),
    )


__all__ = ["seed_head_balance", "seed_training_bubbles"]
