"""The one check of a user's ``executor=`` (sweeps, plan searches, serving searches).

:func:`checked` refuses what cannot work (no ``submit``; a process pool that forks, which
deadlocks once the core has started its worker threads in this process) and wraps the rest so
that a broken executor (``submit`` returning no future, a part returning the wrong shape) is a
clear :class:`BrickwallError` naming ``executor`` instead of an ``AttributeError`` or
``KeyError`` from deep inside the merge.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Collection
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from .errors import BrickwallError, ValidationError, short, wrong_type

__all__ = ["checked"]

SPAWN = 'mp_context=multiprocessing.get_context("spawn")'


def _start_method(pool: ProcessPoolExecutor) -> str:
    ctx = getattr(pool, "_mp_context", None)  # set by every ProcessPoolExecutor since 3.7
    return str((ctx or multiprocessing.get_context()).get_start_method())


def checked(
    executor: object, *, keys: Collection[str] | None = None, length: int | None = None
) -> Executor:
    """``executor`` as an Executor whose futures check each part's result: a dict holding
    ``keys``, or a tuple or list of ``length`` items. Refuses non-executors and forking pools."""
    if not callable(getattr(executor, "submit", None)):
        raise wrong_type("executor", executor, "a concurrent.futures.Executor")
    if isinstance(executor, ProcessPoolExecutor) and _start_method(executor) == "fork":
        # fork copies this process's memory but not the core's worker threads (rayon), whose
        # locks the children then wait on forever; Ctrl-C does not end them either.
        raise ValidationError(
            f"executor = {short(executor)}: a ProcessPoolExecutor that forks hangs once "
            f"brickwall's core has run in this process; create it with {SPAWN} "
            '(or get_context("forkserver"))'
        )
    return _Checked(executor, keys, length)


class _Checked(Executor):
    def __init__(self, inner: Any, keys: Collection[str] | None, length: int | None) -> None:
        self._inner = inner
        self._keys = keys
        self._length = length

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut = self._inner.submit(fn, *args, **kwargs)
        if not (callable(getattr(fut, "result", None)) and callable(getattr(fut, "cancel", None))):
            raise BrickwallError(
                f"executor = {short(self._inner)}: submit returned {short(fut)}, "
                "expected a concurrent.futures.Future (with result() and cancel())"
            )
        return _Part(fut, self)

    def check(self, out: Any) -> Any:
        """``out`` if it has the shape a part returns, else a BrickwallError naming executor."""
        if self._keys is not None and not (isinstance(out, dict) and set(self._keys) <= out.keys()):
            self._broken(out, f"a dict with keys {', '.join(sorted(self._keys))}")
        if self._length is not None and not (
            isinstance(out, tuple | list) and len(out) == self._length
        ):
            self._broken(out, f"a tuple of {self._length} items")
        return out

    def _broken(self, out: Any, expected: str) -> None:
        raise BrickwallError(
            f"executor = {short(self._inner)}: a part returned {short(out)} "
            f"({type(out).__name__}), expected {expected} (from brickwall's own function; "
            "is the executor running what it was given?)"
        )

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        # Not ours to shut down: the caller owns the executor.
        pass


class _Part(Future[Any]):
    """A part's future whose result is checked; cancel reaches the executor's own future."""

    def __init__(self, inner: Any, owner: _Checked) -> None:
        super().__init__()
        self._inner = inner
        self._owner = owner

    def result(self, timeout: float | None = None) -> Any:
        return self._owner.check(self._inner.result(timeout))

    def cancel(self) -> bool:
        return bool(self._inner.cancel())

    def done(self) -> bool:
        return bool(self._inner.done())
