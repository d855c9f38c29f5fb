"""MoE routing: core vs the Python replay (exact), Monte Carlo vs the exact laws of
docs/sources.md (statistical bounds), exact forms vs brute-force enumeration, determinism, bad
input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from fractions import Fraction

import brickwall as bw
import numpy as np
import pytest
from brickwall import _core
from brickwall.errors import BrickwallError, TooLargeError, ValidationError
from brickwall.reference import routing as ref
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

moe = bw.moe
Z = 5.0  # sigmas for statistical checks


def _same(h: moe.ExpertLoad, g: dict[str, list[int]]) -> None:
    for name in moe.QUANTITIES:
        assert h.histogram(name).tolist() == g[name], name
    assert_allclose(h.expert_mean * h.trials, g["expert_total"], rtol=0, atol=1e-6)


# --- replay: core == reference, draw for draw ----------------------------------------------------


@st.composite
def small_cases(draw: st.DrawFn) -> dict:
    e = draw(st.integers(1, 12))
    k = draw(st.integers(1, e))
    d = draw(st.sampled_from([x for x in range(1, e + 1) if e % x == 0]))
    pop = draw(st.sampled_from(["uniform", "weights", "zipf"]))
    weights = None
    if pop == "weights":
        w = draw(st.lists(st.sampled_from([0.0, 0.1, 1.0, 3.0, 7.5]), min_size=e, max_size=e))
        if sum(1 for x in w if x > 0) < k:
            w = [1.0] * e
        weights = (np.array(w) / sum(w)).tolist()
    elif pop == "zipf":
        weights = moe.zipf(e, draw(st.floats(0.0, 3.0))).tolist()
    return dict(
        n_experts=e,
        top_k=k,
        tokens=draw(st.integers(1, 12)),
        trials=draw(st.integers(1, 40)),
        seed=draw(st.integers(0, 2**64 - 1)),
        devices=d,
        weights=weights,
        capacity_factor=draw(st.one_of(st.none(), st.floats(0.1, 3.0))),
    )


@given(small_cases())
def test_core_replays_reference_exactly(c: dict) -> None:
    w = c.pop("weights")
    h = moe.route(popularity=None if w is None else np.array(w), **c)
    g = ref.replay(
        c["n_experts"],
        c["top_k"],
        c["tokens"],
        c["trials"],
        c["seed"],
        weights=h_weights(h, w),
        capacity=h.capacity,
        devices=c["devices"],
    )
    _same(h, g)


def h_weights(h: moe.ExpertLoad, w: list[float] | None) -> list[float] | None:
    # The wrapper renormalises p / sum(p); the reference must see the same floats.
    if w is None:
        return None
    p = np.array(w)
    return (p / p.sum()).tolist()


def test_replay_across_chunks_and_general_k() -> None:
    # tokens x k = 512 -> 128 trials per chunk: 300 trials span three RNG streams; k = 8 takes
    # Floyd's general loop.
    assert _core.routing_chunk_trials(64, 8) == ref.chunk_trials(64, 8) == 128
    h = moe.route(32, 8, 64, 300, seed=11, capacity_factor=1.1, devices=4)
    _same(h, ref.replay(32, 8, 64, 300, 11, capacity=h.capacity, devices=4))
    # odd k keeps a spare half-word across tokens and trials; E > 4096 uses full 64-bit words
    for e, k in ((16, 1), (16, 3), (5000, 2), (5000, 1)):
        h = moe.route(e, k, 5, 400, seed=12, devices=8 if e == 5000 else 4, capacity_factor=2.0)
        _same(h, ref.replay(e, k, 5, 400, 12, capacity=h.capacity, devices=8 if e == 5000 else 4))


def test_replay_weighted_scan_branch() -> None:
    # Heavy head + top_k close to E: the chosen experts soon hold > half the mass (scan branch).
    p = moe.zipf(6, 2.5)
    h = moe.route(6, 5, 10, 200, seed=3, popularity=p)
    _same(h, ref.replay(6, 5, 10, 200, 3, weights=p.tolist()))


@pytest.mark.parametrize("alpha", [0.2, 1.0, 3.0])
def test_replay_dirichlet(alpha: float) -> None:
    h = moe.route(8, 2, 6, 150, seed=9, popularity=("dirichlet", alpha))
    _same(h, ref.replay(8, 2, 6, 150, 9, dirichlet_alpha=alpha))


@given(st.integers(2, 20), st.data())
def test_no_expert_twice_per_token(e: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, e))
    rng = ref.Rng.for_chunk(data.draw(st.integers(0, 1000)), 0)
    w = data.draw(st.one_of(st.none(), st.just(moe.zipf(e, 1.2).tolist())))
    loads, picks = ref.step_loads(rng, e, k, 7, weights=w)
    assert all(len(set(p)) == k for p in picks)
    assert sum(loads) == 7 * k


# --- invariants of every trial, read off the histograms -------------------------------------------


@given(st.integers(1, 64), st.data())
def test_every_trial_conserves_assignments(e: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, e))
    b = data.draw(st.integers(1, 40))
    h = moe.route(e, k, b, 500, seed=data.draw(st.integers(0, 99)))
    # sum_e X_e = k B in every trial <=> the pooled mean is exactly kB/E and the max is at least
    # the pigeonhole bound ceil(kB/E) in every trial.
    assert h.load.sum() == 500 * e
    assert np.dot(np.arange(b + 1), h.load) == 500 * k * b
    assert h.max_load[: -(-k * b // e)].sum() == 0
    assert h.touched[:k].sum() == 0  # at least k experts touched
    assert h.touched[min(e, k * b) + 1 :].sum() == 0
    assert h.max_load[b + 1 :].sum() == 0 and h.dropped[1:].sum() == 0


def test_capacity_and_devices_consistency() -> None:
    h = moe.route(16, 2, 64, 20_000, seed=2, capacity_factor=1.0, devices=4)
    assert h.capacity == 8
    # drops happen iff the max exceeds capacity
    assert h.dropped[0] == h.max_load[: h.capacity + 1].sum()
    # the busiest device (4 experts) processes at most 4 C and at least its share of the rest
    assert h.device_load[4 * h.capacity + 1 :].sum() == 0
    one = moe.route(16, 2, 64, 20_000, seed=2, devices=16)
    assert (one.device_load[: one.max_load.size] == one.max_load).all()  # 1 expert per device


# --- Monte Carlo vs exact ------------------------------------------------------------------------


def _within(mc: np.ndarray, exact: np.ndarray, n: int) -> None:
    sigma = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / n)
    assert np.all(np.abs(mc - exact) <= Z * sigma + 1e-9), (mc, exact)


@pytest.mark.parametrize("e,k,b", [(16, 2, 8), (8, 1, 10), (32, 4, 6), (16, 2, 40)])
def test_load_marginal_is_binomial(e: int, k: int, b: int) -> None:
    n = 200_000
    h = moe.route(e, k, b, n, seed=5)
    _within(h.pmf("load"), moe.load_pmf(e, k, b), n)


@pytest.mark.parametrize("e,k,b", [(16, 2, 8), (8, 2, 6), (6, 3, 5), (12, 1, 7)])
def test_max_load_matches_exact_dp(e: int, k: int, b: int) -> None:
    n = 300_000
    m = moe.max_load_cdf(e, k, b)
    assert m.exact
    h = moe.route(e, k, b, n, seed=6)
    _within(np.cumsum(h.pmf("max_load")), m.cdf, n)
    assert abs(h.mean("max_load") - m.mean()) <= Z * h.std("max_load") / math.sqrt(n)


def test_max_load_top1_zipf_matches_multinomial() -> None:
    n, p = 300_000, moe.zipf(8, 1.1)
    m = moe.max_load_cdf(8, 1, 12, popularity=p)
    assert m.method == "multinomial"
    h = moe.route(8, 1, 12, n, seed=7, popularity=p)
    _within(np.cumsum(h.pmf("max_load")), m.cdf, n)


@pytest.mark.parametrize("pop", [None, ("zipf", 1.1)])
def test_touched_and_drops_match_exact(pop: object) -> None:
    n = 200_000
    h = moe.route(16, 2, 8, n, seed=8, popularity=pop, capacity_factor=1.25)
    t = moe.expected_experts_touched(16, 2, 8, popularity=pop)
    assert abs(h.mean("touched") - t) <= Z * h.std("touched") / math.sqrt(n)
    d = moe.expected_drops(16, 2, 8, capacity_factor=1.25, popularity=pop)
    assert abs(h.mean("dropped") - d) <= Z * h.std("dropped") / math.sqrt(n) + 1e-12


def test_weighted_marginals_follow_inclusion_probabilities() -> None:
    n, b, p = 200_000, 5, moe.zipf(10, 1.3)
    pi = moe.inclusion_probabilities(10, 3, p)
    assert pi.sum() == pytest.approx(3.0, abs=1e-9)
    h = moe.route(10, 3, b, n, seed=4, popularity=p)
    sigma = np.sqrt(b * pi * (1 - pi) / n)
    assert np.all(np.abs(h.expert_mean - b * pi) <= Z * sigma)


def test_dirichlet_is_exchangeable_and_more_spread_than_uniform() -> None:
    n = 100_000
    h = moe.route(16, 2, 8, n, seed=1, popularity=("dirichlet", 0.5))
    assert h.mean("load") == 1.0
    assert np.all(np.abs(h.expert_mean - 1.0) < 0.05)
    assert h.mean("max_load") > moe.max_load_cdf(16, 2, 8).mean() + 0.5  # drift concentrates load


# --- exact forms vs independent derivations ------------------------------------------------------


@pytest.mark.parametrize(
    "e,k,b", [(4, 2, 4), (5, 3, 3), (3, 1, 5), (6, 2, 3), (4, 4, 2), (1, 1, 3)]
)
def test_column_dp_matches_brute_force(e: int, k: int, b: int) -> None:
    want = ref.brute_force_max_load_cdf(e, k, b)
    got = moe.max_load_cdf(e, k, b, method="column-dp").cdf
    assert_allclose(got, [float(x) for x in want], rtol=1e-15, atol=0)


def test_column_dp_counts_are_exact_integers() -> None:
    # top-2 of 4 experts, 4 tokens: N_2 = 30 of C(4,2)^4 = 1296 routings, from the enumeration.
    assert ref.brute_force_max_load_cdf(4, 2, 4)[2] == Fraction(90, 1296)
    assert ref.column_dp_counts(4, 2, 4, 2) == 90


@pytest.mark.parametrize("p,b", [([0.5, 0.3, 0.2], 5), ([0.1] * 4 + [0.6], 4), ([1.0], 3)])
def test_multinomial_form_matches_brute_force(p: list[float], b: int) -> None:
    got = moe.max_load_cdf(len(p), 1, b, popularity=np.array(p), method="multinomial").cdf
    assert_allclose(got, ref.brute_force_multinomial_max_cdf(p, b), rtol=1e-12, atol=1e-14)


def test_uniform_top1_dp_and_multinomial_agree() -> None:
    a = moe.max_load_cdf(5, 1, 7, method="column-dp").cdf
    b = moe.max_load_cdf(5, 1, 7, method="multinomial").cdf
    assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("e,k", [(6, 3), (5, 2), (7, 4)])
def test_inclusion_probabilities_match_enumeration(e: int, k: int) -> None:
    p = moe.zipf(e, 1.7)
    assert_allclose(
        moe.inclusion_probabilities(e, k, p), ref.successive_inclusion(p.tolist(), k), rtol=1e-9
    )


@pytest.mark.parametrize("e,k,b", [(16, 2, 8), (8, 2, 6), (12, 1, 7)])
def test_negative_association_bounds_bracket_exact(e: int, k: int, b: int) -> None:
    exact = moe.max_load_cdf(e, k, b).cdf
    bounds = moe.max_load_cdf(e, k, b, method="bounds")
    assert np.all(bounds.lower <= exact + 1e-12) and np.all(exact <= bounds.upper + 1e-12)


def test_closed_forms() -> None:
    assert moe.expected_experts_touched(16, 2, 8) == pytest.approx(
        16 * (1 - (14 / 16) ** 8), rel=1e-14
    )
    assert moe.load_pmf(16, 2, 8)[8] == pytest.approx((1 / 8) ** 8, rel=1e-12)
    # Cov(X_e, X_f) = -B k (E - k) / (E^2 (E - 1)) <=> Var(sum) = 0: E Var + E(E-1) Cov = 0
    e, k, b = 16, 2, 8
    var = b * (k / e) * (1 - k / e)
    cov = -b * k * (e - k) / (e * e * (e - 1))
    assert e * var + e * (e - 1) * cov == pytest.approx(0.0, abs=1e-12)
    # capacity convention and drops: C = ceil(1.25 * 2 * 8 / 16) = 2; exact E[(X - 2)+] by hand
    assert moe.expert_capacity(16, 2, 8, 1.25) == 2
    pmf = moe.load_pmf(16, 2, 8)
    assert moe.expected_drops(16, 2, 8, capacity=2) == pytest.approx(
        16 * sum((x - 2) * pmf[x] for x in range(3, 9))
    )
    assert moe.expected_drops(16, 2, 8, capacity=8) == 0.0


def test_large_scale_uses_bounds() -> None:
    m = moe.max_load_cdf(64, 8, 4096)
    assert m.method == "bounds" and not m.exact
    assert np.all(np.diff(m.lower) >= -1e-12) and m.upper[-1] == 1.0
    assert 512 < m.quantile(0.5) < 700


# --- determinism ---------------------------------------------------------------------------------


def test_seeds() -> None:
    a = moe.route(16, 2, 8, 50_000, seed=1)
    b = moe.route(16, 2, 8, 50_000, seed=1)
    c = moe.route(16, 2, 8, 50_000, seed=2)
    assert (a.load == b.load).all() and (a.max_load == b.max_load).all()
    assert not (a.load == c.load).all()


SCRIPT = """
import json, brickwall as bw
r = bw.moe.route(16, 2, 8, 300_000, seed=4, capacity_factor=1.25, devices=4)
z = bw.moe.route(16, 3, 8, 30_000, seed=4, popularity=("zipf", 1.1))
d = bw.moe.route(16, 2, 8, 30_000, seed=4, popularity=("dirichlet", 0.7))
print(json.dumps([x.summary() for x in (r, z, d)]))
"""


def test_thread_count_does_not_change_results() -> None:
    outs = []
    for threads in ("1", "2"):
        env = {**os.environ, "RAYON_NUM_THREADS": threads}
        p = subprocess.run(
            [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        outs.append(json.loads(p.stdout))
    assert outs[0] == outs[1]


# --- API ------------------------------------------------------------------------------------------


def test_progress_reports_all_trials() -> None:
    seen: list[int] = []
    moe.route(16, 2, 8, 100_000, progress=seen.append)
    assert seen and seen[-1] == 100_000 and seen == sorted(seen)


def test_summary_and_helpers() -> None:
    h = moe.route(16, 2, 8, 100_000, seed=3)
    s = h.summary()
    assert json.loads(json.dumps(s))["load"]["mean"] == 1.0
    assert h.prob_load_at_least(0) == 1.0 and h.prob_load_at_least(9) == 0.0
    assert h.prob_load_at_least(1) == pytest.approx(1 - moe.load_pmf(16, 2, 8)[0], abs=Z * 0.0015)
    assert h.percentiles("touched")["p50"] == h.quantile("touched", 0.5)
    assert h.drop_fraction == 0.0


def test_claim_helpers() -> None:
    t = moe.expert_batch_table(trials=100_000)
    assert sum(r["p_expert_exact"] for r in t["rows"]) == pytest.approx(1.0, abs=1e-12)
    assert sum(r["p_max_mc"] for r in t["rows"]) == pytest.approx(1.0, abs=1e-12)
    s = moe.expert_batch_stats(trials=2_000)
    assert s["balanced"] == 512 and s["load_mean"] == 512
    assert abs(s["load_p99"] - s["load_p99_exact"]) <= 3 and s["load_p99"] > 512
    assert s["max_load_p99"] >= s["load_p99"] and s["max_load_p99"] >= s["max_load_p50"] > 512
    lo, hi = s["max_load_mean_bounds"]
    assert lo - 1 <= s["max_load_mean"] <= hi + 1
    q = moe.load_quantiles(16, 2, 8, devices=8, trials=20_000)
    assert q.max_load[0.5] <= q.max_load[0.99] and q.device_load[0.5] >= q.max_load[0.5]
    assert q.mean_touched == pytest.approx(moe.expected_experts_touched(16, 2, 8), abs=0.05)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_experts=16, top_k=17),
        dict(n_experts=16, top_k=0),
        dict(tokens=0),
        dict(trials=0),
        dict(devices=3),
        dict(devices=0),
        dict(popularity=np.full(16, 0.1)),
        dict(popularity=np.full(15, 1 / 15)),
        dict(popularity=np.r_[-0.1, np.full(15, 1.1 / 15)]),
        dict(popularity=np.r_[np.nan, np.full(15, 1 / 15)]),
        dict(popularity=np.r_[1.0, np.zeros(15)]),
        dict(popularity=("zipf", -1.0)),
        dict(popularity=("dirichlet", 0.0)),
        dict(popularity=("pareto", 1.0)),
        dict(popularity="zipf"),
        dict(capacity_factor=0.0),
        dict(capacity_factor=float("nan")),
        dict(n_experts=2.5),
        dict(seed=-1),
    ],
)
def test_bad_input(kwargs: dict) -> None:
    args = dict(n_experts=16, top_k=2, tokens=8, trials=10) | kwargs
    with pytest.raises(BrickwallError):
        moe.route(**args)


def test_too_large() -> None:
    with pytest.raises(TooLargeError):
        moe.route(16, 2, 8, 2**62)
    with pytest.raises(TooLargeError):
        moe.route(16, 2, 2**24, 1)
    with pytest.raises(ValidationError):
        moe.max_load_cdf(16, 2, 8, popularity=("dirichlet", 1.0))
    with pytest.raises(ValidationError):
        moe.max_load_cdf(16, 2, 8, popularity=("zipf", 1.0), method="column-dp")


# --- command and plot -----------------------------------------------------------------------------


def test_cli_table_and_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from brickwall.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    png = tmp_path / "load.png"
    r = runner.invoke(
        app,
        [
            "moe",
            "--experts",
            "16",
            "--top-k",
            "2",
            "--tokens",
            "8",
            "--trials",
            "1e5",
            "--devices",
            "8",
            "--capacity-factor",
            "1.25",
            "--plot",
            str(png),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (
        "busiest device" in r.output
        and "dropped (cap 2)" in r.output
        and png.stat().st_size > 10_000
    )
    r = runner.invoke(app, ["moe", "--tokens", "64", "--trials", "2e4", "--zipf", "1.1", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["popularity"] == "zipf(1.1)" and data["load"]["mean"] == 8.0
    assert data["exact"]["touched"] == pytest.approx(data["touched"]["mean"], abs=0.1)
    r = runner.invoke(app, ["moe", "--top-k", "20", "--trials", "10"])
    assert r.exit_code != 0


def test_plot_large_batch_with_bounds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from brickwall.plot import moe_load

    fig = moe_load(moe.route(64, 8, 4096, 300, seed=1), tmp_path / "big.png")
    # linear panels on top, the same on a log scale below (the tails)
    assert len(fig.axes) == 4 and (tmp_path / "big.png").exists()
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "linear", "log", "log"]
    labels = [t.get_text() for t in fig.axes[3].get_legend().get_texts()]
    assert "independent-experts law (bound)" in labels and "one Monte Carlo hit" in labels
    assert "B = 4,096 tokens" in fig._suptitle.get_text()


def test_progress_error_cancels_the_kernel() -> None:
    # The same path as Ctrl-C: the polling thread sees an exception and cancels the chunks.
    import time

    def stop(done: int) -> None:
        raise RuntimeError("stop")

    t0 = time.perf_counter()
    with pytest.raises(RuntimeError, match="stop"):
        moe.route(16, 2, 8, 10**9, progress=stop, allow_large=True)
    assert time.perf_counter() - t0 < 5.0  # 10^9 steps would take minutes


# --- exact laws: core (routing_exact.rs) == reference (the former Python loops) -----------------


@st.composite
def laws(draw: st.DrawFn, max_experts: int = 10) -> tuple[int, int, np.ndarray | None]:
    e = draw(st.integers(1, max_experts))
    k = draw(st.integers(1, e))
    if draw(st.booleans()):
        return e, k, None
    w = np.array(draw(st.lists(st.floats(0.05, 1.0), min_size=e, max_size=e)))
    return e, k, w / w.sum()


@given(laws(), st.integers(1, 40))
def test_exact_marginals_match_reference(law: tuple[int, int, np.ndarray | None], b: int) -> None:
    e, k, w = law
    assert_allclose(
        _core.routing_inclusion_probabilities(e, k, w),
        ref.inclusion_probabilities(e, k, w),
        rtol=1e-12,
        atol=1e-15,
    )
    assert_allclose(
        _core.routing_load_pmf(e, k, b, w), ref.load_pmf(e, k, b, w), rtol=1e-12, atol=1e-15
    )
    assert _core.routing_expected_touched(e, k, b, w) == pytest.approx(
        ref.expected_touched(e, k, b, w), rel=1e-12
    )
    for c in (0, 1, b // 2, b):
        assert _core.routing_expected_drops(e, k, b, c, w) == pytest.approx(
            ref.expected_drops(e, k, b, c, w), rel=1e-12, abs=1e-14
        )
    assert _core.routing_balanced_load(e, k, b) == k * b / e


@given(laws(max_experts=6), st.integers(1, 8), st.sampled_from(["auto", "bounds"]))
def test_max_load_cdf_matches_reference(
    law: tuple[int, int, np.ndarray | None], b: int, method: str
) -> None:
    e, k, w = law
    got = _core.routing_max_load_cdf(e, k, b, w, method)
    want = ref.max_load_cdf(e, k, b, w, method)
    assert got[0] == want[0]
    for g, r in zip(got[1:], want[1:]):
        assert_allclose(g, r, rtol=1e-12, atol=1e-14)
    assert _core.routing_mean_from_cdf(got[1]) == pytest.approx(
        float(np.sum(1.0 - want[1])), rel=1e-12, abs=1e-14
    )


@given(st.lists(st.floats(0.05, 1.0), min_size=1, max_size=8), st.integers(1, 40))
def test_multinomial_matches_reference(w: list[float], b: int) -> None:
    p = np.array(w) / sum(w)
    got = _core.routing_max_load_cdf(len(p), 1, b, p, "multinomial")[1]
    assert_allclose(got, ref.multinomial_cdf(p, b), rtol=1e-12, atol=1e-14)


@given(st.integers(1, 7), st.data())
def test_column_dp_matches_reference_counts(e: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, e))
    b = data.draw(st.integers(1, 8 if k <= 2 else 4))
    got = _core.routing_max_load_cdf(e, k, b, None, "column-dp")[1]
    assert_allclose(got, ref.column_dp_cdf(e, k, b), rtol=1e-12, atol=1e-14)


def test_exact_laws_refuse_oversized_work_and_bad_methods() -> None:
    with pytest.raises(TooLargeError):
        moe.max_load_cdf(64, 8, 64, method="column-dp")
    with pytest.raises(ValidationError, match="method"):
        moe.max_load_cdf(16, 2, 8, method="exact")
    with pytest.raises(ValidationError, match="top_k = 1"):
        moe.max_load_cdf(16, 2, 8, method="multinomial")
    with pytest.raises(ValidationError, match="len"):
        _core.routing_load_pmf(4, 1, 3, np.full(3, 1 / 3))


def test_mean_bounds_and_balanced_load() -> None:
    exact = moe.max_load_cdf(16, 2, 8)
    assert exact.mean_bounds() == (exact.mean(), exact.mean())
    b = moe.max_load_cdf(16, 2, 8, method="bounds")
    lo, hi = b.mean_bounds()
    assert lo <= exact.mean() <= hi
    assert moe.balanced_load(16, 2, 4096) == 512.0


def test_long_exact_kernel_reports_progress_and_stops_on_interrupt() -> None:
    seen: list[int] = []
    moe.max_load_cdf(16, 1, 60, method="multinomial", progress=seen.append)
    assert seen and seen == sorted(seen)

    def stop(done: int) -> None:
        raise KeyboardInterrupt

    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        moe.max_load_cdf(
            64, 1, 196, method="column-dp", progress=stop
        )  # ~10 s of work uninterrupted
    assert time.perf_counter() - t < 0.5
