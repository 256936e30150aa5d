"""Regenerate the embedded sample in ``builder/sample/`` from scikit-image's photographs.

    python scripts/make_sample.py [--check DIR]   # --check: also write mask overlays to DIR

Each photo's object mask comes from OpenCV GrabCut seeded with a rectangle chosen by
hand plus hand-drawn fixes (the rocket's nose cone, the saucer's shadow), then the
largest component with its holes filled. Every sample is a photo (or a mirrored crop of
it) downscaled to at most :data:`LONG_SIDE` px, written in the reference release layout
``image/<wnid>/<wnid>_<n>.JPEG`` + ``masks/<wnid>/<wnid>_<n>.png`` (0/255). The masks
were checked by eye on the overlays that ``--check`` writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import skimage.data

OUT = Path(__file__).resolve().parent.parent / "builder" / "sample"
LONG_SIDE = 480
JPEG_QUALITY = 92

# (wnid, name, skimage function, grabcut rect x,y,w,h, hand fixes)
PHOTOS = {
    "chelsea": ("n02123045", "tabby cat", (0, 0, 400, 300)),
    "coffee": ("n07920052", "espresso", (70, 10, 420, 390)),
    "rocket": ("n03773504", "missile", (295, 120, 50, 295)),
}
ROCKET_NOSE = [(321, 126), (326, 129), (330, 137), (332, 148), (333, 156), (309, 156), (310, 148), (312, 137), (316, 129)]
# samples: (photo, crop x0, y0, x1, y1 or None for the whole frame, mirror)
SAMPLES = (
    ("chelsea", None, False),
    ("chelsea", (150, 0, 451, 300), True),
    ("coffee", None, False),
    ("coffee", (40, 0, 520, 400), True),
    ("rocket", None, False),
    ("rocket", (170, 60, 470, 427), True),
)


def _grabcut(rgb: np.ndarray, rect, *, fg=(), bg: np.ndarray | None = None) -> np.ndarray:
    seed = np.full(rgb.shape[:2], cv2.GC_BGD, np.uint8)
    x, y, w, h = rect
    seed[y : y + h, x : x + w] = cv2.GC_PR_FGD
    if bg is not None:
        seed[bg] = cv2.GC_BGD
    for poly in fg:
        cv2.fillPoly(seed, [np.array(poly, np.int32)], cv2.GC_FGD)
    models = (np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64))
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), seed, None, *models, 8, cv2.GC_INIT_WITH_MASK)
    mask = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    mask = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    h_, w_ = mask.shape
    for i in range(1, n):  # fill holes that do not touch the frame
        x0, y0, ww, hh, _ = stats[i]
        if x0 > 0 and y0 > 0 and x0 + ww < w_ and y0 + hh < h_:
            mask[labels == i] = True
    return mask


def photo_mask(name: str, rgb: np.ndarray) -> np.ndarray:
    rect = PHOTOS[name][2]
    if name == "chelsea":
        bg = np.zeros(rgb.shape[:2], bool)
        bg[120:, 400:] = True  # the wall right of the cheek
        return _grabcut(rgb, rect, bg=bg)
    if name == "coffee":
        saucer = np.zeros(rgb.shape[:2], np.uint8)
        cv2.ellipse(saucer, (278, 232), (202, 157), 0, 0, 360, 1, -1)
        shadow = (saucer == 0) & (np.mgrid[: rgb.shape[0], : rgb.shape[1]][0] > 200)
        return _grabcut(rgb, rect) & ~shadow
    if name == "rocket":
        nose = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(nose, [np.array(ROCKET_NOSE, np.int32)], 1)
        return _grabcut(rgb, rect, fg=[ROCKET_NOSE]) | nose.astype(bool)
    raise ValueError(f"no mask recipe for {name!r}")


def _fit(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = mask.shape
    scale = min(1.0, LONG_SIDE / max(h, w))
    if scale < 1.0:
        size = (round(w * scale), round(h * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
    return rgb, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, default=None, help="write mask overlays here to look at")
    args = parser.parse_args()
    photos = {name: getattr(skimage.data, name)() for name in PHOTOS}
    masks = {name: photo_mask(name, rgb) for name, rgb in photos.items()}
    counts: dict[str, int] = {}
    classes = {}
    for name, crop, mirror in SAMPLES:
        wnid, label, _ = PHOTOS[name]
        classes[wnid] = label
        rgb, mask = photos[name], masks[name]
        if crop is not None:
            x0, y0, x1, y1 = crop
            rgb, mask = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        if mirror:
            rgb, mask = rgb[:, ::-1], mask[:, ::-1]
        rgb, mask = _fit(np.ascontiguousarray(rgb), np.ascontiguousarray(mask))
        counts[wnid] = counts.get(wnid, 0) + 1
        stem = f"{wnid}_{counts[wnid]}"
        for sub in ("image", "masks"):
            (OUT / sub / wnid).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(OUT / "image" / wnid / f"{stem}.JPEG"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        cv2.imwrite(str(OUT / "masks" / wnid / f"{stem}.png"), mask.astype(np.uint8) * 255)
        if args.check is not None:
            args.check.mkdir(parents=True, exist_ok=True)
            shown = rgb.astype(np.float32)
            shown[~mask] = shown[~mask] * 0.35 + np.array([0, 0, 160])
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            shown = cv2.cvtColor(shown.astype(np.uint8), cv2.COLOR_RGB2BGR)
            cv2.drawContours(shown, contours, -1, (0, 255, 255), 1)
            cv2.imwrite(str(args.check / f"{stem}.png"), shown)
        print(f"{stem}: {rgb.shape[1]}x{rgb.shape[0]}, object {mask.mean():.1%}")
    (OUT / "classes.json").write_text(json.dumps(classes, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
