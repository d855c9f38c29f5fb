"""Results show their results: reprs summarise (never dump arrays), and columns carry units."""

from __future__ import annotations

import json
import sys
from typing import Any

import brickwall as bw
import pytest
from brickwall.cli import app
from brickwall.sweep import COLUMN_UNITS
from typer.testing import CliRunner


def test_sweep_result_repr_shows_the_best_rows() -> None:
    r = bw.sweep(bw.model("llama3.1-8b"), hardware=["H100-SXM"], tp=[1, 2], batch=range(1, 65))
    text = repr(r)
    cheapest, fastest = r.best("cost"), r.best("latency")
    assert text.startswith("SweepResult(llama3.1-8b decode, pareto over cost (min), latency (min)")
    assert f"{r.kept:,} kept" in text and "array" not in text
    assert f"best cost: ${cheapest['cost']:.4g} per 1M tokens" in text
    assert f"best latency: {fastest['latency'] * 1e3:.4g} ms" in text
    empty = bw.sweep(bw.model("gpt4-moe-1.8t"), hardware=["H100-SXM"], tp=[1], batch=[1])
    assert "1 configuration named, 1 evaluated, 0 feasible, 0 kept in " in repr(empty)
    assert repr(empty).endswith(f": {empty.counts()})")


@pytest.mark.parametrize("batch", ["1,8,64", "1"])
def test_the_sweep_footer_is_the_reprs_count_line(
    batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``brickwall sweep`` ends with the very count line its result's repr carries: the same
    numbers in the same words (also when nothing is feasible)."""
    module = sys.modules["brickwall.sweep"]  # the attribute brickwall.sweep is the function

    made: list[bw.SweepResult] = []
    run = module.sweep

    def recording(*args: Any, **kwargs: Any) -> bw.SweepResult:
        made.append(run(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(module, "sweep", recording)
    model = "llama3.1-8b" if batch != "1" else "gpt4-moe-1.8t"
    out = CliRunner().invoke(
        app, ["sweep", model, "--batch", batch, "--no-progress"], env={"COLUMNS": "250"}
    )
    assert out.exit_code == 0, out.output
    (r,) = made
    footer = out.output.splitlines()[-1]
    assert footer in repr(r), (footer, repr(r))
    assert footer.startswith(f"{r.grid:,} configuration"), footer
    for n, word in [(r.evaluated, "evaluated"), (r.feasible, "feasible"), (r.kept, "kept")]:
        assert f", {n:,} {word}" in footer, footer


def test_to_pandas_indexes_by_grid_row_and_carries_units() -> None:
    pytest.importorskip("pandas")
    r = bw.sweep(bw.model("llama3.1-8b"), hardware=["H100-SXM"], tp=[1, 2], batch=[1, 8, 64])
    df = r.to_pandas()
    assert "index" not in df.columns and df.index.name == "grid_row"
    assert df.index.tolist() == r.index.tolist() and list(df["cost"]) == list(r.cost)
    assert df.attrs["units"]["cost"] == "USD per 1M new tokens"
    assert set(df.attrs["units"]) <= set(df.columns)


def test_sweep_json_names_units() -> None:
    out = CliRunner().invoke(app, ["sweep", "llama3.1-8b", "--batch", "1,8", "--json"])
    data = json.loads(out.output)
    assert data["units"] == COLUMN_UNITS and data["units"]["cost"] == "USD per 1M new tokens"
    numeric = {k for k, v in data["rows"][0].items() if isinstance(v, (int, float))}
    assert numeric - {"tp", "pp", "ep", "fits", "on_frontier"} <= set(COLUMN_UNITS)


def test_expert_load_and_max_load_reprs_summarise() -> None:
    r = bw.moe.route(16, 2, tokens=8, trials=20_000)
    text = repr(r)
    assert text.startswith("ExpertLoad(top-2 of 16 experts, 8 tokens/step, uniform, 20,000 trials")
    assert f"busiest expert mean {r.mean('max_load'):.3g}" in text and "array" not in text
    c = bw.moe.max_load_cdf(16, 2, 8)
    text = repr(c)
    assert "column-dp (exact)" in text and f"mean {c.mean():.4g}" in text
    assert f"p99 {c.quantile(0.99)}" in text and "array" not in text


def test_schedule_repr_does_not_dump_arrays() -> None:
    s = bw.pipeline.simulate("1f1b", stages=16, microbatches=64, forward=1.0, backward=2.0)
    text = repr(s)
    assert len(text) < 300 and "array" not in text and "Timeline" not in text
    assert f"bubble {s.bubble_fraction:.2%}" in text and "2,048 ops" in text
