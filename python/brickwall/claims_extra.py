"""Claims answered by the routing, speculative-decoding and pipeline kernels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import moe, pipeline, speculative

if TYPE_CHECKING:
    from .claims import Claim


def moe_rows() -> list[Claim]:
    from .claims import Claim, gpt4

    m = gpt4()
    big = moe.expert_batch_stats(m.experts, m.top_k, 4096)
    balanced = big["balanced"]
    ok4k = abs(balanced / 500 - 1) <= 0.10
    small = moe.expert_batch_table(m.experts, m.top_k, 8)
    rows = {r["tokens"]: r for r in small["rows"]}
    p4 = small["p_some_expert_gets_at_least_4"]
    return [
        Claim(
            "moe.expert_batch.4k",
            "at batch 4k+, even with perfect balance, experts see ~500 tokens",
            "~500",
            f"{balanced:.0f} balanced; Monte Carlo p99 {big['load_p99']}, busiest expert mean {big['max_load_mean']:.0f} "
            f"(p99 {big['max_load_p99']}, max seen {big['max_load_max']})",
            "consistent" if ok4k else "inconsistent",
            "4096 x 2 / 16 = 512; random top-2 routing puts the busiest of 16 experts ~8% above the mean",
            (
                f"uniform top-{m.top_k} of {m.experts}",
                f"{big['trials']:,} Monte Carlo trials, seed {big['seed']}",
            ),
            500.0,
            balanced,
            {"p99": float(big["load_p99"]), "max_load_mean": big["max_load_mean"]},
        ),
        Claim(
            "moe.expert_batch.8",
            "at batch 8 an expert may see 1 token while others see 8, 4 or 0",
            "distribution",
            f"P(expert idle) {rows[0]['p_expert_exact']:.3f}, P(1) {rows[1]['p_expert_exact']:.3f}, "
            f"P(>=4 at some expert) {p4:.3f}, P(busiest gets 8) {rows[8]['p_max_exact']:.1e}; "
            f"experts touched {small['mean_touched_exact']:.2f} of 16",
            "consistent",
            "0, 1, 4 and 8 are all possible loads; 8 on one expert is a one-in-a-million event (exact column DP, "
            "Monte Carlo agrees)",
            (f"uniform top-{m.top_k} of {m.experts}, {small['trials']:,} trials",),
            None,
            rows[0]["p_expert_exact"],
            {f"p_expert_{c}": r["p_expert_exact"] for c, r in rows.items()},
        ),
    ]


def spec_row() -> Claim:
    from .claims import Claim

    c = speculative.claim_spec_tokens()
    g, sp = c["best_gamma_by_batch_alpha_0.8"], c["best_speedup_by_batch_alpha_0.8"]
    by_batch = ", ".join(f"B={b}: {g[b]} ({sp[b]:.2f}x)" for b in g)
    return Claim(
        "spec.tokens",
        "speculative decoding likely used for ~4 tokens",
        c["article"],
        f"closed form {c['computed']}; roofline at alpha 0.8: {by_batch}",
        c["verdict"],
        c["note"]
        + " With the full roofline, verifying gamma + 1 tokens of a MoE target at small batch routes them "
        "to more experts, so verification is not free and the best draft length collapses to 1 (a few percent gain); once the "
        "batch touches every expert anyway, verification is free again and longer drafts pay",
        ("plausible acceptance 0.6-0.9", "draft llama3.1-8b on one 8-GPU node", "context 8192"),
        4.0,
        float(c["optimal_gamma_at_deployment"]["0.8"]),
        {"cost_ratio": c["cost_ratio"]},
    )


def pipeline_rows() -> list[Claim]:
    from .claims import Claim

    b = pipeline.seed_training_bubbles()
    f = b["bubble_fraction"]
    heads = pipeline.seed_head_balance()
    h15, h16 = heads[15], heads[16]
    return [
        Claim(
            "pipeline.bubble",
            "15-way pipelines should leave huge bubbles at GPT-4's batch (the article cannot explain how "
            "they avoid them)",
            "huge bubbles",
            f"1F1B {f['1f1b']:.1%}, ZB-H1 {f['zb-h1']:.1%}, interleaved x4 {f['interleaved-1f1b v=4 m=30']:.1%}-"
            f"{f['interleaved-1f1b v=4 m=45']:.1%} of device time idle",
            "consistent",
            f"{b['sequences_per_step']:,} sequences of 8k per 60M-token step over {b['data_parallel_replicas']} TP8 x PP15 "
            f"replicas leave {b['microbatches']} one-sequence microbatches per pipeline: plain 1F1B idles (p-1)/(m+p-1) = "
            f"{b['closed_form_1f1b']:.1%}; interleaving or zero-bubble schedules cut it to ~7-12%",
            ("one sequence per microbatch", "backward = 2x forward, weight-grad half of it for ZB"),
            None,
            f["1f1b"],
            {k: float(v) for k, v in f.items()},
        ),
        Claim(
            "pipeline.head",
            "a lighter head stage (embedding, data loading): 120 layers on 15/16 stages",
            "fewer layers on the head",
            f"15 stages: {h15.layers.min()}-{h15.layers.max()} layers (head {h15.layers[0]}); "
            f"16 stages: head {h16.layers[0]}, others {h16.layers[1:].min()}-{h16.layers[1:].max()}",
            "consistent" if h16.layers[0] <= h16.layers[1:].min() else "inconsistent",
            f"the contiguous split minimising the slowest stage, with the head's extra work worth one layer: bottleneck "
            f"{h15.bottleneck:g} / {h16.bottleneck:g} layer-times, imbalance {h15.imbalance:.3f} / {h16.imbalance:.3f}",
            ("head extra work = one layer",),
            None,
            float(h16.layers[0]),
        ),
    ]
