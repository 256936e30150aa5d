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
  :func:`ximagenet12.io.imageio.align_mask`, so a file annotated on the stored
  orientation (``imageHeight``/``imageWidth`` swapped) also lines up.
- Source id: the JSON path relative to ``root`` without extension.
- With ``auto_mask`` (a :class:`~ximagenet12.sources.automask.MaskMaker`), the shapes only
  give the object's box: the box around every object area shape (a rectangle drawn around
  the object is enough), or the maker's centred box when there is none; the maker makes
  the mask from it.

Recorded in ``skipped``: unreadable JSON (also nested too deeply), JSON files that are
not LabelMe files, fields of the wrong type or with absurd values (``imageHeight`` as text,
negative or fractional; shapes that are not objects; labels, shape types or points of the
wrong type), declared sizes over the decompression-bomb limit (checked before any array
is allocated), items without a class, image paths outside the root, unusable or missing,
two files with one source id (``a.json`` and ``a.JSON``), file names that are not valid
UTF-8, and images under the root that no JSON refers to. Coordinates far outside the
image are clipped (:func:`ximagenet12.sources.raster.fill_polygon`), never overflowed.
Hidden files are left out and listed in ``source.hidden``.
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

from ximagenet12.io.imageio import MAX_IMAGE_PIXELS, decode_mask, read_image
from ximagenet12.sources.base import LoadOptions, Source, finish_sample, scan_files
from ximagenet12.sources.raster import check_declared_size, fill_polygon, positive_int, stable_name
from ximagenet12.core.types import Sample, SampleError, Skipped, SourceItem

__all__ = ["BACKGROUND_LABELS", "LabelMeSource", "check_labelme", "load_labelme", "shapes_to_mask"]

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
    except (TypeError, ValueError, OverflowError):
        raise SampleError(source_id, f"shape {shape.get('label')!r} has malformed points") from None
    if len(points) < minimum or not np.isfinite(points).all():
        raise SampleError(
            source_id,
            f"{shape.get('shape_type', 'polygon')} shape {shape.get('label')!r} needs at least {minimum} "
            f"finite points, got {len(points)}",
        )
    return points


def _fill_rectangle(canvas: np.ndarray, corners: np.ndarray) -> None:
    h, w = canvas.shape
    # corners outside the image are clipped to one pixel beyond it: same pixels, no overflow
    xs = np.clip(np.rint(corners[:, 0]), -1, w).astype(int)
    ys = np.clip(np.rint(corners[:, 1]), -1, h).astype(int)
    cv2.rectangle(canvas, (int(xs.min()), int(ys.min())), (int(xs.max()), int(ys.max())), 1, thickness=-1)


def _fill_circle(canvas: np.ndarray, centre: np.ndarray, edge: np.ndarray) -> None:
    h, w = canvas.shape
    radius = float(np.hypot(*(edge - centre)))
    limit = 4 * max(h, w)
    if max(abs(centre[0]), abs(centre[1]), radius) < limit:
        cv2.circle(canvas, (int(round(centre[0])), int(round(centre[1]))), int(round(radius)), 1, thickness=-1)
        return
    # huge circles: the exact disc in float64 (cv2 takes int32 coordinates)
    yy, xx = np.ogrid[:h, :w]
    canvas[np.hypot(xx - centre[0], yy - centre[1]) <= radius] = 1


def _paste_patch(canvas: np.ndarray, origin: np.ndarray, patch: np.ndarray) -> None:
    h, w = canvas.shape
    x0, y0 = (int(v) for v in np.clip(np.rint(origin), -(2**40), 2**40))
    ys, xs = max(0, y0), max(0, x0)
    ye, xe = min(h, y0 + patch.shape[0]), min(w, x0 + patch.shape[1])
    if ys < ye and xs < xe:
        canvas[ys:ye, xs:xe] |= patch[ys - y0 : ye - y0, xs - x0 : xe - x0].astype(np.uint8)


def shapes_to_mask(
    shapes: Sequence[Mapping[str, Any]],
    height: int,
    width: int,
    *,
    source_id: str,
    background_labels: Iterable[str] = BACKGROUND_LABELS,
    max_pixels: int | None = MAX_IMAGE_PIXELS,
) -> np.ndarray:
    """Rasterise LabelMe shapes to an ``HxW bool`` mask (union of the area shapes).

    Coordinates far outside the image are clipped, never overflowed; a mask patch is
    checked against ``max_pixels`` before it is decoded.
    """
    canvas = np.zeros((height, width), dtype=np.uint8)
    for index, shape in enumerate(shapes):
        _check_shape(shape, index, source_id=source_id)
        kind = shape.get("shape_type") or "polygon"
        if kind in LINE_SHAPES or _is_background(shape.get("label", ""), background_labels):
            continue
        if kind == "polygon":
            fill_polygon(canvas, _points(shape, source_id=source_id, minimum=3))
        elif kind == "rectangle":
            _fill_rectangle(canvas, _points(shape, source_id=source_id, minimum=2)[:2])
        elif kind == "circle":
            centre, edge = _points(shape, source_id=source_id, minimum=2)[:2]
            _fill_circle(canvas, centre, edge)
        elif kind == "mask":
            origin = _points(shape, source_id=source_id, minimum=1)[0]
            data = _b64(shape.get("mask"), source_id=source_id, what="shape mask")
            _paste_patch(canvas, origin, decode_mask(data, source_id=source_id, max_pixels=max_pixels,
                                                     name=f"shape {index} mask"))
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


def _check_shape(shape: Any, index: int, *, source_id: str) -> None:
    """A shape must be an object with a text label, a text ``shape_type`` and a list of points."""
    if not isinstance(shape, Mapping):
        raise SampleError(source_id, f"shapes[{index}] is not an object (got {type(shape).__name__})")
    label, kind, points = shape.get("label", ""), shape.get("shape_type"), shape.get("points", [])
    if label is not None and not isinstance(label, (str, int)) or isinstance(label, bool):
        raise SampleError(source_id, f"shapes[{index}].label must be text, got {type(label).__name__}")
    if kind is not None and not isinstance(kind, str):
        raise SampleError(source_id, f"shapes[{index}].shape_type must be text, got {type(kind).__name__}")
    if not isinstance(points, list):
        raise SampleError(source_id, f"shapes[{index}].points must be a list, got {type(points).__name__}")


def check_labelme(doc: Any, *, source_id: str, max_pixels: int | None) -> tuple[int | None, int | None]:
    """Check a LabelMe document's fields; returns its declared (height, width), ``None`` when absent.

    Every wrong type or absurd value is a :class:`SampleError`; a declared size over
    ``max_pixels`` is refused before anything is allocated.
    """
    if not isinstance(doc, Mapping) or not isinstance(doc.get("shapes"), list):
        raise SampleError(source_id, "not a LabelMe file (no 'shapes' list)")
    for key in ("imagePath", "imageData"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise SampleError(source_id, f"{key} must be text, got {type(doc[key]).__name__}")
    height, width = (
        None if doc.get(key) in (None, "") else positive_int(doc[key], what=key, source_id=source_id)
        for key in ("imageHeight", "imageWidth")
    )
    if height is not None and width is not None:
        check_declared_size(height, width, what="the LabelMe file", source_id=source_id, max_pixels=max_pixels)
    for index, shape in enumerate(doc["shapes"]):
        _check_shape(shape, index, source_id=source_id)
    return height, width


def load_labelme(
    json_path: str,
    image_path: str | None,
    *,
    source_id: str,
    class_key: str,
    options: LoadOptions,
    background_labels: tuple[str, ...] = tuple(BACKGROUND_LABELS),
    name: str | None = None,
    auto_mask: Any = None,
) -> Sample:
    """Decode one LabelMe annotation (image from ``imageData`` or ``image_path``) into a Sample.

    ``name``: how messages name the JSON file (its path relative to the source).
    """
    shown = name or Path(json_path).name
    try:
        doc = _read_json(Path(json_path))
    except (OSError, ValueError, RecursionError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SampleError(source_id, f"could not read LabelMe file {shown}: {detail}") from None
    height, width = check_labelme(doc, source_id=source_id, max_pixels=options.max_pixels)
    if doc.get("imageData"):
        data: bytes | str = _b64(doc["imageData"], source_id=source_id, what="imageData")
    elif image_path is not None:
        data = image_path
    else:
        raise SampleError(source_id, "LabelMe file has neither imageData nor a usable imagePath")
    image = read_image(data, source_id=source_id, max_pixels=options.max_pixels,
                       name=None if isinstance(data, bytes) else str(doc.get("imagePath")))
    mask = shapes_to_mask(
        doc["shapes"], height or image.shape[0], width or image.shape[1], source_id=source_id,
        background_labels=background_labels, max_pixels=options.max_pixels,
    )
    if auto_mask is not None:
        return _auto_masked(image, mask, maker=auto_mask, source_id=source_id, class_key=class_key)
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


def _auto_masked(image: Any, shapes_mask: np.ndarray, *, maker: Any, source_id: str, class_key: str) -> Sample:
    """The maker's mask for ``image``, from the box around the object shapes (none: the centred box)."""
    from ximagenet12.io.imageio import align_mask
    from ximagenet12.sources.automask import auto_masked_sample
    from ximagenet12.sources.base import class_names_for

    shapes_mask = align_mask(shapes_mask, image, source_id=source_id)
    ys, xs = np.nonzero(shapes_mask)
    box = None if ys.size == 0 else (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                                     float(ys.max() - ys.min() + 1))
    return auto_masked_sample(image.pixels, maker=maker, box=box, source_id=source_id, class_key=class_key,
                              class_name=class_names_for([class_key])[0])


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


def _image_path(doc: Mapping[str, Any], path: Path, root: Path, *, source_id: str) -> Path | None:
    """The checked image file of a LabelMe document (``None`` when it has none)."""
    raw_path = doc.get("imagePath")
    if not raw_path:
        return None
    try:
        candidate = (path.parent / PurePosixPath(raw_path.replace("\\", "/"))).resolve()
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
        raise SampleError(source_id, f"imagePath {stable_name(raw_path)!r} is not a usable path: {exc}") from None
    if not candidate.is_relative_to(root.resolve()):
        raise SampleError(source_id, f"imagePath {stable_name(raw_path)!r} resolves outside the source folder; "
                          "refusing to read it")
    return candidate


def _list_one(
    path: Path, root: Path, *, class_from: str, background: tuple[str, ...], options: LoadOptions,
    auto_mask: Any = None,
) -> tuple[SourceItem | Skipped, Path | None]:
    """One LabelMe file as an item or a skip, and its image file; raises :class:`SampleError`
    to skip a file that is not usable at all."""
    rel = path.relative_to(root)
    source_id = rel.with_suffix("").as_posix()
    try:
        doc = _read_json(path)
    except (OSError, ValueError, RecursionError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else _json_error(exc)
        raise SampleError(source_id, f"could not read JSON {rel.as_posix()}: {detail}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise SampleError(source_id, f"{rel.as_posix()} is not a LabelMe file (no 'shapes' list)")
    check_labelme(doc, source_id=source_id, max_pixels=options.max_pixels)
    image_path = _image_path(doc, path, root, source_id=source_id)
    if not doc.get("imageData"):
        if image_path is None:
            raise SampleError(source_id, "LabelMe file has neither imageData nor imagePath")
        if not image_path.is_file():
            raise SampleError(source_id, f"image missing: imagePath {stable_name(doc['imagePath'])!r} "
                              f"(looked for {stable_name(image_path.relative_to(root.resolve()).as_posix())})")
    if class_from == "folder":
        if len(rel.parts) < 2:
            return Skipped(source_id, f"{rel.as_posix()} is not in a class folder: expected <source>/<class>/"
                           "<name>.json (or use class_from='label')"), image_path
        class_key = rel.parts[0]
    else:
        label = _label_class(doc["shapes"], background)
        if label is None:
            return Skipped(source_id, "no object label among the area shapes to take the class from"), image_path
        class_key = label
    load = partial(
        load_labelme, str(path), str(image_path) if image_path is not None else None, source_id=source_id,
        class_key=class_key, options=options, background_labels=background, name=rel.as_posix(),
        **({"auto_mask": auto_mask} if auto_mask is not None else {}),
    )
    return SourceItem(source_id, class_key, load), image_path


def _unique_ids(items: list[SourceItem], files: list[Path], root: Path, skipped: list[Skipped]) -> list[SourceItem]:
    """Items whose source id no other file shares (``a.json`` and ``a.JSON``); the others are skipped."""
    names: dict[str, list[str]] = {}
    for path in files:
        names.setdefault(path.relative_to(root).with_suffix("").as_posix(), []).append(path.name)
    kept = []
    for item in items:
        shared = names.get(item.source_id, [])
        if len(shared) > 1:
            skipped.append(Skipped(item.source_id, f"several LabelMe files share this source id: {', '.join(shared)}"))
        else:
            kept.append(item)
    return kept


def _json_error(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


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
        auto_mask: Any = None,
    ):
        if class_from not in ("folder", "label"):
            raise ValueError(f"class_from must be 'folder' or 'label', got {class_from!r}")
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"LabelMe folder not found: {root}")
        self.root, self.class_from = root, class_from
        self.options = options or LoadOptions()
        self.mask_maker = auto_mask
        background = tuple(sorted(background_labels))

        items: list[SourceItem] = []
        referenced: set[Path] = set()
        scan = scan_files(root, suffixes={".json"})
        skipped: list[Skipped] = list(scan.bad_names)
        for path in scan.files:
            try:
                item, image_path = _list_one(path, root, class_from=class_from, background=background,
                                             options=self.options, auto_mask=auto_mask)
            except SampleError as exc:
                skipped.append(Skipped(exc.source_id, exc.reason))
                continue
            (skipped if isinstance(item, Skipped) else items).append(item)  # type: ignore[arg-type]
            if image_path is not None:
                referenced.add(image_path)

        items = _unique_ids(items, scan.files, root, skipped)
        images = scan_files(root)
        skipped += images.bad_names
        for image in images.files:
            if image.resolve() not in referenced:
                rel = image.relative_to(root)
                skipped.append(Skipped(rel.as_posix(), f"no LabelMe JSON refers to image {rel.as_posix()}"))
        if not items and not skipped:
            raise ValueError(f"no LabelMe JSON files found under {root}")
        super().__init__(name=name or root.resolve().name, items=items, skipped=skipped,
                         hidden=sorted(set(scan.hidden) | set(images.hidden)))
        if auto_mask is not None:
            from ximagenet12.sources.photos import automatic_masks_note

            self.notes = automatic_masks_note(auto_mask)
