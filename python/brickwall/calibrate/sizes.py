"""What a calibration measures: the quick and full grids (:class:`Sizes`)."""

from __future__ import annotations

from dataclasses import dataclass

#: GEMM rows measured: decode (1-256) through prefill (4096+).
ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
#: (N, K) of the GEMMs: the projections of 7B-70B models (d_model 4096 / 8192, FFN 14336 / 28672).
SHAPES_FULL = ((4096, 4096), (14336, 4096), (4096, 14336), (8192, 8192), (28672, 8192))
SHAPES_QUICK = ((8192, 8192),)
COPY_BYTES = (256 << 20, 1 << 30)
#: Attention shapes: Llama 3 8B's heads for prefill (32 query heads on 8 KV heads of 128);
#: groups of 8 query heads per KV head for decode (Llama 3 70B), with 1 KV head (70B at
#: tensor-parallel 8) or 8 (70B on one chip).
PREFILL_HEADS = (32, 8, 128)
DECODE_GROUP, DECODE_HEAD_DIM = 8, 128
#: Decode points whose KV cache exceeds this many bytes are left out (a 24 GB GPU runs it).
DECODE_MAX_BYTES = 8 << 30
#: Collective message sizes (bytes per rank), powers of 4 from 1 KiB (latency-bound) to 1 GiB.
COLLECTIVE_BYTES = tuple(4**i << 10 for i in range(11))

AttentionShape = tuple[int, int, int, int, int]  #: (batch, heads, kv_heads, head_dim, tokens)


def _decode_points(
    batches: tuple[int, ...], kv_heads: tuple[int, ...], contexts: tuple[int, ...]
) -> tuple[AttentionShape, ...]:
    g, d = DECODE_GROUP, DECODE_HEAD_DIM
    return tuple(
        (b, g * kv, kv, d, c)
        for b in batches
        for kv in kv_heads
        for c in contexts
        if 2 * b * kv * c * d * 2 <= DECODE_MAX_BYTES  # K and V, 2 bytes each
    )


@dataclass(frozen=True)
class Sizes:
    """What a run measures. Timed on an H200-class GPU (about 1 PFLOP/s bf16, 4.8 TB/s) with the
    TorchBackend's 20 repeats after one warm-up per rotated buffer:

    - ``QUICK`` (``--quick``, the default): 8 GEMM rows on one 8192 x 8192 shape (the largest
      2.2 TFLOP, ~4 ms; ~0.5 s with allocation), 5 fp8 GEMMs (~0.3 s), one 256 MiB copy, 3
      prefills up to 16k tokens (~0.2 s), 12 decode kernels (~1 s, most of it filling up to 256
      rotated caches), collectives at 3 sizes (spawning one process per GPU and NCCL's start:
      ~15-25 s on 8 GPUs, none on one). With PyTorch's import and CUDA's start (~10 s): about
      15 s on one GPU, under 45 s on eight.
    - ``FULL`` (``--full``): 15 rows x 5 shapes (75 GEMMs, the largest 7.7 TFLOP, ~12 ms: ~15 s
      with allocation), 55 fp8 GEMMs (~10 s), 2 copies, 7 prefills up to 32k tokens (~1 s), 39
      decode kernels up to 8 GiB of cache (~10 s), collectives at 11 sizes up to 1 GiB (~30 s):
      about 1-2 minutes, well under ten.
    """

    rows: tuple[int, ...]
    shapes: tuple[tuple[int, int], ...]  #: (N, K) of the GEMMs
    copy_bytes: tuple[int, ...]
    fp8_rows: tuple[int, ...]  #: rows of the fp8 GEMMs (on ``shapes``); () skips them
    prefill: tuple[AttentionShape, ...]  #: (batch, heads, kv_heads, head_dim, prompt tokens)
    decode: tuple[AttentionShape, ...]  #: (batch, heads, kv_heads, head_dim, context read)
    collective_bytes: tuple[int, ...]  #: bytes per rank; () skips the collectives


QUICK = Sizes(
    rows=ROWS[::2],
    shapes=SHAPES_QUICK,
    copy_bytes=COPY_BYTES[:1],
    fp8_rows=(64, 256, 1024, 4096, 16384),
    prefill=tuple((1, *PREFILL_HEADS, s) for s in (1024, 4096, 16384)),
    decode=_decode_points((1, 16, 64), (1, 8), (1024, 8192)),
    collective_bytes=(8 << 10, 1 << 20, 256 << 20),
)
FULL = Sizes(
    rows=ROWS,
    shapes=SHAPES_FULL,
    copy_bytes=COPY_BYTES,
    fp8_rows=ROWS[4:],
    prefill=tuple((1, *PREFILL_HEADS, 512 << i) for i in range(7)),
    decode=_decode_points((1, 4, 16, 64, 256), (1, 8), (512, 2048, 8192, 32768)),
    collective_bytes=COLLECTIVE_BYTES,
)
