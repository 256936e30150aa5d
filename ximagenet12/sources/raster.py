"""Checks and rasterisation shared by the annotation readers (LabelMe, COCO).

Annotation files are untrusted input: every field read from one goes through a check
here that turns a wrong type or an absurd value into a :class:`SampleError` naming the
sample, and declared sizes are checked against the decompression-bomb limit *before*
any array is allocated. Coordinates far outside the image are clipped exactly
(polygons are clipped to a box around the image, never cast with overflow).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ximagenet12.core.types import SampleError

__all__ = [
    "check_declared_size",
    "clip_polygon",
    "fill_polygon",
    "positive_int",
    "stable_name",
]

def stable_name(text: str) -> str:
    """``text`` made safe to write as UTF-8: undecodable bytes of a file name (which
    Python keeps as surrogates) are shown as ``\\xNN`` escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def positive_int(value: Any, *, what: str, source_id: str) -> int:
    """``value`` as a positive int; text, booleans, fractions, lists... are a :class:`SampleError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SampleError(source_id, f"{what} must be a positive integer, got {type(value).__name__} {_short(value)}")
    if isinstance(value, float) and not (np.isfinite(value) and value.is_integer()):
        raise SampleError(source_id, f"{what} must be a positive integer, got {value!r}")
    if value <= 0:
        raise SampleError(source_id, f"{what} must be a positive integer, got {int(value)}")
    return int(value)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_declared_size(height: int, width: int, *, what: str, source_id: str, max_pixels: int | None) -> None:
    """Refuse a declared ``height x width`` over ``max_pixels`` before anything is allocated."""
    if max_pixels is not None and height * width > max_pixels:
        raise SampleError(
            source_id,
            f"{what} declares {height}×{width} = {height * width:,} pixels, over the limit of {max_pixels:,} "
            "(possible decompression bomb; raise max_pixels to accept it)",
        )


def clip_polygon(points: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The polygon ``points`` (Nx2, x then y) clipped to the box ``[x0, x1] x [y0, y1]``.

    Sutherland-Hodgman, one box edge at a time. Hand-written (20 lines) rather than
    adding a geometry dependency: OpenCV only intersects *convex* polygons.
    """
    poly = [tuple(p) for p in np.asarray(points, dtype=np.float64)]
    for axis, bound, keep_below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if not poly:
            break

        def inside(p: tuple[float, float]) -> bool:
            return p[axis] <= bound if keep_below else p[axis] >= bound

        out: list[tuple[float, float]] = []
        for i, cur in enumerate(poly):
            prev = poly[i - 1]
            if inside(cur) != inside(prev):
                t = (bound - prev[axis]) / (cur[axis] - prev[axis])
                cross = [prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])]
                cross[axis] = bound
                out.append((cross[0], cross[1]))
            if inside(cur):
                out.append(cur)
        poly = out
    return np.asarray(poly, dtype=np.float64).reshape(-1, 2)


def fill_polygon(canvas: np.ndarray, points: np.ndarray) -> None:
    """Fill the polygon ``points`` (Nx2 float, x then y) with 1 on ``canvas`` (``cv2.fillPoly``).

    Vertices further than the image size outside the image are first clipped to a box
    one image-size wide around it, so huge coordinates never overflow int32.
    """
    h, w = canvas.shape[:2]
    margin = max(h, w)
    x, y = points[:, 0], points[:, 1]
    if (x < -margin).any() or (x > w + margin).any() or (y < -margin).any() or (y > h + margin).any():
        points = clip_polygon(points, -margin, -margin, w + margin, h + margin)
        if len(points) < 3:
            return
    cv2.fillPoly(canvas, [np.rint(points).astype(np.int32)], 1)
