"""Accelerators: what a chip can compute, hold and move, and what it costs.

``Hardware`` holds peak (datasheet, dense) numbers in SI units; ``Efficiency`` says what fraction
of each peak a real workload achieves. Catalog entries come from ``catalog/hardware.toml``, a
user's chips from TOML files of the same format (docs/chip-format.md, readers/chip_file.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from types import MappingProxyType
from typing import Any

from . import catalog
from .errors import UnknownNameError, invalid
from .readers.chip_file import ChipFields, chip_fields, is_chip_path, read_chip_file
from .units import DTYPES, GB, TB, TERA
from .validate import boolean, choice, integer, real

#: USD per chip-hour above which a price is a typo, not a chip (and costs per 1M tokens overflow).
MAX_PRICE_PER_HOUR = 1e9


@dataclass(frozen=True, slots=True)
class Efficiency:
    """What a chip achieves of its peaks: the step model's profile (rust/brickwall-core/src/step.rs).

    The simple form is three plateaus, fractions in (0, 1], typical of well-tuned large workloads
    rather than guarantees: ``flops`` 0.7 (large dense GEMMs reach 60-80% of dense peak),
    ``memory`` 0.85 (streaming reads reach 80-90% of HBM peak), ``network`` 0.8 (NCCL bus
    bandwidth of large messages). The shape terms say how far below a plateau an operator runs:

    - ``gemm_m_half``: GEMM rows at which compute efficiency is half its plateau,
      ``flops x M / (M + gemm_m_half)`` (tensor-core tiles are 64-128 rows, so a GEMM with few
      rows runs partly empty tiles);
    - ``kernel_overhead``: seconds each launched kernel costs beyond its roofline (launch,
      prologue, tail wave, the gap to the next kernel);
    - ``elementwise``: whether norms, residual adds, rotary and activations move their activation
      bytes through memory.

    ``Efficiency.ideal()`` is the pure roofline of datasheet peaks: unit fractions, no shape
    terms, no floors, no elementwise traffic.
    """

    flops: float = 0.7
    memory: float = 0.85
    network: float = 0.8
    gemm_m_half: float = 32.0  #: GEMM rows at half the compute plateau
    kernel_overhead: float = 3e-6  #: s per launched kernel, the order CUDA-graph replays show
    elementwise: bool = True  #: price the elementwise operators' activation traffic

    def __post_init__(self) -> None:
        checked = {
            name: real(
                f"Efficiency.{name}", getattr(self, name), minimum=0.0, strict=True, maximum=1.0
            )
            for name in ("flops", "memory", "network")
        }
        checked["gemm_m_half"] = real("Efficiency.gemm_m_half", self.gemm_m_half, maximum=1e9)
        checked["kernel_overhead"] = real(
            "Efficiency.kernel_overhead (seconds)", self.kernel_overhead, maximum=1.0
        )
        for name, value in checked.items():  # plain floats, and -0.0 as 0.0
            object.__setattr__(self, name, value + 0.0)
        object.__setattr__(self, "elementwise", boolean("Efficiency.elementwise", self.elementwise))

    @classmethod
    def ideal(cls) -> Efficiency:
        return cls.flat(1.0, 1.0, 1.0)

    @classmethod
    def flat(cls, flops: float = 0.7, memory: float = 0.85, network: float = 0.8) -> Efficiency:
        """Constant fractions of peak with no shape terms, kernel floors or elementwise traffic:
        every operator runs at its plateau (the aggregate roofline's assumptions)."""
        return cls(flops, memory, network, gemm_m_half=0.0, kernel_overhead=0.0, elementwise=False)


@dataclass(frozen=True, slots=True)
class Hardware:
    """One accelerator chip (peak, dense numbers; SI units).

    ``scale_up_bandwidth`` and ``scale_out_bandwidth`` are per chip and per direction;
    ``scale_up_domain`` is how many chips share the fast fabric (8 for HGX, 72 for NVL72).
    Latencies are per message step of a collective (assumed typical values, overridable).
    ``efficiency`` is the chip's default :class:`Efficiency` (a chip file's ``[efficiency]``
    table; ``Efficiency()`` unless given); a :class:`~brickwall.Deployment` that names no
    efficiency uses it.
    """

    name: str
    memory: float  #: bytes of device memory
    memory_bandwidth: float  #: bytes/s
    peak_flops: Mapping[str, float]  #: dense FLOP/s per dtype name
    scale_up_bandwidth: float  #: bytes/s per chip per direction
    scale_up_domain: int = 8
    scale_out_bandwidth: float | None = None  #: bytes/s per chip per direction, None if unknown
    tdp: float | None = None  #: watts
    price_per_hour: float | None = None  #: USD per chip-hour
    price_date: str | None = None
    price_source: str | None = None
    source: str = ""
    scale_up_latency: float = 1e-6  #: s per ring step inside the domain (assumed: an 8-way all-reduce then costs ~14 us, the order of NCCL small-message latency)
    scale_out_latency: float = (
        5e-6  #: s per ring step across domains (assumed, InfiniBand/RoCE class)
    )
    efficiency: Efficiency = Efficiency()  #: the chip's default, for a Deployment that names none
    #: bytes/s per direction between the chip and host memory (PCIe or C2C); None if unknown
    host_bandwidth: float | None = None

    def __post_init__(self) -> None:
        real("Hardware.memory", self.memory, strict=True)
        real("Hardware.memory_bandwidth", self.memory_bandwidth, strict=True)
        real("Hardware.scale_up_bandwidth", self.scale_up_bandwidth, strict=True)
        integer("Hardware.scale_up_domain", self.scale_up_domain)
        for name in ("scale_out_bandwidth", "tdp", "price_per_hour", "host_bandwidth"):
            value = getattr(self, name)
            if value is not None:
                top = MAX_PRICE_PER_HOUR if name == "price_per_hour" else None
                low = 1e6 if name == "host_bandwidth" else 0.0  # the chip files' 1 MB/s bound
                real(f"Hardware.{name}", value, minimum=low, strict=low == 0.0, maximum=top)
        real("Hardware.scale_up_latency", self.scale_up_latency)
        real("Hardware.scale_out_latency", self.scale_out_latency)
        if not isinstance(self.efficiency, Efficiency):
            raise invalid("Hardware.efficiency", self.efficiency, "an Efficiency")
        if not isinstance(self.peak_flops, Mapping) or not self.peak_flops:
            raise invalid(
                "Hardware.peak_flops",
                self.peak_flops,
                f"a mapping of dtype -> FLOP/s over {DTYPES}",
            )
        clean = {}
        for dtype, value in self.peak_flops.items():
            key = choice("Hardware.peak_flops key", dtype, DTYPES)
            clean[key] = real(f"Hardware.peak_flops[{key!r}]", value, strict=True)
        object.__setattr__(self, "peak_flops", MappingProxyType(clean))

    def flops(self, dtype: str) -> float:
        """Dense peak FLOP/s for ``dtype``; a dtype the chip lacks natively is an error."""
        key = choice("dtype", dtype, DTYPES)
        if key not in self.peak_flops:
            raise UnknownNameError(
                f"dtype = {dtype!r}: {self.name} has no native {key} peak; it has {', '.join(self.peak_flops)}"
            )
        return self.peak_flops[key]

    def compute_dtype(self, dtype: str) -> str:
        """The dtype math runs in for operands stored as ``dtype``: itself when the chip has it,
        else the narrowest wider format it has (fp8 weights on an A100 compute in bf16/fp16)."""
        key = choice("dtype", dtype, DTYPES)
        order = ["fp4", "fp8", "int8", "bf16", "fp16", "tf32", "fp32"]
        if key in self.peak_flops:
            return key
        wider = order[order.index(key) + 1 :] if key in order else order
        for candidate in wider:
            if candidate in self.peak_flops and candidate not in ("int8",):
                return candidate
        raise UnknownNameError(f"dtype = {dtype!r}: {self.name} has no usable peak for it")

    def with_(self, **changes: Any) -> Hardware:
        """A copy with some fields changed (e.g. a different price)."""
        return replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """Human-unit view for tables and JSON (units in the keys)."""
        return {
            "name": self.name,
            "memory_gb": self.memory / GB,
            "memory_bandwidth_tb_s": self.memory_bandwidth / TB,
            **{f"{k}_tflops": v / TERA for k, v in self.peak_flops.items()},
            "scale_up_gb_s": self.scale_up_bandwidth / GB,
            "scale_up_domain": self.scale_up_domain,
            "scale_out_gb_s": None
            if self.scale_out_bandwidth is None
            else self.scale_out_bandwidth / GB,
            "host_gb_s": None if self.host_bandwidth is None else self.host_bandwidth / GB,
            "tdp_w": self.tdp,
            "price_per_hour_usd": self.price_per_hour,
            "price_date": self.price_date,
            "source": self.source,
        }


def _build(fields: ChipFields, overrides: Mapping[str, Any]) -> Hardware:
    """A Hardware from a chip table's checked fields (see readers/chip_file.py)."""
    kw: dict[str, Any] = dict(fields)
    if "efficiency" in kw:
        kw["efficiency"] = Efficiency(**kw["efficiency"])
    return Hardware(**{**kw, **overrides})


@cache
def _catalog_chip(key: str) -> Hardware:
    return _build(
        chip_fields(catalog.load("hardware")[key], f"catalog hardware.toml [{key}]", name=key), {}
    )


def hardware_names() -> list[str]:
    """Names of every catalog accelerator."""
    return list(catalog.load("hardware"))


def hardware(name: str | os.PathLike[str], **overrides: Any) -> Hardware:
    """The catalog accelerator ``name`` (case-insensitive), or the chip in the TOML file ``name``
    (a path: it contains a path separator or ends in ``.toml``; relative to the current
    directory; format in docs/chip-format.md), with optional field overrides.

    >>> hardware("h100-sxm").memory_bandwidth
    3350000000000.0
    """
    if isinstance(name, os.PathLike) or (isinstance(name, str) and is_chip_path(name)):
        return _build(read_chip_file(name), overrides)
    entries = catalog.load("hardware")
    key = catalog.lookup("hardware", entries, name)
    hw = _catalog_chip(key)
    return replace(hw, **overrides) if overrides else hw


__all__ = ["Efficiency", "Hardware", "hardware", "hardware_names"]
