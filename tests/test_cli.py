import json
from pathlib import Path

from typer.testing import CliRunner

from brickwall.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures" / "hf"


def test_model_command_shows_gpt4_counts() -> None:
    r = runner.invoke(app, ["model", "gpt4-moe-1.8t"])
    assert r.exit_code == 0, r.output
    assert "1.871 T" in r.output and "285.2 B" in r.output


def test_model_json_and_hf_config() -> None:
    r = runner.invoke(app, ["model", "--hf-config", str(FIXTURES / "gpt2.json"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["params"]["total"] == 124_439_808


def test_catalog_json_lists_everything() -> None:
    r = runner.invoke(app, ["catalog", "--json"])
    data = json.loads(r.output)
    assert len(data["hardware"]) >= 18 and len(data["models"]) >= 20


def test_catalog_tables() -> None:
    r = runner.invoke(app, ["catalog", "models"])
    assert r.exit_code == 0 and "deepseek-v3" in r.output


def test_model_needs_exactly_one_source() -> None:
    r = runner.invoke(app, ["model"])
    assert r.exit_code != 0 and "exactly one" in r.output
