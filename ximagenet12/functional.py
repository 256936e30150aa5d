"""The scenarios as pure functions of arrays.

Every function takes an RGB image (``HxWx3 uint8``) and a boolean object mask
(``HxW``), keyword-only parameters and, where it draws anything, a
``numpy.random.Generator``; it returns a :class:`~ximagenet12.types.ScenarioOutput`
holding the new image, its mask and the values it drew. No I/O, no global state; the
inputs are never modified. Validation happens once, where data enters
(:mod:`ximagenet12.validation`); these functions trust the contract.

Parameters and severity ladders live in :mod:`ximagenet12.registry`.
"""

from __future__ import annotations

from typing import Literal, Sequence

import cv2
import numpy as np

from ximagenet12.types import ScenarioOutput

__all__ = [
    "original",
    "blur_background",
    "blur_object",
    "image_grey",
    "image_hue",
    "image_rainbow",
    "brightness_background",
    "brightness_object",
    "segmented_image",
    "transparent_image",
    "random_background",
    "only_fg",
    "no_fg",
    "mixed_background",
    "cover_resize",
]

HUE_PERIOD = 180  # OpenCV's 8-bit hue runs 0..179
INPAINT_WORK_SIDE = 128  # donor holes are inpainted on a copy this small, then upsampled
INPAINT_RADIUS = 3  # Telea's neighbourhood radius, in work-image pixels
#: Work images thinner than this are padded (edge pixels repeated) before inpainting:
#: cv2.inpaint reads memory outside a 1-row/1-column image, so its output on very thin
#: images changed from run to run (issue 17).
INPAINT_MIN_SIDE = 2 * INPAINT_RADIUS + 3


# -- helpers ---------------------------------------------------------------------------


def _select(mask: np.ndarray, inside: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """``inside`` where the mask is set, ``outside`` elsewhere (a new array)."""
    if inside.shape == outside.shape and inside.dtype == outside.dtype == np.uint8 and inside.shape[2:] in ((3,), (4,)):
        # the same values as np.where, ~20x faster (the builder calls this for most outputs)
        out = np.array(outside, order="C", copy=True)
        cv2.copyTo(np.ascontiguousarray(inside), np.ascontiguousarray(mask).view(np.uint8), out)
        return out
    return np.where(mask[..., None], inside, outside)


def _gaussian_blur(image: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    if sigma <= 0 or ksize <= 1:
        # cv2 derives sigma from ksize when sigma == 0; sigma -> 0 must mean "no blur".
        return image.copy()
    if ksize % 2 == 0:
        raise ValueError(f"ksize must be odd, got {ksize}")
    return cv2.GaussianBlur(image, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101)


def _blend(a: np.ndarray, b: np.ndarray, amount: float) -> np.ndarray:
    """``(1 - amount) * a + amount * b`` rounded to uint8; ``amount = 1`` returns ``b``."""
    if amount >= 1.0:
        return b
    if amount <= 0.0:
        return a
    return cv2.addWeighted(a, 1.0 - amount, b, amount, 0.0)


def _draw_from_ranges(rng: np.random.Generator, ranges: Sequence[tuple[int, int]]) -> int:
    """A uniform integer from the union of inclusive ranges."""
    values = np.concatenate([np.arange(lo, hi + 1) for lo, hi in ranges])
    return int(values[rng.integers(len(values))])


def cover_resize(
    photo: np.ndarray,
    height: int,
    width: int,
    *,
    offset: tuple[int, int] | None = None,
    interpolation: int = cv2.INTER_AREA,
) -> tuple[np.ndarray, tuple[int, int], float]:
    """Resize ``photo`` to cover ``height x width`` keeping its aspect ratio, then crop.

    ``offset`` is the (y, x) of the crop in the resized photo; ``None`` centres it.
    Returns the crop, the offset used and the scale factor.
    """
    ph, pw = photo.shape[:2]
    scale = max(height / ph, width / pw)
    rh, rw = max(height, int(np.ceil(ph * scale))), max(width, int(np.ceil(pw * scale)))
    resized = cv2.resize(photo, (rw, rh), interpolation=interpolation)
    if offset is None:
        offset = ((rh - height) // 2, (rw - width) // 2)
    y, x = offset
    if not (0 <= y <= rh - height and 0 <= x <= rw - width):
        raise ValueError(f"crop offset {offset} outside the resized photo {rh}x{rw}")
    return resized[y : y + height, x : x + width], (int(y), int(x)), float(scale)


# -- the paper's scenarios ---------------------------------------------------------------


def original(image: np.ndarray, mask: np.ndarray) -> ScenarioOutput:
    """The unchanged image (a copy)."""
    return ScenarioOutput(image.copy(), mask.copy())


def blur_background(image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float) -> ScenarioOutput:
    """Gaussian blur outside the mask; object pixels stay bit-identical."""
    blurred = _gaussian_blur(image, ksize, sigma)
    return ScenarioOutput(_select(mask, image, blurred), mask.copy())


def blur_object(image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float) -> ScenarioOutput:
    """Gaussian blur inside the mask; background pixels stay bit-identical."""
    blurred = _gaussian_blur(image, ksize, sigma)
    return ScenarioOutput(_select(mask, blurred, image), mask.copy())


def image_grey(image: np.ndarray, mask: np.ndarray, *, amount: float = 1.0) -> ScenarioOutput:
    """Background to greyscale (three equal channels at ``amount = 1``)."""
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return ScenarioOutput(_select(mask, image, _blend(image, grey, amount)), mask.copy())


def image_hue(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    hue_ranges: Sequence[tuple[int, int]],
    amount: float = 1.0,
    rng: np.random.Generator,
) -> ScenarioOutput:
    """Background hue set to one value drawn from ``hue_ranges`` (OpenCV H, 0..179).

    Saturation and value are kept. ``amount < 1`` blends the recoloured background with
    the original one (the lower severity levels).
    """
    hue = _draw_from_ranges(rng, hue_ranges)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = hue
    recoloured = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    out = _select(mask, image, _blend(image, recoloured, amount))
    return ScenarioOutput(out, mask.copy(), {"hue": hue})


def image_rainbow(
    image: np.ndarray, mask: np.ndarray, *, max_shift: int, rng: np.random.Generator
) -> ScenarioOutput:
    """Background hue rotated by a shift drawn from ``0..max_shift``, wrapping at 180.

    The sum is taken in int16, so hues near the top wrap round instead of overflowing
    uint8 (the reference code's defect).
    """
    shift = int(rng.integers(0, max_shift + 1))
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % HUE_PERIOD).astype(np.uint8)
    rotated = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return ScenarioOutput(_select(mask, image, rotated), mask.copy(), {"hue_shift": shift})


def _unsharp(image: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """OpenCV unsharp mask: ``addWeighted(image, alpha, blur, beta, gamma)``, saturating."""
    return cv2.addWeighted(image, alpha, _gaussian_blur(image, ksize, sigma), beta, gamma)


def brightness_background(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float
) -> ScenarioOutput:
    """Unsharp-mask brightening and sharpening outside the mask."""
    enhanced = _unsharp(image, ksize=ksize, sigma=sigma, alpha=alpha, beta=beta, gamma=gamma)
    return ScenarioOutput(_select(mask, image, enhanced), mask.copy())


def brightness_object(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float
) -> ScenarioOutput:
    """Unsharp-mask brightening and sharpening inside the mask."""
    enhanced = _unsharp(image, ksize=ksize, sigma=sigma, alpha=alpha, beta=beta, gamma=gamma)
    return ScenarioOutput(_select(mask, enhanced, image), mask.copy())


def segmented_image(image: np.ndarray, mask: np.ndarray) -> ScenarioOutput:
    """RGBA: object ``(r, g, b, 255)``, background ``(0, 0, 0, 255)``."""
    out = np.zeros(image.shape[:2] + (4,), np.uint8)
    out[..., :3] = _select(mask, image, np.zeros_like(image))
    out[..., 3] = 255
    return ScenarioOutput(out, mask.copy())


def transparent_image(image: np.ndarray, mask: np.ndarray) -> ScenarioOutput:
    """RGBA: object ``(r, g, b, 255)``, background ``(0, 0, 0, 0)`` — zero RGB, not the photo."""
    out = np.zeros(image.shape[:2] + (4,), np.uint8)
    out[..., :3] = _select(mask, image, np.zeros_like(image))
    out[..., 3] = np.where(mask, 255, 0)
    return ScenarioOutput(out, mask.copy())


def random_background(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    background: np.ndarray,
    weight: float = 1.0,
    position: Literal["original", "random"] = "original",
    rng: np.random.Generator,
) -> ScenarioOutput:
    """The object composited onto a real photograph.

    The photo is resized to cover the frame with its aspect ratio kept and cropped at a
    drawn offset. The object goes at its original place or, with ``position="random"``,
    at a drawn shift that keeps its bounding box in frame. ``weight`` is the object's
    opacity as in ``cv2.addWeighted`` (1.0 = opaque, object pixels exact). The output
    mask follows the object.
    """
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"weight must be in (0, 1], got {weight}")
    if position not in ("original", "random"):
        raise ValueError(f"position must be 'original' or 'random', got {position!r}")
    h, w = mask.shape
    bh, bw = background.shape[:2]
    scale = max(h / bh, w / bw)
    rh, rw = max(h, int(np.ceil(bh * scale))), max(w, int(np.ceil(bw * scale)))
    offset = (int(rng.integers(0, rh - h + 1)), int(rng.integers(0, rw - w + 1)))
    canvas, offset, scale = cover_resize(background, h, w, offset=offset)

    ys, xs = np.nonzero(mask)
    dy = dx = 0
    if position == "random" and len(ys):
        dy = int(rng.integers(-ys.min(), h - ys.max()))
        dx = int(rng.integers(-xs.min(), w - xs.max()))
    new_mask = np.zeros_like(mask)
    new_mask[ys + dy, xs + dx] = True

    out = canvas.copy()
    obj = image[ys, xs]
    if weight < 1.0:
        under = canvas[ys + dy, xs + dx].astype(np.float32)
        obj = np.clip(np.rint(weight * obj.astype(np.float32) + (1.0 - weight) * under), 0, 255).astype(np.uint8)
    out[ys + dy, xs + dx] = obj
    drawn = {"crop": list(offset), "scale": round(scale, 6), "shift": [dy, dx]}
    return ScenarioOutput(out, new_mask, drawn)


# -- ImageNet-9 "backgrounds challenge" variants -----------------------------------------


def only_fg(image: np.ndarray, mask: np.ndarray) -> ScenarioOutput:
    """The object on black."""
    return ScenarioOutput(_select(mask, image, np.zeros_like(image)), mask.copy())


def no_fg(image: np.ndarray, mask: np.ndarray) -> ScenarioOutput:
    """The object region blacked out; only the background remains."""
    return ScenarioOutput(_select(mask, np.zeros_like(image), image), mask.copy())


def _fill_hole(image: np.ndarray, hole: np.ndarray, fill: Literal["inpaint", "black"]) -> np.ndarray:
    if fill == "black" or not hole.any():
        return _select(hole, np.zeros_like(image), image)
    h, w = hole.shape
    factor = min(1.0, INPAINT_WORK_SIDE / max(h, w))
    small_size = (max(1, round(w * factor)), max(1, round(h * factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8), small_size, interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = _inpaint(small, small_hole)
    filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    return _select(hole, filled, image)


def _inpaint(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Telea inpainting, deterministic for any shape.

    A work image with a side under :data:`INPAINT_MIN_SIDE` is padded by repeating its
    edge pixels (and its hole) up to that size, inpainted, and cropped back; larger
    images go to ``cv2.inpaint`` unchanged, so their bytes are as before.
    """
    h, w = hole.shape
    pad_y, pad_x = max(0, INPAINT_MIN_SIDE - h), max(0, INPAINT_MIN_SIDE - w)
    if not (pad_y or pad_x):
        return cv2.inpaint(image, hole, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    top, left = pad_y // 2, pad_x // 2
    border = (top, pad_y - top, left, pad_x - left)
    big = cv2.copyMakeBorder(image, *border, cv2.BORDER_REPLICATE)
    big_hole = cv2.copyMakeBorder(hole, *border, cv2.BORDER_REPLICATE)
    filled = cv2.inpaint(big, big_hole, INPAINT_RADIUS, cv2.INPAINT_TELEA)
    return np.ascontiguousarray(filled[top : top + h, left : left + w])


def mixed_background(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    donor_image: np.ndarray,
    donor_mask: np.ndarray,
    fill: Literal["inpaint", "black"] = "inpaint",
) -> ScenarioOutput:
    """The object pasted, in place, onto the object-free background of a donor image.

    The donor is resized to cover the frame (aspect kept, centred crop); its own object
    is removed and the hole filled (``inpaint``: OpenCV Telea on a small copy, as
    ImageNet-9's tiled backgrounds hide the hole; ``black``: left black). Used by
    ``mixed_same``, ``mixed_rand`` and ``mixed_next``, which differ in the donor's class.
    """
    if fill not in ("inpaint", "black"):
        raise ValueError(f"fill must be 'inpaint' or 'black', got {fill!r}")
    h, w = mask.shape
    donor, _, _ = cover_resize(donor_image, h, w)
    hole, _, _ = cover_resize(donor_mask.astype(np.uint8), h, w, interpolation=cv2.INTER_NEAREST)
    background = _fill_hole(donor, hole.astype(bool), fill)
    return ScenarioOutput(_select(mask, image, background), mask.copy())
