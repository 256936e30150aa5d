"""Hard samples for ``ai_background``: several objects, tiny objects, cut-off objects.

The paper left out of its AI-generated scenario the samples whose masks make
inpainting unreliable. Here they are found by three plain mask statistics, each with a
threshold that can be changed (or switched off with ``None``):

``objects``
    Connected components of the mask (8-connectivity, ``cv2.connectedComponentsWithStats``)
    whose area is at least ``min_component_fraction`` of the total object area, so that
    specks of mask noise do not count. More than ``max_objects`` → "several objects".
``object_fraction``
    Object pixels / image pixels. Below ``min_object_fraction`` → "tiny object".
``border_fraction``
    The share of the object's outline that runs along the image frame. The outline is
    every object pixel with a 4-neighbour that is background or outside the frame; the
    part on the frame is the object pixels in the first/last row/column. Above
    ``max_border_fraction`` → "cut-off object" (a half disc cut by the frame scores
    about 0.39, a disc inside the frame 0).

A mask without object pixels is always hard ("empty mask"). A mask without background
is not a hard sample but an error, raised by the generator: there is nothing to repaint.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["HardnessThresholds", "MaskStats", "mask_statistics", "hard_sample_reason"]

#: Components smaller than this share of the object area are mask noise, not objects.
DEFAULT_MIN_COMPONENT_FRACTION = 0.05
DEFAULT_MAX_OBJECTS = 1
#: Objects covering less than 1% of the image are "tiny".
DEFAULT_MIN_OBJECT_FRACTION = 0.01
#: Objects with more than a quarter of their outline on the frame are "cut off".
DEFAULT_MAX_BORDER_FRACTION = 0.25


@dataclass(frozen=True)
class HardnessThresholds:
    """When a sample counts as hard; ``None`` switches a check off."""

    max_objects: int | None = DEFAULT_MAX_OBJECTS
    min_component_fraction: float = DEFAULT_MIN_COMPONENT_FRACTION
    min_object_fraction: float | None = DEFAULT_MIN_OBJECT_FRACTION
    max_border_fraction: float | None = DEFAULT_MAX_BORDER_FRACTION

    def __post_init__(self) -> None:
        if self.max_objects is not None and (not isinstance(self.max_objects, int) or self.max_objects < 1):
            raise ValueError(f"max_objects must be a positive integer or None, got {self.max_objects!r}")
        for name in ("min_component_fraction", "min_object_fraction", "max_border_fraction"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1 (or None), got {value!r}")


@dataclass(frozen=True)
class MaskStats:
    """The statistics :func:`hard_sample_reason` judges a mask by."""

    objects: int
    object_fraction: float
    border_fraction: float


def mask_statistics(mask: np.ndarray, *, min_component_fraction: float = DEFAULT_MIN_COMPONENT_FRACTION) -> MaskStats:
    """Count objects, the object's share of the image and of its outline on the frame."""
    if not isinstance(mask, np.ndarray) or mask.dtype != bool or mask.ndim != 2:
        raise TypeError(f"mask must be an HxW bool numpy array, got {getattr(mask, 'dtype', type(mask).__name__)}")
    area = int(mask.sum())
    if area == 0:
        return MaskStats(objects=0, object_fraction=0.0, border_fraction=0.0)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    component_areas = stats[1:count, cv2.CC_STAT_AREA]
    objects = int((component_areas >= min_component_fraction * area).sum())
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    outline = int((mask & ~interior).sum())
    on_frame = np.zeros_like(mask)
    on_frame[[0, -1], :] = True
    on_frame[:, [0, -1]] = True
    border = int((mask & on_frame).sum())
    return MaskStats(objects=objects, object_fraction=area / mask.size, border_fraction=border / outline)


def hard_sample_reason(mask: np.ndarray, thresholds: HardnessThresholds | None = None) -> str | None:
    """Why ``mask`` is a hard sample for inpainting, or ``None`` if it is not."""
    t = thresholds or HardnessThresholds()
    stats = mask_statistics(mask, min_component_fraction=t.min_component_fraction)
    if stats.objects == 0:
        return "hard sample: empty mask (no object pixels)"
    if t.max_objects is not None and stats.objects > t.max_objects:
        return (
            f"hard sample: several objects ({stats.objects} components of at least "
            f"{t.min_component_fraction:.0%} of the object area; at most {t.max_objects} allowed)"
        )
    if t.min_object_fraction is not None and stats.object_fraction < t.min_object_fraction:
        return (
            f"hard sample: tiny object ({stats.object_fraction:.2%} of the image; "
            f"minimum {t.min_object_fraction:.2%})"
        )
    if t.max_border_fraction is not None and stats.border_fraction > t.max_border_fraction:
        return (
            f"hard sample: cut-off object ({stats.border_fraction:.0%} of its outline lies on the "
            f"image frame; maximum {t.max_border_fraction:.0%})"
        )
    return None
