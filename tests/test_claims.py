"""The claims ledger: the registry, the verdicts, the values, and the helpers behind them."""

import json
import re
from collections import Counter
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.claims import (
    SECTIONS,
    VERDICTS,
    Claim,
    Finding,
    attainable_cost,
    claim,
    claim_spec_tokens,
    registry,
    reproduce,
    seed_head_balance,
    seed_inference_costs,
    seed_training_bubbles,
)
from brickwall.claims.ledger import MEANING, conditions, parts
from brickwall.cli import app
from brickwall.reference import speculative as spec_ref
from typer.testing import CliRunner


def _claims_md() -> Path | None:
    """shared/reference/CLAIMS.md beside the repository (../shared in CI) or beside any parent
    (a worktree one level deeper); None when absent."""
    for parent in Path(__file__).resolve().parents[1:]:
        path = parent / "shared" / "reference" / "CLAIMS.md"
        if path.exists():
            return path
    return None


@pytest.fixture(scope="module")
def claims() -> list[Claim]:
    return reproduce()


@pytest.fixture(scope="module")
def rows(claims: list[Claim]) -> dict[str, Claim]:
    return {r.id: r for r in claims}


def test_every_registered_claim_is_reproduced_once_with_a_verdict(claims: list[Claim]) -> None:
    ids = [r.id for r in claims]
    dup = [i for i, n in Counter(ids).items() if n > 1]
    assert not dup, f"claims reproduced more than once: {dup}"
    assert ids == [e.id for e in registry()]
    for r in claims:
        assert r.verdict in VERDICTS, r.id
        if r.verdict in ("inconsistent", "partly", "depends"):
            assert r.why, r.id
        assert r.unit and r.as_dict()["unit"] == r.unit, r.id


def test_ids_and_order_match_claims_md_when_present() -> None:
    path = _claims_md()
    if path is None:
        pytest.skip("shared/reference/CLAIMS.md is not beside this checkout")
    rows = re.findall(r"^\| ([a-z0-9._]+) \|", path.read_text(), flags=re.MULTILINE)
    listed = [i for i in rows if i != "id"]
    # brickwall's own additions (seed=False, e.g. pipeline.*) are the ids CLAIMS.md does not list
    assert [e.id for e in registry() if e.seed] == listed


def test_each_claim_lives_in_its_topic_module() -> None:
    for e in registry():
        assert e.section in SECTIONS
        assert e.derive.__module__ == f"brickwall.claims.{e.section}", e.id


def test_registry_refuses_duplicates_and_unknown_sections() -> None:
    def derive() -> Finding:
        return Finding("1", "1", "assumption")

    with pytest.raises(bw.errors.ValidationError, match="read.slow"):
        claim("read.slow", section="speed", unit="tokens/s", text="again")(derive)
    with pytest.raises(bw.errors.ValidationError, match="section"):
        claim("new.id", section="nowhere", unit="s", text="x")(derive)
    with pytest.raises(bw.errors.ValidationError, match="unit"):
        claim("new.id", section="speed", unit="", text="x")(derive)
    assert "new.id" not in {e.id for e in registry()}


def test_unit_errors_are_called_out(rows: dict[str, Claim]) -> None:
    assert rows["gpt4.flops"].verdict == "inconsistent"
    want = 2 * bw.model("gpt4-moe-1.8t").matmul_params_active
    assert rows["gpt4.flops"].computed_value == pytest.approx(want)
    assert "GFLOP" in rows["gpt4.flops"].why
    assert rows["kv.500b"].verdict == "inconsistent" and "8-bit" in rows["kv.500b"].why


def test_verdicts_follow_their_text(rows: dict[str, Claim]) -> None:
    # the 1.6x parameter ratio holds, the 3x cost does not
    davinci = rows["cost.vs.davinci"]
    assert davinci.verdict == "partly"
    assert davinci.computed_value == pytest.approx(1.6, rel=0.1)
    assert davinci.details["cost_ratio_frontier"] < 2.25
    assert davinci.why.startswith("the 1.6x parameter ratio holds, the 3x cost does not")
    # ~4 tokens fits the closed form, not the roofline's best draft lengths
    assert rows["spec.tokens"].verdict == "depends"
    assert "fits the closed form" in rows["spec.tokens"].why
    assert "misses the roofline" in rows["spec.tokens"].why


def test_verdict_helpers() -> None:
    assert parts(True, True) == conditions(True) == "consistent"
    assert parts(True, False) == "partly" and conditions(False, True) == "depends"
    assert parts(False, False) == conditions(False) == "inconsistent"
    with pytest.raises(bw.errors.ValidationError, match="checks"):
        parts()
    assert set(MEANING) == set(VERDICTS)


def test_independent_arithmetic(rows: dict[str, Claim]) -> None:
    assert rows["read.slow"].computed_value == pytest.approx(250 / 60 * 2)
    assert rows["data.per_expert_batch"].computed_value == pytest.approx(60e6 * 2 / 16)
    # 2 * 118 layers * 48 heads * 256 head dim * 2048 tokens * 512 sequences * 2 bytes
    assert rows["kv.500b"].computed_value == pytest.approx(2 * 118 * 48 * 256 * 2048 * 512 * 2)
    active = bw.model("gpt4-moe-1.8t").matmul_params_active
    assert rows["train.flops"].computed_value == pytest.approx(6 * active * 13e12)
    assert rows["ratio.h100"].computed_value == pytest.approx(1978.9 / 3.35)


def test_only_filter_and_unknown_id() -> None:
    assert [r.id for r in reproduce("gpt4.total")] == ["gpt4.total"]
    assert [r.id for r in reproduce("read")] == ["read.slow", "read.fast"]
    # a comma list keeps the ledger's order, whatever the order asked
    assert [r.id for r in reproduce("vision.io, read.fast")] == ["read.fast", "vision.io"]
    assert [r.id for r in reproduce(["gpt3"])] == ["gpt3.total"]
    with pytest.raises(
        bw.errors.UnknownNameError, match=r"nope: .*valid ids: read.slow, read.fast"
    ):
        reproduce("read.slow,nope")


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_reproduce_command_formats(fmt: str) -> None:
    r = CliRunner().invoke(app, ["reproduce", "--format", fmt, "--only", "train"])
    assert r.exit_code == 0, r.output
    if fmt == "json":
        data = json.loads(r.output)
        want = {"train.flops", "train.a100", "train.cost.a100", "train.h100"}
        assert {c["id"] for c in data["claims"]} == want
    else:
        assert "train.a100" in r.output


# -- the helpers behind the claims -------------------------------------------------------------


def test_attainable_cost_gpt4() -> None:
    a = attainable_cost(
        "gpt4-moe-1.8t", "A100-40GB", price_per_hour=1.0, batch=[1, 16, 64, 256, 1024]
    )
    best = a["best"]
    assert best["chips"] == 128 and best["tokens_per_s_per_user"] >= 8.0
    assert best["usd_per_1k"] == pytest.approx(best["cost"] / 1000)
    # an independent lower bound: 128 A100 at full bf16 peak doing 2 x active FLOPs per token
    m = bw.model("gpt4-moe-1.8t")
    peak = 128 * bw.hardware("A100-40GB").flops("bf16") / (2 * m.params.active)  # tokens/s
    floor = 128 * 1.0 / 3600 / peak * 1e6
    assert best["cost"] > floor


def test_seed_inference_costs_shape() -> None:
    out = seed_inference_costs()
    assert set(out) == {"cost.a100", "cost.h100", "cost.vs.davinci"}
    for cid in ("cost.a100", "cost.h100"):
        c = out[cid]["config"]
        assert c["chips"] == 128 and c["context"] == 8192 and c["tokens_per_s_per_user"] >= 8.0
    # H100 at $2/h attains a lower $/token than A100 at $1/h: ~2x the price for > 2x the bandwidth
    assert out["cost.h100"]["attainable_usd_per_1k"] < out["cost.a100"]["attainable_usd_per_1k"]
    assert out["cost.vs.davinci"]["attainable_ratio"] > 0


def test_seed_head_balance() -> None:
    # 120 equal layers, the head paying one layer's worth of embedding work. 15 stages: 121 units
    # of work cannot stay under 9 per stage (15 x 8 = 120), but only one stage needs to sit at 9.
    # 16 stages: the bottleneck stays at 8 and the head carries fewer layers than any other.
    out = seed_head_balance()
    assert out[15].bottleneck == 9.0
    assert int((out[15].stage_times == 9.0).sum()) == 1
    assert out[16].bottleneck == 8.0
    assert out[16].layers[0] < out[16].layers[1:].min()
    assert out[16].layers.sum() == 120
    assert bw.pipeline.balance_layers(120, 15).layers.tolist() == [8] * 15
    assert bw.pipeline.balance_layers(120, 16).layers.tolist() == [7] * 8 + [8] * 8


def test_seed_training_bubbles() -> None:
    out = seed_training_bubbles()
    # 25,000 // 120 = 208 replicas; 60e6 // 8192 = 7324 sequences; 7324 // 208 = 35
    got = (out["data_parallel_replicas"], out["sequences_per_step"], out["microbatches"])
    assert got == (208, 7324, 35)
    fr = out["bubble_fraction"]
    assert fr["1f1b"] == pytest.approx(14 / 49, rel=1e-12)
    assert fr["zb-h2"] <= fr["zb-h1"] < fr["1f1b"]


def test_claim_spec_tokens() -> None:
    c = claim_spec_tokens()
    # ~4 under the closed form, but the roofline's best gamma is 1 at small batch (6-10 beyond)
    assert c["id"] == "spec.tokens" and c["verdict"] == "depends"
    assert c["closed_form_ok"] and not c["roofline_ok"]
    assert 0 < c["cost_ratio"] < 1
    gs = list(c["optimal_gamma_at_deployment"].values())
    assert gs == sorted(gs)
    for alpha, row in c["optimal_gamma_grid"].items():
        assert list(row.values()) == sorted(row.values(), reverse=True)
        for ratio, g in row.items():
            assert g == spec_ref.optimal_gamma(float(alpha), float(ratio))
