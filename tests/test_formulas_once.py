"""One implementation per formula, kept by a test.

The rule. Arithmetic (``+ - * / // % **``, also augmented) with an operand that is a numeric
field of a :class:`~brickwall.Model`, :class:`~brickwall.Hardware`,
:class:`~brickwall.Efficiency` or :class:`~brickwall.Deployment` (an attribute access by one of
their numeric field or property names, e.g. ``m.top_k * b``, ``h.memory_bandwidth / x``) is a
formula. Formulas live in model.py (shapes -> counts), the Rust core (counts x plan x hardware
-> time) and reference/ (the core's slow oracles). Elsewhere such arithmetic is allowed only in
the presentation layer (cli.py, plot.py: unit conversions for display) and in the functions of
:data:`ALLOWED`, each with the reason it is not a second copy of a formula. A new formula
elsewhere fails this test: call the core (or model.py) instead, or, if it truly is not a
formula, add it to :data:`ALLOWED` with its reason.

What the scan cannot see: arithmetic on local copies of fields (``k = m.top_k; k * b``) and on
fields of other records. It is a tripwire for the common case, not a proof; review keeps the
rest.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import brickwall as bw
import pytest
from brickwall.deployment import Deployment

PACKAGE = Path(bw.__file__).parent
#: Where formulas belong, or where arithmetic on fields is presentation (module paths relative to
#: the package; a trailing "/" is a directory).
EXEMPT = ("model.py", "reference/", "cli.py", "plot.py")
#: (module or package prefix, function) -> why its arithmetic on fields is not a formula copy.
ALLOWED: dict[tuple[str, str], str] = {
    (
        "calibrate/fit.py",
        "calibrate",
    ): "a measured bandwidth over the datasheet peak is the measured fraction, not a cost",
    ("calibrate/fit.py", "summary"): "unit conversion of the measured profile for display",
    (
        "calibrate/attention.py",
        "points",
    ): "one kernel as the step model prices it: the core's attention operator plus the profile's per-kernel floor",
    (
        "calibrate/profile_file.py",
        "chip_file_text",
    ): "unit conversion to the chip file's units (the inverse of readers/chip_file.py)",
    ("hardware.py", "summary"): "unit conversion of the catalog entry for display",
    (
        "deployment.py",
        "chips",
    ): "the layout's own size tp x pp x ep (a count of the deployment, as model.py counts a model)",
    ("deployment.py", "check"): "divisibility checks of the partitioning (validation, not a cost)",
    (
        "deployment.py",
        "cost_view",
    ): "hands model.py's counts to the core; the widest FFN is a count of the shapes",
    (
        "inference.py",
        "_estimate",
    ): "free memory = device memory - the core's used bytes, for the breakdown shown",
    ("inference.py", "chips_needed"): "a search bound (pp up to layers), not a cost",
    (
        "inference.py",
        "required_bandwidth",
    ): "turns the core's memory time back into bytes/s at the asked rate (no model knowledge)",
    (
        "moe.py",
        "route",
    ): "a work-size guard: trials x tokens x top_k routed choices against the opt-in limit (validation, not a cost)",
    (
        "moe.py",
        "drop_fraction",
    ): "normalises a Monte Carlo histogram mean by the step's k x B assignments (a statistic of a result)",
    ("training.py", "total_flops"): "sums two fields of the run's own result",
    (
        "training.py",
        "__post_init__",
    ): "TrainingPlan's divisibility checks (validation, not a cost)",
    ("training.py", "gpus"): "the plan's own size tp x pp x dp (a count, as Deployment.chips)",
    ("training.py", "check"): "divisibility of layers by pp x chunks (validation, not a cost)",
    ("training.py", "cost"): "GPU-hours x price of the run's own result",
    (
        "training.py",
        "training_run",
    ): "training FLOP accounting (counts, model.py-style: 6N + 3 x attention per token)",
    (
        "inference.py",
        "bandwidth_for_params",
    ): "the core's weight-read time per parameter turned into bytes/s at the asked rate",
    (
        "validation/predict.py",
        "predict",
    ): "a published metric's own definition (TensorRT-LLM's tokens/s/GPU = total / GPUs) applied to the prediction",
    (
        "validation/predict.py",
        "serving",
    ): "the same per-GPU definition applied to the simulator's output tokens/s",
    # The claims ledger shows the article's own arithmetic next to brickwall's numbers.
    (
        "claims",
        "gpt4_total",
    ): "the article's expert-parameter arithmetic, shown next to model.py's count",
    (
        "claims",
        "ratio_h100",
    ): "the article's FLOP/byte ratio and TB/s for display (crossover_batch is the core's)",
    (
        "claims",
        "kv_500b",
    ): "the article's head size for a hypothetical 500B model (shapes, model.py-style)",
}
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def _numeric_fields() -> frozenset[str]:
    out: set[str] = set()
    for cls in (bw.Model, bw.Hardware, bw.Efficiency, Deployment):
        for f in dataclasses.fields(cls):
            if any(t in str(f.type) for t in ("int", "float")):
                out.add(f.name)
        for name, v in vars(cls).items():
            if isinstance(v, property) and any(
                t in str(v.fget.__annotations__.get("return", ""))
                for t in ("int", "float", "ParamCounts")
            ):
                out.add(name)
    return frozenset(out)


FIELDS = _numeric_fields()


def _is_field(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in FIELDS


def violations(source: str, module: str) -> list[str]:
    """``module:line function: expression`` for each formula outside the permitted places."""
    if any(module == e or (e.endswith("/") and module.startswith(e)) for e in EXEMPT):
        return []
    tree = ast.parse(source)
    out: list[str] = []

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        operands: list[ast.AST] = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, _OPS):
            operands = [node.left, node.right]
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, _OPS):
            operands = [node.target, node.value]
        allowed = any(module.startswith(m) and function == f for m, f in ALLOWED)
        if any(_is_field(o) for o in operands) and not allowed:
            out.append(f"{module}:{node.lineno} {function}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    return out


def test_field_names_are_found() -> None:
    assert {
        "top_k",
        "experts",
        "memory_bandwidth",
        "tp",
        "matmul_params_active",
        "params",
    } <= FIELDS
    assert "name" not in FIELDS and "weight_dtype" not in FIELDS


def test_no_formula_outside_the_core_model_and_reference() -> None:
    found = [
        v
        for path in sorted(PACKAGE.rglob("*.py"))
        for v in violations(path.read_text(), path.relative_to(PACKAGE).as_posix())
    ]
    assert not found, "formulas outside the core, model.py and reference/:\n" + "\n".join(found)


PLANTED = """
def touched(model, tokens):
    return model.experts * (1 - (1 - model.top_k / model.experts) ** tokens)

def chips(d):
    n = d.tp
    n *= d.ep
    return n
"""


@pytest.mark.parametrize("module", ["moe.py", "sweep.py", "serve.py", "claims/cost.py"])
def test_a_planted_formula_fails(module: str) -> None:
    found = violations(PLANTED, module)
    assert len(found) == 3, found  # model.top_k / model.experts, model.experts * (...), n *= d.ep
    assert all(f.startswith(module) for f in found)
    assert any("touched" in f for f in found) and any("chips: n *= d.ep" in f for f in found)


@pytest.mark.parametrize("module", ["model.py", "reference/routing.py", "cli.py", "plot.py"])
def test_the_permitted_places_may_hold_formulas(module: str) -> None:
    assert violations(PLANTED, module) == []


def test_allowed_is_by_module_and_function() -> None:
    planted = "def chips(self):\n    return self.tp * self.pp * self.ep\n"
    assert violations(planted, "deployment.py") == []
    assert len(violations(planted, "sweep.py")) == 2
    assert len(violations(planted.replace("chips", "other"), "inference.py")) == 2
