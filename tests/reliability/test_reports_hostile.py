"""Hostile reports and ``--out`` paths for ``analyze`` and ``score`` (issue 25): one line, nothing touched.

Reports are checked where they are read (:func:`ximagenet12.evaluation.report.check_report`):
a JSON list, an accuracy of 7.5 or -3, NaN, a per-class table that is not an object are
refused naming the file, instead of flowing into a regression or a score as if measured.
"""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
from hostile_reports import DAMAGED, folder, report

from ximagenet12.cli import main
from ximagenet12.evaluation.report import check_report

def _cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_check_report_refuses_each_damage(name):
    damage, message = DAMAGED[name]
    with pytest.raises(ValueError, match=message):
        check_report(damage(report()), "r/report.json")


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_analyze_gives_one_line_and_writes_nothing(name, tmp_path):
    damage, message = DAMAGED[name]
    good = folder(tmp_path / "good", report())
    bad = folder(tmp_path / "bad", damage(report()))
    code, err = _cli(["analyze", str(good), str(bad), "--out", str(tmp_path / "tables")])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ximagenet12 analyze: error: "), err
    assert str(bad / "report.json") in err
    assert not (tmp_path / "tables").exists()


@pytest.mark.parametrize("name", ["json_list", "accuracy_7_5", "per_class_accuracy_minus_3"])
def test_score_gives_one_line_on_a_damaged_report(name, tmp_path):
    damage, message = DAMAGED[name]
    external = folder(tmp_path / "ex1", damage(report()))
    internal = folder(tmp_path / "ex2", report("ex2"))
    code, err = _cli(["score", str(external), str(internal), "--out", str(tmp_path / "score.json")])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ximagenet12 score: error: "), err
    assert re.search(message, err) and str(external / "report.json") in err
    assert not (tmp_path / "score.json").exists()


def test_analyze_out_an_existing_file_is_refused_and_the_file_kept(tmp_path):
    reports = [folder(tmp_path / f"r{i}", report(scale=1 - 0.1 * i)) for i in range(2)]
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, err = _cli(["analyze", *map(str, reports), "--out", str(target)])
    assert code == 1
    assert err == f"ximagenet12 analyze: error: --out {str(target)!r} is an existing file; analyze writes a folder of tables\n"
    assert target.read_text() == "mine"


def test_score_out_an_existing_folder_is_refused_and_the_folder_kept(tmp_path):
    external, internal = folder(tmp_path / "ex1", report()), folder(tmp_path / "ex2", report("ex2"))
    target = tmp_path / "scores"
    target.mkdir()
    (target / "old.json").write_text("{}")
    code, err = _cli(["score", str(external), str(internal), "--out", str(target)])
    assert code == 1
    assert err.count("\n") == 1 and f"--out {str(target)!r} is an existing folder; score writes one JSON file" in err
    assert [p.name for p in target.iterdir()] == ["old.json"]


def test_score_writes_its_file_whole(tmp_path):
    external, internal = folder(tmp_path / "ex1", report()), folder(tmp_path / "ex2", report("ex2"))
    code, err = _cli(["score", str(external), str(internal), "--out", str(tmp_path / "s" / "score.json")])
    assert code == 0, err
    assert json.loads((tmp_path / "s" / "score.json").read_text())["scenarios"]
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["score.json"]  # no temporary file left
