"""Predicted vs measured for every row, and the error summaries. Errors are signed
``(predicted - measured) / measured``: positive = brickwall says more than was measured (more
tokens/s, or a longer time)."""

from __future__ import annotations

import importlib
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import BrickwallError, ValidationError
from .predict import predict
from .rows import Row


@dataclass(frozen=True, slots=True)
class Result:
    """One row and brickwall's prediction for it, or why there is none."""

    row: Row
    predicted: float | None
    fits: bool | None = None
    reason: str | None = None  #: set exactly when predicted is None
    detail: str | None = None  #: what the prediction chose (serving batch, training recompute)

    @property
    def error(self) -> float | None:
        if self.predicted is None:
            return None
        return (self.predicted - self.row.value) / self.row.value

    @property
    def optimistic(self) -> bool | None:
        """Whether brickwall predicts a faster run than measured (more tokens/s, FLOP/s or MFU;
        less time)."""
        if self.error is None:
            return None
        return self.error < 0 if self.row.unit in ("s", "ms") else self.error > 0

    @property
    def plan(self) -> str:
        r = self.row
        if r.kind == "training":
            sched = r.schedule + (f" x{r.chunks}" if r.chunks > 1 else "")
            return (
                f"tp{r.tp} pp{r.pp} dp{r.dp} ep{r.ep} {r.precision} {sched} "
                f"recompute {r.recompute} zero{r.zero}" + (" sp" if r.sequence_parallel else "")
            )
        return f"tp{r.tp} pp{r.pp} ep{r.ep} {r.weight_dtype}/{r.act_dtype}/kv {r.kv_dtype}"

    @property
    def workload(self) -> str:
        """What ran: ``batch x input/output`` (inference), ``requests x input/output`` (offline
        serving) or ``global batch x sequence`` (training)."""
        r = self.row
        if r.kind == "training":
            return f"{r.global_batch} x {r.seq_len} (mb {r.microbatch})"
        if r.kind == "serving-offline":
            return f"{r.requests} req x {r.input_tokens}/{r.output_tokens}"
        return f"{r.batch} x {r.input_tokens}/{r.output_tokens}"

    def as_dict(self) -> dict[str, Any]:
        r = self.row
        return {
            "id": r.id,
            "kind": r.kind,
            "source_tag": r.source_tag,
            "model": r.model,
            "hardware": r.hardware,
            "tp": r.tp,
            "pp": r.pp,
            "ep": r.ep,
            "weight_dtype": r.weight_dtype,
            "act_dtype": r.act_dtype,
            "kv_dtype": r.kv_dtype,
            "batch": r.batch,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "requests": r.requests if r.kind == "serving-offline" else None,
            "scheduler": (
                f"{r.policy} max_seqs={r.max_seqs or 'default'} "
                f"max_batched_tokens={r.max_batched_tokens or 'default'}"
                if r.kind == "serving-offline"
                else None
            ),
            "plan": self.plan,
            "workload": self.workload,
            "unit": r.unit,
            "measured": r.value,
            "predicted": self.predicted,
            "error": self.error,
            "optimistic": self.optimistic,
            "fits": self.fits,
            "reason": self.reason,
            "detail": self.detail,
            "source": r.source,
        }


def _stats(results: list[Result]) -> dict[str, Any]:
    errs = [r.error for r in results if r.error is not None]
    worst = max(
        (r for r in results if r.error is not None),
        key=lambda r: abs(r.error or 0.0),
        default=None,
    )
    return {
        "rows": len(results),
        "modelled": len(errs),
        "median_abs_error": statistics.median(abs(e) for e in errs) if errs else None,
        "mean_signed_error": statistics.fmean(errs) if errs else None,
        "optimistic": sum(bool(r.optimistic) for r in results),
        "worst": None if worst is None else {"id": worst.row.id, "error": worst.error},
    }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """Every row with its prediction (or the reason there is none)."""

    rows: tuple[Result, ...]

    @property
    def modelled(self) -> tuple[Result, ...]:
        return tuple(r for r in self.rows if r.predicted is not None)

    def summary(self) -> dict[str, Any]:
        """Counts, median |error|, mean signed error and the worst row: overall, by kind and by
        source tag."""

        def groups(key: str) -> dict[str, Any]:
            names = sorted({getattr(r.row, key) for r in self.rows})
            return {n: _stats([r for r in self.rows if getattr(r.row, key) == n]) for n in names}

        return {
            **_stats(list(self.rows)),
            "by_kind": groups("kind"),
            "by_source": groups("source_tag"),
        }

    def to_pandas(self) -> Any:
        """One DataFrame row per :class:`Result` (its :meth:`Result.as_dict`)."""
        try:
            pd = importlib.import_module("pandas")
        except ImportError as e:
            raise BrickwallError(
                "ValidationReport.to_pandas needs pandas: pip install 'brickwall[pandas]'"
            ) from e
        return pd.DataFrame([r.as_dict() for r in self.rows])


def evaluate(row: Row) -> Result:
    """Predict one row; a plan brickwall refuses becomes a reason, never a silent drop."""
    if row.not_modelled is not None:
        return Result(row, None, reason=row.not_modelled)
    try:
        p = predict(row)
    except ValidationError as e:
        return Result(row, None, reason=f"brickwall cannot price this plan: {e}")
    return Result(row, p.value, p.fits, detail=p.detail)


def run(rows: Iterable[Row] | None = None) -> ValidationReport:
    """Predict ``rows`` (default: the shipped suite, :func:`load`)."""
    from .rows import load

    return ValidationReport(tuple(evaluate(r) for r in (load() if rows is None else rows)))
