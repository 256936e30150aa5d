"""Old module paths still import for one release, warn, and are the very same modules.

relayout: keep-old-paths (scripts/relayout.py leaves this file's old paths alone)
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _relayout():
    spec = importlib.util.spec_from_file_location("relayout", ROOT / "scripts" / "relayout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


relayout = _relayout()
MOVES, RENAMES = relayout.plan_moves(ROOT)

_PROBE = """
import importlib, json, sys, warnings
out = {}
for old, new in json.loads(sys.argv[1]).items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    out[old] = {
        "same": module is importlib.import_module(new) and sys.modules[old] is sys.modules[new],
        "warnings": [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)],
        "where": [w.filename for w in caught if issubclass(w.category, DeprecationWarning)],
    }
print(json.dumps(out))
"""


def test_the_tree_is_relaid_out():
    assert MOVES == []  # a re-run of the script would move nothing
    assert RENAMES["ximagenet12.registry"] == "ximagenet12.scenarios.registry"


@pytest.fixture(scope="module")
def probed() -> dict:
    aliases = {old: new for old, new in RENAMES.items() if old != "ximagenet12.hub"}  # hub/ is the new package
    aliases["ximagenet12.generation.scenario"] = "ximagenet12.scenarios.generation.scenario"
    result = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(aliases)], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_every_old_path_is_the_new_module(probed):
    assert probed and [old for old, r in probed.items() if not r["same"]] == []


def test_every_old_path_warns_once_naming_the_new_one(probed):
    for old, result in probed.items():
        new = RENAMES.get(old) or "ximagenet12.scenarios.generation.scenario"
        ours = [m for m in result["warnings"] if m.startswith(f"{old} is deprecated")]
        assert ours == [f"{old} is deprecated and will be removed in the next release; import {new} instead"], old


def test_the_warning_points_at_the_importer_not_at_the_import_machinery(probed):
    for result in probed.values():
        assert all("importlib" not in w and "deprecation" not in w for w in result["where"]), result["where"]


def test_monkeypatching_through_an_old_path_reaches_the_new_module(monkeypatch):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ximagenet12.registry as old
    from ximagenet12.scenarios import registry

    monkeypatch.setattr("ximagenet12.registry.OPT_IN_FAMILIES", ("paper",))
    assert registry.OPT_IN_FAMILIES == ("paper",) and old is registry


def test_the_former_hub_module_names_import_from_the_hub_package():
    import ximagenet12.hub as hub
    from ximagenet12.hub import PushError, push
    from ximagenet12.hub import publish

    assert push is publish.push and PushError is publish.PushError
    assert set(hub.__all__) == set(publish.__all__)
    with pytest.raises(AttributeError, match="module 'ximagenet12.hub' has no attribute 'nothing'"):
        getattr(hub, "nothing")


def test_the_command_line_keeps_its_paths():
    from ximagenet12.cli import main  # the entry point ximagenet12.cli:main

    assert callable(main)
    result = subprocess.run([sys.executable, "-m", "ximagenet12.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("ximagenet12 ")
