"""`ximagenet12 leaderboard` and `push-leaderboard` on the command line: one-line errors, said notes."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from ximagenet12.cli import main


def test_leaderboard_writes_the_site_and_says_which_duplicate_it_dropped(reports, tmp_path, capsys):
    older = tmp_path / "vit-a-rerun"
    shutil.copytree(reports["vit_a"], older)
    report = json.loads((older / "report.json").read_text())
    report["seconds"] = 123.0  # another run of the same model on the same data
    (older / "report.json").write_text(json.dumps(report))
    os.utime(older / "report.json", (0, 0))  # written in 1970: the older one
    site = tmp_path / "site"
    assert main(["leaderboard", str(reports["vit_a"]), str(older), str(reports["lite0"]), "--out", str(site),
                 "--save-results", str(tmp_path / "results")]) == 0
    out, err = capsys.readouterr()
    assert "leaderboard site written to" in out and "(3 report(s))" in out
    assert "two reports of one model and data; kept the newest" in err and "1970-01-01" in err
    (board,) = json.loads((site / "leaderboard.json").read_text())["boards"]
    assert board["n_rows"] == 2 and len([n for n in board["notes"] if "two reports" in n]) == 1
    assert (tmp_path / "results" / "data" / "results" / "results.parquet").is_file()
    again = tmp_path / "again"
    assert main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(again)]) == 0  # the saved repo reads back
    assert json.loads((again / "leaderboard.json").read_text())["boards"][0]["n_rows"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["leaderboard", "{tmp}"], "--out SITE is required"),
        (["leaderboard", "--out", "{tmp}/site"], "give report folders and/or --results REPO"),
        (["leaderboard", "--serve", "{tmp}", "--out", "{tmp}/site"], "do not combine it with reports, --results or --out"),
        (["leaderboard", "{tmp}", "--out", "{tmp}/site"], "is not an evaluation report folder: no report.json"),
        (["leaderboard", "--serve", "{tmp}"], "is not a leaderboard site: no app.py"),
        (["leaderboard", "--results", "a/b/c", "--out", "{tmp}/site"], "not a Hub dataset id"),
        (["push-leaderboard", "{tmp}", "--repo", "owner/lb"], "cannot be pushed to owner/lb"),
        (["push-leaderboard", "{tmp}", "--repo", "nope"], "repo_id must look like 'owner/name'"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, capsys, argv, message):
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert rc == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "site").exists()  # nothing half-written


def test_serve_refuses_a_port_out_of_range(tmp_path):
    from ximagenet12.leaderboard.publish import serve

    with pytest.raises(ValueError, match="port must be between 1 and 65535, got 70000"):
        serve(tmp_path, port=70000)


def test_serve_without_gradio_says_which_extra_to_install(tmp_path, monkeypatch, capsys, reports):
    import sys

    site = tmp_path / "site"
    assert main(["leaderboard", str(reports["lite0"]), "--out", str(site)]) == 0
    monkeypatch.setitem(sys.modules, "gradio", None)  # as on a base install: `import gradio` fails
    assert main(["leaderboard", "--serve", str(site)]) == 1
    err = capsys.readouterr().err
    assert "install the extras: pip install 'ximagenet12[eval,leaderboard]'" in err and "Traceback" not in err
