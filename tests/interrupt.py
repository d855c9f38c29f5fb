"""Ctrl-C in a child process: run a call, press Ctrl-C inside it, time the exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


def interrupt(setup: str, call: str, wait: float = 1.0, within: float = 2.0) -> None:
    """Run ``setup`` then ``call`` in a child Python; SIGINT ``wait`` s into the call; the child
    must raise KeyboardInterrupt (exit 130) within ``within`` s of the signal."""
    code = "\n".join(
        [
            "import sys",
            "import brickwall as bw",
            textwrap.dedent(setup),
            'print("ready", flush=True)',
            "try:",
            textwrap.indent(textwrap.dedent(call), "    "),
            "except KeyboardInterrupt:",
            '    print("interrupted", flush=True)',
            "    sys.exit(130)",
            'print("finished", flush=True)',
        ]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    time.sleep(wait)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail(f"{call.strip()!r} did not stop after SIGINT")
    out = p.stdout.read()
    assert rc == 130 and "interrupted" in out, (rc, out)
    assert time.perf_counter() - t0 < within
