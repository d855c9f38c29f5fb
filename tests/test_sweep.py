import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall import _core
from brickwall.errors import (
    BrickwallError,
    BrickwallTypeError,
    InfeasibleError,
    TooLargeError,
    UnknownNameError,
    ValidationError,
)
from brickwall.reference import sweep as ref
from brickwall.sweep import Constraints, grid
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

MIXTRAL = "mixtral-8x7b"


def _ref_frontier(
    g: Any, objectives: list[tuple[str, str]], kind: str = "pareto", k: int = 0, **constraints: Any
) -> tuple[list[int], dict[int, dict[str, float]]]:
    mv, deps = g.views()
    pts = ref.rows(
        mv, deps, g.batch.tolist(), g.context.tolist(), g.phase, float(g.new_tokens), **constraints
    )
    keep = ref.pareto(pts, objectives) if kind == "pareto" else ref.top(pts, objectives[0], k)
    return keep, dict(pts)


CASES = [
    ("decode", ("cost", "latency"), {}),
    ("decode", ("tokens_per_s", "chips", "mfu"), {"max_latency": 0.08}),
    ("decode", ("cost", "tokens_per_s_per_user"), {"min_tokens_per_s_per_user": 20.0}),
    ("prefill", ("cost", "latency"), {"max_latency": 2.0}),
]


@pytest.mark.parametrize("phase, objectives, cons", CASES)
def test_core_frontier_equals_reference(
    phase: str, objectives: tuple[str, ...], cons: dict[str, float]
) -> None:
    axes = dict(
        hardware=["H100-SXM", "A100-80GB"],
        tp=[1, 2, 4, 8],
        pp=[1, 2, 4],
        ep=[1, 2],
        batch=[1, 3, 8, 32, 100, 256],
        context=[1, 512, 4096, 30000],
        weight_dtype=["bf16", "fp8"],
        phase=phase,
    )
    r = bw.sweep(MIXTRAL, objectives=objectives, constraints=cons, **axes)  # type: ignore[arg-type]
    g = grid(MIXTRAL, constraints=cons, **axes)  # type: ignore[arg-type]
    objs = [(o, ref.SENSES[o]) for o in objectives]
    refcons = {
        "max_latency": cons.get("max_latency", float("inf")),
        "min_tokens_per_s_per_user": cons.get("min_tokens_per_s_per_user", 0.0),
    }
    want, pts = _ref_frontier(g, objs, **refcons)
    assert len(want) > 1
    assert sorted(r.index.tolist()) == want
    assert r.evaluated == g.size and r.feasible == len(pts)
    for i, idx in enumerate(r.index.tolist()):
        for name in objectives:
            assert_allclose(r.columns[name][i], pts[idx][name], rtol=1e-12, err_msg=name)
    # top-k by the first objective
    top = bw.sweep(MIXTRAL, objectives=objectives, constraints=cons, keep=("top", 5), **axes)  # type: ignore[arg-type]
    want_top, _ = _ref_frontier(g, objs, "top", 5, **refcons)
    assert sorted(top.index.tolist()) == want_top


def test_keep_all_matches_reference_rows() -> None:
    axes = dict(
        hardware="H100-SXM", tp=[1, 2, 8], pp=[1, 2], batch=range(1, 40, 3), context=[0, 1000, 9000]
    )
    r = bw.sweep(MIXTRAL, keep="all", **axes)  # type: ignore[arg-type]
    _, pts = _ref_frontier(grid(MIXTRAL, **axes), [("cost", "min"), ("latency", "min")])  # type: ignore[arg-type]
    assert sorted(r.index.tolist()) == sorted(pts) and r.kept == r.feasible


@settings(max_examples=15, deadline=None)
@given(
    st.data(),
    st.sampled_from([MIXTRAL, "llama3.1-70b", "gpt4-moe-1.8t"]),
    st.sampled_from(["decode", "prefill"]),
)
def test_sweep_row_equals_point_estimate(data: st.DataObject, name: str, phase: str) -> None:
    m = bw.model(name)
    hw = data.draw(st.sampled_from(["H100-SXM", "A100-80GB", "H200", "B200"]))
    batch = data.draw(st.lists(st.integers(1, 2048), min_size=1, max_size=4, unique=True))
    context = data.draw(st.lists(st.integers(1, 32768), min_size=1, max_size=3, unique=True))
    opts = dict(
        kv_sharding=data.draw(st.sampled_from(["heads", "batch"])), overlap=data.draw(st.booleans())
    )
    ndraft = data.draw(st.integers(1, 5)) if phase == "decode" else 1
    try:
        r = bw.sweep(
            m,
            hardware=[hw],
            tp=[1, 2, 4, 8],
            pp=[1, 2, 8, 16],
            ep=[1, 2, 4],
            batch=batch,
            context=context,
            weight_dtype=["bf16", "fp8"],
            kv_dtype=["bf16", "fp8"],
            phase=phase,
            keep="all",
            new_tokens=ndraft,
            constraints={"fits": False},
            **opts,
        )  # type: ignore[arg-type]
    except InfeasibleError:
        return
    assert r.kept == r.evaluated
    for i in data.draw(st.lists(st.integers(0, r.kept - 1), min_size=1, max_size=5)):
        row = r.row(i)
        d = bw.Deployment(
            hw,
            tp=row["tp"],
            pp=row["pp"],
            ep=row["ep"],
            weight_dtype=row["weight_dtype"],
            kv_dtype=row["kv_dtype"],
            **opts,
        )  # type: ignore[arg-type]
        if phase == "decode":
            e = bw.decode(m, d, row["batch"], row["context"], new_tokens=ndraft)
        else:
            e = bw.prefill(m, d, row["batch"], row["context"])
        assert row["step_time"] == e.step_time
        assert row["latency"] == e.per_token_latency
        assert row["tokens_per_s_per_user"] == e.tokens_per_s_per_user
        assert row["tokens_per_s"] == e.tokens_per_s
        assert row["mfu"] == e.mfu
        assert row["cost"] == e.cost_per_million_tokens
        assert row["fits"] == e.fits and row["bound"] == e.bound
        assert row["mem_kv"] == e.memory["kv_cache"] and row["mem_weights"] == e.memory["weights"]


class _Shuffled(Executor):
    """Runs each task at submission, in this thread; results come back in any order we like."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        f: Future[Any] = Future()
        f.set_result(fn(*args, **kwargs))
        return f


AXES = dict(
    hardware=["H100-SXM", "A100-80GB"],
    tp=[1, 2, 4, 8],
    pp=[1, 2, 4, 8],
    batch=range(1, 2049, 7),
    context=[512, 8192, 32768],
)


def test_executor_split_and_merge_order_independent() -> None:
    whole = bw.sweep(MIXTRAL, **AXES)  # type: ignore[arg-type]
    assert whole.kept > 3
    for parts in (1, 3, 7):
        with ThreadPoolExecutor(2) as ex:
            split = bw.sweep(MIXTRAL, executor=ex, parts=parts, **AXES)  # type: ignore[arg-type]
        assert split.index.tolist() == whole.index.tolist()
        assert (split.evaluated, split.feasible) == (whole.evaluated, whole.feasible)
        assert_allclose(split.cost, whole.cost, rtol=0)
    shuffled = bw.sweep(MIXTRAL, executor=_Shuffled(), parts=5, **AXES)  # type: ignore[arg-type]
    assert shuffled.index.tolist() == whole.index.tolist()


def test_reduce_is_order_independent() -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 30, size=(3000, 3)).astype(float)  # many ties and duplicates
    index = np.arange(3000, dtype=np.uint64)
    for senses in (["min", "min"], ["min", "max", "min"]):
        d = len(senses)
        want = _core.sweep_pareto_reduce(
            np.ascontiguousarray(values[:, :d].ravel()), index, senses, "pareto", 0
        )
        points = [(int(i), {str(j): values[i, j] for j in range(d)}) for i in range(3000)]
        assert sorted(want.tolist()) == ref.pareto(
            points, [(str(j), s) for j, s in enumerate(senses)]
        )
        key = values[want.astype(np.int64), 0] * (1 if senses[0] == "min" else -1)
        assert want.tolist() == want[np.lexsort((want, key))].tolist()  # best first, ties by index
        for _ in range(3):
            p = rng.permutation(3000)
            got = _core.sweep_pareto_reduce(
                np.ascontiguousarray(values[p, :d].ravel()), index[p], senses, "pareto", 0
            )
            assert got.tolist() == want.tolist()
            # merging the frontiers of two halves
            a, b = p[:1200], p[1200:]
            fa = _core.sweep_pareto_reduce(
                np.ascontiguousarray(values[a, :d].ravel()), index[a], senses, "pareto", 0
            )
            fb = _core.sweep_pareto_reduce(
                np.ascontiguousarray(values[b, :d].ravel()), index[b], senses, "pareto", 0
            )
            both = np.concatenate([fb, fa]).astype(np.int64)
            merged = _core.sweep_pareto_reduce(
                np.ascontiguousarray(values[both, :d].ravel()),
                both.astype(np.uint64),
                senses,
                "pareto",
                0,
            )
            assert merged.tolist() == want.tolist()


def test_dask_local_cluster_equals_in_process() -> None:
    distributed = pytest.importorskip("dask.distributed")
    whole = bw.sweep(MIXTRAL, **AXES)  # type: ignore[arg-type]
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = bw.sweep(MIXTRAL, executor=client.get_executor(), parts=4, **AXES)  # type: ignore[arg-type]
    assert got.index.tolist() == whole.index.tolist()
    assert (got.evaluated, got.feasible, got.kept) == (whole.evaluated, whole.feasible, whole.kept)
    assert (
        got.cost.tolist() == whole.cost.tolist() and got.latency.tolist() == whole.latency.tolist()
    )


def test_result_api(tmp_path: Any) -> None:
    r = bw.sweep(MIXTRAL, by="hardware", **AXES)  # type: ignore[arg-type]
    assert (
        set(r.hardware) == {"H100-SXM", "A100-80GB"}
        and r.on_frontier.any()
        and not r.on_frontier.all()
    )
    cheapest = r.best("cost")
    assert cheapest["cost"] == r.cost.min()
    assert r.best("latency")["latency"] == r.latency.min()
    assert r.evaluated == len(AXES["batch"]) * 3 * 2 * 16 and r.configs_per_s > 0  # type: ignore[arg-type]
    assert 0 < r.core_elapsed <= r.elapsed
    df = r.to_pandas()
    assert len(df) == r.kept and list(df["cost"]) == list(r.cost)
    r.plot(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
    # each hardware's rows are that hardware's own frontier
    h100 = bw.sweep(MIXTRAL, **{**AXES, "hardware": ["H100-SXM"]})  # type: ignore[arg-type]
    assert sorted(r.index[r.hardware == "H100-SXM"].tolist()) == sorted(h100.index.tolist())


def test_to_pandas_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    r = bw.sweep(MIXTRAL, batch=[1, 8])
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(BrickwallError, match="pip install"):
        r.to_pandas()


def test_progress_and_interrupt() -> None:
    seen: list[tuple[int, int]] = []
    r = bw.sweep(MIXTRAL, progress=lambda d, t: seen.append((d, t)), **AXES)  # type: ignore[arg-type]
    assert seen and seen[-1] == (r.evaluated, r.evaluated)
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    t = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        bw.sweep(
            MIXTRAL,
            tp=[1, 2, 4, 8],
            pp=[1, 2, 4, 8],
            batch=range(1, 100_001),
            context=range(0, 100_000, 50),
            progress=stop,
        )
    assert time.perf_counter() - t < 5.0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch": []}, ValidationError, r"len\(batch\)"),
        ({"tp": []}, ValidationError, r"len\(tp\)"),
        ({"hardware": []}, ValidationError, r"len\(hardware\)"),
        ({"tp": [1, 2.5]}, ValidationError, r"tp\[1\]"),
        ({"pp": ["2"]}, BrickwallTypeError, r"pp\[0\]"),
        ({"batch": [0, 1]}, ValidationError, "batch"),
        ({"objectives": ("cost", "speed")}, ValidationError, "objective"),
        ({"objectives": ("cost",)}, ValidationError, "two or three"),
        ({"objectives": ("cost", "latency:up")}, ValidationError, "sense"),
        ({"keep": "best"}, ValidationError, "keep"),
        ({"keep": ("top", 0)}, ValidationError, "top k"),
        ({"constraints": {"max_chips": 0}}, ValidationError, "max_chips"),
        ({"constraints": {"max_chips": 3}, "tp": [4, 8]}, InfeasibleError, "max_chips"),
        ({"constraints": {"max_latency": -1.0}}, ValidationError, "max_latency"),
        ({"constraints": {"min_tokens": 3}}, ValidationError, "constraints"),
        ({"tp": [3, 5]}, InfeasibleError, "no .* combination"),
        ({"hardware": ["Nope-1"]}, UnknownNameError, "Nope-1"),
        ({"phase": "train"}, ValidationError, "phase"),
        (
            {"tp": range(1, 4097), "batch": range(1, 2**26 + 1), "context": range(2**26)},
            TooLargeError,
            "2\\^63",
        ),
        ({"batch": range(1, 2049), "context": range(1000)}, TooLargeError, "pareto"),
    ],
)
def test_bad_input(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    if match == "pareto":
        kwargs = {**kwargs, "keep": "all"}
    t = time.perf_counter()
    with pytest.raises(error, match=match):
        bw.sweep(MIXTRAL, **kwargs)
    assert time.perf_counter() - t < 2.0  # refused before any work


def test_cost_needs_a_price() -> None:
    with pytest.raises(ValidationError, match="price"):
        bw.sweep(MIXTRAL, hardware=["MI250X"])
    r = bw.sweep(MIXTRAL, hardware=["MI250X"], price_per_hour=2.0, batch=[1, 64])
    assert r.kept >= 1
    r = bw.sweep(
        MIXTRAL, hardware=["MI250X"], objectives=("latency", "tokens_per_s"), batch=[1, 64]
    )
    assert r.kept >= 1


def test_frontier_is_monotone_and_constraints_hold() -> None:
    r = bw.sweep(
        MIXTRAL,
        constraints=Constraints(max_latency=0.05, min_tokens_per_s_per_user=25.0, max_chips=8),
        **AXES,
    )  # type: ignore[arg-type]
    assert (
        (r.latency <= 0.05).all()
        and (r.tokens_per_s_per_user >= 25.0).all()
        and (r.chips <= 8).all()
        and r.fits.all()
    )
    # sorted by cost ascending, so latency strictly decreases along a 2-D frontier
    assert (np.diff(r.cost) >= 0).all() and (np.diff(r.latency) < 0).all()
