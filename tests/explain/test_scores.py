"""Object focus, focus / area, pointing game and their bootstrap means (hand-computed fixtures)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ximagenet12.explain.scores import focus_metrics, mean_ci, right_vs_wrong, summarise_focus

MASK = np.array([[1, 1, 0, 0]] * 2, dtype=bool)  # left half is object, area 0.5


def test_focus_is_the_positive_mass_inside_the_mask():
    attr = np.array([[3.0, 1.0, 1.0, -5.0], [0.0, 0.0, 0.0, 0.0]])
    m = focus_metrics(attr, MASK)
    assert m["object_focus"] == pytest.approx(4.0 / 5.0)  # negatives are not evidence for the class
    assert m["mask_area"] == 0.5
    assert m["focus_ratio"] == pytest.approx(0.8 / 0.5)
    assert m["pointing_hit"] == 1.0
    assert m["positive_mass"] == pytest.approx(5.0)


def test_uniform_map_has_focus_equal_to_area_and_no_pointing_target():
    m = focus_metrics(np.ones((2, 4)), MASK)
    assert m["object_focus"] == pytest.approx(0.5)
    assert m["focus_ratio"] == pytest.approx(1.0)
    assert math.isnan(m["pointing_hit"])


def test_map_peaking_outside_misses_the_pointing_game():
    attr = np.array([[0.1, 0.1, 0.0, 2.0], [0.0, 0.0, 0.0, 0.0]])
    m = focus_metrics(attr, MASK)
    assert m["pointing_hit"] == 0.0
    assert m["object_focus"] == pytest.approx(0.2 / 2.2)


def test_no_positive_attribution_leaves_focus_undefined():
    m = focus_metrics(-np.ones((2, 4)) * np.arange(8).reshape(2, 4), MASK)
    assert math.isnan(m["object_focus"]) and math.isnan(m["focus_ratio"])


@pytest.mark.parametrize("seed", range(5))
def test_values_lie_in_their_ranges(seed):
    rng = np.random.default_rng(seed)
    attr = rng.normal(size=(16, 16))
    mask = rng.random((16, 16)) < 0.3
    m = focus_metrics(attr, mask)
    assert 0.0 <= m["object_focus"] <= 1.0
    assert 0.0 <= m["focus_ratio"] <= 1.0 / m["mask_area"] + 1e-12
    assert m["pointing_hit"] in (0.0, 1.0)


@pytest.mark.parametrize(
    "attr, mask, exc, match",
    [
        (np.ones((2, 4)), np.ones((2, 3), bool), ValueError, r"sample: attribution \(2, 4\) and mask \(2, 3\)"),
        ([[1.0]], np.ones((1, 1), bool), TypeError, "must be numpy arrays, got list"),
        (np.ones((2, 4)), np.zeros((2, 4), bool), ValueError, "the object mask is empty"),
        (np.full((2, 4), np.nan), MASK, ValueError, "NaN or infinite"),
        (np.ones((2, 4), dtype=object), MASK, TypeError, "attribution must be numeric"),
    ],
)
def test_bad_maps_are_refused(attr, mask, exc, match):
    with pytest.raises(exc, match=match):
        focus_metrics(attr, mask)


def test_mean_ci_brackets_the_mean_counts_undefined_and_is_seeded():
    values = [0.1, 0.4, 0.5, 0.9, float("nan"), 0.3]
    a = mean_ci(values, rng=np.random.default_rng(1))
    b = mean_ci(values, rng=np.random.default_rng(1))
    assert a == b
    assert a["mean"] == pytest.approx(np.mean([0.1, 0.4, 0.5, 0.9, 0.3]))
    assert a["n"] == 5 and a["n_undefined"] == 1
    assert 0.1 <= a["ci_low"] < a["mean"] < a["ci_high"] <= 0.9


def test_mean_ci_of_equal_values_and_of_too_few():
    assert mean_ci([0.5, 0.5, 0.5], rng=np.random.default_rng(0))["ci_low"] == 0.5
    one = mean_ci([0.7], rng=np.random.default_rng(0))
    assert one["mean"] == 0.7 and one["ci_low"] is None
    assert mean_ci([], rng=np.random.default_rng(0))["mean"] is None


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator, got int"),
        ({"n_bootstrap": -1}, ValueError, "n_bootstrap must be an int >= 0"),
        ({"confidence": 1.5}, ValueError, r"confidence must be in \(0, 1\)"),
    ],
)
def test_mean_ci_bad_options(kwargs, exc, match):
    kwargs = {"rng": np.random.default_rng(0), **kwargs}
    with pytest.raises(exc, match=match):
        mean_ci([0.1, 0.2], **kwargs)


def test_right_versus_wrong_difference():
    frame = pd.DataFrame({"object_focus": [0.9, 0.8, 0.7, 0.2, 0.3, float("nan")],
                          "correct": [True, True, True, False, False, False]})
    out = right_vs_wrong(frame, rng=np.random.default_rng(0))
    assert out["right"]["mean"] == pytest.approx(0.8)
    assert out["wrong"]["mean"] == pytest.approx(0.25) and out["wrong"]["n_undefined"] == 1
    assert out["difference"] == pytest.approx(0.55)
    low, high = out["difference_ci"]
    assert low <= 0.55 <= high


def test_summary_covers_the_three_figures():
    frame = pd.DataFrame({"object_focus": [0.2, 0.6], "focus_ratio": [0.5, 1.5], "pointing_hit": [0.0, 1.0]})
    out = summarise_focus(frame, rng=np.random.default_rng(0), n_bootstrap=0)
    assert {k: v["mean"] for k, v in out.items()} == pytest.approx(
        {"object_focus": 0.4, "focus_ratio": 1.0, "pointing_hit": 0.5})
    assert out["object_focus"]["ci_low"] is None  # n_bootstrap = 0: no interval
