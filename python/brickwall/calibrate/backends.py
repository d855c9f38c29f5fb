"""Timing backends: each times one operation on its device and returns seconds (the median of
repeats after warm-up). The fitting code only sees this interface, so tests inject synthetic
timings with known answers and the numpy backend runs the whole harness on a CPU.

A measurement the backend cannot make here (no fp8 tensor cores, one GPU so no collectives, a
buffer larger than the free memory) raises :class:`Unsupported`; calibrate records the reason
as a note and goes on without it."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import socket
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

#: Collectives a backend times, by :data:`brickwall.collectives.KINDS` names.
COLLECTIVES = ("all-reduce", "all-to-all")


class Unsupported(Exception):
    """This backend cannot make the measurement on this machine; the message says why."""


class Backend(Protocol):
    """What :func:`brickwall.calibrate.calibrate` measures with. Times in seconds."""

    name: str

    def describe(self) -> dict[str, str]:
        """Device and software versions, for the profile's provenance."""
        ...

    def copy(self, nbytes: int) -> float:
        """One copy of a buffer of ``nbytes`` bytes (reads and writes ``nbytes`` each)."""
        ...

    def gemm(self, m: int, n: int, k: int) -> float:
        """One (m x k) @ (k x n) product in the backend's 16-bit dtype."""
        ...

    def gemm_fp8(self, m: int, n: int, k: int) -> float:
        """The same product with fp8 operands (e4m3) and a 16-bit result; :class:`Unsupported`
        where the device or the framework has no fp8 GEMM."""
        ...

    def tiny_kernel(self) -> float:
        """Per launch of a kernel with no work under CUDA-graph replay (the profile's floor:
        serving engines replay graphs in decode); the eager floor where there are no graphs."""
        ...

    def tiny_kernel_eager(self) -> float:
        """Per launch of the same kernel launched eagerly from Python, back to back."""
        ...

    def attention_prefill(
        self, batch: int, heads: int, kv_heads: int, head_dim: int, seq: int
    ) -> float:
        """Causal self-attention of ``batch`` prompts of ``seq`` tokens (``heads`` query heads
        sharing ``kv_heads`` key/value heads), no cache."""
        ...

    def attention_decode(
        self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int
    ) -> float:
        """One new token per sequence attending ``context`` cached tokens (grouped query heads:
        ``heads / kv_heads`` query heads per cached head)."""
        ...

    def devices(self) -> int:
        """Accelerators visible to the backend."""
        ...

    def collectives(
        self, kinds: Sequence[str], sizes: Sequence[int]
    ) -> dict[tuple[str, int], float]:
        """``(kind, bytes per rank) -> seconds`` of each collective of :data:`COLLECTIVES` over
        all visible devices; :class:`Unsupported` with fewer than two."""
        ...


def _median(fn: Callable[[], float], repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


class NumpyBackend:
    """The CPU, through numpy (float32: numpy has no fast 16-bit GEMM). A dry run of the harness
    and its file at toy sizes (``sizes``), not a profile of a GPU."""

    name = "numpy"

    def __init__(self, repeats: int = 5) -> None:
        import numpy as np

        from .sizes import Sizes

        self._np, self.repeats = np, repeats
        #: the sizes :func:`~brickwall.calibrate.calibrate` uses unless given: a CPU second or two
        self.sizes = Sizes(
            rows=(1, 8, 64, 256),
            shapes=((256, 256),),
            copy_bytes=(8 << 20,),
            fp8_rows=(64,),  # not measured: exercises the note
            prefill=((1, 4, 2, 32, 64), (1, 4, 2, 32, 256)),
            decode=((1, 4, 2, 32, 256), (4, 4, 2, 32, 1024)),
            collective_bytes=(4096,),  # likewise
        )

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

    def gemm_fp8(self, m: int, n: int, k: int) -> float:
        raise Unsupported("numpy has no fp8 GEMM")

    def tiny_kernel(self) -> float:
        return self.tiny_kernel_eager()  # no graphs on a CPU: the floor is the eager one

    def tiny_kernel_eager(self) -> float:
        np = self._np
        x = np.ones(1, np.float32)
        return self._time(lambda: np.add(x, x, out=x))

    def _attend(self, q: Any, k: Any, v: Any, causal: bool) -> Any:
        """softmax(q k^T / sqrt(d)) v over the last two axes; ``q`` holds the query heads of each
        key/value head along axis 2: (batch, kv_heads, group, tokens, d)."""
        np = self._np
        s = np.einsum("bhgqd,bhkd->bhgqk", q, k) / np.sqrt(q.shape[-1])
        if causal:  # query i sees keys 0..i (the queries are the last keys)
            nq, nk = s.shape[-2:]
            s = np.where(np.tri(nq, nk, nk - nq, dtype=bool), s, -np.inf)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        return np.einsum("bhgqk,bhkd->bhgqd", s / s.sum(axis=-1, keepdims=True), v)

    def attention_prefill(
        self, batch: int, heads: int, kv_heads: int, head_dim: int, seq: int
    ) -> float:
        np = self._np
        rng = np.random.default_rng(0)
        q = rng.standard_normal((batch, kv_heads, heads // kv_heads, seq, head_dim), np.float32)
        k, v = (rng.standard_normal((batch, kv_heads, seq, head_dim), np.float32) for _ in "kv")
        return self._time(lambda: self._attend(q, k, v, causal=True))

    def attention_decode(
        self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int
    ) -> float:
        np = self._np
        rng = np.random.default_rng(0)
        q = rng.standard_normal((batch, kv_heads, heads // kv_heads, 1, head_dim), np.float32)
        k, v = (rng.standard_normal((batch, kv_heads, context, head_dim), np.float32) for _ in "kv")
        return self._time(lambda: self._attend(q, k, v, causal=False))

    def devices(self) -> int:
        return 1

    def collectives(
        self, kinds: Sequence[str], sizes: Sequence[int]
    ) -> dict[tuple[str, int], float]:
        raise Unsupported("numpy runs on one CPU: no collectives")


def _free_port() -> int:  # pragma: no cover - needs several GPUs
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _collective_worker(  # pragma: no cover - needs several GPUs
    rank: int,
    world: int,
    port: int,
    kinds: Sequence[str],
    sizes: Sequence[int],
    repeats: int,
    out: str,
) -> None:
    """One rank of :meth:`TorchBackend.collectives` (a process per GPU, torch.multiprocessing):
    NCCL (RCCL on ROCm) through torch.distributed; each size is timed as a loop of calls
    between device events (no per-call skew between ranks), the median of ``repeats`` loops, the
    slowest rank's. Rank 0 writes ``[kind, bytes, seconds]`` rows to ``out`` as JSON."""
    import torch  # type: ignore[import-not-found, unused-ignore]
    import torch.distributed as dist  # type: ignore[import-not-found, unused-ignore]

    torch.cuda.set_device(rank)
    dist.init_process_group(
        "nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        rows = []
        for kind in kinds:
            for nbytes in sizes:
                n = max(world, nbytes // 2 // world * world)  # all-to-all splits it evenly
                x = torch.zeros(n, dtype=torch.bfloat16, device=f"cuda:{rank}")
                y = torch.empty_like(x)
                call = (
                    functools.partial(dist.all_reduce, x)
                    if kind == "all-reduce"
                    else functools.partial(dist.all_to_all_single, y, x)
                )
                loop = 10
                for _ in range(3):
                    call()
                torch.cuda.synchronize()
                times = []
                for _ in range(repeats):
                    dist.barrier()
                    start = torch.cuda.Event(enable_timing=True)
                    end = torch.cuda.Event(enable_timing=True)
                    start.record()
                    for _ in range(loop):
                        call()
                    end.record()
                    end.synchronize()
                    times.append(start.elapsed_time(end) / 1e3 / loop)
                slowest = torch.tensor([statistics.median(times)], device=f"cuda:{rank}")
                dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
                rows.append([kind, 2 * n, float(slowest.item())])
        if rank == 0:
            Path(out).write_text(json.dumps(rows), encoding="utf-8")
    finally:
        dist.destroy_process_group()


class TorchBackend:
    """A CUDA or ROCm GPU through PyTorch: device events around each call after warm-up, inputs
    rotated across buffers larger than the cache so reads come from HBM. The per-kernel floor is
    measured under CUDA-graph replay (as serving engines run decode) and eagerly; attention
    through ``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient
    kernels where the device has them); fp8 GEMMs through ``torch._scaled_mm``; collectives
    through torch.distributed with one process per visible GPU."""

    name = "torch"

    def __init__(
        self, device: str = "cuda", repeats: int = 20, rotate: int = 4, rotate_bytes: int = 1 << 29
    ) -> None:
        try:
            import torch  # type: ignore[import-not-found, unused-ignore]
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise ImportError("brickwall calibrate needs PyTorch: pip install torch") from e
        if not torch.cuda.is_available():  # pragma: no cover
            raise RuntimeError("brickwall calibrate: no CUDA/ROCm device visible to PyTorch")
        self.torch: Any = torch
        self.device, self.repeats, self.rotate = device, repeats, rotate
        #: bytes the rotated buffers of one measurement span at least (well above any L2)
        self.rotate_bytes = rotate_bytes

    def describe(self) -> dict[str, str]:  # pragma: no cover - needs a GPU
        t = self.torch
        p = t.cuda.get_device_properties(0)
        out = {
            "device": p.name,
            "devices": str(t.cuda.device_count()),
            "torch": t.__version__,
            "cuda": str(t.version.cuda or t.version.hip),
            "runtime": "hip" if t.version.hip else "cuda",
            "sms": str(p.multi_processor_count),
            "compute_capability": f"{p.major}.{p.minor}",
            "memory_gib": f"{p.total_memory / 2**30:.1f}",
        }
        l2 = getattr(p, "L2_cache_size", None)
        if l2:
            out["l2_mib"] = f"{l2 / 2**20:g}"
        # needs pynvml (or amdsmi): the SM clock at the time of the run; provenance only, so
        # absent when the library is
        with contextlib.suppress(Exception):
            out["sm_clock_mhz"] = str(t.cuda.clock_rate(0))
        return out

    def _time(self, fns: Sequence[Callable[[], Any]]) -> float:  # pragma: no cover - needs a GPU
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

    def _room(self, nbytes: int) -> None:  # pragma: no cover - needs a GPU
        free, _ = self.torch.cuda.mem_get_info()
        if nbytes > 0.6 * free:
            raise Unsupported(f"needs {nbytes / 1e9:.1f} GB of the {free / 1e9:.1f} GB free")

    def _copies(self, nbytes: int) -> int:
        """Buffers to rotate so that one measurement spans ``rotate_bytes``."""
        return max(1, min(256, -(-self.rotate_bytes // max(1, nbytes))))

    def copy(self, nbytes: int) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        n = max(1, nbytes // 2)
        kw = {"dtype": t.bfloat16, "device": self.device}
        self._room(4 * nbytes)
        bufs = [(t.ones(n, **kw), t.empty(n, **kw)) for _ in range(2)]
        return self._time([functools.partial(d.copy_, s) for s, d in bufs])

    def gemm(self, m: int, n: int, k: int) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        kw = {"dtype": t.bfloat16, "device": self.device}
        a = t.randn(m, k, **kw)
        bs = [t.randn(k, n, **kw) for _ in range(self.rotate)]
        return self._time([functools.partial(t.matmul, a, b) for b in bs])

    def gemm_fp8(self, m: int, n: int, k: int) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        if not (hasattr(t, "_scaled_mm") and hasattr(t, "float8_e4m3fn")):
            raise Unsupported(f"PyTorch {t.__version__} has no torch._scaled_mm / float8_e4m3fn")
        hip = bool(t.version.hip)
        if not hip and t.cuda.get_device_capability(0) < (8, 9):
            cc = ".".join(map(str, t.cuda.get_device_capability(0)))
            raise Unsupported(f"compute capability {cc} has no fp8 tensor cores (8.9+ has)")
        f8 = t.float8_e4m3fnuz if hip and hasattr(t, "float8_e4m3fnuz") else t.float8_e4m3fn
        a = t.randn(m, k, device=self.device).to(f8)
        # the second operand column-major, as _scaled_mm asks: (n x k) row-major, transposed
        bs = [t.randn(n, k, device=self.device).to(f8).t() for _ in range(self.rotate)]
        one = t.ones((), device=self.device, dtype=t.float32)
        calls = [
            functools.partial(t._scaled_mm, a, b, scale_a=one, scale_b=one, out_dtype=t.bfloat16)
            for b in bs
        ]
        try:
            calls[0]()
        except (RuntimeError, TypeError) as e:
            raise Unsupported(f"torch._scaled_mm at M={m} N={n} K={k}: {e}") from e
        return self._time(calls)

    def tiny_kernel(self) -> float:  # pragma: no cover - needs a GPU
        t = self.torch
        x = t.ones(1, device=self.device)
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

    def tiny_kernel_eager(self) -> float:  # pragma: no cover - needs a GPU
        x = self.torch.ones(1, device=self.device)
        kernels = 100

        def launches() -> None:  # back to back: the GPU waits on Python's launch rate
            for _ in range(kernels):
                x.add_(1)

        return self._time([launches]) / kernels

    def attention_prefill(  # pragma: no cover - needs a GPU
        self, batch: int, heads: int, kv_heads: int, head_dim: int, seq: int
    ) -> float:
        t = self.torch
        kw = {"dtype": t.bfloat16, "device": self.device}
        self._room(4 * 2 * batch * heads * seq * head_dim)
        q = t.randn(batch, heads, seq, head_dim, **kw)
        # the grouped heads expanded outside the timing (any PyTorch; no enable_gqa needed)
        k, v = (
            t.randn(batch, kv_heads, seq, head_dim, **kw).repeat_interleave(heads // kv_heads, 1)
            for _ in "kv"
        )
        sdpa = t.nn.functional.scaled_dot_product_attention
        return self._time([functools.partial(sdpa, q, k, v, is_causal=True)])

    def attention_decode(  # pragma: no cover - needs a GPU
        self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int
    ) -> float:
        t = self.torch
        kw = {"dtype": t.bfloat16, "device": self.device}
        # the query heads of each cached head as its queries (how flash-decoding kernels run
        # grouped-query attention): one read of each cached head serves its group
        q = t.randn(batch, kv_heads, heads // kv_heads, head_dim, **kw)
        cache = 2 * batch * kv_heads * context * head_dim * 2
        copies = self._copies(cache)
        self._room(copies * cache)
        kvs = [
            (
                t.randn(batch, kv_heads, context, head_dim, **kw),
                t.randn(batch, kv_heads, context, head_dim, **kw),
            )
            for _ in range(copies)
        ]
        sdpa = t.nn.functional.scaled_dot_product_attention
        return self._time([functools.partial(sdpa, q, k, v) for k, v in kvs])

    def devices(self) -> int:  # pragma: no cover - needs a GPU
        return int(self.torch.cuda.device_count())

    def collectives(  # pragma: no cover - needs several GPUs
        self, kinds: Sequence[str], sizes: Sequence[int]
    ) -> dict[tuple[str, int], float]:
        world = self.devices()
        if world < 2:
            raise Unsupported(f"{world} GPU visible: no collectives to time")
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "collectives.json")
            self.torch.multiprocessing.spawn(
                _collective_worker,
                args=(world, _free_port(), tuple(kinds), tuple(sizes), min(self.repeats, 10), out),
                nprocs=world,
                join=True,
            )
            rows = json.loads(Path(out).read_text(encoding="utf-8"))
        return {(str(k), int(b)): float(s) for k, b, s in rows}
