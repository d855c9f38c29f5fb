"""The article's setting, shared by the topic modules: its models, batch, data and prices."""

from __future__ import annotations

from ..model import Model, model

TOKENS_PER_WORD = 2.0  # the article's rates imply 2 tokens per word
SEED_TOKENS = 13e12
SEED_BATCH_TOKENS = 60e6
SEED_A100_PRICE, SEED_H100_PRICE = 1.0, 2.0  # USD per GPU-hour, as the article assumes


def gpt4() -> Model:
    return model("gpt4-moe-1.8t")


def dense(params: float) -> Model:
    """A dense, GPT-3-shaped model scaled to about ``params`` parameters (12 L d^2 with
    L = d/128)."""
    d = 128 * round((params / 12 / (1 / 128)) ** (1 / 3) / 128)
    layers = max(1, round(d / 128))
    return Model(
        name=f"dense-{params / 1e12:g}T",
        layers=layers,
        d_model=d,
        heads=d // 128,
        head_dim=128,
        d_ff=4 * d,
        ffn="mlp",
        vocab=50257,
        max_context=8192,
    )


__all__ = [
    "SEED_A100_PRICE",
    "SEED_BATCH_TOKENS",
    "SEED_H100_PRICE",
    "SEED_TOKENS",
    "TOKENS_PER_WORD",
    "dense",
    "gpt4",
]
