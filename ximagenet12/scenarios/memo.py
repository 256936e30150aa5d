"""Explicit caches for the scenarios: a per-sample memo and a bounded run-wide array cache.

Building one sample runs ~18 scenarios on the same image, and several compute the same
intermediate (the 15x15 Gaussian blur serves ``blur_background``, ``blur_object`` and
both ``brightness_*``; one RGB->HSV conversion serves ``image_r/g/b`` and
``image_rainbow``; the object on black serves ``only_fg`` and both RGBA scenarios).
A :class:`SampleMemo` is bound to ONE image and handed to the pure functions of
:mod:`ximagenet12.scenarios.functional` the way a generator is: explicitly, by the caller
(:mod:`ximagenet12.scenarios.engine`), never as module state. A function given no memo, or a memo
of another image, computes everything itself, so results never depend on whether (or in
which order) a memo was used; the tests compare both ways byte for byte.

An :class:`ArrayCache` lives in the run context for a whole build (per worker process):
background photos resized to a frame size (``random_background``) and donors' hole-filled
backgrounds (``mixed_*``). It is a least-recently-used map bounded in bytes.

Every cached array is made read-only, so a function that tried to modify a shared
intermediate in place would fail loudly instead of corrupting the next scenario.
Hand-written rather than ``functools.lru_cache`` because the bound is in bytes (entries
range from a few KB to several MB) and keys hold array identities.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

import numpy as np

__all__ = ["ArrayCache", "SampleMemo", "memoised", "DEFAULT_CACHE_BYTES"]

#: Bytes an :class:`ArrayCache` holds by default (per worker process): ~230 frames of 500x375 RGB.
DEFAULT_CACHE_BYTES = 128 * 2**20


def _frozen(value: Any) -> Any:
    """``value`` with every array in it made read-only (in place: the array is ours)."""
    for array in value if isinstance(value, tuple) else (value,):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return value


def _nbytes(value: Any) -> int:
    return sum(a.nbytes for a in (value if isinstance(value, tuple) else (value,)) if isinstance(a, np.ndarray))


class SampleMemo:
    """Intermediates of one image, shared by the scenario calls on it (see the module doc)."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        if key not in self._values:
            self._values[key] = _frozen(compute())
        return self._values[key]


def memoised(memo: SampleMemo | None, image: np.ndarray, key: Hashable, compute: Callable[[], Any]) -> Any:
    """``compute()``, or the value ``memo`` already holds for ``key`` when it is ``image``'s memo.

    The returned value may be shared: treat it as read-only.
    """
    if memo is None or memo.image is not image:
        return compute()
    return memo.get(key, compute)


class ArrayCache:
    """A least-recently-used map of arrays (or tuples of arrays), bounded in total bytes.

    A value larger than the whole bound is computed and returned but not kept.
    Picklable: a copy starts empty (each worker fills its own).
    """

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative integer, got {max_bytes!r}")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], Any], *, anchor: Any = None) -> Any:
        """The cached value for ``key``, else ``compute()`` (kept, evicting the oldest entries).

        ``anchor``: an object (e.g. the photo a value was resized from) whose identity is
        part of the key; the entry keeps it alive, so its ``id`` cannot be reused by
        another object while the entry exists.
        """
        full_key = (key, id(anchor))
        if full_key in self._entries:
            self.hits += 1
            self._entries.move_to_end(full_key)
            return self._entries[full_key][1]
        self.misses += 1
        value = _frozen(compute())
        size = _nbytes(value)
        if size <= self.max_bytes:
            while self._entries and self.bytes + size > self.max_bytes:
                _, (_, old) = self._entries.popitem(last=False)
                self.bytes -= _nbytes(old)
            self._entries[full_key] = (anchor, value)
            self.bytes += size
        return value

    def __getstate__(self) -> dict[str, Any]:
        return {"max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_bytes"])
