"""Check the boundary contract once, where data enters (STYLE.md §4).

An image is ``HxWx3 uint8`` RGB and a mask is ``HxW bool`` of the same height and
width, ``True`` on the object. Wrong *types* (not an array, wrong dtype) raise
:class:`TypeError`; wrong *values* (shape, size, content) raise
:class:`~ximagenet12.core.types.SampleError`, a :class:`ValueError` whose message names
the sample. Sizes in messages are written height×width, as numpy shapes are.

Mask content policy (:func:`check_mask_content`): by default a mask must contain at
least one object pixel *and* at least one background pixel. An empty mask leaves
every scenario without an object to keep, and an all-object mask leaves the
background scenarios nothing to change, so either would yield images whose label is
meaningless for the benchmark. Sources that knowingly hold such samples (e.g.
negative examples) pass ``allow_empty=True`` / ``allow_full=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ximagenet12.core.types import Sample, SampleError

__all__ = ["check_image", "check_mask", "check_mask_content", "check_sample"]


def _hw(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape)


def _type_error(what: str, expected: str, value: Any, source_id: str) -> TypeError:
    got = f"{type(value).__name__}" if not isinstance(value, np.ndarray) else f"array of dtype {value.dtype}"
    return TypeError(f"{what} must be {expected}, got {got} (source {source_id})")


def check_image(image: Any, *, source_id: str) -> None:
    """Raise unless ``image`` is a non-empty ``HxWx3 uint8`` array."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise _type_error("image", "an HxWx3 uint8 numpy array", image, source_id)
    if image.ndim != 3 or image.shape[2] != 3:
        raise SampleError(source_id, f"image of shape {image.shape}; expected HxWx3 (RGB)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise SampleError(source_id, f"image is empty ({_hw(image.shape[:2])})")


def check_mask(mask: Any, *, image_shape: tuple[int, ...], source_id: str) -> None:
    """Raise unless ``mask`` is an ``HxW bool`` array matching ``image_shape[:2]``."""
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        raise _type_error("mask", "an HxW bool numpy array (standardise it first)", mask, source_id)
    if mask.ndim != 2:
        raise SampleError(source_id, f"mask of shape {mask.shape}; expected HxW")
    if mask.shape != tuple(image_shape[:2]):
        raise SampleError(source_id, f"mask {_hw(mask.shape)} does not match image {_hw(image_shape[:2])}")


def check_mask_content(
    mask: np.ndarray, *, source_id: str, allow_empty: bool = False, allow_full: bool = False
) -> None:
    """Raise for an empty or all-object mask unless allowed (see the module docstring)."""
    count = int(np.count_nonzero(mask))
    if count == 0 and not allow_empty:
        raise SampleError(source_id, "mask has no object pixels")
    if count == mask.size and count > 0 and not allow_full:
        raise SampleError(source_id, "mask covers the whole image; no background")


def check_sample(sample: Sample, *, allow_empty: bool = False, allow_full: bool = False) -> Sample:
    """Check a whole :class:`Sample`; returns it unchanged so calls can be chained."""
    if not isinstance(sample, Sample):
        raise TypeError(f"expected a Sample, got {type(sample).__name__}")
    check_image(sample.image, source_id=sample.source_id)
    check_mask(sample.mask, image_shape=sample.image.shape, source_id=sample.source_id)
    check_mask_content(sample.mask, source_id=sample.source_id, allow_empty=allow_empty, allow_full=allow_full)
    return sample
