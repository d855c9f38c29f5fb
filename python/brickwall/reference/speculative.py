"""Reference speculative decoding (Leviathan, Kalman & Matias 2023): plain-Python loops and
explicit sums, mirroring rust/brickwall-core/src/speculative.rs for tests and benchmarks."""

from __future__ import annotations

import bisect
import math
from typing import Sequence

from .rng import Rng

SIM_CHUNK = 1 << 14

Row = Sequence[float]


def acceptance(p: Sequence[Row], q: Sequence[Row]) -> list[float]:
    return [sum(min(x, y) for x, y in zip(a, b)) for a, b in zip(p, q)]


def softmax(logits: Row, t: float = 1.0) -> list[float]:
    m = max(logits)
    e = [math.exp((x - m) / t) for x in logits]
    z = sum(e)
    return [v / z for v in e]


def acceptance_from_logits(a: Sequence[Row], b: Sequence[Row], t: float = 1.0) -> list[float]:
    return acceptance([softmax(r, t) for r in a], [softmax(r, t) for r in b])


def residual(p: Row, q: Row) -> list[float]:
    """norm(max(0, p - q)); p itself when that has no mass."""
    r = [max(0.0, x - y) for x, y in zip(p, q)]
    z = sum(r)
    return [v / z for v in r] if z > 0 else list(p)


def lenient_emitted(p: Row, q: Row, lam: float) -> tuple[float, list[float]]:
    """(acceptance, emitted distribution) of accepting x ~ q with prob min(1, p/(lam q)) and
    resampling from the residual otherwise."""
    kept = [min(y, x / lam) for x, y in zip(p, q)]
    beta = sum(kept)
    r = residual(p, q)
    return beta, [k + (1 - beta) * v for k, v in zip(kept, r)]


def lenient(p: Sequence[Row], q: Sequence[Row], lam: float) -> tuple[list[float], list[float]]:
    betas, tvs = [], []
    for a, b in zip(p, q):
        beta, e = lenient_emitted(a, b, lam)
        betas.append(beta)
        tvs.append(0.5 * sum(abs(x - y) for x, y in zip(e, a)))
    return betas, tvs


def expected_tokens(alpha: float, gamma: int) -> float:
    return sum(alpha**i for i in range(gamma + 1))


def tokens_distribution(alpha: float, gamma: int) -> list[float]:
    return [alpha ** (n - 1) * (1 - alpha) for n in range(1, gamma + 1)] + [alpha**gamma]


def speedup(alpha: float, gamma: int, c: float) -> float:
    return expected_tokens(alpha, gamma) / (gamma * c + 1)


def optimal_gamma(alpha: float, c: float, max_gamma: int = 32) -> int:
    best, arg = -1.0, 0
    for g in range(1, max_gamma + 1):
        s = speedup(alpha, g, c)
        if s > best:
            best, arg = s, g
    return arg


def tree_expected_tokens(parents: Sequence[int], accept: Sequence[float]) -> float:
    """1 + sum over nodes of the product of acceptance probabilities on the path to the root."""
    total = 1.0
    for v in range(len(parents)):
        prob, u = 1.0, v
        while u != -1:
            prob *= accept[u]
            u = parents[u]
        total += prob
    return total


def _cumsum(row: Row) -> list[float]:
    out, acc = [], 0.0
    for v in row:
        acc += v
        out.append(acc)
    return out


def _draw(cdf: list[float], u: float) -> int:
    return min(bisect.bisect_right(cdf, u * cdf[-1]), len(cdf) - 1)


def simulate(
    p: Sequence[Row], q: Sequence[Row], gamma: int, trials: int, seed: int, lam: float = 1.0
) -> tuple[list[int], list[list[int]]]:
    """(tokens per step counts, emitted counts per position), replaying the core's draws."""
    vocab = len(p[0])
    q_cdf = [_cumsum(q[i]) for i in range(gamma)]
    r_cdf = []
    for i in range(gamma):
        c = _cumsum([max(0.0, x - y) for x, y in zip(p[i], q[i])])
        r_cdf.append(c if c[-1] > 0 else _cumsum(p[i]))
    bonus = _cumsum(p[gamma])
    tokens = [0] * (gamma + 1)
    emitted = [[0] * vocab for _ in range(gamma + 1)]
    for chunk in range(-(-trials // SIM_CHUNK)):
        rng = Rng.for_chunk(seed, chunk)
        for _ in range(min(SIM_CHUNK, trials - chunk * SIM_CHUNK)):
            n = gamma + 1
            for i in range(gamma):
                x = _draw(q_cdf[i], rng.uniform())
                u = rng.uniform()
                if u * lam * q[i][x] < p[i][x]:
                    emitted[i][x] += 1
                else:
                    emitted[i][_draw(r_cdf[i], rng.uniform())] += 1
                    n = i + 1
                    break
            if n == gamma + 1:
                emitted[gamma][_draw(bonus, rng.uniform())] += 1
            tokens[n - 1] += 1
    return tokens, emitted


def magicdec_step(
    w: float, kappa: float, n_act: float, bw: float, flops: float, b: int, n: int, s: int
) -> float:
    """T(B, n, S) = max((W + B S kappa) / BW, 2 N_act B n / F)."""
    return max((w + b * s * kappa) / bw, 2 * n_act * b * n / flops)


def spec_speedup(
    t_target: float, t_draft: float, t_verify: float, alpha: float, gamma: int
) -> float:
    """MagicDec: T_SD / T_T = (gamma T_D / T_T + T_V / T_T) / E[N]; returns its inverse."""
    ratio = (gamma * t_draft / t_target + t_verify / t_target) / expected_tokens(alpha, gamma)
    return 1.0 / ratio
