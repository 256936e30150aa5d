"""A build's bytes are pinned: the engine's per-sample memo and its caches (background
photos resized per frame size, donor backgrounds) change no output byte, and a default
build writes byte-identical files whatever the number of workers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import skimage.data

from ximagenet12.builder import build_dataset

#: sha256 over every row (config, source id, image bytes, mask bytes, seed, provenance) of
#: ``--scenarios all`` on :func:`photo_release`, made with the code as it was before the
#: memo and caches (main at 5fcebaf). Image bytes depend on OpenCV's codecs and kernels,
#: so it is compared only on the OpenCV release it was made with (the cache-free
#: comparison below runs everywhere).
GOLDEN = {"opencv": "5.0.0", "sha256": "fbc6acaa80c9dc87dc6b3b1ce41d23423a98c4136ab17ef5506336fcb7df8990"}
#: Frame sizes of the samples: the background and donor caches are keyed by size.
SIZES = ((48, 64), (64, 48), (50, 50))


def photo_release(root: Path) -> Path:
    """Nine small crops of scikit-image photos (three classes, three frame sizes) with elliptical masks."""
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    rng = np.random.default_rng(7)
    for k in range(9):
        wnid = f"n0100000{1 + k % 3}"
        (root / "image" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "masks" / wnid).mkdir(parents=True, exist_ok=True)
        h, w = SIZES[k % len(SIZES)]
        photo = photos[k % len(photos)]
        y, x = int(rng.integers(0, photo.shape[0] - 4 * h)), int(rng.integers(0, photo.shape[1] - 4 * w))
        image = cv2.resize(photo[y : y + 4 * h, x : x + 4 * w], (w, h), interpolation=cv2.INTER_AREA)
        mask = np.zeros((h, w), np.uint8)
        cv2.ellipse(mask, (w // 2 + int(rng.integers(-5, 6)), h // 2), (w // 4, h // 3), float(rng.uniform(0, 180)),
                    0, 360, 255, -1)
        cv2.imwrite(str(root / "image" / wnid / f"{wnid}_{k}.JPEG"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / "masks" / wnid / f"{wnid}_{k}.png"), mask)
    return root


def rows_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for shard in sorted((out / "data").rglob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            for value in (shard.parent.name, row["source_id"], row["image"]["bytes"], row["mask"]["bytes"],
                          row["seed"], row["provenance"]):
                digest.update(value if isinstance(value, bytes) else str(value).encode())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_release(tmp_path_factory.mktemp("photos") / "release")


@pytest.mark.skipif(cv2.__version__ != GOLDEN["opencv"], reason=f"golden made with OpenCV {GOLDEN['opencv']}")
def test_every_row_of_a_full_build_is_the_byte_the_code_before_the_caches_wrote(tmp_path, photos):
    build_dataset(photos, tmp_path / "out", scenarios="all", progress=False)
    assert rows_digest(tmp_path / "out") == GOLDEN["sha256"]
