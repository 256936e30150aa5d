"""The background library for ``random_background``: real photographs.

By default it holds photographs that ship with scikit-image (CC0 / public domain, see
``skimage/data/README.txt``), so a build works offline. Users pass a folder of their
own photos instead (``--backgrounds DIR``). Photos are decoded on first use and kept
(they are few); choosing one is the caller's seeded draw.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

__all__ = ["BackgroundLibrary", "DEFAULT_BACKGROUNDS", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

#: scikit-image photographs used by default: (id, file in skimage/data).
DEFAULT_BACKGROUNDS: tuple[tuple[str, str], ...] = (
    ("skimage/grass", "grass.png"),
    ("skimage/gravel", "gravel.png"),
    ("skimage/brick", "brick.png"),
    ("skimage/coffee", "coffee.png"),
    ("skimage/rocket", "rocket.jpg"),
    ("skimage/astronaut", "astronaut.png"),
    ("skimage/chelsea", "chelsea.png"),
    ("skimage/motorcycle", "motorcycle_left.png"),
    ("skimage/hubble", "hubble_deep_field.jpg"),
)


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
