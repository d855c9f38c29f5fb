"""The README's code runs as written, in order: its Python blocks in one namespace, its command
blocks in bash (``brickwall`` is this interpreter's ``python -m brickwall``) in a temporary
directory that collects their plots. The two install commands are what .ci/run runs."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import brickwall
import pytest
from brickwall.cli import app
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(README.read_text()) if kind == lang]


def _installs(body: str) -> bool:
    return body.lstrip().startswith("python -m pip install")


def _commands() -> list[str]:
    """Each ``brickwall ...`` command of the README's bash blocks, continuation lines joined."""
    text = "\n".join(b for b in _blocks("bash") if not _installs(b))
    return [c.strip() for c in text.replace("\\\n", " ").splitlines() if c.strip()]


def test_the_readme_has_code_to_run() -> None:
    assert len(_blocks("python")) >= 2 and len(_commands()) >= 10
    assert sum(_installs(b) for b in _blocks("bash")) == 2


def test_install_commands_are_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for body in _blocks("bash"):
        if _installs(body):
            assert body.strip() in ci, body


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The namespace after every Python block ran, in order, in a fresh directory."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("readme-python"))
    try:
        ns: dict[str, Any] = {"__name__": "readme"}
        for i, body in enumerate(_blocks("python")):
            exec(compile(body, f"README.md python block {i + 1}", "exec"), ns)
    finally:
        os.chdir(here)
    return ns


def test_python_blocks_run_and_say_what_they_print(tour: dict[str, Any]) -> None:
    gpt4 = tour["gpt4"]
    assert (gpt4.params.total, gpt4.params.active) == (1870614773760, 285167861760)
    assert tour["e"].fits  # the headline deployment holds batch 512 at 8k context
    assert tour["p"].shape == tour["q"].shape == (64, 32_000)


def test_the_decode_command_is_the_tours_decode(tour: dict[str, Any]) -> None:
    line = next(c for c in _commands() if c.startswith("brickwall decode"))
    args = shlex.split(line, comments=True)[1:]
    plot = args.index("--plot")
    del args[plot : plot + 2]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    import json

    got = json.loads(r.output)
    e = tour["e"]
    assert got["fits"] is True
    assert got["step_time_s"] == pytest.approx(e.step_time, rel=1e-12)
    assert got["usd_per_million_tokens"] == pytest.approx(e.cost_per_million_tokens, rel=1e-12)


def test_command_blocks_run_in_bash(tmp_path: Path) -> None:
    blocks = [b for b in _blocks("bash") if not _installs(b)]
    script = 'brickwall() { "$PYTHON" -m brickwall "$@"; }\n' + "\n".join(blocks)
    env = os.environ | {"PYTHON": sys.executable, "COLUMNS": "100"}
    # the brickwall this test imported (the installed package in CI, the source tree here)
    here = str(Path(brickwall.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    # the commands run where a reader runs them: beside README.md's docs/ (examples read from it)
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    p = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    plots = re.findall(r"--plot (\S+\.png)", "\n".join(blocks))
    assert len(plots) >= 6
    for name in plots:
        assert (tmp_path / name).stat().st_size > 1000, name
        assert f"plot written to {name}\n" in p.stderr
    assert "| cost.vs.davinci |" in p.stdout  # reproduce --format markdown
