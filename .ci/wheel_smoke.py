"""Smoke test of an installed brickwall wheel (run by .ci/run from a fresh venv, outside the
source tree, with no Rust toolchain on PATH): the extension loads from site-packages and each
kernel family answers."""

import sys
from pathlib import Path

import brickwall as bw
import numpy as np
from brickwall import _core

core = Path(_core.__file__)
assert "site-packages" in core.parts and core.name.endswith(".abi3.so"), core

gpt4 = bw.model("gpt4-moe-1.8t")
assert gpt4.params.total == 1_870_614_773_760
d = bw.Deployment("A100-40GB", tp=8, pp=16, kv_sharding="batch", price_per_hour=1.0)
e = bw.decode(gpt4, d, batch=512, context=8192)
assert e.fits and e.step_time > 0 and e.cost_per_million_tokens is not None
r = bw.sweep(bw.model("llama3.1-8b"), hardware=["H100-SXM"], tp=[1, 2], batch=range(1, 65))
assert r.kept > 0
loads = bw.moe.route(16, 2, tokens=8, trials=10_000)
assert abs(loads.mean("load") - 1.0) < 0.05
p = np.full((4, 100), 0.01)
assert np.allclose(bw.speculative.acceptance(p, p), 1.0)
s = bw.pipeline.simulate("1f1b", stages=4, microbatches=8, forward=1.0, backward=2.0)
assert 0 < s.bubble_fraction < 1
print(f"wheel smoke test passed: brickwall {bw.__version__}, Python {sys.version.split()[0]}")
