"""`brickwall serve`: the table, JSON and plot agree with the library."""

from __future__ import annotations

import json
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.cli import app
from typer.testing import CliRunner

runner = CliRunner()
ARGS = ["serve", "llama3.1-8b", "--rate", "5", "--input", "512", "--output", "32", "-n", "100"]


def test_json_matches_the_library() -> None:
    r = runner.invoke(app, [*ARGS, "--slo-ttft", "0.5", "--slo-tpot", "0.05", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    lib = bw.simulate(
        bw.model("llama3.1-8b"),
        bw.Deployment("H100-SXM"),
        bw.Workload(requests=100, rate=5.0, input=512, output=32),
    )
    assert out["ttft_s"]["p99"] == pytest.approx(lib.percentiles("ttft")["p99"], rel=1e-12)
    assert out["requests_per_s"] == pytest.approx(lib.throughput["requests_per_s"], rel=1e-12)
    assert out["goodput_requests_per_s"] == pytest.approx(lib.goodput(0.5, 0.05), rel=1e-12)


@pytest.mark.parametrize(
    "extra",
    [["--offline"], ["--scheduler", "chunked"], ["--scheduler", "static"], ["--clients", "4"]],
)
def test_table_for_each_mode(extra: list[str]) -> None:
    args = (
        [a for a in ARGS if a not in ("--rate", "5")]
        if extra != ["--scheduler", "chunked"]
        else ARGS
    )
    r = runner.invoke(app, [*args, *extra])
    assert r.exit_code == 0, r.output
    assert "time to first token" in r.output and "req/s" in r.output


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "serve.png"
    r = runner.invoke(app, [*ARGS, "--plot", str(path)])
    assert r.exit_code == 0, r.output
    assert path.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--scheduler", "fifo"], "Scheduler.policy"),
        (["--offline", "--rate", "3"], "--rate"),
        (["--rate", "-2"], "Workload.rate"),
        (["--kv-blocks", "3"], "kv_blocks"),
    ],
)
def test_bad_options_exit_2_naming_the_field(extra: list[str], needle: str) -> None:
    r = runner.invoke(app, [*ARGS[:2], *extra])
    assert r.exit_code == 2, r.output
    assert needle in r.output


def test_search_reports_the_largest_rate() -> None:
    args = ["serve", "llama3.1-8b", "--input", "1024", "--output", "64", "-n", "300", "--seed", "4"]
    r = runner.invoke(app, [*args, "--slo-ttft", "0.5", "--slo-tpot", "0.02", "--search", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    w = bw.Workload(requests=300, input=1024, output=64, seed=4)
    lib = bw.serve.max_rate(
        bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"), w, ttft=0.5, tpot=0.02
    )
    assert out["max_rate_requests_per_s"] == pytest.approx(lib.rate, rel=1e-12)
    assert out["ttft_s"]["p99"] <= 0.5
    r = runner.invoke(app, [*args, "--search"])
    assert r.exit_code == 2 and "SLO" in r.output
