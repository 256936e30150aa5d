"""The README's shell commands work as written.

Every ``ximagenet12`` command of every ``bash`` block parses with the real CLI parser;
every ``python <script>`` it names exists; and, read in order as a user would run them,
no command writes into a folder an earlier one filled (a second ``build`` into the
default ``./ximagenet12-out`` is refused) or reads a report folder no earlier command
writes. The slow test runs, as written, the commands that are cheap enough here: the
set-up build, then the fog corruption build and the metric benchmark.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ximagenet12.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SEPARATORS = {"&&", "||", ";", "|"}
DEFAULT_OUT = "ximagenet12-out"
#: Commands whose positional arguments or options name folders an earlier command wrote.
READS = {"leaderboard": ("reports",), "analyze": ("reports",), "score": ("external", "internal"),
         "push-model": ("folder",)}


def _commands() -> list[tuple[int, list[str]]]:
    """(block number, argv) of every command of every bash block, in README order."""
    out = []
    for n, block in enumerate(re.findall(r"^```bash\n(.*?)^```", README, flags=re.S | re.M), start=1):
        text = re.sub(r"\\\n\s*", " ", block)
        for line in text.splitlines():
            line = re.sub(r"\s\[[^\]]*\]", "", line)  # "[--private]": an optional part, left out
            argv: list[str] = []
            for token in shlex.split(line, comments=True) + [";"]:
                if token in SEPARATORS:
                    while argv and re.fullmatch(r"[A-Z_]+=.*", argv[0]):  # VAR=value cmd
                        argv = argv[1:]
                    if argv:
                        out.append((n, argv))
                    argv = []
                else:
                    argv.append(token)
    return out


def _parse(argv: list[str]):
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return build_parser().parse_args(argv[1:]), ""
    except SystemExit:
        return None, err.getvalue().strip().splitlines()[-1]


def _cli() -> list[tuple[int, list[str]]]:
    """The README's ``ximagenet12`` commands, two-word commands (``leaderboard worker``) as the CLI reads them."""
    from ximagenet12.cli import COMMAND_ALIASES

    out = []
    for n, argv in _commands():
        if argv[0] == "ximagenet12":
            alias = COMMAND_ALIASES.get(tuple(argv[1:3]))
            out.append((n, ["ximagenet12", alias, *argv[3:]] if alias else argv))
    return out


def test_the_readme_has_the_commands_this_test_reads():
    names = {argv[1] for _, argv in _cli()}
    assert {"build", "evaluate", "challenge", "leaderboard", "analyze", "train", "score"} <= names


def test_every_ximagenet12_command_of_the_readme_parses():
    bad = [f"block {n}: {' '.join(argv)} -> {err}" for n, argv in _cli() for _, err in [_parse(argv)] if err]
    assert not bad, "\n".join(bad)


def _scripts() -> list[list[str]]:
    """``python <script> ...`` commands: in bash blocks and in inline code (the benchmarks)."""
    inline = [shlex.split(m) for m in re.findall(r"`(python3? [\w/.-]+\.py[^`]*)`", README)]
    return [a for a in [argv for _, argv in _commands()] + inline if a[0] in ("python", "python3") and a[1].endswith(".py")]


def test_every_python_script_the_readme_runs_exists():
    scripts = [argv[1] for argv in _scripts()]
    assert len(scripts) >= 5 and [s for s in scripts if not (ROOT / s).is_file()] == []


def test_no_readme_command_writes_over_an_earlier_ones_output_or_reads_a_folder_none_writes():
    written: dict[str, str] = {}
    problems = []
    for n, argv in _cli():
        ns, err = _parse(argv)
        if ns is None:
            continue  # reported by the parse test
        command, shown = argv[1], " ".join(argv)
        for attr in READS.get(command, ()):
            for path in [getattr(ns, attr, None)] if isinstance(getattr(ns, attr, None), str) else getattr(ns, attr, None) or []:
                if os.path.normpath(path) not in written:
                    problems.append(f"block {n}: `{shown}` reads {path}, which no earlier README command writes")
        out = getattr(ns, "out", None)
        if command == "build" and out is None:
            out = DEFAULT_OUT
        if not isinstance(out, str) or "://" in out:
            continue
        key = os.path.normpath(out)
        if command == "build" and key in written and not (getattr(ns, "overwrite", False) or getattr(ns, "resume", False)):
            problems.append(f"block {n}: `{shown}` builds into {out}, which `{written[key]}` already filled: "
                            "it is refused as written (give it its own --out)")
        written.setdefault(key, shown)
    assert not problems, "\n".join(problems)


def _line(needle: str, commands: list[list[str]]) -> list[str]:
    found = [argv for argv in commands if needle in " ".join(argv)]
    assert found, needle
    return found[0]


@pytest.mark.slow
def test_the_cheap_readme_commands_run_as_written_in_readme_order(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "home"))
    cli = [sys.executable, "-m", "ximagenet12.cli"]
    commands = [argv for _, argv in _cli()]
    setup = commands[0]  # set-up command 1: `ximagenet12 build`, the embedded sample into ./ximagenet12-out
    assert setup == ["ximagenet12", "build"]
    fog = _line("corrupt_fog_background,corrupt_fog_object@5", commands)
    bench = _line("benchmarks/bench_metric.py", _scripts())
    for argv in (setup + ["--no-progress"], fog + ["--no-progress"]):
        done = subprocess.run(cli + argv[1:], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"`{' '.join(argv)}` failed:\n{done.stderr[-2000:]}"
    assert (tmp_path / "fog" / "data" / "corrupt_fog_object_level5").is_dir()
    done = subprocess.run([sys.executable, *bench[1:]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"`{' '.join(bench)}` failed:\n{done.stderr[-2000:]}"
