import itertools
import json
import subprocess
import sys
from pathlib import Path

import brickwall as bw
import numpy as np
import pytest
import typer
from brickwall import cli_args, moe, pipeline, speculative
from brickwall.cli import app
from brickwall.errors import ValidationError
from brickwall.reference import pipeline as ref_pipeline
from brickwall.reference import speculative as ref_spec
from numpy.testing import assert_allclose
from typer.testing import CliRunner

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
    # 6ND + attention at 8k sequences over 34% of 25,000 A100s' peak: ~102 days
    days = bw.training_run(
        bw.model("gpt4-moe-1.8t"), 13e12, "A100-40GB", gpus=25_000, mfu=0.34
    ).days
    assert r.exit_code == 0 and json.loads(r.output)["days"] == days and 95 < days < 105


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point, as a user runs it (a separate process: real exit status)."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from brickwall.cli import main; sys.argv[0] = 'brickwall'; main()",
            *args,
        ],
        capture_output=True,
        text=True,
    )


def test_bad_cli_input_is_a_clean_error() -> None:
    for args, needle in (
        (["decode", "llama2-7b", "--tp", "3"], "tp = 3"),
        (["sweep", "llama2-7b", "--batch", "1..x"], "'--batch'"),
    ):
        p = _script(*args)
        assert p.returncode == 2 and needle in p.stderr and "Traceback" not in p.stderr, p.stderr
        assert p.stderr.startswith("error: ") and p.stderr.count("\n") == 1, p.stderr  # one line


def test_sweep_command_table_json_csv_plot(tmp_path: Path) -> None:
    args = [
        "sweep",
        "mixtral-8x7b",
        "--hardware",
        "H100-SXM,A100-80GB",
        "--tp",
        "1,2,4,8",
        "--pp",
        "1..4:x2",
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


def test_bandwidth_command(tmp_path: Path) -> None:
    r = runner.invoke(app, ["bandwidth", "--speeds", "20", "--params", "70e9,1e12", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    # the seed's rule: 2 bytes x params x tokens/s, doubled by overhead 1 (other traffic = weights)
    assert_allclose(
        [x["bandwidth_bytes_s"] for x in rows], [2 * 2 * 70e9 * 20, 2 * 2 * 1e12 * 20], rtol=1e-12
    )
    r = runner.invoke(app, ["bandwidth", "--plot", str(tmp_path / "b.png")])
    assert r.exit_code == 0 and "TB/s" in r.output and (tmp_path / "b.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------------------------
# The grammar (cli_args): one meaning for every command


def test_counts_take_scientific_notation() -> None:
    assert (
        cli_args.count("8") == 8
        and cli_args.count("1e6") == 10**6
        and cli_args.count("2.5e3") == 2500
    )
    assert cli_args.count("0", minimum=0) == 0 and cli_args.count(7) == 7
    for bad, minimum in (
        ("1.5", 1),
        ("x", 1),
        ("0", 1),
        ("-1", 0),
        ("inf", 1),
        ("1e400", 1),
        ("", 1),
        ("1e30", 1),
    ):
        with pytest.raises(typer.BadParameter, match="expected a whole number"):
            cli_args.count(bad, minimum=minimum)


def test_integer_lists_and_ranges() -> None:
    assert cli_args.ints("4") == [4] and cli_args.ints("1,2,4") == [1, 2, 4]
    every = cli_args.ints("1..1024")
    assert every == range(1, 1025) and len(every) == 1024  # every integer, kept lazy
    assert cli_args.ints("1..1024:x2") == [2**i for i in range(11)]
    assert cli_args.ints("1..1000:x2") == [2**i for i in range(10)]  # stops at the last value <= B
    assert cli_args.ints("3..100:x3") == [3, 9, 27, 81]
    step = cli_args.ints("256..32768:64")
    assert step == range(256, 32769, 64) and step[-1] == 32768 and len(step) == 509
    assert cli_args.ints("1,3..7:2,16..64:x4") == [1, 3, 5, 7, 16, 64]
    assert cli_args.ints("1e3..2e3:5e2") == range(1000, 2001, 500)
    assert cli_args.ints("0..2", minimum=0) == range(0, 3) and cli_args.ints([2, 4]) == [2, 4]
    for bad in (
        "",
        "1..",
        "..4",
        "8..1",
        "1..8:x1",
        "1..8:0",
        "1..8:x",
        "1..8*2",
        "a,b",
        "1,,2",
        "0",
        "1.5",
        "1..2..3",
        "0..4:x2",
    ):
        with pytest.raises(
            typer.BadParameter, match=r"expected integers >= 1: N, N,M,\.\.\., A\.\.B"
        ):
            cli_args.ints(bad)
    with pytest.raises(typer.BadParameter, match="at most 1,000,000 values"):
        cli_args.ints("1..2000000,1")


def test_numbers_names_and_routing() -> None:
    assert cli_args.floats("0.8") == [0.8] and cli_args.floats("0.6, 0.7") == [0.6, 0.7]
    assert cli_args.floats("70e9,1.8e12") == [70e9, 1.8e12] and cli_args.floats("-1") == [-1.0]
    for bad in ("x", "1..3", "nan", "inf", "", "0.5,"):
        with pytest.raises(typer.BadParameter, match="expected a number"):
            cli_args.floats(bad)
    with pytest.raises(typer.BadParameter, match=">= 0"):
        cli_args.floats("-1", minimum=0.0)
    assert cli_args.names("H100-SXM, A100-80GB") == ["H100-SXM", "A100-80GB"]
    for bad in ("", "a,,b", "a,"):
        with pytest.raises(typer.BadParameter, match="names"):
            cli_args.names(bad)
    assert cli_args.routing("expected") == "expected" and cli_args.routing("0.99") == 0.99
    for bad in ("p99", "0", "1.5", "nan"):
        with pytest.raises(typer.BadParameter, match="quantile"):
            cli_args.routing(bad)


@pytest.mark.parametrize(
    "args, option",
    [
        (["sweep", "llama2-7b", "--batch", "1..x"], "--batch"),
        (["sweep", "llama2-7b", "--pp", "1..4*2"], "--pp"),
        (["sweep", "llama2-7b", "--context", "8k"], "--context"),
        (["sweep", "llama2-7b", "--hardware", "H100-SXM,,"], "--hardware"),
        (["sweep", "llama2-7b", "--rows", "1"], "--rows"),
        (["spec", "--gamma", "0..3"], "--gamma"),
        (["spec", "--alpha", "high"], "--alpha"),
        (
            ["spec", "--target", "llama3.1-70b", "--draft", "llama3.1-8b", "--batch", "8..1"],
            "--batch",
        ),
        (["decode", "llama2-7b", "--batch", "1.5"], "--batch"),
        (["decode", "llama2-7b", "--context", "-1"], "--context"),
        (["decode", "mixtral-8x7b", "--tp", "2", "--routing", "p99"], "--routing"),
        (["prefill", "llama2-7b", "--prompt", "0"], "--prompt"),
        (["moe", "--trials", "2.5"], "--trials"),
        (["pipeline", "1f1b", "--forward", "1,y"], "--forward"),
        (["pipeline", "1f1b", "--compare", "gpipe,"], "--compare"),
        (["bandwidth", "--speeds", "x"], "--speeds"),
        (["model", "llama2-7b", "--context", "1..8"], "--context"),
        # issue 17's reproducers: empty, zero, negative, NaN, and a range past the limit
        (["spec", "--alpha", ""], "--alpha"),
        (["spec", "--draft-chips", "0"], "--draft-chips"),
        (["bandwidth", "--speeds", "-1"], "--speeds"),
        (["bandwidth", "--speeds", "nan"], "--speeds"),
        (["spec", "--gamma", "1..100000000"], "--gamma"),
        (["spec", "--gamma", "4097"], "--gamma"),
        (["decode", "llama2-7b", "--plot", "/nonexistent-dir/x.png"], "--plot"),
        (["pipeline", "1f1b", "--plot", "chart.v2"], "--plot"),
    ],
)
def test_bad_values_are_one_line_usage_errors(args: list[str], option: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    err = r.stderr
    assert err.startswith("error: Invalid value for '" + option) and "expected" in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_library_errors_exit_2_with_one_line() -> None:
    for args, needle in (
        (["pipeline", "interleaved-1f1b", "-p", "4", "-m", "6", "-v", "2"], "microbatches"),
        (["pipeline", "1f1b", "-p", "4", "--compare", "gpipe,pipedream"], "pipedream"),
        (["spec", "--alpha", "1.5"], "alpha = 1.5"),
        (["spec", "--target", "llama3.1-70b"], "--target needs --draft"),
        (["pipeline", "forward", "--backward", "1"], "backward = [1.0]"),
        (["pipeline", "forward", "--weight-grad", "1"], "weight_grad"),
        (["bandwidth", "--speeds", "1e300"], "overflows"),  # finite inputs, no inf TB/s
        (["moe", "--capacity-factor", "1e30"], "capacity_factor = 1e+30"),
        (["sweep", "llama3.1-8b", "--tp", "1..100000000000"], "len(tp)"),  # was a MemoryError
        # valid but huge: refused with the size and the opt-in
        (["moe", "--trials", "1e12"], "--allow-large"),
        (["sweep", "llama3.1-8b", "--batch", "1..10000000", "--context", "1..10000"], "= 4e+11"),
        (
            ["spec", "--target", "llama3.1-70b", "--draft", "llama3.1-8b", "-b", "1..100000"],
            "--allow-large",
        ),
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and needle in r.stderr and r.stderr.count("\n") == 1, (
            args,
            r.output,
        )


def test_spec_and_sweep_read_batch_ranges_alike() -> None:
    for text, batches in (
        ("1..8:x2", [1, 2, 4, 8]),
        ("1..6", [1, 2, 3, 4, 5, 6]),
        ("2..8:3", [2, 5, 8]),
    ):
        r = runner.invoke(
            app,
            [
                "spec",
                "--target",
                "llama3.1-70b",
                "--draft",
                "llama3.1-8b",
                "-H",
                "H100-SXM",
                "--batch",
                text,
                "--gamma",
                "1,2",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)[0]["batches"] == batches
        r = runner.invoke(
            app,
            [
                "sweep",
                "llama3.1-8b",
                "--tp",
                "1",
                "--batch",
                text,
                "--no-progress",
                "--top",
                "100",
                "--json",
            ],
        )
        assert r.exit_code == 0, r.output
        assert sorted(row["batch"] for row in json.loads(r.output)["rows"]) == batches


def test_counts_in_scientific_notation_through_the_commands() -> None:
    r = runner.invoke(
        app, ["decode", "llama2-7b", "--batch", "5.12e2", "--context", "4e3", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["batch"] == 512 and data["context"] == 4000


def test_help_documents_the_grammar_and_shared_options() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "1..1024:x2" in r.output and "A..B:S" in r.output
    r = runner.invoke(app, [])  # no command: the help, and click's status 2, without an error line
    assert r.exit_code == 2 and "Usage" in r.stdout and r.stderr == ""
    for cmd in ("decode", "prefill", "sweep", "train", "spec"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "-H" in r.output and "--hardware" in r.output, cmd
    words = " ".join(
        runner.invoke(app, ["spec", "--help"]).output.replace("│", " ").split()
    )  # unwrap rich's box
    assert "unlike the other commands: the seed's GPT-4 deployment" in words


# ---------------------------------------------------------------------------------------------
# The library functions the commands call (the Python API has them too)


def test_speedup_tables_match_the_reference() -> None:
    tables = speculative.speedup_tables([0.6, 0.9], [0.02, 0.1], range(1, 7))
    assert [(t.alpha, t.cost_ratio) for t in tables] == [
        (0.6, 0.02),
        (0.6, 0.1),
        (0.9, 0.02),
        (0.9, 0.1),
    ]
    for t in tables:
        assert t.gammas.tolist() == [1, 2, 3, 4, 5, 6]
        assert_allclose(
            t.expected_tokens,
            [ref_spec.expected_tokens(t.alpha, g) for g in range(1, 7)],
            rtol=1e-12,
        )
        assert_allclose(
            t.speedup, [ref_spec.speedup(t.alpha, g, t.cost_ratio) for g in range(1, 7)], rtol=1e-12
        )
        assert t.best_gamma == ref_spec.optimal_gamma(t.alpha, t.cost_ratio, 64)
        assert t.best_speedup == pytest.approx(
            ref_spec.speedup(t.alpha, t.best_gamma, t.cost_ratio), rel=1e-12
        )
        assert t.summary()["rows"][2] == {
            "gamma": 3,
            "expected_tokens": t.expected_tokens[2],
            "speedup": t.speedup[2],
        }
    assert speculative.speedup_tables(0.99, 0.001, [1], max_gamma=10)[0].best_gamma == 10
    with pytest.raises(ValidationError, match="non-empty"):
        speculative.speedup_tables([], 0.1)
    with pytest.raises(ValidationError, match="alpha"):
        speculative.speedup_tables(1.2, 0.1)


def test_stage_times_defaults() -> None:
    t = pipeline.stage_times("1f1b", [1.0, 2.0])
    assert t.backward.tolist() == [2.0, 4.0] and t.weight_grad is None and t.note == ""
    t = pipeline.stage_times("zb-h2", 1.0, 3.0)
    assert (
        t.backward.tolist() == [1.5]
        and t.weight_grad is not None
        and t.weight_grad.tolist() == [1.5]
        and t.note
    )
    t = pipeline.stage_times("ZB-H1", 1.0, 2.0, 0.5)
    assert (
        t.backward.tolist() == [2.0]
        and t.weight_grad is not None
        and t.weight_grad.tolist() == [0.5]
        and not t.note
    )
    t = pipeline.stage_times("forward", 1.0, 0.0)
    assert t.backward.tolist() == [0.0] and t.weight_grad is None
    with pytest.raises(ValidationError, match="backward = 5.0"):  # never accepted and ignored
        pipeline.stage_times("forward", 1.0, 5.0)
    with pytest.raises(ValidationError, match="backward"):
        pipeline.stage_times("gpipe", 1.0, -1.0)


def test_compare_bubbles_matches_the_closed_forms() -> None:
    p = 4
    c = pipeline.compare_bubbles(["gpipe", "1f1b", "interleaved-1f1b", "zb-h1"], p, [6, 8])
    assert c.microbatches.tolist() == [4, 6, 8, 16, 32, 64, 128]
    assert list(c.bubble_fraction) == ["gpipe", "1f1b", "interleaved-1f1b (v=2)", "zb-h1"]
    for i, m in enumerate(c.microbatches.tolist()):
        for name in ("gpipe", "1f1b"):
            assert c.bubble_fraction[name][i] == pytest.approx(
                ref_pipeline.closed_form_bubble(name, p, m, 1, 1, 2, 0), rel=1e-12
            )
        assert c.bubble_fraction["zb-h1"][i] == pytest.approx(
            ref_pipeline.closed_form_bubble("zb-h1", p, m, 1, 1, 1, 1), rel=1e-12
        )
        il = c.bubble_fraction["interleaved-1f1b (v=2)"][i]
        if m % p:
            assert np.isnan(il)
        else:
            assert il == pytest.approx(
                ref_pipeline.closed_form_bubble("interleaved-1f1b", p, m, 2, 1, 2, 0), rel=1e-12
            )
    s = c.summary()
    assert s["stages"] == 4 and s["microbatches"][1] == 6 and len(s["bubble_fraction"]["1f1b"]) == 7
    assert (
        "interleaved-1f1b (v=4)"
        in pipeline.compare_bubbles(["interleaved-1f1b"], 4, chunks=4).bubble_fraction
    )
    for bad, match in (
        ({"schedules": ["pipedream"]}, "schedule"),
        ({"schedules": []}, "schedules"),
        ({"chunks": 1}, "chunks"),
        ({"microbatches": [0]}, "microbatches"),
    ):
        kwargs = {"schedules": ["1f1b"], "stages": 4, **bad}
        with pytest.raises(ValidationError, match=match):
            pipeline.compare_bubbles(**kwargs)  # type: ignore[arg-type]


def _enumerate_routing(e: int, k: int, b: int, capacity: int) -> tuple[float, float, float, float]:
    """Brute force over every routing of b tokens to k-subsets of e experts (all equally likely):
    mean load of one expert, distinct experts touched, assignments dropped, busiest expert."""
    subsets = list(itertools.combinations(range(e), k))
    load = touched = dropped = busiest = 0.0
    n = 0
    for choice in itertools.product(subsets, repeat=b):
        counts = [0] * e
        for s in choice:
            for x in s:
                counts[x] += 1
        load += counts[0]
        touched += sum(c > 0 for c in counts)
        dropped += sum(max(0, c - capacity) for c in counts)
        busiest += max(counts)
        n += 1
    return load / n, touched / n, dropped / n, busiest / n


def test_exact_loads_match_brute_force() -> None:
    for e, k, b, cap in ((4, 2, 3, 1), (5, 1, 4, 2), (6, 3, 2, 1)):
        x = moe.exact_loads(e, k, b, capacity=cap)
        load, touched, dropped, busiest = _enumerate_routing(e, k, b, cap)
        assert x.balanced_load == pytest.approx(load, rel=1e-12) and x.balanced_load == k * b / e
        assert x.touched == pytest.approx(touched, rel=1e-12)
        assert x.dropped == pytest.approx(dropped, rel=1e-12)
        assert x.max_load.exact and x.max_load.mean() == pytest.approx(busiest, rel=1e-12)
        lo, hi = x.max_load_mean_bounds
        assert lo == hi == pytest.approx(busiest, rel=1e-12)
        assert (
            x.summary()["max_load"] == pytest.approx(busiest, rel=1e-12)
            and x.summary()["dropped"] == x.dropped
        )
    # where the law is only bounded, the bounds bracket the exact mean and summary() gives them
    exact = moe.exact_loads(16, 2, 8).max_load.mean()
    bounded = moe.ExactLoads(1.0, 0.0, None, moe.max_load_cdf(16, 2, 8, method="bounds"))
    lo, hi = bounded.max_load_mean_bounds
    assert lo <= exact <= hi and lo < hi and bounded.summary()["max_load"] == (lo, hi)
    assert "dropped" not in bounded.summary()
    with pytest.raises(ValidationError, match="popularity"):
        moe.exact_loads(16, 2, 8, ("dirichlet", 1.0))


def test_bandwidth_for_params_inverts_max_params_for_speed() -> None:
    d = bw.Deployment(bw.hardware("H100-SXM"), tp=2, weight_dtype="fp8")
    for speed in (8.33, 50.0):
        n = bw.inference.max_params_for_speed(d, speed, overhead=0.5)
        # the largest model a chip decodes at this speed needs exactly the chip's bandwidth
        assert bw.inference.bandwidth_for_params(d, n, speed, overhead=0.5) == pytest.approx(
            d.hardware.memory_bandwidth, rel=1e-12
        )
    table = bw.inference.bandwidth_for_params(d, np.array([7e9, 70e9])[:, None], [10.0, 20.0, 40.0])
    assert table.shape == (2, 3)
    one_chip = np.array([[bw.inference.speed_for_params(d, p)] for p in (7e9, 70e9)])
    assert_allclose(
        table, d.hardware.memory_bandwidth * np.array([10.0, 20.0, 40.0]) / one_chip, rtol=1e-12
    )
    # and a catalog dense model, by its count, needs what required_bandwidth finds for it
    ideal = bw.Deployment(bw.hardware("H100-SXM"), efficiency=bw.Efficiency.ideal())
    m = bw.model("llama3.1-70b")
    assert bw.inference.bandwidth_for_params(ideal, m.params.total, 20.0) == pytest.approx(
        bw.inference.required_bandwidth(m, ideal, 20.0), rel=1e-4
    )
    with pytest.raises(ValidationError, match="params"):
        bw.inference.bandwidth_for_params(d, -1.0, 10.0)
    with pytest.raises(ValidationError, match="broadcastable"):
        bw.inference.bandwidth_for_params(d, [1e9, 2e9], [1.0, 2.0, 3.0])


def test_forward_pipeline_takes_a_zero_backward() -> None:
    r = runner.invoke(app, ["pipeline", "forward", "-p", "2", "-m", "2", "--backward", "0"])
    assert r.exit_code == 0 and "makespan 3 s" in r.output, r.output


def test_plot_path_is_the_file_written(tmp_path: Path) -> None:
    # a directory gets <command>.png inside it; a bare name gets .png; both reported as written
    for target, written in (
        (tmp_path, tmp_path / "pipeline.png"),
        (tmp_path / "gantt", tmp_path / "gantt.png"),
        (tmp_path / "gantt.svg", tmp_path / "gantt.svg"),
    ):
        r = runner.invoke(app, ["pipeline", "1f1b", "-p", "2", "-m", "2", "--plot", str(target)])
        assert r.exit_code == 0, r.output
        assert r.stderr == f"plot written to {written}\n"
        assert written.is_file() and written.stat().st_size > 1000


def test_allow_large_lifts_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # a limit lowered to 100 routed choices: refused with the size and the flag; the flag runs it
    monkeypatch.setattr(moe, "MAX_ROUTED_CHOICES", 100)
    args = ["moe", "--tokens", "8", "--top-k", "2", "--trials", "1000", "--json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "16,000" in r.stderr and "--allow-large" in r.stderr, r.stderr
    r = runner.invoke(app, [*args, "--allow-large"])
    assert r.exit_code == 0 and json.loads(r.output)["trials"] == 1000, r.output
