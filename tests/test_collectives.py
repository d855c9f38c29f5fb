import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import brickwall as bw
from brickwall.errors import BrickwallError, ValidationError
from brickwall.reference import collectives as ref

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
