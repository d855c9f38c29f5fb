"""Training arithmetic: compute, time and cost of a training run.

FLOPs = 6 x active parameters x tokens (forward 2, backward 4 per parameter; Kaplan et al.
2020), with the context-dependent attention term reported separately (3 x its forward cost).
Give any two of ``gpus``, ``mfu``, ``days``; :func:`training_run` solves the third.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .errors import ValidationError, invalid, wrong_type
from .hardware import Hardware
from .hardware import hardware as lookup_hardware
from .model import Model
from .units import DAY, HOUR
from .validate import integer, real

#: Hoffmann et al. 2022 (Chinchilla) Table 3: ~20 training tokens per parameter.
CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True, slots=True)
class TrainingRun:
    """A solved training run (SI units; money in USD)."""

    model: str
    hardware: str
    dtype: str
    tokens: float
    seq_len: int
    flops: float  #: 6 x active params x tokens
    attention_flops: float  #: the context-dependent attention term, all tokens
    gpus: float
    mfu: float  #: of dense peak in ``dtype``; counts ``flops`` only (not attention, not recompute)
    seconds: float
    price_per_hour: float | None

    @property
    def total_flops(self) -> float:
        return self.flops + self.attention_flops

    @property
    def days(self) -> float:
        return self.seconds / DAY

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.seconds / HOUR

    @property
    def cost(self) -> float | None:
        return None if self.price_per_hour is None else self.gpu_hours * self.price_per_hour

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "hardware": self.hardware,
            "dtype": self.dtype,
            "tokens": self.tokens,
            "flops": self.flops,
            "attention_flops": self.attention_flops,
            "total_flops": self.total_flops,
            "gpus": self.gpus,
            "mfu": self.mfu,
            "days": self.days,
            "gpu_hours": self.gpu_hours,
            "price_per_hour_usd": self.price_per_hour,
            "cost_usd": self.cost,
        }


def training_flops(model: Model, tokens: float) -> float:
    """6 x active parameters x tokens."""
    return 6.0 * model.params.active * real("tokens", tokens, strict=True)


def training_run(
    model: Model,
    tokens: float,
    hardware: Hardware | str,
    *,
    gpus: float | None = None,
    mfu: float | None = None,
    days: float | None = None,
    price_per_hour: float | None = None,
    dtype: str = "bf16",
    seq_len: int | None = None,
) -> TrainingRun:
    """Solve a training run from exactly two of ``gpus``, ``mfu`` and ``days``.

    >>> import brickwall as bw
    >>> r = bw.training_run(bw.model("gpt4-moe-1.8t"), 13e12, "A100-40GB", gpus=25_000, mfu=0.34)
    >>> round(r.days)
    97
    """
    if not isinstance(model, Model):
        raise wrong_type("model", model, "a Model (e.g. bw.model(name))")
    hw = lookup_hardware(hardware) if isinstance(hardware, str) else hardware
    if not isinstance(hw, Hardware):
        raise wrong_type("hardware", hardware, "a Hardware or a hardware name")
    tokens = real("tokens", tokens, strict=True)  # a Python float: no float16 overflow below
    peak = hw.flops(dtype)
    given = {k: v for k, v in (("gpus", gpus), ("mfu", mfu), ("days", days)) if v is not None}
    if len(given) != 2:
        raise ValidationError(
            f"give exactly two of gpus, mfu, days (got {', '.join(given) or 'none'})"
        )
    flops = training_flops(model, tokens)
    s = integer("seq_len", model.max_context if seq_len is None else seq_len)
    attention = 3.0 * model.attention_flops_per_context_token * (s + 1) / 2.0 * tokens
    if gpus is not None:
        real("gpus", gpus, strict=True)
    if mfu is not None:
        real("mfu", mfu, strict=True, maximum=1.0)
    if days is not None:
        real("days", days, strict=True)
    if days is None:
        assert gpus is not None and mfu is not None
        rate = gpus * peak * mfu
        if not 0 < rate < math.inf:  # 1e-250 GPUs x 1e-250 MFU underflows to 0
            raise invalid("gpus", gpus, f"a count whose FLOP rate is finite and > 0 (got {rate})")
        seconds = flops / rate
    else:
        seconds = days * DAY
        if gpus is None:
            assert mfu is not None
            gpus = flops / (seconds * peak * mfu)
        else:
            mfu = flops / (seconds * peak * gpus)
            if mfu > 1:
                raise invalid(
                    "days", days, f"long enough for MFU <= 1 on {gpus:g} GPUs (needs MFU {mfu:.2f})"
                )
    price = price_per_hour if price_per_hour is not None else hw.price_per_hour
    if price is not None:
        real("price_per_hour", price)
    assert gpus is not None and mfu is not None
    # Finite inputs can still overflow (1e308 dollars an hour): a typed error, never inf or NaN.
    if not seconds > 0:
        raise invalid("gpus", gpus, f"few enough that the run takes > 0 s (got {seconds} s)")
    for field, value, out in (
        ("tokens", tokens, flops + attention),
        ("gpus" if days is None else "days", days or gpus, seconds * gpus),
        ("price_per_hour", price, (price or 0.0) * seconds * gpus / HOUR),
    ):
        if not math.isfinite(out):
            raise invalid(field, value, f"a value whose result is finite (got {out})")
    return TrainingRun(
        model.name,
        hw.name,
        dtype,
        float(tokens),
        s,
        flops,
        attention,
        float(gpus),
        float(mfu),
        seconds,
        price,
    )


def chinchilla_tokens(model: Model, basis: Literal["total", "active"] = "total") -> float:
    """Compute-optimal training tokens: 20 per parameter (Hoffmann et al. 2022). The paper's
    models are dense; for MoE models say which count you mean: ``total`` or ``active``."""
    if basis not in ("total", "active"):
        raise invalid("basis", basis, "'total' or 'active'")
    p = model.params
    return CHINCHILLA_TOKENS_PER_PARAM * (p.total if basis == "total" else p.active)


__all__ = [
    "CHINCHILLA_TOKENS_PER_PARAM",
    "TrainingRun",
    "chinchilla_tokens",
    "training_flops",
    "training_run",
]
