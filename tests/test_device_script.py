"""scripts/device_h200.py without a GPU: its arguments, and its prediction side on a fake
measurement whose relation to brickwall's numbers is known."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import brickwall as bw
import pytest
from brickwall.calibrate import Calibration, write_profile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("device_h200", ROOT / "scripts/device_h200.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["device_h200"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_arguments(script: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUT", "/somewhere")
    a = script.parse_args([])
    assert (a.out, a.hardware, a.quick, a.skip, a.budget_s) == (
        "/somewhere",
        "h200",
        False,
        [],
        540,
    )
    a = script.parse_args(["--quick", "--skip", "train", "--skip", "calibrate", "--out", "x"])
    assert a.quick and a.skip == ["train", "calibrate"] and a.out == "x"
    for bad in (["--budget-s", "0"], ["--repeats", "0"], ["--skip", "everything"]):
        with pytest.raises(SystemExit) as e:
            script.parse_args(bad)
        assert e.value.code == 2


def _fake(script: ModuleType, hw: bw.Hardware) -> dict[str, object]:
    """A measurement at known multiples of brickwall's default prediction."""
    m, d = bw.model(script.MODEL), bw.Deployment(hw)
    decode = [
        {
            "batch": b,
            "context": c,
            "eager_s": 2.0 * bw.decode(m, d, b, c).step_time,
            "graph_s": 1.25 * bw.decode(m, d, b, c).step_time,
        }
        for b, c in script.DECODE
    ]
    prefill = [
        {"batch": b, "prompt": p, "seconds": 1.1 * bw.prefill(m, d, b, p).step_time}
        for b, p in script.PREFILL
    ]
    t = script.TRAIN
    plan = bw.TrainingPlan(
        microbatch=t["batch"],
        global_batch=t["batch"],
        seq_len=t["seq_len"],
        recompute="none",
        zero=0,
    )
    step = bw.plan_step(m.with_(layers=t["layers"]), hw, plan)
    train = {**t, "seconds": 2.0 * step.step_time, "peak_memory_bytes": 0.8 * step.mem_total}
    return {"model": script.MODEL, "decode": decode, "prefill": prefill, "train": train}


def test_predictions_and_errors(script: ModuleType, tmp_path: Path) -> None:
    h200 = bw.hardware("H200")
    measured = _fake(script, h200)
    slow = bw.Efficiency(flops=0.5, memory=0.6, gemm_m_half=64.0, kernel_overhead=6e-6)
    faked = h200.with_(efficiency=slow)
    r = script.predict(measured, {"default": h200, "measured": faked})
    d = r["profiles"]["default"]
    for row in d["decode"]:
        assert row["error_vs_graph"] == pytest.approx(1 / 1.25 - 1, rel=1e-12)
        assert row["error_vs_eager"] == pytest.approx(-0.5, rel=1e-12)
    assert all(row["error"] == pytest.approx(1 / 1.1 - 1) for row in d["prefill"])
    tr = d["train"]
    assert tr["error"] == pytest.approx(-0.5) and tr["memory_error"] == pytest.approx(0.25)
    # the measured MFU counts brickwall's model FLOPs over the measured time: half the predicted
    assert tr["measured_mfu"] == pytest.approx(tr["predicted_mfu"] / 2, rel=1e-9)
    assert d["median_abs_error"] == pytest.approx(0.2)  # 3 decode at 0.2, 2 prefill, 1 train
    # a slower profile predicts slower steps
    s = r["profiles"]["measured"]
    assert all(
        a["predicted_s"] > b["predicted_s"] for a, b in zip(s["decode"], d["decode"], strict=True)
    )
    assert s["efficiency"]["memory"] == 0.6


def test_predict_only_reads_a_measurement_and_a_profile(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h200 = bw.hardware("H200")
    slow = bw.Efficiency(flops=0.5, memory=0.6, gemm_m_half=64.0, kernel_overhead=6e-6)
    measured = Calibration(h200, slow, "test", {"tool": "test", "date": "2026-11-30"}, {}, {}, 6e-6)
    profile = write_profile(measured, tmp_path / "p.toml")
    given = tmp_path / "e2e-measured.json"
    given.write_text(json.dumps(_fake(script, h200)))
    # the checkout's python/ holds the compiled extension here: no wheel needed
    monkeypatch.setattr(script, "install", lambda wheel: str(ROOT / "python"))
    args = ["--predict-only", str(given), "--profile", str(profile), "--out", str(tmp_path)]
    assert script.main(args) == 0
    out = json.loads((tmp_path / "e2e-predicted.json").read_text())
    assert set(out["profiles"]) == {"default", "measured"}
    assert out["profiles"]["measured"]["efficiency"]["memory"] == 0.6
