"""Capacity under an SLO: the cheapest deployment that serves a rate, and latency against rate.

:func:`search` tries every deployment of the candidate axes (chips, tp, pp, ep; replica counts
for aggregated serving, prefill:decode splits for disaggregated serving) on the same seeded
traffic at the target rate, in the core on rayon's threads (or split over an ``executor``), and
ranks those whose percentile TTFT and TPOT meet the SLO by cost. Candidates that cannot run are
skipped exactly before any simulation: a layout the model does not admit, weights that leave
no memory for a KV cache, a cache too small for the longest request.

:func:`rate_curve` serves one deployment at a range of rates: TTFT and TPOT percentiles
against the request rate, as a table and a plot.

Both are re-exported by :mod:`brickwall.serve`.
"""

from __future__ import annotations

import importlib
import itertools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import _core
from .deployment import Deployment, chip_view, cost_view, plan_view
from .errors import BrickwallError, ValidationError, invalid, wrong_type
from .hardware import Hardware
from .model import Model
from .serve import (
    CHUNKED_BUDGET,
    ROUTERS,
    WHOLE_BUDGET,
    RouterName,
    Scheduler,
    ServingResult,
    Workload,
    simulate,
    simulate_disaggregated,
)
from .validate import choice, integer, real

#: What became of a candidate, by the core's status code.
STATUS = (
    "met",
    "missed",
    "bad plan",
    "no memory for a KV cache",
    "KV cache too small",
    "no network",
)

# Searches (by id) whose caller was interrupted: their parts on executor threads of this
# process stop at the core's next progress poll (only the main thread sees Ctrl-C).
_CANCELLED: set[int] = set()
_TOKENS = itertools.count(1)


class _Cancelled(Exception):
    """Raised inside a cancelled part to stop its core call."""


@dataclass(frozen=True, slots=True)
class _SearchCall:
    """One search's core arguments (picklable, so executors can run parts)."""

    model: Any
    candidates: list[tuple[Any, Any, int, int]]
    input: NDArray[np.uint64]
    output: NDArray[np.uint64]
    arrival: NDArray[np.float64]
    policy: str
    max_seqs: int
    max_batched_tokens: int
    block_size: int
    kv_blocks: int | None
    router: str
    quantile: float
    slo_ttft: float
    slo_tpot: float

    def run(
        self, lo: int, hi: int, progress: Callable[[int], None] | None = None
    ) -> dict[str, NDArray[Any]]:
        return _core.serving_search(
            self.model,
            self.candidates[lo:hi],
            self.input,
            self.output,
            self.arrival,
            self.policy,
            self.max_seqs,
            self.max_batched_tokens,
            self.block_size,
            self.kv_blocks,
            self.router,
            self.quantile,
            self.slo_ttft,
            self.slo_tpot,
            progress,
        )


def _run_part(call: _SearchCall, lo: int, hi: int, token: int = 0) -> dict[str, NDArray[Any]]:
    """One executor worker's share of the candidates."""

    def poll(_done: int) -> None:
        if token in _CANCELLED:
            raise _Cancelled

    return call.run(lo, hi, poll)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """:func:`search`'s answer. ``rows``: one dict per candidate, those meeting the SLO first,
    cheapest first (by ``rank_by``), then those simulated that missed it, then those skipped
    (``status`` says why). ``deployments``: the rows meeting the SLO; ``best``: the cheapest (None
    when no candidate meets it; ``message`` then says so)."""

    model: str
    rate: float
    slo_ttft: float | None
    slo_tpot: float | None
    quantile: float
    rank_by: str
    rows: list[dict[str, Any]] = field(repr=False)
    candidates: int
    simulated: int
    seconds: float

    @property
    def deployments(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "met"]

    @property
    def best(self) -> dict[str, Any] | None:
        d = self.deployments
        return d[0] if d else None

    @property
    def message(self) -> str:
        slo = " and ".join(
            f"p{self.quantile:g} {name} <= {v:g} s"
            for name, v in (("TTFT", self.slo_ttft), ("TPOT", self.slo_tpot))
            if v is not None
        )
        met = len(self.deployments)
        if met:
            b = self.best
            assert b is not None
            return (
                f"{met} of {self.candidates} deployments serve {self.rate:g} req/s within {slo}; "
                f"the cheapest: {b['layout']} ${b['usd_per_hour']:.4g}/h"
            )
        why = (
            f"{self.simulated} simulated, none meets it"
            if self.simulated
            else "none could run (see each row's status)"
        )
        return (
            f"no deployment serves {self.rate:g} req/s within {slo}: {self.candidates} "
            f"candidates, {why}; relax the SLO, lower the rate or widen the candidates"
        )

    def to_pandas(self) -> Any:
        """One row per candidate (without the Deployment objects)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            raise BrickwallError(
                "SearchResult.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        return pd.DataFrame([{k: v for k, v in r.items() if k != "deployment"} for r in self.rows])


def _budget(scheduler: Scheduler, input: NDArray[np.uint64], output: NDArray[np.uint64]) -> int:
    """The token budget ``Scheduler.resolved`` picks for this traffic (it does not depend on the
    deployment)."""
    if scheduler.max_batched_tokens is not None:
        return scheduler.max_batched_tokens
    longest = int(np.max(input + output - 1))
    return CHUNKED_BUDGET if scheduler.policy == "chunked" else max(WHOLE_BUDGET, longest)


def _axis(name: str, x: Any) -> list[int]:
    xs = list(x) if isinstance(x, (list, tuple, range)) else [x]
    if not xs:
        raise invalid(name, "[]", "at least one value")
    return [integer(name, v, maximum=1 << 20) for v in xs]


def _splits(x: Any) -> list[tuple[int, int]]:
    out = []
    for s in list(x):
        if isinstance(s, str):
            parts = s.split(":")
            try:
                s = (int(parts[0]), int(parts[1])) if len(parts) == 2 else None
            except ValueError:
                s = None
        if not (isinstance(s, tuple) and len(s) == 2):
            raise invalid("disaggregated", s, "(prefill, decode) pairs or 'X:Y' strings")
        out.append(
            (
                integer("disaggregated prefill", s[0], maximum=1 << 20),
                integer("disaggregated decode", s[1], maximum=1 << 20),
            )
        )
    return out


def search(
    model: Model,
    workload: Workload,
    *,
    rate: float,
    slo_ttft: float | None = None,
    slo_tpot: float | None = None,
    chips: Sequence[str | Hardware] | str | Hardware = ("H100-SXM",),
    tp: int | Sequence[int] = (1, 2, 4, 8),
    pp: int | Sequence[int] = 1,
    ep: int | Sequence[int] = 1,
    replicas: int | Sequence[int] = (1, 2, 4, 8),
    disaggregated: Sequence[tuple[int, int] | str] = (),
    scheduler: Scheduler | None = None,
    router: RouterName = "round-robin",
    quantile: float = 99.0,
    rank_by: str = "hour",
    executor: Executor | None = None,
    parts: int | None = None,
    **deployment: Any,
) -> SearchResult:
    """The cheapest deployments serving ``workload`` at ``rate`` requests/s within the SLO
    (p``quantile`` TTFT <= ``slo_ttft`` and TPOT <= ``slo_tpot`` seconds).

    Candidates: every chip in ``chips`` x ``tp`` x ``pp`` x ``ep`` layout, served by each count
    in ``replicas`` (aggregated, behind ``router``) and by each ``(prefill, decode)`` split in
    ``disaggregated`` (``"2:6"`` strings too). Other keyword arguments (``weight_dtype``,
    ``price_per_hour``, ...) go to every :class:`~brickwall.Deployment`. Every candidate serves
    the same requests (the workload's lengths, arrival process and seed at ``rate``). Those that
    meet the SLO rank by ``rank_by``: ``"hour"`` (USD per hour of the whole deployment) or
    ``"token"`` (USD per 1M input + output tokens at this load). ``executor``: any
    concurrent.futures.Executor; the candidates are split into ``parts`` (default 8) shares.
    """
    t0 = time.perf_counter()
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    if not isinstance(workload, Workload):
        raise wrong_type("workload", workload, "a Workload")
    if workload.clients is not None:
        raise invalid("workload.clients", workload.clients, "None: a search needs open traffic")
    r = real("rate", rate, strict=True)
    if slo_ttft is None and slo_tpot is None:
        raise invalid("slo_ttft, slo_tpot", (slo_ttft, slo_tpot), "at least one SLO")
    ttft = math.inf if slo_ttft is None else real("slo_ttft", slo_ttft, strict=True)
    tpot = math.inf if slo_tpot is None else real("slo_tpot", slo_tpot, strict=True)
    q = real("quantile", quantile, strict=True, maximum=100.0)
    choice("rank_by", rank_by, ("hour", "token"))
    choice("router", router, ROUTERS)
    if scheduler is None:
        scheduler = Scheduler()
    elif not isinstance(scheduler, Scheduler):
        raise wrong_type("scheduler", scheduler, "a Scheduler")
    hws = list(chips) if isinstance(chips, (list, tuple)) else [chips]
    if not hws:
        raise invalid("chips", "[]", "at least one chip")
    tps, pps, eps = _axis("tp", tp), _axis("pp", pp), _axis("ep", ep)
    reps = [] if replicas == () else _axis("replicas", replicas)
    splits = _splits(disaggregated)
    if not reps and not splits:
        raise invalid("replicas, disaggregated", "()", "at least one replica count or split")
    trace = replace(workload, rate=r).draw()
    assert trace.arrival is not None
    tokens = float(trace.input.sum() + trace.output.sum())

    layouts: list[tuple[Deployment, str | None]] = []  # a deployment, or why it cannot run
    for hw in hws:
        for t, p, e in itertools.product(tps, pps, eps):
            d = Deployment(hw, tp=t, pp=p, ep=e, **deployment)  # type: ignore[arg-type]
            if d.chip_price_per_hour is None:
                raise invalid(
                    "price_per_hour",
                    None,
                    f"a price for {d.hardware.name} (the catalog has none) to rank by cost",
                )
            try:
                d.check(model)
                layouts.append((d, None))
            except ValidationError as err:
                layouts.append((d, f"bad plan: {err}"))
    cands: list[tuple[Deployment, int, int, str | None]] = [
        (d, x, y, why) for d, why in layouts for x, y in [(n, 0) for n in reps] + splits
    ]
    runnable = [i for i, c in enumerate(cands) if c[3] is None]
    views: dict[int, tuple[Any, Any]] = {}
    for d, _, _, why in cands:
        if why is None and id(d) not in views:
            views[id(d)] = (plan_view(d), chip_view(d))
    call = _SearchCall(
        cost_view(model),
        [(*views[id(cands[i][0])], cands[i][1], cands[i][2]) for i in runnable],
        trace.input,
        trace.output,
        trace.arrival,
        scheduler.policy,
        scheduler.max_seqs,
        _budget(scheduler, trace.input, trace.output),
        scheduler.block_size,
        scheduler.kv_blocks,
        router,
        q,
        ttft,
        tpot,
    )
    n = len(runnable)
    if executor is None:
        cols = call.run(0, n)
    else:
        if not callable(getattr(executor, "submit", None)):
            raise wrong_type("executor", executor, "a concurrent.futures.Executor")
        k = 8 if parts is None else integer("parts", parts, maximum=1 << 16)
        step = max(1, -(-n // k))
        token = next(_TOKENS)
        futures = [
            executor.submit(_run_part, call, a, min(a + step, n), token) for a in range(0, n, step)
        ]
        try:
            got = [f.result() for f in futures]
        except BaseException:
            _CANCELLED.add(token)
            for f in futures:
                f.cancel()
            raise
        cols = (
            {key: np.concatenate([g[key] for g in got]) for key in got[0]}
            if got
            else call.run(0, 0)
        )
    rows: list[dict[str, Any]] = []
    verdict = dict(zip(runnable, range(n), strict=True))
    for i, (d, x, y, why) in enumerate(cands):
        per_replica = d.chips
        row: dict[str, Any] = {
            "hardware": d.hardware.name,
            "tp": d.tp,
            "pp": d.pp,
            "ep": d.ep,
            "replicas": x if y == 0 else None,
            "prefill": x if y else None,
            "decode": y if y else None,
            "layout": f"{x}x TP{d.tp} PP{d.pp} EP{d.ep} {d.hardware.name}"
            if y == 0
            else f"{x}P:{y}D TP{d.tp} PP{d.pp} EP{d.ep} {d.hardware.name}",
            "chips": per_replica * (x + y),
            "usd_per_hour": (d.chip_price_per_hour or 0.0) * per_replica * (x + y),
            "deployment": d,
        }
        j = verdict.get(i)
        if j is None:
            row.update(status=why, kv_blocks=None, ttft_s=math.nan, tpot_s=math.nan)
            row["usd_per_million_tokens"] = math.nan
        else:
            code = int(cols["status"][j])
            row.update(
                status=STATUS[code],
                kv_blocks=int(cols["kv_blocks"][j]) or None,
                ttft_s=float(cols["ttft"][j]),
                tpot_s=float(cols["tpot"][j]),
                usd_per_million_tokens=float(cols["usd_per_s"][j] * cols["duration"][j])
                / tokens
                * 1e6,
            )
        rows.append(row)
    key = "usd_per_hour" if rank_by == "hour" else "usd_per_million_tokens"
    order = {"met": 0, "missed": 1}
    rows.sort(key=lambda w: (order.get(w["status"], 2), w[key] if w["status"] == "met" else 0.0))
    simulated = sum(1 for w in rows if w["status"] in order)
    return SearchResult(
        model.name,
        r,
        slo_ttft,
        slo_tpot,
        q,
        rank_by,
        rows,
        len(cands),
        simulated,
        time.perf_counter() - t0,
    )


@dataclass(frozen=True, slots=True)
class RateCurve:
    """:func:`rate_curve`'s answer: per request rate (requests/s) the percentiles of TTFT,
    TPOT and end-to-end latency (seconds), the throughput served and the utilisation."""

    model: str
    deployment: Deployment = field(repr=False)
    label: str
    slo_ttft: float | None
    slo_tpot: float | None
    columns: dict[str, NDArray[np.float64]] = field(repr=False)

    @property
    def rates(self) -> NDArray[np.float64]:
        return self.columns["rate"]

    def to_pandas(self) -> Any:
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            raise BrickwallError(
                "RateCurve.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        return pd.DataFrame(self.columns)

    def plot(self, path: str | Path | None = None) -> Any:
        """TTFT and TPOT (p50, p99) against the request rate, the SLO dashed; saved to ``path``
        if given (needs matplotlib)."""
        from .plot import finish, pyplot

        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        c = self.columns
        for ax, metric, slo, unit in (
            (axes[0], "ttft", self.slo_ttft, "time to first token"),
            (axes[1], "tpot", self.slo_tpot, "time per output token"),
        ):
            for qn, style in (("p50", "-o"), ("p99", "-s")):
                ax.semilogy(c["rate"], c[f"{metric}_{qn}"], style, ms=3, label=qn)
            if slo is not None:
                ax.axhline(slo, color="k", ls="--", lw=0.8, label=f"SLO {slo:g} s")
            ax.set_xlabel("request rate (req/s)")
            ax.set_ylabel(f"{unit} (s)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"{self.model} on {self.label}", fontsize=10)
        return finish(fig, path)


def rate_curve(
    model: Model,
    deployment: Deployment,
    workload: Workload,
    rates: Sequence[float] | NDArray[np.float64] | None = None,
    *,
    scheduler: Scheduler | None = None,
    replicas: int = 1,
    router: RouterName = "round-robin",
    disaggregated: tuple[int, int] | None = None,
    points: int = 12,
    slo_ttft: float | None = None,
    slo_tpot: float | None = None,
) -> RateCurve:
    """Serve ``workload`` (its lengths, arrival process and seed) at each of ``rates``
    requests/s (None: ``points`` rates spaced geometrically from 5% to 100% of the offline
    batch's throughput on this deployment). ``disaggregated``: a ``(prefill, decode)`` split
    instead of ``replicas``. The SLO only draws its lines on the plot."""
    if not isinstance(workload, Workload):
        raise wrong_type("workload", workload, "a Workload")
    if workload.clients is not None:
        raise invalid("workload.clients", workload.clients, "None: a rate curve needs open traffic")

    def run(rate: float) -> ServingResult:
        w = replace(workload, rate=rate)
        if disaggregated is None:
            return simulate(
                model, deployment, w, scheduler, replicas=replicas, router=router, timeline=False
            )
        return simulate_disaggregated(
            model, deployment, w, *disaggregated, scheduler, router=router, timeline=False
        )

    if disaggregated is not None:
        (x, y), *_ = _splits([disaggregated])
        disaggregated = (x, y)
    if rates is None:
        n = integer("points", points, minimum=2, maximum=1000)
        top = run(math.inf).throughput["requests_per_s"]
        grid = np.geomspace(0.05, 1.0, n) * top
    else:
        grid = np.asarray(rates, dtype=np.float64).ravel()
        if not len(grid):
            raise invalid("rates", "[]", "at least one rate")
        for v in grid:
            real("rates", float(v), strict=True)
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "rate",
            "ttft_p50",
            "ttft_p99",
            "tpot_p50",
            "tpot_p99",
            "e2e_p50",
            "e2e_p99",
            "requests_per_s",
            "utilisation",
        )
    }
    last: ServingResult | None = None
    for rate in grid:
        res = run(float(rate))
        last = res
        cols["rate"].append(float(rate))
        for m in ("ttft", "tpot", "e2e"):
            p = res.percentiles(m, (50, 99))
            cols[f"{m}_p50"].append(p["p50"])
            cols[f"{m}_p99"].append(p["p99"])
        cols["requests_per_s"].append(res.throughput["requests_per_s"])
        cols["utilisation"].append(res.utilisation)
    assert last is not None
    d = deployment
    where = (
        f"{disaggregated[0]}P:{disaggregated[1]}D replicas of "
        if disaggregated
        else f"{replicas} replicas of "
        if replicas > 1
        else ""
    ) + f"{d.chips}x {d.hardware.name} (TP{d.tp} PP{d.pp} EP{d.ep}), {last.scheduler.policy}"
    return RateCurve(
        model.name,
        deployment,
        where,
        slo_ttft,
        slo_tpot,
        {k: np.asarray(v) for k, v in cols.items()},
    )


__all__ = ["STATUS", "RateCurve", "SearchResult", "rate_curve", "search"]
