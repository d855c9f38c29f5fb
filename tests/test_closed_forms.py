"""Closed forms checked against values worked out by hand (never through
python/brickwall/reference/): exact parameter counts, the roofline's step (kipply's 2P/BW, the
crossover batch, KV bytes per chip under tp, overlap), pipeline bubbles with a weight-gradient
time, and the f32 acceptance kernel over vocabularies of several blocks."""

import brickwall as bw
import numpy as np
import pytest
from brickwall import pipeline
from brickwall.hardware import Efficiency
from brickwall.inference import crossover_batch, decode
from brickwall.speculative import acceptance, acceptance_from_logits

# -- exact parameter counts ---------------------------------------------------------------------


def _llama(
    layers: int, d: int, heads: int, kv: int, ff: int, vocab: int, qkv_bias: bool = False
) -> int:
    """A Llama-style decoder: q/o d x d, k/v d x kv x 128, SwiGLU (3 matrices), two RMSNorms per
    layer and a final one, untied embedding and head."""
    attn = 2 * d * heads * 128 + 2 * d * kv * 128 + qkv_bias * (heads + 2 * kv) * 128
    return layers * (attn + 3 * d * ff + 2 * d) + d + 2 * vocab * d


def _mixtral(layers: int, d: int, kv: int, ff: int, vocab: int, experts: int = 8) -> int:
    attn = 2 * d * d + 2 * d * kv * 128
    return layers * (attn + experts * 3 * d * ff + d * experts + 2 * d) + d + 2 * vocab * d


# Published exact counts (the Hugging Face checkpoints' parameter totals), each also worked out
# from the config by hand.
PUBLISHED = {
    "llama2-7b": (6_738_415_616, _llama(32, 4096, 32, 32, 11008, 32000)),
    "llama2-13b": (13_015_864_320, _llama(40, 5120, 40, 40, 13824, 32000)),
    "llama2-70b": (68_976_648_192, _llama(80, 8192, 64, 8, 28672, 32000)),
    "llama3.1-8b": (8_030_261_248, _llama(32, 4096, 32, 8, 14336, 128256)),
    "llama3.1-70b": (70_553_706_496, _llama(80, 8192, 64, 8, 28672, 128256)),
    "llama3.1-405b": (405_853_388_800, _llama(126, 16384, 128, 8, 53248, 128256)),
    "mixtral-8x7b": (46_702_792_704, _mixtral(32, 4096, 8, 14336, 32000)),
    "mixtral-8x22b": (140_620_634_112, _mixtral(56, 6144, 8, 16384, 32000)),
    "qwen2.5-72b": (72_706_203_648, _llama(80, 8192, 64, 8, 29568, 152064, qkv_bias=True)),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_exact_parameter_counts(name: str) -> None:
    published, by_hand = PUBLISHED[name]
    assert by_hand == published
    total = bw.model(name).params.total
    assert isinstance(total, int) and total == published


def test_mixtral_active_is_two_of_eight_experts() -> None:
    m = bw.model("mixtral-8x7b")
    assert m.params.active == 46_702_792_704 - 32 * 6 * 3 * 4096 * 14336


def test_deepseek_v3_count_by_hand() -> None:
    # config_671B.json without the MTP module: MLA (q LoRA 1536, KV latent 512 + rope key 64,
    # 128 heads of 128 + 64 rope, v 128), 3 dense layers of d_ff 18432, 58 MoE layers of 256
    # routed + 1 shared expert (d_ff 2048) and a 256-way router, two norms per layer + final,
    # untied embedding and head (the router's score-correction bias is not counted)
    d, h, layers = 7168, 128, 61
    attn = d * 1536 + 1536 + 1536 * h * (128 + 64)  # q down, q norm, q up
    attn += d * (512 + 64) + 512 + 512 * h * (128 + 128)  # kv down (+ rope key), kv norm, kv up
    attn += h * 128 * d  # o
    moe = 256 * 3 * d * 2048 + 3 * d * 2048 + d * 256
    total = layers * attn + 3 * 3 * d * 18432 + 58 * moe + (2 * layers + 1) * d + 2 * 129280 * d
    m = bw.model("deepseek-v3")
    assert m.params.total == total == 671_026_404_352
    assert m.params.active == total - 58 * (256 - 8) * 3 * d * 2048


# -- the roofline, by hand ----------------------------------------------------------------------

H100_BW, H100_BF16, NVLINK, ALPHA = 3.35e12, 989.4e12, 450e9, 1e-6
# constant fractions of peak, no shape terms or floors: the closed forms below are rooflines
EFF = Efficiency.flat(flops=0.5, memory=0.8, network=0.6)


def _h100(**kw) -> bw.Deployment:
    return bw.Deployment(bw.hardware("H100-SXM"), **kw)


def test_kipply_batch_one_step_is_weights_over_bandwidth() -> None:
    # batch 1, tp 1: the step reads every weight once (2P bytes at 16 bits) and the one new
    # token's KV; compute 2P FLOP is ~300x shorter
    m = bw.model("llama2-7b")
    kv_token = 2 * 32 * 32 * 128 * 2  # K and V, 32 layers x 32 heads x 128, 2 bytes
    for eff, bw_eff in ((Efficiency.ideal(), H100_BW), (EFF, H100_BW * 0.8)):
        e = decode(m, _h100(efficiency=eff), 1, 0)
        assert e.breakdown["weights"] == pytest.approx(2 * 6_738_415_616 / bw_eff, rel=1e-12)
        assert e.breakdown["kv_cache"] == pytest.approx(kv_token / bw_eff, rel=1e-12)
        assert e.breakdown["communication"] == 0.0
        assert e.step_time == pytest.approx((2 * 6_738_415_616 + kv_token) / bw_eff, rel=1e-12)
        assert e.bound == "memory: weights"
    # 8-bit weights halve the weight read
    e8 = decode(m, _h100(efficiency=Efficiency.ideal(), weight_dtype="fp8"), 1, 0)
    assert e8.breakdown["weights"] == pytest.approx(6_738_415_616 / H100_BW, rel=1e-12)


def test_crossover_batch() -> None:
    # kipply: a weight byte is worth peak / bandwidth FLOPs; 2 FLOP per parameter and 2 bytes
    assert crossover_batch(bw.hardware("H100-SXM")) == pytest.approx(H100_BF16 / H100_BW)
    assert crossover_batch(bw.hardware("H100-SXM"), "fp8") == pytest.approx(1978.9e12 / H100_BW / 2)
    assert crossover_batch(bw.hardware("A100-40GB")) == pytest.approx(312e12 / 1.555e12)
    # the decode step changes bound there (context 0, so the KV read is one token's worth):
    # compute 2 x matmul params x b over peak meets 2 x total params over bandwidth at
    # b = crossover x total / matmul
    m = bw.model("llama2-70b")
    b_star = H100_BF16 / H100_BW * m.params.total / m.matmul_params_active
    ideal = _h100(efficiency=Efficiency.ideal())
    assert decode(m, ideal, int(b_star) - 3, 0).bound == "memory: weights"
    assert decode(m, ideal, int(b_star) + 3, 0).bound == "compute"
    # compute: 2 x matmul params per token, plus attention to itself (2 L H (d_qk + d_v))
    e = decode(m, ideal, 400, 0)
    flops = 400 * (2 * m.matmul_params_active + 2 * 80 * 64 * 256)
    assert e.breakdown["compute"] == pytest.approx(flops / H100_BF16, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "tp", "elements", "shard"),
    [
        # MHA: 32 heads split over tp 8
        ("llama2-7b", 8, 32 * 32 * 256, 8),
        # GQA: 8 KV heads over tp 8, and over tp 4 (2 heads each)
        ("llama3.1-70b", 8, 80 * 8 * 256, 8),
        ("llama3.1-70b", 4, 80 * 8 * 256, 4),
        # GQA with fewer KV heads (4) than tp (8): each head lives on 2 chips
        ("qwen3-235b-a22b", 8, 94 * 4 * 256, 4),
        # MQA: the one KV head is replicated on every tp chip
        ("palm-540b", 8, 118 * 1 * 512, 1),
        # MLA: the 512 latent + 64 rope key per layer is shared by all heads: replicated
        ("deepseek-v3", 8, 61 * (512 + 64), 1),
    ],
)
def test_kv_bytes_per_chip_by_hand(name: str, tp: int, elements: int, shard: int) -> None:
    m = bw.model(name)
    assert m.kv_elements_per_token == elements
    batch, context = 3, 1000
    e = decode(m, _h100(tp=tp, efficiency=Efficiency.ideal()), batch, context)
    # the cache holds the context and the step's new token, 2 bytes each, over the shard
    want = batch * (context + 1) * elements * 2 / shard
    assert e.memory["kv_cache"] == pytest.approx(want, rel=1e-12)
    assert e.breakdown["kv_cache"] == pytest.approx(want / H100_BW, rel=1e-12)
    # sharded over the batch instead, every layout splits the cache over all tp chips
    eb = decode(m, _h100(tp=tp, efficiency=Efficiency.ideal(), kv_sharding="batch"), 3, context)
    assert eb.memory["kv_cache"] == pytest.approx(batch * (context + 1) * elements * 2 / tp)
    # 8-bit KV halves it; pipeline stages divide it
    e8 = decode(m, _h100(tp=tp, kv_dtype="fp8"), batch, context)
    assert e8.memory["kv_cache"] == pytest.approx(want / 2, rel=1e-12)
    e2 = decode(m, _h100(tp=tp, pp=2), batch, context)
    assert e2.memory["kv_cache"] == pytest.approx(want / 2, rel=1e-12)


def test_new_tokens_enter_the_kv_cache() -> None:
    m = bw.model("llama3.1-8b")
    per_token = 32 * 8 * 256 * 2
    e = decode(m, _h100(efficiency=Efficiency.ideal()), 2, 100, new_tokens=5)
    assert e.memory["kv_cache"] == 2 * (100 + 5) * per_token


def test_overlap_is_a_max_not_a_sum() -> None:
    # tp 8, one stage: each layer runs 2 ring all-reduces of the batch's activations
    m = bw.model("llama3.1-70b")
    batch, context = 64, 2048
    plain = _h100(tp=8, efficiency=EFF, all_reduce="ring")
    e = decode(m, plain, batch, context)
    msg = batch * 8192 * 2  # tokens x d_model x 2 bytes
    all_reduce = 2 * 7 * ALPHA + 2 * 7 / 8 * msg / (NVLINK * 0.6)
    assert e.breakdown["communication"] == pytest.approx(80 * 2 * all_reduce, rel=1e-12)
    memory = e.breakdown["weights"] + e.breakdown["kv_cache"]
    compute = e.breakdown["compute"]
    # weights over tp, at 80% of the bandwidth; KV of 8 heads over 8 chips
    assert e.breakdown["weights"] == pytest.approx(
        2 * m.params.total / 8 / (H100_BW * 0.8), rel=1e-12
    )
    flops = batch * (2 * m.matmul_params_active + 2 * 80 * 64 * 256 * (context + 1))
    assert compute == pytest.approx(flops / (8 * H100_BF16 * 0.5), rel=1e-12)
    # no overlap: the collectives add to the slower of memory and compute
    assert e.step_time == pytest.approx(max(memory, compute) + e.breakdown["communication"])
    over = decode(m, plain.with_(overlap=True), batch, context)
    assert over.breakdown == pytest.approx(e.breakdown)
    assert over.step_time == pytest.approx(max(memory, compute, e.breakdown["communication"]))
    assert e.step_time - over.step_time == pytest.approx(e.breakdown["communication"])
    # by default the all-reduce takes the fastest algorithm per message: at batch 1 the 16 KiB
    # message is latency-bound and one-shot's single step (reading 7 peers) beats the ring's 14
    one = decode(m, plain.with_(all_reduce="auto"), 1, context)
    one_shot = ALPHA + 7 * 8192 * 2 / (NVLINK * 0.6)
    assert one.breakdown["communication"] == pytest.approx(80 * 2 * one_shot, rel=1e-12)


def test_pipeline_latency_sums_stages() -> None:
    # pp 4, batch 8: 4 microbatches of 2; a token's latency crosses 4 stages, each reading a
    # quarter of the weights once per microbatch, plus 3 hops over NVLink (4 chips <= 8)
    m = bw.model("llama2-7b")
    ideal = Efficiency.ideal()
    e = decode(m, _h100(pp=4, efficiency=ideal), 8, 0)
    stage = (2 * 6_738_415_616 / 4 + 2 * 1 * 32 * 32 * 256 * 2 / 4) / H100_BW
    hop = ALPHA + 2 * 4096 * 2 / NVLINK
    assert e.step_time == pytest.approx(4 * stage + 3 * hop, rel=1e-12)
    assert e.tokens_per_s == pytest.approx(8 / e.step_time, rel=1e-12)


# -- pipeline bubbles with a weight-gradient time --------------------------------------------

F, B, W = 1.0, 1.5, 0.75  # W <= min(F, B), as ZB-H1's closed form needs


@pytest.mark.parametrize(("p", "m"), [(2, 4), (4, 8), (5, 10), (3, 9), (6, 12), (4, 20)])
@pytest.mark.parametrize(
    ("schedule", "chunks"),
    [("gpipe", 1), ("1f1b", 1), ("interleaved-1f1b", 2), ("interleaved-1f1b", 3), ("zb-h1", 1)],
)
def test_closed_form_with_weight_grad_matches_the_simulator(
    schedule: str, chunks: int, p: int, m: int
) -> None:
    sim = pipeline.simulate(schedule, p, m, F, B, weight_grad=W, chunks=chunks)
    cf = pipeline.bubble_fraction(schedule, p, m, chunks, forward=F, backward=B, weight_grad=W)
    assert cf == pytest.approx(sim.bubble_fraction, rel=1e-12)
    # and the closed forms, written out: idle (p-1) x (what one microbatch costs a device)
    work = m * (F + B + W)
    idle = {
        "gpipe": (p - 1) * (F + B + W),
        "1f1b": (p - 1) * (F + B + W),
        "interleaved-1f1b": (p - 1) * (F + B + W) / chunks,
        "zb-h1": (p - 1) * (F + B - W),
    }[schedule]
    assert cf == pytest.approx(idle / (work + idle), rel=1e-12)
    assert sim.bubble == pytest.approx(p * idle, rel=1e-12)


def test_forward_only_closed_form() -> None:
    for p, m in ((4, 8), (7, 3)):
        sim = pipeline.simulate("forward", p, m, 2.0)
        cf = pipeline.bubble_fraction("forward", p, m, forward=2.0, backward=0.0)
        assert cf == pytest.approx(sim.bubble_fraction) == pytest.approx((p - 1) / (m + p - 1))


def test_zb_h2_beats_zb_h1_with_weight_grad() -> None:
    # no closed form; at m >= 2p its W's fill the tail, so it idles less than ZB-H1
    for p, m in ((4, 8), (5, 10)):
        h1 = pipeline.simulate("zb-h1", p, m, F, B, weight_grad=W)
        h2 = pipeline.simulate("zb-h2", p, m, F, B, weight_grad=W)
        assert h2.bubble < h1.bubble
        assert h2.makespan >= h2.lower_bound - 1e-9


# -- f32 acceptance over several 1024-element blocks ---------------------------------------------


@pytest.mark.parametrize("vocab", [1023, 1025, 2048, 3 * 1024 + 7, 5000, 32_001])
def test_f32_acceptance_spans_blocks(vocab: int) -> None:
    rng = np.random.default_rng(vocab)
    rows = 5
    p = rng.gamma(0.3, size=(rows, vocab))
    q = rng.gamma(0.3, size=(rows, vocab))
    # put mass where the blocks differ: the first block of p, the last (partial) block of q
    p[:, :64] *= 20.0
    q[:, -7:] *= 50.0
    p32 = (p / p.sum(axis=1, keepdims=True)).astype(np.float32)
    q32 = (q / q.sum(axis=1, keepdims=True)).astype(np.float32)
    want = np.minimum(p32.astype(np.float64), q32.astype(np.float64)).sum(axis=1)
    got = acceptance(p32, q32)
    assert got.shape == (rows,)
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)
    # a single row, and each row alone
    assert acceptance(p32[2], q32[2]) == pytest.approx(want[2], rel=2e-5, abs=1e-6)


@pytest.mark.parametrize("vocab", [1025, 3 * 1024 + 7, 32_001])
def test_f32_acceptance_from_logits_spans_blocks(vocab: int) -> None:
    rng = np.random.default_rng(vocab + 1)
    a = rng.normal(scale=2.0, size=(3, vocab))
    b = a + rng.normal(scale=1.0, size=(3, vocab))
    b[:, -3:] += 6.0  # the draft favours the last, partial block
    a32, b32 = a.astype(np.float32), b.astype(np.float32)

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    want = np.minimum(softmax(a32), softmax(b32)).sum(axis=1)
    np.testing.assert_allclose(acceptance_from_logits(a32, b32), want, rtol=1e-4, atol=1e-6)
