"""Folder readers: the reference release layout and a generic images/masks pair.

Release layout (:class:`ReleaseSource`)::

    <root>/image/<wnid>/<wnid>_<n>.JPEG
    <root>/masks/<wnid>/<wnid>_<n>.png

Generic layout (:class:`FolderSource`)::

    <images_dir>/<class>/[...]/<name>.<ext>
    <masks_dir>/<class>/[...]/<name><mask_suffix>.<ext>    (mirrored folders), or
    <masks_dir>/<name><mask_suffix>.<ext>                  (flat, when unambiguous)

Extensions are matched case-insensitively, masks by stem. The class is the first
folder under the images folder. Source ids: the file stem for the release (its file
names are unique and are the paper's ids, e.g. ``n02992211_15171``); the path
relative to the images folder without extension for the generic layout (e.g.
``cat/001``), so two classes may both hold a ``001.png``.

Recorded in ``skipped``: images with no mask, images matched by several masks (or
a mask matched by several images), images sharing a source id, and masks with no
image.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Callable

from ximagenet12.io.imageio import decode_mask, read_image
from ximagenet12.sources.base import LoadOptions, Source, check_class_name, finish_sample, scan_files
from ximagenet12.core.types import Sample, Skipped, SourceItem

__all__ = ["FolderSource", "ReleaseSource", "load_file_pair"]


def load_file_pair(image_path: str, mask_path: str, *, source_id: str, class_key: str, options: LoadOptions,
                   image_name: str | None = None, mask_name: str | None = None) -> Sample:
    """Decode one image file and its mask file into a checked :class:`Sample`.

    ``image_name`` / ``mask_name``: how messages name the files (paths relative to the
    source, so skip reasons do not depend on where the source lies).
    """
    image = read_image(image_path, source_id=source_id, max_pixels=options.max_pixels, name=image_name)
    mask = decode_mask(mask_path, source_id=source_id, max_pixels=options.max_pixels, name=mask_name)
    return finish_sample(image, mask, source_id=source_id, class_key=class_key, options=options)


def _require_dir(path: Path, role: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{role} folder not found: {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"{role} must be a folder: {path}")
    return path


def _rel_id(path: Path, folder: Path) -> str:
    return path.relative_to(folder).with_suffix("").as_posix()


def _pair_folders(
    images_dir: Path,
    masks_dir: Path,
    *,
    id_of: Callable[[Path], str],
    mask_suffix: str,
    flat_masks: bool,
    missing_reason: Callable[[Path], str],
    layout: str,
    options: LoadOptions,
) -> tuple[list[SourceItem], list[Skipped], set[str], list[str]]:
    image_scan, mask_scan = scan_files(images_dir), scan_files(masks_dir)
    loose = [p for p in image_scan.files if p.parent == images_dir]
    images = [p for p in image_scan.files if p.parent != images_dir]
    if loose and not images:  # the whole layout is wrong: say how it should look
        raise ValueError(
            f"{len(loose)} image(s) lie directly in {images_dir} (e.g. {loose[0].name}); the class comes from "
            f"the sub-folder, so the expected layout is {layout}"
        )
    stray = [Skipped(_rel_id(p, images_dir), f"image {p.name} lies directly in {images_dir.name}/, not in a class "
                     "folder, so it has no class") for p in loose]  # a stray file among class folders: a skip
    masks = mask_scan.files
    mirrored: dict[tuple[str, str], list[Path]] = defaultdict(list)
    flat: dict[str, list[Path]] = defaultdict(list)
    for m in masks:
        rel = m.relative_to(masks_dir)
        mirrored[(rel.parent.as_posix(), rel.stem)].append(m)
        if flat_masks and rel.parent == Path("."):
            flat[rel.stem].append(m)

    skipped: list[Skipped] = [*image_scan.bad_names, *mask_scan.bad_names, *stray]
    hidden = [f"{images_dir.name}/{h}" for h in image_scan.hidden] + [f"{masks_dir.name}/{h}" for h in mask_scan.hidden]
    matched: list[tuple[Path, str, str, Path]] = []  # image, id, class, mask
    claimed: set[Path] = set()
    ids = Counter(id_of(p) for p in images)
    classes = {p.relative_to(images_dir).parts[0] for p in images}
    for cls in sorted(classes):  # before any sample is matched: a bad class name loses a whole class
        check_class_name(cls, what=f"class folder {cls!r} in {images_dir.name}/")
    for image in images:
        rel = image.relative_to(images_dir)
        source_id, class_key = id_of(image), rel.parts[0]
        stem = rel.stem + mask_suffix
        candidates = mirrored.get((rel.parent.as_posix(), stem)) or (flat.get(stem) if flat_masks else None)
        claimed.update(candidates or ())
        if ids[source_id] > 1:
            others = [p.relative_to(images_dir).as_posix() for p in images if id_of(p) == source_id]
            skipped.append(Skipped(source_id, f"several images share this source id: {', '.join(others)}"))
            continue
        if not candidates:
            skipped.append(Skipped(source_id, missing_reason(rel)))
        elif len(candidates) > 1:
            names = ", ".join(c.relative_to(masks_dir).as_posix() for c in candidates)
            skipped.append(Skipped(source_id, f"several masks match this image: {names}"))
        else:
            matched.append((image, source_id, class_key, candidates[0]))

    uses = Counter(mask for *_, mask in matched)
    items: list[SourceItem] = []
    for image, source_id, class_key, mask in matched:
        if uses[mask] > 1:
            skipped.append(
                Skipped(source_id, f"mask {mask.relative_to(masks_dir).as_posix()} matches several images")
            )
            continue
        load = partial(load_file_pair, str(image), str(mask), source_id=source_id, class_key=class_key, options=options,
                       image_name=f"{images_dir.name}/{image.relative_to(images_dir).as_posix()}",
                       mask_name=f"{masks_dir.name}/{mask.relative_to(masks_dir).as_posix()}")
        items.append(SourceItem(source_id, class_key, load))
    for m in masks:
        if m not in claimed:
            rel_mask = m.relative_to(masks_dir).as_posix()
            skipped.append(Skipped(_rel_id(m, masks_dir), f"mask has no matching image: {rel_mask}"))
    return items, skipped, classes, hidden


class FolderSource(Source):
    """A generic pair of folders: ``images_dir/<class>/...`` and ``masks_dir`` matched by stem.

    ``mask_suffix`` is appended to the image stem to find its mask (e.g. ``"_mask"``
    for ``001.jpg`` → ``001_mask.png``).
    """

    def __init__(
        self,
        images_dir: str | Path,
        masks_dir: str | Path,
        *,
        mask_suffix: str = "",
        options: LoadOptions | None = None,
        name: str | None = None,
    ):
        images_dir = _require_dir(Path(images_dir), "images")
        masks_dir = _require_dir(Path(masks_dir), "masks")
        self.images_dir, self.masks_dir = images_dir, masks_dir
        self.options = options or LoadOptions()

        def missing(rel: Path) -> str:
            stem = rel.stem + mask_suffix
            mirrored = (Path(masks_dir.name) / rel.parent / stem).as_posix()
            return f"mask missing: expected {mirrored}.<ext> or {masks_dir.name}/{stem}.<ext>"

        items, skipped, classes, hidden = _pair_folders(
            images_dir,
            masks_dir,
            id_of=lambda p: _rel_id(p, images_dir),
            mask_suffix=mask_suffix,
            flat_masks=True,
            missing_reason=missing,
            layout=f"{images_dir}/<class>/<name>.<ext> with masks in {masks_dir}/<class>/<name>{mask_suffix}.<ext>",
            options=self.options,
        )
        super().__init__(
            name=name or images_dir.resolve().parent.name, items=items, skipped=skipped, classes=classes,
            hidden=hidden,
        )


class ReleaseSource(Source):
    """The reference release: ``<root>/image/<wnid>/*.JPEG`` with ``<root>/masks/<wnid>/*.png``."""

    IMAGE_FOLDER = "image"
    MASK_FOLDER = "masks"

    def __init__(self, root: str | Path, *, options: LoadOptions | None = None, name: str | None = None):
        root = _require_dir(Path(root), "release root")
        images_dir, masks_dir = root / self.IMAGE_FOLDER, root / self.MASK_FOLDER
        for folder in (images_dir, masks_dir):
            if not folder.is_dir():
                expected = f"{self.IMAGE_FOLDER}/<wnid>/<wnid>_<n>.JPEG and {self.MASK_FOLDER}/<wnid>/<wnid>_<n>.png"
                raise FileNotFoundError(f"{root} is not a release folder: {folder.name}/ is missing (expected {expected})")
        self.root = root
        self.options = options or LoadOptions()
        items, skipped, classes, hidden = _pair_folders(
            images_dir,
            masks_dir,
            id_of=lambda p: p.stem,
            mask_suffix="",
            flat_masks=False,
            missing_reason=lambda rel: f"mask missing: expected {self.MASK_FOLDER}/{rel.with_suffix('.png').as_posix()}",
            layout=f"{root}/{self.IMAGE_FOLDER}/<wnid>/<wnid>_<n>.JPEG",
            options=self.options,
        )
        super().__init__(name=name or root.resolve().name, items=items, skipped=skipped, classes=classes,
                         hidden=hidden)
