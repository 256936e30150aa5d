"""The robustness score's functional core: Table 3, the printed formula, per-sample form, bad input."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import ximagenet12
from ximagenet12.metrics.robustness_score import functional
from ximagenet12.metrics.robustness_score.functional import (
    CONFIGS,
    robustness_score,
    robustness_score_from_samples,
)

# SPEC §6: Table 3 of the paper, accuracies in %.
TABLE3_SCENARIOS = [
    "blur_background", "blur_object", "image_g", "image_b",
    "image_grey", "image_r", "random_background", "segmented_image",
]  # fmt: skip
TABLE3_SCENARIOS_TEST = TABLE3_SCENARIOS
TABLE3 = {
    "ResNet50": {
        "external": (0.9524, [90.97, 88.17, 84.42, 86.98, 92.13, 89.03, 22.41, 68.55]),
        "internal": (0.8029, [83.52, 80.24, 83.61, 84.45, 84.71, 80.40, 53.91, 85.76]),
        "paper": {"sigma2_e": 0.0902, "sigma2_i": 0.0112, "s_robust": 0.8985},
    },
    "DenseNet121": {
        "external": (0.9740, [93.77, 88.92, 87.39, 87.33, 93.23, 88.21, 26.41, 69.67]),
        "internal": (0.8622, [90.79, 86.57, 88.92, 89.96, 90.44, 87.37, 69.58, 91.60]),
        "paper": {"sigma2_e": 0.0885, "sigma2_i": 0.0052, "s_robust": 0.9062},
    },
}


def table3_inputs(model: str) -> dict:
    row = TABLE3[model]
    (mu_e, ext), (mu_i, inn) = row["external"], row["internal"]
    return {
        "external": {s: v / 100 for s, v in zip(TABLE3_SCENARIOS, ext)},
        "external_reference": mu_e,
        "internal": {s: v / 100 for s, v in zip(TABLE3_SCENARIOS, inn)},
        "internal_reference": mu_i,
    }


# --------------------------------------------------------------------------- Table 3
@pytest.mark.parametrize("model", list(TABLE3))
def test_table3_config_reproduces_the_published_row(model):
    result = robustness_score(**table3_inputs(model), config="table3")
    for key, published in TABLE3[model]["paper"].items():
        assert result[key] == pytest.approx(published, abs=2e-4), key
    assert result["config"] == "table3" and result["dispersion"] == "variance" and result["ddof"] == 1
    assert result["n_e"] == result["n_i"] == 8 and result["internal_term"] == "given"


def test_table3_row_by_an_independent_oracle():
    inputs = table3_inputs("ResNet50")
    mu, mu_i = inputs["external_reference"], inputs["internal_reference"]
    var_e = sum((c - mu) ** 2 for c in inputs["external"].values()) / (8 - 1)
    var_i = sum((c - mu_i) ** 2 for c in inputs["internal"].values()) / (8 - 1)
    result = robustness_score(**inputs)  # table3 is the default
    assert result["sigma2_e"] == pytest.approx(var_e, abs=1e-12)
    assert result["sigma2_i"] == pytest.approx(var_i, abs=1e-12)
    assert result["sigma_e"] == pytest.approx(math.sqrt(var_e), abs=1e-12)
    assert result["sigma_i"] == pytest.approx(math.sqrt(var_i), abs=1e-12)
    assert result["s_robust"] == pytest.approx(1 - (var_e + var_i), abs=1e-12)
    assert result["sigma2_e"] == pytest.approx(0.090262, abs=1e-6)
    assert result["sigma2_i"] == pytest.approx(0.011202, abs=1e-6)
    assert result["s_robust"] == pytest.approx(0.898536, abs=1e-6)


def test_lazy_top_level_import_is_the_functional_core():
    assert ximagenet12.robustness_score is robustness_score


def test_default_configuration_is_table3():
    assert functional.DEFAULT_CONFIG == "table3"
    assert CONFIGS == {"table3": {"dispersion": "variance", "ddof": 1}, "formula": {"dispersion": "std", "ddof": 0}}


# --------------------------------------------------------------------------- formula
def test_formula_config_by_hand():
    # external deviations from mu = 0.9: -0.1, -0.3, +0.1 -> var (n) = 0.11 / 3
    # internal (classes) deviations from 0.9: 0.0, -0.2 -> var (n) = 0.04 / 2 = 0.02
    result = robustness_score(
        {"blur_background": 0.8, "image_grey": 0.6, "image_r": 1.0},
        external_reference=0.9,
        internal={"cat": 0.9, "dog": 0.7},
        internal_reference=0.9,
        config="formula",
    )
    assert result["sigma2_e"] == pytest.approx(0.11 / 3)
    assert result["sigma2_i"] == pytest.approx(0.02)
    assert result["sigma_e"] == pytest.approx(math.sqrt(0.11 / 3))
    assert result["sigma_i"] == pytest.approx(math.sqrt(0.02))
    assert result["s_robust"] == pytest.approx(1 - (math.sqrt(0.11 / 3) + math.sqrt(0.02)))
    assert (result["dispersion"], result["ddof"], result["n_i"]) == ("std", 0, 2)


def test_dispersion_and_ddof_override_the_configuration():
    ext = {"blur_background": 0.8, "image_grey": 0.6, "image_r": 1.0}
    var_n1 = 0.11 / 2
    r = robustness_score(ext, external_reference=0.9, config="formula", ddof=1)
    assert r["sigma2_e"] == pytest.approx(var_n1) and r["s_robust"] == pytest.approx(1 - math.sqrt(var_n1))
    r = robustness_score(ext, external_reference=0.9, config="table3", dispersion="std")
    assert r["s_robust"] == pytest.approx(1 - math.sqrt(var_n1)) and r["config"] == "table3"
    r = robustness_score(ext, external_reference=0.9, config="table3", ddof=0)
    assert r["s_robust"] == pytest.approx(1 - 0.11 / 3)


def test_external_only_has_no_internal_term():
    r = robustness_score({"blur_background": 0.8, "image_grey": 0.6}, external_reference=0.9)
    assert (r["sigma2_i"], r["sigma_i"], r["n_i"], r["internal_term"]) == (0.0, 0.0, 0, "absent")
    assert r["internal_reference"] is None
    assert r["s_robust"] == pytest.approx(1 - (0.01 + 0.09) / 1)


def test_a_scenario_better_than_the_original_also_counts():
    worse = robustness_score({"blur_background": 0.8, "image_grey": 0.9}, external_reference=0.9)
    better = robustness_score({"blur_background": 1.0, "image_grey": 0.9}, external_reference=0.9)
    assert worse["s_robust"] == pytest.approx(better["s_robust"])


# --------------------------------------------------------------------------- per-sample form
def per_sample_fixture():
    """3 classes x 5 scenarios; labels as strings, predictions right or wrong by hand."""
    rows = [
        # scenario, class, reference, prediction
        ("original", "cat", "cat", "cat"), ("original", "cat", "cat", "cat"),
        ("original", "dog", "dog", "dog"), ("original", "dog", "dog", "cat"),
        ("original", "fox", "fox", "fox"), ("original", "fox", "fox", "fox"),
        ("blur_background", "cat", "cat", "cat"), ("blur_background", "dog", "dog", "fox"),
        ("blur_background", "fox", "fox", "fox"),
        ("image_grey", "cat", "cat", "dog"), ("image_grey", "dog", "dog", "dog"),
        ("image_grey", "fox", "fox", "cat"), ("image_grey", "fox", "fox", "fox"),
        ("mixed_same", "cat", "cat", "cat"), ("mixed_same", "dog", "dog", "dog"),
        ("mixed_same", "fox", "fox", "dog"),
        ("mixed_rand", "cat", "cat", "dog"), ("mixed_rand", "dog", "dog", "cat"),
        ("mixed_rand", "fox", "fox", "fox"), ("mixed_rand", "fox", "fox", "dog"),
    ]  # fmt: skip
    scenarios, classes, references, predictions = (list(col) for col in zip(*rows))
    return {"predictions": predictions, "references": references, "scenarios": scenarios, "classes": classes}


def oracle(data: dict, *, ddof: int, dispersion: str, use_classes: bool) -> dict:
    """Plain-Python loops over the samples, independent of the numpy implementation."""
    hits: dict = {}
    counts: dict = {}
    class_hits: dict = {}
    class_counts: dict = {}
    for p, r, s, c in zip(data["predictions"], data["references"], data["scenarios"], data["classes"]):
        counts[s] = counts.get(s, 0) + 1
        hits[s] = hits.get(s, 0) + (p == r)
        if s == "original":
            class_counts[c] = class_counts.get(c, 0) + 1
            class_hits[c] = class_hits.get(c, 0) + (p == r)
    acc = {s: hits[s] / counts[s] for s in counts}
    mu = acc["original"]
    ext = [a for s, a in acc.items() if s != "original"]
    var_e = sum((a - mu) ** 2 for a in ext) / (len(ext) - ddof)
    cls = [class_hits[c] / class_counts[c] for c in class_counts]
    var_i = sum((a - mu) ** 2 for a in cls) / (len(cls) - ddof) if use_classes else 0.0
    if dispersion == "variance":
        s_robust = 1 - (var_e + var_i)
    else:
        s_robust = 1 - (math.sqrt(var_e) + math.sqrt(var_i))
    return {
        "mu": mu,
        "accuracy": acc,
        "n": counts,
        "class_accuracy": {c: class_hits[c] / class_counts[c] for c in class_counts},
        "sigma2_e": var_e,
        "sigma2_i": var_i,
        "s_robust": s_robust,
        "bg_gap": acc["mixed_same"] - acc["mixed_rand"],
    }


@pytest.mark.parametrize("config", ["table3", "formula"])
@pytest.mark.parametrize("use_classes", [False, True])
def test_per_sample_form_matches_a_loop_oracle(config, use_classes):
    data = per_sample_fixture()
    settings = CONFIGS[config]
    expected = oracle(data, use_classes=use_classes, **settings)
    result = robustness_score_from_samples(
        data["predictions"],
        data["references"],
        data["scenarios"],
        classes=data["classes"] if use_classes else None,
        config=config,
        scenario_set="all",
    )
    assert result["mu"] == pytest.approx(expected["mu"])
    assert result["accuracy"] == pytest.approx(expected["accuracy"])
    assert result["n"] == expected["n"]
    assert result["sigma2_e"] == pytest.approx(expected["sigma2_e"])
    assert result["sigma2_i"] == pytest.approx(expected["sigma2_i"])
    assert result["sigma_e"] == pytest.approx(math.sqrt(expected["sigma2_e"]))
    assert result["s_robust"] == pytest.approx(expected["s_robust"])
    assert result["bg_gap"] == pytest.approx(expected["bg_gap"])
    assert result["n_e"] == 4
    if use_classes:
        assert result["internal_term"] == "classes" and result["n_i"] == 3
        assert result["accuracy_per_class"] == pytest.approx(expected["class_accuracy"])
        assert result["n_per_class"] == {"cat": 2, "dog": 2, "fox": 2}
    else:
        assert result["internal_term"] == "absent" and "accuracy_per_class" not in result


def test_per_sample_hand_values():
    data = per_sample_fixture()
    r = robustness_score_from_samples(**{k: data[k] for k in ("predictions", "references", "scenarios")},
                                      classes=data["classes"])  # fmt: skip
    assert r["mu"] == pytest.approx(5 / 6)
    assert r["accuracy"]["blur_background"] == pytest.approx(2 / 3)
    assert r["accuracy"]["image_grey"] == pytest.approx(2 / 4)
    assert r["bg_gap"] == pytest.approx(2 / 3 - 1 / 4)
    assert r["accuracy_per_class"] == {"cat": 1.0, "dog": 0.5, "fox": 1.0}
    grid = r["accuracy_per_scenario_class"]
    assert grid["image_grey"] == {"cat": 0.0, "dog": 1.0, "fox": 0.5}
    assert grid["mixed_rand"]["fox"] == 0.5


def test_classes_references_groups_by_the_true_label():
    data = per_sample_fixture()
    by_key = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"],
                                           classes=data["classes"])  # fmt: skip
    by_ref = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"],
                                           classes="references")  # fmt: skip
    assert by_ref == by_key


def test_int_labels_and_numpy_arrays_give_the_same_result_as_strings():
    data = per_sample_fixture()
    codes = {"cat": 0, "dog": 1, "fox": 2}
    ints = robustness_score_from_samples(
        np.array([codes[p] for p in data["predictions"]]),
        np.array([codes[r] for r in data["references"]], dtype=np.int32),
        np.array(data["scenarios"], dtype=object),
    )
    strings = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"])
    assert ints == strings


def test_no_bg_gap_without_both_mixed_scenarios():
    r = robustness_score_from_samples([1, 1, 0, 1], [1, 1, 1, 1], ["original", "mixed_same", "blur_background", "image_grey"])
    assert r["bg_gap"] is None


def test_internal_given_in_per_sample_form_takes_precedence():
    data = per_sample_fixture()
    internal = {"blur_background": 0.7, "image_grey": 0.9}
    r = robustness_score_from_samples(
        data["predictions"], data["references"], data["scenarios"],
        classes=data["classes"], internal=internal, internal_reference=0.8,
    )  # fmt: skip
    assert r["internal_term"] == "given" and r["n_i"] == 2
    assert r["sigma2_i"] == pytest.approx((0.01 + 0.01) / 1)
    assert "accuracy_per_class" in r  # still reported


def test_scenario_names_accepts_the_exact_set():
    data = per_sample_fixture()
    names = ["original", "blur_background", "image_grey", "mixed_same", "mixed_rand"]
    r = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"], scenario_names=names)
    assert sorted(r["accuracy"]) == sorted(names)


# --------------------------------------------------------------------------- bootstrap
def _paired_samples(rng, n_sources, scenarios, p_right, n_classes=5):
    """One row per (source, scenario); each source has one class; outcomes drawn per row."""
    src = np.repeat(np.arange(n_sources), len(scenarios))
    scen = np.tile(np.array(scenarios), n_sources)
    refs = np.repeat(rng.integers(0, n_classes, size=n_sources), len(scenarios))
    right = rng.random(len(src)) < np.array([p_right[s] for s in scen])
    return {"predictions": np.where(right, refs, (refs + 1) % n_classes), "references": refs, "scenarios": scen,
            "source_ids": src}


def test_bootstrap_is_seeded_and_contains_the_point_estimate():
    rng = np.random.default_rng(7)
    p_right = {"original": 0.95, "blur_background": 0.9, "image_grey": 0.85, "random_background": 0.5}
    data = _paired_samples(rng, 1000, list(p_right), p_right)
    kwargs = {"classes": "references", "n_bootstrap": 500, "confidence": 0.9}
    a = robustness_score_from_samples(**data, seed=3, **kwargs)
    b = robustness_score_from_samples(**data, seed=3, **kwargs)
    c = robustness_score_from_samples(**data, seed=4, **kwargs)
    assert a["s_robust_ci"] == b["s_robust_ci"] and a["s_robust_se"] == b["s_robust_se"]
    assert a["s_robust_ci"] != c["s_robust_ci"]
    low, high = a["s_robust_ci"]
    assert low < a["s_robust"] < high
    assert a["bootstrap"] == {
        "n_bootstrap": 500, "confidence": 0.9, "seed": 3,
        "method": "percentile, paired over source images (drawn within class)", "n_sources": 1000,
        "degenerate_replicates": 0,
    }  # fmt: skip
    gen = robustness_score_from_samples(**data, seed=np.random.default_rng(3), **kwargs)
    assert gen["bootstrap"]["seed"] == "generator" and gen["s_robust_ci"] == a["s_robust_ci"]


def test_paired_bootstrap_matches_resampling_source_images_in_a_loop():
    """Oracle: draw source ids with replacement, take all their rows, rescore with the core."""
    rng = np.random.default_rng(11)
    p_right = {"original": 0.9, "blur_background": 0.7, "image_grey": 0.6}
    data = _paired_samples(rng, 200, list(p_right), p_right)
    fast = robustness_score_from_samples(**data, n_bootstrap=4000, seed=0)
    naive_rng = np.random.default_rng(1)
    rows = {s: np.flatnonzero(data["source_ids"] == s) for s in range(200)}
    scores = []
    for _ in range(600):
        idx = np.concatenate([rows[s] for s in naive_rng.integers(0, 200, size=200)])
        scores.append(robustness_score_from_samples(*(data[k][idx] for k in ("predictions", "references", "scenarios")))["s_robust"])
    assert fast["s_robust_se"] == pytest.approx(np.std(scores, ddof=1), rel=0.15)
    assert fast["s_robust_ci"][0] == pytest.approx(np.quantile(scores, 0.025), abs=0.03)
    assert fast["s_robust_ci"][1] == pytest.approx(np.quantile(scores, 0.975), abs=0.03)


def test_pairing_matters_when_an_image_is_right_or_wrong_in_every_scenario():
    """Issue 26 point 5: outcomes of one image agree across scenarios, so C(i) and μ move together
    in a resample and their difference varies less than if rows were independent draws."""
    rng = np.random.default_rng(5)
    scenarios = ["original", *functional.SCENARIO_SETS["background"]]
    n_src = 300
    easy = rng.random(n_src) < 0.8  # an easy image is right in nearly every scenario
    p = np.where(easy, 0.97, 0.2)[:, None] * np.ones(len(scenarios))
    right = (rng.random(p.shape) < p).ravel()
    refs = np.zeros(right.size, dtype=int)
    data = {"predictions": np.where(right, 0, 1), "references": refs, "scenarios": np.tile(scenarios, n_src)}
    paired = robustness_score_from_samples(**data, source_ids=np.repeat(np.arange(n_src), len(scenarios)),
                                           n_bootstrap=1000, n_classes=12)
    rows = robustness_score_from_samples(**data, source_ids=np.arange(right.size), n_bootstrap=1000, n_classes=12)
    width = lambda r: r["s_robust_ci"][1] - r["s_robust_ci"][0]  # noqa: E731
    assert paired["s_robust"] == rows["s_robust"]
    assert width(paired) < width(rows)  # correlated errors cancel in C(i) − μ: the row bootstrap overstates noise


def test_the_95_percent_interval_covers_the_true_score_of_a_simulated_model():
    """Issue 26 point 5: a model with known robustness, many small datasets, coverage ≥ 0.9.

    The population is a mixture of 40 image types with known weights; a type has a known
    probability of being classified right in each scenario, so the true accuracy per
    scenario, and so the true S_robust, is exact. Each dataset draws 150 source images
    (their rows paired across scenarios) and its interval either covers the truth or not.
    """
    rng = np.random.default_rng(2026)
    scenarios = ["original", *functional.SCENARIO_SETS["background"]]
    n_types, n_src, draws = 40, 150, 200
    weight = rng.dirichlet(np.ones(n_types))
    base = rng.uniform(0.4, 0.99, size=n_types)[:, None]
    drop = np.concatenate(([0.0], rng.uniform(-0.05, 0.35, size=len(scenarios) - 1)))
    p = np.clip(base - drop * rng.uniform(0.5, 1.5, size=(n_types, 1)), 0.01, 0.99)
    truth = weight @ p
    true_s = 1 - np.sum((truth[1:] - truth[0]) ** 2) / (len(scenarios) - 2)  # table3: variance, n − 1
    covered = 0
    for i in range(draws):
        types = rng.choice(n_types, size=n_src, p=weight)
        right = (rng.random((n_src, len(scenarios))) < p[types]).ravel()
        result = robustness_score_from_samples(
            np.where(right, 0, 1), np.zeros(right.size, dtype=int), np.tile(scenarios, n_src),
            source_ids=np.repeat(np.arange(n_src), len(scenarios)), n_classes=12, n_bootstrap=300, seed=i,
        )
        low, high = result["s_robust_ci"]
        covered += low <= true_s <= high
    assert covered / draws >= 0.9, f"coverage {covered / draws:.3f} of the true S_robust {true_s:.4f}"


def test_bootstrap_refuses_rows_without_source_ids_or_with_a_class_per_row():
    data = _samples()
    with pytest.raises(ValueError, match="n_bootstrap needs source_ids .* paired across scenarios"):
        robustness_score_from_samples(**data, n_bootstrap=10)
    with pytest.raises(ValueError, match="length mismatch: 6 predictions but 2 source_ids"):
        robustness_score_from_samples(**data, n_bootstrap=10, source_ids=[0, 1])
    with pytest.raises(ValueError, match="source 'a' has samples of more than one class"):
        robustness_score_from_samples(**data, n_bootstrap=10, classes=[0, 1, 0, 1, 1, 0],
                                      source_ids=["a", "b", "a", "b", "a", "b"])


# --------------------------------------------------------------------------- chance guard
@pytest.mark.parametrize(("correct", "n", "k"), [(0, 120, 12), (10, 120, 12), (17, 120, 12), (100, 120, 12),
                                                 (5, 10, 2), (520, 1000, 2), (3, 15450, 12), (1400, 15450, 12)])
def test_chance_test_p_value_matches_scipy(correct, n, k):
    from scipy.stats import binomtest  # the independent oracle

    result = functional.chance_test(correct, n, k)
    expected = binomtest(correct, n, 1 / k, alternative="greater").pvalue
    assert result["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert result["mu_above_chance"] is bool(expected < functional.CHANCE_ALPHA)
    assert result["chance"] == 1 / k and result["n"] == n and result["n_classes"] == k


def test_a_model_that_fails_everywhere_is_flagged_not_crowned():
    """Issue 26 point 1: wrong on every image, so no spread: S ≈ 1 but flagged loudly."""
    rng = np.random.default_rng(0)
    scenarios = ["original", *functional.SCENARIO_SETS["background"]]
    n_src = 120
    refs = np.repeat(rng.integers(0, 12, size=n_src), len(scenarios))
    broken = robustness_score_from_samples((refs + 1) % 12, refs, np.tile(scenarios, n_src), classes="references")
    assert broken["s_robust"] == 1.0 and broken["mu"] == 0.0
    assert broken["mu_above_chance"] is False
    assert broken["chance"]["n_classes"] == 12 and broken["chance"]["n"] == n_src
    assert any(w.startswith("NOT ABOVE CHANCE: μ = 0.0000") and "says nothing about robustness" in w
               for w in broken["warnings"])
    good = robustness_score_from_samples(refs, refs, np.tile(scenarios, n_src), classes="references")
    assert good["mu_above_chance"] is True and good["warnings"] == []


def test_summary_form_tests_mu_against_chance_only_with_counts():
    ext = {"blur_background": 0.08, "image_grey": 0.09}
    r = robustness_score(ext, external_reference=0.085, n_original=200, n_classes=12)
    assert r["mu_above_chance"] is False and r["chance"]["correct"] == 17 and r["mu"] == 0.085
    assert "NOT ABOVE CHANCE" in r["warnings"][0]
    untested = robustness_score(ext, external_reference=0.085)
    assert untested["chance"] is None and untested["mu_above_chance"] is None
    assert "μ was not tested against chance" in untested["warnings"][0]
    with pytest.raises(ValueError, match="needs both n_original .* and n_classes"):
        robustness_score(ext, external_reference=0.085, n_original=200)


@pytest.mark.parametrize(("args", "error", "match"), [
    ((5, 4, 12), ValueError, "need 0 <= correct <= n"),
    ((1, 10, 1), ValueError, "need at least 2 classes"),
    ((1.0, 10, 12), TypeError, "correct must be an int"),
])  # fmt: skip
def test_chance_test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        functional.chance_test(*args)


# --------------------------------------------------------------------------- scenario sets
def test_the_metric_sets_are_the_registry_sets():
    from ximagenet12.scenarios.registry import DEFAULT_SCENARIO_SET, TABLE3_SCENARIOS, scenario_sets

    assert functional.SCENARIO_SETS == scenario_sets(), (
        "the metric's copy of the scenario sets is stale: run python scripts/update_metric_scenarios.py"
    )
    assert functional.DEFAULT_SCENARIO_SET == DEFAULT_SCENARIO_SET
    assert list(functional.SCENARIO_SETS["table3"]) == TABLE3_SCENARIOS_TEST == list(TABLE3_SCENARIOS)


def test_the_default_set_changes_only_the_background():
    from ximagenet12.scenarios.registry import get_scenario

    members = functional.SCENARIO_SETS[functional.DEFAULT_SCENARIO_SET]
    for control in ("blur_object", "brightness_object", "only_fg", "no_fg", "original"):
        assert control not in members
    for name in members:
        sc = get_scenario(name)
        assert sc.keeps_object and not sc.keeps_background, name


def test_per_sample_score_uses_the_default_set_and_says_so():
    data = per_sample_fixture()  # original, blur_background, image_grey, mixed_same, mixed_rand
    r = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"])
    assert r["scenario_set"]["name"] == "background"
    assert r["scenario_set"]["members"] == ["blur_background", "image_grey"] and r["n_e"] == 2
    assert r["scenario_set"]["excluded"] == ["mixed_rand", "mixed_same"]
    assert "image_rainbow" in r["scenario_set"]["missing"]
    assert any("has 8 member(s) without samples" in w for w in r["warnings"])
    assert r["accuracy"]["mixed_same"] is not None and r["bg_gap"] is not None  # still reported, not in S
    every = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"], scenario_set="all")
    assert every["n_e"] == 4 and every["scenario_set"]["excluded"] == []
    listed = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"],
                                           scenario_set=["image_grey", "mixed_rand"])
    assert listed["scenario_set"] == {"name": "custom", "members": ["image_grey", "mixed_rand"],
                                      "excluded": ["blur_background", "mixed_same"], "missing": []}


def test_summary_form_names_the_set_its_scenarios_are():
    r = robustness_score(**table3_inputs("ResNet50"))
    assert r["scenario_set"]["name"] == "table3" and r["scenario_set"]["members"] == TABLE3_SCENARIOS_TEST
    assert round(r["s_robust"], 4) == 0.8985  # the paper's formula, untouched
    bg = robustness_score(**table3_inputs("ResNet50"), scenario_set="background")
    assert "blur_object" in bg["scenario_set"]["excluded"] and bg["n_e"] == 7
    custom = robustness_score({"blur_background": 0.9, "blur_object": 0.5}, external_reference=0.95)
    assert custom["scenario_set"]["name"] == "custom"


def test_scores_over_different_sets_are_not_compared():
    data = per_sample_fixture()
    a = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"])
    b = robustness_score_from_samples(data["predictions"], data["references"], data["scenarios"], scenario_set="all")
    functional.check_same_scenario_set([a["scenario_set"], a["scenario_set"]])
    with pytest.raises(ValueError, match=r"different scenario sets cannot be compared \(x: 'background' \(2 scenario"):
        functional.check_same_scenario_set([a["scenario_set"], b["scenario_set"]], names=["x", "y"])
    with pytest.raises(ValueError, match="y: S_robust records no scenario set"):
        functional.check_same_scenario_set([a["scenario_set"], None], names=["x", "y"])


@pytest.mark.parametrize(("scenario_set", "error", "match"), [
    ("paper", ValueError, "unknown scenario set 'paper'; known sets: background, table3, all"),
    (["original", "image_grey"], ValueError, "scenario_set lists 'original'"),
    (["no_fg"], ValueError, "no scenario of set 'custom' has samples"),
    (3, TypeError, "scenario_set must be a set name or a non-empty list"),
])  # fmt: skip
def test_bad_scenario_set(scenario_set, error, match):
    with pytest.raises(error, match=match):
        robustness_score_from_samples(**_samples(), scenario_set=scenario_set)


# --------------------------------------------------------------------------- bad input
def test_doctests_of_the_functional_module():
    failures, tried = doctest.testmod(functional, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tried >= 4 and failures == 0


SUMMARY_ERRORS = [
    ({"external": {}}, ValueError, "external is empty"),
    ({"external": {"blur_background": None, "image_grey": 0.5}}, ValueError, r"external\['blur_background'\] has no accuracy .*zero samples"),
    ({"external": {"blur_background": 1.2, "image_grey": 0.5}}, ValueError, r"external\['blur_background'\] = 1.2 is outside \[0, 1\]"),
    ({"external": {"blur_background": 90.0, "image_grey": 0.5}}, ValueError, "outside .* not percentages"),
    ({"external": {"blur_background": -0.1, "image_grey": 0.5}}, ValueError, "outside"),
    ({"external": {"blur_background": float("nan"), "image_grey": 0.5}}, ValueError, r"external\['blur_background'\] is NaN"),
    ({"external_reference": float("nan")}, ValueError, "external_reference is NaN"),
    ({"external_reference": 1.5}, ValueError, "external_reference = 1.5 is outside"),
    ({"external": {"blur_background": 0.5}}, ValueError,
     r"external has 1 scenario value\(s\), but this configuration's spread divides the squared deviations by n − 1 "
     r"\(the number of scenarios minus 1\): it needs at least 2 scenario\(s\) besides original"),
    ({"external": {"blur_background": 0.5}, "config": "formula", "ddof": 1}, ValueError, r"external has 1 scenario value\(s\)"),
    ({"internal": {"x": 0.5}, "internal_reference": 0.5}, ValueError, r"internal has 1 scenario value\(s\)"),
    ({"internal": {"x": 0.5, "y": 0.6}}, ValueError, "internal accuracies need internal_reference"),
    ({"internal_reference": 0.5}, ValueError, "internal_reference was given without internal"),
    ({"internal": {}, "internal_reference": 0.5}, ValueError, "internal is empty"),
    ({"internal": {"x": float("nan"), "y": 0.1}, "internal_reference": 0.5}, ValueError, "internal.*is NaN"),
    ({"config": "paper"}, ValueError, "unknown robustness_score config 'paper'; known configs: table3, formula"),
    ({"dispersion": "mad"}, ValueError, "dispersion must be one of 'variance', 'std', got 'mad'"),
    ({"ddof": -1}, ValueError, "ddof must be >= 0"),
    ({"external": {"original": 0.9, "image_grey": 0.5, "image_r": 0.4}}, ValueError, "external contains 'original'"),
    ({"external": [0.5, 0.6]}, TypeError, "external must map scenario"),
    ({"external": {"blur_background": "0.5", "image_grey": 0.5}}, TypeError, r"external\['blur_background'\] must be a number"),
    ({"external": {"blur_background": True, "image_grey": 0.5}}, TypeError, "must be a number"),
    ({"config": 3}, TypeError, "config must be a configuration name"),
    ({"ddof": 1.0}, TypeError, "ddof must be an int"),
]


@pytest.mark.parametrize(("override", "error", "match"), SUMMARY_ERRORS)
def test_bad_summary_input(override, error, match):
    kwargs = {"external": {"blur_background": 0.8, "image_grey": 0.6}, "external_reference": 0.9, **override}
    external = kwargs.pop("external")
    with pytest.raises(error, match=match):
        robustness_score(external, **kwargs)


def _samples(**override):
    data = {
        "predictions": [0, 1, 1, 0, 1, 0],
        "references": [0, 1, 1, 1, 1, 1],
        "scenarios": ["original", "original", "blur_background", "blur_background", "image_grey", "image_grey"],
    }
    data.update(override)
    return data


SAMPLE_ERRORS = [
    ({"references": [0, 1, 1]}, ValueError, "length mismatch: 6 predictions, 3 references, 6 scenarios"),
    ({"scenarios": ["original"] * 5}, ValueError, "length mismatch: 6 predictions, 6 references, 5 scenarios"),
    ({"classes": [0, 1]}, ValueError, "length mismatch: 6 predictions but 2 classes"),
    ({"predictions": [], "references": [], "scenarios": []}, ValueError, "no samples"),
    ({"scenarios": ["blur_background", "blur_background", "blur_background", "image_grey", "image_grey", "image_grey"]}, ValueError, r"no 'original' samples: .*\['blur_background', 'image_grey'\]"),
    ({"scenarios": ["original"] * 6}, ValueError, "only 'original' samples"),
    ({"scenario_names": ["original", "blur_background", "image_grey", "image_r"]}, ValueError,
     r"scenario\(s\) with zero samples: \['image_r'\]"),
    ({"scenario_names": ["original", "blur_background"]}, ValueError, r"not in scenario_names: \['image_grey'\]"),
    ({"scenarios": ["original", "original", "blur_background", "blur_background", "blur_background", "blur_background"]}, ValueError,
     r"external has 1 scenario value\(s\), .*needs at least 2 scenario\(s\) besides original"),
    ({"classes": [0, 0, 1, 1, 2, 2]}, ValueError, r"class\(es\) \[1, 2\] have samples .* none in 'original'"),
    ({"classes": "labels"}, ValueError, "classes must be one key per sample or the string 'references'"),
    ({"config": "nope"}, ValueError, "unknown robustness_score config 'nope'"),
    ({"dispersion": "var"}, ValueError, "dispersion must be one of"),
    ({"internal": {"x": 1.5, "y": 0.5}, "internal_reference": 0.9}, ValueError, "outside"),
    ({"predictions": [[0, 1]] * 6}, ValueError, r"predictions must be one value per sample \(1-D\)"),
    ({"predictions": [0.0, 1.0, float("nan"), 0.0, 1.0, 0.0]}, ValueError, "predictions contains NaN"),
    ({"predictions": "010101"}, TypeError, "predictions must be a sequence"),
    ({"predictions": ["0", "1", "1", "0", "1", "0"]}, TypeError, "must both be ints or both be strings"),
    ({"scenarios": [0, 0, 1, 1, 2, 2]}, TypeError, "scenarios must be scenario names"),
    ({"n_bootstrap": 1}, ValueError, "n_bootstrap must be 0 .* or at least 2, got 1"),
    ({"n_bootstrap": 10, "confidence": 1.0}, ValueError, r"confidence must be a number in \(0, 1\)"),
    ({"n_bootstrap": 10, "seed": "x"}, TypeError, "seed must be an int"),
    ({"n_bootstrap": 2.5}, TypeError, "n_bootstrap must be an int"),
]


@pytest.mark.parametrize(("override", "error", "match"), SAMPLE_ERRORS)
def test_bad_per_sample_input(override, error, match):
    data = _samples(**override)
    with pytest.raises(error, match=match):
        robustness_score_from_samples(data.pop("predictions"), data.pop("references"), data.pop("scenarios"), **data)


@pytest.mark.parametrize(
    "values",
    [
        np.array([3, -2, 3, 7, -2, 0]),
        np.array([5, 2**40, 5, -(2**40)], dtype=np.int64),  # too wide for the lookup table
        np.array([4, 1, 4], dtype=np.uint8),
        np.array(["b", "a", "c", "a"]),
        np.array([1.5, 0.5, 1.5]),
        np.array([True, False, True]),
    ],
)
def test_factorize_agrees_with_np_unique(values):
    uniques, codes = functional._factorize(values)
    expected_uniques, expected_codes = np.unique(values, return_inverse=True)
    assert uniques.tolist() == expected_uniques.tolist()
    assert codes.tolist() == expected_codes.tolist()


# --------------------------------------------------------------------------- scenario names
def test_the_metric_knows_exactly_the_registry_scenarios():
    from ximagenet12.metrics.robustness_score.functional import KNOWN_SCENARIOS
    from ximagenet12.scenarios.registry import all_variants

    assert KNOWN_SCENARIOS == {v.config_name for v in all_variants()}, (
        "the metric's copy of the scenario names is stale: run python scripts/update_metric_scenarios.py"
    )


def test_an_unknown_scenario_name_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"unknown external scenario name\(s\) 'typo_blur', 'blur_backgorund' "
                                         r"\(did you mean 'blur_background'\?\).*custom_scenarios=True"):
        robustness_score({"typo_blur": 0.5, "blur_backgorund": 0.6, "image_grey": 0.7}, external_reference=0.9)
    with pytest.raises(ValueError, match=r"unknown scenario name\(s\) 'typo_blur'"):
        robustness_score_from_samples([1, 1, 0], [1, 1, 1], ["original", "typo_blur", "image_grey"])
    with pytest.raises(TypeError, match="custom_scenarios must be True or False, got str"):
        robustness_score({"image_r": 0.5, "image_grey": 0.7}, external_reference=0.9, custom_scenarios="yes")


def test_custom_scenarios_are_an_explicit_opt_in():
    known = robustness_score({"image_r": 0.5, "image_grey": 0.7}, external_reference=0.9)
    custom = robustness_score({"line_a": 0.5, "line_b": 0.7}, external_reference=0.9, custom_scenarios=True)
    assert custom["s_robust"] == known["s_robust"]
    r = robustness_score_from_samples([1, 1, 0, 1, 1, 1], [1] * 6, ["original", "original", "fog", "fog", "rain", "rain"],
                                      custom_scenarios=True)
    assert r["accuracy"]["fog"] == 0.5
