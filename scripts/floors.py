"""Print pip constraints that pin every declared dependency to its declared floor.

    python scripts/floors.py [EXTRA ...] > floors.txt
    pip install -e ".[test]" -c floors.txt

CI installs the project against these constraints in a fresh virtual environment and runs
the fast tests, so a floor in ``pyproject.toml`` is a version the code was seen to work
with, not a guess. torch is left out: its floor is installed from the CPU wheel the
machines keep (``torch==2.13.0``); any other torch build would be a multi-GB download.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
NOT_PINNED = {"torch"}  # see the module docstring
SELF = "ximagenet12"


def declared(extras: list[str]) -> list[Requirement]:
    """The core dependencies plus those of ``extras`` (following ``ximagenet12[...]`` references)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    found: list[Requirement] = [Requirement(r) for r in project.get("dependencies", [])]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        if extra not in optional:
            raise SystemExit(f"pyproject.toml declares no extra {extra!r} (has: {', '.join(sorted(optional))})")
        seen.add(extra)
        for text in optional[extra]:
            req = Requirement(text)
            if req.name == SELF:
                todo.extend(req.extras)
            else:
                found.append(req)
    return found


def floor(req: Requirement) -> str | None:
    """The version after ``>=`` in the requirement, if it has one."""
    for spec in req.specifier:
        if spec.operator == ">=":
            return spec.version
    return None


def main(argv: list[str]) -> int:
    pins: dict[str, str] = {}
    for req in declared(argv or ["test"]):
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        version = floor(req)
        if version is None or name in NOT_PINNED:
            continue
        if pins.get(name, version) != version:
            raise SystemExit(f"{name} is declared with two floors: {pins[name]} and {version}")
        pins[name] = version
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}.*")  # the floor release series (e.g. 4.8 -> 4.8.0.74)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
