"""Claims on reading speed and what batch-1 decode on one 8x H100 node can reach."""

from __future__ import annotations

from .. import inference
from ..deployment import Deployment
from ..hardware import Efficiency, hardware
from .ledger import Finding, claim, near, verdict
from .seed import TOKENS_PER_WORD, dense


def _reading(wpm: float, article: float) -> Finding:
    v = wpm / 60 * TOKENS_PER_WORD
    return Finding(
        f"{article} tok/s",
        f"{v:.2f} tok/s",
        verdict(near(v, article, 0.01)),
        assumptions=(f"{TOKENS_PER_WORD:g} tokens per word",),
        article_value=article,
        computed_value=v,
    )


@claim(
    "read.slow",
    section="speed",
    unit="tokens/s",
    text="tokens/s to keep up with a 250 words/min reader",
)
def read_slow() -> Finding:
    return _reading(250, 8.33)


@claim(
    "read.fast",
    section="speed",
    unit="tokens/s",
    text="tokens/s to keep up with a 1000 words/min reader",
)
def read_fast() -> Finding:
    return _reading(1000, 33.33)


@claim(
    "dense1t.8xh100",
    section="speed",
    unit="tokens/s",
    text="8x H100 cannot serve a 1T dense model at 33.33 tok/s at batch 1",
)
def dense1t_8xh100() -> Finding:
    d16 = Deployment(hardware("H100-SXM"), tp=8, efficiency=Efficiency.ideal())
    speeds = {
        dt: inference.speed_for_params(d16.with_(weight_dtype=dt), 1e12, overhead=1.0)
        for dt in ("bf16", "fp8")
    }
    ok = max(speeds.values()) < 33.33
    return Finding(
        "max < 33.33 tok/s",
        f"{speeds['bf16']:.1f} tok/s (16-bit), {speeds['fp8']:.1f} tok/s (FP8)",
        verdict(ok),
        "" if ok else "the roofline allows more than 33.33 tok/s",
        ("peak HBM bandwidth", "other traffic equal to the weight reads (the article's overhead)"),
        33.33,
        speeds["fp8"],
    )


@claim(
    "dense1t.mfu",
    section="speed",
    unit="fraction of peak FLOP/s",
    text="at 20 tok/s an 8x H100 serving 1T dense uses < 5% of its FLOPS",
)
def dense1t_mfu() -> Finding:
    h = hardware("H100-SXM")
    m = dense(1e12)
    mfu = m.flops_per_token(0) * 20.0 / (8 * h.flops("bf16"))
    return Finding(
        "< 5%",
        f"{mfu:.2%} (bf16 peak)",
        verdict(mfu < 0.05),
        assumptions=("batch 1", f"{m.name}: {m.params.total / 1e12:.2f}T params"),
        article_value=0.05,
        computed_value=mfu,
    )


@claim(
    "ff.limit",
    section="speed",
    unit="parameters",
    text="~300B feed-forward params is the limit for 8-way TP H100 at 33.33 tok/s",
)
def ff_limit() -> Finding:
    base = Deployment(hardware("H100-SXM"), tp=8, weight_dtype="fp8", efficiency=Efficiency.ideal())
    ideal = inference.max_params_for_speed(base, 33.33, overhead=1.0)
    typical = inference.max_params_for_speed(
        base.with_(efficiency=Efficiency()), 33.33, overhead=1.0
    )
    bf16 = inference.max_params_for_speed(base.with_(weight_dtype="bf16"), 33.33)
    need = 300e9 / ideal  # bandwidth fraction that gives the article's figure
    ok = near(ideal, 300e9)
    why = (
        ""
        if ok
        else (
            f"~300B needs {need:.0%} of peak bandwidth (FP8 + overhead) or 16-bit weights without "
            f"overhead at {300e9 / bf16:.0%}; at the default {Efficiency().memory:.0%} it is "
            f"{typical / 1e9:.0f}B"
        )
    )
    return Finding(
        "~300B",
        f"{ideal / 1e9:.0f}B (FP8, overhead = weight reads, peak bandwidth)",
        verdict(ok),
        why,
        ("batch 1", "8x H100 SXM, 3.35 TB/s each"),
        300e9,
        ideal,
        {"fp8_overhead_default_efficiency": typical, "bf16_no_overhead_peak": bf16},
    )
