"""Hard samples by mask statistics: several objects, tiny objects, cut-off objects."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ximagenet12.scenarios.generation.hardness import HardnessThresholds, hard_sample_reason, mask_statistics


def _disc(h=100, w=100, centre=(50, 50), radius=20, mask=None):
    mask = np.zeros((h, w), np.uint8) if mask is None else mask.astype(np.uint8)
    cv2.circle(mask, (centre[1], centre[0]), radius, 1, thickness=-1)
    return mask.astype(bool)


def test_one_object_inside_the_frame_is_not_hard():
    mask = _disc()
    stats = mask_statistics(mask)
    assert stats.objects == 1 and stats.border_fraction == 0.0
    assert stats.object_fraction == pytest.approx(mask.sum() / 10_000)
    assert hard_sample_reason(mask) is None


def test_several_objects_are_hard_but_specks_of_noise_do_not_count():
    two = _disc(centre=(30, 30), radius=12, mask=_disc(centre=(70, 70), radius=12))
    assert mask_statistics(two).objects == 2
    assert hard_sample_reason(two) == (
        "hard sample: several objects (2 components of at least 5% of the object area; at most 1 allowed)"
    )
    assert hard_sample_reason(two, HardnessThresholds(max_objects=2)) is None
    speck = _disc().copy()
    speck[2:4, 2:4] = True  # 4 px against ~1250 px of object
    assert mask_statistics(speck).objects == 1
    assert hard_sample_reason(speck) is None


def test_tiny_objects_are_hard():
    mask = _disc(radius=4)  # ~0.5% of the image
    assert hard_sample_reason(mask).startswith("hard sample: tiny object (0.")
    assert "minimum 1.00%" in hard_sample_reason(mask)
    assert hard_sample_reason(mask, HardnessThresholds(min_object_fraction=None)) is None


def test_an_object_cut_by_the_frame_is_hard():
    half = _disc(centre=(99, 50), radius=30)  # a half disc standing on the bottom edge
    # outline: the arc (~pi r) plus the diameter (2r) on the frame -> about 2 / (pi + 2) = 0.39
    assert mask_statistics(half).border_fraction == pytest.approx(2 / (np.pi + 2), abs=0.05)
    assert "hard sample: cut-off object (" in hard_sample_reason(half)
    assert hard_sample_reason(half, HardnessThresholds(max_border_fraction=0.5)) is None
    grazing = _disc(centre=(50, 50), radius=50)  # grazes each edge over a short stretch
    assert 0 < mask_statistics(grazing).border_fraction < 0.25
    assert hard_sample_reason(grazing) is None


def test_an_empty_mask_is_hard():
    assert hard_sample_reason(np.zeros((8, 8), bool)) == "hard sample: empty mask (no object pixels)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_objects": 0}, "max_objects must be a positive integer or None, got 0"),
        ({"min_object_fraction": 1.5}, "min_object_fraction must be a fraction between 0 and 1"),
        ({"max_border_fraction": -0.1}, "max_border_fraction must be a fraction"),
    ],
)
def test_bad_thresholds_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HardnessThresholds(**kwargs)


def test_a_mask_that_is_not_bool_is_refused():
    with pytest.raises(TypeError, match="mask must be an HxW bool numpy array, got uint8"):
        mask_statistics(np.zeros((4, 4), np.uint8))
