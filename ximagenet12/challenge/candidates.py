"""The challenge's inputs: the samples under test and the backgrounds tried under them.

A :class:`ChallengeSample` is a row of the data's ``original`` config, kept encoded and
decoded on demand (a reference-size source does not fit in memory decoded). A
:class:`Candidate` is one background that can go under any object:

``sample_background``
    another sample's photo with its own object removed and the hole filled (Telea
    inpainting, exactly as ``mixed_*`` does it; ImageNet-9's object-free backgrounds);
``library``
    a photo of the background library (``random_background``'s photos), centred crop;
``ai_background``
    another sample's ``ai_background`` row (a repainted background), its object removed
    and filled the same way, when the data has that config.

:func:`candidate_order` gives each sample its own fixed, seeded order over the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Literal, Sequence

import numpy as np

from ximagenet12.scenarios import functional as F
from ximagenet12.core.rng import sample_rng
from ximagenet12.core.types import ScenarioOutput

__all__ = [
    "CandidateKind",
    "CANDIDATE_KINDS",
    "ChallengeSample",
    "ImageStore",
    "Candidate",
    "candidate_order",
    "compose",
    "DECODE_CACHE",
    "SCENARIO",
]

CandidateKind = Literal["sample_background", "library", "ai_background"]
CANDIDATE_KINDS: tuple[str, ...] = ("sample_background", "library", "ai_background")
#: The config (and ``scenario`` column) of the fooling composites.
SCENARIO = "worst_background"
#: Decoded images kept per process (samples and donors are decoded again past this).
DECODE_CACHE = 256


class ImageStore:
    """Encoded (image, mask) pairs by position, decoded on demand through a small LRU cache.

    ``image`` and ``mask`` are undecoded ``datasets.Image`` values (``{"bytes", "path"}``);
    RGBA images are flattened on black as the evaluator does.
    """

    def __init__(self) -> None:
        self._items: list[tuple[str, Any, Any]] = []
        self.get = lru_cache(maxsize=DECODE_CACHE)(self._decode)

    def add(self, source_id: str, image: Any, mask: Any) -> int:
        self._items.append((source_id, image, mask))
        return len(self._items) - 1

    def _decode(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        from ximagenet12.evaluation.data import decode_mask_array, decode_rgb

        source_id, image, mask = self._items[index]
        rgb = np.asarray(decode_rgb(image, source_id=source_id))
        m = decode_mask_array(mask, source_id=source_id)
        if m.shape != rgb.shape[:2]:
            raise ValueError(
                f"mask {m.shape[0]}x{m.shape[1]} does not match image {rgb.shape[0]}x{rgb.shape[1]} "
                f"(source {source_id})"
            )
        return rgb, m


@dataclass(frozen=True)
class ChallengeSample:
    """One sample under test: its pixels' position in an :class:`ImageStore`, label, class key, id."""

    source_id: str
    class_key: str
    label: int
    index: int


@dataclass(frozen=True)
class Candidate:
    """A background: where it comes from and how to get its pixels (mask ``None``: no object)."""

    kind: CandidateKind
    id: str
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]] = field(repr=False, compare=False)
    source_id: str | None = None  # the sample it was taken from, never put under its own object
    donor_class: str | None = None

    def provenance(self) -> dict[str, Any]:
        out: dict[str, Any] = {"background_kind": self.kind, "background_id": self.id}
        if self.donor_class is not None:
            out["donor_class"] = self.donor_class
        return out


def candidate_order(source_id: str, pool: Sequence[Candidate], *, limit: int, seed: int) -> list[int]:
    """The first ``limit`` pool positions, in this sample's seeded order, skipping its own background.

    The order is a permutation drawn from a generator derived from (seed, source id,
    ``worst_background``) alone, so it depends neither on the other samples' results nor
    on the batch size.
    """
    rng = sample_rng(seed, source_id, SCENARIO, None)
    order = rng.permutation(len(pool))
    return [int(i) for i in order if pool[i].source_id != source_id][:limit]


def compose(image: np.ndarray, mask: np.ndarray, background: np.ndarray, background_mask: np.ndarray | None) -> ScenarioOutput:
    """The object, in place, on ``background`` (resized to cover the frame, centred).

    A background with an object of its own has it removed and the hole inpainted first:
    the ``mixed_*`` scenarios' function. Object pixels stay bit-identical.
    """
    if background_mask is not None:
        return F.mixed_background(image, mask, donor_image=background, donor_mask=background_mask, fill="inpaint")
    h, w = mask.shape
    canvas, _, _ = F.cover_resize(background, h, w)
    return ScenarioOutput(F._select(mask, image, canvas), mask.copy())
