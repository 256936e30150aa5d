"""What runs in a build worker: decode one sample once, apply every variant, encode the rows.

Kept free of ``datasets`` and ``pyarrow`` so that spawned worker processes start fast.
:func:`process_sample` is shared by the ``ximagenet12 build`` pipeline and the
``XImageNet12`` builder of ``ximagenet12.py``, so both give the same bytes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np

from ximagenet12.builder.encode import encode_image, encode_mask
from ximagenet12.scenarios.engine import RunContext, SampleMemo, ScenarioResult, apply_variant
from ximagenet12.scenarios.registry import Variant
from ximagenet12.core.types import Sample, SampleError, Skipped, SourceItem

__all__ = [
    "DONOR_CACHE_SIZE",
    "PARENT_CHECK_SECONDS",
    "DonorSampler",
    "Row",
    "SampleRows",
    "exit_with_parent",
    "process_sample",
    "result_row",
]

_POLICY_NAMES = {"same": "same", "random": "rand", "next": "next"}
#: Decoded donor samples kept per worker for the ``mixed_*`` scenarios. Few: the engine
#: keeps what is reused, each donor's hole-filled background per frame size, in the run
#: context's cache; a decoded donor is needed only between its draw and that background.
DONOR_CACHE_SIZE = 8
#: One output row, in :data:`ximagenet12.builder.schema.COLUMNS` order:
#: (image bytes, mask bytes, label, class_key, source_id, scenario, level, seed, provenance).
Row = tuple[bytes, bytes, int, str, str, str, "int | None", int, str]


# --------------------------------------------------------------------------- donors


class DonorSampler:
    """The ``mixed_*`` scenarios' donor pool (implements :class:`ximagenet12.scenarios.engine.DonorPool`).

    ``same``: another sample of the sample's class; ``random``: a sample of a class drawn
    uniformly among the other classes; ``next``: a sample of the next class in sorted
    key order (wrapping). Draws use the sample's generator; a donor is never the sample
    itself. Decoded donors are kept in a small per-process cache.
    """

    def __init__(self, items: Iterable[SourceItem], *, cache_size: int = DONOR_CACHE_SIZE):
        by_class: dict[str, list[SourceItem]] = defaultdict(list)
        for item in items:
            by_class[item.class_key].append(item)
        self.by_class = {k: sorted(v, key=lambda i: i.source_id) for k, v in sorted(by_class.items())}
        self.classes = list(self.by_class)
        self._load = lru_cache(maxsize=cache_size)(self._decode)

    def _decode(self, source_id: str) -> Sample:
        return self._items_by_id()[source_id].load()

    @lru_cache(maxsize=1)
    def _items_by_id(self) -> dict[str, SourceItem]:
        return {i.source_id: i for items in self.by_class.values() for i in items}

    def candidates(self, sample: Sample, policy: str, rng: np.random.Generator) -> list[SourceItem]:
        key = sample.class_key
        if policy == "same":
            pool = [i for i in self.by_class.get(key, []) if i.source_id != sample.source_id]
            if not pool:
                raise SampleError(
                    sample.source_id, f"mixed_same needs another sample of class {key}; the source has only this one"
                )
            return pool
        others = [c for c in self.classes if c != key]
        if not others:
            raise SampleError(
                sample.source_id, f"mixed_{'rand' if policy == 'random' else policy} needs a class other than {key}; "
                "the source has only one class"
            )
        if policy == "random":
            cls = others[int(rng.integers(len(others)))]
        elif policy == "next":
            order = self.classes if key in self.classes else sorted([*self.classes, key])
            cls = next(c for c in order[order.index(key) + 1 :] + order if c != key)
        else:
            raise ValueError(f"donor policy must be 'same', 'random' or 'next', got {policy!r}")
        return self.by_class[cls]

    def draw(self, sample: Sample, policy: str, rng: np.random.Generator) -> Sample:
        """A donor that loads, drawn uniformly among the candidates that load (see :meth:`draw_item`)."""
        return self.load(self.draw_item(sample, policy, rng).source_id)

    def load(self, source_id: str) -> Sample:
        """The decoded sample ``source_id`` (kept in a small per-process cache)."""
        return self._load(source_id)

    def draw_item(self, sample: Sample, policy: str, rng: np.random.Generator) -> SourceItem:
        """The item of a donor that loads, drawn uniformly among the candidates that load.

        A drawn candidate that fails to load is taken out and the draw repeated (for
        ``random``, a class none of whose samples loads is taken out and the class drawn
        again), so a good sample never loses its row because a donor was bad. The draws
        consume the generator the same way whether or not this process already knows a
        candidate is bad, so the rows do not depend on the worker count. A candidate
        that loaded once in this process is not decoded again to be drawn.
        """
        if policy == "random":
            classes = [c for c in self.classes if c != sample.class_key]
            if not classes:
                self.candidates(sample, policy, rng)  # raises the "only one class" error
            while classes:
                cls = classes[int(rng.integers(len(classes)))]
                donor = self._first_loading(list(self.by_class[cls]), rng)
                if donor is not None:
                    return donor
                classes.remove(cls)
        else:
            donor = self._first_loading(list(self.candidates(sample, policy, rng)), rng)
            if donor is not None:
                return donor
        raise SampleError(sample.source_id, f"no donor for mixed_{_POLICY_NAMES.get(policy, policy)} loads "
                          "(every candidate sample was skipped)")

    def _first_loading(self, pool: list[SourceItem], rng: np.random.Generator) -> SourceItem | None:
        """Draw from ``pool`` until a sample loads (``None`` when none does)."""
        while pool:
            item = pool.pop(int(rng.integers(len(pool))))
            if item.source_id in self._bad:
                continue
            if item.source_id in self._good:
                return item
            try:
                self._load(item.source_id)
            except SampleError:
                self._bad.add(item.source_id)
                continue
            self._good.add(item.source_id)
            return item
        return None

    @property
    def _bad(self) -> set[str]:
        """Source ids that failed to load in this process."""
        if not hasattr(self, "_failed"):
            self._failed: set[str] = set()
        return self._failed

    @property
    def _good(self) -> set[str]:
        """Source ids that loaded in this process (loading is deterministic: they load again)."""
        if not hasattr(self, "_loaded"):
            self._loaded: set[str] = set()
        return self._loaded

    def __getstate__(self):
        return {"by_class": self.by_class, "classes": self.classes}

    def __setstate__(self, state):
        self.by_class, self.classes = state["by_class"], state["classes"]
        self._load = lru_cache(maxsize=DONOR_CACHE_SIZE)(self._decode)


# --------------------------------------------------------------------------- one sample


@dataclass
class SampleRows:
    """What building one sample gives: rows per config and what was skipped."""

    index: int
    source_id: str
    rows: dict[str, Row] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    loaded: bool = True


def result_row(
    variant: Variant, sample: Sample, result: ScenarioResult, label: int, *, mask_png: bytes | None = None
) -> Row:
    """Encode one scenario result as a parquet row (see :data:`Row`).

    ``mask_png``: the encoded source mask, reused when the output mask equals it (most
    scenarios keep the mask, so it is encoded once per sample instead of once per output).
    """
    out = result.output
    same_mask = mask_png is not None and (out.mask is sample.mask or np.array_equal(out.mask, sample.mask))
    provenance = result.provenance
    if sample.mask_source is not None:  # an automatic mask: every row says which maker made it
        provenance = {**provenance, "mask_source": sample.mask_source}
    return (
        encode_image(out.image, variant.scenario.mode),
        mask_png if same_mask else encode_mask(out.mask),
        int(label),
        sample.class_key,
        sample.source_id,
        variant.name,
        variant.effective_level,
        int(result.seed),
        json.dumps(provenance, sort_keys=True, separators=(",", ":")),
    )


def process_sample(
    item: SourceItem,
    variants: Sequence[Variant],
    context: RunContext,
    class_index: dict[str, int],
    *,
    index: int = 0,
) -> SampleRows:
    """Decode ``item`` once and apply every (non-generative) variant to it.

    A :class:`SampleError` while loading skips the sample (``scenario=None``); one from a
    scenario skips that (sample, scenario) only. Other exceptions are bugs and propagate.
    """
    out = SampleRows(index, item.source_id)
    try:
        sample = item.load()
    except SampleError as exc:
        out.loaded = False
        out.skipped.append(Skipped(item.source_id, exc.reason))
        return out
    label = class_index[sample.class_key]
    mask_png = encode_mask(sample.mask)
    memo = SampleMemo(sample.image)  # intermediates shared by this sample's variants
    for variant in variants:
        try:
            result = apply_variant(variant, sample, context, memo=memo)
        except SampleError as exc:
            out.skipped.append(Skipped(item.source_id, exc.reason, scenario=variant.config_name))
            continue
        out.rows[variant.config_name] = result_row(variant, sample, result, label, mask_png=mask_png)
    return out


#: How often a worker checks that the build process that started it is still alive.
PARENT_CHECK_SECONDS = 0.5


def exit_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` is gone.

    Linux: the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``).
    Everywhere: a daemon thread checks every :data:`PARENT_CHECK_SECONDS` that the
    parent is still this process's parent (an orphan is re-parented) and exits if not.
    """
    import os
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the thread below still does it
            pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)  # the build is gone: nothing will read this worker's results

    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
