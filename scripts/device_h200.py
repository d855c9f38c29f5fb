"""Measure an H200 and check brickwall against it, in one call of the device tool (< 10 minutes).

For a future session whose task is lent an H200 (the ``device`` tool). Builds nothing there:

    # here, once: the abi3 wheel into an ignored folder that the call carries
    echo /.whl/ >> .git/info/exclude
    CARGO_TARGET_DIR=$PWD/target maturin build --release -o .whl -i python3
    # there (device tool run, carry [".whl"], timeout_s 600):
    PYTHONUNBUFFERED=1 python3 scripts/device_h200.py --out $OUT

What it does, each stage timed against ``--budget-s`` (a stage that would start past it is
skipped and listed as such):

1. installs the wheel from ``.whl/`` with pip (no index, no dependencies: the device image has
   numpy, typer, rich and torch) into a private folder, or uses ``python/`` of the checkout
   when its compiled extension is there;
2. ``brickwall calibrate --hardware h200 --full --out $OUT/h200-measured.toml --json``
   (``$OUT/calibrate.json``);
3. times real steps of a Llama-shaped model with random weights in plain PyTorch (fused QKV and
   gate/up projections, SDPA attention, no torch.compile): decode steps (eager and replayed as
   a CUDA graph) at a few batch sizes and contexts, prefills, and one training step of a
   shortened model (forward + backward + fused AdamW, fp32 weights under bf16 autocast) with its
   MFU and peak memory (``$OUT/e2e-measured.json``);
4. writes brickwall's predictions for each measurement with the catalog's H200 profile and with
   the measured one, and their errors (``$OUT/e2e-predicted.json``).

``--predict-only MEASURED.json`` redoes step 4 from a measurement file (here, without a GPU).
Estimated time on an H200: install ~5 s, calibrate --full ~1-2 min (1 GPU: no collectives),
model builds ~20 s, decode (3 shapes x (eager + graph), 20 steps each) ~10 s, prefills ~5 s,
training (5 timed steps) ~20 s: about 3 minutes, under the 10 of one call.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: the model whose shapes the steps use (brickwall's catalog entry)
MODEL = "llama3.1-8b"
#: (batch, cached context) of the decode steps
DECODE = ((1, 1024), (16, 2048), (64, 4096))
#: (batch, prompt tokens) of the prefills
PREFILL = ((1, 2048), (1, 8192))
#: the training step: layers of the shortened model, sequences, tokens per sequence
TRAIN = {"layers": 8, "batch": 4, "seq_len": 2048}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for the results")
    p.add_argument("--wheel", default=None, help="the brickwall wheel (default: .whl/brickwall-*)")
    p.add_argument("--hardware", default="h200", help="the chip measured (catalog name)")
    p.add_argument("--quick", action="store_true", help="calibrate --quick instead of --full")
    p.add_argument("--skip", action="append", default=[], choices=("calibrate", "e2e", "train"))
    p.add_argument("--budget-s", type=float, default=540.0, help="stop starting stages after")
    p.add_argument("--repeats", type=int, default=20, help="timed steps per decode measurement")
    p.add_argument("--predict-only", default=None, metavar="MEASURED.json")
    p.add_argument("--profile", default=None, help="measured chip file (default: OUT's)")
    a = p.parse_args(argv)
    if a.budget_s <= 0 or a.repeats < 1:
        p.error("--budget-s must be > 0 and --repeats >= 1")
    return a


# --- 1. brickwall itself -----------------------------------------------------------------------


def install(wheel: str | None) -> str:
    """Make ``import brickwall`` work; returns the folder put first on the path."""
    found = [wheel] if wheel else sorted(glob.glob(str(ROOT / ".whl" / "brickwall-*.whl")))
    if found:
        site = "/tmp/brickwall-site"
        cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
        subprocess.run([*cmd, "--upgrade", "--target", site, found[-1]], check=True)
    elif glob.glob(str(ROOT / "python" / "brickwall" / "_core*.so")):
        site = str(ROOT / "python")
    else:
        raise SystemExit("no brickwall wheel in .whl/ and no compiled extension in python/")
    sys.path.insert(0, site)
    os.environ["PYTHONPATH"] = site + os.pathsep + os.environ.get("PYTHONPATH", "")
    return site


# --- 2. calibrate ------------------------------------------------------------------------------


def calibrate(out: Path, hardware: str, quick: bool, timeout_s: float) -> dict[str, Any]:
    profile = out / "h200-measured.toml"
    cmd = [sys.executable, "-m", "brickwall", "calibrate", "--hardware", hardware]
    cmd += ["--quick" if quick else "--full", "--out", str(profile), "--json"]
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"command": " ".join(cmd), "error": f"timed out after {timeout_s:.0f} s"}
    (out / "calibrate.log").write_text(r.stdout + r.stderr, encoding="utf-8")
    if r.returncode:
        return {"command": " ".join(cmd), "error": r.stderr[-2000:], "returncode": r.returncode}
    summary: dict[str, Any] = json.loads(r.stdout)
    summary |= {"command": " ".join(cmd), "wall_s": time.perf_counter() - t}
    (out / "calibrate.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return summary


# --- 3. real steps in PyTorch --------------------------------------------------------------------


def _llama(torch: Any, m: Any, dtype: Any, device: str) -> Any:
    """A Llama-shaped decoder with random weights: ``m`` is a brickwall Model (its shapes)."""
    nn, F = torch.nn, torch.nn.functional
    module: Any = nn.Module
    h, kv, hd, d, ff = m.heads, m.kv_heads, m.head_dim, m.d_model, m.d_ff
    kw = {"device": device, "dtype": dtype}
    rms = getattr(F, "rms_norm", None)

    def norm(x: Any, w: Any) -> Any:
        if rms is not None:
            return rms(x, (x.shape[-1],), w, 1e-5)
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * w

    def rope(x: Any, cos: Any, sin: Any) -> Any:
        a, b = x[..., : hd // 2], x[..., hd // 2 :]
        return torch.cat((a * cos - b * sin, a * sin + b * cos), -1).to(x.dtype)

    class Block(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.n1 = nn.Parameter(torch.ones(d, **kw))
            self.n2 = nn.Parameter(torch.ones(d, **kw))
            self.qkv = nn.Linear(d, (h + 2 * kv) * hd, bias=False, **kw)
            self.o = nn.Linear(h * hd, d, bias=False, **kw)
            self.up = nn.Linear(d, 2 * ff, bias=False, **kw)  # gate and up, one GEMM
            self.down = nn.Linear(ff, d, bias=False, **kw)

        def forward(self, x: Any, cos: Any, sin: Any, cache: Any = None, pos: int = 0) -> Any:
            b, t, _ = x.shape
            q, k, v = self.qkv(norm(x, self.n1)).split((h * hd, kv * hd, kv * hd), -1)
            q = rope(q.view(b, t, h, hd).transpose(1, 2), cos, sin)
            k = rope(k.view(b, t, kv, hd).transpose(1, 2), cos, sin)
            v = v.view(b, t, kv, hd).transpose(1, 2)
            if cache is None:  # prefill / training: causal, the KV heads expanded to the groups
                g = h // kv
                k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
                a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                a = a.transpose(1, 2).reshape(b, t, h * hd)
            else:  # decode (t = 1): write the cache, grouped query heads as the queries
                kc, vc = cache
                kc[:, :, pos : pos + 1].copy_(k)
                vc[:, :, pos : pos + 1].copy_(v)
                qg = q.reshape(b, kv, h // kv, hd)
                a = F.scaled_dot_product_attention(qg, kc[:, :, : pos + 1], vc[:, :, : pos + 1])
                a = a.reshape(b, 1, h * hd)
            x = x + self.o(a)
            gate, up = self.up(norm(x, self.n2)).chunk(2, -1)
            return x + self.down(F.silu(gate) * up)

    class Llama(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(m.vocab, d, **kw)
            self.blocks = nn.ModuleList(Block() for _ in range(m.layers))
            self.norm = nn.Parameter(torch.ones(d, **kw))
            self.head = nn.Linear(d, m.vocab, bias=False, **kw)
            inv = 1.0 / (500000.0 ** (torch.arange(0, hd, 2, device=device).float() / hd))
            ang = torch.outer(torch.arange(32768 + 1, device=device).float(), inv)
            self.register_buffer("cos", ang.cos().to(dtype), persistent=False)
            self.register_buffer("sin", ang.sin().to(dtype), persistent=False)

        def forward(self, tokens: Any, caches: Any = None, pos: int = 0) -> Any:
            t = tokens.shape[1]
            cos, sin = self.cos[pos : pos + t], self.sin[pos : pos + t]
            x = self.embed(tokens)
            for i, blk in enumerate(self.blocks):
                x = blk(x, cos, sin, None if caches is None else caches[i], pos)
            return self.head(norm(x, self.norm))

    return Llama()


def _timed(torch: Any, fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    """Median seconds of ``fn`` over ``repeats`` calls, each between device events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        times.append(s.elapsed_time(e) / 1e3)
    return float(statistics.median(times))


def measure_inference(torch: Any, m: Any, repeats: int) -> dict[str, Any]:
    dev, bf16 = "cuda", torch.bfloat16
    out: dict[str, Any] = {"decode": [], "prefill": []}
    with torch.no_grad():
        net = _llama(torch, m, bf16, dev).eval()
        for batch, context in DECODE:
            shape = (batch, m.kv_heads, context + 1, m.head_dim)
            caches = [
                (
                    torch.randn(shape, device=dev, dtype=bf16),
                    torch.randn(shape, device=dev, dtype=bf16),
                )
                for _ in range(m.layers)
            ]
            tokens = torch.randint(0, m.vocab, (batch, 1), device=dev)

            def step(tokens: Any = tokens, caches: Any = caches, context: int = context) -> Any:
                return net(tokens, caches, context)

            eager = _timed(torch, step, repeats)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):
                    step()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                step()
            replay = _timed(torch, graph.replay, repeats)
            out["decode"].append(
                {"batch": batch, "context": context, "eager_s": eager, "graph_s": replay}
            )
            del caches, graph, step
            torch.cuda.empty_cache()
        for batch, prompt in PREFILL:
            tokens = torch.randint(0, m.vocab, (batch, prompt), device=dev)
            t = _timed(torch, functools.partial(net, tokens), max(3, repeats // 4), warmup=2)
            out["prefill"].append({"batch": batch, "prompt": prompt, "seconds": t})
    return out  # the model goes with this frame: the caller empties the cache


def measure_training(torch: Any, m: Any) -> dict[str, Any]:
    F = torch.nn.functional
    b, s = TRAIN["batch"], TRAIN["seq_len"]
    net = _llama(torch, m, torch.float32, "cuda")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-5, fused=True)
    tokens = torch.randint(0, m.vocab, (b, s + 1), device="cuda")

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = net(tokens[:, :-1])
        loss = F.cross_entropy(logits.float().view(-1, m.vocab), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    t = _timed(torch, step, 5, warmup=0)
    peak = int(torch.cuda.max_memory_allocated())
    return {"layers": m.layers, "batch": b, "seq_len": s, "seconds": t, "peak_memory_bytes": peak}


# --- 4. brickwall's predictions ------------------------------------------------------------------


def _err(pred: float, meas: float) -> float:
    return pred / meas - 1


def predict(measured: dict[str, Any], chips: dict[str, Any]) -> dict[str, Any]:
    """brickwall's prediction of every measurement in ``measured`` (the shape of
    ``e2e-measured.json``) for each chip of ``chips`` (label -> Hardware), with the relative
    error (predicted / measured - 1)."""
    import brickwall as bw

    m = bw.model(measured.get("model", MODEL))
    out: dict[str, Any] = {"model": m.name, "profiles": {}}
    for label, hw in chips.items():
        d = bw.Deployment(hw)
        rows: dict[str, Any] = {"decode": [], "prefill": []}
        for r in measured.get("decode", []):
            p = bw.decode(m, d, r["batch"], r["context"]).step_time
            rows["decode"].append(
                {
                    **r,
                    "predicted_s": p,
                    "error_vs_eager": _err(p, r["eager_s"]),
                    "error_vs_graph": _err(p, r["graph_s"]),
                }
            )
        for r in measured.get("prefill", []):
            p = bw.prefill(m, d, r["batch"], r["prompt"]).step_time
            rows["prefill"].append({**r, "predicted_s": p, "error": _err(p, r["seconds"])})
        tr = measured.get("train")
        if tr:
            short = m.with_(name=f"{m.name}-{tr['layers']}-layers", layers=tr["layers"])
            plan = bw.TrainingPlan(
                microbatch=tr["batch"],
                global_batch=tr["batch"],
                seq_len=tr["seq_len"],
                recompute="none",
                zero=0,
            )
            st = bw.plan_step(short, hw, plan)
            measured_mfu = st.model_flops / (tr["seconds"] * hw.flops("bf16"))
            rows["train"] = {
                **tr,
                "measured_mfu": measured_mfu,
                "predicted_s": st.step_time,
                "predicted_mfu": st.mfu,
                "predicted_memory_bytes": st.mem_total,
                "error": _err(st.step_time, tr["seconds"]),
                "memory_error": _err(st.mem_total, tr["peak_memory_bytes"]),
            }
        errors = [abs(r["error_vs_graph"]) for r in rows["decode"]]
        errors += [abs(r["error"]) for r in rows["prefill"]]
        if "train" in rows:
            errors.append(abs(rows["train"]["error"]))
        rows["median_abs_error"] = statistics.median(errors) if errors else None
        rows["efficiency"] = {
            k: getattr(hw.efficiency, k)
            for k in ("flops", "memory", "network", "gemm_m_half", "kernel_overhead")
        }
        out["profiles"][label] = rows
    return out


def chips_for(hardware: str, profile: Path | None) -> dict[str, Any]:
    import brickwall as bw

    chips = {"default": bw.hardware(hardware)}
    if profile is not None and profile.is_file():
        chips["measured"] = bw.hardware(str(profile))
    return chips


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    install(a.wheel)
    profile = Path(a.profile) if a.profile else out / "h200-measured.toml"
    if a.predict_only:
        given = json.loads(Path(a.predict_only).read_text(encoding="utf-8"))
        result = predict(given, chips_for(a.hardware, profile))
        (out / "e2e-predicted.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
        print(json.dumps({k: v.get("median_abs_error") for k, v in result["profiles"].items()}))
        return 0

    def left() -> float:
        return float(a.budget_s) - (time.perf_counter() - start)

    skipped = list(a.skip)
    if "calibrate" not in skipped:
        summary = calibrate(out, a.hardware, a.quick, max(60.0, left() - 180))
        print("calibrate:", json.dumps({k: summary.get(k) for k in ("error", "wall_s", "file")}))
    import brickwall as bw
    import torch  # type: ignore[import-not-found, unused-ignore]

    m = bw.model(MODEL)
    measured: dict[str, Any] = {
        "model": MODEL,
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "date": time.strftime("%Y-%m-%d"),
        "notes": [
            "plain PyTorch: unfused norms, rotary and activation (more kernels than an engine's); "
            "prefill and training expand the KV heads with repeat_interleave before SDPA"
        ],
    }
    if "e2e" not in skipped and left() > 90:
        measured |= measure_inference(torch, m, a.repeats)
        torch.cuda.empty_cache()
    elif "e2e" not in skipped:
        skipped.append("e2e (out of time)")
    if "train" not in skipped and left() > 90:
        measured["train"] = measure_training(torch, m.with_(layers=TRAIN["layers"]))
    elif "train" not in skipped:
        skipped.append("train (out of time)")
    measured["skipped"] = skipped
    (out / "e2e-measured.json").write_text(json.dumps(measured, indent=1), encoding="utf-8")
    result = predict(measured, chips_for(a.hardware, profile))
    result["wall_s"] = time.perf_counter() - start
    (out / "e2e-predicted.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    for label, rows in result["profiles"].items():
        med = rows["median_abs_error"]
        print(f"{label}: median |error| {'-' if med is None else f'{med:.1%}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
