import json
from pathlib import Path

import pytest

import brickwall as bw
from brickwall.errors import UnknownNameError, ValidationError

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
SAME_AS_CATALOG = [
    "llama3.1-8b",
    "llama2-70b",
    "mixtral-8x7b",
    "deepseek-v2",
    "deepseek-v3",
    "qwen3-235b-a22b",
    "qwen2.5-72b",
    "falcon-180b",
    "dbrx",
    "gpt-oss-120b",
]


@pytest.mark.parametrize("name", SAME_AS_CATALOG)
def test_config_reads_like_catalog(name: str) -> None:
    got = bw.Model.from_hf_config(FIXTURES / f"{name}.json")
    want = bw.model(name)
    assert got.params == want.params
    assert got.kv_elements_per_token == want.kv_elements_per_token
    assert got.attention == want.attention


def test_gpt2_small_exact() -> None:
    assert bw.from_hf_config(FIXTURES / "gpt2.json").params.total == 124_439_808


def test_neox_pythia_160m_exact() -> None:
    assert bw.from_hf_config(FIXTURES / "gpt-neox-small.json").params.total == 162_322_944


def test_qwen2_moe_shared_expert() -> None:
    m = bw.from_hf_config(FIXTURES / "qwen2-moe-small.json")
    assert (m.experts, m.top_k, m.shared_experts, m.d_ff_shared) == (60, 4, 1, 5632)
    assert m.params.shared_experts == 24 * 3 * 2048 * 5632


def test_dict_input_and_unknown_architecture() -> None:
    cfg = json.loads((FIXTURES / "llama3.1-8b.json").read_text())
    assert bw.from_hf_config(cfg).params.total == bw.model("llama3.1-8b").params.total
    with pytest.raises(UnknownNameError, match="supported: llama"):
        bw.from_hf_config({**cfg, "model_type": "mamba"})


def test_missing_field_is_named() -> None:
    cfg = json.loads((FIXTURES / "mixtral-8x7b.json").read_text())
    del cfg["num_local_experts"]
    with pytest.raises(ValidationError, match="num_local_experts"):
        bw.from_hf_config(cfg)


def test_contradictory_heads() -> None:
    cfg = json.loads((FIXTURES / "llama2-70b.json").read_text())
    with pytest.raises(ValidationError, match="kv_heads"):
        bw.from_hf_config({**cfg, "num_key_value_heads": 7})


def test_bad_path(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        bw.from_hf_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValidationError, match="not valid JSON"):
        bw.from_hf_config(bad)
