"""A default build writes the same bytes as before the relayout (issue 23).

``tests/builder/golden/default_build.json`` holds the sha256 of every file of a default
``ximagenet12 build`` (and of a small corruption build), recorded on the layout before the
modules moved; ``python scripts/build_digests.py`` regenerates it, ``--check`` compares.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("build_digests", ROOT / "scripts" / "build_digests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


digests = _script()
GOLDEN = json.loads(digests.GOLDEN.read_text())


def test_the_golden_file_covers_every_build_and_its_card():
    assert set(GOLDEN["builds"]) == set(digests.BUILDS)
    default = GOLDEN["builds"]["default"]
    assert {"README.md", "build_info.json", "skipped.jsonl", "data/original/train-00000-of-00001.parquet"} <= set(default)
    assert len(default) == 18 + 3  # one shard per paper-level config, the card, the manifest, skipped.jsonl


def test_a_difference_is_named_by_build_and_file():
    golden = {"default": {"a": "1", "b": "2"}}
    assert digests.differing(golden, {"default": {"a": "1", "b": "3", "c": "4"}}) == ["default/b", "default/c"]
    assert digests.differing(golden, golden) == []


def test_the_elapsed_time_is_the_only_value_left_out(tmp_path):
    info = tmp_path / "build_info.json"
    info.write_bytes(b'{"seed": 0, "elapsed_s": 9.241, "skipped": 0}')
    other = tmp_path / "other" / "build_info.json"
    other.parent.mkdir()
    other.write_bytes(b'{"seed": 0, "elapsed_s": 12.5, "skipped": 0}')
    assert digests._digest(info) == digests._digest(other)
    other.write_bytes(b'{"seed": 1, "elapsed_s": 12.5, "skipped": 0}')
    assert digests._digest(info) != digests._digest(other)


@pytest.mark.slow
@pytest.mark.skipif(digests.library_versions() != GOLDEN["versions"],
                    reason=f"golden made with {GOLDEN['versions']} (codec bytes depend on them)")
def test_a_default_build_is_byte_identical_to_the_golden_digests():
    assert digests.differing(GOLDEN["builds"], digests.all_digests()) == []
