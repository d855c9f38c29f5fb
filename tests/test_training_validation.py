"""The published training runs of validation/training.toml: every row loads, names its source,
and brickwall predicts it; the errors are reported (``pytest -s``), within a loose sanity band
(a broken model, not a tuned one, fails it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import brickwall as bw
import pytest
from brickwall.catalog import toml_loads

ROWS: list[dict[str, Any]] = toml_loads(
    (Path(bw.__file__).parent / "validation" / "training.toml").read_text()
)["row"]


def _model(spec: str | dict[str, Any]) -> bw.Model:
    if isinstance(spec, str):
        return bw.model(spec)
    h, a = spec["d_model"], spec["heads"]
    # Megatron's GPT: MHA, a 4h two-matrix MLP, LayerNorm, tied embeddings, vocab 51,200.
    return bw.Model(
        name=spec["name"],
        layers=spec["layers"],
        d_model=h,
        heads=a,
        kv_heads=a,
        head_dim=h // a,
        vocab=51200,
        d_ff=4 * h,
        ffn="mlp",
        norm="layernorm",
        tied_embeddings=True,
        max_context=2048,
    )


def predict(row: dict[str, Any]) -> float:
    """The row's metric as brickwall predicts it. ``recompute = "auto"`` (a source that does not
    say): the least recomputation that fits."""
    fields = ("tp", "pp", "dp", "global_batch", "seq_len", "microbatch", "zero", "schedule")
    base = {k: row[k] for k in fields} | {"sequence_parallel": row["sequence_parallel"]}
    options = bw.training.RECOMPUTE if row["recompute"] == "auto" else (row["recompute"],)
    m = _model(row["model"])
    for r in options:
        plan = bw.TrainingPlan(**base, recompute=r)
        assert plan.gpus == row["gpus"]
        s = bw.plan_step(m, row["hardware"], plan)
        if s.fits:
            break
    assert s.fits, row["id"]
    if row["metric"] == "mfu":
        return s.mfu
    assert row["metric"] == "hfu_tflops_per_gpu"
    return s.hfu * bw.hardware(row["hardware"]).flops("bf16") / 1e12


@pytest.mark.parametrize("row", ROWS, ids=[r["id"] for r in ROWS])
def test_published_runs(row: dict[str, Any]) -> None:
    assert row["source"].startswith("[T") and row["value"] > 0
    got = predict(row)
    err = got / row["value"] - 1
    print(
        f"{row['id']}: published {row['value']:g} {row['metric']}, brickwall {got:.4g} ({err:+.1%})"
    )
    assert abs(err) < 0.5
