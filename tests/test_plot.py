from pathlib import Path

from typer.testing import CliRunner

import brickwall as bw
from brickwall.cli import app
from brickwall.plot import bandwidth_chart, step_vs_batch


def test_step_plot_marks_crossover(tmp_path: Path) -> None:
    fig = step_vs_batch(
        bw.model("llama3.1-70b"),
        bw.Deployment("H100-SXM", tp=8),
        context=1,
        path=tmp_path / "s.png",
    )
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(lbl.startswith("B* =") for lbl in labels) and any(
        "compute-bound from" in lbl for lbl in labels
    )
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_bandwidth_chart(tmp_path: Path) -> None:
    fig = bandwidth_chart(path=tmp_path / "b.png")
    assert len(fig.axes[0].get_lines()) == 3 + 2  # three speeds, two hardware lines
    r = CliRunner().invoke(app, ["bandwidth", "--json"])
    rows = {
        (x["params"], x["tokens_per_s"]): x["bandwidth_bytes_s"]
        for x in __import__("json").loads(r.stdout)
    }
    # 1T params x 2 bytes x (1 + 1 overhead) x 33.33 tok/s
    assert rows[(1e12, 33.33)] == __import__("pytest").approx(1e12 * 2 * 2 * 33.33, rel=1e-9)
