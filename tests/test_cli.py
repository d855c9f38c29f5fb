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
    args = [
        "decode",
        "gpt4-moe-1.8t",
        "--hardware",
        "A100-40GB",
        "--tp",
        "8",
        "--pp",
        "16",
        "--batch",
        "512",
        "--context",
        "8192",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "weights" in r.output and "fits" in r.output
    r = runner.invoke(app, args + ["--json", "--plot", str(tmp_path / "d.png")])
    data = json.loads(r.stdout)
    assert data["chips"] == 128 and data["bound"] == "memory: weights"
    assert (tmp_path / "d.png").stat().st_size > 10_000


def test_prefill_and_train_commands() -> None:
    r = runner.invoke(
        app, ["prefill", "llama3.1-70b", "--tp", "8", "--batch", "4", "--prompt", "4096", "--json"]
    )
    assert r.exit_code == 0 and json.loads(r.output)["bound"] == "compute"
    r = runner.invoke(
        app,
        [
            "train",
            "gpt4-moe-1.8t",
            "--tokens",
            "13e12",
            "--hardware",
            "A100-40GB",
            "--gpus",
            "25000",
            "--mfu",
            "0.34",
            "--json",
        ],
    )
    assert r.exit_code == 0 and 90 < json.loads(r.output)["days"] < 100


def test_bad_cli_input_is_a_clean_error() -> None:
    from brickwall.cli import main
    import subprocess
    import sys

    p = subprocess.run(
        [
            sys.executable,
            "-c",
            "from brickwall.cli import main; main()",
            "decode",
            "llama2-7b",
            "--tp",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and "tp = 3" in p.stderr and "Traceback" not in p.stderr
    assert main is not None


def test_sweep_command_table_json_csv_plot(tmp_path: Path) -> None:
    args = [
        "sweep",
        "mixtral-8x7b",
        "--hardware",
        "H100-SXM,A100-80GB",
        "--tp",
        "1,2,4,8",
        "--pp",
        "1..4*2",
        "--batch",
        "1..512:3",
        "--context",
        "1024,8192",
        "--no-progress",
    ]
    r = runner.invoke(app, [*args, "--plot", str(tmp_path / "f.png")])
    assert r.exit_code == 0, r.output
    assert (
        "frontier" in r.output
        and "evaluated" in r.output
        and (tmp_path / "f.png").stat().st_size > 1000
    )
    r = runner.invoke(app, [*args, "--json"])
    data = json.loads(r.output)
    assert data["summary"]["evaluated"] == 2 * 4 * 3 * len(range(1, 513, 3)) * 2
    costs = [row["cost"] for row in data["rows"]]
    assert costs == sorted(costs) and len(costs) == data["summary"]["kept"]
    r = runner.invoke(app, [*args, "--csv", "--top", "3"])
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("index,hardware") and len(lines) == 4


def test_sweep_command_bad_axis() -> None:
    from brickwall.cli import parse_axis
    from brickwall.errors import ValidationError

    assert parse_axis("b", "1..8*2") == [1, 2, 4, 8]
    assert parse_axis("b", "1..4096") == range(1, 4097)
    assert parse_axis("b", "1,3..7:2") == [1, 3, 5, 7]
    for bad in ("", "1..x", "8..1", "1..8*1", "a,b"):
        try:
            parse_axis("batch", bad)
        except ValidationError as e:
            assert "batch" in str(e)
        else:
            raise AssertionError(bad)


def test_bad_number_lists_are_usage_errors() -> None:
    for args in (
        ["bandwidth", "--speeds", "x"],
        ["pipeline", "1f1b", "--stages", "4", "--microbatches", "8", "--forward", "1,y"],
        ["decode", "mixtral-8x7b", "--tp", "2", "--routing", "p99"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "Invalid value" in r.output, args
