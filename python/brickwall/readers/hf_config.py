"""Read a Hugging Face ``config.json`` into a :class:`~brickwall.model.Model`.

Each supported ``model_type`` maps its field names onto Model's; a missing required field or a
contradiction (e.g. heads not divisible by kv heads) is an error that names the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnknownNameError, ValidationError, invalid, wrong_type
from ..model import Model
from ..validate import boolean, integer


class _Fields:
    """Typed access to a config dict that names the field on failure."""

    def __init__(self, cfg: dict[str, Any], where: str) -> None:
        self.cfg, self.where = cfg, where

    def raw(self, *names: str) -> tuple[str, Any]:
        for n in names:
            if self.cfg.get(n) is not None:
                return n, self.cfg[n]
        raise ValidationError(f"{self.where}: missing field {' / '.join(names)}")

    def req(self, *names: str) -> int:
        """A required integer >= 1 (JSON 8.0 accepted; 4096.7, "8", true refused)."""
        n, v = self.raw(*names)
        return integer(f"{self.where}.{n}", v)

    def opt(self, name: str, default: Any, minimum: int = 0) -> Any:
        """An optional field, checked against its default's type: a bool default wants a JSON
        boolean ("false" is truthy), an int default an integer >= minimum."""
        v = self.cfg.get(name)
        if v is None:
            return default
        if isinstance(default, bool):
            return boolean(f"{self.where}.{name}", v)
        if isinstance(default, int):
            return integer(f"{self.where}.{name}", v, minimum=minimum)
        return v

    def sub(self, name: str) -> _Fields:
        _, v = self.raw(name)
        if not isinstance(v, dict):
            raise invalid(f"{self.where}.{name}", v, "an object")
        return _Fields(v, f"{self.where}.{name}")


def _head_dim(f: _Fields, d: int, heads: int) -> int:
    hd = f.opt("head_dim", None)
    if hd is not None:
        return integer(f"{f.where}.head_dim", hd)
    if d % heads:
        raise invalid(
            f"{f.where}.hidden_size",
            d,
            f"a multiple of num_attention_heads = {heads} (or give head_dim)",
        )
    return d // heads


def _llama_like(f: _Fields, qkv_bias: bool = False) -> dict[str, Any]:
    d, heads = (f.req("hidden_size")), (f.req("num_attention_heads"))
    return dict(
        layers=f.req("num_hidden_layers"),
        d_model=d,
        heads=heads,
        kv_heads=f.opt("num_key_value_heads", heads, minimum=1),
        head_dim=_head_dim(f, d, heads),
        vocab=f.req("vocab_size"),
        max_context=f.opt("max_position_embeddings", 2048),
        tied_embeddings=(f.opt("tie_word_embeddings", False)),
        qkv_bias=(f.opt("attention_bias", qkv_bias)),
        d_ff=f.req("intermediate_size"),
    )


def _mixtral(f: _Fields) -> dict[str, Any]:
    out = _llama_like(f)
    out.update(
        d_ff=0,
        d_ff_expert=out["d_ff"],
        experts=f.req("num_local_experts", "num_experts"),
        top_k=f.req("num_experts_per_tok", "experts_per_token"),
    )
    return out


def _qwen_moe(f: _Fields, qkv_bias: bool) -> dict[str, Any]:
    out = _llama_like(f, qkv_bias)
    step = int(f.opt("decoder_sparse_step", 1))
    if f.opt("mlp_only_layers", []):
        raise invalid(
            f"{f.where}.mlp_only_layers",
            f.cfg["mlp_only_layers"],
            "[] (dense exceptions are not modelled)",
        )
    if step != 1:
        raise invalid(f"{f.where}.decoder_sparse_step", step, "1 (every layer MoE)")
    shared = int(f.opt("shared_expert_intermediate_size", 0))
    out.update(
        experts=f.req("num_experts"),
        top_k=f.req("num_experts_per_tok"),
        d_ff_expert=f.req("moe_intermediate_size"),
        shared_experts=1 if shared else 0,
        d_ff_shared=shared,
    )
    return out


def _deepseek(f: _Fields) -> dict[str, Any]:
    d, heads = (f.req("hidden_size")), (f.req("num_attention_heads"))
    return dict(
        layers=f.req("num_hidden_layers"),
        d_model=d,
        heads=heads,
        vocab=f.req("vocab_size"),
        head_dim=f.req("qk_nope_head_dim"),
        qk_rope_dim=f.req("qk_rope_head_dim"),
        v_head_dim=f.req("v_head_dim"),
        kv_lora_rank=f.req("kv_lora_rank"),
        q_lora_rank=f.opt("q_lora_rank", 0),
        attention="mla",
        d_ff=f.req("intermediate_size"),
        experts=f.req("n_routed_experts"),
        top_k=f.req("num_experts_per_tok"),
        shared_experts=f.opt("n_shared_experts", 0),
        d_ff_expert=f.req("moe_intermediate_size"),
        first_dense_layers=f.opt("first_k_dense_replace", 0),
        moe_every=f.opt("moe_layer_freq", 1),
        max_context=f.opt("max_position_embeddings", 4096),
        tied_embeddings=(f.opt("tie_word_embeddings", False)),
    )


def _gpt2(f: _Fields) -> dict[str, Any]:
    d, heads = (f.req("n_embd")), (f.req("n_head"))
    return dict(
        layers=f.req("n_layer"),
        d_model=d,
        heads=heads,
        head_dim=_head_dim(f, d, heads),
        d_ff=f.opt("n_inner", 4 * d),
        ffn="mlp",
        vocab=f.req("vocab_size"),
        max_context=f.opt("n_positions", 1024),
        norm="layernorm",
        linear_bias=True,
        learned_positions=True,
        tied_embeddings=(f.opt("tie_word_embeddings", True)),
    )


def _neox(f: _Fields) -> dict[str, Any]:
    d, heads = (f.req("hidden_size")), (f.req("num_attention_heads"))
    return dict(
        layers=f.req("num_hidden_layers"),
        d_model=d,
        heads=heads,
        head_dim=_head_dim(f, d, heads),
        d_ff=f.req("intermediate_size"),
        ffn="mlp",
        vocab=f.req("vocab_size"),
        max_context=f.opt("max_position_embeddings", 2048),
        norm="layernorm",
        linear_bias=True,
        tied_embeddings=(f.opt("tie_word_embeddings", False)),
    )


def _falcon(f: _Fields) -> dict[str, Any]:
    d, heads = (f.req("hidden_size")), (f.req("num_attention_heads", "n_head"))
    if f.opt("new_decoder_architecture", False):
        kv = f.req("num_kv_heads", "n_head_kv")
    else:
        kv = 1 if f.opt("multi_query", True) else heads
    return dict(
        layers=f.req("num_hidden_layers", "n_layer"),
        d_model=d,
        heads=heads,
        kv_heads=kv,
        head_dim=_head_dim(f, d, heads),
        d_ff=f.opt("ffn_hidden_size", 4 * d),
        ffn="mlp",
        vocab=f.req("vocab_size"),
        max_context=f.opt("max_position_embeddings", 2048),
        norm="layernorm",
        linear_bias=(f.opt("bias", False)),
        tied_embeddings=(f.opt("tie_word_embeddings", True)),
    )


def _dbrx(f: _Fields) -> dict[str, Any]:
    attn, ffn = f.sub("attn_config"), f.sub("ffn_config")
    d, heads = (f.req("d_model")), (f.req("n_heads"))
    return dict(
        layers=f.req("n_layers"),
        d_model=d,
        heads=heads,
        kv_heads=attn.req("kv_n_heads"),
        head_dim=_head_dim(f, d, heads),
        vocab=f.req("vocab_size"),
        max_context=f.opt("max_seq_len", 2048),
        experts=ffn.req("moe_num_experts"),
        top_k=ffn.req("moe_top_k"),
        d_ff_expert=ffn.req("ffn_hidden_size"),
        norm="layernorm",
        tied_embeddings=(f.opt("tie_word_embeddings", False)),
    )


def _gpt_oss(f: _Fields) -> dict[str, Any]:
    out = _llama_like(f, qkv_bias=True)
    out.update(
        d_ff=0,
        d_ff_expert=out["d_ff"],
        experts=f.req("num_local_experts", "num_experts"),
        top_k=f.req("num_experts_per_tok", "experts_per_token"),
    )
    return out


_READERS: dict[str, Callable[[_Fields], dict[str, Any]]] = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": lambda f: _llama_like(f, qkv_bias=True),
    "qwen3": _llama_like,
    "mixtral": _mixtral,
    "qwen2_moe": lambda f: _qwen_moe(f, qkv_bias=True),
    "qwen3_moe": lambda f: _qwen_moe(f, qkv_bias=False),
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "gpt2": _gpt2,
    "gpt_neox": _neox,
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "dbrx": _dbrx,
    "gpt_oss": _gpt_oss,
}

SUPPORTED = tuple(_READERS)


def from_hf_config(
    config: str | os.PathLike[str] | dict[str, Any], name: str | None = None
) -> Model:
    """A Model from a Hugging Face ``config.json`` path, or its parsed dict.

    Supported ``model_type``: llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe,
    deepseek_v2, deepseek_v3, gpt2, gpt_neox, falcon, dbrx, gpt_oss.
    """
    if isinstance(config, dict):
        cfg, where = config, "config"
    elif isinstance(config, (str, os.PathLike)):
        path = Path(config)
        try:
            cfg = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise ValidationError(f"config = {str(path)!r}: no such file") from e
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise ValidationError(f"config = {str(path)!r}: not valid JSON ({e})") from e
        except OSError as e:  # a directory, no permission, ...
            raise ValidationError(f"config = {str(path)!r}: cannot read ({e.strerror})") from e
        where = path.name
    else:
        raise wrong_type("config", config, "a path to config.json or its parsed dict")
    if not isinstance(cfg, dict):
        raise invalid("config", type(cfg).__name__, "a JSON object")
    kind = cfg.get("model_type")
    if not isinstance(kind, str) or kind not in _READERS:
        raise UnknownNameError(
            f"{where}.model_type = {kind!r}: unsupported architecture; supported: {', '.join(SUPPORTED)}"
        )
    fields = _READERS[kind](_Fields(cfg, where))
    return Model(name=_label(cfg, kind, name), source=f"Hugging Face config ({where})", **fields)


def _label(cfg: dict[str, Any], kind: str, name: str | None) -> str:
    """The caller's name, else ``_name_or_path``, else the first architecture, else the kind."""
    if name is not None:
        if not isinstance(name, str) or not name:
            raise wrong_type("name", name, "a non-empty string")
        return name
    path = cfg.get("_name_or_path")
    if isinstance(path, str) and path:
        return path
    arch = cfg.get("architectures")
    if arch is None or (isinstance(arch, list) and not arch):
        return kind
    if not (isinstance(arch, list) and all(isinstance(a, str) and a for a in arch)):
        raise invalid("config.architectures", arch, "a list of class names")
    return str(arch[0])


__all__ = ["SUPPORTED", "from_hf_config"]
