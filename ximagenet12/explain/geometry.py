"""Bring masks into the model's input space, and model inputs back to viewable pixels.

Attribution maps live on the model input (after the pipeline's resize, crop and
normalisation). Rather than re-implement each image processor's geometry, the mask is
sent through the *same* ``pipeline.preprocess`` as a black-and-white RGB image, and read
back with the processor's own affine value map: the processed values of an all-black and
an all-white image (resizing and cropping keep a constant image constant) give, per
channel, ``pixel = 255 * (p - p_black) / (p_white - p_black)``. A processed mask pixel is
object when that fraction is above one half. The same map turns a processed image back
into uint8 RGB for the overlays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["InputSpace", "input_space"]

_PROBE = 64
_OBJECT_THRESHOLD = 0.5


@dataclass(frozen=True)
class InputSpace:
    """A pipeline's ``preprocess`` plus its per-channel value map (black and white levels)."""

    preprocess: Any
    black: np.ndarray  # (3,) processed value of pixel 0
    white: np.ndarray  # (3,) processed value of pixel 255

    def mask(self, mask: np.ndarray) -> np.ndarray:
        """``H x W`` bool at source size -> bool at the model's input size (same crop)."""
        image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert("RGB")
        processed = self.preprocess(image)["pixel_values"][0].float().numpy()
        return self._fraction(processed).mean(axis=0) > _OBJECT_THRESHOLD

    def to_uint8(self, pixel_values: np.ndarray) -> np.ndarray:
        """``3 x H x W`` processed values -> ``H x W x 3`` uint8 RGB."""
        return np.clip(np.rint(self._fraction(pixel_values) * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)

    def baseline(self) -> np.ndarray:
        """The black image's processed value per channel (the IG baseline), shape (1, 3, 1, 1)."""
        return self.black.reshape(1, 3, 1, 1).astype(np.float32)

    def _fraction(self, values: np.ndarray) -> np.ndarray:
        return (values - self.black[:, None, None]) / (self.white - self.black)[:, None, None]


def input_space(preprocess: Any) -> InputSpace:
    """Probe ``preprocess`` (a pipeline's) with constant images; ``ValueError`` if it is not affine per channel."""

    def level(value: int) -> np.ndarray:
        image = Image.fromarray(np.full((_PROBE, _PROBE, 3), value, dtype=np.uint8))
        out = preprocess(image)
        if not hasattr(out, "keys") or "pixel_values" not in out:
            raise TypeError("the model's preprocess must return a dict with 'pixel_values' (an image classification pipeline)")
        values = out["pixel_values"][0].float().numpy()
        if values.ndim != 3 or values.shape[0] != 3:
            raise ValueError(f"expected pixel_values of shape 1 x 3 x H x W, got {tuple(out['pixel_values'].shape)}")
        return values.reshape(3, -1).mean(axis=1)

    black, white = level(0), level(255)
    if np.any(np.abs(white - black) < 1e-6):
        raise ValueError("the model's preprocessing maps black and white to the same value; cannot place masks")
    return InputSpace(preprocess=preprocess, black=black, white=white)
