"""Claims on serving hardware and memory: FLOP/byte ratios, KV caches, the 128-GPU layout."""

from __future__ import annotations

from ..deployment import Deployment
from ..hardware import hardware
from ..inference import decode
from ..model import model
from ..units import GB
from .ledger import Finding, claim, near, verdict
from .seed import dense, gpt4


@claim(
    "ratio.h100",
    section="serving",
    unit="FLOP/byte",
    text="H100: ~3 TB/s, ~2,000 TFLOP/s FP8: ratio ~667 FLOP/byte",
)
def ratio_h100() -> Finding:
    h = hardware("H100-SXM")
    r = h.flops("fp8") / h.memory_bandwidth
    return Finding(
        "~667 FLOP/byte",
        f"{r:.0f} FLOP/byte",
        verdict(near(r, 667)),
        f"catalog: {h.flops('fp8') / 1e12:,.0f} TFLOP/s dense FP8 over "
        f"{h.memory_bandwidth / 1e12} TB/s; the article rounds the bandwidth down to 3 TB/s",
        ("dense (not sparse) FP8 peak",),
        667.0,
        r,
    )


@claim(
    "intensity.b256",
    section="serving",
    unit="FLOP/byte",
    text="batch 256 / 512 gives 512 / 1024 FLOP per byte read",
)
def intensity_b256() -> Finding:
    m = dense(1e12)
    vals = [b * m.flops_per_token(0) / m.weight_bytes("fp8") for b in (256, 512)]
    ok = near(vals[0], 512) and near(vals[1], 1024)
    return Finding(
        "512, 1024",
        f"{vals[0]:.0f}, {vals[1]:.0f}",
        verdict(ok),
        "2 x batch FLOP per parameter, 1 byte per parameter (FP8)",
        ("weights only (no KV reads)",),
        512.0,
        vals[0],
    )


@claim(
    "kv.500b",
    section="serving",
    unit="bytes",
    text="a 500B+ MHA model at batch 512, context 2048 has a 3TB KV cache, 3x its parameters",
)
def kv_500b() -> Finding:
    palm = model("palm-540b")
    mha = palm.with_(kv_heads=palm.heads, attention="mha", name="palm-540b-mha")
    d_h = palm.d_model // palm.heads
    d_over_h = mha.with_(head_dim=d_h, v_head_dim=d_h, name="palm-540b-mha-d/h")
    kv16 = mha.kv_cache_bytes(512, 2048, "bf16")
    kv8 = mha.kv_cache_bytes(512, 2048, "fp8")
    wide = d_over_h.kv_cache_bytes(512, 2048, "bf16")
    mqa = palm.kv_cache_bytes(512, 2048, "bf16")
    ratio = kv16 / palm.weight_bytes("bf16")
    return Finding(
        "3 TB",
        f"{kv16 / 1e12:.2f} TB at 16-bit ({ratio:.1f}x the 16-bit weights)",
        verdict(near(kv16, 3e12)),
        f"PaLM-540B's shape made MHA: 2 x 118 layers x 48 heads x 256 x 2048 x 512 x 2 B. 3 TB "
        f"matches 8-bit KV ({kv8 / 1e12:.2f} TB); head_dim = d/H gives {wide / 1e12:.1f} TB; "
        f"PaLM's real MQA cache is {mqa / 1e9:.0f} GB",
        ("PaLM-540B shapes, all 48 heads cached",),
        3e12,
        kv16,
        {"fp8": kv8, "d_over_h": wide, "mqa": mqa},
    )


def _inference_cluster() -> Deployment:
    """The article's inference cluster: 128 A100 as TP 8 x PP 16."""
    return Deployment(hardware("A100-40GB"), tp=8, pp=16)


@claim(
    "infer.cluster", section="serving", unit="GPUs", text="inference runs on 128 GPUs: TP 8 x PP 16"
)
def infer_cluster() -> Finding:
    chips = _inference_cluster().chips
    return Finding("128", f"{chips}", "assumption", "stated by the article", (), 128, chips)


@claim(
    "infer.params_per_node",
    section="serving",
    unit="parameters per node",
    text="~130B params per 8-GPU node; < 30GB per GPU at FP16, < 15GB at FP8",
)
def infer_params_per_node() -> Finding:
    m = gpt4()
    d16 = _inference_cluster()
    w16 = decode(m, d16, 1, 0).memory["weights"]
    w8 = decode(m, d16.with_(weight_dtype="fp8"), 1, 0).memory["weights"]
    per_node = m.params.total / 15, m.params.total / 16
    ok = w16 < 30e9 and w8 < 15e9 and near(per_node[0], 130e9)
    return Finding(
        "130B, 30GB, 15GB",
        f"{per_node[0] / 1e9:.0f}B (15 stages) / {per_node[1] / 1e9:.0f}B (16); "
        f"{w16 / GB:.1f} GB, {w8 / GB:.1f} GB per GPU",
        verdict(ok),
        "the head stage is lighter: 120 layers over 15 full stages",
        (),
        130e9,
        per_node[0],
    )
