"""Hypothesis strategies for valid brickwall objects, shared by every test module."""

from __future__ import annotations

import brickwall as bw
from hypothesis import strategies as st

catalog_models = st.sampled_from(bw.model_names()).map(bw.model)
catalog_hardware = st.sampled_from(bw.hardware_names()).map(bw.hardware)


@st.composite
def models(draw: st.DrawFn) -> bw.Model:
    """Random valid dense or MoE transformers of modest size."""
    heads = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    kv = draw(st.sampled_from([d for d in (1, 2, 4, 8, 16, 32) if heads % d == 0]))
    layers = draw(st.integers(1, 64))
    moe = draw(st.booleans())
    experts = draw(st.integers(2, 64)) if moe else 0
    first_dense = draw(st.integers(0, layers - 1)) if moe else 0
    return bw.Model(
        name="random",
        layers=layers,
        d_model=draw(st.integers(1, 64)) * 64,
        heads=heads,
        kv_heads=kv,
        head_dim=draw(st.sampled_from([32, 64, 128, 256])),
        vocab=draw(st.integers(1000, 200_000)),
        d_ff=draw(st.integers(1, 64)) * 128,
        ffn=draw(st.sampled_from(["gated", "mlp"])),
        experts=experts,
        top_k=draw(st.integers(1, experts)) if moe else 0,
        d_ff_expert=draw(st.integers(1, 32)) * 128 if moe else 0,
        shared_experts=draw(st.integers(0, 2)) if moe else 0,
        first_dense_layers=first_dense,
        tied_embeddings=draw(st.booleans()),
        max_context=draw(st.sampled_from([2048, 8192, 131072])),
    )
