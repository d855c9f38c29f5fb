"""A small mutation pass over brickwall's Python formulas (on demand; not in CI: it is slow).

One mutant at a time - an operator flipped (+/-, * and /, < and <=, max and min, and/or), an
integer constant plus one, a float constant times 1.5 - inside the named functions of each
target, in a scratch copy of python/; then the target's test files run against that copy
(`pytest -x`). A mutant is killed when they fail. Survivors are listed with file, line and
change, to be killed by a test or explained as equivalent.

    python tools/mutate.py                    # every target
    python tools/mutate.py --only model.py    # targets whose path starts with the text
    python tools/mutate.py --new tests/test_closed_forms.py   # scores without and with a file
    python tools/mutate.py --list             # the mutants, without running anything
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (file under python/brickwall, functions to mutate (None: the whole file), test files); in the
# claims' topic modules only the lines that decide a verdict (VERDICT_LINES) are mutated.
CLAIM_TESTS = ("tests/test_claims.py", "tests/test_claims_values.py")
VERDICT_LINES = re.compile(r"verdict|near\(|\bok\b|consistent")
TARGETS: tuple[tuple[str, tuple[str, ...] | None, tuple[str, ...]], ...] = (
    ("claims/ledger.py", ("near", "verdict", "reproduce", "registry"), CLAIM_TESTS),
    ("claims/speed.py", None, CLAIM_TESTS),
    ("claims/sizes.py", None, CLAIM_TESTS),
    ("claims/training.py", None, CLAIM_TESTS),
    ("claims/serving.py", None, CLAIM_TESTS),
    ("claims/routing.py", None, CLAIM_TESTS),
    ("claims/datacenter.py", None, CLAIM_TESTS),
    ("claims/cost.py", ("_cost", "cost_a100", "cost_h100", "api_price"), CLAIM_TESTS),
    (
        "model.py",
        (  # shapes -> counts (not the validation in __post_init__)
            "total",
            "active",
            "active_non_embedding",
            "moe_layers",
            "dense_layers",
            "qk_head_dim",
            "_ffn_params",
            "norm_params",
            "attention_params_per_layer",
            "expert_params_per_layer",
            "params",
            "matmul_params_active",
            "attention_flops_per_context_token",
            "flops_per_token",
            "kv_elements_per_token",
            "kv_bytes_per_token",
            "kv_cache_bytes",
            "weight_bytes",
        ),
        (
            "tests/test_model.py",
            "tests/test_hf_config.py",
            "tests/test_closed_forms.py",
            "tests/test_claims_values.py",
        ),
    ),
    (
        "training.py",
        None,
        (
            "tests/test_training.py",
            "tests/test_training_values.py",
            "tests/test_claims_values.py",
        ),
    ),
    (
        "speculative.py",
        (
            "_geometric_sum",
            "expected_tokens",
            "tokens_distribution",
            "speedup",
            "ops_factor",
            "optimal_gamma",
        ),
        ("tests/test_speculative.py",),
    ),
    ("pipeline.py", ("lower_bound",), ("tests/test_pipeline.py", "tests/test_closed_forms.py")),
)
# (file, text, replacement, test files): mutants outside function bodies, e.g. a default.
EXTRA = (("claims/ledger.py", "tol: float = 0.10", "tol: float = 0.30", CLAIM_TESTS),)

SWAP = {
    "+": "-",
    "-": "+",
    "*": "/",
    "/": "*",
    "//": "/",
    "**": "*",
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "max": "min",
    "min": "max",
    "and": "or",
    "or": "and",
    "True": "False",
    "False": "True",
}


@dataclass(frozen=True)
class Mutant:
    path: str  # under python/brickwall
    line: int
    col: int
    old: str
    new: str
    tests: tuple[str, ...]

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        text = lines[self.line - 1]
        assert text[self.col : self.col + len(self.old)] == self.old
        lines[self.line - 1] = text[: self.col] + self.new + text[self.col + len(self.old) :]
        return "".join(lines)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.old} -> {self.new}"


def _ranges(source: str, functions: tuple[str, ...] | None) -> list[tuple[int, int]]:
    """Line ranges of the bodies (not the signatures or docstrings) of the named functions, or
    of every function in the file."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and (functions is None or node.name in functions):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                body = body[1:]
            if body:
                out.append((body[0].lineno, max(n.end_lineno or n.lineno for n in body)))
    return out


def _number(text: str) -> str | None:
    try:
        value = int(text.replace("_", ""), 0)
        return str(value + 1)
    except ValueError:
        pass
    try:
        f = float(text.replace("_", ""))
    except ValueError:
        return None
    return repr(f * 1.5) if f else "1.0"


def mutants(path: str, functions: tuple[str, ...] | None, tests: tuple[str, ...]) -> list[Mutant]:
    source = (ROOT / "python" / "brickwall" / path).read_text()
    ranges = _ranges(source, functions)
    verdicts_only = path.startswith("claims/") and path != "claims/ledger.py"
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        line, col = tok.start
        if not any(a <= line <= b for a, b in ranges):
            continue
        if verdicts_only and not VERDICT_LINES.search(tok.line):
            continue
        new = None
        if tok.type == tokenize.OP or tok.type == tokenize.NAME:
            new = SWAP.get(tok.string)
            # keyword arguments and annotations are not formulas: `x: float = 1.0`, `*args`
            if tok.string in ("*", "**") and tok.line[:col].rstrip().endswith(("(", ",")):
                new = None
        elif tok.type == tokenize.NUMBER:
            new = _number(tok.string)
        if new is not None:
            out.append(Mutant(path, line, col, tok.string, new, tests))
    return out


def _extra() -> list[Mutant]:
    """Mutants named by issue 18 that the token rules do not make (a default in a signature)."""
    out = []
    for path, old, new, tests in EXTRA:
        lines = (ROOT / "python" / "brickwall" / path).read_text().splitlines()
        for i, text in enumerate(lines, 1):
            if old in text:
                out.append(Mutant(path, i, text.index(old), old, new, tests))
    return out


def _pytest(tests: list[str], scratch: Path, timeout: float) -> bool:
    """Whether the tests fail (the mutant is killed) against the scratch copy."""
    env = dict(os.environ, PYTHONPATH=str(scratch), PYTHONDONTWRITEBYTECODE="1")
    try:
        r = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return True  # a hang is caught
    return r.returncode != 0


_LEDGER = (
    "import json; from brickwall.claims import reproduce; "
    "print(json.dumps([c.as_dict() for c in reproduce()], sort_keys=True, default=str))"
)


def ledger(scratch: Path) -> str:
    """Every claim of `brickwall reproduce`, every field, as the scratch copy computes them."""
    env = dict(os.environ, PYTHONPATH=str(scratch), PYTHONDONTWRITEBYTECODE="1")
    r = subprocess.run(
        [sys.executable, "-c", _LEDGER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return r.stdout + r.stderr


def run(m: Mutant, scratch: Path, new: set[str], timeout: float) -> tuple[bool, bool, float]:
    """(killed by the tests without ``new``, killed by all of them, seconds). The tests without
    the new files run first; the new files only run on their survivors."""
    target = scratch / "brickwall" / m.path
    original = target.read_text()
    target.write_text(m.apply(original))
    t0 = time.perf_counter()
    try:
        old = [t for t in m.tests if t not in new]
        before = bool(old) and _pytest(old, scratch, timeout)
        added = [t for t in m.tests if t in new]
        after = before or (bool(added) and _pytest(added, scratch, timeout))
    finally:
        target.write_text(original)
    return before, after, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="targets whose path starts with this text")
    ap.add_argument(
        "--new",
        action="append",
        default=[],
        help="a test file whose effect to measure: scores are given without and with it",
    )
    ap.add_argument("--match", default="", help="only mutants whose description matches (regex)")
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    args = ap.parse_args()
    todo = [
        m
        for path, functions, tests in TARGETS
        if path.startswith(args.only)
        for m in mutants(path, functions, tests)
    ] + [m for m in _extra() if m.path.startswith(args.only)]
    todo = [m for m in todo if re.search(args.match, str(m))]
    if args.list:
        print("\n".join(map(str, todo)))
        print(f"{len(todo)} mutants")
        return 0
    with tempfile.TemporaryDirectory(prefix="brickwall-mutants-") as tmp:
        scratch = Path(tmp)
        shutil.copytree(
            ROOT / "python" / "brickwall",
            scratch / "brickwall",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        reference = ledger(scratch) if any(m.path.startswith("claims/") for m in todo) else ""
        survivors: list[tuple[Mutant, bool]] = []
        by_file: dict[str, list[int]] = {}
        for i, m in enumerate(todo, 1):
            before, after, secs = run(m, scratch, set(args.new), args.timeout)
            counts = by_file.setdefault(m.path, [0, 0, 0])
            counts[0] += before
            counts[1] += after
            counts[2] += 1
            if not before:
                survivors.append((m, after))
            state = "killed" if before else "killed by new tests" if after else "SURVIVED"
            if not after and m.path.startswith("claims/"):
                # The claims take no input: a mutant that leaves every field of every claim
                # as it was cannot be told apart by any test of the ledger.
                target = scratch / "brickwall" / m.path
                original = target.read_text()
                target.write_text(m.apply(original))
                try:
                    if ledger(scratch) == reference:
                        state += " (equivalent: reproduce() unchanged)"
                finally:
                    target.write_text(original)
            print(f"[{i}/{len(todo)}] {m}: {state} ({secs:.1f}s)", flush=True)
    without = " + ".join(args.new) or "nothing"
    print(f"\nkilled per file (without {without} / with):")
    for path, (b, a, n) in by_file.items():
        print(f"  {path}: {b}/{n} / {a}/{n}")
    b, a, n = (sum(c[j] for c in by_file.values()) for j in range(3))
    print(f"total: {b}/{n} ({b / max(1, n):.1%}) / {a}/{n} ({a / max(1, n):.1%})")
    print("survivors of the tests without the new files (* = killed by the new ones):")
    for m, after in survivors:
        print(f"  {'*' if after else ' '} {m}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
