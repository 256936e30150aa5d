"""Every Python block of README.md runs, in order, after the README's own set-up command.

A block that cannot run here says so with a marker comment as its first line,
``# not run by the README test: <why>`` (the user's own data, the network, a GPU); the
test lists the blocks it skipped and checks that each names its reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "# not run by the README test:"


def _blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "home"),
               HF_DATASETS_CACHE=str(tmp_path / "cache"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    return env


def test_skipped_blocks_say_why():
    for block in _blocks():
        if block.startswith(MARKER):
            assert len(block.splitlines()[0]) > len(MARKER) + 5, block.splitlines()[0]


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs(tmp_path):
    env = _env(tmp_path)
    # the README's set-up command 1 (`ximagenet12 build`), with only the configs the blocks
    # name, so the test stays fast: every block reads the folder the same way whatever it holds
    argv = ["build", "--no-progress", "--scenarios", "original,blur_background,only_fg"]
    build = subprocess.run([sys.executable, "-c", f"from ximagenet12.cli import main; raise SystemExit(main({argv!r}))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    assert (tmp_path / "ximagenet12-out" / "data" / "blur_background").is_dir()
    ran, skipped = 0, []
    for n, block in enumerate(_blocks(), start=1):
        if block.startswith(MARKER):
            skipped.append(n)
            continue
        proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"README block {n} failed:\n{block}\n{proc.stderr[-3000:]}"
        ran += 1
    assert ran >= 3, (ran, skipped)
