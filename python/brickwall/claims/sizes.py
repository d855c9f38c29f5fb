"""Claims on model sizes and FLOPs per token: GPT-4's shape, a dense equivalent, GPT-3."""

from __future__ import annotations

from ..model import model
from .ledger import Finding, claim, near, verdict
from .seed import dense, gpt4

_SHAPE = "shape: {} (NVIDIA GPT-MoE-1.8T config)"


@claim("gpt4.total", section="sizes", unit="parameters", text="GPT-4 total parameters")
def gpt4_total() -> Finding:
    m = gpt4()
    p = m.params
    per_expert = m.expert_params_per_layer * m.moe_layers
    seed_sum = 16 * 111e9 + 55e9
    return Finding(
        "~1.8T",
        f"{p.total / 1e12:.3f}T",
        verdict(near(p.total, 1.8e12)),
        f"the article's own sum 16 x 111B + 55B = {seed_sum / 1e12:.3f}T; per expert "
        f"{per_expert / 1e9:.1f}B, attention {p.attention / 1e9:.1f}B",
        (_SHAPE.format(m.name),),
        1.8e12,
        float(p.total),
    )


@claim(
    "gpt4.active", section="sizes", unit="parameters", text="parameters used per generated token"
)
def gpt4_active() -> Finding:
    m = gpt4()
    p = m.params
    return Finding(
        "~280B",
        f"{p.active / 1e9:.1f}B",
        verdict(near(p.active, 280e9)),
        "top-2 experts + attention + embeddings",
        (_SHAPE.format(m.name),),
        280e9,
        float(p.active),
    )


@claim(
    "gpt4.flops", section="sizes", unit="FLOP per token", text="FLOPs per forward pass (one token)"
)
def gpt4_flops() -> Finding:
    m = gpt4()
    f0, f8 = m.flops_per_token(0), m.flops_per_token(8192)
    return Finding(
        "~560 TFLOP",
        f"{f0 / 1e9:.0f} GFLOP ({f8 / 1e9:.0f} at 8k context)",
        "inconsistent",
        f"2 x 280B = 560 GFLOP: the article's unit is off by 1000x ({f0 / 1e12:.2f} TFLOP)",
        (),
        560e12,
        f0,
    )


@claim(
    "gpt4.dense.flops",
    section="sizes",
    unit="FLOP per token",
    text="FLOPs per token of a dense 1.8T model",
)
def gpt4_dense_flops() -> Finding:
    m = gpt4()
    d = dense(m.params.total)
    fd = 2 * m.params.total
    return Finding(
        "~3,700 TFLOP",
        f"{fd / 1e12:.2f} TFLOP",
        "inconsistent",
        f"2 x {m.params.total / 1e12:.2f}T = {fd / 1e12:.2f} TFLOP: again GFLOP-scale numbers "
        "labelled TFLOP (x1000)",
        (f"dense model of equal size ({d.name} gives {d.flops_per_token(0) / 1e12:.2f} TFLOP)",),
        3700e12,
        fd,
    )


@claim("gpt3.total", section="sizes", unit="parameters", text="GPT-3 parameters")
def gpt3_total() -> Finding:
    g3 = model("gpt3-175b")
    return Finding(
        "~175B",
        f"{g3.params.total / 1e9:.1f}B",
        verdict(near(g3.params.total, 175e9)),
        "96 layers, d_model 12,288",
        (),
        175e9,
        float(g3.params.total),
    )


@claim("gpt4.vs.gpt3", section="sizes", unit="ratio", text="GPT-4 is more than 10x GPT-3")
def gpt4_vs_gpt3() -> Finding:
    ratio = gpt4().params.total / model("gpt3-175b").params.total
    return Finding("> 10x", f"{ratio:.1f}x", verdict(ratio > 10), "", (), 10.0, ratio)
