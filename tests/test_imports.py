"""The package's import graph has no cycles.

Read from the source with ast, every executed ``import`` counts - at module level and inside
functions - so a cycle cannot hide behind a deferred import. Imports under ``if TYPE_CHECKING``
are not edges: they name types for annotations and never run (the presentation layer, plot.py,
annotates with the result classes whose ``.plot()`` methods call it). A submodule's
implicit import of its parent package is not an edge (a package importing its own submodules is
how packages work); an explicit ``from .. import name`` of a non-module name is.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import brickwall

PACKAGE = Path(brickwall.__file__).resolve().parent


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> source file, for every module under the package ``root`` (stubs of
    extension modules count as modules, so ``from . import _core`` is an edge to ``_core``)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi"):
            continue
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.setdefault(".".join(parts), path)
    return out


def _is_type_checking(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        here = name.split(".") if path.stem == "__init__" else name.split(".")[:-1]
        deps: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guards = [g for g in ast.walk(tree) if isinstance(g, ast.If) and _is_type_checking(g)]
        type_only = {id(n) for g in guards for stmt in g.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                source = ".".join(base + ([node.module] if node.module else []))
                # `from X import a`: the submodule X.a when there is one, else X itself
                targets = [
                    f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source
                    for a in node.names
                ]
            else:
                continue
            deps.update(t for t in targets if t in mods and t != name)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return path[path.index(d) :] + [d]
            if d not in state and (found := visit(d)) is not None:
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)) is not None:
            return found
    return None


def test_brickwall_has_no_import_cycle() -> None:
    graph = import_graph(PACKAGE)
    assert "brickwall.claims.ledger" in graph and "brickwall.readers.hf_config" in graph
    assert "brickwall.model" in graph["brickwall.readers.hf_config"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or ())


def test_a_planted_cycle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "planted"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    # a cycle through a submodule, and one hidden in a function: both found
    (pkg / "sub" / "b.py").write_text("from ..a import x\n")
    (pkg / "c.py").write_text("def f():\n    from . import d\n")
    (pkg / "d.py").write_text("import planted.c\n")
    graph = import_graph(pkg)
    assert graph["planted.a"] == {"planted.sub.b"} and graph["planted.sub.b"] == {"planted.a"}
    assert graph["planted.c"] == {"planted.d"} and graph["planted.d"] == {"planted.c"}
    assert find_cycle(graph) == ["planted.a", "planted.sub.b", "planted.a"]
    (pkg / "sub" / "b.py").write_text("")
    assert find_cycle(import_graph(pkg)) == ["planted.c", "planted.d", "planted.c"]
    (pkg / "d.py").write_text("")
    assert find_cycle(import_graph(pkg)) is None
    # an annotation-only import back is not a cycle
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n"
    )
    assert find_cycle(import_graph(pkg)) is None


def test_the_namespace_is_the_api() -> None:
    """``dir(brickwall)`` shows the API (``__all__``) and the submodules, no helper that the
    package imported for itself (``annotations``, ``PackageNotFoundError``, ``version``)."""
    public = [n for n in dir(brickwall) if not n.startswith("__")]
    submodules = {m.name for m in pkgutil.iter_modules(brickwall.__path__)}
    assert len(set(brickwall.__all__)) == len(brickwall.__all__)
    assert all(hasattr(brickwall, n) for n in brickwall.__all__)
    assert set(public) <= set(brickwall.__all__) | submodules, sorted(
        set(public) - set(brickwall.__all__) - submodules
    )
    assert not {"annotations", "PackageNotFoundError", "version"} & set(public)
