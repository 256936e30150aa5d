"""The project installs as one `ximagenet12` namespace, from a wheel as from a checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from ximagenet12.cli import main, scenario_table
from ximagenet12.scenarios.registry import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]
MAPPED = {"ximagenet12": "ximagenet12", "ximagenet12.builder": "builder",
          "ximagenet12.metrics": "metrics", "ximagenet12.dataset_card": "dataset_card"}  # fmt: skip


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_package_dir_mapping_is_the_documented_one():
    assert _pyproject()["tool"]["setuptools"]["package-dir"] == MAPPED


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for package, folder in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == listed


@pytest.mark.slow
def test_wheel_holds_only_the_ximagenet12_namespace(tmp_path):
    # build from a copy, so the checkout gets no build/ or *.egg-info litter
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "ximagenet12-out"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("ximagenet12-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"ximagenet12", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    assert "ximagenet12/builder/__init__.py" in names
    assert "ximagenet12/metrics/robustness_score/__init__.py" in names
    assert not any(n.startswith("ximagenet12/tests") for n in names)


def test_cli_scenarios_json_lists_the_registry(capsys):
    assert main(["scenarios", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list(SCENARIOS)
    for row in rows:
        assert row["mode"] in ("RGB", "RGBA") and isinstance(row["levels"], dict)
    blur = next(r for r in rows if r["name"] == "blur_background")
    assert blur["params"] == {"ksize": 15, "sigma": 3.0} and sorted(blur["levels"]) == ["1", "2", "3", "4", "5"]


def test_cli_scenarios_text_names_every_scenario(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for row in scenario_table():
        assert row["name"] in out


def test_console_script_runs():
    result = subprocess.run([sys.executable, "-m", "ximagenet12.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "ximagenet12" in result.stdout
