"""What every source reader shares: the :class:`Source` object, the decoding options
that travel with each item, and the module-level loader for an image/mask file pair.

A reader lists its samples when it is built (cheap: file names and annotations, no
pixel decoding) and records every sample it cannot use in ``source.skipped`` with the
reason; nothing is dropped silently. Decoding happens in ``item.load()``, in
whichever process builds the sample, and either returns a :class:`Sample` that meets
the contract or raises :class:`SampleError`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ximagenet12.core.constants import REFERENCE_CLASSES
from ximagenet12.io.imageio import MAX_IMAGE_PIXELS, DecodedImage, MaskOrientation, align_mask
from ximagenet12.sources.raster import stable_name
from ximagenet12.core.types import Sample, Skipped, SourceItem
from ximagenet12.core.validation import check_image, check_mask, check_mask_content

__all__ = [
    "IMAGE_EXTENSIONS",
    "LoadOptions",
    "Source",
    "class_names_for",
    "check_class_name",
    "FileScan",
    "finish_sample",
    "list_image_files",
    "scan_files",
]

#: File extensions (lower case) that readers treat as images or masks.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"})

_REFERENCE_NAMES = {wnid: name for wnid, name, _ in REFERENCE_CLASSES}


def class_names_for(keys: Iterable[str]) -> list[str]:
    """Human-readable names for class keys: the reference name for the 12 reference
    wnids (SPEC §2), the key itself for anything else."""
    return [_REFERENCE_NAMES.get(key, key) for key in keys]


@dataclass(frozen=True)
class LoadOptions:
    """How items decode; picklable, carried inside every item's ``load``.

    ``max_pixels``: decompression-bomb limit (``None`` = no limit).
    ``mask_orientation``: how a mask meets an EXIF-rotated image
    (see :func:`ximagenet12.io.imageio.align_mask`).
    ``allow_empty_mask`` / ``allow_full_mask``: accept masks with no object / no
    background pixels (see :mod:`ximagenet12.core.validation`).
    """

    max_pixels: int | None = MAX_IMAGE_PIXELS
    mask_orientation: MaskOrientation = "auto"
    allow_empty_mask: bool = False
    allow_full_mask: bool = False

    def __post_init__(self) -> None:
        if self.mask_orientation not in ("auto", "stored", "displayed"):
            raise ValueError(f"mask_orientation must be 'auto', 'stored' or 'displayed', got {self.mask_orientation!r}")
        if self.max_pixels is not None and self.max_pixels <= 0:
            raise ValueError(f"max_pixels must be positive or None, got {self.max_pixels}")


def finish_sample(
    image: DecodedImage, mask: np.ndarray, *, source_id: str, class_key: str, options: LoadOptions
) -> Sample:
    """Align ``mask`` with ``image``, check the contract and the content policy, build the Sample."""
    mask = align_mask(mask, image, source_id=source_id, orientation=options.mask_orientation)
    check_image(image.pixels, source_id=source_id)
    check_mask(mask, image_shape=image.pixels.shape, source_id=source_id)
    check_mask_content(
        mask, source_id=source_id, allow_empty=options.allow_empty_mask, allow_full=options.allow_full_mask
    )
    return Sample(source_id=source_id, class_key=class_key, image=image.pixels, mask=mask)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name come back as surrogates
        return False
    return True



_UNSAFE_CLASS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029/\\<>]")


def check_class_name(name: object, *, what: str) -> str:
    """``name`` if a class key or name can round-trip through the folder reader, ``ClassLabel``,
    the parquet files and the card; else one ``ValueError`` naming ``what`` (the folder or entry).

    Refused: empty, only dots (``.``/``..``/``...``: folder names that mean something else
    or read as hidden), path separators, control characters and line breaks, leading or
    trailing white space (lost by folder tools and by ``ClassLabel`` names files), ``<``
    and ``>`` (HTML in a card). Other characters are written escaped into the card.
    """
    if not isinstance(name, str):
        raise TypeError(f"{what}: class name must be a string, got {type(name).__name__}")
    if not name or not name.strip():
        problem = "is empty"
    elif set(name) == {"."}:
        problem = "is only dots"
    elif name != name.strip():
        problem = "starts or ends with white space"
    elif (bad := _UNSAFE_CLASS.search(name)) is not None:
        problem = f"holds {bad[0]!r} ({unicodedata.name(bad[0], 'a control character').lower()})"
    else:
        return name
    raise ValueError(f"{what}: class name {name!r} {problem}, so it cannot round-trip through the dataset "
                     "(folder, ClassLabel, parquet, card); rename it")


@dataclass
class FileScan:
    """What :func:`scan_files` found under a folder.

    ``files``: usable files, sorted by relative path. ``hidden``: relative paths of
    hidden files left out on purpose. ``bad_names``: files whose names are not valid
    UTF-8, as :class:`Skipped` entries (the id shows the bad bytes as ``\\xNN``).
    """

    files: list[Path]
    hidden: list[str]
    bad_names: list[Skipped]


def scan_files(folder: Path, *, suffixes: Iterable[str] = IMAGE_EXTENSIONS) -> FileScan:
    """Files under ``folder`` (recursive) whose suffix (any case) is in ``suffixes``.

    Hidden files and folders (names starting with ``.``, e.g. macOS ``._x.jpg``) are
    not samples: they are left out and listed in ``hidden`` (so the build can say how
    many). A name that is not valid UTF-8 cannot be written to the dataset; its file is
    recorded in ``bad_names`` instead.
    """
    suffixes = {s.lower() for s in suffixes}
    files: list[Path] = []
    hidden: list[str] = []
    bad: list[Skipped] = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if path.suffix.lower() not in suffixes or not path.is_file():
            continue
        shown = stable_name(rel.as_posix())
        if any(set(part) == {"."} for part in rel.parts[:-1]):  # "...": no hidden-file convention, a lost class
            dots = next(part for part in rel.parts if set(part) == {"."})
            check_class_name(dots, what=f"folder {folder.name}/{dots}/")
        if any(part.startswith(".") for part in rel.parts):
            hidden.append(shown)
        elif not _utf8(rel.as_posix()):
            bad.append(Skipped(stable_name(rel.with_suffix("").as_posix()),
                               f"file name {shown!r} is not valid UTF-8; rename the file"))
        else:
            files.append(path)
    files.sort(key=lambda p: p.relative_to(folder).as_posix())
    return FileScan(files, sorted(hidden), sorted(bad, key=lambda s: s.source_id))


def list_image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (see :func:`scan_files`; hidden files and names that
    are not valid UTF-8 are left out)."""
    return scan_files(folder).files


class Source:
    """A listed set of source samples.

    ``classes`` are the class keys found in the data, sorted; ``class_names`` the
    matching human names. ``items()`` yields :class:`SourceItem` sorted by class key
    then source id; ``skipped`` lists what was found but cannot be used, with why;
    ``hidden`` the hidden files (relative paths) left out on purpose.
    """

    def __init__(
        self,
        *,
        name: str,
        items: Sequence[SourceItem],
        skipped: Sequence[Skipped] = (),
        classes: Iterable[str] | None = None,
        class_names: Sequence[str] | None = None,
        hidden: Iterable[str] = (),
    ):
        self.name = name
        self.hidden: list[str] = sorted(hidden)
        self._items = sorted(items, key=lambda item: (item.class_key, item.source_id))
        counts = Counter(item.source_id for item in self._items)
        dupes = sorted(i for i, n in counts.items() if n > 1)[:5]
        if dupes:
            raise ValueError(f"source {name!r} lists duplicate source ids: {', '.join(dupes)}")
        self.classes: list[str] = sorted(set(classes) if classes is not None else {i.class_key for i in self._items})
        self.class_names: list[str] = list(class_names) if class_names is not None else class_names_for(self.classes)
        for key, label in zip(self.classes, self.class_names):  # the one gate every reader's classes pass
            check_class_name(key, what=f"source {name!r}, class {key!r}")
            check_class_name(label, what=f"source {name!r}, class {key!r}")
        self.skipped: list[Skipped] = sorted(skipped, key=lambda s: (s.source_id, s.reason))

    def items(self) -> Iterator[SourceItem]:
        return iter(self._items)

    def __iter__(self) -> Iterator[SourceItem]:
        return self.items()

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, items={len(self)}, "
            f"classes={len(self.classes)}, skipped={len(self.skipped)})"
        )
