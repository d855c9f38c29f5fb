import math

import brickwall as bw
import numpy as np
import pytest
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.errors import BrickwallError, InfeasibleError, ValidationError
from brickwall.reference import roofline as ref
from hypothesis import assume, given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from .strategies import catalog_hardware, catalog_models, models

GPUS = [h for h in bw.hardware_names() if not h.startswith("TPU")]


@st.composite
def deployments(draw: st.DrawFn, model: bw.Model) -> bw.Deployment:
    hw = draw(catalog_hardware)
    tps = [t for t in (1, 2, 4, 8, 16) if model.heads % t == 0]
    kv = 1 if model.attention == "mla" else model.kv_heads
    tps = [t for t in tps if (kv % t == 0 if kv >= t else t % kv == 0) and t <= hw.scale_up_domain]
    eps = [e for e in (1, 2, 4, 8) if e == 1 or (model.is_moe and model.experts % e == 0)]
    dtypes = [d for d in ("bf16", "fp8", "fp4") if d != "fp4" or "fp4" in hw.peak_flops]
    return bw.Deployment(
        hw,
        tp=draw(st.sampled_from(tps)),
        pp=draw(st.integers(1, min(8, model.layers))),
        ep=draw(st.sampled_from(eps)),
        weight_dtype=draw(st.sampled_from(dtypes)),
        kv_dtype=draw(st.sampled_from(["bf16", "fp8"])),
        kv_sharding=draw(st.sampled_from(["heads", "batch"])),
        overlap=draw(st.booleans()),
        efficiency=bw.Efficiency(
            draw(st.floats(0.3, 1)), draw(st.floats(0.3, 1)), draw(st.floats(0.3, 1))
        ),
    )


def _needs_scale_out(d: bw.Deployment) -> bool:
    return (
        d.hardware.scale_out_bandwidth is None
        and d.chips > d.hardware.scale_up_domain
        and (d.pp > 1 or d.tp * d.ep > d.hardware.scale_up_domain)
    )


@given(st.data(), catalog_models | models())
def test_core_matches_reference(data: st.DataObject, model: bw.Model) -> None:
    d = data.draw(deployments(model))
    assume(not _needs_scale_out(d))
    batch = np.array(
        data.draw(st.lists(st.integers(1, 1 << 14), min_size=1, max_size=8)), dtype=float
    )
    context = np.array(
        data.draw(st.lists(st.integers(0, 1 << 17), min_size=len(batch), max_size=len(batch))),
        dtype=float,
    )
    n = np.array(
        data.draw(st.lists(st.integers(1, 4096), min_size=len(batch), max_size=len(batch))),
        dtype=float,
    )
    table = bw.steps(model, d, batch, context, n)
    mv, pv, cv = cost_view(model), plan_view(d), chip_view(d)
    for i in range(len(batch)):
        want = ref.step(mv, pv, cv, batch[i], context[i], n[i])
        for key, value in want.items():
            got = table.columns[key][i]
            if isinstance(value, bool) or key == "bound":
                assert got == value, key
            else:
                assert_allclose(got, value, rtol=1e-12, err_msg=key)


@given(st.data(), catalog_models)
def test_monotone_in_batch_and_mfu_bounded(data: st.DataObject, model: bw.Model) -> None:
    d = data.draw(deployments(model))
    assume(not _needs_scale_out(d))
    context = data.draw(st.integers(0, 32768))
    t = bw.steps(model, d, np.arange(1, 2049, dtype=float), context)
    assert np.all(np.diff(t.latency) >= -1e-15 * t.latency[1:])
    assert np.all(np.diff(t.tokens_per_s) >= -1e-9 * t.tokens_per_s[1:])
    assert np.all(t.mfu <= d.efficiency.flops + 1e-12)
    assert np.all(np.isfinite(t.latency))


@pytest.mark.parametrize("hw", GPUS)
@pytest.mark.parametrize("name", bw.model_names())
def test_batch_one_is_memory_bound(hw: str, name: str) -> None:
    m, h = bw.model(name), bw.hardware(hw)
    try:
        e = bw.inference.chips_needed(m, h, batch=1, context=128, max_chips=1 << 14)
    except InfeasibleError:
        assert h.scale_out_bandwidth is None  # only chips without a known network run out
        return
    b = e.breakdown
    # Memory-bound; the per-operator model charges batch-1 GEMMs for partly empty tiles
    # (step.rs Profile::gemm_m_half), so the compute share is no longer negligible.
    assert b["weights"] + b["kv_cache"] > b["compute"], e.describe()
    assert e.bound != "compute"


def test_latency_flat_below_crossover_then_compute_bound() -> None:
    m, h = bw.model("llama2-13b"), bw.hardware("A100-80GB")
    d = bw.Deployment(h, efficiency=bw.Efficiency.ideal())
    star = bw.inference.crossover_batch(h)
    assert star == pytest.approx(312e12 / 2.039e12, rel=1e-12)
    t = bw.steps(m, d, np.arange(1, 1025, dtype=float), context=1)
    below = t.latency[: int(star * 0.9)]
    # near flat: weight reads dominate; the per-operator model adds activation traffic and
    # partly empty GEMM tiles that grow with batch (about 13% from batch 1 to 0.9 B* here)
    assert below.max() / below.min() < 1.2
    assert np.all(np.diff(below) >= 0)
    above = np.arange(1, 1025)[t.bound == 2]
    # compute-bound starts below B*: the matmul share of weights shifts it by a few percent and
    # the GEMM efficiency curve (M / (M + 32), step.rs) by about 32 rows
    assert 0.7 < above.min() / star < 1.1
    # and then latency grows linearly with batch (but for the fixed kernel floors)
    assert t.latency[1023] / t.latency[511] == pytest.approx(1024 / 512, rel=0.05)


def test_kv_and_experts_make_latency_grow_below_crossover() -> None:
    h = bw.hardware("H100-SXM")
    long = bw.steps(bw.model("llama3.1-8b"), bw.Deployment(h), [1, 64], context=100_000).latency
    assert long[1] > 1.5 * long[0]  # KV reads grow with batch
    moe = bw.steps(bw.model("mixtral-8x7b"), bw.Deployment(h, tp=2), [1, 8], context=1).latency
    assert moe[1] > 1.5 * moe[0]  # more experts touched


def test_mqa_replicates_kv_under_tp() -> None:
    m = bw.model("palm-540b")
    heads = bw.decode(m, bw.Deployment("H100-SXM", tp=8, pp=4), 64, 2048)
    batch = bw.decode(m, bw.Deployment("H100-SXM", tp=8, pp=4, kv_sharding="batch"), 64, 2048)
    assert heads.memory["kv_cache"] == pytest.approx(8 * batch.memory["kv_cache"])
    assert heads.memory["kv_cache"] == pytest.approx(m.kv_cache_bytes(64, 2049) / 4)


def test_pipeline_latency_sums_stages_throughput_does_not() -> None:
    m = bw.model("llama3.1-70b")
    one = bw.decode(m, bw.Deployment("H100-SXM", tp=8, efficiency=bw.Efficiency.ideal()), 64, 0)
    four = bw.decode(
        m, bw.Deployment("H100-SXM", tp=2, pp=4, efficiency=bw.Efficiency.ideal()), 64, 0
    )
    assert four.step_time > one.step_time
    # both read all weights once per 16-sequence microbatch pass ... pipeline throughput is B / latency
    assert four.tokens_per_s == pytest.approx(64 / four.step_time)


def test_prefill_is_cheaper_per_token_than_decode() -> None:
    m, d = bw.model("llama3.1-70b"), bw.Deployment("H100-SXM", tp=8)
    pre, dec = bw.prefill(m, d, 8, 2048), bw.decode(m, d, 8, 2048)
    assert pre.bound == "compute" and dec.bound.startswith("memory")
    assert pre.cost_per_million_tokens < dec.cost_per_million_tokens / 10


def test_decode_matches_closed_form_at_batch_one() -> None:
    # kipply: small-batch latency = 2 P / (N A_bm) for 16-bit weights (no comm: tp = 1).
    m, h = bw.model("llama2-7b"), bw.hardware("A100-80GB")
    e = bw.decode(m, bw.Deployment(h, efficiency=bw.Efficiency.ideal()), 1, 0)
    # plus the one new token's KV entry, read back by attention: the pure roofline is exact
    exact = (2 * m.params.total + m.kv_bytes_per_token()) / h.memory_bandwidth
    assert e.step_time == pytest.approx(exact, rel=1e-12)
    # the default profile adds the kernel floor (9 kernels x 32 layers x 3 us) and the
    # elementwise traffic (12 d + 3 ffn activation elements per layer), at 85% of the bandwidth
    d = bw.decode(m, bw.Deployment(h), 1, 0)
    floor = 9 * 32 * bw.Efficiency().kernel_overhead
    elementwise = 32 * (12 * 4096 + 3 * 11008) * 2 / (h.memory_bandwidth * 0.85)
    assert d.operators["kernel floor"] == pytest.approx(floor, rel=1e-12)
    assert d.operators["elementwise"] == pytest.approx(elementwise, rel=1e-12)
    assert d.step_time == pytest.approx(exact / 0.85 + floor + elementwise, rel=1e-12)


def test_scalar_equals_array_of_one() -> None:
    m, d = bw.model("deepseek-v3"), bw.Deployment("H200", tp=8, ep=4)
    e = bw.decode(m, d, 256, 4096)
    t = bw.steps(m, d, [256], 4096)
    assert e.step_time == t.latency[0] and e.mfu == t.mfu[0]


def test_max_batch_is_the_fit_boundary() -> None:
    m, d = bw.model("llama3.1-70b"), bw.Deployment("H100-SXM", tp=8)
    b = bw.inference.max_batch(m, d, 8192)
    assert bw.decode(m, d, b, 8192).fits and not bw.decode(m, d, b + 1, 8192).fits
    free = 80e9 - m.weight_bytes() / 8
    assert b == pytest.approx(free / (m.kv_bytes_per_token() * 8193 / 8), rel=0.02)


def test_max_params_for_speed_closed_form() -> None:
    d = bw.Deployment("H100-SXM", tp=8, efficiency=bw.Efficiency.ideal())
    got = bw.inference.max_params_for_speed(d, 33.33)
    assert got == pytest.approx(8 * 3.35e12 / 33.33 / 2, rel=1e-9)
    assert bw.inference.max_params_for_speed(
        d.with_(weight_dtype="fp8"), 33.33, overhead=1.0
    ) == pytest.approx(got, rel=1e-9)


def test_required_bandwidth_inverts_decode() -> None:
    m, d = bw.model("llama2-70b"), bw.Deployment("H100-SXM", tp=8, efficiency=bw.Efficiency.ideal())
    need = bw.inference.required_bandwidth(m, d, 20.0)
    assert need == pytest.approx((m.weight_bytes() + m.kv_bytes_per_token()) / 8 * 20, rel=1e-12)


def test_chips_needed() -> None:
    e = bw.inference.chips_needed(bw.model("llama3.1-405b"), "H100-SXM", batch=1, context=4096)
    assert e.fits and e.chips >= 405.85e9 * 2 / 80e9
    with pytest.raises(InfeasibleError):
        bw.inference.chips_needed(bw.model("gpt4-moe-1.8t"), "L40S", max_chips=8)


@pytest.mark.parametrize("kw,field", [({"tp": 3}, "tp"), ({"pp": 200}, "pp"), ({"ep": 2}, "ep")])
def test_partitioning_must_divide(kw: dict, field: str) -> None:
    with pytest.raises(InfeasibleError, match=field):
        bw.decode(bw.model("llama2-70b"), bw.Deployment("H100-SXM", **kw), 1, 0)


@pytest.mark.parametrize(
    "kw",
    [
        {"tp": 0},
        {"pp": -1},
        {"ep": 1.5},
        {"weight_dtype": "fp6"},
        {"kv_dtype": 3},
        {"kv_sharding": "rows"},
        {"hardware": "H100"},
        {"price_per_hour": float("nan")},
    ],
)
def test_bad_deployment(kw: dict) -> None:
    base = {"hardware": "H100-SXM", **kw}
    with pytest.raises(BrickwallError):
        bw.Deployment(**base)


@pytest.mark.parametrize(
    "batch,context", [(0, 1), (-1, 1), (1, -5), (float("nan"), 1), (1, float("inf"))]
)
def test_bad_workload(batch: float, context: float) -> None:
    with pytest.raises(ValidationError):
        bw.decode(bw.model("llama2-7b"), bw.Deployment("H100-SXM"), batch, context)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        bw.steps(bw.model("llama2-7b"), bw.Deployment("H100-SXM"), [batch], [context])


def test_tp_beyond_domain_without_scale_out_is_clear() -> None:
    with pytest.raises(ValidationError, match="scale-up domain"):
        bw.decode(bw.model("llama2-70b"), bw.Deployment("H100-NVL", tp=4), 1, 0)


def test_unknown_price_gives_none() -> None:
    e = bw.decode(bw.model("llama2-7b"), bw.Deployment("Gaudi3"), 1, 0)
    assert e.cost_per_million_tokens is None and math.isfinite(e.step_time)


def test_routing_quantile_prices_the_tail() -> None:
    m = bw.model("gpt4-moe-1.8t")
    d = bw.Deployment("H100-SXM", tp=8, pp=4, ep=4)
    mean, p50, p99 = (bw.decode(m, d, 64, 2048, routing=r) for r in ("expected", 0.5, 0.99))
    assert p99.step_time > p50.step_time and p99.step_time > mean.step_time
    # at a batch that touches every expert, the tail adds only the busiest device's compute
    big = bw.decode(m, d, 4096, 2048, routing=0.99)
    assert big.breakdown["weights"] == pytest.approx(
        bw.decode(m, d, 4096, 2048).breakdown["weights"], rel=1e-6
    )
    assert big.breakdown["compute"] > bw.decode(m, d, 4096, 2048).breakdown["compute"]
    # dense models ignore the option; arrays group rows by tokens per microbatch
    dense = bw.model("llama2-7b")
    assert (
        bw.decode(dense, bw.Deployment("H100-SXM"), 8, 0, routing=0.99).step_time
        == bw.decode(dense, bw.Deployment("H100-SXM"), 8, 0).step_time
    )
    t = bw.steps(m, d, [64, 8, 64], 2048, routing=0.99)
    assert t.latency[0] == t.latency[2] == pytest.approx(p99.step_time)


@given(st.floats(0, 16), st.floats(1, 3), st.integers(1, 4096))
def test_routing_overrides_match_reference(touched: float, imbalance: float, batch: int) -> None:
    m, d = bw.model("gpt4-moe-1.8t"), bw.Deployment("H100-SXM", tp=8, pp=2, ep=4)
    pv = plan_view(d, touched, imbalance)
    got = bw._core.roofline_steps(
        cost_view(m), pv, chip_view(d), np.array([float(batch)]), np.array([100.0]), np.array([1.0])
    )
    want = ref.step(cost_view(m), pv, chip_view(d), float(batch), 100.0, 1.0)
    assert_allclose(got[0, 0], want["latency"], rtol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 0.0, 1.5, float("nan"), "p99"])
def test_bad_routing(bad: object) -> None:
    with pytest.raises(BrickwallError):
        bw.decode(bw.model("mixtral-8x7b"), bw.Deployment("H100-SXM", tp=2), 8, 0, routing=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "touched,imbalance", [(17.0, 1.0), (-1.0, 1.0), (4.0, 0.5), (4.0, float("inf"))]
)
def test_core_rejects_bad_routing_overrides(touched: float, imbalance: float) -> None:
    m, d = bw.model("gpt4-moe-1.8t"), bw.Deployment("H100-SXM", tp=8)
    with pytest.raises(ValidationError):
        bw._core.roofline_steps(
            cost_view(m),
            plan_view(d, touched, imbalance),
            chip_view(d),
            np.ones(1),
            np.ones(1),
            np.ones(1),
        )


def test_crossover_batch_is_peak_over_bandwidth_times_bytes_over_two() -> None:
    h = bw.hardware("A100-40GB")
    assert bw.inference.crossover_batch(h) == h.flops("bf16") / h.memory_bandwidth * 2 / 2.0
    with pytest.raises(ValidationError):
        bw._core.roofline_crossover_batch(0.0, 1.0, 2.0)


@given(
    catalog_hardware,
    st.sampled_from([1, 2, 4, 8, 16, 32, 64, 128]),
    st.integers(1, 32),
    st.sampled_from([1, 2, 4, 8, 16]),
)
def test_links_available_is_exactly_when_the_step_model_accepts(
    hw: bw.Hardware, tp: int, pp: int, ep: int
) -> None:
    d = bw.Deployment(hw, tp=tp, pp=pp, ep=ep)
    ok = bw._core.roofline_links_available(float(tp), float(pp), float(ep), chip_view(d))
    assert ok == (
        not _needs_scale_out(d) and not (hw.scale_out_bandwidth is None and tp > hw.scale_up_domain)
    )
    m = bw.model("gpt4-moe-1.8t")
    try:
        bw._core.roofline_steps(
            cost_view(m), plan_view(d), chip_view(d), np.ones(1), np.zeros(1), np.ones(1)
        )
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == ok


@given(st.lists(st.integers(1, 300), min_size=1, max_size=6), st.sampled_from([0.5, 0.9, 0.99]))
def test_steps_at_quantile_price_each_microbatch_size(batches: list[int], q: float) -> None:
    m, d = bw.model("mixtral-8x7b"), bw.Deployment("H100-SXM", tp=2, pp=3, ep=2)
    b = np.array(batches, dtype=np.float64)
    t = bw.steps(m, d, b, 512, routing=q)
    for i, batch in enumerate(batches):
        tokens = math.ceil(
            batch / min(batch, d.pp)
        )  # the microbatch split, spelled out as an oracle
        touched, imbalance = bw.inference.routing_quantile(m, d, tokens, q)
        want = bw._core.roofline_steps(
            cost_view(m),
            plan_view(d, touched, imbalance),
            chip_view(d),
            b[i : i + 1],
            np.array([512.0]),
            np.ones(1),
        )
        assert t.latency[i] == want[0, 0]
