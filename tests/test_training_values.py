"""training.py by hand: the total with attention, and zero where a positive number is needed."""

import brickwall as bw
import pytest
from brickwall.errors import ValidationError
from brickwall.training import training_flops, training_run


def test_total_flops_adds_attention() -> None:
    m = bw.model("llama3.1-8b")
    r = training_run(m, 1e12, "H100-SXM", gpus=1024, mfu=0.4, seq_len=4096)
    # 6 N D (N: the 8.03B parameters less the 525M-entry input embedding and the norms, which
    # take part in no matrix product), plus 3 (fwd + bwd) x 2 L H (d_qk + d_v) x the mean causal
    # span (s + 1) / 2 per token; the MFU counts both
    p = m.params
    assert p.active == 8_030_261_248
    six_nd = 6 * (p.active - 128_256 * 4096 - p.norms) * 1e12
    attention = 3 * 2 * 32 * 32 * 256 * (4096 + 1) / 2 * 1e12
    assert r.flops == pytest.approx(six_nd, rel=1e-12)
    assert r.total_flops == pytest.approx(six_nd + attention, rel=1e-12)
    assert r.days == pytest.approx(
        (six_nd + attention) / (1024 * 989.4e12 * 0.4) / 86_400, rel=1e-12
    )


@pytest.mark.parametrize(
    "kw", [{"gpus": 0, "mfu": 0.3}, {"gpus": 8, "mfu": 0.0}, {"gpus": 8, "days": 0}]
)
def test_zero_is_refused(kw: dict) -> None:
    with pytest.raises(ValidationError):
        training_run(bw.model("llama2-7b"), 1e12, "H100-SXM", **kw)


def test_more_than_peak_is_refused() -> None:
    # 55 days of 8,192 H100 need MFU ~0.58 for GPT-4's 13T tokens; a third of that time needs ~1.7
    m = bw.model("gpt4-moe-1.8t")
    assert training_run(m, 13e12, "H100-SXM", gpus=8192, days=55).mfu < 1
    with pytest.raises(ValidationError, match="MFU"):
        training_run(m, 13e12, "H100-SXM", gpus=8192, days=55 / 3)


def test_zero_tokens_is_refused() -> None:
    with pytest.raises(ValidationError, match="tokens"):
        training_flops(bw.model("llama2-7b"), 0)
