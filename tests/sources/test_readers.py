"""Source readers: each layout round-trips a tiny hand-made sample, every bad input
gets a recorded skip reason or a SampleError naming the sample, and items are
sorted, picklable and decode to the boundary contract."""

from __future__ import annotations

import base64
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ximagenet12.sources import (
    CocoSource,
    FolderSource,
    HFDatasetSource,
    LabelMeSource,
    LoadOptions,
    ReleaseSource,
    class_names_for,
    open_source,
    rle_counts_from_string,
    rle_decode,
    shapes_to_mask,
)
from ximagenet12.core.types import Sample, SampleError

LIZARD, CELLO = "n01689811", "n02992211"

#: The hand-made object: rows 2..4, columns 3..6 of an 8×10 frame.
H, W = 8, 10
OBJECT = np.zeros((H, W), dtype=bool)
OBJECT[2:5, 3:7] = True


def _image(value: int = 120, h: int = H, w: int = W) -> np.ndarray:
    image = np.full((h, w, 3), value, dtype=np.uint8)
    image[..., 1] = 40
    return image


def _save(path: Path, array: np.ndarray, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, fmt, **kw)
    return path


def _mask_png(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.uint8) * 255


def _release(root: Path, samples: dict[str, np.ndarray | None]) -> Path:
    """Write ``image/<wnid>/<id>.JPEG`` (+ ``masks/<wnid>/<id>.png`` unless None)."""
    for source_id, mask in samples.items():
        wnid = source_id.split("_")[0]
        _save(root / "image" / wnid / f"{source_id}.JPEG", _image(), "JPEG", quality=95)
        if mask is not None:
            _save(root / "masks" / wnid / f"{source_id}.png", _mask_png(mask))
    return root


def _reasons(source) -> dict[str, str]:
    return {s.source_id: s.reason for s in source.skipped}


def _check_sample(sample: Sample, *, source_id: str, class_key: str, mask: np.ndarray = OBJECT) -> None:
    assert (sample.source_id, sample.class_key) == (source_id, class_key)
    assert sample.image.dtype == np.uint8 and sample.image.shape == mask.shape + (3,)
    assert sample.mask.dtype == bool
    np.testing.assert_array_equal(sample.mask, mask)


# ------------------------------------------------------------------ release layout


def test_release_round_trip(tmp_path: Path):
    root = _release(
        tmp_path / "release",
        {f"{CELLO}_15171": OBJECT, f"{LIZARD}_2": OBJECT, f"{LIZARD}_10": OBJECT},
    )
    source = ReleaseSource(root)
    assert source.name == "release" and len(source) == 3 and source.skipped == []
    assert source.classes == [LIZARD, CELLO]
    assert source.class_names == ["alligator lizard", "cello"]
    items = list(source.items())
    assert [(i.class_key, i.source_id) for i in items] == [
        (LIZARD, f"{LIZARD}_10"),
        (LIZARD, f"{LIZARD}_2"),
        (CELLO, f"{CELLO}_15171"),
    ]
    sample = items[2].load()
    _check_sample(sample, source_id=f"{CELLO}_15171", class_key=CELLO)
    np.testing.assert_allclose(sample.image.astype(int), _image().astype(int), atol=4)


def test_items_are_picklable_and_load_after_a_round_trip(tmp_path: Path):
    source = ReleaseSource(_release(tmp_path, {f"{LIZARD}_1": OBJECT}))
    item = pickle.loads(pickle.dumps(next(source.items())))
    _check_sample(item.load(), source_id=f"{LIZARD}_1", class_key=LIZARD)


def test_release_extensions_are_case_insensitive(tmp_path: Path):
    _save(tmp_path / "image" / LIZARD / f"{LIZARD}_1.jpeg", _image(), "JPEG")
    _save(tmp_path / "masks" / LIZARD / f"{LIZARD}_1.PNG", _mask_png(OBJECT), "PNG")
    source = ReleaseSource(tmp_path)
    _check_sample(next(source.items()).load(), source_id=f"{LIZARD}_1", class_key=LIZARD)


def test_mask_missing_is_skipped_with_the_expected_path(tmp_path: Path):
    source = ReleaseSource(_release(tmp_path, {f"{LIZARD}_1": OBJECT, f"{LIZARD}_3": None}))
    assert len(source) == 1
    assert _reasons(source) == {f"{LIZARD}_3": f"mask missing: expected masks/{LIZARD}/{LIZARD}_3.png"}


def test_mask_without_image_is_reported(tmp_path: Path):
    root = _release(tmp_path, {f"{LIZARD}_1": OBJECT})
    _save(root / "masks" / LIZARD / f"{LIZARD}_9.png", _mask_png(OBJECT))
    assert _reasons(ReleaseSource(root)) == {
        f"{LIZARD}/{LIZARD}_9": f"mask has no matching image: {LIZARD}/{LIZARD}_9.png"
    }


def test_mask_size_differs_from_the_image(tmp_path: Path):
    root = _release(tmp_path, {f"{LIZARD}_1": np.ones((H, W + 1), dtype=bool)})
    item = next(ReleaseSource(root).items())
    with pytest.raises(SampleError, match=rf"^mask 8×11 does not match image 8×10 \(source {LIZARD}_1\)$"):
        item.load()


NON_BINARY_MASKS = {
    "0/1": OBJECT.astype(np.uint8),
    "0/255": OBJECT.astype(np.uint8) * 255,
    "red-on-black": np.dstack([OBJECT * 255, OBJECT * 0, OBJECT * 0]).astype(np.uint8),
}


@pytest.mark.parametrize("encoding", [*NON_BINARY_MASKS, "palette"])
def test_non_binary_masks_are_standardised_identically(tmp_path: Path, encoding):
    path = tmp_path / "masks" / LIZARD / f"{LIZARD}_1.png"
    if encoding == "palette":
        im = Image.fromarray(OBJECT.astype(np.uint8) * 3, mode="L").convert("P")
        im.putpalette([0, 0, 0] * 3 + [0, 128, 255] + [0] * 252 * 3)  # object = index 3
        path.parent.mkdir(parents=True)
        im.save(path)
    else:
        _save(path, NON_BINARY_MASKS[encoding])
    _save(tmp_path / "image" / LIZARD / f"{LIZARD}_1.JPEG", _image(), "JPEG")
    _check_sample(next(ReleaseSource(tmp_path).items()).load(), source_id=f"{LIZARD}_1", class_key=LIZARD)


def test_empty_mask_is_a_sample_error_unless_allowed(tmp_path: Path):
    root = _release(tmp_path, {f"{LIZARD}_1": np.zeros((H, W), dtype=bool)})
    with pytest.raises(SampleError, match=rf"^mask has no object pixels \(source {LIZARD}_1\)$"):
        next(ReleaseSource(root).items()).load()
    sample = next(ReleaseSource(root, options=LoadOptions(allow_empty_mask=True)).items()).load()
    assert not sample.mask.any()


def test_all_object_mask_is_a_sample_error_unless_allowed(tmp_path: Path):
    root = _release(tmp_path, {f"{LIZARD}_1": np.ones((H, W), dtype=bool)})
    with pytest.raises(SampleError, match=rf"^mask covers the whole image; no background \(source {LIZARD}_1\)$"):
        next(ReleaseSource(root).items()).load()
    assert next(ReleaseSource(root, options=LoadOptions(allow_full_mask=True)).items()).load().mask.all()


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_corrupt_or_truncated_image_is_a_sample_error(tmp_path: Path, damage):
    root = _release(tmp_path, {f"{LIZARD}_1": OBJECT})
    path = root / "image" / LIZARD / f"{LIZARD}_1.JPEG"
    data = path.read_bytes()
    path.write_bytes(b"garbage" * 10 if damage == "corrupt" else data[: len(data) // 2])
    with pytest.raises(SampleError, match=rf"^could not decode image .* \(source {LIZARD}_1\)$"):
        next(ReleaseSource(root).items()).load()


def test_decompression_bomb_limit_applies_to_source_items(tmp_path: Path):
    root = _release(tmp_path, {f"{LIZARD}_1": OBJECT})
    item = next(ReleaseSource(root, options=LoadOptions(max_pixels=50)).items())
    with pytest.raises(SampleError, match=rf"image of 10×8 = 80 pixels exceeds the limit of 50 pixels.*\(source {LIZARD}_1\)"):
        item.load()


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize("mask_drawn_on", ["stored", "displayed"])
def test_exif_rotated_image_and_its_mask_stay_aligned(tmp_path: Path, mask_drawn_on):
    # The stored JPEG is 8×10 with a red object; EXIF 6 says "rotate 90° clockwise".
    stored = np.zeros((H, W, 3), dtype=np.uint8)
    stored[OBJECT] = (255, 0, 0)
    _save(tmp_path / "image" / LIZARD / f"{LIZARD}_1.JPEG", stored, "JPEG", quality=95, exif=_exif(6))
    mask = OBJECT if mask_drawn_on == "stored" else np.rot90(OBJECT, -1)
    _save(tmp_path / "masks" / LIZARD / f"{LIZARD}_1.png", _mask_png(mask))
    sample = next(ReleaseSource(tmp_path).items()).load()
    assert sample.image.shape == (W, H, 3)
    red = (sample.image[..., 0] > 128) & (sample.image[..., 1] < 128)
    np.testing.assert_array_equal(sample.mask, red)  # the object lands in the same place
    np.testing.assert_array_equal(sample.mask, np.rot90(OBJECT, -1))


def test_greyscale_cmyk_palette_and_16_bit_images_load_as_rgb(tmp_path: Path):
    grey = np.full((H, W), 90, dtype=np.uint8)
    _save(tmp_path / "image" / "grey" / "a.png", grey)
    (tmp_path / "image" / "cmyk").mkdir(parents=True)
    Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(tmp_path / "image" / "cmyk" / "b.tif")
    (tmp_path / "image" / "palette").mkdir(parents=True)
    Image.fromarray(grey).convert("P").save(tmp_path / "image" / "palette" / "c.png")
    _save(tmp_path / "image" / "sixteen" / "d.png", np.full((H, W), 0x5A00, dtype=np.uint16))
    for cls, stem in [("grey", "a"), ("cmyk", "b"), ("palette", "c"), ("sixteen", "d")]:
        _save(tmp_path / "masks" / cls / f"{stem}.png", _mask_png(OBJECT))
    samples = {i.class_key: i.load() for i in FolderSource(tmp_path / "image", tmp_path / "masks").items()}
    assert sorted(samples) == ["cmyk", "grey", "palette", "sixteen"]
    for cls, rgb in [("grey", 90), ("palette", 90), ("sixteen", 0x5A), ("cmyk", None)]:
        image = samples[cls].image
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        expected = (255, 0, 0) if rgb is None else (rgb, rgb, rgb)
        assert (image == expected).all(), cls


def test_release_without_masks_folder_explains_the_layout(tmp_path: Path):
    _save(tmp_path / "image" / LIZARD / f"{LIZARD}_1.JPEG", _image(), "JPEG")
    with pytest.raises(FileNotFoundError, match=r"is not a release folder: masks/ is missing \(expected image/<wnid>"):
        ReleaseSource(tmp_path)


# ------------------------------------------------------------------ generic folder pair


def test_folder_source_mirrored_flat_and_suffixed_masks(tmp_path: Path):
    images, masks = tmp_path / "imgs", tmp_path / "gt"
    _save(images / "cat" / "001.png", _image())
    _save(images / "dog" / "001.png", _image(30))
    _save(images / "dog" / "002.png", _image(60))
    _save(masks / "cat" / "001_mask.png", _mask_png(OBJECT))  # mirrored
    _save(masks / "dog" / "001_mask.png", _mask_png(~OBJECT))
    _save(masks / "002_mask.png", _mask_png(OBJECT))  # flat
    source = FolderSource(images, masks, mask_suffix="_mask")
    assert source.classes == ["cat", "dog"] and source.class_names == ["cat", "dog"]
    assert [i.source_id for i in source.items()] == ["cat/001", "dog/001", "dog/002"]
    loaded = {i.source_id: i.load() for i in source.items()}
    _check_sample(loaded["cat/001"], source_id="cat/001", class_key="cat")
    _check_sample(loaded["dog/001"], source_id="dog/001", class_key="dog", mask=~OBJECT)
    _check_sample(loaded["dog/002"], source_id="dog/002", class_key="dog")
    np.testing.assert_array_equal(loaded["dog/002"].image, _image(60))


def test_folder_source_images_without_class_folder_explain_the_layout(tmp_path: Path):
    _save(tmp_path / "images" / "001.png", _image())
    (tmp_path / "masks").mkdir()
    with pytest.raises(ValueError, match=r"1 image\(s\) lie directly in .*images \(e\.g\. 001\.png\); the class comes from the sub-folder"):
        FolderSource(tmp_path / "images", tmp_path / "masks")


def test_folder_source_reports_missing_and_ambiguous_masks(tmp_path: Path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    _save(images / "cat" / "001.png", _image())
    _save(images / "cat" / "002.png", _image())
    _save(masks / "cat" / "002.png", _mask_png(OBJECT))
    _save(masks / "cat" / "002.bmp", _mask_png(OBJECT))
    source = FolderSource(images, masks)
    assert len(source) == 0
    assert _reasons(source) == {
        "cat/001": "mask missing: expected masks/cat/001.<ext> or masks/001.<ext>",
        "cat/002": "several masks match this image: cat/002.bmp, cat/002.png",
    }


# ------------------------------------------------------------------ LabelMe


def _labelme(path: Path, image_path: str | None, shapes: list[dict], **extra) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": "5.4.1", "shapes": shapes, "imagePath": image_path, "imageData": None,
           "imageHeight": H, "imageWidth": W, **extra}
    path.write_text(json.dumps(doc))
    return path


SQUARE = {"label": "cello", "shape_type": "polygon", "points": [[3, 2], [6, 2], [6, 4], [3, 4]]}


def test_labelme_round_trip_with_polygon_rectangle_and_background(tmp_path: Path):
    _save(tmp_path / CELLO / "a.jpg", _image(), "JPEG")
    shapes = [
        SQUARE,
        {"label": "cello", "shape_type": "rectangle", "points": [[9, 7], [8, 6]]},
        {"label": "_background_", "shape_type": "polygon", "points": [[0, 0], [9, 0], [9, 7], [0, 7]]},
        {"label": "bow", "shape_type": "line", "points": [[0, 0], [9, 7]]},
    ]
    _labelme(tmp_path / CELLO / "a.json", "a.jpg", shapes)
    source = LabelMeSource(tmp_path)
    assert source.classes == [CELLO] and source.class_names == ["cello"] and source.skipped == []
    expected = OBJECT.copy()
    expected[6:8, 8:10] = True
    _check_sample(next(source.items()).load(), source_id=f"{CELLO}/a", class_key=CELLO, mask=expected)


def test_labelme_circle_and_embedded_image_data(tmp_path: Path):
    buf = io.BytesIO()
    Image.fromarray(_image(h=20, w=20)).save(buf, "PNG")
    circle = {"label": "fox", "shape_type": "circle", "points": [[10, 10], [15, 10]]}
    _labelme(tmp_path / "foxes" / "x.json", "gone.png", [circle], imageData=base64.b64encode(buf.getvalue()).decode(),
             imageHeight=20, imageWidth=20)
    source = LabelMeSource(tmp_path, class_from="label")
    sample = next(source.items()).load()
    assert sample.class_key == "fox"
    np.testing.assert_array_equal(sample.image, _image(h=20, w=20))
    yy, xx = np.mgrid[:20, :20]
    inside, outside = np.hypot(yy - 10, xx - 10) <= 4, np.hypot(yy - 10, xx - 10) > 6
    assert sample.mask[inside].all() and not sample.mask[outside].any()


def test_labelme_class_from_the_most_common_label(tmp_path: Path):
    _save(tmp_path / "a.png", _image())
    shapes = [dict(SQUARE, label="dog"), dict(SQUARE, label="cat"), dict(SQUARE, label="dog"),
              dict(SQUARE, label="background"), dict(SQUARE, label="background")]
    _labelme(tmp_path / "a.json", "a.png", shapes)
    assert [i.class_key for i in LabelMeSource(tmp_path, class_from="label").items()] == ["dog"]
    assert _reasons(LabelMeSource(tmp_path)) == {
        "a": "a.json is not in a class folder: expected <source>/<class>/<name>.json (or use class_from='label')"
    }


def test_labelme_image_path_outside_the_root_is_skipped(tmp_path: Path):
    root = tmp_path / "annotations"
    _save(tmp_path / "secret.png", _image())
    _labelme(root / "cls" / "evil.json", "../../secret.png", [SQUARE])
    source = LabelMeSource(root)
    assert len(source) == 0
    (reason,) = _reasons(source).values()
    assert reason == "imagePath '../../secret.png' resolves outside the source folder; refusing to read it"


def test_labelme_reports_missing_images_orphans_and_foreign_json(tmp_path: Path):
    _labelme(tmp_path / "cls" / "a.json", "a.png", [SQUARE])
    _save(tmp_path / "cls" / "b.png", _image())
    (tmp_path / "cls" / "other.json").write_text(json.dumps({"images": []}))
    assert _reasons(LabelMeSource(tmp_path)) == {
        "cls/a": "image missing: imagePath 'a.png' (looked for cls/a.png)",
        "cls/b.png": "no LabelMe JSON refers to image cls/b.png",
        "cls/other": "cls/other.json is not a LabelMe file (no 'shapes' list)",
    }


def test_labelme_unsupported_shape_type_is_a_sample_error(tmp_path: Path):
    _save(tmp_path / "cls" / "a.png", _image())
    _labelme(tmp_path / "cls" / "a.json", "a.png", [dict(SQUARE, shape_type="ellipse")])
    with pytest.raises(SampleError, match=r"unsupported LabelMe shape_type 'ellipse'.*\(source cls/a\)"):
        next(LabelMeSource(tmp_path).items()).load()


def test_shapes_to_mask_square_polygon_is_filled_inclusively():
    np.testing.assert_array_equal(shapes_to_mask([SQUARE], H, W, source_id="x"), OBJECT)


def test_shapes_to_mask_pastes_a_mask_shape_at_its_first_point():
    patch = np.array([[1, 0, 1], [1, 1, 0]], dtype=np.uint8) * 255
    buf = io.BytesIO()
    Image.fromarray(patch).save(buf, "PNG")
    shape = {"label": "x", "shape_type": "mask", "points": [[8, 6], [10, 7]],
             "mask": base64.b64encode(buf.getvalue()).decode()}
    expected = np.zeros((H, W), dtype=bool)
    expected[6:8, 8:10] = patch[:, :2] > 0  # clipped at the right edge
    np.testing.assert_array_equal(shapes_to_mask([shape], H, W, source_id="x"), expected)


# ------------------------------------------------------------------ COCO


def _rle_counts(mask: np.ndarray) -> list[int]:
    """Independent oracle: run lengths over the column-major pixels, background first."""
    counts, current, run = [], False, 0
    for value in mask.ravel(order="F"):
        if bool(value) == current:
            run += 1
        else:
            counts.append(run)
            current, run = bool(value), 1
    counts.append(run)
    return counts


def _rle_string(counts: list[int]) -> str:
    """pycocotools' ``rleToString``, transcribed: the encoder the decoder must invert."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


@pytest.mark.parametrize(
    ("encoded", "counts"),
    [("32", [3, 2]), ("1114", [1, 1, 1, 5]), ("X1", [40]), ("159M", [1, 5, 9, 2])],
)
def test_compressed_rle_strings_decoded_by_hand(encoded, counts):
    # "X1": 40 = 8 + 1·32 → groups 8|0x20 ('X') then 1; "159M": 2 − 5 = −3 → 29 ('M'), sign bit set
    assert rle_counts_from_string(encoded) == counts
    assert _rle_string(counts) == encoded


def test_rle_decode_is_column_major():
    np.testing.assert_array_equal(rle_decode({"size": [2, 3], "counts": [1, 2, 3]}), [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"RLE counts sum to 5 pixels, but size 2×3 has 6"):
        rle_decode({"size": [2, 3], "counts": [1, 4]})


def _coco(tmp_path: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    images = images or [{"id": 1, "file_name": "a.png", "height": H, "width": W}]
    for record in images:
        if not (tmp_path / record["file_name"]).exists() and ".." not in record["file_name"]:
            _save(tmp_path / record["file_name"], _image())
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": LIZARD}, {"id": 3, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("encoding", ["polygon", "rle", "rle-compressed"])
def test_coco_round_trip(tmp_path: Path, encoding):
    if encoding == "polygon":
        segmentation = [[3, 2, 6, 2, 6, 4, 3, 4]]
    elif encoding == "rle":
        segmentation = {"size": [H, W], "counts": _rle_counts(OBJECT)}
    else:
        segmentation = {"size": [H, W], "counts": _rle_string(_rle_counts(OBJECT))}
    path = _coco(tmp_path, [{"id": 7, "image_id": 1, "category_id": 2, "segmentation": segmentation,
                             "iscrowd": int(encoding != "polygon")}])
    source = CocoSource(path, tmp_path)
    assert source.classes == sorted(["cat", LIZARD, "dog"])
    assert source.class_names == ["alligator lizard" if k == LIZARD else k for k in source.classes]
    _check_sample(next(source.items()).load(), source_id="a", class_key=LIZARD)


def test_coco_union_of_instances_and_class_of_the_largest(tmp_path: Path):
    small = [[0, 0, 1, 0, 1, 1, 0, 1]]  # 2×2 pixels at the top-left
    path = _coco(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 1, "segmentation": small},  # no area field: computed
        {"id": 2, "image_id": 1, "category_id": 3, "segmentation": [[3, 2, 6, 2, 6, 4, 3, 4]], "area": 12},
    ])
    expected = OBJECT.copy()
    expected[0:2, 0:2] = True
    _check_sample(next(CocoSource(path, tmp_path).items()).load(), source_id="a", class_key="dog", mask=expected)
    only_class = next(CocoSource(path, tmp_path, mask_instances="class").items()).load()
    _check_sample(only_class, source_id="a", class_key="dog")


def test_coco_images_without_annotations_are_skipped(tmp_path: Path):
    images = [{"id": 1, "file_name": "a.png", "height": H, "width": W},
              {"id": 2, "file_name": "b.png", "height": H, "width": W}]
    square = [[3, 2, 6, 2, 6, 4, 3, 4]]
    path = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": square}], images)
    assert _reasons(CocoSource(path, tmp_path)) == {"b": f"no annotations for this image in {path.name}"}
    filtered = CocoSource(path, tmp_path, category_ids=[3])
    assert filtered.classes == ["dog"] and len(filtered) == 0
    assert _reasons(filtered)["a"] == f"no annotations for this image of the selected categories in {path.name}"
    with pytest.raises(ValueError, match=r"category ids \[99\] are not in"):
        CocoSource(path, tmp_path, category_ids=[99])


def test_coco_reports_boxes_only_missing_and_outside_images(tmp_path: Path):
    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "missing.png"},
              {"id": 3, "file_name": "../outside.png"}]
    square = [[3, 2, 6, 2, 6, 4, 3, 4]]
    path = _coco(tmp_path / "coco", [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]},
        {"id": 2, "image_id": 2, "category_id": 1, "segmentation": square},
        {"id": 3, "image_id": 3, "category_id": 1, "segmentation": square},
        {"id": 4, "image_id": 42, "category_id": 1, "segmentation": square},
    ], images[:1])
    doc = json.loads(path.read_text())
    doc["images"] = images
    (tmp_path / "coco" / "missing.png").unlink(missing_ok=True)
    reasons = _reasons(CocoSource(doc, tmp_path / "coco"))
    assert reasons == {
        "a": "annotation 1 has no segmentation (bounding box only)",
        "missing": "image missing: missing.png (under the images folder)",
        "../outside": "file_name '../outside.png' resolves outside the images folder; refusing to read it",
        "annotation 4": "annotation refers to image id 42, which is not in 'images'",
    }


def test_coco_rle_size_mismatch_is_a_sample_error(tmp_path: Path):
    rle = {"size": [H, W + 1], "counts": _rle_counts(np.zeros((H, W + 1), bool))}
    path = _coco(tmp_path, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle, "area": 1}])
    with pytest.raises(SampleError, match=r"RLE size 8×11 does not match the image record 8×10 \(source a\)"):
        next(CocoSource(path, tmp_path).items()).load()


# ------------------------------------------------------------------ Hugging Face datasets


def _png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def _hf_dataset(masks: list, *, mask_feature=None):
    import datasets

    n = len(masks)
    features = datasets.Features({
        "image": datasets.Image(),
        "mask": mask_feature or datasets.Image(),
        "label": datasets.ClassLabel(names=[CELLO, LIZARD]),
    })
    return datasets.Dataset.from_dict(
        {
            "image": [{"bytes": _png_bytes(_image(10 * i)), "path": f"{LIZARD}_{i}.png"} for i in range(n)],
            "mask": masks,
            "label": [1, 0, 1][:n],
        },
        features=features,
    )


def test_hf_dataset_round_trip(tmp_path: Path):
    mask = {"bytes": _png_bytes(_mask_png(OBJECT)), "path": None}
    ds = _hf_dataset([mask, mask, None])
    source = HFDatasetSource(ds)
    assert source.classes == [LIZARD, CELLO] and source.class_names == ["alligator lizard", "cello"]
    assert [(i.class_key, i.source_id) for i in source.items()] == [(LIZARD, f"{LIZARD}_0"), (CELLO, f"{LIZARD}_1")]
    assert _reasons(source) == {f"{LIZARD}_2": "mask missing (row 2 has no 'mask' value)"}
    item = pickle.loads(pickle.dumps(next(source.items())))
    sample = item.load()
    _check_sample(sample, source_id=f"{LIZARD}_0", class_key=LIZARD)
    np.testing.assert_array_equal(sample.image, _image(0))


def test_hf_items_load_in_a_fresh_worker_process():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ds = _hf_dataset([{"bytes": _png_bytes(_mask_png(OBJECT)), "path": None}])
    item = next(HFDatasetSource(ds).items())
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        sample = pool.submit(item.load).result(timeout=120)
    _check_sample(sample, source_id=f"{LIZARD}_0", class_key=LIZARD)


def test_hf_dataset_with_array_masks_and_an_id_column(tmp_path: Path):
    import datasets

    ds = _hf_dataset([OBJECT.astype(np.uint8) * 255] * 2, mask_feature=datasets.Array2D((H, W), "uint8"))
    ds = ds.add_column("uid", ["x", "y"])
    source = HFDatasetSource(datasets.DatasetDict({"train": ds}), split="train", id_column="uid")
    assert [(i.class_key, i.source_id) for i in source.items()] == [(LIZARD, "x"), (CELLO, "y")]
    for item in source.items():
        assert np.array_equal(item.load().mask, OBJECT)
    with pytest.raises(TypeError, match=r"got a DatasetDict; pass split= one of \['train'\]"):
        HFDatasetSource(datasets.DatasetDict({"train": ds}))
    with pytest.raises(ValueError, match=r"column\(s\) \['segmentation'\] not in the dataset"):
        HFDatasetSource(ds, mask_column="segmentation")


# ------------------------------------------------------------------ detection


def test_open_source_detects_every_layout(tmp_path: Path):
    release = _release(tmp_path / "release", {f"{LIZARD}_1": OBJECT})
    assert isinstance(open_source(release), ReleaseSource)

    pair = tmp_path / "pair"
    _save(pair / "images" / "cat" / "1.png", _image())
    _save(pair / "masks" / "cat" / "1.png", _mask_png(OBJECT))
    assert isinstance(open_source(pair), FolderSource)

    coco = tmp_path / "coco"
    path = _coco(coco, [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[3, 2, 6, 2, 6, 4, 3, 4]]}])
    assert isinstance(open_source(path), CocoSource)
    assert isinstance(open_source(coco), CocoSource)

    labelme = tmp_path / "labelme"
    _save(labelme / "cls" / "a.png", _image())
    _labelme(labelme / "cls" / "a.json", "a.png", [SQUARE])
    assert isinstance(open_source(labelme), LabelMeSource)

    ds = _hf_dataset([{"bytes": _png_bytes(_mask_png(OBJECT)), "path": None}])
    assert isinstance(open_source(ds), HFDatasetSource)
    ds.save_to_disk(str(tmp_path / "saved"))
    saved = open_source(tmp_path / "saved")
    assert isinstance(saved, HFDatasetSource) and len(saved) == 1


def test_open_source_lists_the_supported_layouts_when_nothing_matches(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"cannot tell what kind of source .* \(no known layout found\)\. Supported layouts:\n  - release"):
        open_source(tmp_path)
    with pytest.raises(FileNotFoundError, match="source not found"):
        open_source(tmp_path / "nowhere")


def test_class_names_for_reference_and_other_keys():
    assert class_names_for([LIZARD, "n07614500", "widget"]) == ["alligator lizard", "ice cream", "widget"]
