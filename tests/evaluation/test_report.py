"""The report's robustness block goes through the metric's core and reads like the paper."""

from __future__ import annotations

import pytest

from ximagenet12.evaluation.report import _markdown, robustness_block, robustness_line, robustness_of


def test_robustness_block_is_the_table3_score_over_paper_level_scenarios():
    values = {"original": 0.9, "blur_background": 0.8, "image_grey": 0.6, "blur_background_level5": 0.1}
    block = robustness_block(values)
    # hand-computed: ((0.8-0.9)^2 + (0.6-0.9)^2) / (2 - 1) = 0.10; severity-level configs stay out
    assert block["scenarios"] == ["blur_background", "image_grey"]
    assert block["sigma2_e"] == pytest.approx(0.10) and block["s_robust"] == pytest.approx(0.90)
    assert block["internal_term"] == "absent" and "bg_gap" not in block


def test_robustness_block_reports_the_bg_gap_when_both_mixed_scenarios_ran():
    block = robustness_block({"original": 0.9, "mixed_same": 0.75, "mixed_rand": 0.5})
    assert block["bg_gap"] == pytest.approx(0.25)
    report = {"task": "segmentation", "metric": "iou", "model": "m", "data": "d", "classes": [], "scenarios": {},
              "robustness": block}
    assert "BG-Gap = iou(mixed_same) − iou(mixed_rand) = +0.2500" in _markdown(report)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"blur_background": 0.5}, "the 'original' config was not evaluated"),
        ({"original": 0.5}, "no scenario of set 'background' besides 'original' was evaluated"),
        ({"original": 0.5, "blur_object": 0.1, "no_fg": 0.0}, "no scenario of set 'background' besides"),
        ({"original": 0.5, "blur_background": 0.4}, "robustness_score: "),  # one scenario under n - 1
    ],
)
def test_robustness_block_says_why_it_has_no_score(values, reason):
    block = robustness_block(values)
    assert block["s_robust"] is None and block["reason"].startswith(reason)


def test_formula_takes_its_internal_term_from_the_classes_on_original_and_table3_does_not():
    values = {"original": 0.8, "blur_background": 0.6, "image_grey": 1.0}
    per_class = {"n01": 0.6, "n02": 1.0, "n03": None}  # n03 absent from the originals
    formula = robustness_block(values, config="formula", per_class_original=per_class)
    # printed formula: sigma = sqrt(sum (C - mu)^2 / n); both terms are sqrt((0.04 + 0.04) / 2) = 0.2
    assert formula["sigma_e"] == pytest.approx(0.2) and formula["sigma_i"] == pytest.approx(0.2)
    assert formula["s_robust"] == pytest.approx(0.6) and formula["internal"].startswith("per-class")
    table3 = robustness_block(values, config="table3", per_class_original=per_class)
    assert table3["internal_term"] == "absent" and table3["s_robust"] == pytest.approx(1 - 0.08)


def test_a_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import pandas as pd

    from ximagenet12.evaluation import report as R

    def broken_plot(report, path):
        path.write_bytes(b"half a png")
        raise OSError("No space left on device")

    monkeypatch.setattr(R, "_heatmap", broken_plot)
    result = SimpleNamespace(report={"model": "m", "scenarios": {}}, predictions=pd.DataFrame({"a": [1]}))
    with pytest.raises(OSError, match="No space left"):
        R.write_report(result, tmp_path / "r")
    # .cache holds the folder's manifest (issue 25), which lists no file that is not ours
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".cache", "predictions.parquet", "report.json"]


def test_configs_that_are_not_scenarios_do_not_move_the_score():
    plain = robustness_block({"original": 0.9, "blur_background": 0.8, "image_grey": 0.6})
    mixed = robustness_block({"original": 0.9, "blur_background": 0.8, "image_grey": 0.6, "my_line_photos": 0.1})
    assert mixed["s_robust"] == plain["s_robust"] and mixed["scenarios"] == ["blur_background", "image_grey"]
    assert mixed["not_scenarios"] == ["my_line_photos"]


def test_controls_stay_out_of_the_default_set_and_the_block_says_which_set_it_used():
    """Issue 26 point 6: failing on blur_object or no_fg is correct, so they do not move S."""
    values = {"original": 0.9, "blur_background": 0.8, "image_grey": 0.6, "blur_object": 0.1, "no_fg": 0.0}
    block = robustness_block(values)
    assert block["scenarios"] == ["blur_background", "image_grey"] and block["s_robust"] == pytest.approx(0.90)
    assert block["scenario_set"]["name"] == "background"
    assert block["scenario_set"]["excluded"] == ["blur_object", "no_fg"]
    assert "image_rainbow" in block["scenario_set"]["missing"]
    assert any("has 8 member(s) without samples" in w for w in block["warnings"])
    every = robustness_block(values, scenario_set="all")
    assert every["scenarios"] == ["blur_background", "image_grey", "blur_object", "no_fg"]
    assert every["s_robust"] < block["s_robust"] and every["scenario_set"]["name"] == "all"


def _entries(mu: float, n: int, k: int) -> dict:
    per_class = {f"c{i}": {"accuracy": mu, "n": n // k} for i in range(k)}
    return {c: {"accuracy": mu - d, "n": n, "per_class": per_class}
            for c, d in (("original", 0.0), ("blur_background", 0.0), ("image_grey", 0.0))}


def test_a_model_at_chance_gets_s_near_1_and_a_loud_flag_beside_it():
    """Issue 26 point 1: μ = 0 over 12 classes, S = 1 by construction, flagged in the block and line."""
    block = robustness_of(_entries(0.0, 120, 12), metric="accuracy")
    assert block["s_robust"] == 1.0 and block["mu"] == 0.0 and block["mu_above_chance"] is False
    assert block["chance"]["n_classes"] == 12 and block["chance"]["n"] == 120
    assert block["warnings"][0].startswith("NOT ABOVE CHANCE: μ = 0.0000 on 'original' (0/120)")
    line = robustness_line(block)
    assert line.startswith("S = 1.0000 (μ = 0.0000, NOT ABOVE CHANCE 1/12: p = 1; set 'background', 2 scenarios)")
    good = robustness_of(_entries(0.9, 120, 12), metric="accuracy")
    assert good["mu_above_chance"] is True and "above chance 1/12: p = " in robustness_line(good)
    iou = robustness_of({c: {**e, "iou": e["accuracy"]} for c, e in _entries(0.0, 120, 12).items()}, metric="iou")
    assert iou["chance"] is None and iou["warnings"][0].startswith("μ (iou on 'original') has no chance level")
    assert len(iou["warnings"]) == 2 and "member(s) without samples" in iou["warnings"][1]


def test_report_markdown_puts_mu_the_chance_test_and_the_set_beside_s():
    block = robustness_of(_entries(0.0, 120, 12), metric="accuracy")
    report = {"task": "segmentation", "metric": "accuracy", "model": "m", "data": "d", "classes": [],
              "scenarios": {}, "robustness": block}  # the robustness section is the same for both tasks
    md = _markdown(report)
    assert "> **Warning:** NOT ABOVE CHANCE: μ = 0.0000" in md
    assert "μ = accuracy on `original` = **0.0000**, scenario set `background`: 2 scenarios" in md
    assert "- μ against chance 1/12: one-sided exact binomial p = 1 (0/120 right; NOT above chance at level 0.05)" in md
