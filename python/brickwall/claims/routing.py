"""Claims on MoE routing: how many tokens each expert sees at large and small batch."""

from __future__ import annotations

from .. import moe
from .ledger import Finding, claim, near, verdict
from .seed import gpt4


@claim(
    "moe.expert_batch.4k",
    section="routing",
    unit="tokens per expert",
    text="at batch 4k+, even with perfect balance, experts see ~500 tokens",
)
def expert_batch_4k() -> Finding:
    m = gpt4()
    big = moe.expert_batch_stats(m.experts, m.top_k, 4096)
    balanced = big["balanced"]
    return Finding(
        "~500",
        f"{balanced:.0f} balanced; Monte Carlo p99 {big['load_p99']}, busiest expert mean "
        f"{big['max_load_mean']:.0f} (p99 {big['max_load_p99']}, max seen {big['max_load_max']})",
        verdict(near(balanced, 500)),
        "4096 x 2 / 16 = 512; random top-2 routing puts the busiest of 16 experts ~8% above the "
        "mean",
        (
            f"uniform top-{m.top_k} of {m.experts}",
            f"{big['trials']:,} Monte Carlo trials, seed {big['seed']}",
        ),
        500.0,
        balanced,
        {"p99": float(big["load_p99"]), "max_load_mean": big["max_load_mean"]},
    )


@claim(
    "moe.expert_batch.8",
    section="routing",
    unit="probability (an expert idle)",
    text="at batch 8 an expert may see 1 token while others see 8, 4 or 0",
)
def expert_batch_8() -> Finding:
    m = gpt4()
    small = moe.expert_batch_table(m.experts, m.top_k, 8)
    rows = {r["tokens"]: r for r in small["rows"]}
    p4 = small["p_some_expert_gets_at_least_4"]
    return Finding(
        "distribution",
        f"P(expert idle) {rows[0]['p_expert_exact']:.3f}, P(1) {rows[1]['p_expert_exact']:.3f}, "
        f"P(>=4 at some expert) {p4:.3f}, P(busiest gets 8) {rows[8]['p_max_exact']:.1e}; "
        f"experts touched {small['mean_touched_exact']:.2f} of 16",
        "consistent",
        "0, 1, 4 and 8 are all possible loads; 8 on one expert is a one-in-a-million event "
        "(exact column DP, Monte Carlo agrees)",
        (f"uniform top-{m.top_k} of {m.experts}, {small['trials']:,} trials",),
        None,
        rows[0]["p_expert_exact"],
        {f"p_expert_{c}": r["p_expert_exact"] for c, r in rows.items()},
    )
