"""Plug-in scenarios reach the registry through its PLUGINS list, never the other way round."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys

import pytest

from ximagenet12.scenarios import registry
from ximagenet12.scenarios.registry import PLUGINS, SCENARIOS, Scenario, get_scenario, register

_LIST_SCENARIOS = "from ximagenet12.scenarios.registry import SCENARIOS; import json; print(json.dumps(list(SCENARIOS)))"


def _names_after(first_import: str) -> list[str]:
    code = f"import {first_import}\n{_LIST_SCENARIOS}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize("first", ["ximagenet12.scenarios.generation.scenario", "ximagenet12.scenarios.corruptions", "ximagenet12.scenarios.engine"])
def test_registration_order_does_not_depend_on_which_module_is_imported_first(first):
    assert _names_after(first) == list(SCENARIOS)


def test_built_ins_come_first_then_each_plugin_in_list_order():
    names = list(SCENARIOS)
    assert names[0] == "original" and names[-1] == "ai_background"
    start = 0
    for entry in PLUGINS:
        module, _, attribute = entry.partition(":")
        declared = [s.name for s in getattr(importlib.import_module(module), attribute)]
        assert declared, entry
        at = names.index(declared[0])
        assert at >= start and names[at : at + len(declared)] == declared
        start = at + len(declared)
    assert start == len(names)


def test_every_plugin_entry_is_a_tuple_of_registered_scenarios():
    for entry in PLUGINS:
        module, _, attribute = entry.partition(":")
        scenarios = getattr(importlib.import_module(module), attribute)
        assert isinstance(scenarios, tuple) and all(isinstance(s, Scenario) for s in scenarios)
        assert all(get_scenario(s.name) is s for s in scenarios)


def test_the_registry_module_imports_no_plugin():
    tree = ast.parse(inspect.getsource(registry))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    plugin_modules = {entry.partition(":")[0] for entry in PLUGINS}
    assert not imported & plugin_modules


def test_a_plugin_scenario_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="'ai_background' is already registered"):
        register(get_scenario("ai_background"))


def test_the_read_only_view_refuses_assignment():
    with pytest.raises(TypeError):
        SCENARIOS["x"] = get_scenario("original")  # type: ignore[index]
