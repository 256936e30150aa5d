"""Encode scenario outputs straight to bytes, once, with OpenCV.

RGB outputs become JPEG at :data:`~ximagenet12.core.constants.JPEG_QUALITY` with 4:4:4
chroma (no subsampling, so thin coloured edges at the mask boundary survive); RGBA
outputs and masks become PNG at :data:`~ximagenet12.core.constants.PNG_COMPRESSION`
(lossless). A mask is a single-channel PNG holding 0 (background) and 255 (object).

The bytes go into parquet as ``{"bytes": ..., "path": None}`` structs, so ``datasets``
never re-encodes a PIL image.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from ximagenet12.core.constants import JPEG_QUALITY, PNG_COMPRESSION

__all__ = ["encode_jpeg", "encode_png", "encode_mask", "encode_image", "JPEG_PARAMS", "PNG_PARAMS"]

_SAMPLING = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR", None)
_SAMPLING_444 = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR_444", 0x111111)
#: cv2.imencode parameters for RGB outputs.
JPEG_PARAMS: tuple[int, ...] = (cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY) + (
    (_SAMPLING, _SAMPLING_444) if _SAMPLING is not None else ()
)
#: cv2.imencode parameters for RGBA outputs and masks.
PNG_PARAMS: tuple[int, ...] = (cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION)


def _encode(ext: str, array: np.ndarray, params: tuple[int, ...], what: str) -> bytes:
    ok, buf = cv2.imencode(ext, array, list(params))
    if not ok:  # pragma: no cover - OpenCV only fails on unsupported shapes, checked below
        raise ValueError(f"OpenCV could not encode {what} of shape {array.shape} as {ext}")
    return buf.tobytes()


def _check(array: np.ndarray, channels: tuple[int, ...], what: str) -> None:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(array).__name__}")
    if array.dtype != np.uint8:
        raise TypeError(f"{what} must be uint8, got {array.dtype}")
    got = array.shape[2] if array.ndim == 3 else (1 if array.ndim == 2 else None)
    if got not in channels:
        raise ValueError(f"{what} must be HxW or HxWxC with C in {channels}, got shape {array.shape}")


def encode_jpeg(rgb: np.ndarray) -> bytes:
    """An ``HxWx3 uint8`` RGB image as JPEG bytes (quality 95, 4:4:4)."""
    _check(rgb, (3,), "an RGB image")
    return _encode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), JPEG_PARAMS, "an RGB image")


def encode_png(array: np.ndarray) -> bytes:
    """An ``HxW`` grey, ``HxWx3`` RGB or ``HxWx4`` RGBA ``uint8`` image as PNG bytes."""
    _check(array, (1, 3, 4), "an image")
    if array.ndim == 3 and array.shape[2] == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA)
    return _encode(".png", array, PNG_PARAMS, "an image")


def encode_mask(mask: np.ndarray) -> bytes:
    """An ``HxW`` bool mask as a single-channel 0/255 PNG."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(f"a mask must be an HxW array, got {getattr(mask, 'shape', type(mask).__name__)}")
    binary = mask if mask.dtype == np.bool_ else mask.astype(bool)
    return _encode(".png", binary.view(np.uint8) * np.uint8(255), PNG_PARAMS, "a mask")


def encode_image(image: np.ndarray, mode: Literal["RGB", "RGBA"]) -> bytes:
    """A scenario output in its registry mode: JPEG for ``RGB``, PNG for ``RGBA``."""
    if mode == "RGB":
        return encode_jpeg(image)
    if mode == "RGBA":
        _check(image, (4,), "an RGBA image")
        return encode_png(image)
    raise ValueError(f"mode must be 'RGB' or 'RGBA', got {mode!r}")
