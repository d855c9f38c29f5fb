"""brickwall calibrate: the fit recovers a known profile from synthetic timings, the numpy
backend runs the whole harness on this CPU at toy sizes, and the file it writes loads as a chip
and reads back every measurement."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.calibrate import (
    FULL,
    QUICK,
    NumpyBackend,
    Unsupported,
    calibrate,
    chip_file_text,
    read_measured,
    write_profile,
)
from brickwall.calibrate.fit import fit_gemm
from brickwall.cli import app
from brickwall.collectives import collective_time
from typer.testing import CliRunner

H200 = bw.hardware("H200")
TRUE = bw.Efficiency(flops=0.62, memory=0.83, gemm_m_half=48.0, kernel_overhead=4.5e-6)
#: what the synthetic chip's other kernels reach: fp8 GEMMs, attention, collectives
FP8_PLATEAU, FP8_M_HALF = 0.55, 96.0
PREFILL_FRACTION, DECODE_FRACTION = 0.45, 0.6
NETWORK, LATENCY = 0.7, 2.5e-6


class Synthetic:
    """Timings a chip with profile ``TRUE`` would show: each operation the slower of its
    compute and its memory traffic (counted here from the shapes, not by brickwall), plus the
    per-kernel floor; attention at its own fractions, collectives by the alpha-beta model."""

    name = "synthetic"

    def __init__(self, hw: bw.Hardware, e: bw.Efficiency, ranks: int = 8) -> None:
        self.hw, self.e, self.ranks = hw, e, ranks

    def describe(self) -> dict[str, str]:
        return {"device": "synthetic"}

    def _bw(self, fraction: float | None = None) -> float:
        return self.hw.memory_bandwidth * (self.e.memory if fraction is None else fraction)

    def copy(self, nbytes: int) -> float:
        return 2 * nbytes / self._bw() + self.e.kernel_overhead

    def _gemm(self, m: int, n: int, k: int, peak: float, m_half: float, size: int) -> float:
        rate = peak * m / (m + m_half)
        read = (n * k + m * k + m * n) * size / self._bw()
        return max(2 * m * n * k / rate, read) + self.e.kernel_overhead

    def gemm(self, m: int, n: int, k: int) -> float:
        peak = self.hw.flops("bf16") * self.e.flops
        return self._gemm(m, n, k, peak, self.e.gemm_m_half, 2)

    def gemm_fp8(self, m: int, n: int, k: int) -> float:
        return self._gemm(m, n, k, self.hw.flops("fp8") * FP8_PLATEAU, FP8_M_HALF, 1)

    def tiny_kernel(self) -> float:
        return self.e.kernel_overhead

    def tiny_kernel_eager(self) -> float:
        return 3 * self.e.kernel_overhead

    def attention_prefill(self, b: int, h: int, kv: int, d: int, n: int) -> float:
        flops = 4 * b * h * d * n * (n + 1) / 2  # QK^T and PV over the causal triangle
        kv_bytes = 2 * b * kv * n * d * 2
        compute = flops / (self.hw.flops("bf16") * PREFILL_FRACTION)
        return max(compute, kv_bytes / self._bw(DECODE_FRACTION)) + self.e.kernel_overhead

    def attention_decode(self, b: int, h: int, kv: int, d: int, n: int) -> float:
        flops, kv_bytes = 4 * b * h * d * n, 2 * b * kv * n * d * 2
        compute = flops / (self.hw.flops("bf16") * PREFILL_FRACTION)
        return max(compute, kv_bytes / self._bw(DECODE_FRACTION)) + self.e.kernel_overhead

    def devices(self) -> int:
        return self.ranks

    def collectives(
        self, kinds: tuple[str, ...], sizes: tuple[int, ...]
    ) -> dict[tuple[str, int], float]:
        if self.ranks < 2:
            raise Unsupported("one GPU")
        link = self.hw.scale_up_bandwidth * NETWORK
        return {
            (k, b): collective_time(k, b, self.ranks, bandwidth=link, latency=LATENCY)
            for k in kinds
            for b in sizes
        }


@pytest.mark.parametrize("quick", [True, False])
def test_the_fit_recovers_a_known_profile(quick: bool) -> None:
    c = calibrate(H200, Synthetic(H200, TRUE), quick=quick)
    e = c.efficiency
    assert e.flops == pytest.approx(TRUE.flops, rel=1e-9)
    assert e.gemm_m_half == pytest.approx(TRUE.gemm_m_half, rel=1e-9)
    assert e.kernel_overhead == pytest.approx(TRUE.kernel_overhead, rel=1e-12)
    assert e.memory == pytest.approx(TRUE.memory, rel=1e-9)
    assert c.fp8_fit == pytest.approx((FP8_PLATEAU, FP8_M_HALF), rel=1e-9)
    assert c.eager_kernel_s == pytest.approx(3 * TRUE.kernel_overhead, rel=1e-12)
    # collectives: the large message's fraction of the link, the small one's latency per step
    assert c.network is not None and e.network == pytest.approx(NETWORK, rel=1e-9)
    assert c.network.latency_s == pytest.approx(LATENCY, rel=1e-6)
    assert c.profiled().scale_up_latency == c.network.latency_s
    # attention: each kernel's fraction of peak, whatever its size
    sizes = QUICK if quick else FULL
    assert len(c.attention) == len(sizes.prefill) + len(sizes.decode)
    for p in c.attention:
        want = PREFILL_FRACTION if p.phase == "prefill" else DECODE_FRACTION
        assert p.fraction == pytest.approx(want, rel=1e-9), p
    # only the fp8 curve and the decode attention below the copy fraction are worth a note
    assert len(c.notes) == 2 and "decode attention" in c.notes[1], c.notes


def test_attention_is_predicted_by_the_step_model_under_the_fitted_profile() -> None:
    c = calibrate(H200, Synthetic(H200, TRUE))
    for p in c.attention:
        # the synthetic kernels reach their own fractions; the step model prices attention at
        # the profile's (flops for prefill, the copy fraction for decode) plus one floor
        used, real = (
            (TRUE.flops, PREFILL_FRACTION)
            if p.phase == "prefill"
            else (TRUE.memory, DECODE_FRACTION)
        )
        floor = TRUE.kernel_overhead
        expected = (p.roofline_s / used + floor) / (p.roofline_s / real + floor) - 1
        assert p.error == pytest.approx(expected, rel=1e-9)
        assert p.measured_s == pytest.approx(p.roofline_s / real + floor, rel=1e-9)
    decode = [p for p in c.attention if p.phase == "decode"]
    assert all(p.error < 0 for p in decode)  # a copy fraction above attention's: too fast


def test_what_a_backend_cannot_measure_is_left_out_with_a_note() -> None:
    one_gpu = Synthetic(H200, TRUE, ranks=1)

    def no_fp8(m: int, n: int, k: int) -> float:
        raise Unsupported("no fp8 tensor cores")

    one_gpu.gemm_fp8 = no_fp8  # type: ignore[method-assign]
    c = calibrate(H200, one_gpu, quick=False)
    assert sum("fp8" in n for n in c.notes) == 1  # once, not once per shape
    assert c.network is None and c.efficiency.network == H200.efficiency.network
    assert c.fp8_fit is None and not c.fp8_gemm_s and not c.collectives_s
    assert any("no fp8 tensor cores" in n for n in c.notes)
    assert any("collectives not measured: one GPU" in n for n in c.notes)
    text = chip_file_text(c)
    assert "[measured.gemm_fp8]" not in text and "[measured.collectives]" not in text
    # a chip without an fp8 peak is not asked for fp8 GEMMs
    no_fp8_chip = H200.with_(peak_flops={"bf16": H200.flops("bf16")})
    c = calibrate(no_fp8_chip, Synthetic(no_fp8_chip, TRUE))
    assert c.fp8_fit is None and any("has no fp8 peak" in n for n in c.notes)
    # more GPUs than the scale-up domain: timed, but not fitted as the scale-up link
    many = Synthetic(H200, TRUE, ranks=16)
    c = calibrate(H200, many)
    assert c.network is None and c.collectives_s and any("scale-up domain" in n for n in c.notes)


def test_memory_bound_gemms_are_left_out_of_the_fit() -> None:
    # M = 1..64 on an H200 at bf16 is bound by the weight read; those points say nothing
    times = {(m, 8192, 8192): Synthetic(H200, TRUE).gemm(m, 8192, 8192) for m in (1, 2, 4, 8)}
    assert fit_gemm(times, TRUE.kernel_overhead, H200.flops("bf16"), 4e12, 2)[2] == 0
    c = calibrate(H200, Synthetic(H200, TRUE), sizes=replace(QUICK, rows=(1, 2, 4, 8)))
    assert c.efficiency.flops == H200.efficiency.flops  # kept, and says why
    assert any("GEMM curve not fitted" in n for n in c.notes)


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
    assert h.scale_up_latency == pytest.approx(LATENCY, rel=1e-6)


def test_every_measurement_reads_back_from_the_file(tmp_path: Path) -> None:
    c = calibrate(H200, Synthetic(H200, TRUE), quick=False)
    path = write_profile(c, tmp_path / "h200.toml")
    m = read_measured(path)
    assert m["backend"] == "synthetic" and m["notes"] == c.notes
    assert m["provenance"] == c.provenance
    g = m["gemm_bf16"]
    assert list(zip(g["m"], g["n"], g["k"], strict=True)) == list(c.gemm_s)
    assert g["time_s"] == list(c.gemm_s.values())  # exact: repr round-trips a float
    assert (g["plateau_fraction"], g["m_half_rows"]) == (
        c.efficiency.flops,
        c.efficiency.gemm_m_half,
    )
    assert m["gemm_fp8"]["time_s"] == list(c.fp8_gemm_s.values())
    assert m["gemm_fp8"]["plateau_fraction"] == c.fp8_fit[0]  # type: ignore[index]
    assert m["kernels"]["graph_replay_us"] == c.kernel_s * 1e6
    assert m["kernels"]["eager_us"] == c.eager_kernel_s * 1e6  # type: ignore[operator]
    assert m["copy"]["bytes"] == list(c.copy_bytes_s)
    for phase in ("prefill", "decode"):
        pts = [p for p in c.attention if p.phase == phase]
        t = m["attention"][phase]
        assert t["time_s"] == [p.measured_s for p in pts]
        assert t["predicted_s"] == [p.predicted_s for p in pts]
        assert t["error"] == [p.error for p in pts]
        assert t["tokens"] == [p.tokens for p in pts]
    assert m["attention"]["decode_bandwidth_fraction"] == pytest.approx(DECODE_FRACTION)
    assert m["attention"]["prefill_flops_fraction"] == pytest.approx(PREFILL_FRACTION)
    col = m["collectives"]
    assert col["ranks"] == 8 and col["network_fraction"] == c.network.fraction  # type: ignore[union-attr]
    assert col["latency_per_step_us"] == pytest.approx(LATENCY * 1e6, rel=1e-6)
    ar = col["all_reduce"]
    assert dict(zip(ar["bytes"], ar["time_s"], strict=True)) == {
        b: t for (k, b), t in c.collectives_s.items() if k == "all-reduce"
    }
    assert read_measured(tmp_path / "h200.toml") == m


def test_the_chip_reader_takes_measured_tables_and_refuses_a_bad_one(tmp_path: Path) -> None:
    text = chip_file_text(calibrate(H200, Synthetic(H200, TRUE)))
    good = tmp_path / "good.toml"
    good.write_text(text + "\n[measured.mine]\nanything = [1, 2]\n")
    assert bw.hardware(str(good)).memory == H200.memory
    assert read_measured(good)["mine"] == {"anything": [1, 2]}
    bad = tmp_path / "bad.toml"
    bad.write_text(text.split("\n[efficiency]")[0].replace("name =", "measured = 3\nname ="))
    with pytest.raises(bw.errors.BrickwallTypeError, match="measured = 3"):
        bw.hardware(str(bad))
    with pytest.raises(bw.errors.ValidationError, match="expected a table"):
        read_measured(bad)


def test_the_numpy_harness_runs_at_toy_sizes(tmp_path: Path) -> None:
    # this CPU as a "chip" with peaks far above what it reaches, so every fraction is in (0, 1]
    cpu = H200.with_(name="cpu", memory_bandwidth=1e13, peak_flops={"bf16": 1e16, "fp8": 2e16})
    c = calibrate(cpu, NumpyBackend(repeats=3))  # the backend's own toy sizes
    assert "dry run" in c.notes[0] and "custom sizes" in c.provenance["tool"]
    assert any("numpy has no fp8 GEMM" in n for n in c.notes)
    assert any("numpy runs on one CPU" in n for n in c.notes)
    e = c.efficiency
    assert 0 < e.memory <= 1 and 0 < e.flops <= 1 and e.kernel_overhead > 0
    assert all(math.isfinite(t) and t > 0 for t in c.gemm_s.values())
    assert {p.phase for p in c.attention} == {"prefill", "decode"}
    for p in c.attention:
        assert p.measured_s > 0 and p.predicted_s > 0 and p.roofline_s > 0
    path = write_profile(c, tmp_path / "cpu.toml")
    h = bw.hardware(str(path))
    assert h.efficiency == e
    assert read_measured(path)["attention"]["decode"]["batch"] == [1, 4]


def test_numpy_attention_is_attention() -> None:
    np = pytest.importorskip("numpy")
    nb = NumpyBackend()
    rng = np.random.default_rng(1)
    q = rng.standard_normal((1, 2, 2, 3, 4))
    k, v = rng.standard_normal((1, 2, 3, 4)), rng.standard_normal((1, 2, 3, 4))
    out = nb._attend(q, k, v, causal=True)
    # query 0 sees key 0 only; the last query sees every key with softmax weights
    assert np.allclose(out[..., 0, :], v[:, :, None, 0, :])
    s = np.einsum("hgd,hkd->hgk", q[0, :, :, -1], k[0]) / 2.0
    w = np.exp(s) / np.exp(s).sum(-1, keepdims=True)
    assert np.allclose(out[0, :, :, -1], np.einsum("hgk,hkd->hgd", w, v[0]))


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
    ops = ("copy", "gemm", "tiny_kernel", "tiny_kernel_eager", "attention_prefill")
    for op in (*ops, "gemm_fp8", "attention_decode"):
        backend = Synthetic(H200, TRUE)
        if bad == 1e300 and op not in ("copy", "tiny_kernel"):
            continue  # a slow kernel is a legal timing (a slow GEMM is left out of the fit)
        setattr(backend, op, lambda *a, v=bad: v)
        with pytest.raises(bw.errors.ValidationError):
            calibrate(H200, backend)
    backend = Synthetic(H200, TRUE)
    backend.collectives = lambda kinds, sizes: {("all-reduce", 1 << 20): bad}  # type: ignore[method-assign]
    if bad != 1e300:
        with pytest.raises(bw.errors.ValidationError, match="all-reduce"):
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


def test_the_network_fit_from_one_size_and_a_fraction_above_one() -> None:
    from brickwall.calibrate.network import fit_network

    link = H200.scale_up_bandwidth
    big = 1 << 30
    t = collective_time("all-reduce", big, 8, bandwidth=link * 0.5)
    one = fit_network({("all-reduce", big): t}, 8, link)
    # a single size cannot separate latency from bandwidth: the fraction takes the whole time
    assert one.fraction == pytest.approx(0.5, rel=1e-12) and one.latency_s is None
    fast = fit_network({("all-reduce", big): t / 4}, 8, link)
    assert fast.fraction is None and fast.latency_s is None and "scale-up peak" in fast.notes[0]
    # all-to-all alone is the profile's fraction
    t2 = {
        ("all-to-all", b): collective_time("all-to-all", b, 4, bandwidth=link * 0.8, latency=3e-6)
        for b in (4096, 1 << 20, 1 << 28)
    }
    f = fit_network(t2, 4, link)
    assert f.fraction == pytest.approx(0.8, rel=1e-9) and f.latency_s == pytest.approx(3e-6)
