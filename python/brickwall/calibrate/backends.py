"""Timing backends: each times one operation on its device and returns seconds (the median of
repeats after warm-up). The fitting code only sees this interface, so tests inject synthetic
timings with known answers and the numpy backend runs the whole harness on a CPU."""

from __future__ import annotations

import functools
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any, Protocol


class Backend(Protocol):
    """What :func:`brickwall.calibrate.calibrate` measures with."""

    name: str

    def describe(self) -> dict[str, str]:
        """Device and software versions, for the profile's provenance."""
        ...

    def copy(self, nbytes: int) -> float:
        """Seconds to copy a buffer of ``nbytes`` bytes (reads and writes ``nbytes`` each)."""
        ...

    def gemm(self, m: int, n: int, k: int) -> float:
        """Seconds for one (m x k) @ (k x n) product in the backend's 16-bit dtype."""
        ...

    def tiny_kernel(self) -> float:
        """Seconds per launch of a kernel with no work (the per-kernel floor)."""
        ...


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


class NumpyBackend:
    """The CPU, through numpy (float32: numpy has no fast 16-bit GEMM). A dry run of the harness
    and its file at toy sizes (``sizes``), not a profile of a GPU."""

    name = "numpy"
    #: the sizes :func:`~brickwall.calibrate.calibrate` uses unless given: a CPU second or two
    sizes: dict[str, Any] = {
        "rows": (1, 8, 64, 256),
        "shapes": ((256, 256),),
        "copy_bytes": (8 << 20,),
    }

    def __init__(self, repeats: int = 5) -> None:
        import numpy as np

        self._np, self.repeats = np, repeats

    def describe(self) -> dict[str, str]:
        return {
            "device": platform.processor() or platform.machine(),
            "numpy": self._np.__version__,
            "python": platform.python_version(),
        }

    def _time(self, fn: Callable[[], Any]) -> float:
        fn()  # warm-up

        def once() -> float:
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t

        return _median(once, self.repeats)

    def copy(self, nbytes: int) -> float:
        np = self._np
        src = np.ones(max(1, nbytes // 4), np.float32)
        dst = np.empty_like(src)
        return self._time(lambda: np.copyto(dst, src))

    def gemm(self, m: int, n: int, k: int) -> float:
        np = self._np
        a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
        return self._time(lambda: a @ b)

    def tiny_kernel(self) -> float:
        np = self._np
        x = np.ones(1, np.float32)
        return self._time(lambda: np.add(x, x, out=x))


class TorchBackend:
    """A CUDA or ROCm GPU through PyTorch: device events around each call after warm-up, inputs
    rotated across buffers larger than the cache so reads come from HBM. The per-kernel floor is
    measured under CUDA-graph replay (as serving engines run decode) and eagerly."""

    name = "torch"

    def __init__(self, device: str = "cuda", repeats: int = 20, rotate: int = 4) -> None:
        try:
            import torch  # type: ignore[import-not-found, unused-ignore]
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise ImportError("brickwall calibrate needs PyTorch: pip install torch") from e
        if not torch.cuda.is_available():  # pragma: no cover
            raise RuntimeError("brickwall calibrate: no CUDA/ROCm device visible to PyTorch")
        self.torch: Any = torch
        self.device, self.repeats, self.rotate = device, repeats, rotate
        self.eager_kernel_s: float | None = None

    def describe(self) -> dict[str, str]:  # pragma: no cover - needs a GPU
        t = self.torch
        p = t.cuda.get_device_properties(0)
        return {
            "device": p.name,
            "torch": t.__version__,
            "cuda": str(t.version.cuda or t.version.hip),
            "sms": str(p.multi_processor_count),
        }

    def _time(self, fns: list[Callable[[], Any]]) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        for f in fns:
            f()
        t.cuda.synchronize()
        times = []
        for i in range(self.repeats):
            start, end = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
            start.record()
            fns[i % len(fns)]()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        return float(statistics.median(times))

    def copy(self, nbytes: int) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        n = max(1, nbytes // 2)
        kw = {"dtype": t.bfloat16, "device": self.device}
        bufs = [(t.ones(n, **kw), t.empty(n, **kw)) for _ in range(2)]
        return self._time([functools.partial(d.copy_, s) for s, d in bufs])

    def gemm(self, m: int, n: int, k: int) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        kw = {"dtype": t.bfloat16, "device": self.device}
        a = t.randn(m, k, **kw)
        bs = [t.randn(k, n, **kw) for _ in range(self.rotate)]
        return self._time([functools.partial(t.matmul, a, b) for b in bs])

    def tiny_kernel(self) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        x = t.ones(1, device=self.device)
        self.eager_kernel_s = self._time([lambda: x.add_(1)])
        kernels = 100
        g = t.cuda.CUDAGraph()
        s = t.cuda.Stream()
        with t.cuda.stream(s):
            for _ in range(3):
                x.add_(1)
            t.cuda.synchronize()
            with t.cuda.graph(g):
                for _ in range(kernels):
                    x.add_(1)
        return self._time([g.replay]) / kernels
