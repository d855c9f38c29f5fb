"""Transformer shapes -> exact parameter, FLOP and KV-cache accounting.

A :class:`Model` is a frozen description of a decoder-only transformer, dense or Mixture of
Experts. Counting is exact integer arithmetic from the shapes; nothing assumes
``head_dim = d_model / heads``. Catalog entries live in ``catalog/models.toml``; Hugging Face
``config.json`` files are read by :func:`brickwall.readers.from_hf_config` (readers of outside
formats import this module; it imports none of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from . import catalog
from .errors import invalid, wrong_type
from .units import dtype_bytes
from .validate import boolean, choice, integer

MAX_LAYERS = 1_000_000  #: far above any real model; keeps counts and FLOPs finite
MAX_SIZE = 1 << 40  #: bound on widths, heads, vocab and context

ATTENTION_KINDS = ("mha", "gqa", "mqa", "mla")
FFN_KINDS = ("gated", "mlp")
NORM_KINDS = ("rmsnorm", "layernorm")


@dataclass(frozen=True, slots=True)
class ParamCounts:
    """Parameters by component (exact integers) and the subset used per token."""

    embedding: int  #: input token (+ learned position) embeddings
    attention: int  #: all attention projections (+ MLA latent norms), all layers
    dense_ffn: int  #: FFNs of dense layers
    routed_experts: int  #: all routed experts of all MoE layers
    shared_experts: int  #: always-on shared experts of MoE layers
    router: int  #: gating matrices
    norms: int
    output_head: int  #: 0 when tied to the input embedding
    routed_experts_active: int  #: the top-k routed experts one token uses, all MoE layers

    @property
    def total(self) -> int:
        return (
            self.embedding
            + self.attention
            + self.dense_ffn
            + self.routed_experts
            + self.shared_experts
            + self.router
            + self.norms
            + self.output_head
        )

    @property
    def active(self) -> int:
        """Parameters one token touches (input embedding row counted as a whole table, as
        DeepSeek and Mixtral report it)."""
        return self.total - self.routed_experts + self.routed_experts_active

    @property
    def active_non_embedding(self) -> int:
        """Active parameters without the input embedding (OpenAI's gpt-oss convention)."""
        return self.active - self.embedding

    def as_dict(self) -> dict[str, int]:
        d = asdict(self)
        d["total"], d["active"] = self.total, self.active
        return d


@dataclass(frozen=True, slots=True)
class Model:
    """A decoder-only transformer.

    Attention: ``mha`` (kv_heads = heads), ``gqa`` (heads divisible by kv_heads), ``mqa``
    (kv_heads = 1) or ``mla`` (DeepSeek multi-head latent attention: the cache holds a
    ``kv_lora_rank`` latent plus a ``qk_rope_dim`` key per token and layer). For MLA
    ``head_dim`` is the non-rotary query/key size. FFN: ``gated`` (3 matrices, SwiGLU/GeGLU) or
    ``mlp`` (2 matrices). MoE: ``experts`` routed experts of width ``d_ff_expert``, ``top_k``
    per token, ``shared_experts`` always on; layer ``i`` is MoE when ``i >= first_dense_layers``
    and ``i % moe_every == 0``.
    """

    name: str
    layers: int
    d_model: int
    heads: int
    head_dim: int
    vocab: int
    kv_heads: int = 0  #: 0 (or None): equal to heads
    attention: str | None = None
    kv_lora_rank: int = 0
    q_lora_rank: int = 0
    qk_rope_dim: int = 0
    v_head_dim: int = 0  #: 0 (or None): equal to head_dim
    ffn: str = "gated"
    d_ff: int = 0
    experts: int = 0
    top_k: int = 0
    shared_experts: int = 0
    d_ff_expert: int = 0
    d_ff_shared: int = 0  #: 0 (or None): equal to d_ff_expert
    first_dense_layers: int = 0
    moe_every: int = 1
    tied_embeddings: bool = False
    max_context: int = 2048
    norm: str = "rmsnorm"
    linear_bias: bool = False
    qkv_bias: bool = False
    learned_positions: bool = False
    source: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        set_ = self._set
        if not isinstance(self.name, str) or not self.name:
            raise invalid("Model.name", self.name, "a non-empty string")
        # Bounds far above any real model keep every count (and FLOPs) finite.
        set_("layers", integer("Model.layers", self.layers, maximum=MAX_LAYERS))
        for f in ("d_model", "heads", "head_dim", "vocab", "max_context", "moe_every"):
            set_(f, integer(f"Model.{f}", getattr(self, f), maximum=MAX_SIZE))
        for f in (
            "kv_lora_rank",
            "q_lora_rank",
            "qk_rope_dim",
            "d_ff",
            "experts",
            "top_k",
            "shared_experts",
            "d_ff_expert",
            "first_dense_layers",
        ):
            set_(f, integer(f"Model.{f}", getattr(self, f), minimum=0, maximum=MAX_SIZE))
        for f in ("tied_embeddings", "linear_bias", "qkv_bias", "learned_positions"):
            set_(f, boolean(f"Model.{f}", getattr(self, f)))
        for f in ("source", "notes"):
            if not isinstance(getattr(self, f), str):
                raise wrong_type(f"Model.{f}", getattr(self, f), "a string")
        set_("ffn", choice("Model.ffn", self.ffn, FFN_KINDS))
        set_("norm", choice("Model.norm", self.norm, NORM_KINDS))
        set_(
            "v_head_dim",
            integer("Model.v_head_dim", self.v_head_dim or self.head_dim, maximum=MAX_SIZE),
        )
        if not self.d_ff_shared:
            set_("d_ff_shared", self.d_ff_expert)
        set_(
            "d_ff_shared",
            integer("Model.d_ff_shared", self.d_ff_shared, minimum=0, maximum=MAX_SIZE),
        )
        self._check_attention(set_)
        self._check_moe()

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # validation normalises a frozen dataclass's fields

    def _check_attention(self, set_: Callable[[str, Any], None]) -> None:
        kv = (
            integer("Model.kv_heads", self.kv_heads, maximum=MAX_SIZE)
            if self.kv_heads
            else self.heads
        )
        set_("kv_heads", kv)
        if kv > self.heads or self.heads % kv:
            raise invalid("Model.kv_heads", kv, f"a divisor of heads = {self.heads}")
        if self.attention is None:
            kind = (
                "mla"
                if self.kv_lora_rank
                else "mha"
                if kv == self.heads
                else "mqa"
                if kv == 1
                else "gqa"
            )
        else:
            kind = choice("Model.attention", self.attention, ATTENTION_KINDS)
        set_("attention", kind)
        expect = {
            "mha": kv == self.heads,
            "mqa": kv == 1,
            "gqa": True,
            "mla": self.kv_lora_rank > 0,
        }
        if not expect[kind]:
            need = {
                "mha": f"kv_heads = heads = {self.heads}",
                "mqa": "kv_heads = 1",
                "mla": "kv_lora_rank > 0",
            }[kind]
            raise invalid(
                "Model.attention", kind, f"an attention kind matching the shapes ({need})"
            )
        if kind != "mla" and (self.kv_lora_rank or self.q_lora_rank):
            raise invalid("Model.kv_lora_rank", self.kv_lora_rank, "0 unless attention = 'mla'")

    def _check_moe(self) -> None:
        if self.experts:
            if not 1 <= self.top_k <= self.experts:
                raise invalid("Model.top_k", self.top_k, f"1 <= top_k <= experts = {self.experts}")
            if self.d_ff_expert < 1:
                raise invalid("Model.d_ff_expert", self.d_ff_expert, ">= 1 for a MoE model")
            if self.moe_layers == 0:
                raise invalid(
                    "Model.first_dense_layers",
                    self.first_dense_layers,
                    f"< layers = {self.layers} so that some layer is MoE",
                )
            if self.shared_experts and self.d_ff_shared < 1:
                raise invalid("Model.d_ff_shared", self.d_ff_shared, ">= 1 with shared experts")
        elif self.top_k or self.shared_experts:
            raise invalid("Model.experts", 0, ">= 1 when top_k or shared_experts is set")
        if self.dense_layers and self.d_ff < 1:
            raise invalid("Model.d_ff", self.d_ff, f">= 1: {self.dense_layers} layers are dense")

    # -- structure -------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def moe_layers(self) -> int:
        if not self.experts:
            return 0
        # Multiples of moe_every in [first_dense_layers, layers), in closed form.
        m = self.moe_every
        return max(0, -(-self.layers // m) - -(-self.first_dense_layers // m))

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def qk_head_dim(self) -> int:
        return self.head_dim + self.qk_rope_dim

    def _ffn_params(self, width: int) -> int:
        d = self.d_model
        if self.ffn == "gated":
            return 3 * d * width + (2 * width + d if self.linear_bias else 0)
        return 2 * d * width + (width + d if self.linear_bias else 0)

    @property
    def norm_params(self) -> int:
        return self.d_model * (2 if self.norm == "layernorm" else 1)

    @property
    def attention_params_per_layer(self) -> int:
        d, h = self.d_model, self.heads
        if self.attention == "mla":
            q_out = h * self.qk_head_dim
            q = (
                (d * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * q_out)
                if self.q_lora_rank
                else d * q_out
            )
            kv = d * (self.kv_lora_rank + self.qk_rope_dim) + self.kv_lora_rank
            kv += self.kv_lora_rank * h * (self.head_dim + self.v_head_dim)
            return q + kv + h * self.v_head_dim * d
        q, k, v = h * self.head_dim, self.kv_heads * self.head_dim, self.kv_heads * self.v_head_dim
        weights = d * (q + k + v) + h * self.v_head_dim * d
        bias = (q + k + v + d) if self.linear_bias else (q + k + v) if self.qkv_bias else 0
        return weights + bias

    @property
    def expert_params_per_layer(self) -> int:
        """Parameters of one routed expert in one MoE layer."""
        return self._ffn_params(self.d_ff_expert) if self.experts else 0

    @property
    def params(self) -> ParamCounts:
        d, n_moe = self.d_model, self.moe_layers
        embedding = self.vocab * d + (self.max_context * d if self.learned_positions else 0)
        return ParamCounts(
            embedding=embedding,
            attention=self.layers * self.attention_params_per_layer,
            dense_ffn=self.dense_layers * self._ffn_params(self.d_ff),
            routed_experts=n_moe * self.experts * self.expert_params_per_layer,
            shared_experts=n_moe * self.shared_experts * self._ffn_params(self.d_ff_shared),
            router=n_moe * d * self.experts,
            norms=(2 * self.layers + 1) * self.norm_params,
            output_head=0 if self.tied_embeddings else self.vocab * d,
            routed_experts_active=n_moe * self.top_k * self.expert_params_per_layer,
        )

    # -- FLOPs and KV cache ----------------------------------------------------------------
    @property
    def matmul_params_active(self) -> int:
        """Parameters that take part in a matrix product per token (the output head counts
        even when tied; embeddings lookups and norms do not)."""
        p = self.params
        return p.active - p.embedding - p.norms + self.vocab * self.d_model * self.tied_embeddings

    @property
    def attention_flops_per_context_token(self) -> int:
        """Forward FLOPs one token spends per earlier token it attends to (QK^T and AV), all layers."""
        return 2 * self.layers * self.heads * (self.qk_head_dim + self.v_head_dim)

    def flops_per_token(self, context: int = 0) -> float:
        """Forward FLOPs for one token attending to ``context`` tokens: 2 x matmul params plus
        the attention term 2 L H (d_qk + d_v) context (Kaplan et al. 2020; PaLM App. B)."""
        c = integer("context", context, minimum=0)
        return float(2 * self.matmul_params_active + self.attention_flops_per_context_token * c)

    def training_flops_per_token(self, seq_len: int, *, attention: bool = True) -> float:
        """Model FLOPs of training per token of ``seq_len``-token sequences: 3 x the forward
        (the backward is twice it), i.e. 6 x the parameters in matrix products plus, with
        ``attention``, 3 x the causal attention term averaged over the positions,
        ``attention_flops_per_context_token x (seq_len + 1) / 2``. The MFU convention of
        ``training_run`` and the plan step (the core computes the same count from the cost
        view); recomputation is not counted (that is HFU)."""
        s = integer("seq_len", seq_len, minimum=0)
        attn = self.attention_flops_per_context_token * (s + 1) / 2 if attention else 0.0
        return 3.0 * (2 * self.matmul_params_active + attn)

    @property
    def kv_elements_per_token(self) -> int:
        """Cached elements per token, all layers: MHA:GQA:MQA = heads:groups:1; MLA latent + rope key."""
        if self.attention == "mla":
            return self.layers * (self.kv_lora_rank + self.qk_rope_dim)
        return self.layers * self.kv_heads * (self.head_dim + self.v_head_dim)

    def kv_bytes_per_token(self, dtype: str = "bf16") -> float:
        return self.kv_elements_per_token * dtype_bytes(dtype, "kv dtype")

    def kv_cache_bytes(self, batch: int, context: int, dtype: str = "bf16") -> float:
        """Bytes of KV cache for ``batch`` sequences of ``context`` tokens."""
        b = integer("batch", batch)
        c = integer("context", context, minimum=0)
        return self.kv_bytes_per_token(dtype) * b * c

    def weight_bytes(self, dtype: str = "bf16") -> float:
        return self.params.total * dtype_bytes(dtype, "weight dtype")

    def with_(self, **changes: Any) -> Model:
        return replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        p = self.params
        return {
            "name": self.name,
            "params": p.as_dict(),
            "flops_per_token": self.flops_per_token(0),
            "kv_bytes_per_token_16bit": self.kv_bytes_per_token("bf16"),
            "shape": {
                f.name: getattr(self, f.name)
                for f in fields(self)
                if f.name not in ("name", "source", "notes")
            },
            "source": self.source,
            "notes": self.notes,
        }


def model_names() -> list[str]:
    return list(catalog.load("models"))


def model(name: str, **overrides: Any) -> Model:
    """The catalog model ``name`` (case-insensitive), with optional field overrides.

    >>> round(model("deepseek-v3").params.active / 1e9, 1)
    37.6
    """
    entries = catalog.load("models")
    key = catalog.lookup("model", entries, name)
    entry = {k: v for k, v in entries[key].items() if k != "official"}
    return Model(name=key, **{**entry, **overrides})


def official_counts(name: str) -> dict[str, float]:
    """Publicly reported parameter counts of a catalog model (for comparison only)."""
    entries = catalog.load("models")
    return dict(entries[catalog.lookup("model", entries, name)].get("official", {}))


__all__ = ["Model", "ParamCounts", "model", "model_names", "official_counts"]
