"""The background library for ``random_background``: real photographs.

By default it holds photographs that ship with scikit-image, so a build works offline.
They are textures, a deep-sky photograph and a microscopy stain, chosen because they
show **no object of an ImageNet-1k class**: a background that shows an object of a
class the build uses (scikit-image's coffee cup, cat, astronaut ...) would score a model
"fooled" when it is right about what it sees. Users pass a folder of their own photos
instead (``--backgrounds DIR``). Photos are decoded on first use and kept (they are
few); choosing one is the caller's seeded draw.

:func:`ximagenet12.evaluation.background_check.check_background_library` classifies every
photo of a library with the built-in ImageNet-1k classifiers and reports each photo that
shows a class the build uses (it lives with the evaluator: it runs models).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

__all__ = [
    "BackgroundLibrary",
    "DEFAULT_BACKGROUNDS",
    "DEFAULT_BACKGROUND_LICENSES",
    "IMAGE_SUFFIXES",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

#: scikit-image photographs used by default: (id, file in skimage/data). Each shows no
#: object of an ImageNet-1k class (looked at by eye; checked with the built-in classifiers
#: by ``tests/scenarios/test_background_check.py``). Earlier versions also held
#: coffee, rocket, astronaut, chelsea and motorcycle, which show ImageNet-1k objects
#: (espresso, tabby cat, military uniform ...) and fooled models with them.
DEFAULT_BACKGROUNDS: tuple[tuple[str, str], ...] = (
    ("skimage/grass", "grass.png"),
    ("skimage/gravel", "gravel.png"),
    ("skimage/brick", "brick.png"),
    ("skimage/hubble", "hubble_deep_field.jpg"),
    ("skimage/ihc", "ihc.png"),
)

#: Where each default photo comes from and its licence (from scikit-image's ``skimage.data`` docs).
DEFAULT_BACKGROUND_LICENSES: dict[str, str] = {
    "skimage/grass": "grass texture, DeviantArt 'Grass-01' by linolafett, CC0 (grey-scale crop by scikit-image)",
    "skimage/gravel": "gravel texture, cc0textures.com 'Gravel04', CC0 (grey-scale crop by scikit-image)",
    "skimage/brick": "brick wall, cc0textures.com 'Bricks25', CC0 (warped and cropped by scikit-image)",
    "skimage/hubble": "Hubble eXtreme Deep Field, NASA, public domain",
    "skimage/ihc": "immunohistochemistry stain of colonic glands, CMMI, no known copyright restrictions",
}



def _to_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class BackgroundLibrary:
    """An ordered list of photos with stable ids."""

    def __init__(self, entries: Sequence[tuple[str, Path]]):
        if not entries:
            raise ValueError("the background library is empty: give a folder with at least one photo")
        self.ids: tuple[str, ...] = tuple(i for i, _ in entries)
        self._paths: tuple[Path, ...] = tuple(Path(p) for _, p in entries)
        self._load = lru_cache(maxsize=None)(self._decode)

    @classmethod
    def default(cls) -> "BackgroundLibrary":
        import skimage.data

        root = Path(skimage.data.__file__).parent
        return cls([(bid, root / name) for bid, name in DEFAULT_BACKGROUNDS if (root / name).exists()])

    @classmethod
    def from_folder(cls, folder: str | Path) -> "BackgroundLibrary":
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"background folder {folder} does not exist or is not a folder")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"background folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return cls([(p.relative_to(folder).as_posix(), p) for p in files])

    def __len__(self) -> int:
        return len(self.ids)

    def _decode(self, index: int) -> np.ndarray:
        try:
            return _to_rgb(self._paths[index])
        except Exception as exc:  # noqa: BLE001 - re-raised with the photo named
            raise ValueError(f"background photo {self._paths[index]} could not be decoded: {exc}") from exc

    def draw(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """Draw one photo: its id and RGB pixels (read-only, shared)."""
        index = int(rng.integers(len(self.ids)))
        return self.ids[index], self._load(index)

    def __getstate__(self):  # the cache is rebuilt in each worker
        return {"ids": self.ids, "_paths": self._paths}

    def __setstate__(self, state):
        self.ids, self._paths = state["ids"], state["_paths"]
        self._load = lru_cache(maxsize=None)(self._decode)
