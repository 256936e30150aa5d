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
  :func:`ximagenet12.io.imageio.align_mask` (EXIF orientation rules there).
- Source id: ``file_name`` without its extension.

With ``auto_mask`` (a :class:`~ximagenet12.sources.automask.MaskMaker`), segmentations are
not needed: each image's mask is made by the maker from the ``bbox`` of its largest
annotation (by ``area``, else the box's area), taken in the displayed photo's pixels;
an annotation without a usable ``bbox`` (four finite numbers, positive width and
height) makes its image a recorded skip.

Recorded in ``skipped``: images with no (selected) annotations, images whose
annotations have no segmentation (boxes only) or an unknown category, missing image
files, ``file_name`` outside ``images_dir`` (or not text, or not valid UTF-8),
annotations of unknown images, and malformed entries: categories without an integer id
(``category #i``), image records and annotations that are not objects or have ids that
are lists (``images[i]``, ``annotations[i]``), several records with one id, sizes that
are not positive integers or declare more pixels than the decompression-bomb limit, and
RLE in an unexpected form (checked before anything is allocated). Polygon coordinates
far outside the image are clipped, never overflowed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Mapping, Sequence

import cv2
import numpy as np

from ximagenet12.io.imageio import MAX_IMAGE_PIXELS, read_image
from ximagenet12.sources.base import LoadOptions, Source, class_names_for, finish_sample
from ximagenet12.sources.raster import check_declared_size, fill_polygon, stable_name
from ximagenet12.core.types import Sample, SampleError, Skipped, SourceItem

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


def _rle_size(rle: Mapping[str, Any]) -> tuple[int, int]:
    size = rle.get("size")
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        raise ValueError(f"RLE 'size' must be [height, width] (two non-negative integers), got {_short(size)}")
    return int(size[0]), int(size[1])


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def rle_decode(rle: Mapping[str, Any], *, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode a COCO RLE (``{"size": [h, w], "counts": list | str}``) to ``HxW bool``.

    Runs alternate background/object starting with background, over the pixels in
    column-major (Fortran) order. Every field is checked, and the size against
    ``max_pixels``, before anything is allocated.
    """
    if not isinstance(rle, Mapping) or "counts" not in rle:
        raise ValueError("RLE must have 'size' [height, width] and 'counts'")
    height, width = _rle_size(rle)
    if max_pixels is not None and height * width > max_pixels:
        raise ValueError(f"RLE size {height}×{width} is over the limit of {max_pixels:,} pixels "
                         "(possible decompression bomb)")
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        try:
            counts = rle_counts_from_string(counts)
        except UnicodeEncodeError:
            raise ValueError("compressed RLE string holds non-ASCII characters") from None
    if not isinstance(counts, (list, tuple)) or not all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= height * width for c in counts
    ):
        raise ValueError("RLE counts must be a flat list of non-negative run lengths (or a compressed string)")
    runs = np.asarray(counts, dtype=np.int64)
    if int(runs.sum()) != height * width:
        raise ValueError(f"RLE counts sum to {int(runs.sum())} pixels, but size {height}×{width} has {height * width}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape((height, width), order="F")


def _polygons(segmentation: Sequence[Any]) -> list[np.ndarray]:
    parts = []
    for part in segmentation:
        if not isinstance(part, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in part
        ):
            raise ValueError("a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]")
        coords = np.asarray(part, dtype=np.float64).ravel()
        if not np.isfinite(coords).all():
            raise ValueError("a polygon holds a coordinate that is not a finite number")
        if coords.size >= _MIN_POLYGON_COORDS:
            parts.append(coords[: coords.size // 2 * 2].reshape(-1, 2))
    return parts


def segmentation_area(segmentation: Any) -> float:
    """Area of a COCO segmentation in pixels (shoelace for polygons, run sum for RLE)."""
    if isinstance(segmentation, Mapping):
        counts = segmentation.get("counts", [])
        if isinstance(counts, (str, bytes)):
            counts = rle_counts_from_string(counts)
        if not isinstance(counts, (list, tuple)) or not all(isinstance(c, (int, float)) for c in counts):
            raise ValueError("RLE counts must be a list of numbers")
        return float(sum(counts[1::2]))
    area = 0.0
    for xy in _polygons(segmentation):
        x, y = xy[:, 0], xy[:, 1]
        area += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return area


def segmentation_to_mask(segmentation: Any, height: int, width: int, *, source_id: str,
                         max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Rasterise one instance's segmentation (polygons or RLE) to ``HxW bool``.

    Polygon coordinates far outside the image are clipped, never overflowed.
    """
    if isinstance(segmentation, Mapping):
        try:
            mask = rle_decode(segmentation, max_pixels=max_pixels)
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
        fill_polygon(canvas, xy)
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
    name: str | None = None,
) -> Sample:
    """Decode one COCO image and the union of the given instance segmentations.

    ``name``: how messages name the image file (its ``file_name``).
    """
    if height is not None and width is not None:
        check_declared_size(height, width, what="the image record", source_id=source_id,
                            max_pixels=options.max_pixels)
    image = read_image(image_path, source_id=source_id, max_pixels=options.max_pixels, name=name)
    if height is None or width is None:
        height, width = image.shape
    mask = np.zeros((height, width), dtype=bool)
    for segmentation in segmentations:
        mask |= segmentation_to_mask(segmentation, height, width, source_id=source_id, max_pixels=options.max_pixels)
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


def _has_segmentation(annotation: Mapping[str, Any]) -> bool:
    seg = annotation.get("segmentation")
    return bool(seg) and (isinstance(seg, Mapping) or isinstance(seg, (list, tuple)))


def _bbox(annotation: Mapping[str, Any]) -> tuple[float, float, float, float] | None:
    """The annotation's ``bbox`` [x, y, width, height] when usable (finite, positive size), else ``None``."""
    box = annotation.get("bbox")
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in box
    ):
        return None
    x, y, w, h = (float(v) for v in box)
    return (x, y, w, h) if w > 0 and h > 0 else None


def _area(annotation: Mapping[str, Any]) -> float:
    area = annotation.get("area")
    if isinstance(area, (int, float)) and not isinstance(area, bool) and area > 0:
        return float(area)
    if not _has_segmentation(annotation):
        box = _bbox(annotation)
        return box[2] * box[3] if box is not None else 0.0
    try:
        return segmentation_area(annotation["segmentation"])
    except (TypeError, ValueError):
        return 0.0


def _category(annotation: Mapping[str, Any]) -> int | None:
    value = annotation.get("category_id")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _positive_int(value: Any) -> int | None:
    """A declared size: a positive whole number, else ``None`` (then the image's own size is used)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        return None
    if isinstance(value, float) and not (np.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def _is_key(value: Any) -> bool:
    """Whether ``value`` can be an image id (a number or text, not a list or an object)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _categories(doc: Mapping[str, Any], origin: str) -> tuple[dict[int, str], list[Skipped]]:
    """Category id -> name; entries that are not objects or have no integer id are recorded."""
    names: dict[int, str] = {}
    skipped: list[Skipped] = []
    entries = doc.get("categories") or []
    if not isinstance(entries, list):
        raise ValueError(f"{origin}: 'categories' must be a list, got {type(entries).__name__}")
    for index, entry in enumerate(entries):
        cid = entry.get("id") if isinstance(entry, Mapping) else None
        if not isinstance(entry, Mapping):
            reason = f"categories[{index}] is not an object (got {type(entry).__name__})"
        elif isinstance(cid, bool) or not isinstance(cid, int):
            reason = f"categories[{index}] has no integer 'id' (got {_short(cid)}); its annotations cannot be used"
        else:
            names[cid] = stable_name(str(entry.get("name", cid)))
            continue
        skipped.append(Skipped(f"category #{index}", reason))
    return names, skipped


def _image_records(doc: Mapping[str, Any]) -> tuple[dict[Any, Mapping[str, Any]], list[Skipped]]:
    """Image id -> record; records that are not objects, have a bad id or share an id are recorded."""
    records: dict[Any, Mapping[str, Any]] = {}
    skipped: list[Skipped] = []
    seen: Counter = Counter(r.get("id") for r in doc["images"] if isinstance(r, Mapping) and _is_key(r.get("id")))
    for index, record in enumerate(doc["images"]):
        if not isinstance(record, Mapping):
            skipped.append(Skipped(f"images[{index}]", f"image record is not an object (got {type(record).__name__})"))
        elif not _is_key(record.get("id")):
            skipped.append(Skipped(f"images[{index}]", f"image record id must be a number or text, got "
                                   f"{_short(record.get('id'))}"))
        elif seen[record["id"]] > 1:
            skipped.append(Skipped(f"images[{index}]", f"several image records share id {record['id']!r}"))
        elif not isinstance(record.get("file_name"), str) or not record["file_name"]:
            skipped.append(Skipped(f"images[{index}]", f"image record {record['id']!r} has no file_name text"))
        else:
            records[record["id"]] = record
    return records, skipped


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
        auto_mask: Any = None,
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
        self.mask_maker = auto_mask

        shown = "annotations" if origin == "annotations" else Path(origin).name  # stable: no folder in reasons
        names, skipped = _categories(doc, shown)
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

        records, bad_records = _image_records(doc)
        skipped += bad_records
        by_image: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for index, ann in enumerate(doc["annotations"]):
            if not isinstance(ann, Mapping):
                skipped.append(Skipped(f"annotations[{index}]", f"annotation is not an object (got {type(ann).__name__})"))
            elif not _is_key(ann.get("image_id")) or ann["image_id"] not in records:
                skipped.append(
                    Skipped(
                        f"annotation {_short(ann.get('id'))}" if _is_key(ann.get("id")) else f"annotations[{index}]",
                        f"annotation refers to image id {_short(ann.get('image_id'))}, which is not in 'images'",
                    )
                )
            elif not names or _category(ann) in selected or (not filtered and _category(ann) not in names):
                # unknown categories are kept here so that the image is reported below
                by_image[ann["image_id"]].append(ann)

        items = self._list_items(records, by_image, names=names, filtered=filtered, shown=shown,
                                 mask_instances=mask_instances, skipped=skipped)

        classes = {names[i] for i in selected} if names else None
        if name is None:
            name = Path(origin).stem if origin != "annotations" else images_dir.resolve().name
        super().__init__(name=name, items=items, skipped=skipped, classes=classes)
        if auto_mask is not None:
            from ximagenet12.sources.photos import automatic_masks_note

            self.notes = automatic_masks_note(auto_mask)

    def _list_items(self, records: dict[Any, Mapping[str, Any]], by_image: dict[Any, list[Mapping[str, Any]]], *,
                    names: dict[int, str], filtered: bool, shown: str, mask_instances: str,
                    skipped: list[Skipped]) -> list[SourceItem]:
        """One item per usable image record; the others are appended to ``skipped`` with why."""
        images_dir = self.images_dir

        def id_of(record: Mapping[str, Any]) -> str:
            return stable_name(PurePosixPath(record["file_name"]).with_suffix("").as_posix())

        ids = Counter(id_of(r) for r in records.values())
        real_dir = images_dir.resolve()
        items: list[SourceItem] = []
        for record in sorted(records.values(), key=lambda r: r["file_name"]):
            source_id = id_of(record)
            anns = by_image.get(record["id"], [])
            reason = self._problem(record, anns, names=names, filtered=filtered, shown=shown, duplicate=ids[source_id] > 1)
            path = None
            if reason is None:
                path, reason = _image_file(images_dir, real_dir, record["file_name"])
            if reason is not None:
                skipped.append(Skipped(source_id, reason))
                continue

            largest = max(range(len(anns)), key=lambda i: (_area(anns[i]), -i))
            category = _category(anns[largest])
            class_key = names.get(category, str(category))
            chosen = anns if mask_instances == "all" else [a for a in anns if _category(a) == category]
            if self.mask_maker is not None:
                from ximagenet12.sources.automask import load_auto_masked

                load = partial(load_auto_masked, str(path), maker=self.mask_maker, box=_bbox(anns[largest]),
                               source_id=source_id, class_key=class_key, class_name=class_names_for([class_key])[0],
                               max_pixels=self.options.max_pixels, name=stable_name(record["file_name"]))
                items.append(SourceItem(source_id, class_key, load))
                continue
            load = partial(
                load_coco,
                str(path),
                tuple(a["segmentation"] for a in chosen),
                _positive_int(record.get("height")),
                _positive_int(record.get("width")),
                source_id=source_id,
                class_key=class_key,
                options=self.options,
                name=stable_name(record["file_name"]),
            )
            items.append(SourceItem(source_id, class_key, load))
        return items

    def _problem(self, record: Mapping[str, Any], anns: list[Mapping[str, Any]], *, names: dict[int, str],
                 filtered: bool, shown: str, duplicate: bool) -> str | None:
        """Why an image record cannot be used (``None`` when it can), from its annotations."""
        if duplicate:
            return "several image records share this source id (file name without extension)"
        if not anns:
            return f"no annotations for this image{' of the selected categories' if filtered else ''} in {shown}"
        if self.mask_maker is not None:
            boxless = [a for a in anns if _bbox(a) is None]
            if boxless:
                return (f"annotation {_short(boxless[0].get('id'))} has no usable bbox [x, y, width, height] "
                        "(--auto-mask starts from the object's box)")
        bad = [] if self.mask_maker is not None else [a for a in anns if not _has_segmentation(a)]
        if bad:
            return f"annotation {_short(bad[0].get('id'))} has no segmentation (bounding box only)"
        strangers = [a for a in anns if names and _category(a) not in names]
        if strangers:
            return (f"annotation {_short(strangers[0].get('id'))} has category_id "
                    f"{_short(strangers[0].get('category_id'))}, which is not in 'categories'")
        for key in ("height", "width"):
            value = record.get(key)
            if value is not None and _positive_int(value) is None:
                return f"image record {key} must be a positive integer, got {_short(value)}"
        height, width = _positive_int(record.get("height")), _positive_int(record.get("width"))
        limit = self.options.max_pixels
        if height and width and limit is not None and height * width > limit:
            return (f"image record declares {height}×{width} = {height * width:,} pixels, over the limit of "
                    f"{limit:,} (possible decompression bomb)")
        return None


def _image_file(images_dir: Path, real_dir: Path, file_name: str) -> tuple[Path | None, str | None]:
    """The image file of a record, or why it cannot be read."""
    shown = stable_name(file_name)
    try:
        path = (images_dir / file_name).resolve()
        inside = path.is_relative_to(real_dir)
        exists = inside and path.is_file()
    except (OSError, ValueError) as exc:  # an embedded NUL byte, a name too long...
        return None, f"file_name {shown!r} is not a usable path: {type(exc).__name__}"
    if not _utf8_ok(file_name):
        return None, f"file_name {shown!r} is not valid UTF-8"
    if not inside:
        return None, f"file_name {shown!r} resolves outside the images folder; refusing to read it"
    if not exists:
        return None, f"image missing: {shown} (under the images folder)"
    return path, None


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
