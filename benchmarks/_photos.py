"""Real photos for the benchmarks: seeded random crops of scikit-image's bundled images.

Shared by ``bench_evaluate``, ``bench_train`` and ``bench_explain`` (run as scripts from
this folder, so ``from _photos import photo_crops`` finds it).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["photo_crops"]


def photo_crops(n: int, *, seed: int = 0) -> list[Image.Image]:
    """``n`` distinct crops (60–100 % of each side) of four CC0 / public-domain photos."""
    import skimage.data

    bases = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut(), skimage.data.rocket()]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = bases[i % len(bases)]
        h, w = base.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out.append(Image.fromarray(base[y : y + ch, x : x + cw]))
    return out
