"""Invalid values through every public entry point: a BrickwallError that is also the matching
builtin, never a crash, a hang or a NaN."""

import math

import brickwall as bw
import numpy as np
import pytest
from brickwall import catalog
from brickwall.errors import BrickwallError, BrickwallTypeError, ValidationError
from hypothesis import given
from hypothesis import strategies as st

bad_numbers = st.one_of(
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(-float("inf")),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
    st.integers(max_value=0),
)
# Short text that names nothing in the catalogs (st.text can draw a real name such as "L40S").
NAMES = {n.lower() for kind in ("hardware", "models") for n in catalog.load(kind)}
junk = st.one_of(
    st.text(max_size=4).filter(lambda s: s.lower() not in NAMES),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.booleans(),
)

M = bw.model("llama2-7b")
D = bw.Deployment("H100-SXM")


def test_hierarchy() -> None:
    assert issubclass(ValidationError, ValueError) and issubclass(BrickwallTypeError, TypeError)
    assert issubclass(bw.errors.UnknownNameError, LookupError)
    assert issubclass(bw.errors.InfeasibleError, ValidationError)


@given(bad_numbers)
def test_decode_batch_and_context(x: float) -> None:
    with pytest.raises(BrickwallError):
        bw.decode(M, D, x, 10)  # type: ignore[arg-type]
    if not (isinstance(x, int) and x == 0):
        with pytest.raises(BrickwallError):
            bw.decode(M, D, 1, x)  # type: ignore[arg-type]


@given(junk)
def test_junk_types(x: object) -> None:
    for call in (
        lambda: bw.decode(M, D, x, 1),
        lambda: bw.prefill(M, D, 1, x),
        lambda: bw.model(x),
        lambda: bw.hardware(x),
        lambda: bw.Efficiency(flops=x),
        lambda: bw.Deployment("H100-SXM", tp=x),
        lambda: bw.collective_time("all-reduce", 1e6, 2, bandwidth=x),
    ):
        with pytest.raises(BrickwallError) as info:
            call()  # type: ignore[arg-type]
        assert isinstance(info.value, (ValueError, TypeError))


@given(bad_numbers)
def test_array_entry_points(x: float) -> None:
    arr = np.array([1.0, x, 3.0])
    with pytest.raises(BrickwallError, match="batch"):
        bw.steps(M, D, arr, 0)
    if x != 0:
        with pytest.raises(BrickwallError, match="bytes"):
            bw.collective_time("p2p", arr, 2, bandwidth=1e9)


@given(bad_numbers)
def test_training_inputs(x: float) -> None:
    with pytest.raises(BrickwallError):
        bw.training_run(M, x, "H100-SXM", gpus=8, mfu=0.4)
    with pytest.raises(BrickwallError):
        bw.training_run(M, 1e12, "H100-SXM", gpus=x, mfu=0.4)


def test_wrong_array_dtype_and_shape() -> None:
    with pytest.raises(BrickwallTypeError):
        bw.steps(M, D, np.array(["a", "b"]), 0)
    with pytest.raises(ValidationError):
        bw.steps(M, D, [1.5, 2.0], 0, new_tokens=[1, 2, 3])  # not broadcastable
    with pytest.raises(BrickwallTypeError):
        bw.steps(M, D, [[1, 2], [3]], 0)  # ragged


@given(st.integers(1, 1 << 20), st.integers(0, 1 << 20))
def test_outputs_are_finite(batch: int, context: int) -> None:
    e = bw.decode(bw.model("deepseek-v3"), bw.Deployment("H200", tp=8, ep=2), batch, context)
    assert all(
        math.isfinite(v)
        for v in (e.step_time, e.tokens_per_s, e.mfu, *e.breakdown.values(), *e.memory.values())
    )
