"""The catalog tables print every value in full at any terminal width: as a table where it
fits, as records where it does not, never a number cut short with an ellipsis."""

from collections.abc import Callable

import pytest
from brickwall import hardware, hardware_names, model, model_names
from brickwall.cli import app
from brickwall.units import fmt_bytes, fmt_count
from typer.testing import CliRunner

runner = CliRunner()


def _hardware_values() -> dict[str, list[str]]:
    out = {}
    for name in hardware_names():
        h = hardware(name)
        fp8 = h.peak_flops.get("fp8")
        out[name] = [
            fmt_bytes(h.memory, 3),
            f"{h.memory_bandwidth / 1e12:.3g}",
            f"{h.peak_flops['bf16'] / 1e12:,.1f}",
            "-" if fp8 is None else f"{fp8 / 1e12:,.1f}",
            f"{h.scale_up_bandwidth / 1e9:,.0f}",
            str(h.scale_up_domain),
            "-" if h.price_per_hour is None else f"{h.price_per_hour:.2f}",
        ]
    return out


def _model_values() -> dict[str, list[str]]:
    out = {}
    for name in model_names():
        m = model(name)
        out[name] = [
            str(m.layers),
            f"{m.d_model:,}",
            f"{m.attention} {m.heads}/{m.kv_heads}",
            f"{m.experts} top-{m.top_k}" if m.is_moe else "-",
            fmt_count(m.params.total),
            fmt_count(m.params.active),
            f"{m.flops_per_token() / 1e9:,.1f}",
            fmt_bytes(m.kv_bytes_per_token("bf16")),
        ]
    return out


def _blocks(output: str, names: list[str]) -> dict[str, str]:
    """Each name's stretch of the output (from the line it starts to the next name's), its
    words joined by single spaces with the table's rules dropped."""
    lines = [" ".join(line.replace("│", " ").split()) for line in output.splitlines()]
    starts = [
        (i, line.split()[0]) for i, line in enumerate(lines) if line and line.split()[0] in names
    ]
    assert [n for _, n in starts] == names
    ends = [i for i, _ in starts[1:]] + [len(lines)]
    return {n: " " + " ".join(lines[i:e]) + " " for (i, n), e in zip(starts, ends, strict=True)}


@pytest.mark.parametrize("width", [200, 80, 60, 40])
@pytest.mark.parametrize(
    ("kind", "values"), [("hardware", _hardware_values), ("models", _model_values)]
)
def test_catalog_prints_every_value_in_full(
    kind: str, values: Callable[[], dict[str, list[str]]], width: int
) -> None:
    r = runner.invoke(app, ["catalog", kind], env={"COLUMNS": str(width)})
    assert r.exit_code == 0, r.output
    assert "…" not in r.output
    assert max(map(len, r.output.splitlines())) <= width
    expected = values()
    blocks = _blocks(r.output, list(expected))
    for name, cells in expected.items():
        for cell in cells:
            assert f" {cell} " in blocks[name], (width, name, cell)


def test_a_wide_terminal_gets_the_table_and_a_narrow_one_records() -> None:
    wide = runner.invoke(app, ["catalog", "hardware"], env={"COLUMNS": "80"})
    narrow = runner.invoke(app, ["catalog", "hardware"], env={"COLUMNS": "60"})
    assert "┃" in wide.output  # the whole table fits 80 columns
    assert "┃" not in narrow.output and "  fp8 TFLOP/s " in narrow.output
