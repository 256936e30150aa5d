"""scripts/relayout.py: the rewrite rules, their idempotence, and the refusal to guess.

relayout: keep-old-paths (this file spells old paths on purpose)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("relayout", ROOT / "scripts" / "relayout.py")
relayout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(relayout)
_, RENAMES = relayout.plan_moves(ROOT)
REWRITER = relayout.Rewriter(RENAMES)

CASES = [
    ("from ximagenet12.registry import resolve\n", "from ximagenet12.scenarios.registry import resolve\n"),
    ("from ximagenet12 import functional as F\n", "from ximagenet12.scenarios import functional as F\n"),
    ("from ximagenet12 import hub_validate\n", "from ximagenet12.hub import validate as hub_validate\n"),
    ("from ximagenet12.hub import push\n", "from ximagenet12.hub.publish import push\n"),
    ("from ximagenet12 import __version__, types\n",
     "from ximagenet12 import __version__\nfrom ximagenet12.core import types\n"),
    ("from ximagenet12.builder import executors\n", "from ximagenet12.engines import local as executors\n"),
    ("import ximagenet12.generation.scenario as S\n", "import ximagenet12.scenarios.generation.scenario as S\n"),
    ('monkeypatch.setattr("ximagenet12.hub._upload", f)\n', 'monkeypatch.setattr("ximagenet12.hub.publish._upload", f)\n'),
    ('SUBCOMMANDS = ("ximagenet12.cli_build",)\n', 'SUBCOMMANDS = ("ximagenet12.cli.build",)\n'),
    ('"ximagenet12.corruptions:PLUGIN_SCENARIOS"\n', '"ximagenet12.scenarios.corruptions:PLUGIN_SCENARIOS"\n'),
    ("see ximagenet12/registry.py and builder/executors.py\n",
     "see ximagenet12/scenarios/registry.py and ximagenet12/engines/local.py\n"),
    ("ximagenet12/cli.py, ximagenet12/generation/\n", "ximagenet12/cli/__init__.py, ximagenet12/scenarios/generation/\n"),
    ("from ximagenet12.cli import main; ximagenet12.py; ximagenet12.builder.build\n",
     "from ximagenet12.cli import main; ximagenet12.py; ximagenet12.builder.build\n"),
]


@pytest.mark.parametrize(("old", "new"), CASES)
def test_a_reference_is_rewritten_once_and_then_left_alone(old, new):
    assert REWRITER.rewrite(old) == new
    assert REWRITER.rewrite(new) == new


def test_new_layout_modules_under_an_old_module_name_are_left_alone():
    text = "from ximagenet12.hub import validate\nimport ximagenet12.hub.model\nximagenet12.hub.publish.push\n"
    assert REWRITER.rewrite(text) == text


def _tree(root: Path, *files: str) -> Path:
    for name in ("ximagenet12/__init__.py", "pyproject.toml", *files):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    return root


def test_a_new_cli_module_is_placed_by_rule(tmp_path):
    moves, renames = relayout.plan_moves(_tree(tmp_path, "ximagenet12/cli_export.py"))
    assert [(s.relative_to(tmp_path).as_posix(), d.relative_to(tmp_path).as_posix()) for s, d in moves] == [
        ("ximagenet12/cli_export.py", "ximagenet12/cli/export.py")]
    assert renames["ximagenet12.cli_export"] == "ximagenet12.cli.export"


def test_a_module_no_rule_places_stops_the_script_before_any_change(tmp_path, capsys):
    root = _tree(tmp_path, "ximagenet12/widget.py", "ximagenet12/gadgets/__init__.py")
    with pytest.raises(relayout.Unplaced, match=r"(?s)ximagenet12/gadgets/ .*ximagenet12/widget.py"):
        relayout.plan_moves(root)
    assert relayout.main(["--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "cannot place these" in err and "ximagenet12/widget.py (a flat module no rule places)" in err
    assert (root / "ximagenet12" / "widget.py").is_file()
