"""Training: ZeRO-3's exposed traffic, and bad input refused up front (train CLI, TrainingPlan,
search_plans, chip files, calibrate's measured tables)."""

import math
import os
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.calibrate import read_measured
from brickwall.cli import app
from brickwall.deployment import Deployment, chip_view, cost_view
from brickwall.errors import BrickwallTypeError, ValidationError
from brickwall.reference import training as ref
from typer.testing import CliRunner

runner = CliRunner()
LLAMA8 = bw.model("llama3.1-8b")


# -- 1. ZeRO-3: the traffic a pass cannot hide, and the step's edges, are exposed -----------------


def _zero3(hw: bw.Hardware) -> bw.TrainingStep:
    plan = bw.TrainingPlan(tp=1, pp=1, dp=64, microbatch=1, global_batch=256, zero=3)
    return bw.plan_step(LLAMA8, hw, plan)


def test_zero3_exposes_the_traffic_its_passes_cannot_hide() -> None:
    # A slow scale-out link: each microbatch's gathers and reduce-scatter outlast its passes.
    hw = bw.hardware("H100-SXM")
    slow = hw.with_(scale_out_bandwidth=hw.scale_out_bandwidth / 50)
    s = _zero3(slow)
    mb = s.microbatches
    # Per microbatch the traffic is one gather for the forward, one gather + one reduce-scatter
    # for the backward (t_dp = 2 ag + rs); the passes (t_forward, t_backward) are compute only.
    assert s.t_dp > s.t_backward
    excess = mb * (s.t_dp - s.t_backward - s.t_forward)
    assert s.t_dp_exposed >= max(excess, s.t_dp - s.t_backward) > 0
    # The breakdown still sums to the step, and what it calls compute is the passes alone.
    assert math.isclose(sum(s.breakdown.values()), s.step_time, rel_tol=1e-12)
    assert math.isclose(s.t_pipeline_busy, mb * (s.t_forward + s.t_backward), rel_tol=1e-12)


def test_zero3_exposes_its_first_gather_and_last_bucket_even_when_hidden() -> None:
    hw = bw.hardware("H100-SXM")
    hw = hw.with_(scale_out_bandwidth=hw.scale_out_bandwidth * 50)
    s = _zero3(hw)
    assert s.t_dp < s.t_backward + s.t_forward  # the passes hide the traffic ...
    assert s.t_dp_exposed > 0  # ... but not the step's first gather and last bucket
    # more than ZeRO-2 exposes with the same links (ZeRO-3 gathers before every pass)
    plan2 = bw.TrainingPlan(tp=1, pp=1, dp=64, microbatch=1, global_batch=256, zero=2)
    assert s.step_time > bw.plan_step(LLAMA8, hw, plan2).step_time


def test_zero3_core_equals_the_reference_when_traffic_outlasts_the_passes() -> None:
    hw = bw.hardware("H100-SXM")
    for bw_out in (hw.scale_out_bandwidth, hw.scale_out_bandwidth / 50):
        h = hw.with_(scale_out_bandwidth=bw_out)
        host = {"fp8_flops": h.peak_flops["fp8"], "host_bandwidth": h.host_bandwidth or 0.0}
        for pp, schedule in ((1, "1f1b"), (4, "1f1b"), (4, "zb-h1"), (4, "gpipe")):
            plan = bw.TrainingPlan(
                tp=2, pp=pp, dp=8, microbatch=1, global_batch=64, zero=3, schedule=schedule
            )
            s = bw.plan_step(LLAMA8, h, plan)
            r = ref.step(
                dict(cost_view(LLAMA8)),
                float(LLAMA8.heads),
                dict(chip_view(Deployment(h))),
                dict(plan.view()),
                dict(bw.training._vocab(LLAMA8)),
                host,
            )
            for k in ("step_time", "t_dp_exposed", "t_bubble", "t_pipeline_busy"):
                assert math.isclose(getattr(s, k), r[k], rel_tol=1e-12), k


# -- 2. the train command's plan options ------------------------------------------------------------

BASE = ["train", "llama3.1-8b", "--gpus", "64", "--tokens", "1e12"]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--tp", "8", "--cp", "0"], "--cp = 0: expected an integer >= 1"),
        (["--seq-len", "0"], "--seq-len = 0: expected an integer >= 1"),
        (["--tp", "8", "--cp", "128"], "--gpus = 64: expected at least tp x cp x pp = 1024"),
        (["--tp", "8", "--batch-tokens", "0"], "--batch-tokens = 0"),
        (["--tp", "8", "--batch-tokens", "nan"], "--batch-tokens = nan"),
    ],
)
def test_train_refuses_bad_plan_options(extra: list[str], needle: str) -> None:
    r = runner.invoke(app, [*BASE, *extra])
    assert r.exit_code == 2, r.output
    assert needle in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.output


def test_training_run_refuses_part_gpus_and_overflowing_tokens() -> None:
    r = runner.invoke(
        app, ["train", "llama3.1-8b", "--gpus", "0.5", "--mfu", "0.4", "--tokens", "1e12"]
    )
    assert r.exit_code == 2 and "gpus = 0.5" in r.stderr, r.output
    r = runner.invoke(
        app, ["train", "llama3.1-8b", "--gpus", "64", "--mfu", "0.4", "--tokens", "1e300"]
    )
    assert r.exit_code == 2 and "tokens = 1e+300" in r.stderr and "nan" not in r.stderr, r.output


def test_an_oversized_plan_names_its_chip_count() -> None:
    with pytest.raises(ValidationError, match="2\\^40") as info:
        bw.TrainingPlan(tp=1 << 20, pp=1 << 20, dp=2, global_batch=2)
    assert "overflow" not in str(info.value) and str(1 << 41) in str(info.value)


# -- 3. --plot ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/proc/x.png", "/nonexistent/d/x.png"])
def test_train_plot_to_an_unwritable_path_is_refused_before_the_work(target: str) -> None:
    r = runner.invoke(app, [*BASE, "--tp", "8", "--plot", target])
    assert r.exit_code == 2 and "--plot" in r.stderr and r.stderr.count("\n") == 1, r.output


def test_train_plot_into_a_folder_writes_train_png_and_the_frontier(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = runner.invoke(app, [*BASE, "--tp", "8", "--plot", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "train.png").is_file()
    assert not (tmp_path / "train-frontier.png").exists()  # one plan given: no search
    r = runner.invoke(app, [*BASE, "--plot", str(tmp_path)])  # no --tp/--pp: plans searched
    assert r.exit_code == 0, r.output
    assert (tmp_path / "train-frontier.png").is_file()


# -- 4. TrainingPlan and search_plans ---------------------------------------------------------------


def test_a_plan_stores_its_names_normalised() -> None:
    plan = bw.TrainingPlan(precision="FP8", schedule="1F1B", recompute="Full", global_batch=1)
    assert (plan.precision, plan.schedule, plan.recompute) == ("fp8", "1f1b", "full")
    assert bw.plan_step(LLAMA8, "H100-SXM", plan).plan.precision == "fp8"


def test_search_refuses_chunks_a_plan_refuses() -> None:
    with pytest.raises(ValidationError, match="schedules"):
        bw.search_plans(LLAMA8, "H100-SXM", 64, 512, 4096, schedules=[("1f1b", 3)])
    with pytest.raises(ValidationError, match="schedules"):
        bw.search_plans(LLAMA8, "H100-SXM", 64, 512, 4096, schedules=[("interleaved-1f1b", 1)])


def test_search_skips_plans_the_chip_cannot_run() -> None:
    kw = dict(tp=[8], pp=[1], k=100)
    b200 = bw.hardware("B200")
    assert b200.host_bandwidth is None
    both = bw.search_plans(LLAMA8, b200, 64, 512, 4096, offload=[True, False], **kw)
    plain = bw.search_plans(LLAMA8, b200, 64, 512, 4096, offload=[False], **kw)
    assert both.feasible == plain.feasible > 0 and both.points == 2 * plain.points
    assert not any(s.plan.offload for s in both.steps)
    with pytest.raises(ValidationError, match="offload"):
        bw.search_plans(LLAMA8, b200, 64, 512, 4096, offload=[True], **kw)
    a100 = bw.hardware("A100-80GB")
    mixed = bw.search_plans(LLAMA8, a100, 64, 512, 4096, precision=["bf16", "fp8"], **kw)
    assert mixed.feasible > 0 and all(s.plan.precision == "bf16" for s in mixed.steps)
    with pytest.raises(ValidationError, match="fp8"):
        bw.search_plans(LLAMA8, a100, 64, 512, 4096, precision=["fp8"], **kw)


# -- 5. chip files -----------------------------------------------------------------------------------

CHIP = """name = "x"
memory_gb = 80
memory_bandwidth_tb_s = 3.35
scale_up_gb_s = 450
scale_up_domain = 8
source = "test"
tflops = { bf16 = 989.4 }
"""


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (
            "host_bandwidth_gb_s = 1e-300\n",
            "host_bandwidth_gb_s = 1e-300: expected a number > 0, in [0.001",
        ),
        ("host_bandwidth_gb_s = 1" + "0" * 300 + "\n", "host_bandwidth_gb_s = 1.00000e+300"),
    ],
)
def test_chip_file_rates_are_bounded_and_shown_compactly(
    tmp_path: Path, extra: str, needle: str
) -> None:
    path = tmp_path / "chip.toml"
    path.write_text(CHIP + extra)
    with pytest.raises(ValidationError) as info:
        bw.hardware(str(path))
    assert needle in str(info.value) and len(str(info.value)) < 300, str(info.value)


def test_chip_file_fp8_peak_overflowing_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "chip.toml"
    path.write_text(CHIP.replace("bf16 = 989.4", "bf16 = 989.4, fp8 = 1e300"))
    with pytest.raises(ValidationError, match=f"chip file {path}: tflops.fp8 = 1e\\+300"):
        bw.hardware(str(path))


# -- 6. calibrate's measured tables ------------------------------------------------------------------


@pytest.mark.parametrize("path", [None, 5])
def test_read_measured_wants_a_path(path: object) -> None:
    with pytest.raises(BrickwallTypeError, match="path"):
        read_measured(path)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('[measured.copy]\nbytes = "x"\n', "measured.copy.bytes"),
        ("[measured.copy]\ntime_s = [nan, -1]\n", "measured.copy.time_s"),
        ("[measured.copy]\ntime_s = [1.0, 2.0]\nbytes = [1]\n", "[measured.copy] columns"),
        ("[measured.copy.x.y]\nz = 1\n", "measured.copy.x is a table"),
        ("[measured]\nnotes = [1]\n", "measured.notes"),
    ],
)
def test_read_measured_refuses_garbage(tmp_path: Path, table: str, needle: str) -> None:
    path = tmp_path / "chip.toml"
    path.write_text(CHIP + "\n" + table)
    with pytest.raises(ValidationError) as info:
        read_measured(path)
    message = str(info.value)
    assert message.startswith(f"chip file {os.fspath(path)}") and needle in message, message
