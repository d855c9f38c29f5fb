"""Training plans: core vs the Python reference (rtol 1e-12), the papers' closed forms, and the
properties the issue names; goodput's Monte Carlo vs Daly's expectation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall import _core
from brickwall.deployment import Deployment, chip_view, cost_view
from brickwall.errors import InfeasibleError, ValidationError
from brickwall.reference import training as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from .strategies import models

CORE_COLUMNS = _core.training_columns()


def _host(hw: str) -> dict[str, float]:
    h = bw.hardware(hw)
    return {"fp8_flops": h.peak_flops.get("fp8", 0.0), "host_bandwidth": h.host_bandwidth or 0.0}


def _row(
    model: bw.Model, hw: str, plan: bw.TrainingPlan
) -> tuple[dict[str, float], dict[str, float]]:
    chip = chip_view(Deployment(bw.hardware(hw)))
    vocab = bw.training._vocab(model)
    host: dict[str, Any] = _host(hw)
    core = dict(
        zip(
            CORE_COLUMNS,
            _core.training_step(
                cost_view(model), float(model.heads), chip, plan.view(), vocab=vocab, host=host
            ),
            strict=True,
        )
    )
    expected = ref.step(
        dict(cost_view(model)),
        float(model.heads),
        dict(chip),
        dict(plan.view()),
        dict(vocab),
        dict(host),
    )
    return core, expected


@st.composite
def plans(draw: st.DrawFn) -> tuple[bw.Model, bw.TrainingPlan, str]:
    m = draw(models())
    tp = draw(
        st.sampled_from(
            [
                d
                for d in (1, 2, 4, 8)
                if m.heads % d == 0 and (m.kv_heads % d == 0 or d % m.kv_heads == 0)
            ]
        )
    )
    pp = draw(st.sampled_from([d for d in (1, 2, 3, 4, 5, 7) if d <= m.layers]))
    dp = draw(st.sampled_from([1, 2, 4, 16, 64]))
    ep = draw(
        st.sampled_from(
            [e for e in (1, 2, 4) if dp % e == 0 and (e == 1 or (m.experts and m.experts % e == 0))]
        )
    )
    mb = draw(st.integers(1, 4))
    schedule = draw(st.sampled_from(["gpipe", "1f1b", "interleaved-1f1b", "zb-h1"]))
    chunks = 1
    if schedule == "interleaved-1f1b" and pp == 1:
        schedule = "1f1b"
    if schedule == "interleaved-1f1b":
        chunks = draw(st.sampled_from([c for c in (2, 3, 4) if m.layers % (pp * c) == 0] or [0]))
        if chunks == 0:
            schedule, chunks = "1f1b", 1
    per = pp * draw(st.integers(1, 4))
    hw = draw(st.sampled_from(["H100-SXM", "A100-40GB", "B200"]))
    fp8 = "fp8" in bw.hardware(hw).peak_flops
    offload = bw.hardware(hw).host_bandwidth is not None
    plan = bw.TrainingPlan(
        tp=tp,
        pp=pp,
        dp=dp,
        ep=ep,
        microbatch=mb,
        global_batch=dp * mb * per,
        seq_len=draw(st.sampled_from([512, 2048, 8192])),
        schedule=schedule,
        chunks=chunks,
        sequence_parallel=draw(st.booleans()),
        recompute=draw(st.sampled_from(bw.training.RECOMPUTE)),
        zero=draw(st.integers(0, 3)),
        cp=draw(st.sampled_from([1, 2, 4])),
        precision=draw(st.sampled_from(["bf16", "fp8"] if fp8 else ["bf16"])),
        offload=draw(st.booleans()) if offload else False,
    )
    return m, plan, hw


@settings(max_examples=150, deadline=None)
@given(plans())
def test_core_equals_reference(case: tuple[bw.Model, bw.TrainingPlan, str]) -> None:
    m, plan, hw = case
    core, expected = _row(m, hw, plan)
    for k in CORE_COLUMNS:
        np.testing.assert_allclose(core[k], expected[k], rtol=1e-12, atol=0, err_msg=k)


def test_memory_terms_are_the_papers_closed_forms() -> None:
    # GPT-3 175B, Korthikanti et al. 2022 Table 3's setting: s = 2048, b = 1, h = 12288, a = 96, t = 8.
    m = bw.model("gpt3-175b")
    s, h, a, t = 2048, 12288, 96, 8
    base = dict(tp=8, pp=8, dp=1, microbatch=1, global_batch=64, seq_len=s, zero=0)
    expect = {
        ("none", False): s * h * (10 + 24 / t + 5 * a * s / (h * t)),
        ("none", True): s * h / t * (34 + 5 * a * s / h),
        ("selective", True): s * h / t * 34,
        ("full", True): 2 * s * h / t,
    }
    for (rec, sp), per_layer in expect.items():
        st_ = bw.plan_step(
            m, "A100-80GB", bw.TrainingPlan(recompute=rec, sequence_parallel=sp, **base)
        )
        # 1F1B: the first stage holds L/p layers for p microbatches = L layers' worth.
        assert st_.mem_activations == pytest.approx(per_layer * m.layers, rel=1e-12)
        assert st_.in_flight == 8
    # ZeRO paper s3.1: 16 bytes per parameter without sharding (2 + 2 + 12), on the first stage:
    # 12 of the 96 layers (the head is a third of a layer: balance_layers splits evenly) and
    # the embedding, over tp = 8.
    st_ = bw.plan_step(m, "A100-80GB", bw.TrainingPlan(**base))
    P = m.params
    assert st_.mem_stage == 0
    p = ((P.total - P.embedding - P.output_head) / 96 * 12 + P.embedding) / 8
    assert (st_.mem_weights, st_.mem_grads, st_.mem_optimizer) == pytest.approx(
        (2 * p, 2 * p, 12 * p), rel=1e-12
    )
    # Stage 1 on 64 data-parallel replicas: 2 + 2 + 12/64 (the paper's Figure 1 arithmetic).
    z1 = bw.plan_step(
        m, "A100-80GB", bw.TrainingPlan(**{**base, "dp": 64, "global_batch": 4096, "zero": 1})
    )
    assert z1.mem_optimizer == pytest.approx(12 * p / 64, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(plans())
def test_properties(case: tuple[bw.Model, bw.TrainingPlan, str]) -> None:
    m, plan, hw = case
    eff = bw.hardware(hw).efficiency.flops

    def at(**kw: object) -> bw.TrainingStep:
        return bw.plan_step(m, hw, bw.TrainingPlan(**{**plan.as_dict(), **kw}))

    steps = [at(recompute=r) for r in bw.training.RECOMPUTE]
    for a, b in zip(steps, steps[1:]):
        assert b.mem_activations <= a.mem_activations
        # Equal up to rounding where the data-parallel traffic outlasts a single microbatch's
        # backward: the recompute then only moves time from exposed traffic to the pass.
        assert b.step_time >= a.step_time * (1 - 1e-12)
    for s in steps:
        assert 0 < s.mfu <= s.hfu <= eff * (1 + 1e-12)
        assert sum(s.breakdown.values()) == pytest.approx(s.step_time, rel=1e-12)
        assert sum(s.memory.values()) == pytest.approx(s.mem_total, rel=1e-12)
        if plan.pp == 1:
            assert s.t_bubble == 0 and s.bubble_fraction == 0
    zs = [at(zero=z) for z in range(4)]
    for a, b in zip(zs, zs[1:]):
        assert b.mem_total <= a.mem_total * (1 + 1e-12)


def test_pipeline_bubble_is_the_simulators_with_real_stage_times() -> None:
    m = bw.model("llama3.1-70b")
    plan = bw.TrainingPlan(tp=8, pp=4, dp=2, microbatch=1, global_batch=32, seq_len=4096)
    s = bw.plan_step(m, "H100-SXM", plan)
    sim = bw.pipeline.simulate(
        "1f1b", 4, int(s.microbatches), forward=s.t_forward, backward=s.t_backward
    )
    assert sim.makespan == pytest.approx(s.t_pipeline_busy + s.t_bubble, rel=1e-12)
    assert sim.peak_in_flight[0] == s.in_flight


def test_bad_plans_name_the_field() -> None:
    m = bw.model("llama3.1-70b")
    with pytest.raises(ValidationError, match="TrainingPlan.global_batch"):
        bw.TrainingPlan(dp=4, microbatch=2, global_batch=6)
    with pytest.raises(ValidationError, match="TrainingPlan.chunks"):
        bw.TrainingPlan(schedule="interleaved-1f1b")
    with pytest.raises(ValidationError, match="TrainingPlan.recompute"):
        bw.TrainingPlan(recompute="some")
    with pytest.raises(InfeasibleError, match="tp = 3"):
        bw.plan_step(m, "H100-SXM", bw.TrainingPlan(tp=3))
    with pytest.raises(ValidationError, match="pp"):
        bw.plan_step(m, "H100-SXM", bw.TrainingPlan(pp=81, global_batch=81))
    with pytest.raises(ValidationError, match="pp x chunks"):
        bw.plan_step(
            m,
            "H100-SXM",
            bw.TrainingPlan(pp=3, schedule="interleaved-1f1b", chunks=2, global_batch=3),
        )
    with pytest.raises(ValidationError, match="ep"):
        bw.TrainingPlan(dp=2, ep=4, global_batch=2)
    with pytest.raises(ValidationError, match="zb-h1"):
        bw.plan_step(m, "H100-SXM", bw.TrainingPlan(pp=4, schedule="zb-h1", global_batch=2, dp=1))


def test_search_best_is_the_points_step_and_beats_a_hand_plan() -> None:
    m = bw.model("llama3.1-8b")
    r = bw.search_plans(m, "H100-SXM", 64, 256, 4096, k=5)
    assert r.feasible > 0 and r.evaluated == r.points and len(r.steps) == 5
    times = [s.step_time for s in r.steps]
    assert times == sorted(times)
    best = r.best
    again = bw.plan_step(m, "H100-SXM", best.plan)
    assert again == best
    hand = bw.plan_step(
        m,
        "H100-SXM",
        bw.TrainingPlan(tp=8, pp=1, dp=8, microbatch=1, global_batch=256, seq_len=4096),
    )
    assert best.step_time <= hand.step_time
    front = bw.search_plans(
        m, "H100-SXM", 64, 256, 4096, objectives=("step_time", "memory"), keep="pareto"
    )
    assert [s.step_time for s in front.steps] == sorted(s.step_time for s in front.steps)
    assert all(s.fits for s in front.steps)


def test_goodput_expectation_and_monte_carlo() -> None:
    g = bw.goodput(40 * 86400.0, gpus=16384, trials=2000, seed=3)
    # Llama 3's rate at 16,384 GPUs: one interruption every ~3.1 hours.
    assert g.mtbf / 3600 == pytest.approx(54 * 24 / 419, rel=1e-12)
    assert g.expected_seconds == pytest.approx(
        ref.expected_wall(
            {
                "mtbf": g.mtbf,
                "restart": g.restart,
                "checkpoint_write": g.checkpoint_write,
                "interval": g.interval,
            },
            g.work,
        ),
        rel=1e-12,
    )
    runs = np.array(g.simulated_seconds)
    assert abs(runs.mean() - g.expected_seconds) < 5 * runs.std() / math.sqrt(len(runs))
    assert g.young_interval == pytest.approx(math.sqrt(2 * g.checkpoint_write * g.mtbf), rel=1e-12)
    # Daly's optimum beats intervals twice and half as long.
    for tau in (g.interval * 2, g.interval / 2):
        assert (
            bw.goodput(g.work, gpus=16384, interval=tau).productive_fraction < g.productive_fraction
        )
    same = bw.goodput(40 * 86400.0, gpus=16384, trials=2000, seed=3)
    assert same.simulated_seconds == g.simulated_seconds
    with pytest.raises(ValidationError, match="gpus"):
        bw.goodput(1000.0)


def test_seed_claim_is_its_plans_step() -> None:
    from brickwall.claims import reproduce
    from brickwall.claims.training import seed_plan_search

    (c,) = reproduce("plan.gpt4.mfu")
    best = seed_plan_search().best
    assert best.plan.tp == 8 and best.plan.pp == 15 and best.gpus == 24_960
    assert 59e6 < best.plan.batch_tokens <= 60e6 and best.fits
    assert c.computed_value == bw.plan_step(bw.model("gpt4-moe-1.8t"), "A100-40GB", best.plan).mfu


def test_train_command_plans_search_and_plots(tmp_path: Path) -> None:
    import json

    from brickwall.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    args = ["train", "llama3.1-70b", "-H", "H100-SXM", "--gpus", "512", "--tokens", "1e12"]
    r = runner.invoke(app, [*args, "--tp", "8", "--pp", "4", "--trials", "200", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    plan = bw.TrainingPlan(**{k: v for k, v in d["plan"].items()})
    again = bw.plan_step(bw.model("llama3.1-70b"), "H100-SXM", plan)
    assert d["mfu"] == again.mfu and d["plan"]["dp"] == 16
    assert d["days_no_failures"] == pytest.approx(1e12 / again.tokens_per_s / 86400, rel=1e-12)
    assert 0 < d["goodput"]["productive_fraction"] < 1 and "simulated_days" in d["goodput"]
    r = runner.invoke(app, [*args, "--search", "--top", "3", "--plot", str(tmp_path / "t.png")])
    assert r.exit_code == 0, r.output
    assert "other plans" in r.stdout and (tmp_path / "t.png").stat().st_size > 10_000
    assert (tmp_path / "t-frontier.png").stat().st_size > 10_000
    r = runner.invoke(
        app, [*args, "--tp", "8", "--pp", "4", "--cp", "2", "--offload", "--trials", "0", "--json"]
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["plan"]["cp"] == 2 and d["plan"]["offload"] and d["plan"]["dp"] == 8
    assert d["mem_optimizer"] == 0 and d["t_offload"] > 0
    r = runner.invoke(app, [*args, "--tp", "3"])
    assert r.exit_code != 0 and "tp" in r.output


def test_seed_goodput_claim_is_goodputs() -> None:
    from brickwall.claims import reproduce
    from brickwall.claims.seed import SEED_TOKENS
    from brickwall.claims.training import seed_plan_search

    (c,) = reproduce("plan.gpt4.goodput")
    g = bw.goodput(seed_plan_search().best, tokens=SEED_TOKENS)
    assert c.computed_value == g.productive_fraction
    assert g.mtbf == pytest.approx(3600 / (24_960 * 419 / (54 * 24 * 16384)), rel=1e-12)


def test_uneven_stages_price_the_busiest() -> None:
    # Llama 3.1 405B: 126 layers and the head (~0.65 layers of GEMMs) on 16 stages: balance_layers
    # gives stage 0 seven layers and stage 1 eight, which binds (8 layers x 15 in flight).
    m = bw.model("llama3.1-405b")
    plan = bw.TrainingPlan(tp=8, pp=16, dp=4, microbatch=1, global_batch=64, seq_len=8192, zero=1)
    s = bw.plan_step(m, "H100-SXM", plan)
    vh = m.vocab * m.d_model
    tail = vh / ((m.matmul_params_active - vh) / m.layers)
    split = list(_core.pipeline_balance_layers(np.ones(m.layers), 16, 0.0, tail))
    per_layer = 8192 * m.d_model / 8 * 34  # Korthikanti Table 2, TP + SP + selective
    at = int(s.mem_stage)
    assert split[:2] == [7, 8] and at in (0, 1)
    assert s.mem_activations == pytest.approx(per_layer * split[at] * (16 - at), rel=1e-12)
    even = bw.plan_step(
        m, "H100-SXM", bw.TrainingPlan(**{**plan.as_dict(), "pp": 14, "global_batch": 56})
    )
    assert even.t_forward > s.t_forward  # 9 layers a stage vs 8


def test_context_parallelism_fp8_and_offload() -> None:
    m = bw.model("llama3.1-70b")
    base = dict(tp=8, pp=4, dp=2, microbatch=1, global_batch=32, seq_len=32768, recompute="full")
    one = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(**base))  # type: ignore[arg-type]
    two = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(cp=2, **base))  # type: ignore[arg-type]
    assert two.gpus == 2 * one.gpus and two.mem_stage == one.mem_stage
    assert two.mem_activations == pytest.approx(one.mem_activations / 2, rel=1e-12)
    assert two.t_cp_comm > 0 and one.t_cp_comm == 0
    with pytest.raises(ValidationError, match="seq_len"):
        bw.TrainingPlan(cp=3, seq_len=4096)
    # fp8: the GEMMs at the fp8 peak, attention in bf16; refused where the chip has no fp8.
    f8 = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(precision="fp8", **base))  # type: ignore[arg-type]
    assert one.step_time / 2 < f8.step_time < one.step_time
    with pytest.raises(ValidationError, match="precision.*fp8.*A100"):
        bw.plan_step(m, "A100-80GB", bw.TrainingPlan(precision="fp8", **base))  # type: ignore[arg-type]
    # Offload: no optimizer states on the GPU; 12 bytes a parameter over the host link.
    off = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(offload=True, **base))  # type: ignore[arg-type]
    assert off.mem_optimizer == 0 and off.mem_total < one.mem_total
    h = bw.hardware("H100-SXM")
    shard = one.t_optimizer * h.memory_bandwidth * h.efficiency.memory / 28
    assert off.t_offload == pytest.approx(
        shard * 12 / (h.host_bandwidth * h.efficiency.network),
        rel=1e-12,  # type: ignore[operator]
    )
    with pytest.raises(ValidationError, match="offload.*host_bandwidth"):
        bw.plan_step(m, "B200", bw.TrainingPlan(offload=True, **base))  # type: ignore[arg-type]


def test_model_flops_are_model_pys_count() -> None:
    m = bw.model("llama3.1-8b")
    plan = bw.TrainingPlan(tp=2, pp=2, dp=2, microbatch=1, global_batch=16, seq_len=4096)
    s = bw.plan_step(m, "H100-SXM", plan)
    per_token = m.training_flops_per_token(4096)
    assert s.model_flops == pytest.approx(per_token * plan.batch_tokens, rel=1e-12)
    r = bw.training_run(m, 1e12, "H100-SXM", gpus=8, mfu=0.4, seq_len=4096)
    assert r.total_flops == pytest.approx(per_token * 1e12, rel=1e-12)
    assert r.seconds == pytest.approx(r.total_flops / (8 * 989.4e12 * 0.4), rel=1e-12)


def test_the_last_stage_holds_the_head_and_logits() -> None:
    m = bw.model("llama3.1-8b")
    base = dict(tp=2, pp=1, dp=1, microbatch=4, global_batch=4, seq_len=4096, zero=0)
    s = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(**base))  # type: ignore[arg-type]
    # One stage: the logits of one microbatch in fp32, vocab-parallel over tp: 4 b s V / t.
    assert s.mem_stage == 0
    assert s.mem_logits == pytest.approx(4 * 4 * 4096 * m.vocab / 2, rel=1e-12)
    # Four stages: the head's stage gets fewer layers (balance_layers), the first binds memory.
    four = bw.plan_step(m, "H100-SXM", bw.TrainingPlan(**{**base, "pp": 4}))  # type: ignore[arg-type]
    assert four.mem_stage == 0 and four.mem_logits == 0


def test_search_on_an_executor_is_the_local_search() -> None:
    from concurrent.futures import ThreadPoolExecutor

    m = bw.model("llama3.1-8b")
    kw: dict[str, Any] = dict(cp=(1, 2), objectives=("step_time", "memory"), keep="pareto")
    local = bw.search_plans(m, "H100-SXM", 64, 256, 4096, **kw)
    with ThreadPoolExecutor(3) as ex:
        spread = bw.search_plans(m, "H100-SXM", 64, 256, 4096, executor=ex, parts=7, **kw)
    assert spread.steps == local.steps
    assert (spread.points, spread.evaluated, spread.feasible) == (
        local.points,
        local.evaluated,
        local.feasible,
    )
    top = bw.search_plans(m, "H100-SXM", 64, 256, 4096, k=4)
    with ThreadPoolExecutor(2) as ex:
        assert bw.search_plans(m, "H100-SXM", 64, 256, 4096, k=4, executor=ex).steps == top.steps
