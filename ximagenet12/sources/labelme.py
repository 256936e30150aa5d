"""LabelMe JSON reader.

A LabelMe file holds ``imagePath`` (relative to the JSON's folder), optionally the
image itself as base64 ``imageData``, ``imageHeight``/``imageWidth`` and ``shapes``
(``label``, ``points``, ``shape_type``). Layout::

    <root>/<class>/[...]/<name>.json   (+ the image it points to, under <root>)

Policies:

- The object mask is the union of every area shape (``polygon``, ``rectangle``,
  ``circle``, ``mask``) whose label is not a background label (default
  :data:`BACKGROUND_LABELS`, case-insensitive). ``point``, ``line``,
  ``linestrip`` and ``points`` shapes have no area and are ignored. Any other
  ``shape_type`` is a :class:`SampleError` when the item is loaded.
- The class is the first folder under ``root`` (``class_from="folder"``), or the
  most common non-background label among the area shapes (``class_from="label"``;
  ties go to the alphabetically first label).
- ``imageData``, when present, is used in preference to ``imagePath`` (as LabelMe
  itself does). An ``imagePath`` that resolves outside ``root`` is never opened:
  the item is skipped (path traversal). Windows ``\\`` separators are accepted.
- Shapes are in the coordinates of the image as LabelMe displayed it, i.e. after
  EXIF orientation; the rasterised mask is aligned with the decoded image by
  :func:`ximagenet12.imageio.align_mask`, so a file annotated on the stored
  orientation (``imageHeight``/``imageWidth`` swapped) also lines up.
- Source id: the JSON path relative to ``root`` without extension.

Recorded in ``skipped``: unreadable JSON, JSON files that are not LabelMe files,
items without a class, image paths outside the root or missing, and images under
the root that no JSON refers to.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Mapping, Sequence

import cv2
import numpy as np

from ximagenet12.imageio import decode_mask, read_image
from ximagenet12.sources.base import LoadOptions, Source, finish_sample, list_image_files
from ximagenet12.types import Sample, SampleError, Skipped, SourceItem

__all__ = ["BACKGROUND_LABELS", "LabelMeSource", "load_labelme", "shapes_to_mask"]

#: Labels that mark background regions, not the object (compared case-insensitively).
BACKGROUND_LABELS: frozenset[str] = frozenset({"background", "_background_", "bg"})
#: Shape types that enclose an area and so contribute to the mask.
AREA_SHAPES = frozenset({"polygon", "rectangle", "circle", "mask"})
#: Shape types without an area: ignored.
LINE_SHAPES = frozenset({"point", "points", "line", "linestrip"})


def _is_background(label: Any, background_labels: Iterable[str]) -> bool:
    return str(label).strip().lower() in {b.lower() for b in background_labels}


def _points(shape: Mapping[str, Any], *, source_id: str, minimum: int) -> np.ndarray:
    try:
        points = np.asarray(shape.get("points", []), dtype=np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise SampleError(source_id, f"shape {shape.get('label')!r} has malformed points") from None
    if len(points) < minimum or not np.isfinite(points).all():
        raise SampleError(
            source_id,
            f"{shape.get('shape_type', 'polygon')} shape {shape.get('label')!r} needs at least {minimum} "
            f"finite points, got {len(points)}",
        )
    return points


def shapes_to_mask(
    shapes: Sequence[Mapping[str, Any]],
    height: int,
    width: int,
    *,
    source_id: str,
    background_labels: Iterable[str] = BACKGROUND_LABELS,
) -> np.ndarray:
    """Rasterise LabelMe shapes to an ``HxW bool`` mask (union of the area shapes)."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    for shape in shapes:
        kind = shape.get("shape_type") or "polygon"
        if kind in LINE_SHAPES or _is_background(shape.get("label", ""), background_labels):
            continue
        if kind == "polygon":
            points = _points(shape, source_id=source_id, minimum=3)
            cv2.fillPoly(canvas, [np.rint(points).astype(np.int32)], 1)
        elif kind == "rectangle":
            (x0, y0), (x1, y1) = np.rint(_points(shape, source_id=source_id, minimum=2)[:2]).astype(int)
            cv2.rectangle(canvas, (min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)), 1, thickness=-1)
        elif kind == "circle":
            (cx, cy), edge = _points(shape, source_id=source_id, minimum=2)[:2]
            radius = int(round(float(np.hypot(*(edge - (cx, cy))))))
            cv2.circle(canvas, (int(round(cx)), int(round(cy))), radius, 1, thickness=-1)
        elif kind == "mask":
            x0, y0 = np.rint(_points(shape, source_id=source_id, minimum=1)[0]).astype(int)
            patch = decode_mask(_b64(shape.get("mask"), source_id=source_id, what="shape mask"), source_id=source_id)
            y1, x1 = min(height, y0 + patch.shape[0]), min(width, x0 + patch.shape[1])
            if y0 < height and x0 < width and y0 >= 0 and x0 >= 0:
                canvas[y0:y1, x0:x1] |= patch[: y1 - y0, : x1 - x0].astype(np.uint8)
        else:
            raise SampleError(
                source_id,
                f"unsupported LabelMe shape_type {kind!r}; expected one of {sorted(AREA_SHAPES | LINE_SHAPES)}",
            )
    return canvas.astype(bool)


def _b64(value: Any, *, source_id: str, what: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise SampleError(source_id, f"{what} is missing or not a base64 string")
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise SampleError(source_id, f"could not decode base64 {what}: {exc}") from None


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_labelme(
    json_path: str,
    image_path: str | None,
    *,
    source_id: str,
    class_key: str,
    options: LoadOptions,
    background_labels: tuple[str, ...] = tuple(BACKGROUND_LABELS),
) -> Sample:
    """Decode one LabelMe annotation (image from ``imageData`` or ``image_path``) into a Sample."""
    try:
        doc = _read_json(Path(json_path))
    except (OSError, ValueError) as exc:
        raise SampleError(source_id, f"could not read LabelMe file {json_path}: {exc}") from None
    if doc.get("imageData"):
        data: bytes | str = _b64(doc["imageData"], source_id=source_id, what="imageData")
    elif image_path is not None:
        data = image_path
    else:
        raise SampleError(source_id, "LabelMe file has neither imageData nor a usable imagePath")
    image = read_image(data, source_id=source_id, max_pixels=options.max_pixels)
    height = int(doc.get("imageHeight") or image.shape[0])
    width = int(doc.get("imageWidth") or image.shape[1])
    mask = shapes_to_mask(
        doc.get("shapes") or [], height, width, source_id=source_id, background_labels=background_labels
    )
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


def _label_class(shapes: Sequence[Mapping[str, Any]], background_labels: Iterable[str]) -> str | None:
    labels = Counter(
        str(s.get("label", "")).strip()
        for s in shapes
        if (s.get("shape_type") or "polygon") in AREA_SHAPES
        and not _is_background(s.get("label", ""), background_labels)
    )
    labels.pop("", None)
    if not labels:
        return None
    return min(labels, key=lambda label: (-labels[label], label))


class LabelMeSource(Source):
    """LabelMe JSON files under ``root`` (see the module docstring for the policies)."""

    def __init__(
        self,
        root: str | Path,
        *,
        class_from: Literal["folder", "label"] = "folder",
        background_labels: Iterable[str] = BACKGROUND_LABELS,
        options: LoadOptions | None = None,
        name: str | None = None,
    ):
        if class_from not in ("folder", "label"):
            raise ValueError(f"class_from must be 'folder' or 'label', got {class_from!r}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"LabelMe folder not found: {root}")
        self.root, self.class_from = root, class_from
        self.options = options or LoadOptions()
        background = tuple(sorted(background_labels))
        real_root = root.resolve()

        items: list[SourceItem] = []
        skipped: list[Skipped] = []
        referenced: set[Path] = set()
        json_files = sorted(
            (p for p in root.rglob("*.json") if not any(part.startswith(".") for part in p.relative_to(root).parts)),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        for path in json_files:
            rel = path.relative_to(root)
            source_id = rel.with_suffix("").as_posix()
            try:
                doc = _read_json(path)
            except (OSError, ValueError) as exc:
                skipped.append(Skipped(source_id, f"could not read JSON {rel.as_posix()}: {exc}"))
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
                skipped.append(Skipped(source_id, f"{rel.as_posix()} is not a LabelMe file (no 'shapes' list)"))
                continue

            image_path: Path | None = None
            raw_path = doc.get("imagePath")
            if raw_path:
                candidate = (path.parent / PurePosixPath(str(raw_path).replace("\\", "/"))).resolve()
                if not candidate.is_relative_to(real_root):
                    skipped.append(
                        Skipped(
                            source_id,
                            f"imagePath {raw_path!r} resolves outside the source folder {root} "
                            f"(to {candidate}); refusing to read it",
                        )
                    )
                    continue
                image_path = candidate
                referenced.add(candidate)
            if not doc.get("imageData"):
                if image_path is None:
                    skipped.append(Skipped(source_id, "LabelMe file has neither imageData nor imagePath"))
                    continue
                if not image_path.is_file():
                    reason = f"image missing: imagePath {raw_path!r} (looked for {image_path})"
                    skipped.append(Skipped(source_id, reason))
                    continue

            if class_from == "folder":
                if len(rel.parts) < 2:
                    skipped.append(
                        Skipped(
                            source_id,
                            f"{rel.as_posix()} is not in a class folder: expected {root}/<class>/<name>.json "
                            "(or use class_from='label')",
                        )
                    )
                    continue
                class_key = rel.parts[0]
            else:
                label = _label_class(doc["shapes"], background)
                if label is None:
                    skipped.append(Skipped(source_id, "no object label among the area shapes to take the class from"))
                    continue
                class_key = label
            load = partial(
                load_labelme,
                str(path),
                str(image_path) if image_path is not None else None,
                source_id=source_id,
                class_key=class_key,
                options=self.options,
                background_labels=background,
            )
            items.append(SourceItem(source_id, class_key, load))

        for image in list_image_files(root):
            if image.resolve() not in referenced:
                rel = image.relative_to(root)
                skipped.append(
                    Skipped(rel.as_posix(), f"no LabelMe JSON refers to image {rel.as_posix()}")
                )
        if not items and not skipped:
            raise ValueError(f"no LabelMe JSON files found under {root}")
        super().__init__(name=name or real_root.name, items=items, skipped=skipped)
