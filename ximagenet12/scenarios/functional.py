"""The scenarios as pure functions of arrays.

Every function takes an RGB image (``HxWx3 uint8``) and a boolean object mask
(``HxW``), keyword-only parameters and, where it draws anything, a
``numpy.random.Generator``; it returns a :class:`~ximagenet12.core.types.ScenarioOutput`
holding the new image, its mask and the values it drew. No I/O, no global state; the
inputs are never modified. Validation happens once, where data enters
(:mod:`ximagenet12.core.validation`); these functions trust the contract.

Some take an optional, explicit cache, passed by the caller like the generator
(:mod:`ximagenet12.scenarios.memo`): ``memo``, the intermediates of this one image shared between
scenarios (the Gaussian blur, the HSV channels, the object on black), and ``cache``, a
bounded run-wide cache of background photos resized to a frame size. Results are the
same bytes with or without them.

Parameters and severity ladders live in :mod:`ximagenet12.scenarios.registry`.
"""

from __future__ import annotations

from typing import Literal, Sequence

import cv2
import numpy as np

from ximagenet12.scenarios.memo import ArrayCache, SampleMemo, memoised
from ximagenet12.core.types import ScenarioOutput

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
    "random_background_additive",
    "only_fg",
    "no_fg",
    "mixed_background",
    "donor_background",
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
    cache: ArrayCache | None = None,
) -> tuple[np.ndarray, tuple[int, int], float]:
    """Resize ``photo`` to cover ``height x width`` keeping its aspect ratio, then crop.

    ``offset`` is the (y, x) of the crop in the resized photo; ``None`` centres it.
    Returns the crop (a read-only view when ``cache`` is given), the offset used and the
    scale factor. ``cache`` keeps the resized photo per (photo object, size): a build
    resizes each background photo once per frame size instead of once per sample (the
    photo must not be modified in place while it is cached; the library's are read-only).
    """
    ph, pw = photo.shape[:2]
    scale = max(height / ph, width / pw)
    rh, rw = max(height, int(np.ceil(ph * scale))), max(width, int(np.ceil(pw * scale)))

    def resize() -> np.ndarray:
        return cv2.resize(photo, (rw, rh), interpolation=interpolation)

    resized = resize() if cache is None else cache.get(("cover", rh, rw, interpolation), resize, anchor=photo)
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


def _blurred(image: np.ndarray, ksize: int, sigma: float, memo: SampleMemo | None) -> np.ndarray:
    """The image's Gaussian blur, shared through ``memo`` by the blur and brightness scenarios."""
    return memoised(memo, image, ("blur", ksize, sigma), lambda: _gaussian_blur(image, ksize, sigma))


def blur_background(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, memo: SampleMemo | None = None
) -> ScenarioOutput:
    """Gaussian blur outside the mask; object pixels stay bit-identical."""
    return ScenarioOutput(_select(mask, image, _blurred(image, ksize, sigma, memo)), mask.copy())


def blur_object(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, memo: SampleMemo | None = None
) -> ScenarioOutput:
    """Gaussian blur inside the mask; background pixels stay bit-identical."""
    return ScenarioOutput(_select(mask, _blurred(image, ksize, sigma, memo), image), mask.copy())


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
    memo: SampleMemo | None = None,
) -> ScenarioOutput:
    """Background hue set to one value drawn from ``hue_ranges`` (OpenCV H, 0..179).

    Saturation and value are kept. ``amount < 1`` blends the recoloured background with
    the original one (the lower severity levels).
    """
    hue = _draw_from_ranges(rng, hue_ranges)
    h, s, v = _hsv_channels(image, memo)
    recoloured = cv2.cvtColor(cv2.merge((np.full_like(h, hue), s, v)), cv2.COLOR_HSV2RGB)
    out = _select(mask, image, _blend(image, recoloured, amount))
    return ScenarioOutput(out, mask.copy(), {"hue": hue})


def _hsv_channels(image: np.ndarray, memo: SampleMemo | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The image's OpenCV 8-bit H, S and V planes, shared through ``memo`` by the hue scenarios."""
    return memoised(memo, image, "hsv", lambda: tuple(cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))))


def image_rainbow(
    image: np.ndarray, mask: np.ndarray, *, max_shift: int, rng: np.random.Generator, memo: SampleMemo | None = None
) -> ScenarioOutput:
    """Background hue rotated by a shift drawn from ``0..max_shift``, wrapping at 180.

    The sum is taken in int16, so hues near the top wrap round instead of overflowing
    uint8 (the reference code's defect); it is tabulated once for the 256 uint8 values
    and applied as a lookup table.
    """
    shift = int(rng.integers(0, max_shift + 1))
    h, s, v = _hsv_channels(image, memo)
    table = ((np.arange(256, dtype=np.int16) + shift) % HUE_PERIOD).astype(np.uint8)
    rotated = cv2.cvtColor(cv2.merge((cv2.LUT(h, table), s, v)), cv2.COLOR_HSV2RGB)
    return ScenarioOutput(_select(mask, image, rotated), mask.copy(), {"hue_shift": shift})


def _unsharp(image: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float,
             memo: SampleMemo | None = None) -> np.ndarray:
    """OpenCV unsharp mask: ``addWeighted(image, alpha, blur, beta, gamma)``, saturating
    (shared through ``memo`` by both brightness scenarios)."""
    return memoised(memo, image, ("unsharp", ksize, sigma, alpha, beta, gamma), lambda: cv2.addWeighted(
        image, alpha, _blurred(image, ksize, sigma, memo), beta, gamma))


def brightness_background(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float,
    memo: SampleMemo | None = None,
) -> ScenarioOutput:
    """Unsharp-mask brightening and sharpening outside the mask."""
    enhanced = _unsharp(image, ksize=ksize, sigma=sigma, alpha=alpha, beta=beta, gamma=gamma, memo=memo)
    return ScenarioOutput(_select(mask, image, enhanced), mask.copy())


def brightness_object(
    image: np.ndarray, mask: np.ndarray, *, ksize: int, sigma: float, alpha: float, beta: float, gamma: float,
    memo: SampleMemo | None = None,
) -> ScenarioOutput:
    """Unsharp-mask brightening and sharpening inside the mask."""
    enhanced = _unsharp(image, ksize=ksize, sigma=sigma, alpha=alpha, beta=beta, gamma=gamma, memo=memo)
    return ScenarioOutput(_select(mask, enhanced, image), mask.copy())


def _object_on_black(image: np.ndarray, mask: np.ndarray, memo: SampleMemo | None) -> np.ndarray:
    """The object's pixels on black, shared through ``memo`` by ``only_fg`` and the RGBA scenarios."""
    return memoised(memo, image, "object_on_black", lambda: _select(mask, image, np.zeros_like(image)))


def segmented_image(image: np.ndarray, mask: np.ndarray, *, memo: SampleMemo | None = None) -> ScenarioOutput:
    """RGBA: object ``(r, g, b, 255)``, background ``(0, 0, 0, 255)``."""
    out = cv2.cvtColor(_object_on_black(image, mask, memo), cv2.COLOR_RGB2RGBA)  # alpha 255
    return ScenarioOutput(out, mask.copy())


def transparent_image(image: np.ndarray, mask: np.ndarray, *, memo: SampleMemo | None = None) -> ScenarioOutput:
    """RGBA: object ``(r, g, b, 255)``, background ``(0, 0, 0, 0)`` — zero RGB, not the photo."""
    out = cv2.cvtColor(_object_on_black(image, mask, memo), cv2.COLOR_RGB2RGBA)
    out[..., 3] = mask.view(np.uint8) * np.uint8(255)
    return ScenarioOutput(out, mask.copy())


def random_background(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    background: np.ndarray,
    weight: float = 1.0,
    position: Literal["original", "random"] = "original",
    rng: np.random.Generator,
    cache: ArrayCache | None = None,
) -> ScenarioOutput:
    """The object composited onto a real photograph.

    The photo is resized to cover the frame with its aspect ratio kept and cropped at a
    drawn offset. The object goes at its original place or, with ``position="random"``,
    at a drawn shift that keeps its bounding box in frame. ``weight`` is the object's
    opacity as in ``cv2.addWeighted`` (1.0 = opaque, object pixels exact). The output
    mask follows the object. ``cache`` keeps the photo resized per frame size.
    """
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"weight must be in (0, 1], got {weight}")
    if position not in ("original", "random"):
        raise ValueError(f"position must be 'original' or 'random', got {position!r}")
    h, w = mask.shape
    canvas, offset, scale = _drawn_cover(background, h, w, rng=rng, cache=cache)

    dy = dx = 0
    if position == "random" and mask.any():
        ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        dy = int(rng.integers(-ys[0], h - ys[-1]))
        dx = int(rng.integers(-xs[0], w - xs[-1]))
    # The shift keeps the object's bounding box in frame, so moving the whole image and
    # mask by (dy, dx) and compositing with the moved mask puts every object pixel where
    # a per-pixel copy would (the same values, ~10x cheaper than fancy indexing).
    moved, new_mask = _translate(image, dy, dx), _translate(mask, dy, dx)
    if weight < 1.0:  # the same float32 sum per pixel as on the object's pixels alone
        blend = weight * moved.astype(np.float32) + (1.0 - weight) * canvas.astype(np.float32)
        moved = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    out = _select(new_mask, moved, canvas)
    drawn = {"crop": list(offset), "scale": round(scale, 6), "shift": [dy, dx]}
    return ScenarioOutput(out, new_mask, drawn)


def _drawn_cover(background: np.ndarray, h: int, w: int, *, rng: np.random.Generator,
                 cache: ArrayCache | None) -> tuple[np.ndarray, tuple[int, int], float]:
    """The photo covering an ``h x w`` frame, cropped at an offset drawn from ``rng``
    (the one background drawing of ``random_background`` and ``random_background_additive``)."""
    bh, bw = background.shape[:2]
    scale = max(h / bh, w / bw)
    rh, rw = max(h, int(np.ceil(bh * scale))), max(w, int(np.ceil(bw * scale)))
    offset = (int(rng.integers(0, rh - h + 1)), int(rng.integers(0, rw - w + 1)))
    return cover_resize(background, h, w, offset=offset, cache=cache)


def random_background_additive(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    background: np.ndarray,
    rng: np.random.Generator,
    cache: ArrayCache | None = None,
    memo: SampleMemo | None = None,
) -> ScenarioOutput:
    """The official release's random background: photo **plus** object-on-black, saturating.

    The reference ``generated_background.py`` builds its Rand_bg images with
    ``cv2.addWeighted(background, 1, fg_on_black_resized, 1, 0)``: both weights 1, so each
    output pixel is ``min(255, photo + object)`` inside the mask and the photo outside it
    (the object-on-black is 0 there). The object is therefore *not* kept: it is brightened
    by the photo under it and often saturates to white. The photo is drawn exactly as in
    :func:`random_background` (cover the frame keeping its aspect ratio, crop at a drawn
    offset; the same generator draws give the same crop), and the object-on-black is at
    the frame's size, so both terms have the frame's size before they are added. The
    output mask is the input mask.
    """
    h, w = mask.shape
    canvas, offset, scale = _drawn_cover(background, h, w, rng=rng, cache=cache)
    out = cv2.add(np.ascontiguousarray(canvas), _object_on_black(image, mask, memo))  # uint8: saturates at 255
    drawn = {"crop": list(offset), "scale": round(scale, 6)}
    return ScenarioOutput(out, mask.copy(), drawn)


def _translate(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``array`` moved by ``(dy, dx)`` pixels, zeros where nothing moved in (a new array)."""
    if dy == 0 and dx == 0:
        return array.copy()
    h, w = array.shape[:2]
    out = np.zeros_like(array)
    out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = \
        array[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    return out


# -- ImageNet-9 "backgrounds challenge" variants -----------------------------------------


def only_fg(image: np.ndarray, mask: np.ndarray, *, memo: SampleMemo | None = None) -> ScenarioOutput:
    """The object on black."""
    return ScenarioOutput(_object_on_black(image, mask, memo).copy(), mask.copy())


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


def donor_background(
    donor_image: np.ndarray, donor_mask: np.ndarray, height: int, width: int, *,
    fill: Literal["inpaint", "black"] = "inpaint",
) -> np.ndarray:
    """A donor's object-free background at ``height x width``, for :func:`mixed_background`.

    The donor is resized to cover the frame (aspect kept, centred crop); its own object
    is removed and the hole filled (``inpaint``: OpenCV Telea on a small copy, as
    ImageNet-9's tiled backgrounds hide the hole; ``black``: left black).
    """
    if fill not in ("inpaint", "black"):
        raise ValueError(f"fill must be 'inpaint' or 'black', got {fill!r}")
    donor, _, _ = cover_resize(donor_image, height, width)
    hole, _, _ = cover_resize(donor_mask.astype(np.uint8), height, width, interpolation=cv2.INTER_NEAREST)
    return _fill_hole(donor, hole.astype(bool), fill)


def mixed_background(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    donor_image: np.ndarray | None = None,
    donor_mask: np.ndarray | None = None,
    fill: Literal["inpaint", "black"] = "inpaint",
    background: np.ndarray | None = None,
) -> ScenarioOutput:
    """The object pasted, in place, onto the object-free background of a donor image.

    The donor's background is :func:`donor_background` of ``donor_image`` and
    ``donor_mask``, or ``background`` when the caller already made it for this frame
    size and ``fill`` (the engine keeps them per donor in a run-wide cache). Used by
    ``mixed_same``, ``mixed_rand`` and ``mixed_next``, which differ in the donor's class.
    """
    h, w = mask.shape
    if background is None:
        if donor_image is None or donor_mask is None:
            raise ValueError("mixed_background needs donor_image and donor_mask, or their background")
        background = donor_background(donor_image, donor_mask, h, w, fill=fill)
    elif fill not in ("inpaint", "black"):
        raise ValueError(f"fill must be 'inpaint' or 'black', got {fill!r}")
    elif background.shape != image.shape:
        raise ValueError(f"background {background.shape} does not match image {image.shape}")
    return ScenarioOutput(_select(mask, image, background), mask.copy())
