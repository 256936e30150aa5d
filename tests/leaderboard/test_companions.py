"""Challenge and explain reports of an evaluated model fill its worst-case and object-focus columns."""

from __future__ import annotations

import json

import pytest

from ximagenet12.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def companions(reports, tmp_path_factory):
    """A real `challenge` run and a real `explain` run of the tiny ViT behind reports["vit_a"]."""
    from ximagenet12.challenge.run import run_challenge
    from ximagenet12.explain.report import write_explain_report
    from ximagenet12.explain.runner import explain_classification

    root = tmp_path_factory.mktemp("companions")
    model = json.loads((reports["vit_a"] / "report.json").read_text())["model"]
    run_challenge(model, reports["data"], root / "challenge", candidates=2, device="cpu", progress=False)
    result = explain_classification(model, reports["data"], scenarios="original,blur_background", method="rollout",
                                    device="cpu", num_workers=0, progress=False, n_bootstrap=50)
    write_explain_report(result, root / "explain")
    return root / "challenge", root / "explain"


def test_companion_reports_fill_their_columns_and_figures(companions, reports, tmp_path, capsys):
    challenge, explain = companions
    site = tmp_path / "site"
    assert main(["leaderboard", str(reports["vit_a"]), str(reports["lite0"]), str(challenge), str(explain),
                 "--out", str(site)]) == 0
    (board,) = json.loads((site / "leaderboard.json").read_text())["boards"]
    import pandas as pd

    frame = pd.read_parquet(site / board["table"]).set_index("model")
    vit = json.loads((reports["vit_a"] / "report.json").read_text())["model"]
    expected_worst = json.loads((challenge / "report.json").read_text())["worst_case_accuracy"]
    expected_focus = json.loads((explain / "report.json").read_text())["scenarios"]["original"]["object_focus"]
    assert frame.loc[vit, "worst_bg"] == pytest.approx(expected_worst)
    assert frame.loc[vit, "object_focus"] == pytest.approx(expected_focus)
    assert pd.isna(frame.loc["efficientnet-lite0", "worst_bg"])  # no challenge run for it: missing, not 0
    figures = board["figures"][frame.loc[vit, "report_id"]]
    assert {"challenge/curve.png", "explain/overlays.png", "explain/focus.png"} <= set(figures)


def test_a_companion_without_its_evaluation_is_one_clear_error(companions, reports, tmp_path, capsys):
    challenge, _ = companions
    assert main(["leaderboard", str(reports["lite0"]), str(challenge), "--out", str(tmp_path / "site")]) == 1
    err = capsys.readouterr().err
    assert "has no evaluation report of model" in err and "give its `ximagenet12 evaluate` folder too" in err
