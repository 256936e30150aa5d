"""Analysis: OLS with known effects is recovered; ANOVA; CLI over report folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ximagenet12.cli import main
from ximagenet12.evaluation.analysis import analyze_reports, check_comparable, collect_accuracies, fit_analysis, stars

SCENARIOS = ["original", "blur_background", "image_grey", "random_background"]
SCENARIO_EFFECT = {"original": 0.0, "blur_background": -0.05, "image_grey": -0.10, "random_background": -0.40}
CLASSES = ["n01", "n02", "n03", "n04"]
CLASS_EFFECT = {"n01": 0.0, "n02": 0.02, "n03": -0.03, "n04": 0.05}
MODEL_EFFECT = {"resnet": 0.0, "vit": 0.04}
BASE = 0.9


def _report(model, rng, noise):
    scen = {}
    for s in SCENARIOS:
        per = {}
        for c in CLASSES:
            v = BASE + MODEL_EFFECT[model] + SCENARIO_EFFECT[s] + CLASS_EFFECT[c] + rng.normal(0, noise)
            per[c] = {"accuracy": v, "n": 50}
        scen[s] = {"accuracy": None, "n": 200, "per_class": per}
    return {"model": model, "metric": "accuracy", "scenarios": scen, "classes": [{"key": c} for c in CLASSES],
            "dataset": {"fingerprint": {"kind": "parquet_files", "value": "ab" * 32}}}


def test_known_effects_are_recovered():
    rng = np.random.default_rng(0)
    reports = [_report(m, rng, 0.005) for m in MODEL_EFFECT]
    frame, metric = collect_accuracies(reports)
    assert metric == "accuracy" and len(frame) == 2 * 4 * 4
    result = fit_analysis(frame, metric=metric)
    result_df = len(frame) - len(result.coefficients)
    coef = result.coefficients.set_index(["term", "level"])
    assert coef.loc[("Intercept", ""), "estimate"] == pytest.approx(BASE, abs=0.01)
    assert coef.loc[("model", "vit"), "estimate"] == pytest.approx(0.04, abs=0.01)
    for s in SCENARIOS[1:]:
        row = coef.loc[("scenario", s)]
        assert row["estimate"] == pytest.approx(SCENARIO_EFFECT[s], abs=0.01)
        half = stats.t.ppf(0.975, result_df) * row["std_error"]  # 95 % CI = estimate ± t·SE
        assert row["ci_high"] - row["estimate"] == pytest.approx(half)
        assert row["estimate"] - row["ci_low"] == pytest.approx(half)
    for c in CLASSES[1:]:
        assert coef.loc[("class", c), "estimate"] == pytest.approx(CLASS_EFFECT[c], abs=0.01)
    assert coef.loc[("scenario", "random_background"), "stars"] == "***"
    anova = result.anova.set_index("source")
    assert set(anova.index) == {"model", "scenario", "class", "Residual"}
    assert anova.loc["scenario", "df"] == 3 and anova.loc["class", "df"] == 3 and anova.loc["model", "df"] == 1
    assert anova.loc["scenario", "mean_sq"] == pytest.approx(anova.loc["scenario", "sum_sq"] / 3)
    assert anova.loc["scenario", "p_value"] < 1e-6


def test_stars():
    assert [stars(p) for p in (0.0001, 0.005, 0.03, 0.07, 0.5, None)] == ["***", "**", "*", ".", "", ""]


def test_cli_analyze_writes_csv_and_markdown(tmp_path, capsys):
    rng = np.random.default_rng(1)
    folders = []
    for m in MODEL_EFFECT:
        d = tmp_path / m
        d.mkdir()
        (d / "report.json").write_text(json.dumps(_report(m, rng, 0.01)))
        folders.append(str(d))
    out = tmp_path / "analysis"
    assert main(["analyze", *folders, "--out", str(out)]) == 0
    for name in ("coefficients.csv", "anova.csv", "coefficients.md", "anova.md", "analysis.md", "observations.csv"):
        assert (out / name).is_file(), name
    coef = pd.read_csv(out / "coefficients.csv")
    assert list(coef.columns) == ["term", "level", "estimate", "std_error", "ci_low", "ci_high", "t", "p_value", "stars"]
    anova = pd.read_csv(out / "anova.csv")
    assert list(anova.columns) == ["source", "sum_sq", "df", "mean_sq", "F", "p_value", "stars"]
    assert "| scenario | random_background |" in (out / "coefficients.md").read_text()
    assert "C(scenario, Treatment('original'))" in capsys.readouterr().out


def test_analyze_bad_input(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope"), "--out", str(tmp_path / "a")]) == 1
    assert "is not an evaluation report folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="measure different things"):
        collect_accuracies([{"metric": "accuracy", "scenarios": {}}, {"metric": "iou", "scenarios": {}}])
    one = {"model": "m", "metric": "accuracy", "scenarios": {"original": {"per_class": {"a": {"accuracy": 1.0, "n": 1}}}}}
    frame, _ = collect_accuracies([one])
    with pytest.raises(ValueError, match="nothing to fit"):
        fit_analysis(frame)


def _write(folder, report):
    folder.mkdir(parents=True)
    (folder / "report.json").write_text(json.dumps(report))
    return folder


def test_reports_over_different_datasets_are_refused(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a = _report("resnet", rng, 0.01)
    b = _report("vit", rng, 0.01)
    b["dataset"]["fingerprint"]["value"] = "cd" * 32
    folders = [str(_write(tmp_path / "a", a)), str(_write(tmp_path / "b", b))]
    assert main(["analyze", *folders, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "the reports evaluated different datasets" in err and "parquet_files abababababab" in err
    assert not (tmp_path / "out").exists()


def test_reports_over_different_class_sets_are_refused():
    rng = np.random.default_rng(3)
    a, b = _report("resnet", rng, 0.01), _report("vit", rng, 0.01)
    b["classes"] = b["classes"][:3]
    with pytest.raises(ValueError, match=r"different class sets \(a: 4 classes; b: 3 classes\)"):
        check_comparable([a, b], names=["a", "b"])


def test_a_folder_and_a_hub_revision_cannot_be_compared_and_say_so():
    rng = np.random.default_rng(6)
    a, b = _report("resnet", rng, 0.01), _report("vit", rng, 0.01)
    b["dataset"]["fingerprint"] = {"kind": "hub_revision", "value": "a7622f7f30683d3f9b2bdd8f8cdff19c2bf78e4c"}
    assert check_comparable([a, b], names=["a", "b"]) == [
        "the reports identify their data in different ways (hub_revision, parquet_files): "
        "cannot check they used the same data"
    ]


def test_reports_without_a_fingerprint_are_analysed_with_a_warning():
    rng = np.random.default_rng(4)
    a, b = _report("resnet", rng, 0.01), _report("vit", rng, 0.01)
    del b["dataset"]
    assert check_comparable([a, b], names=["a", "b"]) == [
        "report over b records no dataset fingerprint: cannot check it used the same data"
    ]


def test_a_constant_response_is_fitted_with_a_loud_warning(tmp_path):
    rng = np.random.default_rng(5)
    reports = [_report(m, rng, 0.0) for m in MODEL_EFFECT]
    for r in reports:
        for entry in r["scenarios"].values():
            for cell in entry["per_class"].values():
                cell["accuracy"] = 1.0
    folders = [_write(tmp_path / m, r) for m, r in zip(MODEL_EFFECT, reports)]
    with pytest.warns(UserWarning, match="every .* accuracy is 1: the response is constant"):
        result = analyze_reports(folders, tmp_path / "out")
    assert result.warnings and "carry no information" in result.warnings[0]
    assert "**Warning:** every (model, scenario, class) accuracy is 1" in (tmp_path / "out" / "analysis.md").read_text()


def _with_robustness(report: dict, *, scenario_set: str | None = None) -> dict:
    from ximagenet12.evaluation.report import robustness_of

    scen = {s: {**e, "accuracy": float(np.mean([c["accuracy"] for c in e["per_class"].values()]))}
            for s, e in report["scenarios"].items()}
    return {**report, "scenarios": scen, "robustness": robustness_of(scen, metric="accuracy", scenario_set=scenario_set)}


def test_analyze_flags_a_model_at_chance_and_s_robust_over_different_sets(tmp_path):
    """Issue 26: analyze names a report whose μ is not above chance, and scores over different sets."""
    rng = np.random.default_rng(9)
    good = _with_robustness(_report("resnet", rng, 0.005))
    broken = _report("vit", rng, 0.0)
    for entry in broken["scenarios"].values():
        for cell in entry["per_class"].values():
            cell["accuracy"] = 0.0
    broken = _with_robustness(broken, scenario_set="all")
    assert broken["robustness"]["s_robust"] == 1.0 and broken["robustness"]["mu_above_chance"] is False
    folders = [_write(tmp_path / "good", good), _write(tmp_path / "broken", broken)]
    with pytest.warns(UserWarning, match="NOT ABOVE CHANCE"):
        result = analyze_reports(folders, tmp_path / "out")
    chance = [w for w in result.warnings if "NOT ABOVE CHANCE" in w]
    assert len(chance) == 1 and chance[0].startswith(f"{tmp_path / 'broken'}: NOT ABOVE CHANCE: μ = 0.0000")
    (sets,) = [w for w in result.warnings if "different scenario sets" in w]
    assert "'background' (3 scenario(s)" in sets and "'all' (3 scenario(s)" in sets
    assert sets.endswith("their S_robust values are not comparable")
    assert "**Warning:** " + chance[0] in (tmp_path / "out" / "analysis.md").read_text()


def _moded(model, mode, rng):
    """A classification report with both modes recorded, headlined in ``mode``."""
    report = _report(model, rng, 0.005)
    for entry in report["scenarios"].values():
        strict = {k: {**c, "accuracy": c["accuracy"] - 0.3} for k, c in entry["per_class"].items()}
        entry["modes"] = {"restricted": {"per_class": entry["per_class"]}, "strict": {"per_class": strict}}
        if mode == "strict":
            entry["per_class"] = strict
    report["mode"] = mode
    report["classes"] = [{"key": c, "name": f"class {c}"} for c in CLASSES]
    return report


def test_reports_in_different_scoring_modes_are_refused_or_read_in_one_mode(tmp_path, capsys):
    rng = np.random.default_rng(3)
    strict = _write(tmp_path / "strict", _moded("vit", "strict", rng))
    restricted = _write(tmp_path / "restricted", _moded("vit", "restricted", rng))
    assert main(["analyze", str(strict), str(restricted), "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "the reports are scored in different modes" in err and "pass --mode strict or --mode restricted" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["analyze", str(strict), str(restricted), "--out", str(tmp_path / "b"), "--mode", "restricted"]) == 0
    out = capsys.readouterr().out
    assert "observations of accuracy, restricted scoring" in out
    coef = pd.read_csv(tmp_path / "b" / "coefficients.csv").set_index(["term", "level"])
    # the same model in the same mode twice: no model effect (the 0.3 strict gap is not a model effect)
    assert abs(coef.loc[("model", "vit [1]"), "estimate"]) < 0.01
    with pytest.raises(ValueError, match=r"unknown scoring mode 'top5'; expected strict or restricted"):
        analyze_reports([strict], tmp_path / "c", mode="top5")
    explain = {**_report("vit", rng, 0.01), "metric": "object_focus", "mode": "restricted"}
    with pytest.raises(ValueError, match=r"report .* has no strict values \(it was scored in 'restricted' only\)"):
        analyze_reports([_write(tmp_path / "explain", explain)], tmp_path / "d", mode="strict")


def test_the_real_baselines_are_named_and_numbers_print_plainly(tmp_path, capsys):
    rng = np.random.default_rng(4)
    report = _moded("vit", "restricted", rng)
    del report["scenarios"]["original"]  # e.g. an explain run over some scenarios only
    folder = _write(tmp_path / "r", report)
    assert main(["analyze", str(folder), "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "baselines (each estimate is a difference from): scenario `blur_background`, class `class n01 (n01)`" in out
    assert "class n02 (n02)" in out and "e-" not in out  # names, not keys alone; no 6.939e-17
    md = (tmp_path / "a" / "analysis.md").read_text()
    assert "Each estimate is the difference from its factor's baseline: scenario `blur_background`, class `class n01 (n01)`." in md
    assert "baseline scenario `original`" not in md


def test_round_off_prints_as_zero_and_tiny_p_values_as_a_bound():
    from ximagenet12.evaluation.analysis import format_number

    assert format_number(6.938893903907228e-17, "estimate") == "0.0000"
    assert format_number(-1e-9, "estimate") == "0.0000"
    assert format_number(3.2e-12, "p_value") == "<0.0001"
    assert format_number(0.04, "p_value") == "0.0400" and format_number(float("nan")) == "" and format_number(3) == "3"
