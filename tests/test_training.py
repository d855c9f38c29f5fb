import brickwall as bw
import pytest
from brickwall.errors import ValidationError
from brickwall.training import chinchilla_tokens, training_run


def test_solve_each_unknown_round_trips() -> None:
    m = bw.model("gpt4-moe-1.8t")
    a = training_run(m, 13e12, "A100-40GB", gpus=25_000, mfu=0.34)
    b = training_run(m, 13e12, "A100-40GB", gpus=25_000, days=a.days)
    c = training_run(m, 13e12, "A100-40GB", mfu=0.34, days=a.days)
    assert b.mfu == pytest.approx(0.34, rel=1e-12) and c.gpus == pytest.approx(25_000, rel=1e-12)
    # (6 N + attention) D over GPUs x peak x MFU, computed by hand (N: the matmul parameters)
    per_token = (
        6 * m.matmul_params_active
        + 3 * m.attention_flops_per_context_token * (m.max_context + 1) / 2
    )
    assert a.seconds == pytest.approx(per_token * 13e12 / (25_000 * 312e12 * 0.34), rel=1e-12)
    assert a.cost == pytest.approx(25_000 * a.seconds / 3600 * 2.745, rel=1e-12)


def test_attention_term_reported_separately() -> None:
    m = bw.model("llama3.1-8b")
    r = training_run(m, 1e12, "H100-SXM", gpus=1024, mfu=0.4, seq_len=8192)
    assert r.flops == pytest.approx(6 * m.matmul_params_active * 1e12)
    assert r.attention_flops == pytest.approx(3 * 2 * 32 * 32 * 256 * 8193 / 2 * 1e12)


def test_chinchilla() -> None:
    m = bw.model("gpt4-moe-1.8t")
    assert chinchilla_tokens(m) == 20 * m.params.total
    assert chinchilla_tokens(m, "active") == 20 * m.params.active


@pytest.mark.parametrize(
    "kw",
    [
        {"gpus": 1},
        {"gpus": 1, "mfu": 0.3, "days": 3},
        {"gpus": -1, "mfu": 0.3},
        {"gpus": 8, "mfu": 1.5},
        {"mfu": 0.3, "days": float("nan")},
        {"gpus": 8, "days": 1e-9},
    ],
)
def test_bad_runs(kw: dict) -> None:
    with pytest.raises(ValidationError):
        training_run(bw.model("llama2-7b"), 1e12, "A100-80GB", **kw)


def test_dtype_peak_must_exist() -> None:
    with pytest.raises(bw.errors.UnknownNameError, match="fp8"):
        training_run(bw.model("llama2-7b"), 1e12, "A100-80GB", gpus=8, mfu=0.4, dtype="fp8")
