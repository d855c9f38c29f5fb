"""The per-operator step model (rust/brickwall-core/src/step.rs) against its oracles, on the
Python reference: operator FLOPs are the model's forward FLOPs, weight operators read the weight
bytes, the sum of per-operator maxima bounds the aggregate roofline from above and equals it for a
single operator class."""

import math

import brickwall as bw
import pytest
from brickwall.deployment import chip_view, cost_view, plan_view
from brickwall.reference import roofline as ref
from hypothesis import given
from hypothesis import strategies as st

from .strategies import catalog_models


@given(catalog_models, st.integers(1, 512), st.integers(0, 8192))
def test_operator_flops_are_the_forward_flops(model: bw.Model, batch: int, context: int) -> None:
    d = bw.Deployment("H100-SXM", tp=1)
    ops = ref.operators(cost_view(model), plan_view(d), chip_view(d), batch, context, 1.0)
    total = sum(o["flops"] for o in ops)
    # One new token per sequence attends to `context` cached tokens and itself.
    want = batch * model.flops_per_token(context + 1)
    assert math.isclose(total, want, rel_tol=1e-12)


@given(catalog_models, st.integers(1, 512))
def test_weight_operators_read_the_weight_bytes(model: bw.Model, batch: int) -> None:
    d = bw.Deployment("H100-SXM", tp=1)
    mv, pv, cv = cost_view(model), plan_view(d), chip_view(d)
    ops = ref.operators(mv, pv, cv, batch, 0.0, 1.0)
    read = sum(o["memory_s"] for o in ops if o["class"] == "weights")
    agg = ref.aggregate_step(mv, pv, cv, batch, 0.0, 1.0)
    assert math.isclose(read, agg["t_weights"], rel_tol=1e-12)


@given(catalog_models, st.integers(1, 4096), st.integers(0, 65536), st.integers(1, 2048))
def test_sum_of_maxima_bounds_the_aggregate(model: bw.Model, b: int, c: int, n: int) -> None:
    d = bw.Deployment("A100-80GB", tp=1)
    mv, pv, cv = cost_view(model), plan_view(d), chip_view(d)
    agg = ref.aggregate_step(mv, pv, cv, b, c, n)
    per_op = ref.step(mv, pv, cv, b, c, n, ref.AGGREGATE_PROFILE)
    assert per_op["latency"] >= agg["latency"] * (1 - 1e-12)
    assert per_op["latency"] <= ref.step(mv, pv, cv, b, c, n)["latency"] * (1 + 1e-12)


def test_single_operator_class_reduces_to_the_aggregate() -> None:
    # Without attention and KV cache a dense model's step is its GEMMs alone.
    d = bw.Deployment("A100-80GB", tp=1)
    mv = {**cost_view(bw.model("llama2-7b")), "attn_flops_per_context_token": 0.0}
    mv["kv_elements_per_token"] = 0.0
    pv, cv = plan_view(d), chip_view(d)
    for batch in (1, 64, 4096):
        agg = ref.aggregate_step(mv, pv, cv, batch, 100.0, 1.0)
        one = ref.step(mv, pv, cv, batch, 100.0, 1.0, ref.AGGREGATE_PROFILE)
        assert one["latency"] == pytest.approx(agg["latency"], rel=1e-12)


def test_kernel_floors_and_sum_of_maxima_slow_the_step() -> None:
    # Llama-2-7B at batch 896 on H100: the GEMMs are compute-bound and attention KV-bound, so the
    # step costs about the sum of the two, well above the larger one (validation.md).
    m, d = bw.model("llama2-7b"), bw.Deployment("H100-SXM", tp=1)
    mv, pv, cv = cost_view(m), plan_view(d), chip_view(d)
    agg = ref.aggregate_step(mv, pv, cv, 896, 192.0, 1.0)
    per_op = ref.step(mv, pv, cv, 896, 192.0, 1.0)
    assert per_op["latency"] > 1.2 * agg["latency"]
