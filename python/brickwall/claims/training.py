"""Claims on the training run: data, compute, GPU-days and cost, parameters per GPU."""

from __future__ import annotations

from .. import training
from ..deployment import Deployment
from ..hardware import hardware
from ..inference import decode
from ..moe import balanced_load
from ..training import TrainingRun
from ..units import GB
from .ledger import Finding, claim, near, verdict
from .seed import SEED_A100_PRICE, SEED_BATCH_TOKENS, SEED_H100_PRICE, SEED_TOKENS, gpt4

_A100_GPUS = 25_000


@claim("data.tokens", section="training", unit="tokens", text="training tokens")
def data_tokens() -> Finding:
    return Finding("~13T", "13T", "assumption", "stated by the article", (), 13e12, 13e12)


@claim(
    "data.per_expert_batch",
    section="training",
    unit="tokens per expert",
    text="a 60M-token batch is only 7.5M tokens per expert",
)
def data_per_expert_batch() -> Finding:
    m = gpt4()
    per_expert = balanced_load(m.experts, m.top_k, int(SEED_BATCH_TOKENS))
    return Finding(
        "7.5M",
        f"{per_expert / 1e6:.2f}M",
        verdict(near(per_expert, 7.5e6, 0.01)),
        "batch x top_k / experts",
        (),
        7.5e6,
        per_expert,
    )


@claim(
    "chinchilla",
    section="training",
    unit="ratio",
    text="13T is far short of Chinchilla-optimal; ~2x the tokens needed",
)
def chinchilla() -> Finding:
    m = gpt4()
    tot, act = training.chinchilla_tokens(m, "total"), training.chinchilla_tokens(m, "active")
    r_tot, r_act = tot / SEED_TOKENS, act / SEED_TOKENS
    return Finding(
        "~2x",
        f"{r_tot:.2f}x (total params), {r_act:.2f}x (active)",
        verdict(near(r_tot, 2.0, 0.25)),
        f"20 tokens/param on the total {m.params.total / 1e12:.2f}T gives {tot / 1e12:.0f}T "
        f"({r_tot:.1f}x); on the active {m.params.active / 1e9:.0f}B only {act / 1e12:.1f}T, "
        f"which 13T already exceeds. ~2x would need ~{2 * SEED_TOKENS / 20 / 1e12:.1f}T parameters",
        ("20 tokens per parameter (Hoffmann et al. 2022)",),
        2.0,
        r_tot,
    )


@claim(
    "par.params_per_gpu",
    section="training",
    unit="bytes per GPU",
    text="~30GB of FP16 parameters per GPU with TP 8 x PP 15",
)
def params_per_gpu() -> Finding:
    e = decode(gpt4(), Deployment(hardware("A100-40GB"), tp=8, pp=15), 1, 0)
    w = e.memory["weights"]
    return Finding(
        "~30 GB",
        f"{w / GB:.1f} GB",
        verdict(near(w, 30e9)),
        "total params x 2 bytes / 120 GPUs",
        ("16-bit weights",),
        30e9,
        w,
    )


def _a100_run(mfu: float) -> TrainingRun:
    """The article's A100 run at one MFU of its 32-36% range."""
    return training.training_run(
        gpt4(), SEED_TOKENS, "A100-40GB", gpus=_A100_GPUS, mfu=mfu, price_per_hour=SEED_A100_PRICE
    )


@claim("train.flops", section="training", unit="FLOP", text="training compute")
def train_flops() -> Finding:
    m = gpt4()
    flops = training.training_flops(m, SEED_TOKENS)
    return Finding(
        "~2.15e25 FLOP",
        f"{flops:.3g} FLOP",
        verdict(near(flops, 2.15e25)),
        f"6 x {m.params.active / 1e9:.0f}B active x 13T; attention adds "
        f"{_a100_run(0.34).attention_flops:.2g} at 8k sequences",
        ("13T tokens",),
        2.15e25,
        flops,
    )


@claim(
    "train.a100", section="training", unit="days", text="~25,000 A100 for 90-100 days at 32-36% MFU"
)
def train_a100() -> Finding:
    lo, hi = _a100_run(0.36).days, _a100_run(0.32).days
    consistent_days = lo <= 100 * 1.1 and hi >= 90 * 0.9
    return Finding(
        "90-100 days",
        f"{lo:.0f}-{hi:.0f} days",
        verdict(consistent_days),
        "days = 6ND / (GPUs x 312 TFLOP/s x MFU)",
        ("A100 bf16 dense peak",),
        95.0,
        _a100_run(0.34).days,
    )


@claim("train.cost.a100", section="training", unit="USD", text="~$63M at $1 per A100-hour")
def train_cost_a100() -> Finding:
    mid = _a100_run(0.34)
    assert mid.cost is not None
    days = 63e6 / (_A100_GPUS * 24 * SEED_A100_PRICE)
    implied = training.training_run(gpt4(), SEED_TOKENS, "A100-40GB", gpus=_A100_GPUS, days=days)
    return Finding(
        "$63M",
        f"${mid.cost / 1e6:.1f}M at 34% MFU",
        verdict(near(mid.cost, 63e6)),
        f"$63M buys {63e6 / 25_000 / 24:.0f} days of 25,000 GPUs: MFU {implied.mfu:.1%}",
        ("$1/GPU-hour",),
        63e6,
        mid.cost,
        {"implied_mfu": implied.mfu},
    )


@claim(
    "train.h100",
    section="training",
    unit="USD",
    text="~8,192 H100 for ~55 days, ~$21.5M at $2/hour",
)
def train_h100() -> Finding:
    m = gpt4()
    h100 = training.training_run(
        m, SEED_TOKENS, "H100-SXM", gpus=8192, days=55, price_per_hour=SEED_H100_PRICE
    )
    h100_fp8 = training.training_run(m, SEED_TOKENS, "H100-SXM", gpus=8192, days=55, dtype="fp8")
    assert h100.cost is not None
    return Finding(
        "55 days, $21.5M",
        f"${h100.cost / 1e6:.1f}M; needs MFU {h100.mfu:.0%} (bf16) / {h100_fp8.mfu:.0%} (FP8)",
        verdict(near(h100.cost, 21.5e6) and h100.mfu <= 0.6),
        "the cost is GPU-hours x $2; 55 days needs a bf16 MFU well above the A100 run's 34%, "
        "plausible only with FP8",
        ("$2/GPU-hour",),
        21.5e6,
        h100.cost,
        {"mfu_bf16": h100.mfu, "mfu_fp8": h100_fp8.mfu},
    )
