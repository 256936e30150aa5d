"""Pick the right reader for a path (or a ``datasets`` object) by looking at its layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ximagenet12.sources.base import Source

__all__ = ["SUPPORTED_LAYOUTS", "open_source"]

#: What :func:`open_source` recognises, in the order it checks; shown when nothing matches.
SUPPORTED_LAYOUTS = (
    "release: <dir>/image/<wnid>/<wnid>_<n>.JPEG + <dir>/masks/<wnid>/<wnid>_<n>.png",
    "folder pair: <dir>/images/<class>/<name>.<ext> + <dir>/masks/<class>/<name>.<ext>",
    "COCO: a *.json file with 'images' and 'annotations' (images_dir= defaults to its folder), "
    "or <dir> holding one such file (at the top or in annotations/) with its images in <dir>/images or <dir>",
    "LabelMe: <dir>/<class>/<name>.json files with 'shapes' and 'imagePath'",
    "ImageNet-S: <dir>/validation/<wnid>/<name>.JPEG + <dir>/validation-segmentation/<wnid>/<name>.png "
    "(and/or train-semi/), <dir> named ImageNetS50/300/919",
    "Hugging Face: a datasets.Dataset / DatasetDict, or a folder written by Dataset.save_to_disk",
    "photos without masks (with --auto-mask): <dir>/<class>/<name>.jpg, COCO/LabelMe files with boxes, "
    "or a saved datasets folder with an image column",
)


def _coco_doc(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError, RecursionError):  # unreadable, not JSON, or nested too deeply
        return None
    if isinstance(doc, dict) and isinstance(doc.get("images"), list) and isinstance(doc.get("annotations"), list):
        return doc
    return None


def _is_labelme(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("shapes"), list)


def _unsupported(spec: Any, why: str) -> ValueError:
    layouts = "\n".join(f"  - {layout}" for layout in SUPPORTED_LAYOUTS)
    return ValueError(f"cannot tell what kind of source {spec} is ({why}). Supported layouts:\n{layouts}")


def _load_saved(path: Path) -> Any:
    """``datasets.load_from_disk`` of a saved dataset, refusing one with no rows in one line
    (``datasets`` itself fails on it with an ``IndexError`` deep in its table code)."""
    import datasets

    states = [path / "state.json"] if (path / "state.json").is_file() else sorted(path.glob("*/state.json"))
    for state in states:
        try:
            files = json.loads(state.read_text(encoding="utf-8")).get("_data_files")
        except (OSError, ValueError, AttributeError):
            raise ValueError(f"{state}: not a readable saved Hugging Face dataset state (expected JSON with "
                             "'_data_files')") from None
        if isinstance(files, list) and not files:
            split = "" if state.parent == path else f" (split {state.parent.name!r})"
            raise ValueError(f"{path} is a saved Hugging Face dataset with 0 rows{split}: there is nothing to build")
    loaded = datasets.load_from_disk(str(path))
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for name, part in parts:  # older datasets save 0 rows as one empty data file
        if part.num_rows == 0:
            split = "" if name is None else f" (split {name!r})"
            raise ValueError(f"{path} is a saved Hugging Face dataset with 0 rows{split}: there is nothing to build")
    return loaded


def open_source(spec: str | os.PathLike | Any, **kw: Any) -> Source:
    """Open ``spec`` with the reader its layout calls for; ``kw`` go to that reader.

    See :data:`SUPPORTED_LAYOUTS`. With ``auto_mask=`` a mask maker (or its name; see
    :mod:`ximagenet12.sources.automask`), masks are made for the photos instead: a COCO
    file or folder gives each photo its largest annotation's box, a LabelMe folder its
    largest rectangle or polygon's box, any other folder is read as photos in class
    folders (:class:`~ximagenet12.sources.photos.PhotoSource`). Raises :class:`FileNotFoundError` for a missing
    path and :class:`ValueError`, listing the supported layouts, when nothing matches.
    """
    from ximagenet12.sources.coco import CocoSource
    from ximagenet12.sources.folders import FolderSource, ReleaseSource
    from ximagenet12.sources.labelme import LabelMeSource

    if not isinstance(spec, (str, os.PathLike)):
        import datasets

        if isinstance(spec, (datasets.Dataset, datasets.DatasetDict)):
            from ximagenet12.sources.hf import HFDatasetSource

            if kw.get("auto_mask") is not None:
                from ximagenet12.sources.automask import mask_maker

                kw["auto_mask"] = mask_maker(kw["auto_mask"])
            return HFDatasetSource(spec, **kw)
        raise TypeError(f"source must be a path or a datasets.Dataset, got {type(spec).__name__}")

    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"source not found: {path}")
    if kw.get("auto_mask") is not None:
        return _open_auto_masked(path, **kw)
    kw.pop("auto_mask", None)
    if path.is_file():
        if path.suffix.lower() == ".json":
            doc = _coco_doc(path)
            if doc is not None:
                images_dir = kw.pop("images_dir", path.parent)
                kw.setdefault("name", path.stem)
                return CocoSource(doc, images_dir, **kw)
            if _is_labelme(path):
                raise _unsupported(path, "a single LabelMe file; pass the folder that holds the LabelMe files")
        raise _unsupported(path, "a file that is not a COCO annotations JSON")

    if (path / ReleaseSource.IMAGE_FOLDER).is_dir() and (path / ReleaseSource.MASK_FOLDER).is_dir():
        return ReleaseSource(path, **kw)
    from ximagenet12.sources.imagenet_s import ImageNetSSource, is_imagenet_s

    if is_imagenet_s(path):
        return ImageNetSSource(path, **kw)
    if (path / "images").is_dir() and (path / "masks").is_dir():
        kw.setdefault("name", path.resolve().name)
        return FolderSource(path / "images", path / "masks", **kw)
    saved_dataset = (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    if saved_dataset or (path / "dataset_dict.json").is_file():
        import datasets

        from ximagenet12.sources.hf import HFDatasetSource

        kw.setdefault("root", path)  # a row's file path is read only inside this folder
        return HFDatasetSource(_load_saved(path), **kw)
    top_json = sorted(path.glob("*.json")) + sorted((path / "annotations").glob("*.json"))
    coco = [(p, doc) for p in top_json if (doc := _coco_doc(p)) is not None]
    if len(coco) == 1:
        json_path, doc = coco[0]
        images_dir = kw.pop("images_dir", path / "images" if (path / "images").is_dir() else path)
        kw.setdefault("name", path.resolve().name)
        return CocoSource(doc, images_dir, **kw)
    if len(coco) > 1:
        names = ", ".join(p.relative_to(path).as_posix() for p, _ in coco)
        raise _unsupported(path, f"several COCO files ({names}); pass the one to use")
    labelme = next((p for p in sorted(path.rglob("*.json")) if _is_labelme(p)), None)
    if labelme is not None:
        return LabelMeSource(path, **kw)
    raise _unsupported(path, "no known layout found")


def _open_auto_masked(path: Path, *, auto_mask: Any, **kw: Any) -> Source:
    """A source whose masks ``auto_mask`` makes: COCO (boxes), LabelMe (boxes), a saved ``datasets``
    folder (image column) or photos in class folders."""
    from ximagenet12.sources.automask import mask_maker
    from ximagenet12.sources.photos import PhotoSource

    maker = mask_maker(auto_mask)
    if path.is_file():
        doc = _coco_doc(path) if path.suffix.lower() == ".json" else None
        if doc is None:
            raise _unsupported(path, "a file that is not a COCO annotations JSON; for photos pass their folder")
        from ximagenet12.sources.coco import CocoSource

        images_dir = kw.pop("images_dir", path.parent)
        kw.setdefault("name", path.stem)
        return CocoSource(doc, images_dir, auto_mask=maker, **kw)
    top_json = sorted(path.glob("*.json")) + sorted((path / "annotations").glob("*.json"))
    coco = [(p, doc) for p in top_json if (doc := _coco_doc(p)) is not None]
    if len(coco) > 1:
        names = ", ".join(p.relative_to(path).as_posix() for p, _ in coco)
        raise _unsupported(path, f"several COCO files ({names}); pass the one to use")
    if coco:
        from ximagenet12.sources.coco import CocoSource

        images_dir = kw.pop("images_dir", path / "images" if (path / "images").is_dir() else path)
        kw.setdefault("name", path.resolve().name)
        return CocoSource(coco[0][1], images_dir, auto_mask=maker, **kw)
    if next((p for p in sorted(path.rglob("*.json")) if _is_labelme(p)), None) is not None:
        from ximagenet12.sources.labelme import LabelMeSource

        return LabelMeSource(path, auto_mask=maker, **kw)
    if ((path / "state.json").is_file() and (path / "dataset_info.json").is_file()) or (
            path / "dataset_dict.json").is_file():
        import datasets

        from ximagenet12.sources.hf import HFDatasetSource

        return HFDatasetSource(datasets.load_from_disk(str(path)), auto_mask=maker, **kw)
    return PhotoSource(path, maker=maker, **kw)
