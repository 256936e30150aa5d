"""The ``evaluate`` module folder: real ``evaluate.load`` offline, both configs, card, layout."""

from __future__ import annotations

import ast
import doctest
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

evaluate = pytest.importorskip("evaluate")

from ximagenet12.hub.validate import read_card_metadata  # noqa: E402
from ximagenet12.metrics import METRICS, load_metric, metric_path  # noqa: E402
from ximagenet12.metrics.robustness_score.functional import (  # noqa: E402
    robustness_score,
    robustness_score_from_samples,
)

FOLDER = Path(__file__).resolve().parents[2] / "metrics" / "robustness_score"
SCRIPT = FOLDER / "robustness_score.py"
TABLE3_SCENARIOS = [
    "blur_background", "blur_object", "image_g", "image_b",
    "image_grey", "image_r", "random_background", "segmented_image",
]  # fmt: skip
RESNET50 = {
    "external": dict(zip(TABLE3_SCENARIOS, [0.9097, 0.8817, 0.8442, 0.8698, 0.9213, 0.8903, 0.2241, 0.6855])),
    "external_reference": 0.9524,
    "internal": dict(zip(TABLE3_SCENARIOS, [0.8352, 0.8024, 0.8361, 0.8445, 0.8471, 0.8040, 0.5391, 0.8576])),
    "internal_reference": 0.8029,
}
SAMPLES = {
    "predictions": [0, 1, 2, 2, 0, 1, 1, 2, 0, 1, 1, 1],
    "references": [0, 1, 2, 2, 0, 1, 2, 2, 0, 1, 1, 2],
    "scenarios": ["original"] * 4 + ["blur_background"] * 4 + ["mixed_same"] * 2 + ["mixed_rand"] * 2,
}


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """evaluate with its modules cache and metric cache in a temporary folder, Hub off."""
    root = tmp_path_factory.mktemp("evaluate")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_EVALUATE_OFFLINE", "1")
        mp.setattr(evaluate.config, "HF_MODULES_CACHE", root / "modules")
        yield root


@pytest.fixture(scope="module")
def table3(offline):
    return evaluate.load(str(FOLDER), cache_dir=str(offline / "metrics"))


@pytest.fixture(scope="module")
def formula(offline):
    return evaluate.load(str(FOLDER), "formula", cache_dir=str(offline / "metrics"))


def test_load_copies_script_and_sibling_into_the_temporary_modules_cache(table3, offline):
    module = sys.modules[type(table3).__module__]
    copied = Path(module.__file__).parent
    assert copied.is_relative_to(offline / "modules")
    assert sorted(p.name for p in copied.glob("*.py")) == ["__init__.py", "functional.py", "robustness_score.py"]
    assert table3.config_name == "default" and table3.robustness_config == "table3"


def test_table3_config_reproduces_the_paper_through_evaluate(table3):
    result = table3.compute(**RESNET50)
    assert result == robustness_score(**RESNET50, config="table3")
    assert result["sigma2_e"] == pytest.approx(0.0902, abs=2e-4)
    assert result["sigma2_i"] == pytest.approx(0.0112, abs=2e-4)
    assert result["s_robust"] == pytest.approx(0.8985, abs=2e-4)


def test_formula_config_through_evaluate(formula):
    assert formula.compute(**RESNET50) == robustness_score(**RESNET50, config="formula")
    assert formula.compute(**SAMPLES, classes="references") == robustness_score_from_samples(
        **SAMPLES, classes="references", config="formula"
    )


@pytest.mark.parametrize("labels", ["int", "str"])
def test_per_sample_compute_equals_the_functional_core(table3, labels):
    data = dict(SAMPLES)
    if labels == "str":
        data["predictions"] = [f"c{p}" for p in data["predictions"]]
        data["references"] = [f"c{r}" for r in data["references"]]
    options = {"classes": "references", "n_bootstrap": 50, "seed": 1, "scenario_set": "all",
               "source_ids": [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 1, 2]}
    assert table3.compute(**data, **options) == robustness_score_from_samples(**data, **options)
    result = table3.compute(**data, scenario_set="all")
    assert result["bg_gap"] == pytest.approx(1.0 - 0.5)
    assert result["mu"] == 1.0 and result["accuracy"]["blur_background"] == 0.75


def test_add_batch_then_compute_with_overrides(table3):
    for start in range(0, 12, 4):
        table3.add_batch(**{k: v[start : start + 4] for k, v in SAMPLES.items()})
    assert table3.compute(ddof=0, dispersion="std") == robustness_score_from_samples(
        **SAMPLES, ddof=0, dispersion="std"
    )


def test_compute_errors_name_the_problem(table3, offline):
    with pytest.raises(ValueError, match="nothing to score: give predictions"):
        table3.compute()
    with pytest.raises(ValueError, match="external accuracies need external_reference"):
        table3.compute(external=RESNET50["external"])
    with pytest.raises(ValueError, match="classes, scenario_names, source_ids and n_bootstrap need the per-sample form"):
        table3.compute(external=RESNET50["external"], external_reference=0.9, n_bootstrap=10)
    with pytest.raises(ValueError, match="either per-sample inputs .* or external accuracies, not both"):
        table3.compute(**SAMPLES, external=RESNET50["external"], external_reference=0.9)
    with pytest.raises(ValueError, match="no 'original' samples"):
        table3.compute(predictions=[0, 1], references=[0, 1], scenarios=["blur_background", "image_grey"])
    with pytest.raises(ValueError, match="external.* = 1.5 is outside"):
        table3.compute(external={"blur_background": 1.5, "image_grey": 0.5}, external_reference=0.9)
    with pytest.raises(ValueError, match="unknown robustness_score config 'paper'; known configs: table3, formula"):
        evaluate.load(str(FOLDER), "paper", cache_dir=str(offline / "metrics"))


def test_unknown_scenario_names_need_the_explicit_opt_in(table3):
    with pytest.raises(ValueError, match=r"unknown external scenario name\(s\) 'typo_blur'.*custom_scenarios=True"):
        table3.compute(external={"typo_blur": 0.5, "image_grey": 0.7}, external_reference=0.9)
    with pytest.raises(ValueError, match=r"unknown scenario name\(s\) 'typo_blur'"):
        table3.compute(predictions=[1, 1, 0], references=[1, 1, 1], scenarios=["original", "typo_blur", "image_grey"])
    r = table3.compute(predictions=[1, 1, 0, 1, 1, 1], references=[1] * 6,
                       scenarios=["original", "original", "fog", "fog", "rain", "rain"],
                       custom_scenarios=True)
    assert r["accuracy"]["fog"] == 0.5


def test_doctest_examples_of_the_inputs_description(table3, formula):
    text = table3.info.inputs_description
    test = doctest.DocTestParser().get_doctest(
        text, {"evaluate": evaluate, "metric": table3, "formula": formula}, "robustness_score inputs", None, 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert len(test.examples) >= 8


def test_load_metric_helper(offline):
    assert METRICS == ("robustness_score",)
    assert metric_path() == FOLDER or metric_path().samefile(FOLDER)
    metric = load_metric(cache_dir=str(offline / "metrics"))
    assert metric.robustness_config == "table3"
    assert metric.compute(**RESNET50)["s_robust"] == pytest.approx(0.8985, abs=2e-4)
    assert load_metric("formula", cache_dir=str(offline / "metrics")).robustness_config == "formula"
    with pytest.raises(ValueError, match="unknown metric 'accuracy'; ximagenet12 ships robustness_score"):
        metric_path("accuracy")


@pytest.mark.slow
def test_load_metric_in_a_fresh_offline_process(tmp_path):
    """HF_MODULES_CACHE set before evaluate is imported: nothing is written elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_OFFLINE="1", HF_EVALUATE_OFFLINE="1", HF_HOME=str(tmp_path / "home"),
               HF_MODULES_CACHE=str(tmp_path / "modules"))  # fmt: skip
    code = f"""
        import json
        from ximagenet12.metrics import load_metric
        metric = load_metric("table3", cache_dir={str(tmp_path / "cache")!r})
        print("RESULT " + json.dumps(metric.compute(**{RESNET50!r})))
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["s_robust"] == pytest.approx(0.8985, abs=2e-4)
    assert list((tmp_path / "modules" / "evaluate_modules" / "metrics").iterdir())


# --------------------------------------------------------------------------- layout
def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) for every import statement in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_script_is_self_contained():
    allowed = {"datasets", "evaluate", "numpy"} | set(sys.stdlib_module_names)
    for level, module in _imports(SCRIPT):
        if level:
            assert (level, module) == (1, "functional"), module
        else:
            assert module.split(".")[0] in allowed, module
    for level, module in _imports(FOLDER / "functional.py"):
        assert level == 0 and module.split(".")[0] in {"numpy", "__future__"} | set(sys.stdlib_module_names), module


def test_evaluate_sees_one_import_per_line():
    """evaluate scans the script line by line: it must find every dependency and the sibling."""
    from evaluate.loading import get_imports

    found = {(kind, name) for kind, name, _, _ in get_imports(str(SCRIPT))}
    assert found == {("library", "datasets"), ("library", "evaluate"), ("internal", "functional")}
    source = SCRIPT.read_text(encoding="utf-8")
    assert "ximagenet12" not in "\n".join(line for line in source.splitlines() if "import" in line)


def test_folder_holds_what_an_evaluate_space_needs():
    for name in ("robustness_score.py", "functional.py", "README.md", "app.py", "requirements.txt", "__init__.py"):
        assert (FOLDER / name).is_file(), name
    requirements = (FOLDER / "requirements.txt").read_text().split()
    assert {r.split(">")[0].split("=")[0] for r in requirements} >= {"evaluate", "numpy"}
    app = (FOLDER / "app.py").read_text()
    assert "import evaluate" in app and "from evaluate.utils import launch_gradio_widget" in app
    assert "launch_gradio_widget(module)" in app and "robustness_score.py" in app


def test_card_front_matter_and_sections():
    meta = read_card_metadata(FOLDER / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert {"evaluate", "metric"} <= set(meta["tags"])
    assert meta["title"] and meta["description"]
    text = (FOLDER / "README.md").read_text(encoding="utf-8")
    for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values",
                    "### Values from the Paper", "### Examples", "## Limitations and Bias", "## Citation"):  # fmt: skip
        assert section in text, section
    assert "arXiv:2310.08182" in text and "`table3` (**default**)" in text


def test_card_paper_table_matches_the_metric():
    """The metric's own numbers printed in the card are what the core computes."""
    text = (FOLDER / "README.md").read_text(encoding="utf-8")
    r = robustness_score(**RESNET50)
    assert f"| ResNet50 | 0.0902 | 0.0112 | 0.8985 | {r['sigma2_e']:.6f} | {r['sigma2_i']:.6f} | {r['s_robust']:.6f} |" in text
    f = robustness_score(**RESNET50, config="formula")
    assert f"S = {f['s_robust']:.4f} (ResNet50)" in text


def test_compute_flags_mu_at_chance_and_names_the_scenario_set(table3):
    """Issue 26: every result says whether μ is above chance and which scenarios S is over."""
    wrong = {"predictions": [1, 2, 0] * 4, "references": [0, 1, 2] * 4,
             "scenarios": ["original"] * 6 + ["blur_background"] * 3 + ["image_grey"] * 3}
    result = table3.compute(**wrong)
    assert result["s_robust"] == 1.0 and result["mu"] == 0.0 and result["mu_above_chance"] is False
    assert result["warnings"][0].startswith("NOT ABOVE CHANCE: μ = 0.0000")
    assert result["scenario_set"]["name"] == "background"
    summary = table3.compute(external={"blur_background": 0.05, "image_grey": 0.04}, external_reference=0.05,
                             n_original=100, n_classes=12)
    assert summary["mu_above_chance"] is False and summary["scenario_set"]["name"] == "custom"
    with pytest.raises(ValueError, match="n_original is for the summary form"):
        table3.compute(**wrong, n_original=6)
