"""Label mapping (fine-tuned vs ImageNet-1k through wnids) and the two scoring modes."""

from __future__ import annotations

import numpy as np
import pytest

from ximagenet12.constants import REFERENCE_CLASSES
from ximagenet12.evaluation.labels import UnmappableLabelsError, map_labels, score_logits
from ximagenet12.evaluation.models import imagenet1k_id2label

NAMES = [n for _, n, _ in REFERENCE_CLASSES]
WNIDS = [w for w, _, _ in REFERENCE_CLASSES]
IMAGENET_INDEX = [i for _, _, i in REFERENCE_CLASSES]


def test_imagenet_model_maps_through_wnids_to_the_spec_indices():
    m = map_labels(imagenet1k_id2label(), NAMES, WNIDS)
    assert m.kind == "imagenet_wnids"
    assert list(m.model_index) == IMAGENET_INDEX


def test_imagenet_model_maps_by_class_name_when_keys_are_missing():
    # "crayfish" is a synonym of two ImageNet classes; its first-synonym meaning wins
    m = map_labels(imagenet1k_id2label(), NAMES, None)
    assert list(m.model_index) == IMAGENET_INDEX


def test_imagenet_subset_head_with_classic_names_maps_by_name():
    full = imagenet1k_id2label()
    labels = [full[i] for i in reversed(IMAGENET_INDEX)]  # "alligator lizard", ... in reverse
    m = map_labels(labels, NAMES, WNIDS)
    assert list(m.model_index) == list(range(11, -1, -1))


def test_model_with_wnid_labels():
    m = map_labels(list(reversed(WNIDS)) + ["n01440764"], NAMES, WNIDS)
    assert m.kind == "dataset_classes"  # keys match directly
    assert list(m.model_index) == list(range(11, -1, -1))


def test_fine_tuned_model_matches_names_case_and_underscores_insensitively():
    labels = {i: n.upper().replace(" ", "_") for i, n in enumerate(NAMES[::-1])}
    m = map_labels(labels, NAMES, WNIDS)
    assert m.kind == "dataset_classes"
    assert list(m.model_index) == list(range(11, -1, -1))


def test_unmappable_labels_name_the_missing_classes():
    with pytest.raises(UnmappableLabelsError, match=r"model 'my-model'.*2 of 12 classes not found: cello \(n02992211\), ice cream"):
        map_labels(NAMES[:10] + ["cat", "dog"], NAMES, WNIDS, model="my-model")
    with pytest.raises(ValueError, match="has no labels"):
        map_labels([], NAMES, WNIDS)


def test_strict_and_restricted_modes_differ_when_top1_is_outside_the_dataset():
    labels = ["cat", "alligator lizard", "green lizard", "crayfish"]
    m = map_labels(labels, NAMES[:3], WNIDS[:3])
    logits = np.array(
        [
            [5.0, 1.0, 3.0, 0.0],  # top-1 "cat" (not a class); among classes: green lizard
            [0.0, 4.0, 1.0, 0.0],  # alligator lizard in both modes
        ]
    )
    s = score_logits(logits, m)
    assert list(s.strict_model_index) == [0, 1]
    assert list(s.strict_class) == [-1, 0]
    assert list(s.restricted_class) == [1, 0]
    e = np.exp(logits[0])
    assert s.strict_score[0] == pytest.approx(e[0] / e.sum())
    assert s.restricted_score[0] == pytest.approx(e[2] / e[1:].sum())


def test_logits_of_the_wrong_width_are_an_error():
    m = map_labels(NAMES, NAMES, WNIDS)
    with pytest.raises(ValueError, match="expected logits of shape N x 12"):
        score_logits(np.zeros((2, 5)), m)
