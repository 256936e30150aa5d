"""A folder of photos without masks, masked automatically (``build --auto-mask``)::

    <root>/<class>/[...]/<name>.<ext>

or, when ``<root>`` is a release or folder-pair layout (``image/`` or ``images/`` beside
``masks/``), the photos under ``image(s)/``; the masks beside them are not used. The class is the
first folder under the photo folder; the source id is the path relative to it without
extension (``cat/001``). Every item's ``load`` decodes the photo and asks the
:class:`~ximagenet12.sources.automask.MaskMaker` for its mask (from a centred box), in
whichever worker builds the sample.

Recorded in ``skipped``: photos lying directly in the root (no class), photos sharing a
source id, names that are not valid UTF-8; later, per photo, a failing maker and a mask
outside the coverage bounds.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

from ximagenet12.sources.automask import MaskMaker, load_auto_masked
from ximagenet12.sources.base import LoadOptions, Source, class_names_for, scan_files
from ximagenet12.core.types import Skipped, SourceItem

__all__ = ["PhotoSource", "photo_folder"]


def photo_folder(root: Path) -> Path:
    """The folder that holds the class folders: ``root/image`` or ``root/images`` beside ``root/masks``
    (a release or folder-pair layout), else ``root`` (where ``images`` may just be a class)."""
    if (root / "masks").is_dir():
        for name in ("image", "images"):
            if (root / name).is_dir():
                return root / name
    return root


class PhotoSource(Source):
    """Photos in class folders, each masked by ``maker`` when it is loaded."""

    def __init__(self, root: str | Path, *, maker: MaskMaker, options: LoadOptions | None = None,
                 name: str | None = None):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"photo folder not found: {root}")
        if not isinstance(maker, MaskMaker):
            raise TypeError(f"maker must be a MaskMaker, got {type(maker).__name__}")
        folder = photo_folder(root)
        self.root, self.folder, self.mask_maker = root, folder, maker
        self.options = options or LoadOptions()
        scan = scan_files(folder)
        loose = [p for p in scan.files if p.parent == folder]
        photos = [p for p in scan.files if p.parent != folder]
        if loose and not photos:
            raise ValueError(f"{len(loose)} photo(s) lie directly in {folder} (e.g. {loose[0].name}); the class comes "
                             f"from the sub-folder, so the expected layout is {folder}/<class>/<name>.jpg")
        if not photos:
            raise ValueError(f"no photos found under {folder}: expected {folder}/<class>/<name>.jpg")
        skipped = [*scan.bad_names, *(Skipped(p.relative_to(folder).with_suffix("").as_posix(),
                                              f"photo {p.name} lies directly in {folder.name}/, not in a class "
                                              "folder, so it has no class") for p in loose)]
        ids = Counter(p.relative_to(folder).with_suffix("").as_posix() for p in photos)
        classes = sorted({p.relative_to(folder).parts[0] for p in photos})
        names = dict(zip(classes, class_names_for(classes)))
        items: list[SourceItem] = []
        for path in photos:
            rel = path.relative_to(folder)
            source_id, class_key = rel.with_suffix("").as_posix(), rel.parts[0]
            if ids[source_id] > 1:
                others = sorted(p.relative_to(folder).as_posix() for p in photos
                                if p.relative_to(folder).with_suffix("").as_posix() == source_id)
                skipped.append(Skipped(source_id, f"several photos share this source id: {', '.join(others)}"))
                continue
            load = partial(load_auto_masked, str(path), maker=maker, box=None, source_id=source_id,
                           class_key=class_key, class_name=names[class_key], max_pixels=self.options.max_pixels,
                           name=f"{folder.name}/{rel.as_posix()}")
            items.append(SourceItem(source_id, class_key, load))
        super().__init__(name=name or root.resolve().name, items=items, skipped=skipped, classes=classes,
                         hidden=scan.hidden)
        self.notes = automatic_masks_note(maker)


def automatic_masks_note(maker: MaskMaker) -> str:
    """The card's paragraph on automatic masks."""
    return (f"**The masks are automatic**, not drawn by people: every mask was made by {maker.describe()} "
            f"(each row's `provenance` records `mask_source`: `{maker.name}`). A mask covering under 1 % or over "
            "95 % of the frame was not used: its photo is a recorded skip (see *Skipped samples*). Automatic masks "
            "miss parts of objects and take parts of backgrounds, so scores on these configs measure robustness "
            "to these masks' errors too.")
