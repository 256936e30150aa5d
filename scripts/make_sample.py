"""Regenerate the embedded sample in ``builder/sample/`` from scikit-image's photographs.

    python scripts/make_sample.py [--check DIR]   # --check: also write mask overlays to DIR

Each photo's object mask comes from OpenCV GrabCut seeded with a rectangle chosen by
hand plus hand-drawn fixes (the rocket's nose cone, the saucer's shadow), then the
largest component with its holes filled. Every sample is a photo (or a mirrored crop of
it) downscaled to at most :data:`LONG_SIDE` px, written in the reference release layout
``image/<wnid>/<wnid>_<n>.JPEG`` + ``masks/<wnid>/<wnid>_<n>.png`` (0/255). The masks
were checked by eye on the overlays that ``--check`` writes.

GrabCut's result depends on the OpenCV build: rerunning this script with another OpenCV
gives masks that differ at the edges (seen here: up to 16 % of the shuttle's pixels). The
committed masks are the ones checked by eye; look at ``--check`` overlays before
committing regenerated ones.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "builder" / "sample"
LONG_SIDE = 480
JPEG_QUALITY = 92
# Photos from outside scikit-image and matplotlib: scikit-learn's wheel ships china.jpg
# (CC BY 2.0; found through the installed package, `pip install scikit-learn`), and Debian's
# `darknet` package ships eagle/horses/giraffe.jpg in its data folder (`apt-get install darknet`,
# or `apt-get download darknet && dpkg -x` and point DARKNET_DATA at the unpacked folder).
DARKNET_PHOTOS = ("eagle", "horses", "giraffe")
DARKNET_DATA = Path(os.environ.get("DARKNET_DATA", "/usr/share/darknet/data"))  # Debian's install location


def _sklearn_images() -> Path:
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).parent / "images"

# Where each photograph comes from: a loader name -> (how it is read, see ``load_photo``).
# object key -> (photo, wnid, class name, GrabCut rectangle x,y,w,h in the photo, background boxes x0,y0,x1,y1)
OBJECTS = {
    "chelsea": ("chelsea", "n02123045", "tabby cat", (0, 0, 400, 300), ((400, 120, 451, 300),)),
    "coffee": ("coffee", "n07920052", "espresso", (70, 10, 420, 390), ()),
    "rocket": ("rocket", "n03773504", "missile", (295, 120, 50, 295), ()),
    "shuttle": ("astronaut", "n04266014", "space shuttle", (348, 0, 130, 272), ((330, 0, 352, 300), (330, 262, 512, 300))),
    "uniform": ("grace_hopper", "n03763968", "military uniform", (15, 18, 497, 582), ((0, 0, 140, 300), (385, 0, 512, 320))),
    "clock": ("clock", "n04548280", "wall clock", (128, 80, 160, 135), ()),
    "palace": ("china", "n03877845", "palace", (55, 25, 320, 385), ((0, 0, 60, 427), (370, 0, 640, 427))),
    "eagle": ("eagle", "n01614925", "bald eagle", (125, 80, 485, 375), ()),
    "horse_grey": ("horses", "n02389026", "sorrel", (440, 205, 160, 145), ()),
    "zebra": ("giraffe", "n02391049", "zebra", (245, 195, 190, 235), ((292, 195, 312, 440),)),
}
# Sure-foreground polygons where GrabCut alone loses part of the object (the zebra's rump behind
# the giraffe's leg).
FOREGROUND = {"zebra": [[(258, 306), (290, 306), (290, 368), (258, 368)], [(330, 300), (390, 300), (390, 360), (330, 360)]]}
CLOCK_CENTRE, CLOCK_AXES = (210, 150), (62, 55)
ROCKET_NOSE = [(321, 126), (326, 129), (330, 137), (332, 148), (333, 156), (309, 156), (310, 148), (312, 137), (316, 129)]
# samples: (object, crop x0, y0, x1, y1 or None for the whole frame, mirror)
SAMPLES = (
    ("chelsea", None, False),
    ("chelsea", (150, 0, 451, 300), True),
    ("coffee", None, False),
    ("coffee", (40, 0, 520, 400), True),
    ("rocket", None, False),
    ("rocket", (170, 60, 470, 427), True),
    ("shuttle", (300, 0, 512, 310), False),
    ("shuttle", (320, 0, 500, 290), True),
    ("uniform", None, False),
    ("uniform", (0, 60, 512, 600), True),
    ("clock", None, False),
    ("clock", (60, 30, 360, 270), True),
    ("palace", None, False),
    ("palace", (0, 0, 440, 427), True),
    ("eagle", None, False),
    ("eagle", (60, 40, 680, 470), True),
    ("horse_grey", (380, 150, 700, 420), False),
    ("horse_grey", (400, 160, 660, 400), True),
    ("zebra", (150, 120, 500, 500), False),
    ("zebra", (200, 170, 470, 460), True),
)


def load_photo(name: str) -> np.ndarray:
    """The photograph as HxWx3 uint8 RGB, read from the package that ships it."""
    if name in DARKNET_PHOTOS:
        path = DARKNET_DATA / f"{name}.jpg"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: install Debian's darknet package or set DARKNET_DATA")
        rgb = np.asarray(Image.open(path).convert("RGB"))
    elif name == "grace_hopper":
        import matplotlib  # public-domain US Navy portrait in matplotlib's sample data

        rgb = np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))
    elif name == "china":
        rgb = np.asarray(Image.open(_sklearn_images() / "china.jpg").convert("RGB"))
    else:  # bundled in scikit-image's wheel (no download)
        rgb = getattr(skimage.data, name)()
    return np.ascontiguousarray(np.stack([rgb] * 3, axis=-1) if rgb.ndim == 2 else rgb)


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


def object_mask(key: str, rgb: np.ndarray) -> np.ndarray:
    """The object's mask in its whole photo: GrabCut from the table's rectangle, plus the
    hand fixes a photo needs (checked by eye on the ``--check`` overlays)."""
    _, _, _, rect, bg_boxes = OBJECTS[key]
    bg = np.zeros(rgb.shape[:2], bool)
    for x0, y0, x1, y1 in bg_boxes:
        bg[y0:y1, x0:x1] = True
    if key == "coffee":
        saucer = np.zeros(rgb.shape[:2], np.uint8)
        cv2.ellipse(saucer, (278, 232), (202, 157), 0, 0, 360, 1, -1)
        shadow = (saucer == 0) & (np.mgrid[: rgb.shape[0], : rgb.shape[1]][0] > 200)
        return _grabcut(rgb, rect) & ~shadow
    if key == "rocket":
        nose = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillPoly(nose, [np.array(ROCKET_NOSE, np.int32)], 1)
        return _grabcut(rgb, rect, fg=[ROCKET_NOSE]) | nose.astype(bool)
    if key == "clock":  # a motion-blurred round face on a plain wall: an ellipse fits it better than GrabCut
        face = np.zeros(rgb.shape[:2], np.uint8)
        cv2.ellipse(face, CLOCK_CENTRE, CLOCK_AXES, 0, 0, 360, 1, -1)
        return face.astype(bool)
    return _grabcut(rgb, rect, fg=FOREGROUND.get(key, ()), bg=bg if bg.any() else None)


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
    photos = {OBJECTS[key][0]: load_photo(OBJECTS[key][0]) for key, _, _ in SAMPLES}
    masks = {key: object_mask(key, photos[OBJECTS[key][0]]) for key in {key for key, _, _ in SAMPLES}}
    counts: dict[str, int] = {}
    classes = {}
    for key, crop, mirror in SAMPLES:
        photo, wnid, label, _, _ = OBJECTS[key]
        classes[wnid] = label
        rgb, mask = photos[photo], masks[key]
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
            _overlay(rgb, mask, args.check / f"{stem}.png")
        print(f"{stem}: {rgb.shape[1]}x{rgb.shape[0]}, object {mask.mean():.1%}")
    classes = dict(sorted(classes.items()))
    (OUT / "classes.json").write_text(json.dumps(classes, indent=2) + "\n", encoding="utf-8")


def _overlay(rgb: np.ndarray, mask: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = rgb.astype(np.float32)
    shown[~mask] = shown[~mask] * 0.35 + np.array([0, 0, 160])
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    shown = cv2.cvtColor(shown.astype(np.uint8), cv2.COLOR_RGB2BGR)
    cv2.drawContours(shown, contours, -1, (0, 255, 255), 1)
    cv2.imwrite(str(path), shown)


if __name__ == "__main__":
    main()
