"""The layers of docs/architecture.md hold: no import circle, no upward import.

Read from the source (``ast``), every ``import`` counts, also those inside functions
(they still make one module need another); only ``if TYPE_CHECKING:`` blocks are left
out. Deprecated alias modules at old paths (issue 23) are not part of the graph.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: folder -> the dotted name it is installed as (pyproject's package-dir)
FOLDERS = {"ximagenet12": "ximagenet12", "builder": "ximagenet12.builder", "metrics": "ximagenet12.metrics",
           "dataset_card": "ximagenet12.dataset_card"}
ALIAS_MARKER = "relayout: keep-old-paths"

#: Bottom to top. A module may import its own layer and the layers below it, never one
#: above; the package root (ximagenet12/__init__: the public API) is above everything.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ximagenet12.core",),
    ("ximagenet12.io",),
    ("ximagenet12.scenarios",),
    ("ximagenet12.sources", "ximagenet12.hub.validate", "ximagenet12.metrics"),
    ("ximagenet12.evaluation",),
    ("ximagenet12.builder", "ximagenet12.dataset_card", "ximagenet12.engines"),
    ("ximagenet12.training", "ximagenet12.explain", "ximagenet12.challenge", "ximagenet12.leaderboard",
     "ximagenet12.hub"),
    ("ximagenet12.cli",),
)


@lru_cache(maxsize=1)
def modules() -> dict[str, Path]:
    found = {}
    for folder, dotted in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            if "__pycache__" in rel.parts or (folder == "ximagenet12" and rel.parts[0] in FOLDERS):
                continue
            if ALIAS_MARKER in path.read_text(encoding="utf-8")[:2000]:
                continue
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([dotted, *parts])] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    return [f"{base}.{a.name}" for a in node.names] + [base]


@lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    """module -> the modules of the package it imports (the deepest module each name reaches)."""
    known = modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skip:
                continue
            for target in _targets(module, path, node):
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if target and target != module and target != "ximagenet12":
                    graph[module].add(target)
    return graph


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    return rank


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        here = layer_of(module)
        for target in sorted(targets):
            there = layer_of(target)
            if here is not None and there is not None and there > here:
                bad.append(f"{module} (layer {here}) imports {target} (layer {there})")
    return bad


def test_the_graph_is_read_from_the_package():
    graph = import_graph()
    assert "ximagenet12.scenarios.registry" in graph["ximagenet12.scenarios.engine"]
    assert "ximagenet12.scenarios.registry" in graph["ximagenet12.scenarios.corruptions"]
    assert len(graph) > 100


def test_no_import_circle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_upward_import():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the layers of docs/architecture.md:\n" + "\n".join(bad)


def test_every_module_has_a_layer():
    assert [m for m in import_graph() if m != "ximagenet12" and layer_of(m) is None] == []


def test_the_checks_see_a_circle_and_an_upward_import():
    graph = {"ximagenet12.core.a": {"ximagenet12.core.b"}, "ximagenet12.core.b": {"ximagenet12.core.a"},
             "ximagenet12.io.x": {"ximagenet12.cli.main"}}
    assert find_cycles(graph) == [["ximagenet12.core.a", "ximagenet12.core.b"]]
    assert upward_imports(graph) == ["ximagenet12.io.x (layer 1) imports ximagenet12.cli.main (layer 7)"]


@pytest.mark.parametrize("layer", [layer for layer in LAYERS for _ in [0]])
def test_every_layer_names_real_packages(layer):
    for prefix in layer:
        assert any(m == prefix or m.startswith(prefix + ".") for m in modules()), prefix
