"""Plain data types shared by the readers, the scenario engine and the builder.

The contract at the boundary (STYLE.md §4): an image is ``HxWx3 uint8`` RGB, a mask
is ``HxW bool`` with ``True`` on the object. Readers produce :class:`Sample` objects
that already satisfy it; everything downstream may rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Sample", "SourceItem", "Skipped", "SampleError", "ScenarioOutput"]


class SampleError(ValueError):
    """A source sample that cannot be used, with the sample's id in the message."""

    def __init__(self, source_id: str, message: str):
        self.source_id = source_id
        self.reason = message
        super().__init__(f"{message} (source {source_id})")


@dataclass(frozen=True)
class Sample:
    """One decoded source sample: RGB image, boolean object mask, class key, stable id."""

    source_id: str
    class_key: str
    image: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW bool, True = object
    #: who made the mask when it is not the source's own: ``grabcut``, ``rembg:<model>``,
    #: ``transformers:<id>`` (see :mod:`ximagenet12.sources.automask`); rows record it
    mask_source: str | None = None


@dataclass(frozen=True)
class SourceItem:
    """A sample that has been found but not decoded yet.

    ``load`` is a picklable callable (a ``functools.partial`` of a module-level
    function) returning a :class:`Sample` or raising :class:`SampleError`, so that
    decoding happens once, in whichever worker process builds the sample.
    """

    source_id: str
    class_key: str
    load: Callable[[], Sample]


@dataclass(frozen=True)
class Skipped:
    """A sample that was not built, and why. Written to ``skipped.jsonl``."""

    source_id: str
    reason: str
    scenario: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source_id": self.source_id, "scenario": self.scenario, "reason": self.reason}


@dataclass(frozen=True)
class ScenarioOutput:
    """What a scenario function returns: the new image, its mask and the drawn values."""

    image: np.ndarray  # HxWx3 (RGB) or HxWx4 (RGBA) uint8
    mask: np.ndarray  # HxW bool
    drawn: dict[str, Any] = field(default_factory=dict)
