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


def test_decode_command_breakdown_and_json(tmp_path: Path) -> None:
    args = ["decode", "gpt4-moe-1.8t", "--hardware", "A100-40GB", "--tp", "8", "--pp", "16", "--batch", "512", "--context", "8192"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "weights" in r.output and "fits" in r.output
    r = runner.invoke(app, args + ["--json", "--plot", str(tmp_path / "d.png")])
    data = json.loads(r.stdout)
    assert data["chips"] == 128 and data["bound"] == "memory: weights"
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_prefill_and_train_commands() -> None:
    r = runner.invoke(app, ["prefill", "llama3.1-70b", "--tp", "8", "--batch", "4", "--prompt", "4096", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["bound"] == "compute"
    r = runner.invoke(app, ["train", "gpt4-moe-1.8t", "--tokens", "13e12", "--hardware", "A100-40GB", "--gpus", "25000", "--mfu", "0.34", "--json"])
    assert r.exit_code == 0 and 90 < json.loads(r.output)["days"] < 100


def test_bad_cli_input_is_a_clean_error() -> None:
    from brickwall.cli import main
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "from brickwall.cli import main; main()", "decode", "llama2-7b", "--tp", "3"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "tp = 3" in p.stderr and "Traceback" not in p.stderr
    assert main is not None
