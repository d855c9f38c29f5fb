"""Best-of timing for the one-run reports: on a shared, noisy machine the best run is the one
that got the cores."""

from __future__ import annotations

import time
from collections.abc import Callable


def best(f: Callable[[], object], repeat: int = 3) -> tuple[float, float]:
    """Best wall and best CPU seconds of ``repeat`` calls of ``f`` (CPU: the process's, worker
    threads included; on a shared machine the fairer figure)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        f()
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return wall, cpu


def best_wall(f: Callable[[], object], repeat: int = 3) -> float:
    """Best wall seconds of ``repeat`` calls of ``f``."""
    return best(f, repeat)[0]
