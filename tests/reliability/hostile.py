"""A generated hostile corpus: sources that each hold good samples and one malformed thing.

Used by ``tests/reliability/`` and by ``benchmarks/reliability_tally.py``. Every case
writes a small source under a folder and says what a correct build does with it:
which sample ids must be built (``good``), which must appear in ``skipped.jsonl``
(``bad``, by id) and how many hidden files the summary must mention.
"""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

__all__ = ["CASES", "HostileCase", "png_bytes", "jpeg_bytes", "box_mask", "write_good_pair"]

H, W = 24, 32
#: A declared size far over the decompression-bomb limit (10^10 pixels).
HUGE = 100_000


def photo(seed: int, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def box_mask(h: int = H, w: int = W) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4 : h // 4 + max(1, h // 2), w // 4 : w // 4 + max(1, w // 2)] = 255
    if mask.all():
        mask.flat[0] = 0
    return mask


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def bomb_png(width: int = HUGE, height: int = HUGE) -> bytes:
    """A 60-byte PNG whose header declares ``width x height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


def write_good_pair(images: Path, masks: Path, cls: str, name: str, seed: int, *, h: int = H, w: int = W) -> None:
    (images / cls).mkdir(parents=True, exist_ok=True)
    (masks / cls).mkdir(parents=True, exist_ok=True)
    (images / cls / f"{name}.jpg").write_bytes(jpeg_bytes(photo(seed, h, w)))
    (masks / cls / f"{name}.png").write_bytes(png_bytes(box_mask(h, w)))


@dataclass
class HostileCase:
    """One hostile source: ``make(root)`` writes it and returns the path to build from."""

    name: str
    make: Callable[[Path], Path]
    good: set[str]
    bad: set[str]
    hidden: int = 0
    scenarios: str = "original,blur_background"
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- folders


def _folders(root: Path, bad: Callable[[Path, Path], None] | None = None, *, per_class: int = 2) -> Path:
    images, masks = root / "images", root / "masks"
    for c, cls in enumerate(("cat", "dog")):
        for k in range(per_class):
            write_good_pair(images, masks, cls, f"{cls}{k}", seed=10 * c + k)
    if bad is not None:
        bad(images, masks)
    return root


def _non_utf8_name(images: Path, masks: Path) -> None:
    name = os.fsdecode(b"bad\xff")
    (images / "cat" / f"{name}.jpg").write_bytes(jpeg_bytes(photo(99)))
    (masks / "cat" / f"{name}.png").write_bytes(png_bytes(box_mask()))


def _hidden(images: Path, masks: Path) -> None:
    (images / "cat" / "._cat0.jpg").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (images / ".thumbs").mkdir()
    (images / ".thumbs" / "cat0.jpg").write_bytes(jpeg_bytes(photo(1)))


def _truncated(images: Path, masks: Path) -> None:
    (images / "cat" / "cut.jpg").write_bytes(jpeg_bytes(photo(5))[:200])
    (masks / "cat" / "cut.png").write_bytes(png_bytes(box_mask()))


def _bomb(images: Path, masks: Path) -> None:
    (images / "cat" / "bomb.png").write_bytes(bomb_png())
    (masks / "cat" / "bomb.png").write_bytes(bomb_png())


def _mask_size(images: Path, masks: Path) -> None:
    (images / "cat" / "odd.jpg").write_bytes(jpeg_bytes(photo(6)))
    (masks / "cat" / "odd.png").write_bytes(png_bytes(box_mask(H + 1, W)))


def _thin(images: Path, masks: Path) -> None:
    for k, (h, w) in enumerate(((1, 40), (40, 1), (2, 3))):
        (images / "cat" / f"thin{k}.png").write_bytes(png_bytes(photo(50 + k, h, w)))
        mask = np.zeros((h, w), np.uint8)
        mask.flat[0] = 255
        (masks / "cat" / f"thin{k}.png").write_bytes(png_bytes(mask))


def _stray(images: Path, masks: Path) -> None:
    (images / "stray.jpg").write_bytes(jpeg_bytes(photo(7)))


GOOD_FOLDER_IDS = {"cat/cat0", "cat/cat1", "dog/dog0", "dog/dog1"}


# --------------------------------------------------------------------------- LabelMe


def _labelme(root: Path, bad_doc: dict[str, Any] | str | None = None, *, bad_name: str = "bad.json") -> Path:
    for c, cls in enumerate(("cat", "dog")):
        for k in range(2):
            folder = root / cls
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{cls}{k}.png").write_bytes(png_bytes(photo(10 * c + k)))
            doc = {"imagePath": f"{cls}{k}.png", "imageHeight": H, "imageWidth": W,
                   "shapes": [{"label": cls, "shape_type": "polygon", "points": [[4, 4], [20, 4], [20, 15], [4, 15]]}]}
            (folder / f"{cls}{k}.json").write_text(json.dumps(doc))
    if bad_doc is not None:
        text = bad_doc if isinstance(bad_doc, str) else json.dumps(bad_doc)
        (root / "cat" / bad_name).write_text(text)
    return root


def _lm_doc(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"imagePath": "cat0.png", "imageHeight": H, "imageWidth": W,
                           "shapes": [{"label": "cat", "shape_type": "polygon",
                                       "points": [[2, 2], [10, 2], [10, 10]]}]}
    doc.update(fields)
    return doc


GOOD_LM_IDS = {"cat/cat0", "cat/cat1", "dog/dog0", "dog/dog1"}


def _lm_case(name: str, doc: Any, **kw: Any) -> HostileCase:
    return HostileCase(name, lambda root: _labelme(root, doc), good=set(GOOD_LM_IDS), bad={"cat/bad"}, **kw)


def _lm_non_utf8(root: Path) -> Path:
    _labelme(root)
    (root / "cat" / os.fsdecode(b"bad\xfe.json")).write_text(json.dumps(_lm_doc()))
    return root


def _lm_same_id(root: Path) -> Path:
    _labelme(root)
    (root / "cat" / "cat0.JSON").write_text(json.dumps(_lm_doc()))
    return root


def _lm_huge_coordinates(root: Path) -> Path:
    _labelme(root)
    doc = _lm_doc(shapes=[{"label": "cat", "shape_type": "polygon",
                           "points": [[-1e15, -1e15], [1e15, -1e15], [1e15, 8], [-1e15, 8]]}])
    (root / "cat" / "huge.json").write_text(json.dumps(doc))
    return root


# --------------------------------------------------------------------------- COCO


def _coco(root: Path, mutate: Callable[[dict[str, Any]], None] | None = None) -> Path:
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"images": [], "annotations": [],
                           "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    for k in range(4):
        (images / f"img{k}.png").write_bytes(png_bytes(photo(k)))
        doc["images"].append({"id": k + 1, "file_name": f"img{k}.png", "height": H, "width": W})
        doc["annotations"].append({"id": 100 + k, "image_id": k + 1, "category_id": 1 + k % 2, "iscrowd": 0,
                                   "segmentation": [[4, 4, 20, 4, 20, 15, 4, 15]], "area": 176})
    (images / "bad.png").write_bytes(png_bytes(photo(9)))
    doc["images"].append({"id": 9, "file_name": "bad.png", "height": H, "width": W})
    doc["annotations"].append({"id": 109, "image_id": 9, "category_id": 1, "iscrowd": 0,
                               "segmentation": [[4, 4, 20, 4, 20, 15]], "area": 88})
    if mutate is not None:
        mutate(doc)
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


GOOD_COCO_IDS = {"img0", "img1", "img2", "img3"}


def _bad_ann(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["annotations"][-1]


def _bad_img(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["images"][-1]


def _coco_case(name: str, mutate: Callable[[dict[str, Any]], None], bad: set[str] | None = None,
               good: set[str] | None = None) -> HostileCase:
    return HostileCase(name, lambda root: _coco(root, mutate), good=set(GOOD_COCO_IDS if good is None else good),
                       bad={"bad"} if bad is None else bad)


def _set(target: Callable[[dict[str, Any]], dict[str, Any]], **values: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        target(doc).update(values)
    return mutate


def _append(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc[key].append(value)
    return mutate


def _coco_huge_polygon(doc: dict[str, Any]) -> None:
    _bad_ann(doc)["segmentation"] = [[-1e15, -1e15, 1e15, -1e15, 1e15, 8, -1e15, 8]]


# --------------------------------------------------------------------------- HF


def _hf(root: Path, kind: str) -> Path:
    import datasets

    rows: dict[str, list[Any]] = {"image": [], "mask": [], "label": []}
    for k in range(4):
        rows["image"].append({"bytes": png_bytes(photo(k)), "path": f"img{k}.png"})
        rows["mask"].append(box_mask().tolist() if kind == "ragged" else {"bytes": png_bytes(box_mask()), "path": None})
        rows["label"].append(k % 2)
    bad_image = {"bytes": b"garbage" if kind == "garbage" else png_bytes(photo(9)), "path": "bad.png"}
    rows["image"].append(bad_image)
    if kind == "ragged":
        rows["mask"].append([[0, 1], [1]])
    else:
        rows["mask"].append({"bytes": png_bytes(box_mask()), "path": None})
    rows["label"].append(-1 if kind == "label" else 0)  # -1: "no label" in datasets, not class 1
    mask_feature = datasets.Sequence(datasets.Sequence(datasets.Value("uint8"))) if kind == "ragged" else datasets.Image()
    features = datasets.Features({"image": datasets.Image(), "mask": mask_feature,
                                  "label": datasets.ClassLabel(names=["cat", "dog"])})
    ds = datasets.Dataset.from_dict(rows, features=features)
    ds.save_to_disk(str(root / "saved"))
    return root / "saved"


# --------------------------------------------------------------------------- the cases


CASES: list[HostileCase] = [
    # folders and the release layout
    HostileCase("folder_non_utf8_file_name", lambda r: _folders(r, _non_utf8_name), GOOD_FOLDER_IDS.copy(),
                {"cat/bad\\xff"}),
    HostileCase("folder_hidden_files", lambda r: _folders(r, _hidden), GOOD_FOLDER_IDS.copy(), set(), hidden=2),
    HostileCase("folder_truncated_image", lambda r: _folders(r, _truncated), GOOD_FOLDER_IDS.copy(), {"cat/cut"}),
    HostileCase("folder_png_declaring_10g_pixels", lambda r: _folders(r, _bomb), GOOD_FOLDER_IDS.copy(),
                {"cat/bomb"}),
    HostileCase("folder_mask_size_mismatch", lambda r: _folders(r, _mask_size), GOOD_FOLDER_IDS.copy(), {"cat/odd"}),
    HostileCase("folder_stray_image_outside_class_folders", lambda r: _folders(r, _stray), GOOD_FOLDER_IDS.copy(),
                {"stray"}),
    HostileCase("folder_thin_images_1px", lambda r: _folders(r, _thin),
                GOOD_FOLDER_IDS | {"cat/thin0", "cat/thin1", "cat/thin2"}, set(),
                scenarios="original,blur_background,image_rainbow,random_background,mixed_same,mixed_rand"),
    HostileCase("folder_bad_donor_mixed_same", lambda r: _folders(r, _truncated, per_class=3),
                {"cat/cat0", "cat/cat1", "cat/cat2", "dog/dog0", "dog/dog1", "dog/dog2"}, {"cat/cut"},
                scenarios="original,mixed_same,mixed_rand"),
    # LabelMe
    _lm_case("labelme_height_is_text", _lm_doc(imageHeight="tall")),
    _lm_case("labelme_height_negative", _lm_doc(imageHeight=-24)),
    _lm_case("labelme_height_fractional", _lm_doc(imageHeight=23.5)),
    _lm_case("labelme_shapes_not_objects", _lm_doc(shapes=[1, "polygon"])),
    _lm_case("labelme_points_not_a_list", _lm_doc(shapes=[{"label": "cat", "points": "0,0 5,5"}])),
    _lm_case("labelme_points_not_numbers", _lm_doc(shapes=[{"label": "cat", "points": [["a", "b"], [1, 2], [3]]}])),
    _lm_case("labelme_label_is_a_list", _lm_doc(shapes=[{"label": ["cat"], "points": [[1, 1], [5, 1], [5, 5]]}])),
    _lm_case("labelme_shape_type_is_a_number", _lm_doc(shapes=[{"label": "cat", "shape_type": 3,
                                                               "points": [[1, 1], [5, 1], [5, 5]]}])),
    _lm_case("labelme_unknown_shape_type", _lm_doc(shapes=[{"label": "cat", "shape_type": "blob",
                                                           "points": [[1, 1], [5, 1], [5, 5]]}])),
    _lm_case("labelme_declares_100000x100000", _lm_doc(imageHeight=HUGE, imageWidth=HUGE)),
    _lm_case("labelme_image_path_is_a_list", _lm_doc(imagePath=["cat0.png"])),
    _lm_case("labelme_image_path_with_nul", _lm_doc(imagePath="cat0\u0000.png")),
    _lm_case("labelme_image_path_outside", _lm_doc(imagePath="../../../etc/passwd")),
    _lm_case("labelme_image_data_garbage", _lm_doc(imageData="!!!not base64!!!")),
    _lm_case("labelme_image_data_bomb", _lm_doc(imageData=base64.b64encode(bomb_png()).decode())),
    _lm_case("labelme_mask_shape_bomb", _lm_doc(shapes=[{"label": "cat", "shape_type": "mask", "points": [[0, 0]],
                                                        "mask": base64.b64encode(bomb_png()).decode()}])),
    _lm_case("labelme_truncated_json", '{"shapes": [{"label": "cat"'),
    _lm_case("labelme_nested_100k_deep", "[" * 100_000 + "]" * 100_000),
    _lm_case("labelme_not_an_object", "[1, 2, 3]"),
    HostileCase("labelme_non_utf8_file_name", _lm_non_utf8, set(GOOD_LM_IDS), {"cat/bad\\xfe"}),
    HostileCase("labelme_two_files_one_id", _lm_same_id, GOOD_LM_IDS - {"cat/cat0"}, {"cat/cat0"}),
    HostileCase("labelme_huge_coordinates_clipped", _lm_huge_coordinates, GOOD_LM_IDS | {"cat/huge"}, set()),
    # COCO
    _coco_case("coco_category_without_id", _append("categories", {"name": "ghost"}), bad={"category #2"}),
    _coco_case("coco_category_not_an_object", _append("categories", "cat"), bad={"category #2"}),
    _coco_case("coco_image_not_an_object", _append("images", ["img.png"]), bad={"images[5]"},
               good=GOOD_COCO_IDS | {"bad"}),
    _coco_case("coco_annotation_not_an_object", _append("annotations", 42), bad={"annotations[5]"},
               good=GOOD_COCO_IDS | {"bad"}),
    _coco_case("coco_list_valued_image_id", _set(_bad_img, id=[9]), bad={"images[4]"}),
    _coco_case("coco_list_valued_annotation_image_id", _set(_bad_ann, image_id=[9])),
    _coco_case("coco_list_valued_category_id", _set(_bad_ann, category_id=[1])),
    _coco_case("coco_rle_counts_is_an_object", _set(_bad_ann, segmentation={"size": [H, W], "counts": {"a": 1}})),
    _coco_case("coco_rle_size_is_text", _set(_bad_ann, segmentation={"size": ["24", "32"], "counts": [768]})),
    _coco_case("coco_rle_counts_negative", _set(_bad_ann, segmentation={"size": [H, W], "counts": [800, -32]})),
    _coco_case("coco_rle_declares_100000x100000",
               _set(_bad_ann, segmentation={"size": [HUGE, HUGE], "counts": [HUGE * HUGE]})),
    _coco_case("coco_rle_string_not_ascii", _set(_bad_ann, segmentation={"size": [H, W], "counts": "ü€"})),
    _coco_case("coco_record_declares_100000x100000", _set(_bad_img, height=HUGE, width=HUGE)),
    _coco_case("coco_record_height_is_text", _set(_bad_img, height="tall")),
    _coco_case("coco_file_name_is_a_list", _set(_bad_img, file_name=["bad.png"]), bad={"images[4]"}),
    _coco_case("coco_polygon_of_text", _set(_bad_ann, segmentation=[["a", "b", "c", "d", "e", "f"]])),
    _coco_case("coco_polygon_huge_coordinates_clipped", _coco_huge_polygon, bad=set(),
               good=GOOD_COCO_IDS | {"bad"}),
    # Hugging Face datasets
    HostileCase("hf_label_out_of_range", lambda r: _hf(r, "label"), {"img0", "img1", "img2", "img3"}, {"bad"}),
    HostileCase("hf_ragged_mask_array", lambda r: _hf(r, "ragged"), {"img0", "img1", "img2", "img3"}, {"bad"}),
    HostileCase("hf_image_bytes_garbage", lambda r: _hf(r, "garbage"), {"img0", "img1", "img2", "img3"}, {"bad"}),
]
