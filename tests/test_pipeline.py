"""Pipeline schedules: core vs the reference event loop (exact), closed-form oracles
(docs/sources.md), and a structural check of every simulated timeline (dependencies respected, no
overlap on a device)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brickwall import pipeline as pp
from brickwall.errors import BrickwallError, TooLargeError, ValidationError
from brickwall.reference import pipeline as ref
from hypothesis import given
from hypothesis import strategies as st

# Multiples of 1/4: every sum below is exact in binary floating point, so the closed forms
# hold with ==.
quarters = st.integers(0, 16).map(lambda x: x / 4)
positive_quarters = st.integers(1, 16).map(lambda x: x / 4)


def check_timeline(s: pp.Schedule, f: object, b: object, w: object) -> None:
    """Every op after its inputs (plus p2p across devices), devices run one op at a time in
    order, durations as given, and every (kind, stage, microbatch, chunk) exactly once."""
    t = s.timeline
    p, v, m = s.stages, s.chunks, s.microbatches
    split = s.schedule in ("zb-h1", "zb-h2")
    fv = ref.expand(list(np.atleast_1d(np.asarray(f, dtype=float))), p, v)
    bv = ref.expand(list(np.atleast_1d(np.asarray(b, dtype=float))), p, v)
    wv = (
        [0.0] * (p * v)
        if w is None
        else ref.expand(list(np.atleast_1d(np.asarray(w, dtype=float))), p, v)
    )
    if not split:
        bv = [x + y for x, y in zip(bv, wv)]
    end: dict[tuple[int, int, int], float] = {}
    start: dict[tuple[int, int, int], float] = {}
    for i in range(len(t)):
        d, k, j, c = int(t.stage[i]), int(t.kind[i]), int(t.microbatch[i]), int(t.chunk[i])
        vs = c * p + d
        key = (k, vs, j)
        assert key not in end, f"op {key} twice"
        assert t.end[i] == t.start[i] + (fv, bv, wv)[k][vs]
        start[key], end[key] = float(t.start[i]), float(t.end[i])
        if i and t.stage[i - 1] == d:
            assert t.start[i] >= t.end[i - 1], "two ops at once on one device"
    kinds = [0] if s.schedule == "forward" else ([0, 1, 2] if split else [0, 1])
    assert len(end) == len(kinds) * p * v * m
    hop = s.p2p if p > 1 else 0.0
    for (k, vs, j), st_ in start.items():
        if k == 0 and vs > 0:
            assert st_ >= end[(0, vs - 1, j)] + hop
        if k == 1:
            assert st_ >= end[(0, vs, j)]
            if vs < p * v - 1:
                assert st_ >= end[(1, vs + 1, j)] + hop
        if k == 2:
            assert st_ >= end[(1, vs, j)]
    assert s.makespan == max(end.values(), default=0.0)


def run_both(
    schedule: str,
    p: int,
    m: int,
    f: list[float],
    b: list[float],
    w: list[float] | None,
    v: int,
    p2p: float,
) -> pp.Schedule:
    s = pp.simulate(schedule, p, m, f, b, w, v, p2p)
    r = ref.simulate(schedule, p, m, f, b, w, v, p2p)
    for k in ("stage", "kind", "microbatch", "chunk", "start", "end"):
        assert getattr(s.timeline, k).tolist() == r[k], k
    assert s.makespan == r["makespan"]
    assert s.busy.tolist() == r["busy"]
    assert s.peak_in_flight.tolist() == r["peak_in_flight"]
    check_timeline(s, f, b, w)
    assert s.makespan >= s.lower_bound * (1 - 1e-12)
    return s


@st.composite
def configs(
    draw: st.DrawFn,
) -> tuple[str, int, int, list[float], list[float], list[float] | None, int, float]:
    schedule = draw(st.sampled_from(pp.SCHEDULES))
    p = draw(st.integers(1, 6))
    v = draw(st.integers(1, 3)) if schedule == "interleaved-1f1b" else 1
    m = p * draw(st.integers(1, 3)) if v > 1 else draw(st.integers(1, 12))
    n = draw(st.sampled_from([1, p] + ([p * v] if v > 1 else [])))
    f = draw(st.lists(st.floats(0, 3), min_size=n, max_size=n))
    if schedule == "forward":
        b, w = [0.0], None
    else:
        b = draw(st.lists(st.floats(0, 3), min_size=n, max_size=n))
        needs_w = schedule in ("zb-h1", "zb-h2")
        w = (
            draw(st.lists(st.floats(0, 3), min_size=n, max_size=n))
            if needs_w or draw(st.booleans())
            else None
        )
    p2p = draw(st.sampled_from([0.0, 0.1, 0.37]))
    return schedule, p, m, f, b, w, v, p2p


@given(configs())
def test_core_equals_reference_and_timelines_are_valid(cfg: tuple) -> None:
    run_both(*cfg)


@given(
    st.sampled_from(["gpipe", "1f1b"]),
    st.integers(1, 10),
    st.integers(1, 30),
    positive_quarters,
    quarters,
)
def test_uniform_gpipe_1f1b_makespan(schedule: str, p: int, m: int, f: float, b: float) -> None:
    s = pp.simulate(schedule, p, m, f, b)
    assert s.makespan == (m + p - 1) * (f + b)
    assert s.bubble_ratio == pytest.approx((p - 1) / m, rel=1e-12)
    check_timeline(s, f, b, None)


@given(st.integers(1, 8), st.integers(1, 4), st.integers(1, 4), positive_quarters, quarters)
def test_interleaved_bubble_is_p_minus_1_over_v_m(
    p: int, v: int, k: int, f: float, b: float
) -> None:
    m = k * p
    s = pp.simulate("interleaved-1f1b", p, m, f * v, b * v, chunks=v)  # chunk times f, b
    assert s.bubble_ratio == pytest.approx((p - 1) / (v * m), rel=1e-12, abs=1e-15)
    check_timeline(s, f * v, b * v, None)


@given(st.integers(1, 10), st.integers(0, 20), positive_quarters)
def test_zb_h1_is_a_third_of_1f1b_at_equal_times(p: int, extra: int, t: float) -> None:
    m = p + extra
    one = pp.simulate("1f1b", p, m, t, t, t)
    h1 = pp.simulate("zb-h1", p, m, t, t, t)
    assert one.bubble == 3 * h1.bubble
    assert h1.bubble == p * (p - 1) * t
    np.testing.assert_array_equal(h1.peak_in_flight, one.peak_in_flight)  # 1F1B's memory


@given(
    st.integers(1, 8), st.integers(1, 24), positive_quarters, positive_quarters, st.integers(0, 16)
)
def test_zb_h2_le_zb_h1_le_1f1b(p: int, m: int, f: float, b: float, w16: int) -> None:
    w = min(f, b) * w16 / 16  # the zero-bubble papers' regime: W <= min(F, B)
    one = pp.simulate("1f1b", p, m, f, b, w)
    h1 = pp.simulate("zb-h1", p, m, f, b, w)
    h2 = pp.simulate("zb-h2", p, m, f, b, w)
    assert h2.makespan <= h1.makespan <= one.makespan
    if m >= p:
        assert h1.bubble == p * (p - 1) * (f + b - w)  # (p-1)(T_F+T_B-T_W) per device
    assert np.all(h2.peak_in_flight <= 2 * p - 1)


@given(configs())
def test_busy_time_is_schedule_independent(cfg: tuple) -> None:
    schedule, p, m, f, b, w, v, p2p = cfg
    if schedule == "forward":
        return
    w = w if w is not None else [0.5]
    busy = {}
    for name in ("gpipe", "1f1b", "zb-h1", "zb-h2"):
        busy[name] = pp.simulate(
            name,
            p,
            m,
            f if len(f) <= p else [1.0],
            b if len(b) <= p else [1.0],
            w if len(w) <= p else [0.5],
            1,
            p2p,
        ).busy
    for x in busy.values():
        np.testing.assert_allclose(x, busy["gpipe"], rtol=1e-12)


@given(st.sampled_from(["gpipe", "1f1b", "zb-h1"]), st.integers(1, 8), positive_quarters)
def test_bubble_vanishes(schedule: str, p: int, t: float) -> None:
    w = t if schedule == "zb-h1" else None
    fr = [pp.simulate(schedule, p, m, t, t, w).bubble_fraction for m in (p, 4 * p, 32 * p)]
    assert fr[0] >= fr[1] >= fr[2]
    assert fr[2] <= (p - 1) / (32 * p)
    assert pp.simulate(schedule, 1, 5, t, t, w).bubble == 0.0


@given(st.lists(quarters, min_size=1, max_size=8), st.integers(1, 20), st.sampled_from([0.0, 0.25]))
def test_forward_only_formula(t: list[float], m: int, p2p: float) -> None:
    inf = pp.inference(len(t), m, t, p2p=p2p)
    assert inf.latency == sum(t) + (m - 1) * max(t) + (len(t) - 1) * p2p
    assert inf.first_latency == sum(t) + (len(t) - 1) * p2p
    assert inf.latency == inf.schedule.lower_bound
    check_timeline(inf.schedule, t, 0.0, None)


def test_closed_form_matches_simulation() -> None:
    cases = [
        ("gpipe", 1),
        ("1f1b", 1),
        ("interleaved-1f1b", 2),
        ("interleaved-1f1b", 4),
        ("forward", 1),
    ]
    for (schedule, v), p, k in itertools.product(cases, (1, 3, 8), (1, 2, 5)):
        m = k * p
        b = 0.0 if schedule == "forward" else 2.0
        s = pp.simulate(schedule, p, m, 1.0, b, chunks=v)
        cf = pp.bubble_fraction(schedule, p, m, v, forward=1.0, backward=b)
        assert cf == pytest.approx(s.bubble_fraction, rel=1e-12, abs=1e-15)
    for p, m in ((4, 4), (4, 9), (7, 30)):
        s = pp.simulate("zb-h1", p, m, 1.0, 1.0, 0.5)
        cf = pp.bubble_fraction("zb-h1", p, m, forward=1.0, backward=1.0, weight_grad=0.5)
        assert cf == pytest.approx(s.bubble_fraction, rel=1e-12)


def test_bubble_fraction_vectorised_against_numpy() -> None:
    rng = np.random.default_rng(1)
    p = rng.integers(1, 65, 100_000)
    m = rng.integers(1, 5000, 100_000)
    got = pp.bubble_fraction("1f1b", p, m)
    np.testing.assert_allclose(got, (p - 1) / (m + p - 1), rtol=1e-12)
    grid = pp.bubble_fraction(
        "interleaved-1f1b", 8, np.arange(1, 5)[:, None] * 8, np.array([1, 2, 4])
    )
    assert grid.shape == (4, 3)
    assert isinstance(pp.bubble_fraction("gpipe", 4, 8), float)


def test_peak_in_flight() -> None:
    p, m = 6, 24
    assert pp.simulate("gpipe", p, m, 1.0, 2.0).peak_in_flight.tolist() == [m] * p
    assert pp.simulate("1f1b", p, m, 1.0, 2.0).peak_in_flight.tolist() == [p - d for d in range(p)]
    assert pp.inference(p, m, 1.0).schedule.peak_in_flight.tolist() == [1.0] * p
    s = pp.simulate("1f1b", p, m, 1.0, 2.0, activation_bytes=1e9)
    assert s.peak_activation_bytes is not None and s.peak_activation_bytes[0] == p * 1e9


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("interleaved-1f1b", 4, 6, 1.0, 2.0), {"chunks": 2}, "multiple of stages"),
        (("1f1b", 4, 8, 1.0, 2.0), {"chunks": 2}, "chunks"),
        (("zb-h1", 4, 8, 1.0, 2.0), {}, "weight_grad"),
        (("forward", 4, 8, 1.0, 2.0), {}, "backward"),
        (("pipedream", 4, 8, 1.0, 2.0), {}, "schedule"),
        (("1f1b", 0, 8, 1.0, 2.0), {}, "stages"),
        (("1f1b", 4, 0, 1.0, 2.0), {}, "microbatches"),
        (("1f1b", 4, 8, [1.0, 2.0], 2.0), {}, "len"),
        (("1f1b", 4, 8, -1.0, 2.0), {}, "forward"),
        (("1f1b", 4, 8, float("nan"), 2.0), {}, "forward"),
        (("1f1b", 4, 8, 1.0, 2.0), {"p2p": -1.0}, "p2p"),
        (("1f1b", 4, 2.5, 1.0, 2.0), {}, "microbatches"),
    ],
)
def test_invalid_combinations(args: tuple, kwargs: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        pp.simulate(*args, **kwargs)


def test_too_large_is_refused() -> None:
    with pytest.raises(TooLargeError):
        pp.simulate("1f1b", 1 << 14, 1 << 14, 1.0, 1.0)


def test_bubble_fraction_errors() -> None:
    for args, kwargs in [
        (("zb-h2", 4, 8), {"weight_grad": 1.0}),
        (("zb-h1", 4, 8), {}),
        (("zb-h1", 4, 2), {"forward": 1.0, "backward": 1.0, "weight_grad": 1.0}),
        (("zb-h1", 4, 8), {"forward": 1.0, "backward": 1.0, "weight_grad": 2.0}),
        (("interleaved-1f1b", 4, [8, 6], 2), {}),
        (("1f1b", 4, 8, 2), {}),
        (("1f1b", 0, 8), {}),
        (("1f1b", [1, 2], [1, 2, 3]), {}),
    ]:
        with pytest.raises(BrickwallError):
            pp.bubble_fraction(*args, **kwargs)


@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.integers(1, 4),
    st.integers(0, 3),
    st.integers(0, 3),
)
def test_balance_layers_matches_brute_force(xs: list[int], p: int, head: int, tail: int) -> None:
    if len(xs) < p:
        with pytest.raises(ValidationError):
            pp.balance_layers([float(x) for x in xs], p)
        return
    t = [float(x) for x in xs]
    got = pp.balance_layers(t, p, head_extra=head, tail_extra=tail)
    assert got.layers.tolist() == ref.balance(t, p, head, tail)
    assert got.layers.sum() == len(t) and got.bottleneck == got.stage_times.max()


def test_progress_and_summary() -> None:
    seen: list[int] = []
    s = pp.simulate("1f1b", 8, 64, 1.0, 2.0, progress=seen.append)
    assert seen and seen[-1] == 8 * 64 * 2
    assert s.summary()["makespan_s"] == s.makespan


def test_cli_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from brickwall.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    r = runner.invoke(app, ["pipeline", "1f1b", "--stages", "16", "--microbatches", "64", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["makespan_s"] == (64 + 16 - 1) * 3.0  # forward 1, backward 2 by default
    png = tmp_path / "gantt.png"
    r = runner.invoke(
        app, ["pipeline", "zb-h1", "-p", "4", "-m", "8", "--forward", "1,1,2,1", "--plot", str(png)]
    )
    assert r.exit_code == 0, r.output
    assert png.stat().st_size > 1000 and "bubble" in r.output
    png2 = tmp_path / "compare.png"
    r = runner.invoke(
        app,
        [
            "pipeline",
            "1f1b",
            "-p",
            "4",
            "-m",
            "8",
            "--compare",
            "gpipe,1f1b,zb-h1,interleaved-1f1b",
            "--plot",
            str(png2),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    curves = json.loads(r.stdout)["bubble_fraction"]  # (the plot is announced on stderr)
    assert curves["1f1b"][0] == pytest.approx(3 / 7)  # m = p = 4
    assert png2.stat().st_size > 1000
    r = runner.invoke(app, ["pipeline", "1f1b", "--compare", "gpipe,pipedream"])
    assert r.exit_code != 0
    r = runner.invoke(app, ["pipeline", "interleaved-1f1b", "-p", "4", "-m", "6", "-v", "2"])
    assert (
        r.exit_code == 2 and "microbatches" in r.stderr
    )  # the library's ValidationError, as a usage error


def test_balance_layers_limits() -> None:
    with pytest.raises(TooLargeError):
        pp.balance_layers(20_000, 16)
    with pytest.raises(ValidationError, match="head_extra"):
        pp.balance_layers(8, 2, head_extra=-1.0)
    with pytest.raises(ValidationError, match="layer_times"):
        pp.balance_layers([1.0, float("nan")], 2)
    b = pp.balance_layers([1.0, 2.0, 3.0, 4.0], 2, tail_extra=1.5)
    assert b.layers.tolist() == [3, 1] and b.bottleneck == 6.0
    assert b.first_layer.tolist() == [0, 3]


def test_huge_times_never_give_nan() -> None:
    with pytest.raises(ValidationError, match="finite"):
        pp.simulate("1f1b", 4, 8, 1e307, 1e308)
    fr = pp.bubble_fraction("1f1b", [4, 15], [8, 35], forward=1e308, backward=1e308)
    assert np.all(np.isfinite(fr))
    np.testing.assert_allclose(fr, [3 / 11, 14 / 49], rtol=1e-12)


def test_bubble_fraction_error_names_the_first_bad_point() -> None:
    p = np.full(100_000, 4, dtype=np.uint64)
    m = np.full(100_000, 8, dtype=np.uint64)
    m[77_777] = 6
    m[90_000] = 0
    with pytest.raises(ValidationError, match=r"microbatches\[77777\] = 6"):
        pp.bubble_fraction("interleaved-1f1b", p, m, 2)
    p[5] = 0
    with pytest.raises(ValidationError, match=r"stages\[5\]"):
        pp.bubble_fraction("1f1b", p, m)


def test_progress_callback_can_cancel() -> None:
    class Stop(Exception):
        pass

    def stop(done: int) -> None:
        raise Stop(done)

    with pytest.raises(
        Stop
    ):  # the kernel is cancelled at its next checkpoint and the error re-raised
        pp.simulate("interleaved-1f1b", 64, 8192, 1.0, 2.0, chunks=8, progress=stop)
