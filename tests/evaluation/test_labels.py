"""Label mapping (fine-tuned vs ImageNet-1k through wnids) and the two scoring modes."""

from __future__ import annotations

import numpy as np
import pytest

from ximagenet12.core.constants import REFERENCE_CLASSES
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


# ----------------------------------------------------------- segmentation label spaces
def test_the_shipped_label_spaces_have_their_official_sizes_and_splits():
    from ximagenet12.evaluation.labels import label_spaces

    sizes = {name: (len(s.labels), len(s.things)) for name, s in label_spaces().items()}
    assert sizes == {"ade20k-150": (150, 100), "coco-panoptic-133": (133, 80), "cityscapes-19": (19, 8),
                     "pascal-voc-21": (21, 20)}
    for space in label_spaces().values():
        assert space.source and len(set(space.labels)) == len(space.labels)


@pytest.mark.parametrize("space, thing, stuff", [
    ("ade20k-150", "person", "wall"),
    ("coco-panoptic-133", "person", "wall-other-merged"),
    ("cityscapes-19", "car", "road"),
    ("pascal-voc-21", "cat", "background"),
])
def test_known_spaces_make_things_the_object(space, thing, stuff):
    from ximagenet12.evaluation.labels import label_spaces, object_label_policy

    policy = object_label_policy(label_spaces()[space].labels)
    assert policy.source == "label_space" and policy.space == space
    assert policy.is_object(thing) and not policy.is_object(stuff)


def test_other_spellings_of_a_space_match_it():
    """Mask2Former-style ADE names ('road, route', 'tub', 'street lamp') and VOC's spaced names."""
    from ximagenet12.evaluation.labels import label_spaces, match_label_space

    ade = list(label_spaces()["ade20k-150"].labels)
    for i, other in {6: "road, route", 8: "window ", 37: "tub", 87: "street lamp", 89: "tv", 138: "trash can",
                     65: "toilet, can, commode, crapper, pot, potty, stool, throne"}.items():
        ade[i] = other
    space, index = match_label_space(ade)
    assert space.name == "ade20k-150" and index == list(range(150))
    voc = ["__background__", "airplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "dining table", "dog", "horse", "motorcycle", "person", "potted plant", "sheep", "sofa", "train", "tv/monitor"]
    assert match_label_space(voc)[0].name == "pascal-voc-21"
    assert match_label_space(voc[:-1]) is None  # a subset is no match


def test_policy_fallbacks_and_errors():
    from ximagenet12.evaluation.labels import object_label_policy

    p = object_label_policy(["Background", "crack", "dent"])
    assert p.source == "background_label" and p.object_labels == ("crack", "dent")
    p = object_label_policy(["crack", "dent", "steel"], object_labels=["crack", "DENT"])
    assert p.source == "object_labels" and p.is_object("dent") and not p.is_object("steel")
    p = object_label_policy(None)  # a callable: labels unknown in advance
    assert p.is_object("cat") and not p.is_object("background")
    with pytest.raises(ValueError, match="match no known label space"):
        object_label_policy(["crack", "dent", "steel"])
    with pytest.raises(ValueError, match=r"object label\(s\) 'rust' are not labels of model 'm' \(--object-labels\)"):
        object_label_policy(["crack", "steel"], object_labels=["rust"], model="m")
