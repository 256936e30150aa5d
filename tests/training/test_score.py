"""``score``: S_robust from an external and an internal run, checked against a hand computation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ximagenet12.training.score import score_runs

CLASSES = [{"index": 0, "name": "red", "key": "n00000001"}, {"index": 1, "name": "blue", "key": "n00000003"}]


#: The external run's per-class accuracy on original (μ = 0.95 is their mean over 10 + 10 images).
PER_CLASS = {"n00000001": {"accuracy": 1.0, "n": 10}, "n00000003": {"accuracy": 0.9, "n": 10}}


def report_folder(root: Path, accuracies: dict[str, float], *, protocol: str | None, fingerprint: str = "sha256:aa",
                  classes=CLASSES, per_class=PER_CLASS, n: int = 40) -> Path:
    root.mkdir(parents=True)
    report = {"task": "classification", "model": "m", "data": "/data", "mode": "restricted", "classes": classes,
              "scenarios": {c: {"accuracy": a, "n": n, **({"per_class": per_class} if c == "original" else {})}
                            for c, a in accuracies.items()},
              "provenance": {"data": {"kind": "local", "fingerprint": fingerprint}, "model": {"resolved_commit": "x"}}}
    if protocol:
        report.update(protocol=protocol, method="linear-probe", n_folds=12)
    (root / "report.json").write_text(json.dumps(report))
    return root


EXTERNAL = {"original": 0.95, "blur_background": 0.9, "image_grey": 0.8, "image_r": 0.6, "only_fg": 0.3,
            "blur_background_level5": 0.1}
INTERNAL = {"original": 0.85, "blur_background": 0.8, "image_grey": 0.84, "image_r": 0.7, "no_fg": 0.5, "only_fg": 0.2}


@pytest.fixture
def runs(tmp_path):
    return (report_folder(tmp_path / "ex1", EXTERNAL, protocol=None),
            report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2"))


def test_both_configurations_match_a_hand_computation(runs, tmp_path):
    doc = score_runs(*runs, out=tmp_path / "score.json")
    # shared scenarios of the default set; original, severity levels and the controls left out, and said so
    assert doc["scenarios"] == ["blur_background", "image_grey", "image_r"]
    assert doc["scenario_set"]["name"] == "background" and doc["scenario_set"]["members"] == doc["scenarios"]
    assert doc["scenario_set"]["excluded"] == ["blur_background_level5", "no_fg", "only_fg"]
    assert doc["left_out"] == {"external_only": [], "internal_only": []}
    de = [(0.9 - 0.95) ** 2, (0.8 - 0.95) ** 2, (0.6 - 0.95) ** 2]
    di = [(0.8 - 0.85) ** 2, (0.84 - 0.85) ** 2, (0.7 - 0.85) ** 2]
    table3 = doc["scores"]["table3"]
    assert table3["sigma2_e"] == pytest.approx(sum(de) / 2)
    assert table3["sigma2_i"] == pytest.approx(sum(di) / 2)
    assert table3["s_robust"] == pytest.approx(1 - (sum(de) + sum(di)) / 2)
    assert table3["internal_term"] == "ex2 scenarios" and table3["internal_values"] == {
        "blur_background": 0.8, "image_grey": 0.84, "image_r": 0.7}
    assert table3["mu"] == 0.95 and table3["scenario_set"]["name"] == "background"
    # formula: standard deviations over n; its internal term is over object classes, the external
    # run's per-class accuracy on original around its μ = 0.95 (SPEC §6), not the ex2 scenarios
    formula = doc["scores"]["formula"]
    dc = [(1.0 - 0.95) ** 2, (0.9 - 0.95) ** 2]
    assert formula["sigma_i"] == pytest.approx(math.sqrt(sum(dc) / 2)) == pytest.approx(0.05)
    assert formula["s_robust"] == pytest.approx(1 - (math.sqrt(sum(de) / 3) + 0.05))
    assert formula["internal_term"] == "classes" and formula["internal_reference"] == 0.95 and formula["n_i"] == 2
    assert "per-class accuracy on original" in formula["internal_source"]
    assert doc["internal"]["reference"] == 0.85 and doc["external"]["reference"] == 0.95
    assert json.loads((tmp_path / "score.json").read_text()) == doc


def test_formula_over_the_ex2_scenarios_when_asked(runs):
    doc = score_runs(*runs, configs=["formula"], formula_internal="ex2")
    di = [(0.8 - 0.85) ** 2, (0.84 - 0.85) ** 2, (0.7 - 0.85) ** 2]
    assert doc["scores"]["formula"]["sigma_i"] == pytest.approx(math.sqrt(sum(di) / 3))
    assert doc["scores"]["formula"]["internal_term"] == "ex2 scenarios"
    with pytest.raises(ValueError, match="unknown formula internal term 'both'; expected classes, ex2"):
        score_runs(*runs, formula_internal="both")


def test_formula_over_classes_needs_two_classes_with_images(tmp_path):
    ex1 = report_folder(tmp_path / "ex1", EXTERNAL, protocol=None,
                        per_class={"n00000001": {"accuracy": 1.0, "n": 10}, "n00000003": {"accuracy": None, "n": 0}})
    ex2 = report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2")
    with pytest.raises(ValueError, match="per-class accuracy on 'original' for 1 class\\(es\\): formula's internal"):
        score_runs(ex1, ex2, configs=["formula"])
    assert score_runs(ex1, ex2, configs=["table3"])["scores"]["table3"]["n_i"] == 3  # table3 does not need them


def test_the_printed_summary_names_each_internal_term(runs, tmp_path, capsys):
    from ximagenet12.cli import main

    assert main(["score", str(runs[0]), str(runs[1])]) == 0
    out = capsys.readouterr().out
    table3, formula = (next(x for x in out.splitlines() if x.startswith(n)) for n in ("table3", "formula"))
    assert table3.endswith("ex2 scenarios (n=3, around 0.8500)") and table3.split()[1] == "0.9500"  # μ beside S
    assert formula.endswith("classes (n=2, around 0.9500)")
    assert "formula: external run: per-class accuracy on original around its μ" in out


def test_one_configuration_only(runs):
    assert list(score_runs(*runs, configs=["table3"])["scores"]) == ["table3"]
    with pytest.raises(ValueError, match="unknown score configuration"):
        score_runs(*runs, configs=["paper"])


def test_runs_over_different_datasets_are_refused(tmp_path):
    ex1 = report_folder(tmp_path / "ex1", EXTERNAL, protocol=None, fingerprint="sha256:aa")
    ex2 = report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2", fingerprint="sha256:bb")
    with pytest.raises(ValueError, match="the runs are over different datasets: 'sha256:aa'"):
        score_runs(ex1, ex2)


def test_runs_over_different_class_lists_are_refused(tmp_path):
    ex1 = report_folder(tmp_path / "ex1", EXTERNAL, protocol=None)
    ex2 = report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2", classes=CLASSES[:1])
    with pytest.raises(ValueError, match="the runs have different class lists"):
        score_runs(ex1, ex2)


def test_the_runs_must_be_external_then_ex2(runs):
    ex1, ex2 = runs
    with pytest.raises(ValueError, match="is an ex2 run: the first folder must be an ex1 run or an evaluate report"):
        score_runs(ex2, ex2)
    with pytest.raises(ValueError, match="is not an ex2 run \\(protocol 'evaluate'\\)"):
        score_runs(ex1, ex1)
    with pytest.raises(FileNotFoundError, match="no report.json"):
        score_runs(ex1, ex1.parent / "missing")


def test_runs_without_shared_scenarios_are_refused(tmp_path):
    ex1 = report_folder(tmp_path / "ex1", {"original": 0.9, "image_grey": 0.8}, protocol=None)
    ex2 = report_folder(tmp_path / "ex2", {"original": 0.9, "no_fg": 0.8}, protocol="ex2")
    with pytest.raises(ValueError, match="the runs share no scenario of set 'background' besides 'original'"):
        score_runs(ex1, ex2)


def test_the_scenario_set_can_be_named_and_is_printed(runs, capsys):
    from ximagenet12.cli import main

    doc = score_runs(*runs, scenario_set="all")
    assert doc["scenarios"] == ["blur_background", "image_grey", "image_r", "only_fg"]
    assert doc["scenario_set"]["name"] == "all"
    assert doc["scores"]["table3"]["s_robust"] < score_runs(*runs)["scores"]["table3"]["s_robust"]
    assert main(["score", str(runs[0]), str(runs[1]), "--scenario-set", "table3"]) == 0
    out = capsys.readouterr().out
    assert "scenario set: 'table3'" in out and "WARNING: scenario set 'table3' has 5 member(s) without samples" in out
    with pytest.raises(SystemExit):
        main(["score", str(runs[0]), str(runs[1]), "--scenario-set", "paper"])
    assert "invalid choice: 'paper'" in capsys.readouterr().err


def test_a_run_at_chance_is_flagged_beside_every_score(tmp_path, capsys):
    """Issue 26 point 1: 1 of 20 right over 2 classes: μ = 0.05, far below chance 1/2."""
    low = {"n00000001": {"accuracy": 0.0, "n": 10}, "n00000003": {"accuracy": 0.1, "n": 10}}
    ex1 = report_folder(tmp_path / "ex1", {"original": 0.05, "blur_background": 0.05, "image_grey": 0.05},
                        protocol=None, per_class=low)
    for c in ("original",):  # n = 20 images behind μ
        report = json.loads((ex1 / "report.json").read_text())
        report["scenarios"][c]["n"] = 20
        (ex1 / "report.json").write_text(json.dumps(report))
    ex2 = report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2")
    doc = score_runs(ex1, ex2)
    assert doc["chance"]["external"]["mu_above_chance"] is False and doc["chance"]["internal"] is not None
    assert doc["scores"]["table3"]["mu_above_chance"] is False
    assert doc["warnings"][0].startswith("external run: NOT ABOVE CHANCE: μ = 0.0500 on 'original' (1/20)")
    from ximagenet12.training.score import format_score

    text = format_score(doc)
    assert [line for line in text.splitlines() if line.startswith("table3")][0].endswith("NOT ABOVE CHANCE")
    assert "WARNING: external run: NOT ABOVE CHANCE" in text


def test_an_ex2_run_at_chance_flags_the_score_that_takes_its_internal_term(tmp_path):
    """μ' = 0.85 of 10 images over 2 classes (8 right) is not significantly above 1/2 (p = 0.055)."""
    ex1 = report_folder(tmp_path / "ex1", EXTERNAL, protocol=None)
    ex2 = report_folder(tmp_path / "ex2", INTERNAL, protocol="ex2", n=10)
    doc = score_runs(ex1, ex2)
    assert doc["chance"]["external"]["mu_above_chance"] is True
    assert doc["chance"]["internal"]["mu_above_chance"] is False
    assert doc["chance"]["internal"]["p_value"] == pytest.approx(56 / 1024)  # P(X >= 8), X ~ Binomial(10, 1/2)
    assert doc["scores"]["table3"]["mu_above_chance"] is False  # its internal term is the ex2 run's
    assert doc["scores"]["formula"]["mu_above_chance"] is True  # classes of the external run
    assert doc["warnings"][0].startswith("internal run: NOT ABOVE CHANCE: μ = 0.8000 on 'original' (8/10)")
