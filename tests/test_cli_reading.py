"""The command line as a newcomer reads it: help, version, errors, pipes, `reproduce`'s layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import brickwall as bw
import pytest
import typer.main
from brickwall.claims import MEANING, VERDICTS, registry
from brickwall.cli import app
from typer.testing import CliRunner

runner = CliRunner()
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def _run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """The script with stdout a pipe nobody reads any more (`brickwall ... | head` after head
    quit): every write fails with EPIPE, deterministically."""
    r, w = os.pipe()
    os.close(r)
    try:
        code = "import sys; from brickwall.cli import main; sys.argv[0] = 'brickwall'; main()"
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(w)


def test_version() -> None:
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"brickwall {bw.__version__}"


def test_every_option_has_help_and_flags_show_no_type() -> None:
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            assert param.help, f"{name} {param.opts} has no help text"
        out = runner.invoke(app, [name, "--help"]).output
        assert "<bool>" not in out, name
    assert "<bool>" not in runner.invoke(app, ["--help"]).output


def test_command_summaries_are_not_hard_wrapped() -> None:
    for name, command in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        assert "\n" not in (command.help or "").split("\n\n")[0].strip(), name


@pytest.mark.parametrize(
    "args",
    [
        ["reproduce", "--only", "read,gpt4"],
        ["reproduce", "--only", "read", "--format", "csv"],
        ["reproduce", "--only", "read", "--json"],
        ["catalog"],
        ["pipeline", "1f1b", "-p", "4", "-m", "8"],
        ["spec"],
    ],
)
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    p = _run_into_closed_pipe(*args)
    assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)


# -- reproduce ---------------------------------------------------------------------------------


def test_reproduce_reads_at_80_columns() -> None:
    r = runner.invoke(app, ["reproduce"], env={"COLUMNS": "80"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(map(len, lines)) <= 80
    # one compact block per claim: a header line, the sentence, the numbers, at most one why
    n = len(registry())
    assert len(lines) <= 6 * n
    for e in registry():
        head = next(line for line in lines if line.startswith(e.id + "  "))
        assert f"({e.unit})" in head, head
        assert e.text[:40] in r.output
    assert "1 partly" in lines[-2] and "2 depends" in lines[-2]
    # the article's cost sentence, and its number with the unit
    block = r.output.split("\ncost.a100  ")[1].split("\n\n")[0]
    assert "(USD per 1k tokens)" in block and "article $0.0049" in block


def test_reproduce_verbose_shows_the_whole_why_and_the_legend() -> None:
    r = runner.invoke(app, ["reproduce", "--only", "cost.vs.davinci", "--verbose"])
    assert r.exit_code == 0, r.output
    words = " ".join(r.output.split())
    assert "the article's 3x is not forced by the hardware" in words  # the end of the why
    assert "assumptions: 2k context" in words and "details: cost_ratio_tp8_pp16" in words
    for v in VERDICTS:
        assert f"{v}: {MEANING[v]}" in words


def test_reproduce_table_and_markdown_keep_every_column() -> None:
    r = runner.invoke(
        app, ["reproduce", "--only", "cost.a100", "--format", "table"], env={"COLUMNS": "200"}
    )
    assert r.exit_code == 0 and "USD per 1k tokens" in r.output, r.output
    r = runner.invoke(app, ["reproduce", "--only", "cost.a100", "--format", "markdown"])
    assert "| cost.a100 | $0.0049 per 1k tokens on 128 A100, 8k context |" in r.output


def test_reproduce_json_like_every_command() -> None:
    a = runner.invoke(app, ["reproduce", "--only", "cost,api,spec", "--json"])
    b = runner.invoke(app, ["reproduce", "--only", "cost,api,spec", "--format", "json"])
    assert a.exit_code == 0 and a.output == b.output
    data = json.loads(a.output)
    assert set(data["verdicts"]) == set(VERDICTS)
    ids = [c["id"] for c in data["claims"]]
    assert ids == ["cost.a100", "cost.h100", "cost.vs.davinci", "api.price", "spec.tokens"]
    units = {c["id"]: c["unit"] for c in data["claims"]}
    assert units["cost.a100"] == "USD per 1k tokens" and units["spec.tokens"] == "draft tokens"


def test_reproduce_unknown_id_lists_the_valid_ones() -> None:
    r = runner.invoke(app, ["reproduce", "--only", "read,ff.limt"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
    assert "ff.limt" in r.stderr and "valid ids: read.slow, read.fast" in r.stderr


# -- sweeps and plots --------------------------------------------------------------------------


def test_a_sweep_with_nothing_feasible_says_why() -> None:
    base = ["sweep", "gpt4-moe-1.8t", "--tp", "1", "--batch", "1..4", "--no-progress"]
    r = runner.invoke(app, base)
    assert r.exit_code == 0 and "nothing fits in memory" in r.output, r.output
    assert "TB per chip of 80 GB" in " ".join(r.output.split())
    r = runner.invoke(app, [*base, "--json"])
    assert "nothing fits in memory" in json.loads(r.output)["summary"]["why_none_feasible"]
    r = runner.invoke(
        app,
        ["sweep", "llama3.1-8b", "--tp", "1", "--batch", "1..4", "--max-latency-ms", "0.01"],
    )
    assert r.exit_code == 0 and "meets the constraints" in r.output
    assert "> --max-latency-ms" in " ".join(r.output.split())


def test_every_plotting_command_announces_its_file_alike(tmp_path: Path) -> None:
    for args in (
        ["decode", "llama2-7b"],
        ["bandwidth"],
        ["moe", "--trials", "1000"],
        ["pipeline", "1f1b", "-p", "4", "-m", "8"],
        ["pipeline", "1f1b", "-p", "4", "-m", "8", "--compare", "gpipe,1f1b"],
        ["spec", "--target", "llama3.1-70b", "--draft", "llama3.1-8b", "-b", "1,8"],
        ["sweep", "llama3.1-8b", "--batch", "1..64:x2", "--no-progress"],
    ):
        path = tmp_path / f"{args[0]}{len(args)}.png"
        r = runner.invoke(app, [*args, "--plot", str(path)])
        assert r.exit_code == 0, (args, r.output)
        assert r.stderr == f"plot written to {path}\n", args
        assert path.stat().st_size > 1000


def test_missing_matplotlib_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    r = runner.invoke(app, ["bandwidth", "--plot", str(tmp_path / "b.png")])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "pip install matplotlib" in r.stderr and "pip install '.[plot]'" in r.stderr


def test_names_from_outside_are_printed_without_markup(tmp_path: Path) -> None:
    # a Hugging Face config's name reaches titles verbatim: "[b]" is text, not bold markup
    cfg = json.loads((Path(__file__).parent / "fixtures" / "hf" / "gpt2.json").read_text())
    cfg["_name_or_path"] = "[b]org/odd[/b]"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = runner.invoke(app, ["model", "--hf-config", str(path)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    name = bw.from_hf_config(path).name
    assert "[" in name and f"{name}: parameters by component" in r.output
