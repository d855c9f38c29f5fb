import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import brickwall as bw
from brickwall.errors import BrickwallError, BrickwallTypeError, ValidationError
from brickwall.model import official_counts

from .strategies import catalog_models, models


@pytest.mark.parametrize("name", bw.model_names())
def test_catalog_counts_match_official(name: str) -> None:
    m, off = bw.model(name), official_counts(name)
    tol = off.get("tolerance", 0.02)
    assert abs(m.params.total / off["total"] - 1) <= tol
    if "active" in off:
        assert abs(m.params.active / off["active"] - 1) <= max(
            tol, 0.04 if name == "deepseek-v2" else tol
        )
    if "active_non_embedding" in off:
        assert abs(m.params.active_non_embedding / off["active_non_embedding"] - 1) <= tol


def test_known_exact_counts() -> None:
    # Llama-2-7B: 6,738,415,616 parameters, the count Hugging Face reports for the checkpoint.
    assert bw.model("llama2-7b").params.total == 6_738_415_616
    # By hand: 32 x (4 d^2 attention + 3 d d_ff FFN + 2 d norms) + 2 V d + d.
    d, ff, v = 4096, 11008, 32000
    assert (
        bw.model("llama2-7b").params.total == 32 * (4 * d * d + 3 * d * ff + 2 * d) + 2 * v * d + d
    )


def test_gpt4_seed_figures() -> None:
    m = bw.model("gpt4-moe-1.8t")
    assert 1.85e12 < m.params.total < 1.89e12
    assert 283e9 < m.params.active < 287e9
    per_expert = m.expert_params_per_layer * m.moe_layers
    assert abs(per_expert / 111e9 - 1) < 0.03  # seed: ~111B per expert
    assert abs(m.params.attention / 55e9 - 1) < 0.05  # seed: ~55B shared attention


def test_deepseek_v3_active_within_two_percent_of_37b() -> None:
    assert abs(bw.model("deepseek-v3").params.active / 37e9 - 1) < 0.02


def test_kv_cache_ratios_mha_gqa_mqa() -> None:
    base = bw.model("llama2-70b")
    mha, gqa, mqa = (base.with_(kv_heads=k, attention=None) for k in (64, 8, 1))
    b = mha.kv_bytes_per_token()
    assert (b / gqa.kv_bytes_per_token(), b / mqa.kv_bytes_per_token()) == (8, 64)
    assert mha.kv_bytes_per_token("bf16") == 2 * 80 * 64 * 128 * 2


def test_mla_cache_is_latent_plus_rope() -> None:
    v3 = bw.model("deepseek-v3")
    assert v3.kv_elements_per_token == 61 * (512 + 64)
    assert v3.kv_cache_bytes(batch=4, context=1000, dtype="fp8") == 4 * 1000 * 61 * 576


def test_flops_per_token_matches_kaplan_for_gpt3() -> None:
    m = bw.model("gpt3-175b")
    n_non_emb = 12 * m.layers * m.d_model**2
    approx = 2 * n_non_emb + 2 * m.layers * 2048 * m.d_model * 2  # QK and AV
    assert math.isclose(m.flops_per_token(2048), approx, rel_tol=0.01)


def test_palm_head_dim_is_not_d_over_h() -> None:
    m = bw.model("palm-540b")
    assert m.head_dim * m.heads != m.d_model
    assert m.kv_bytes_per_token("bf16") == 2 * 118 * 1 * 256 * 2


@given(catalog_models | models())
def test_accounting_invariants(m: bw.Model) -> None:
    p = m.params
    assert 0 < p.active <= p.total
    if not m.is_moe:
        assert p.active == p.total
    assert p.routed_experts_active * m.experts == p.routed_experts * m.top_k
    assert m.flops_per_token(0) < m.flops_per_token(1000)
    assert m.flops_per_token(0) == 2 * m.matmul_params_active
    assert m.kv_cache_bytes(3, 7) == 21 * m.kv_bytes_per_token()


BAD_FIELDS = [
    ("layers", 0),
    ("layers", -3),
    ("d_model", float("nan")),
    ("heads", float("inf")),
    ("head_dim", 1.5),
    ("vocab", "many"),
    ("kv_heads", 3),
    ("experts", -1),
    ("top_k", 9),
    ("attention", "mqa"),
    ("attention", "flash"),
    ("ffn", "swiglu"),
    ("norm", None),
    ("max_context", True),
    ("first_dense_layers", 32),
    ("d_ff", 0),
    ("q_lora_rank", -1),
]


@pytest.mark.parametrize("field,value", BAD_FIELDS)
def test_bad_model_fields_are_named(field: str, value: object) -> None:
    base = dict(name="x", layers=32, d_model=4096, heads=32, head_dim=128, vocab=32000, d_ff=11008)
    if field in ("top_k", "first_dense_layers"):
        base.update(experts=8, top_k=2, d_ff_expert=1024, d_ff=0)
    if field == "d_ff":
        base.update(experts=8, top_k=2, d_ff_expert=1024, first_dense_layers=1)
    with pytest.raises(BrickwallError) as info:
        bw.Model(**{**base, field: value})  # type: ignore[arg-type]
    assert isinstance(info.value, (ValueError, TypeError))
    assert field in str(info.value) or field.replace("_", "") in str(info.value)


@given(
    st.sampled_from(["layers", "d_model", "heads", "head_dim", "vocab", "max_context"]),
    st.one_of(
        st.integers(max_value=0),
        st.floats(allow_nan=True, allow_infinity=True).filter(
            lambda x: not x.is_integer() or x <= 0
        ),
        st.text(max_size=3),
        st.none(),
    ),
)
def test_invalid_fields_never_crash(field: str, value: object) -> None:
    with pytest.raises((ValidationError, BrickwallTypeError)):
        base = dict(name="x", layers=2, d_model=64, heads=2, head_dim=32, vocab=100, d_ff=128)
        bw.Model(**{**base, field: value})  # type: ignore[arg-type]


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(bw.errors.UnknownNameError, match="llama3.1-8b"):
        bw.model("llama3-8b")


def test_model_lookup_is_case_insensitive() -> None:
    assert bw.model("DeepSeek-V3").name == "deepseek-v3"
