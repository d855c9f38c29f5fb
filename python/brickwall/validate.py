"""Small checks shared by the dataclasses and wrappers; each raises with the field's name."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .errors import invalid, wrong_type

INT64_MAX = (1 << 63) - 1


def integer(field: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """An int (bools refused; integral floats like 8.0 accepted) in [minimum, maximum]; the
    default maximum is int64's, so nothing wraps or overflows on its way to the core."""
    if maximum is None:
        maximum = INT64_MAX
    if type(value) is int and value >= minimum and (maximum is None or value <= maximum):
        return value  # the common case, without the ABC checks below
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise wrong_type(field, value, "an integer")
    if isinstance(value, numbers.Integral):
        out = int(value)
    else:
        f = float(value)
        if not math.isfinite(f) or f != int(f):
            raise invalid(field, value, "an integer")
        out = int(f)
    if out < minimum or (maximum is not None and out > maximum):
        hi = "" if maximum is None else f" and <= {maximum}"
        raise invalid(field, value, f"an integer >= {minimum}{hi}")
    return out


def boolean(field: str, value: Any) -> bool:
    """A bool (``numpy.bool_`` too): never a string or number, whose truthiness would mislead."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise wrong_type(field, value, "True or False")


def real(
    field: str,
    value: Any,
    *,
    minimum: float = 0.0,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """A finite float in [minimum, maximum] (or (minimum, maximum] when strict)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise wrong_type(field, value, "a number")
    try:
        out = float(value)
    except OverflowError:  # an int beyond the float range
        out = math.inf
    low_ok = out > minimum if strict else out >= minimum
    high_ok = maximum is None or out <= maximum
    if not (math.isfinite(out) and low_ok and high_ok):
        op = ">" if strict else ">="
        hi = "" if maximum is None else f" and <= {maximum:g}"
        raise invalid(field, value, f"a finite number {op} {minimum:g}{hi}")
    return out


def choice(field: str, value: Any, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str):
        raise wrong_type(field, value, f"one of {', '.join(options)}")
    key = value.lower()
    if key not in options:
        raise invalid(field, value, f"one of {', '.join(options)}")
    return key


def array(
    field: str,
    value: Any,
    dtype: type[np.floating[Any]] | type[np.integer[Any]] | type[float] | type[int],
    *,
    minimum: float | None = None,
    strict: bool = False,
    ndim: int | None = 1,
) -> NDArray[Any]:
    """A contiguous finite array of ``dtype``; integer targets refuse non-integral values."""
    try:
        raw = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise wrong_type(field, value, "an array of numbers") from e
    if raw.dtype.kind not in "biuf" or raw.dtype.kind == "b":
        raise wrong_type(field, value, "an array of numbers")
    target = np.dtype(dtype)
    if raw.dtype.kind == "f" and target.kind in "iu" and not isinstance(value, np.ndarray):
        raw = _exact_ints(field, value, raw, target)
    if ndim is not None:
        if raw.ndim == 0 and ndim == 1:
            raw = raw.reshape(1)
        if raw.ndim != ndim:
            raise invalid(f"{field}.ndim", raw.ndim, f"{ndim}")
    # One reduction first; the element-wise scan only runs when the sum is not finite.
    if raw.dtype.kind == "f" and not np.isfinite(np.add.reduce(raw, axis=None)):
        bad = ~np.isfinite(raw)
        if np.any(bad):
            raise invalid(field, _first_bad(raw, bad), "finite numbers")
    if target.kind in "iu" and raw.dtype.kind == "f" and np.any(raw != np.round(raw)):
        raise invalid(field, _first_bad(raw, raw != np.round(raw)), "integers")
    if minimum is not None and raw.size:
        low = raw.min()
        if low < minimum or (strict and low == minimum):
            bad = raw <= minimum if strict else raw < minimum
            op = ">" if strict else ">="
            raise invalid(field, _first_bad(raw, bad), f"values {op} {minimum:g}")
    if target.kind in "iu" and raw.size:
        # Range first: a cast would wrap 2**63 to a negative number and 1e300 to anything.
        info = np.iinfo(target.type)
        for v in (raw.min().item(), raw.max().item()):
            if not info.min <= v <= info.max:  # exact int/float comparison in Python
                raise invalid(field, v, f"integers in [{info.min}, {info.max}]")
    return np.asarray(raw, dtype=target, order="C")


def _exact_ints(field: str, value: Any, raw: NDArray[Any], target: np.dtype[Any]) -> NDArray[Any]:
    """Python ints that numpy read as float64 (a list mixing ints beyond int64 with others),
    taken exactly: distinct 64-bit ids must stay distinct. ``raw`` if they are not all ints."""
    items = np.asarray(value, dtype=object).ravel().tolist()
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        return raw
    info = np.iinfo(target.type)
    for v in items:
        if not info.min <= v <= info.max:
            raise invalid(field, v, f"integers in [{info.min}, {info.max}]")
    return np.array(items, dtype=target).reshape(raw.shape)


def _first_bad(a: NDArray[Any], mask: NDArray[np.bool_]) -> Any:
    return a[mask].flat[0].item()
