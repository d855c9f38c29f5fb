"""Speculative decoding: kernels vs the reference, the closed forms of Leviathan et al. (ICML
2023), simulation statistics, determinism, batching and bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import brickwall as bw
import numpy as np
import pytest
from brickwall import speculative as spec
from brickwall.errors import BrickwallError, BrickwallTypeError, TooLargeError, ValidationError
from brickwall.reference import speculative as ref
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose


@st.composite
def dist_pairs(
    draw: st.DrawFn, max_rows: int = 4, max_vocab: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of (rows x vocab) distributions, with zeros and identical rows sometimes."""
    rows = draw(st.integers(1, max_rows))
    vocab = draw(st.integers(1, max_vocab))
    weights = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))

    def dist() -> np.ndarray:
        w = np.array(draw(st.lists(weights, min_size=vocab, max_size=vocab)))
        if w.sum() == 0:
            w[draw(st.integers(0, vocab - 1))] = 1.0
        return w / w.sum()

    p = np.stack([dist() for _ in range(rows)])
    q = (
        p.copy()
        if draw(st.booleans()) and draw(st.booleans())
        else np.stack([dist() for _ in range(rows)])
    )
    return p, q


def chi_square(counts: np.ndarray, probs: np.ndarray) -> tuple[float, int]:
    n = counts.sum()
    mask = probs > 0
    assert counts[~mask].sum() == 0, "a token of probability 0 was emitted"
    expected = n * probs[mask]
    return float(((counts[mask] - expected) ** 2 / expected).sum()), int(mask.sum()) - 1


def chi_square_ok(counts: np.ndarray, probs: np.ndarray) -> bool:
    stat, df = chi_square(counts, probs)
    # Far tail (about 1e-6 for these df); the seed is fixed, so the test is deterministic.
    return stat <= df + 7 * math.sqrt(2 * max(df, 1)) + 10


# ---------------------------------------------------------------------------------------------
# Acceptance kernels


@given(dist_pairs())
def test_acceptance_matches_reference(pq: tuple[np.ndarray, np.ndarray]) -> None:
    p, q = pq
    got = spec.acceptance(p, q)
    assert_allclose(got, ref.acceptance(p.tolist(), q.tolist()), rtol=1e-12, atol=1e-15)
    assert np.all((got >= 0) & (got <= 1))
    got32 = spec.acceptance(p.astype(np.float32), q.astype(np.float32))
    assert_allclose(got32, got, atol=2e-6)


@given(dist_pairs())
def test_residual_identity(pq: tuple[np.ndarray, np.ndarray]) -> None:
    """min(p, q) + (1 - beta) norm(max(0, p - q)) = p, including p == q (no residual mass)."""
    p, q = pq
    beta = spec.acceptance(p, q)
    resid = np.maximum(0.0, p - q)
    z = resid.sum(axis=1, keepdims=True)
    norm = np.divide(resid, z, out=np.zeros_like(resid), where=z > 0)
    assert_allclose(np.minimum(p, q) + (1 - beta)[:, None] * norm, p, atol=1e-12)


def test_acceptance_known_values() -> None:
    assert spec.acceptance([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == 0.5
    assert spec.acceptance([1.0, 0.0], [0.0, 1.0]) == 0.0
    p = np.full((3, 7), 1 / 7)
    assert_allclose(spec.acceptance(p, p), 1.0, rtol=1e-15)


@given(dist_pairs(), st.floats(0.2, 3.0))
def test_acceptance_from_logits_matches_reference(
    pq: tuple[np.ndarray, np.ndarray], t: float
) -> None:
    p, q = pq
    with np.errstate(divide="ignore"):
        a, b = np.log(p) * 3.0 + 5.0, np.log(q) * 2.0 - 7.0
    want = ref.acceptance_from_logits(a.tolist(), b.tolist(), t)
    assert_allclose(spec.acceptance_from_logits(a, b, t), want, rtol=1e-12, atol=1e-14)
    # Shifting logits by a huge constant changes nothing (stable softmax).
    assert_allclose(spec.acceptance_from_logits(a + 1e4, b - 1e4, t), want, rtol=1e-9, atol=1e-12)


def test_acceptance_from_logits_float32_and_temperature() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 1000)), rng.normal(size=(5, 1000))
    want = ref.acceptance_from_logits(a.tolist(), b.tolist(), 0.7)
    got = spec.acceptance_from_logits(a.astype(np.float32), b.astype(np.float32), temperature=0.7)
    assert_allclose(got, want, atol=1e-5)
    # Low temperature -> argmax distributions: acceptance 1 iff the argmaxes agree.
    cold = spec.acceptance_from_logits(a, b, temperature=1e-6)
    assert_allclose(cold, (a.argmax(1) == b.argmax(1)).astype(float), atol=1e-9)


# ---------------------------------------------------------------------------------------------
# Closed forms


@given(st.floats(0.0, 1.0), st.integers(1, 40))
def test_expected_tokens_closed_form(alpha: float, gamma: int) -> None:
    e = spec.expected_tokens(alpha, gamma)
    assert e == pytest.approx(ref.expected_tokens(alpha, gamma), rel=1e-12)
    assert 1.0 <= e <= gamma + 1
    dist = spec.tokens_distribution(alpha, gamma)
    assert_allclose(dist, ref.tokens_distribution(alpha, gamma), rtol=1e-12, atol=1e-300)
    assert dist.sum() == pytest.approx(1.0, rel=1e-12)
    assert float(np.dot(np.arange(1, gamma + 2), dist)) == pytest.approx(e, rel=1e-12)
    assert spec.speedup(alpha, gamma, 0.0) == pytest.approx(e, rel=1e-15)


def test_expected_tokens_exact_at_one_and_near_one() -> None:
    assert spec.expected_tokens(1.0, 4) == 5.0
    assert spec.expected_tokens(0.0, 4) == 1.0
    assert spec.expected_tokens(1 - 1e-13, 7) == pytest.approx(8 - 28e-13, rel=1e-14)
    assert_allclose(spec.tokens_distribution(1.0, 3), [0, 0, 0, 1])
    e = spec.expected_tokens(np.array([[0.5], [1.0]]), np.array([1, 2, 3]))
    assert_allclose(e, [[1.5, 1.75, 1.875], [2, 3, 4]], rtol=1e-15)


def test_monotonicity() -> None:
    alphas = np.linspace(0, 1, 41)
    gammas = np.arange(1, 20)
    e = spec.expected_tokens(alphas[:, None], gammas[None, :])
    assert np.all(np.diff(e, axis=0) > 0) and np.all(np.diff(e, axis=1) >= 0)
    assert np.all(np.diff(e[alphas >= 0.5], axis=1) > 0)  # strictly, where alpha^gamma is visible
    c = np.linspace(0, 2, 51)
    s = spec.speedup(0.8, 4, c)
    assert np.all(np.diff(s) < 0)
    g = spec.optimal_gamma(alphas[:, None], c[None, :])
    assert np.all(np.diff(g, axis=1) <= 0), "optimal gamma must not increase with the cost ratio"
    assert np.all(np.diff(g[:-1], axis=0) >= 0), "nor decrease with alpha"


@given(st.floats(0.0, 0.99), st.floats(0.0, 1.0))
def test_optimal_gamma_is_brute_force_argmax(alpha: float, c: float) -> None:
    g = spec.optimal_gamma(alpha, c, max_gamma=24)
    want = ref.optimal_gamma(alpha, c, 24)
    assert spec.speedup(alpha, g, c) == pytest.approx(ref.speedup(alpha, want, c), rel=1e-12)
    if alpha > c:  # Cor 3.9: gamma = 1 already gives (1 + alpha) / (1 + c)
        assert spec.speedup(alpha, g, c) >= (1 + alpha) / (1 + c) * (1 - 1e-12)


def test_ops_factor() -> None:
    # Thm 3.11 at alpha = 0: every step does gamma drafts + gamma + 1 target tokens for 1 token.
    assert spec.ops_factor(0.0, 3, 0.1) == pytest.approx(3 * 0.1 + 4)
    assert spec.ops_factor(1.0, 3, 0.0) == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# Simulation


V, GAMMA = 6, 3
P_ROWS = np.array(
    [
        [0.3, 0.2, 0.1, 0.1, 0.3, 0.0],
        [0.05, 0.05, 0.4, 0.4, 0.05, 0.05],
        [0.0, 0.5, 0.25, 0.25, 0.0, 0.0],
        [0.1, 0.1, 0.1, 0.1, 0.1, 0.5],
    ]
)
Q_ROWS = np.array(
    [
        [0.1, 0.1, 0.4, 0.2, 0.1, 0.1],
        [0.05, 0.05, 0.4, 0.4, 0.05, 0.05],
        [0.3, 0.3, 0.1, 0.1, 0.1, 0.1],
    ]
)


def test_simulate_replays_reference_exactly() -> None:
    trials = SMALL = 3000
    sim = spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, trials, seed=11)
    tokens, emitted = ref.simulate(P_ROWS.tolist(), Q_ROWS.tolist(), GAMMA, SMALL, 11)
    assert sim.tokens.tolist() == tokens
    assert sim.emitted.tolist() == emitted
    sim = spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, 500, seed=3, lam=0.6)
    tokens, emitted = ref.simulate(P_ROWS.tolist(), Q_ROWS.tolist(), GAMMA, 500, 3, 0.6)
    assert (sim.tokens.tolist(), sim.emitted.tolist()) == (tokens, emitted)


def test_simulated_tokens_follow_target() -> None:
    sim = spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, 400_000, seed=5)
    assert sim.tokens.sum() == 400_000
    for i in range(GAMMA + 1):
        assert chi_square_ok(sim.emitted[i], P_ROWS[i]), f"position {i}"
    # Tokens per step: P(N = n) = prod_{j<n-1} beta_j (1 - beta_{n-1}), with per-position betas.
    beta = spec.acceptance(P_ROWS[:GAMMA], Q_ROWS)
    reach = np.concatenate([[1.0], np.cumprod(beta)])
    law = np.append(reach[:GAMMA] * (1 - beta), reach[GAMMA])
    assert chi_square_ok(sim.tokens, law)


@given(st.floats(0.05, 0.95), st.integers(1, 6))
def test_simulated_mean_tokens_vs_closed_form(target_alpha: float, gamma: int) -> None:
    # p and q on two tokens with sum min(p, q) = alpha at every position.
    p = np.array([1.0, 0.0])
    q = np.array([target_alpha, 1 - target_alpha])
    alpha = spec.acceptance(p, q)
    assert alpha == pytest.approx(target_alpha)
    n = 20_000
    sim = spec.simulate_sampling(p, q, gamma, n, seed=gamma)
    want = spec.expected_tokens(alpha, gamma)
    var = float(
        np.dot((np.arange(1, gamma + 2) - want) ** 2, spec.tokens_distribution(alpha, gamma))
    )
    assert abs(sim.mean_tokens - want) <= 6 * math.sqrt(var / n) + 1e-12


def test_simulate_is_deterministic_across_thread_counts() -> None:
    p_json, q_json = json.dumps(P_ROWS.tolist()), json.dumps(Q_ROWS.tolist())
    code = (
        "import json, numpy as np, brickwall.speculative as s;"
        f"p = np.array(json.loads({p_json!r})); q = np.array(json.loads({q_json!r}));"
        "r = s.simulate_sampling(p, q, 3, 70_000, seed=9);"
        "rng = np.random.default_rng(0); a = rng.random((64, 5000)); b = rng.random((64, 5000));"
        "a /= a.sum(1, keepdims=True); b /= b.sum(1, keepdims=True);"
        "print(json.dumps([r.tokens.tolist(), r.emitted.tolist(), s.acceptance(a, b).tolist()]))"
    )
    outs = []
    for threads in ("1", "2", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        outs.append(done.stdout)
    assert outs[0] == outs[1] == outs[2]
    here = spec.simulate_sampling(P_ROWS, Q_ROWS, 3, 70_000, seed=9)
    assert json.loads(outs[0])[:2] == [here.tokens.tolist(), here.emitted.tolist()]


def test_simulate_progress_reports_all_trials() -> None:
    seen: list[int] = []
    spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, 50_000, progress=seen.append)
    assert seen and seen[-1] == 50_000


# ---------------------------------------------------------------------------------------------
# Lenient verification


@given(dist_pairs(), st.floats(0.1, 1.0))
def test_lenient_matches_reference(pq: tuple[np.ndarray, np.ndarray], lam: float) -> None:
    p, q = pq
    r = spec.lenient(p, q, lam)
    beta, tv = ref.lenient(p.tolist(), q.tolist(), lam)
    assert_allclose(r.acceptance, np.minimum(beta, 1.0), rtol=1e-12, atol=1e-15)
    assert_allclose(r.tv, tv, rtol=1e-9, atol=1e-12)
    assert np.all(r.acceptance >= r.exact_acceptance - 1e-12)
    assert r.gain >= 1 - 1e-12


def test_lenient_exact_at_one_and_trades_quality_for_speed() -> None:
    r1 = spec.lenient(P_ROWS[:GAMMA], Q_ROWS, 1.0, gamma=GAMMA)
    assert_allclose(r1.tv, 0.0, atol=1e-15)
    assert_allclose(r1.acceptance, r1.exact_acceptance, rtol=1e-15)
    lams = [1.0, 0.8, 0.6, 0.4, 0.2]
    res = [spec.lenient(P_ROWS[:GAMMA], Q_ROWS, lam, gamma=GAMMA) for lam in lams]
    assert all(b.alpha >= a.alpha for a, b in zip(res, res[1:]))
    assert all(b.mean_tv >= a.mean_tv for a, b in zip(res, res[1:]))
    assert res[-1].mean_tv > 0.05


def test_lenient_simulation_emits_the_lenient_distribution() -> None:
    lam = 0.5
    sim = spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, 300_000, seed=8, lam=lam)
    for i in range(GAMMA):
        _, e = ref.lenient_emitted(P_ROWS[i].tolist(), Q_ROWS[i].tolist(), lam)
        assert chi_square_ok(sim.emitted[i], np.array(e)), f"position {i}"


# ---------------------------------------------------------------------------------------------
# Token trees


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    n = draw(st.integers(0, 25))
    parents: list[int] = []
    probs: list[float] = []
    budget = {-1: 1.0}
    for i in range(n):
        par = draw(st.integers(-1, i - 1))
        a = draw(st.floats(0.0, 1.0)) * budget[par]
        budget[par] -= a
        budget[i] = 1.0
        parents.append(par)
        probs.append(a)
    return parents, probs


@given(trees())
def test_tree_matches_reference_and_bounds(tree: tuple[list[int], list[float]]) -> None:
    parents, probs = tree
    e = spec.tree_expected_tokens(parents, probs)
    assert e == pytest.approx(ref.tree_expected_tokens(parents, probs), rel=1e-12)
    depth = 0
    for v in range(len(parents)):
        d, u = 0, v
        while u != -1:
            d, u = d + 1, parents[u]
        depth = max(depth, d)
    assert 1.0 <= e <= 1 + depth + 1e-12
    # Adding a leaf (with the spare probability of its parent) never lowers E[N].
    if parents:
        grown = spec.tree_expected_tokens(parents + [len(parents) - 1], probs + [0.3])
        assert grown >= e


def test_tree_chain_and_siblings() -> None:
    assert spec.tree_expected_tokens([-1, 0, 1, 2], [0.7] * 4) == pytest.approx(
        spec.expected_tokens(0.7, 4), rel=1e-15
    )
    assert spec.tree_expected_tokens([], []) == 1.0
    # Two exclusive first tokens (0.5 and 0.3), each followed by one more at 0.5.
    assert spec.tree_expected_tokens([-1, -1, 0, 1], [0.5, 0.3, 0.5, 0.5]) == pytest.approx(
        1 + 0.8 + 0.4
    )
    with pytest.raises(ValidationError, match="mutually exclusive"):
        spec.tree_expected_tokens([-1, -1], [0.7, 0.7])
    with pytest.raises(ValidationError, match="parents"):
        spec.tree_expected_tokens([-1, 1], [0.5, 0.5])


# ---------------------------------------------------------------------------------------------
# Under batching


GPT4 = bw.model("gpt4-moe-1.8t")
DRAFT = bw.model("llama3.1-8b")
A100 = bw.hardware("A100-80GB")


def test_decode_composes_step_times_like_the_reference() -> None:
    # MagicDec's simple roofline (reference only) as an explicit step-time function.
    eff = bw.Efficiency()
    bw_ = 128 * A100.memory_bandwidth * eff.memory
    fl = 128 * A100.flops("bf16") * eff.flops

    def t(m: bw.Model, b: int, n: int, s: int) -> float:
        return ref.magicdec_step(
            m.weight_bytes("bf16"), m.kv_bytes_per_token("bf16"), m.params.active, bw_, fl, b, n, s
        )

    for b in (1, 64, 512, 4096):
        for g in (1, 4, 8):
            r = spec.estimate(GPT4, DRAFT, None, b, 4096, 0.8, g, step_time=t)
            assert r.target_step == pytest.approx(t(GPT4, b, 1, 4096), rel=1e-12)
            assert r.verify_step == pytest.approx(t(GPT4, b, g + 1, 4096), rel=1e-12)
            want = ref.spec_speedup(
                t(GPT4, b, 1, 4096), t(DRAFT, b, 1, 4096), t(GPT4, b, g + 1, 4096), 0.8, g
            )
            assert r.speedup == pytest.approx(want, rel=1e-12)
            assert r.tokens_per_s == pytest.approx(b * r.expected_tokens / r.step)


def test_memory_bound_reduces_to_theorem_3_8() -> None:
    # A constant step time (memory-bound at any token count) gives Thm 3.8 with c = T_D / T_T.
    def step(m: bw.Model, b: int, n: int, s: int) -> float:
        return 1.0 if m is GPT4 else 0.05

    r = spec.estimate(GPT4, DRAFT, None, 8, 1000, 0.8, 5, step_time=step)
    assert r.speedup == pytest.approx(spec.speedup(0.8, 5, 0.05), rel=1e-15)


def test_default_step_time_is_the_inference_roofline() -> None:
    dep = bw.Deployment(A100, tp=8, pp=16)
    r = spec.estimate(GPT4, DRAFT, dep, 64, 4096, 0.8, 4)
    assert r.target_step == bw.decode(GPT4, dep, 64, 4096).step_time
    assert r.verify_step == bw.decode(GPT4, dep, 64, 4096, new_tokens=5).step_time
    with pytest.raises(bw.errors.BrickwallTypeError, match="deployment"):
        spec.estimate(GPT4, DRAFT, "A100-80GB", 64, 4096, 0.8, 4)


def test_compute_bound_never_pays() -> None:
    # Tiny KV, huge batch: the roofline is compute-bound, verification costs gamma + 1 steps.
    dep = bw.Deployment(A100, tp=8)
    for alpha in (0.5, 0.9, 1.0):
        for g in (1, 3, 8):
            r = spec.estimate(DRAFT, bw.model("llama2-7b"), dep, 1 << 16, 0, alpha, g)
            assert r.speedup <= 1.0 + 1e-12


def test_sweep_best_gamma_and_crossover_and_magicdec_effect() -> None:
    target, draft = bw.model("llama3.1-70b"), bw.model("llama3.1-8b")
    dep = bw.Deployment(bw.hardware("H100-SXM"), tp=8)
    batches = 2 ** np.arange(0, 14)
    short = spec.sweep_batches(target, draft, dep, batches, 512, 0.8)
    long = spec.sweep_batches(target, draft, dep, batches, 65536, 0.8)
    assert short.best_speedup[0] > 1.5 and short.crossover_batch is not None
    # Best gamma shrinks as batch grows.
    assert np.all(np.diff(short.best_gamma) <= 0)
    # KV-bound long contexts keep speculation paying to larger batches (MagicDec).
    assert long.crossover_batch is None or long.crossover_batch > short.crossover_batch
    i = int(np.searchsorted(batches, short.crossover_batch))
    assert long.best_speedup[i] > 1.0 >= short.best_speedup[i]


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("p", "q", "match"),
    [
        ([0.5, 0.6], [0.5, 0.5], "sum\\(p\\[0\\]\\)"),
        ([0.5, 0.5], [0.5, 0.4], "sum\\(q\\[0\\]\\)"),
        ([1.5, -0.5], [0.5, 0.5], "p\\[0, 1\\]"),
        ([0.5, 0.5], [np.nan, 1.0], "q\\[0, 0\\]"),
        ([0.5, 0.5], [np.inf, 0.0], "q\\[0, 0\\]"),
        ([0.5, 0.5], [0.5, 0.25, 0.25], "shape"),
        ([[0.5, 0.5]], [0.5, 0.5], "shape"),
        ([], [], "vocabulary"),
    ],
)
def test_acceptance_bad_input(p: object, q: object, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        spec.acceptance(p, q)  # type: ignore[arg-type]


def test_other_bad_input() -> None:
    with pytest.raises(BrickwallTypeError):
        spec.acceptance(["a", "b"], [0.5, 0.5])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="within 1e-4"):
        spec.acceptance(
            np.array([0.5, 0.5001], dtype=np.float32), np.array([0.5, 0.5], dtype=np.float32)
        )
    assert spec.acceptance([0.5, 0.5001], [0.5, 0.5], tol=1e-3) == pytest.approx(1.0)
    for bad in (-0.1, 1.1, np.nan):
        with pytest.raises(ValidationError, match="alpha"):
            spec.expected_tokens(bad, 4)
    for g in (0, -1, 2.5):
        with pytest.raises(ValidationError, match="gamma"):
            spec.speedup(0.8, g, 0.1)
    with pytest.raises(ValidationError, match="cost_ratio"):
        spec.optimal_gamma(0.8, -0.01)
    with pytest.raises(ValidationError, match="temperature"):
        spec.acceptance_from_logits([0.0, 1.0], [1.0, 0.0], temperature=0.0)
    with pytest.raises(ValidationError, match="target_logits"):
        spec.acceptance_from_logits([np.nan, 1.0], [1.0, 0.0])
    with pytest.raises(ValidationError, match="finite logit"):
        spec.acceptance_from_logits([-np.inf, -np.inf], [1.0, 0.0])
    with pytest.raises(ValidationError, match="lam"):
        spec.lenient([0.5, 0.5], [0.5, 0.5], 1.5)
    with pytest.raises(ValidationError, match="p.shape"):
        spec.simulate_sampling(np.ones((2, 2)) / 2, [0.5, 0.5], 3)
    with pytest.raises(ValidationError, match="sum"):
        spec.simulate_sampling([0.5, 0.6], [0.5, 0.5], 2)
    with pytest.raises(TooLargeError, match="gamma"):
        spec.simulate_sampling(np.ones(200_000) / 200_000, np.ones(200_000) / 200_000, 100)
    with pytest.raises(ValidationError, match="trials"):
        spec.simulate_sampling([0.5, 0.5], [0.5, 0.5], 2, trials=0)
    with pytest.raises(ValidationError, match="batch"):
        spec.estimate(GPT4, DRAFT, bw.Deployment(A100, tp=8, pp=16), 0, 10, 0.8, 4)
    with pytest.raises(BrickwallTypeError, match="draft"):
        spec.estimate(GPT4, "llama", bw.Deployment(A100, tp=8, pp=16), 1, 10, 0.8, 4)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="step time"):
        spec.estimate(GPT4, DRAFT, None, 1, 10, 0.8, 4, step_time=lambda m, b, n, s: float("nan"))
    assert issubclass(ValidationError, BrickwallError)


# ---------------------------------------------------------------------------------------------
# Command


def test_cli_closed_form_table_and_json() -> None:
    from brickwall.cli import app
    from typer.testing import CliRunner

    runner = CliRunner()
    r = runner.invoke(app, ["spec", "--alpha", "0.8", "--gamma", "1..8", "--cost-ratio", "0.05"])
    assert r.exit_code == 0, r.output
    assert "best gamma: 8" in r.output and "3.092x" in r.output
    r = runner.invoke(
        app, ["spec", "--alpha", "0.6,0.9", "--gamma", "1..4", "--cost-ratio", "0.1", "--json"]
    )
    data = json.loads(r.output)
    assert [d["alpha"] for d in data] == [0.6, 0.9]
    assert data[0]["rows"][3]["expected_tokens"] == pytest.approx(ref.expected_tokens(0.6, 4))
    assert data[0]["best_gamma"] == ref.optimal_gamma(0.6, 0.1, 64)
    r = runner.invoke(app, ["spec", "--gamma", "0..3"])
    assert r.exit_code != 0 and "gamma" in r.output


def test_moe_target_verification_touches_more_experts() -> None:
    # Verifying gamma + 1 tokens of one sequence routes them to more experts: on a MoE target at
    # batch 1 the verify step reads more weights than a plain step (the roofline sees it).
    tdep = bw.Deployment(bw.hardware("A100-80GB"), tp=8, pp=16)
    step = spec.roofline_step_time(tdep)
    gpt4 = bw.model("gpt4-moe-1.8t")
    assert step(gpt4, 1, 5, 8192) > 2 * step(gpt4, 1, 1, 8192)
    dense = bw.model("llama3.1-70b")
    dstep = spec.roofline_step_time(bw.Deployment(bw.hardware("A100-80GB"), tp=8))
    # a dense target reads the same weights: verifying 5 tokens costs only their larger
    # all-reduce messages and activation traffic (under 3%)
    assert dstep(dense, 1, 5, 8192) < 1.03 * dstep(dense, 1, 1, 8192)


def test_cli_batching_json_and_plot(tmp_path: object) -> None:
    from pathlib import Path

    from brickwall.cli import app
    from typer.testing import CliRunner

    out = Path(str(tmp_path)) / "spec.png"
    # A dense target at short context: verification stops being free once compute-bound.
    args = [
        "spec",
        "--target",
        "llama3.1-70b",
        "--draft",
        "llama3.1-8b",
        "--hardware",
        "H100-SXM",
        "--tp",
        "8",
        "--batch",
        "1..1024:x2",
        "--context",
        "512",
        "--gamma",
        "1,2,4",
        "--json",
        "--plot",
        str(out),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)[0]
    assert data["batches"] == [2**i for i in range(11)] and data["chips"] == 8
    assert data["crossover_batch"] is not None and data["best_speedup"][0] > 1
    assert out.stat().st_size > 10_000


def test_simulate_stops_when_progress_raises() -> None:
    """The long kernel runs off the main thread and is cancelled between chunks (as on Ctrl-C)."""
    import time

    calls: list[int] = []

    def stop(done: int) -> None:
        calls.append(done)
        raise KeyboardInterrupt

    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        spec.simulate_sampling(P_ROWS, Q_ROWS, GAMMA, 10**11, progress=stop, allow_large=True)
    assert time.perf_counter() - t0 < 5 and len(calls) == 1
