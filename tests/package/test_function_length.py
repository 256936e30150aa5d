"""No function over 80 lines outside the tests (issue 23): long bodies become named stages.

Counted from ``def`` to the last line, over the installed package folders, ``scripts/`` and
``benchmarks/``, less the docstring: an argument list documented line by line (the metric's
``robustness_score_from_samples`` has 18 keyword options) is API documentation, and splitting
the code into stages would not shorten it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 80
FOLDERS = ("ximagenet12", "builder", "metrics", "dataset_card", "scripts", "benchmarks")
#: Functions allowed to stay longer (none: each long body became named stages).
KNOWN_EXCEPTIONS: set[str] = set()


def _docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def long_functions(root: Path = ROOT, *, limit: int = MAX_LINES) -> dict[str, int]:
    """``path::name`` -> lines, for every function (or method) longer than ``limit`` lines."""
    found = {}
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1 - _docstring_lines(node)
                    if lines > limit:
                        found[f"{path.relative_to(root).as_posix()}::{node.name}"] = lines
    return found


def test_no_function_is_longer_than_80_lines():
    too_long = {k: v for k, v in long_functions().items() if k not in KNOWN_EXCEPTIONS}
    assert not too_long, "split these into named stages: " + ", ".join(f"{k} ({v} lines)" for k, v in too_long.items())


def test_the_known_exceptions_still_exist():
    """An exception whose function was split (or moved) is removed from the list."""
    assert set(long_functions()) >= KNOWN_EXCEPTIONS


def test_the_check_counts_a_long_function(tmp_path):
    (tmp_path / "scripts").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    doc = '    """' + "\n".join(["A documented short function."] * 100) + '"""\n'
    (tmp_path / "scripts" / "s.py").write_text(f"def long():\n{body}\n\ndef short():\n{doc}    return 1\n")
    assert long_functions(tmp_path) == {"scripts/s.py::long": 81}
