import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import brickwall as bw
from brickwall.claims import reproduce
from brickwall.cli import app

IDS = """read.slow read.fast dense1t.8xh100 dense1t.mfu ff.limit gpt4.total gpt4.active gpt4.flops
gpt4.dense.flops gpt3.total gpt4.vs.gpt3 data.tokens data.per_expert_batch chinchilla par.params_per_gpu
train.flops train.a100 train.cost.a100 train.h100 ratio.h100 intensity.b256 kv.500b infer.cluster
infer.params_per_node moe.expert_batch.4k moe.expert_batch.8 cost.a100 cost.h100 cost.vs.davinci
api.price spec.tokens vision.io net.segments""".split()

CLAIMS_MD = Path(__file__).resolve().parents[2] / "shared" / "reference" / "CLAIMS.md"


@pytest.fixture(scope="module")
def rows() -> dict[str, bw.claims.Claim]:
    return {r.id: r for r in reproduce()}


def test_ids_match_claims_md_when_present() -> None:
    if CLAIMS_MD.exists():
        listed = re.findall(r"^\| ([a-z0-9._]+) \|", CLAIMS_MD.read_text(), flags=re.M)
        assert set(listed) - {"id"} == set(IDS)


def test_every_claim_has_a_verdict(rows: dict) -> None:
    missing = set(IDS) - set(rows)
    assert not missing, f"claims without a row: {sorted(missing)}"
    for r in rows.values():
        assert r.verdict in ("consistent", "inconsistent", "assumption")
        if r.verdict == "inconsistent":
            assert r.why, r.id


def test_unit_errors_are_called_out(rows: dict) -> None:
    assert rows["gpt4.flops"].verdict == "inconsistent"
    assert rows["gpt4.flops"].computed_value == pytest.approx(
        2 * bw.model("gpt4-moe-1.8t").matmul_params_active
    )
    assert "GFLOP" in rows["gpt4.flops"].why
    assert rows["kv.500b"].verdict == "inconsistent" and "8-bit" in rows["kv.500b"].why


def test_independent_arithmetic(rows: dict) -> None:
    assert rows["read.slow"].computed_value == pytest.approx(250 / 60 * 2)
    assert rows["data.per_expert_batch"].computed_value == pytest.approx(60e6 * 2 / 16)
    # 2 * 118 layers * 48 heads * 256 head dim * 2048 tokens * 512 sequences * 2 bytes
    assert rows["kv.500b"].computed_value == pytest.approx(2 * 118 * 48 * 256 * 2048 * 512 * 2)
    assert rows["train.flops"].computed_value == pytest.approx(
        6 * bw.model("gpt4-moe-1.8t").params.active * 13e12
    )
    assert rows["ratio.h100"].computed_value == pytest.approx(1978.9 / 3.35)


def test_only_filter_and_unknown_id() -> None:
    assert [r.id for r in reproduce("gpt4.total")] == ["gpt4.total"]
    with pytest.raises(bw.errors.UnknownNameError):
        reproduce("nope")


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_reproduce_command_formats(fmt: str) -> None:
    r = CliRunner().invoke(app, ["reproduce", "--format", fmt, "--only", "train"])
    assert r.exit_code == 0, r.output
    if fmt == "json":
        data = json.loads(r.output)
        assert {c["id"] for c in data["claims"]} == {
            "train.flops",
            "train.a100",
            "train.cost.a100",
            "train.h100",
        }
    else:
        assert "train.a100" in r.output
