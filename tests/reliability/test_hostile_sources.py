"""Every malformed input of the hostile corpus is one recorded skip naming the sample, the
good samples are all built, and two identical builds write identical bytes."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

import hostile
from ximagenet12.cli import main


def _build(source, out, scenarios, capsys):
    code = main(["build", "--source", str(source), "--out", str(out), "--scenarios", scenarios, "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.count("\n") <= 1  # no traceback, at most a warning line
    return captured.out


def _files(out):
    """Every file a build leaves, with its bytes (build_info.json's timing left out)."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "build_info.json":
            info = json.loads(data)
            info.pop("elapsed_s")
            data = json.dumps(info, sort_keys=True).encode()
        found[path.relative_to(out).as_posix()] = data
    return found


@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_malformed_input_is_a_recorded_skip_and_builds_are_identical(tmp_path, case, capsys):
    source = case.make(tmp_path / "src")
    out = tmp_path / "out"
    printed = _build(source, out, case.scenarios, capsys)
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text(encoding="utf-8").splitlines()]
    skipped_ids = {s["source_id"] for s in skipped}
    built = {sid for p in (out / "data").rglob("*.parquet")
             for sid in pq.read_table(p, columns=["source_id"]).column(0).to_pylist()}
    assert case.bad <= skipped_ids, skipped
    assert case.good <= built, f"good samples lost: {sorted(case.good - built)}"
    assert not built & case.bad
    for line in skipped:
        assert line["reason"] and "object at 0x" not in line["reason"]
        assert str(tmp_path) not in line["reason"], line  # reasons name files relative to the source
    if case.hidden:
        assert f"left out {case.hidden} hidden file(s) of the source on purpose" in printed
        assert json.loads((out / "build_info.json").read_text())["hidden_files"] == case.hidden

    first = _files(out)
    shutil.rmtree(out)
    _build(source, out, case.scenarios, capsys)
    assert _files(out) == first  # identical builds, identical bytes (data, card, skipped.jsonl)
