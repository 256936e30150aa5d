"""`ximagenet12 push` and `push-metric` on the command line."""

from __future__ import annotations

import pytest

from ximagenet12.cli import main

CLI = """
import sys
from ximagenet12.cli import main
raise SystemExit(main({argv!r}))
"""


def test_check_only_reports_a_valid_folder(built_folder, capsys):
    assert main(["push", str(built_folder), "--repo", "owner/x", "--check-only"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 error(s), 0 warning(s)")


def test_check_only_lists_every_problem(built_folder, folders, capsys):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["task_categories"] = ["robustness"]
    meta.pop("pretty_name")
    folders.write_card(built_folder, meta)
    assert main(["push", str(built_folder), "--repo", "owner/x", "--check-only"]) == 1
    out = capsys.readouterr().out
    assert "error: README.md task_categories: 'robustness' is not a task category the Hub knows" in out
    assert "warning: README.md pretty_name: missing" in out
    assert out.strip().endswith("1 error(s), 1 warning(s)")


def test_invalid_folder_is_one_error_line(built_folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (built_folder / "README.md").unlink()
    assert main(["push", str(built_folder), "--repo", "owner/x", "--token", "hf_cli_secret"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ximagenet12 push: error: ") and "README.md: missing" in err
    assert "hf_cli_secret" not in err


def test_push_missing_repo_option_is_a_usage_error(built_folder, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["push", str(built_folder)])
    assert exc.value.code == 2
    assert "--repo" in capsys.readouterr().err


def test_cli_push_fails_then_resumes(built_folder, hub, run_client):
    secret = "hf_cliTOKENsecret987654321"
    argv = ["push", str(built_folder), "--repo", "owner/ximagenet12", "--token", secret, "--commit-batch-size", "2"]
    hub.fail_commits = {1}
    proc = run_client(CLI.format(argv=argv), token=None, check=False)
    assert proc.returncode == 1
    assert "ximagenet12 push: error: push of" in proc.stderr and "run the same push again" in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    proc = run_client(CLI.format(argv=argv), token=None)
    assert "5 file(s) uploaded in 3 commit(s), 0 already there (revision main)" in proc.stdout
    assert "commit 3/3: 1 file(s)" in proc.stderr  # progress goes to stderr
    assert secret not in proc.stdout + proc.stderr


def test_cli_push_to_an_unreachable_hub(built_folder, hub, run_client):
    hub.stop()  # the endpoint now refuses connections
    proc = run_client(CLI.format(argv=["push", str(built_folder), "--repo", "owner/x"]), check=False)
    assert proc.returncode == 1
    assert "ximagenet12 push: error: push of" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_push_metric(tmp_path, hub, run_client):
    folder = tmp_path / "robustness_score"
    folder.mkdir()
    for name in ("robustness_score.py", "app.py", "requirements.txt"):
        (folder / name).write_text("\n")
    (folder / "README.md").write_text("---\nsdk: gradio\napp_file: app.py\n---\n")
    argv = ["push-metric", "--repo", "owner/robustness_score", "--source", str(folder)]
    proc = run_client(CLI.format(argv=argv))
    assert "/spaces/owner/robustness_score: 4 file(s) uploaded, 0 already there" in proc.stdout
    proc = run_client(CLI.format(argv=argv))
    assert "0 file(s) uploaded, 4 already there" in proc.stdout
