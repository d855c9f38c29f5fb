from typing import Any

import brickwall as bw
import numpy as np
import pytest
from brickwall.errors import BrickwallError, ValidationError
from brickwall.reference import collectives as ref
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

sizes = st.floats(0, 1e12, allow_nan=False)
ranks = st.integers(1, 4096)
bws = st.floats(1e6, 1e13)
lats = st.floats(0, 1e-3)


@given(
    st.sampled_from(bw.collectives.KINDS),
    st.lists(st.tuples(sizes, ranks), min_size=1, max_size=50),
    bws,
    lats,
)
def test_core_matches_reference(
    kind: str, pairs: list[tuple[float, int]], bw_: float, lat: float
) -> None:
    n = np.array([p[0] for p in pairs])
    p = np.array([p[1] for p in pairs])
    got = bw.collective_time(kind, n, p, bandwidth=bw_, latency=lat)
    want = [ref.collective_time(kind, float(a), int(b), lat, bw_) for a, b in zip(n, p)]
    assert_allclose(got, want, rtol=1e-12, atol=0)


@given(sizes, st.integers(1, 64), st.integers(1, 64), bws, bws, lats, lats)
def test_hierarchical_matches_reference(
    n: float, g: int, islands: int, b1: float, b2: float, a1: float, a2: float
) -> None:
    got = bw.hierarchical_all_reduce_time(
        n,
        islands,
        per_island=g,
        inner_bandwidth=b1,
        outer_bandwidth=b2,
        inner_latency=a1,
        outer_latency=a2,
    )
    assert_allclose(got, ref.hierarchical_all_reduce(n, g, islands, a1, b1, a2, b2), rtol=1e-12)


@given(sizes, st.integers(1, 1024), bws, lats)
def test_all_reduce_is_rs_plus_ag(n: float, p: int, b: float, a: float) -> None:
    ar = bw.collective_time("all-reduce", n, p, bandwidth=b, latency=a)
    rs = bw.collective_time("reduce-scatter", n, p, bandwidth=b, latency=a)
    ag = bw.collective_time("all-gather", n, p, bandwidth=b, latency=a)
    assert ar == pytest.approx(rs + ag, rel=1e-12)


def test_single_rank_is_free() -> None:
    for kind in bw.collectives.KINDS:
        assert bw.collective_time(kind, 1e9, 1, bandwidth=1e9, latency=1e-3) == 0.0


@given(sizes, st.integers(1, 32), st.integers(1, 32), bws)
def test_hierarchical_equals_flat_ring_with_equal_links(
    n: float, g: int, islands: int, b: float
) -> None:
    flat = bw.collective_time("all-reduce", n, g * islands, bandwidth=b)
    hier = bw.hierarchical_all_reduce_time(
        n, islands, per_island=g, inner_bandwidth=b, outer_bandwidth=b
    )
    assert hier == pytest.approx(flat, rel=1e-12, abs=1e-300)


def test_hierarchical_beats_flat_on_slow_outer_links() -> None:
    # The seed's segments: 1.6 Tb/s inside, 400 Gb/s between.
    n, g, islands = 3.6e12, 8, 16
    flat = bw.collective_time("all-reduce", n, g * islands, bandwidth=400e9 / 8)
    hier = bw.hierarchical_all_reduce_time(
        n, islands, per_island=g, inner_bandwidth=1.6e12 / 8, outer_bandwidth=400e9 / 8
    )
    assert hier < flat


def test_closed_form_example() -> None:
    assert bw.collective_time("all-reduce", 1e9, 8, bandwidth=450e9) == pytest.approx(
        2 * 7 / 8 * 1e9 / 450e9, rel=1e-15
    )
    assert bw.collective_time("p2p", 1e6, 2, bandwidth=1e9, latency=1e-6) == pytest.approx(
        1e-6 + 1e-3
    )


def test_broadcasting_and_shape() -> None:
    out = bw.collective_time(
        "all-gather", np.array([[1e6], [2e6]]), np.array([2, 4, 8]), bandwidth=1e9
    )
    assert out.shape == (2, 3)


@pytest.mark.parametrize(
    "args",
    [
        ("all-reduce", -1.0, 8),
        ("all-reduce", float("nan"), 8),
        ("all-reduce", 1.0, 0),
        ("all-reduce", 1.0, 2.5),
        ("allreduce", 1.0, 8),
        ("all-reduce", [1.0, 2.0], [2, 2, 2]),
        ("all-reduce", "x", 2),
    ],
)
def test_bad_input(args: tuple) -> None:
    with pytest.raises(BrickwallError):
        bw.collective_time(*args, bandwidth=1e9)


def test_bad_link() -> None:
    with pytest.raises(ValidationError, match="bandwidth"):
        bw.collective_time("all-reduce", 1.0, 2, bandwidth=0.0)
    with pytest.raises(ValidationError, match="latency"):
        bw.collective_time("all-reduce", 1.0, 2, bandwidth=1.0, latency=-1.0)


def test_python_rng_replays_core_reference_vectors() -> None:
    from brickwall.reference.rng import Rng, splitmix64

    assert splitmix64(1234567)[1] == 6457827717110365317
    r = Rng(0)
    r.s = [1, 2, 3, 4]
    assert [r.next_u64() for _ in range(3)] == [41943041, 58720359, 3588806011781223]


ALL = (*bw.collectives.ALGORITHMS, "auto")


def test_algorithm_names_agree_with_reference() -> None:
    assert bw.collectives.ALGORITHMS == ref.ALGORITHMS


@given(
    st.sampled_from(ALL),
    st.lists(st.tuples(sizes, ranks), min_size=1, max_size=50),
    bws,
    lats,
)
def test_all_reduce_algorithms_match_reference(
    algorithm: str, pairs: list[tuple[float, int]], bw_: float, lat: float
) -> None:
    n = np.array([p[0] for p in pairs])
    p = np.array([p[1] for p in pairs])
    got = bw.collective_time("all-reduce", n, p, bandwidth=bw_, latency=lat, algorithm=algorithm)
    want = [ref.all_reduce(float(a), int(b), lat, bw_, algorithm) for a, b in zip(n, p)]
    assert_allclose(got, want, rtol=1e-12, atol=0)


@given(st.lists(st.tuples(sizes, ranks), min_size=1, max_size=50), bws, lats)
def test_auto_choice_matches_reference_and_its_time(
    pairs: list[tuple[float, int]], bw_: float, lat: float
) -> None:
    n = np.array([p[0] for p in pairs])
    p = np.array([p[1] for p in pairs])
    picks = bw.collectives.all_reduce_algorithm(n, p, bandwidth=bw_, latency=lat)
    auto = bw.collective_time("all-reduce", n, p, bandwidth=bw_, latency=lat, algorithm="auto")
    for a, b, pick, t in zip(n, p, picks, auto):
        times = {alg: ref.all_reduce(float(a), int(b), lat, bw_, alg) for alg in ref.ALGORITHMS}
        # The pick's time is the minimum; near-ties may round either way in the last bit.
        assert times[str(pick)] == pytest.approx(min(times.values()), rel=1e-12, abs=0)
        assert t == pytest.approx(times[str(pick)], rel=1e-12, abs=0)


@given(sizes, st.integers(1, 64), st.integers(1, 64), bws, bws, lats, lats)
def test_hierarchical_algorithms_match_reference(
    n: float, g: int, islands: int, b1: float, b2: float, a1: float, a2: float
) -> None:
    for algorithm in ("ring", "two-shot", "auto"):
        got = bw.hierarchical_all_reduce_time(
            n,
            islands,
            per_island=g,
            inner_bandwidth=b1,
            outer_bandwidth=b2,
            inner_latency=a1,
            outer_latency=a2,
            algorithm=algorithm,
        )
        want = ref.hierarchical_all_reduce(n, g, islands, a1, b1, a2, b2, algorithm)
        assert_allclose(got, want, rtol=1e-12)


@given(st.sampled_from(ALL), st.integers(1, 1024), bws, lats)
def test_all_reduce_monotone_in_bytes_and_free_for_one_rank(
    algorithm: str, p: int, b: float, a: float
) -> None:
    n = np.geomspace(1.0, 1e12, 200)
    t = bw.collective_time("all-reduce", n, p, bandwidth=b, latency=a, algorithm=algorithm)
    assert np.all(np.diff(t) >= 0)
    one = bw.collective_time("all-reduce", 1e9, 1, bandwidth=b, latency=a, algorithm=algorithm)
    assert one == 0.0


def test_ring_is_the_default_and_unchanged() -> None:
    n, p = np.geomspace(1.0, 1e12, 50), np.arange(1, 51)
    default = bw.collective_time("all-reduce", n, p, bandwidth=450e9, latency=1e-6)
    ring = bw.collective_time("all-reduce", n, p, bandwidth=450e9, latency=1e-6, algorithm="ring")
    assert np.array_equal(default, ring)
    want = [ref.collective_time("all-reduce", float(a), int(b), 1e-6, 450e9) for a, b in zip(n, p)]
    assert_allclose(default, want, rtol=1e-15, atol=0)


def test_tp8_nvlink_picks_one_shot_small_and_two_shot_large() -> None:
    hw = bw.hardware("h100-sxm")
    link = {"bandwidth": hw.scale_up_bandwidth * hw.efficiency.network, "latency": 1e-6}
    picks = bw.collectives.all_reduce_algorithm([16 * 2**10, 2**20, 2**28], 8, **link)
    assert picks.tolist() == ["one-shot", "two-shot", "two-shot"]
    assert bw.collectives.all_reduce_algorithm(16 * 2**10, 8, **link) == "one-shot"
    # Without peer access (a scale-out group) the latency choice is the tree.
    ring = bw.collective_time("all-reduce", 4096, 64, algorithm="ring", **link)
    tree = bw.collective_time("all-reduce", 4096, 64, algorithm="tree", **link)
    assert tree < ring


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda: bw.collective_time("all-reduce", 1.0, 8, bandwidth=1e9, algorithm="nvls"),
            "algorithm",
        ),
        (
            lambda: bw.collective_time("all-gather", 1.0, 8, bandwidth=1e9, algorithm="tree"),
            "algorithm",
        ),
        (
            lambda: bw.collective_time("all-reduce", 1.0, 0, bandwidth=1e9, algorithm="auto"),
            "ranks",
        ),
        (
            lambda: bw.collective_time("all-reduce", -1.0, 8, bandwidth=1e9, algorithm="auto"),
            "bytes",
        ),
        (
            lambda: bw.collective_time(
                "all-reduce", float("nan"), 8, bandwidth=1e9, algorithm="tree"
            ),
            "bytes",
        ),
        (lambda: bw.collectives.all_reduce_algorithm(1.0, 0, bandwidth=1e9), "ranks"),
        (lambda: bw.collectives.all_reduce_algorithm(1.0, 2, bandwidth=0.0), "bandwidth"),
        (
            lambda: bw.hierarchical_all_reduce_time(
                1.0, 2, per_island=8, inner_bandwidth=1e9, outer_bandwidth=1e9, algorithm="tree"
            ),
            "algorithm",
        ),
    ],
)
def test_bad_algorithm_input_names_the_field(call: Any, field: str) -> None:
    with pytest.raises(BrickwallError, match=field):
        call()
