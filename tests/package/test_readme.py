"""The README stays true to the code: its set-up commands are CI's, its tables cover the registry."""

from __future__ import annotations

import re
from pathlib import Path

from ximagenet12.scenarios.registry import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setup_commands() -> list[str]:
    section = README.split("## Set-up: two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in section.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_second():
    build, tests = _setup_commands()
    assert build.startswith("pip install torch==2.13.0 && ") and build.endswith("ximagenet12 build")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_readme_scenario_table_names_every_registered_scenario():
    table = README.split("## Scenarios", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", table))
    assert set(SCENARIOS) - named == set()
