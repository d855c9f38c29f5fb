"""brickwall calibrate: the fit recovers a known profile from synthetic timings, the numpy
backend runs the whole harness on this CPU at toy sizes, and the file it writes loads as a chip."""

from __future__ import annotations

import math
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.calibrate import NumpyBackend, calibrate, chip_file_text, write_profile
from brickwall.calibrate.fit import fit_gemm
from brickwall.cli import app
from typer.testing import CliRunner

H200 = bw.hardware("H200")
TRUE = bw.Efficiency(flops=0.62, memory=0.83, gemm_m_half=48.0, kernel_overhead=4.5e-6)


class Synthetic:
    """Timings a chip with profile ``TRUE`` would show: each operation the slower of its
    compute and its memory traffic, plus the per-kernel floor."""

    name = "synthetic"

    def __init__(self, hw: bw.Hardware, e: bw.Efficiency) -> None:
        self.hw, self.e = hw, e

    def describe(self) -> dict[str, str]:
        return {"device": "synthetic"}

    def copy(self, nbytes: int) -> float:
        return 2 * nbytes / (self.hw.memory_bandwidth * self.e.memory) + self.e.kernel_overhead

    def gemm(self, m: int, n: int, k: int) -> float:
        peak = self.hw.flops("bf16") * self.e.flops * m / (m + self.e.gemm_m_half)
        read = (n * k + m * k + m * n) * 2 / (self.hw.memory_bandwidth * self.e.memory)
        return max(2 * m * n * k / peak, read) + self.e.kernel_overhead

    def tiny_kernel(self) -> float:
        return self.e.kernel_overhead


@pytest.mark.parametrize("quick", [True, False])
def test_the_fit_recovers_a_known_profile(quick: bool) -> None:
    c = calibrate(H200, Synthetic(H200, TRUE), quick=quick)
    e = c.efficiency
    assert e.flops == pytest.approx(TRUE.flops, rel=1e-9)
    assert e.gemm_m_half == pytest.approx(TRUE.gemm_m_half, rel=1e-9)
    assert e.kernel_overhead == pytest.approx(TRUE.kernel_overhead, rel=1e-12)
    assert e.memory == pytest.approx(TRUE.memory, rel=1e-9)
    assert e.network == H200.efficiency.network and not c.notes


def test_memory_bound_gemms_are_left_out_of_the_fit() -> None:
    # M = 1..64 on an H200 at bf16 is bound by the weight read; those points say nothing
    times = {(m, 8192, 8192): Synthetic(H200, TRUE).gemm(m, 8192, 8192) for m in (1, 2, 4, 8)}
    assert fit_gemm(times, TRUE.kernel_overhead, H200.flops("bf16"), 4e12, 2)[2] == 0
    c = calibrate(H200, Synthetic(H200, TRUE), rows=(1, 2, 4, 8))
    assert c.efficiency.flops == H200.efficiency.flops and c.notes  # kept, and says why


def test_a_chip_slower_than_its_peak_is_refused() -> None:
    fast = bw.Efficiency(memory=1.0)
    too_fast = Synthetic(H200.with_(memory_bandwidth=H200.memory_bandwidth * 2), fast)
    with pytest.raises(bw.errors.ValidationError, match="copy bandwidth"):
        calibrate(H200, too_fast)


def test_the_profile_file_loads_as_a_chip(tmp_path: Path) -> None:
    c = calibrate(H200, Synthetic(H200, TRUE))
    path = write_profile(c, tmp_path / "h200.toml")
    h = bw.hardware(str(path))
    assert h.name == "H200-measured" and h.efficiency == c.efficiency
    assert h.memory_bandwidth == pytest.approx(H200.memory_bandwidth, rel=1e-12)
    assert dict(h.peak_flops) == pytest.approx(dict(H200.peak_flops), rel=1e-12)
    assert "brickwall calibrate" in h.source and "synthetic" in h.source
    # a decode with the measured profile differs from the default one by the profile alone
    m = bw.model("llama3.1-8b")
    mine = bw.decode(m, bw.Deployment(h), 1, 1000)
    assert (
        mine.step_time
        == bw.decode(m, bw.Deployment(H200, efficiency=c.efficiency), 1, 1000).step_time
    )
    assert "gemm M=" in chip_file_text(c)


def test_the_numpy_harness_runs_at_toy_sizes(tmp_path: Path) -> None:
    # this CPU as a "chip" with peaks far above what it reaches, so every fraction is in (0, 1]
    cpu = H200.with_(name="cpu", memory_bandwidth=1e13, peak_flops={"bf16": 1e16})
    c = calibrate(cpu, NumpyBackend(repeats=3))  # the backend's own toy sizes
    assert "dry run" in c.notes[0] and "custom sizes" in c.provenance["tool"]
    e = c.efficiency
    assert 0 < e.memory <= 1 and 0 < e.flops <= 1 and e.kernel_overhead > 0
    assert all(math.isfinite(t) and t > 0 for t in c.gemm_s.values())
    h = bw.hardware(str(write_profile(c, tmp_path / "cpu.toml")))
    assert h.efficiency == e


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "dry.toml"
    r = runner.invoke(
        app, ["calibrate", "--backend", "numpy", "--hardware", "H100-SXM", "--out", str(out)]
    )
    # an H100's peaks are far above this CPU's: the file is written, with tiny fractions
    assert r.exit_code == 0, r.output
    assert bw.hardware(str(out)).name == "H100-SXM-measured"
    r = runner.invoke(app, ["calibrate", "-H", "H200", "--backend", "cuda-please"])
    assert r.exit_code == 2 and "--backend" in r.output
    # the chip is never assumed: its peaks are the denominators
    r = runner.invoke(app, ["calibrate", "--backend", "numpy"])
    assert r.exit_code == 2 and "--hardware" in r.output


def test_validate_plot(tmp_path: Path) -> None:
    out = tmp_path / "v.png"
    r = CliRunner().invoke(app, ["validate", "--only", "S5-lmdeploy", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, 1e300])
def test_broken_timings_are_refused_not_fitted(bad: float) -> None:
    for op in ("copy", "gemm", "tiny_kernel"):
        backend = Synthetic(H200, TRUE)
        if op == "gemm" and bad == 1e300:
            continue  # a slow GEMM is a legal (memory-bound) timing: left out of the fit
        setattr(backend, op, lambda *a, v=bad: v)
        with pytest.raises(bw.errors.ValidationError):
            calibrate(H200, backend)
    with pytest.raises(bw.errors.ValidationError, match="peak"):
        fit_gemm({(64, 8192, 8192): 1.0, (128, 8192, 8192): 2.0}, 0.0, 0.0, 1e12, 2)
    with pytest.raises(bw.errors.ValidationError, match="backend"):
        calibrate(H200, None)  # type: ignore[arg-type]


def test_names_cannot_inject_keys(tmp_path: Path) -> None:
    evil = 'x"\nprice_per_hour_usd = 0.01\n#'
    with pytest.raises(bw.errors.ValidationError):
        bw.hardware(str(tmp_path / "nothing.toml"))
    c = calibrate(H200.with_(name=evil), Synthetic(H200, TRUE))
    path = write_profile(c, tmp_path / "evil.toml", name="clean")
    assert bw.hardware(str(path)).price_per_hour == H200.price_per_hour
