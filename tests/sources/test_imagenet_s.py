"""ImageNet-S reader: class id = R + 256·G, 0 = other, 1000 = ignored; one object class per image."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from ximagenet12.builder import build_dataset
from ximagenet12.sources import open_source
from ximagenet12.sources.imagenet_s import IGNORE_ID, ImageNetSSource, decode_label_ids
from ximagenet12.core.types import SampleError

#: 50 made-up categories, listed out of order on purpose: ids come from the *sorted* list.
CATEGORIES = [f"n{k:08d}" for k in range(1000, 1050)][::-1]
FOX, CAT = "n00001007", "n00001031"  # class ids 8 and 32
H, W = 24, 32


def label_png(ids: np.ndarray, *, blue: int = 0) -> Image.Image:
    """An ImageNet-S label: (id % 256, id // 256, 0) per pixel."""
    rgb = np.stack([ids % 256, ids // 256, np.full_like(ids, blue)], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


def box_ids(class_id: int, *, other: int | None = None) -> np.ndarray:
    ids = np.zeros((H, W), np.int64)
    ids[4:16, 6:20] = class_id
    ids[4:16, 20] = IGNORE_ID  # an ignored seam along the object
    if other is not None:
        ids[18:22, 24:30] = other
    return ids


def add(root, split, wnid, name, ids, *, seed=0):
    (root / split / wnid).mkdir(parents=True, exist_ok=True)
    (root / f"{split}-segmentation" / wnid).mkdir(parents=True, exist_ok=True)
    photo = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(photo).save(root / split / wnid / f"{name}.JPEG", quality=95)
    if ids is not None:
        (ids if isinstance(ids, Image.Image) else label_png(ids)).save(root / f"{split}-segmentation" / wnid / f"{name}.png")


@pytest.fixture
def corpus(tmp_path):
    """ImageNetS50 with two classes in validation and train-semi, and its category file."""
    root = tmp_path / "ImageNetS50"
    add(root, "validation", FOX, "ILSVRC2012_val_00000001", box_ids(8, other=32), seed=1)
    add(root, "validation", CAT, "ILSVRC2012_val_00000002", box_ids(32), seed=2)
    add(root, "train-semi", FOX, f"{FOX}_11", box_ids(8), seed=3)
    categories = tmp_path / "ImageNetS_categories_im50.txt"
    categories.write_text("\n".join(CATEGORIES) + "\n")
    return root, categories


def test_the_mask_is_the_pixels_of_the_images_own_class(corpus):
    root, categories = corpus
    source = ImageNetSSource(root, categories=categories)
    assert source.classes == [FOX, CAT] and len(source) == 3 and source.skipped == []
    sample = next(i for i in source.items() if i.source_id == "ILSVRC2012_val_00000001").load()
    expected = np.zeros((H, W), bool)
    expected[4:16, 6:20] = True  # not the ignored seam, not the other class's box
    assert sample.class_key == FOX and sample.image.shape == (H, W, 3)
    np.testing.assert_array_equal(sample.mask, expected)
    assert pickle.loads(pickle.dumps(next(source.items()))).load().source_id  # picklable for workers


def test_class_ids_decode_from_red_and_green():
    ids = np.array([[0, 1, 255, 256], [300, 919, 1000, 513]])
    buffer = __import__("io").BytesIO()
    label_png(ids).save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_label_ids(buffer.getvalue(), source_id="x"), ids)


def test_open_source_detects_the_layout_and_the_build_uses_it(corpus, tmp_path):
    root, categories = corpus
    source = open_source(root, categories=categories, split="validation")
    assert isinstance(source, ImageNetSSource) and len(source) == 2
    summary = build_dataset(source, tmp_path / "out", scenarios=["original", "blur_background"], progress=False)
    assert summary.configs["original"].rows == 2 and summary.classes == [FOX, CAT]


def test_the_class_folders_give_the_ids_when_they_are_the_whole_subset(tmp_path):
    root = tmp_path / "ImageNetS50"
    for wnid in CATEGORIES:
        (root / "validation" / wnid).mkdir(parents=True)
    (root / "validation-segmentation").mkdir()
    add(root, "validation", CAT, "ILSVRC2012_val_00000002", box_ids(32))
    source = open_source(root)
    assert source.subset == "50" and next(source.items()).load().mask.sum() == 12 * 14


@pytest.mark.parametrize(
    ("label", "match"),
    [
        (Image.fromarray(np.full((H, W), 8, np.uint8), "L"), r"label PNG of mode L; expected RGB \(class id = R \+ 256·G\)"),
        (label_png(box_ids(8), blue=7), "non-zero blue channel"),
        (label_png(box_ids(8, other=77)), r"class id\(s\) 77 outside 1\.\.50 \(0 = other, 1000 = ignored\)"),
        (label_png(box_ids(32)), r"no pixel of the image's class n00001007 \(id 8\); class ids present: \[32\]"),
    ],
)
def test_bad_label_pngs_fail_with_the_sample_named(tmp_path, label, match):
    root = tmp_path / "ImageNetS50"
    add(root, "validation", FOX, "ILSVRC2012_val_00000009", label)
    (tmp_path / "cats.txt").write_text("\n".join(CATEGORIES))
    item = next(ImageNetSSource(root, categories=tmp_path / "cats.txt").items())
    with pytest.raises(SampleError, match=match + r".*\(source ILSVRC2012_val_00000009\)"):
        item.load()


def test_an_unreadable_label_is_a_sample_error(corpus):
    root, categories = corpus
    (root / "train-semi-segmentation" / FOX / f"{FOX}_11.png").write_bytes(b"not a png")
    item = next(i for i in ImageNetSSource(root, categories=categories).items() if i.source_id == f"{FOX}_11")
    with pytest.raises(SampleError, match=r"could not decode the ImageNet-S label PNG: .*\(source n00001007_11\)"):
        item.load()


def test_missing_labels_and_unknown_folders_are_recorded_skips(corpus):
    root, categories = corpus
    add(root, "validation", FOX, "ILSVRC2012_val_00000003", None)
    add(root, "validation", "n09999999", "ILSVRC2012_val_00000004", box_ids(8))
    source = ImageNetSSource(root, categories=categories)
    reasons = {s.source_id: s.reason for s in source.skipped}
    assert reasons == {
        "ILSVRC2012_val_00000003": f"label PNG missing: expected validation-segmentation/{FOX}/ILSVRC2012_val_00000003.png",
        "ILSVRC2012_val_00000004": "class folder n09999999 is not an ImageNet-S50 category",
    }


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, r"ImageNet-S50 has 50 classes but ImageNetS50 \(its class folders\) gives 2; pass categories="),
        ({"subset": 77}, ValueError, "subset must be 50, 300 or 919, got 77"),
        ({"split": "test"}, ValueError, "split must be 'all', 'validation' or 'train-semi', got 'test'"),
        ({"categories": "/nowhere.txt"}, FileNotFoundError, "ImageNet-S category file not found: /nowhere.txt"),
    ],
)
def test_bad_options(corpus, kwargs, error, match):
    root, _ = corpus
    with pytest.raises(error, match=match):
        ImageNetSSource(root, **kwargs)


def test_bad_folders_and_category_files(corpus, tmp_path):
    root, categories = corpus
    renamed = root.rename(tmp_path / "imagenet-s")
    with pytest.raises(ValueError, match=r"cannot tell the ImageNet-S subset of 'imagenet-s': name the folder ImageNetS50"):
        ImageNetSSource(renamed, categories=categories)
    short = tmp_path / "short.txt"
    short.write_text("\n".join(CATEGORIES[:10]))
    with pytest.raises(ValueError, match=r"ImageNet-S300 has 300 classes but category file short.txt gives 10$"):
        ImageNetSSource(renamed, subset=300, categories=short)
    junk = tmp_path / "junk.txt"
    junk.write_text("goldfish\n")
    with pytest.raises(ValueError, match="category file junk.txt lists 'goldfish', which is not a wnid"):
        ImageNetSSource(renamed, subset=50, categories=junk)
    empty = tmp_path / "ImageNetS919"
    (empty / "validation").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="not an ImageNet-S folder with the train-semi split"):
        ImageNetSSource(empty, split="train-semi")
