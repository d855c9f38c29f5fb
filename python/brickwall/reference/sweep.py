"""Reference sweep: every grid point through reference/roofline.py's ``step`` in a plain Python
loop, then the Pareto frontier by its definition (quadratic). For tests and benches only."""

from __future__ import annotations

import math
from typing import Any, Sequence

from .roofline import step

SENSES = {
    "cost": "min",
    "latency": "min",
    "tokens_per_s_per_user": "max",
    "tokens_per_s": "max",
    "chips": "min",
    "mfu": "max",
}


def metrics(s: dict[str, Any], plan: dict[str, Any], phase: str, n: float) -> dict[str, float]:
    return {
        "cost": s["cost_per_token"] * 1e6,
        "latency": s["latency"] / n if phase == "decode" else s["latency"],
        "tokens_per_s_per_user": n / s["latency"],
        "tokens_per_s": s["tokens_per_s"],
        "chips": plan["tp"] * plan["pp"] * plan["ep"],
        "mfu": s["mfu"],
    }


def rows(
    model: dict[str, float],
    deployments: Sequence[tuple[dict[str, Any], dict[str, float]]],
    batch: Sequence[float],
    context: Sequence[float],
    phase: str = "decode",
    new_tokens: float = 1.0,
    *,
    fits: bool = True,
    max_latency: float = math.inf,
    min_tokens_per_s_per_user: float = 0.0,
) -> list[tuple[int, dict[str, float]]]:
    """(grid index, metrics) of every feasible point, deployment-major then batch then context."""
    out = []
    i = 0
    for plan, chip in deployments:
        for b in batch:
            for c in context:
                n = new_tokens if phase == "decode" else c
                s = step(model, plan, chip, b, c if phase == "decode" else 0.0, n)
                x = metrics(s, plan, phase, n)
                if (
                    (not fits or s["fits"])
                    and x["latency"] <= max_latency
                    and x["tokens_per_s_per_user"] >= min_tokens_per_s_per_user
                ):
                    out.append((i, x))
                i += 1
    return out


def pareto(
    points: list[tuple[int, dict[str, float]]], objectives: Sequence[tuple[str, str]]
) -> list[int]:
    """Indices of the points no other point dominates (equal points: the smallest index stays)."""
    keys = [(i, tuple(x[n] if s == "min" else -x[n] for n, s in objectives)) for i, x in points]

    def beats(a: tuple[int, tuple[float, ...]], b: tuple[int, tuple[float, ...]]) -> bool:
        le = all(p <= q for p, q in zip(a[1], b[1]))
        return le and (a[1] != b[1] or a[0] < b[0])

    return sorted(i for i, v in keys if not any(j != i and beats((j, w), (i, v)) for j, w in keys))


def top(
    points: list[tuple[int, dict[str, float]]], objective: tuple[str, str], k: int
) -> list[int]:
    name, sense = objective
    ranked = sorted(points, key=lambda p: (p[1][name] if sense == "min" else -p[1][name], p[0]))
    return sorted(i for i, _ in ranked[:k])
