"""COCO instance-annotation reader, with RLE decoding in numpy (no pycocotools).

Policies:

- The object mask of an image is the union of its instance masks
  (``mask_instances="all"``, the default), or of the instances of its class only
  (``mask_instances="class"``). Crowd (``iscrowd=1``) regions count as object.
  Polygons are filled with ``cv2.fillPoly`` one part at a time (so the parts of an
  instance are united, never XOR-ed); parts with fewer than 3 points have no area
  and are ignored. RLE is decoded here, both the uncompressed ``counts`` list and
  the compressed COCO string.
- The class of an image is the category of its largest instance, by the
  annotation's ``area`` field (computed from the segmentation when absent); ties go
  to the instance listed first. ``category_ids`` restricts which annotations count
  at all. Class keys are category names (a wnid-named category gets its reference
  name in ``class_names``); ``classes`` lists every selected category.
- Segmentations are in the coordinates of the image record's ``height``/``width``;
  the mask is aligned with the decoded image by
  :func:`ximagenet12.imageio.align_mask` (EXIF orientation rules there).
- Source id: ``file_name`` without its extension.

Recorded in ``skipped``: images with no (selected) annotations, images whose
annotations have no segmentation (boxes only) or an unknown category, missing image
files, ``file_name`` outside ``images_dir``, and annotations of unknown images.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Mapping, Sequence

import cv2
import numpy as np

from ximagenet12.imageio import read_image
from ximagenet12.sources.base import LoadOptions, Source, finish_sample
from ximagenet12.types import Sample, SampleError, Skipped, SourceItem

__all__ = [
    "CocoSource",
    "load_coco",
    "rle_counts_from_string",
    "rle_decode",
    "segmentation_area",
    "segmentation_to_mask",
]

_MIN_POLYGON_COORDS = 6  # three (x, y) points


def rle_counts_from_string(encoded: str | bytes) -> list[int]:
    """Decode a compressed COCO RLE ``counts`` string into run lengths.

    The format (pycocotools ``rleFrString``): each count is written in 5-bit groups,
    least significant first, as characters ``chr(48 + group)`` with bit 0x20 meaning
    "more groups follow" and bit 0x10 of the last group the sign; from the fourth
    count on, the value stored is the difference to the count two places before.
    """
    data = encoded.encode("ascii") if isinstance(encoded, str) else bytes(encoded)
    counts: list[int] = []
    p = 0
    while p < len(data):
        x, k, more = 0, 0, True
        while more:
            if p >= len(data):
                raise ValueError("compressed RLE string ends in the middle of a count")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise ValueError(f"invalid character {chr(data[p])!r} in compressed RLE string")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x -= 1 << (5 * k)  # sign-extend
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode(rle: Mapping[str, Any]) -> np.ndarray:
    """Decode a COCO RLE (``{"size": [h, w], "counts": list | str}``) to ``HxW bool``.

    Runs alternate background/object starting with background, over the pixels in
    column-major (Fortran) order.
    """
    try:
        height, width = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError):
        raise ValueError("RLE must have 'size' [height, width] and 'counts'") from None
    if isinstance(counts, (str, bytes)):
        counts = rle_counts_from_string(counts)
    runs = np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any():
        raise ValueError("RLE counts must be a flat list of non-negative run lengths")
    if int(runs.sum()) != height * width:
        raise ValueError(f"RLE counts sum to {int(runs.sum())} pixels, but size {height}×{width} has {height * width}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape((height, width), order="F")


def _polygons(segmentation: Sequence[Any]) -> list[np.ndarray]:
    parts = []
    for part in segmentation:
        coords = np.asarray(part, dtype=np.float64).ravel()
        if coords.size >= _MIN_POLYGON_COORDS:
            parts.append(coords[: coords.size // 2 * 2].reshape(-1, 2))
    return parts


def segmentation_area(segmentation: Any) -> float:
    """Area of a COCO segmentation in pixels (shoelace for polygons, run sum for RLE)."""
    if isinstance(segmentation, Mapping):
        counts = segmentation.get("counts", [])
        if isinstance(counts, (str, bytes)):
            counts = rle_counts_from_string(counts)
        return float(sum(counts[1::2]))
    area = 0.0
    for xy in _polygons(segmentation):
        x, y = xy[:, 0], xy[:, 1]
        area += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return area


def segmentation_to_mask(segmentation: Any, height: int, width: int, *, source_id: str) -> np.ndarray:
    """Rasterise one instance's segmentation (polygons or RLE) to ``HxW bool``."""
    if isinstance(segmentation, Mapping):
        try:
            mask = rle_decode(segmentation)
        except ValueError as exc:
            raise SampleError(source_id, f"invalid RLE: {exc}") from None
        if mask.shape != (height, width):
            rle_size = f"{mask.shape[0]}×{mask.shape[1]}"
            raise SampleError(source_id, f"RLE size {rle_size} does not match the image record {height}×{width}")
        return mask
    if not isinstance(segmentation, (list, tuple)):
        raise SampleError(source_id, f"segmentation must be polygons or RLE, got {type(segmentation).__name__}")
    canvas = np.zeros((height, width), dtype=np.uint8)
    try:
        parts = _polygons(segmentation)
    except (TypeError, ValueError):
        raise SampleError(source_id, "malformed polygon segmentation") from None
    for xy in parts:
        cv2.fillPoly(canvas, [np.rint(xy).astype(np.int32)], 1)
    return canvas.astype(bool)


def load_coco(
    image_path: str,
    segmentations: Sequence[Any],
    height: int | None,
    width: int | None,
    *,
    source_id: str,
    class_key: str,
    options: LoadOptions,
) -> Sample:
    """Decode one COCO image and the union of the given instance segmentations."""
    image = read_image(image_path, source_id=source_id, max_pixels=options.max_pixels)
    if height is None or width is None:
        height, width = image.shape
    mask = np.zeros((height, width), dtype=bool)
    for segmentation in segmentations:
        mask |= segmentation_to_mask(segmentation, height, width, source_id=source_id)
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


def _has_segmentation(annotation: Mapping[str, Any]) -> bool:
    seg = annotation.get("segmentation")
    return bool(seg) and (isinstance(seg, Mapping) or isinstance(seg, (list, tuple)))


def _area(annotation: Mapping[str, Any]) -> float:
    area = annotation.get("area")
    if isinstance(area, (int, float)) and area > 0:
        return float(area)
    try:
        return segmentation_area(annotation["segmentation"])
    except (TypeError, ValueError):
        return 0.0


def _category(annotation: Mapping[str, Any]) -> int | None:
    try:
        return int(annotation["category_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _positive_int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


class CocoSource(Source):
    """COCO instances: ``annotations_json`` (a path or the parsed dict) and the images folder."""

    def __init__(
        self,
        annotations_json: str | Path | Mapping[str, Any],
        images_dir: str | Path,
        *,
        category_ids: Iterable[int] | None = None,
        mask_instances: Literal["all", "class"] = "all",
        options: LoadOptions | None = None,
        name: str | None = None,
    ):
        if mask_instances not in ("all", "class"):
            raise ValueError(f"mask_instances must be 'all' or 'class', got {mask_instances!r}")
        if isinstance(annotations_json, Mapping):
            doc, origin = annotations_json, "annotations"
        else:
            origin = str(annotations_json)
            with open(annotations_json, encoding="utf-8") as fh:
                doc = json.load(fh)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("images"), list) or not isinstance(
            doc.get("annotations"), list
        ):
            raise ValueError(f"{origin} is not a COCO instances file: expected 'images' and 'annotations' lists")
        images_dir = Path(images_dir)
        if not images_dir.is_dir():
            raise FileNotFoundError(f"COCO images folder not found: {images_dir}")
        self.images_dir = images_dir
        self.options = options or LoadOptions()

        names = {int(c["id"]): str(c.get("name", c["id"])) for c in doc.get("categories") or []}
        if category_ids is not None:
            selected = {int(i) for i in category_ids}
            unknown = sorted(selected - set(names))
            if unknown:
                raise ValueError(f"category ids {unknown} are not in {origin}; known ids: {sorted(names)}")
        else:
            selected = set(names)
        duplicated = [n for n, k in Counter(names[i] for i in selected).items() if k > 1]
        if duplicated:
            raise ValueError(f"category names {sorted(duplicated)} are used by several category ids in {origin}")
        filtered = category_ids is not None

        skipped: list[Skipped] = []
        records = {}
        for record in doc["images"]:
            records[record.get("id")] = record
        by_image: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for ann in doc["annotations"]:
            if ann.get("image_id") not in records:
                skipped.append(
                    Skipped(
                        f"annotation {ann.get('id')}",
                        f"annotation refers to image id {ann.get('image_id')!r}, which is not in 'images'",
                    )
                )
            elif not names or _category(ann) in selected or (not filtered and _category(ann) not in names):
                # unknown categories are kept here so that the image is reported below
                by_image[ann["image_id"]].append(ann)

        def id_of(record: Mapping[str, Any]) -> str:
            return PurePosixPath(str(record.get("file_name", record.get("id")))).with_suffix("").as_posix()

        ids = Counter(id_of(r) for r in records.values())
        real_dir = images_dir.resolve()
        items: list[SourceItem] = []
        for record in sorted(records.values(), key=lambda r: str(r.get("file_name", r.get("id")))):
            source_id = id_of(record)
            file_name = record.get("file_name")
            anns = by_image.get(record.get("id"), [])
            reason = None
            if ids[source_id] > 1:
                reason = "several image records share this source id (file name without extension)"
            elif not file_name:
                reason = "image record has no file_name"
            elif not anns:
                reason = f"no annotations for this image{' of the selected categories' if filtered else ''} in {origin}"
            else:
                bad = [a for a in anns if not _has_segmentation(a)]
                strangers = [a for a in anns if names and _category(a) not in names]
                if bad:
                    reason = f"annotation {bad[0].get('id')} has no segmentation (bounding box only)"
                elif strangers:
                    reason = (
                        f"annotation {strangers[0].get('id')} has category_id {strangers[0].get('category_id')!r}, "
                        "which is not in 'categories'"
                    )
            path = (images_dir / str(file_name or "")).resolve()
            if reason is None and not path.is_relative_to(real_dir):
                reason = f"file_name {file_name!r} resolves outside the images folder {images_dir}; refusing to read it"
            if reason is None and not path.is_file():
                reason = f"image missing: {images_dir / str(file_name)}"
            if reason is not None:
                skipped.append(Skipped(source_id, reason))
                continue

            largest = max(range(len(anns)), key=lambda i: (_area(anns[i]), -i))
            category = _category(anns[largest])
            class_key = names.get(category, str(category))
            chosen = anns if mask_instances == "all" else [a for a in anns if _category(a) == category]
            load = partial(
                load_coco,
                str(path),
                tuple(a["segmentation"] for a in chosen),
                _positive_int(record.get("height")),
                _positive_int(record.get("width")),
                source_id=source_id,
                class_key=class_key,
                options=self.options,
            )
            items.append(SourceItem(source_id, class_key, load))

        classes = {names[i] for i in selected} if names else None
        if name is None:
            name = Path(origin).stem if origin != "annotations" else images_dir.resolve().name
        super().__init__(name=name, items=items, skipped=skipped, classes=classes)
