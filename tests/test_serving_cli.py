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
    # one SLO: the headline names it alone
    r = runner.invoke(app, [*args, "--slo-ttft", "0.5", "--search"])
    assert r.exit_code == 0 and "within p99 TTFT <= 0.5 s:" in r.output and "None" not in r.output


def test_trace_files(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("arrival,input,output\n0.5,100,10\n0.0,200,5\n1.0,50,1\n")
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text(
        '{"arrival": 0.0, "input": 200, "output": 5}\n{"arrival": 0.5, "input": 100, "output": 10}\n'
        '{"arrival": 1.0, "input": 50, "output": 1}\n'
    )
    a, b = bw.Trace.from_file(csv), bw.Trace.from_file(jsonl)
    assert a.arrival is not None and a.arrival.tolist() == [0.0, 0.5, 1.0]
    assert a.input.tolist() == b.input.tolist() == [200, 100, 50]
    r = runner.invoke(app, ["serve", "llama3.1-8b", "--trace", str(csv), "--json"])
    assert r.exit_code == 0, r.output
    lib = bw.simulate(bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"), a)
    assert json.loads(r.output)["e2e_s"]["p50"] == pytest.approx(lib.percentiles("e2e")["p50"])
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival,input\n0,1\n")
    r = runner.invoke(app, ["serve", "llama3.1-8b", "--trace", str(bad)])
    assert r.exit_code == 2 and "bad.csv row 1" in r.output
    r = runner.invoke(app, ["serve", "llama3.1-8b", "--trace", str(tmp_path / "none.csv")])
    assert r.exit_code == 2 and "trace" in r.output


def test_disaggregated() -> None:
    r = runner.invoke(app, [*ARGS, "--disagg", "1:2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    w = bw.Workload(requests=100, rate=5.0, input=512, output=32)
    lib = bw.serve.simulate_disaggregated(
        bw.model("llama3.1-8b"), bw.Deployment("H100-SXM"), w, 1, 2
    )
    assert out["disaggregated"] == {"prefill": 1, "decode": 2}
    assert out["e2e_s"]["p99"] == pytest.approx(lib.percentiles("e2e")["p99"], rel=1e-12)
    r = runner.invoke(app, [*ARGS, "--disagg", "1:2"])
    assert r.exit_code == 0 and "1 prefill : 2 decode" in r.output
    for bad in ("2", "0:1", "a:b"):
        r = runner.invoke(app, [*ARGS, "--disagg", bad])
        assert r.exit_code == 2 and "--disagg" in r.output, bad


def test_serve_takes_the_scheduler_options(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text(
        "arrival,input,output,prefix_id,prefix_tokens\n"
        + "".join(f"{i * 0.5},600,16,1,512\n" for i in range(12))
    )
    args = ["serve", "llama3.1-8b", "--trace", str(trace), "--json"]

    def run(*extra: str) -> dict[str, dict[str, float]]:
        r = runner.invoke(app, [*args, *extra])
        assert r.exit_code == 0, r.output
        out: dict[str, dict[str, float]] = json.loads(r.output)
        return out

    plain = run()
    assert run("--prefix-cache")["ttft_s"]["p50"] < plain["ttft_s"]["p50"]
    spec = run("--speculative", "4:0.8", "--preemption", "swap")
    assert spec["tpot_s"]["p50"] < plain["tpot_s"]["p50"]
    bad = runner.invoke(app, [*args, "--speculative", "four"])
    assert bad.exit_code != 0 and "--speculative" in bad.output
