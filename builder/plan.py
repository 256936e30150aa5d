"""Stage 1 of a build, ``plan``: open the source, check the options, fingerprint, cut into blocks.

Nothing is written here: every bad option or source fails before the output folder is
touched. The :class:`BuildPlan` is what the ``process`` stage (per block, in workers)
and the ``finalize`` stage (once) read.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any, Sequence

from ximagenet12 import __version__
from ximagenet12.evaluation.background_check import (
    BackgroundCheckUnavailable,
    BackgroundFinding,
    check_background_library,
)
from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.builder.layout import STATE_FORMAT
from ximagenet12.builder.worker import DonorSampler
from ximagenet12.scenarios.engine import RunContext
from ximagenet12.scenarios.registry import Variant, resolve
from ximagenet12.core.types import SampleError, Skipped, SourceItem

__all__ = ["AUTO_BLOCKS", "BLOCK_SAMPLES", "Block", "BuildPlan", "auto_block_samples", "plan_build",
           "resolve_block_samples"]

#: Most samples per automatic block (one part file per config per block; at ~60 KB per
#: output row a config's part of a full block is ~60 MB).
BLOCK_SAMPLES = 1000
#: Automatic blocks: a source is cut into about this many blocks (up to BLOCK_SAMPLES
#: samples each), whatever the number of workers, so that the part files, hence the
#: output files, are the same bytes for any --num-proc or engine; 32 keeps 2-16 workers
#: busy to the end (the last block is ~3 % of the work) ...
AUTO_BLOCKS = 32
#: ... but never below this many samples (a block costs ~10 ms: a parquet file per config).
MIN_AUTO_BLOCK = 8
#: generation options that do not change a generated image, so a resumed build may change them
_GENERATION_RUN_ONLY = ("batch_size", "device")


@dataclass(frozen=True)
class Block:
    """Samples ``plan.items[start:stop]``: the unit of work, of part files and of resume."""

    index: int
    start: int
    stop: int


@dataclass(frozen=True)
class BuildPlan:
    """Everything a build needs to know before it writes anything."""

    source: Any
    items: tuple[SourceItem, ...]
    variants: tuple[Variant, ...]
    seed: int
    split: str
    block_samples: int | None  # None until resolve_block_samples (block_samples="auto")
    backgrounds: BackgroundLibrary | None
    generation: Any  # GenerationOptions when a generative variant is built, else None
    fingerprint: dict[str, Any]
    #: library photos a built-in classifier sees as a class of this build (see check_background_library)
    background_findings: tuple[BackgroundFinding, ...] = ()
    #: why the library could not be checked (no classifiers installed), else None
    background_unchecked: str | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.source.classes)

    @property
    def class_names(self) -> list[str]:
        return list(self.source.class_names)

    @property
    def class_index(self) -> dict[str, int]:
        return {key: i for i, key in enumerate(self.source.classes)}

    @property
    def plain(self) -> list[Variant]:
        """Variants a CPU worker applies per sample."""
        return [v for v in self.variants if v.scenario.family != "generative"]

    @property
    def generative(self) -> list[Variant]:
        """Variants run batched by a generation model (``ai_background``)."""
        return [v for v in self.variants if v.scenario.family == "generative"]

    @property
    def configs(self) -> list[str]:
        return [v.config_name for v in self.variants]

    @cached_property
    def context(self) -> RunContext:
        donors = DonorSampler(self.items) if any(v.scenario.needs == "donor" for v in self.plain) else None
        return RunContext(seed=self.seed, backgrounds=self.backgrounds, donors=donors)

    @property
    def blocks(self) -> list[Block]:
        if self.block_samples is None:
            raise ValueError("the block size is not settled yet: call resolve_block_samples first")
        n, size = len(self.items), self.block_samples
        return [Block(b, b * size, min(n, (b + 1) * size)) for b in range((n + size - 1) // size)]


def auto_block_samples(samples: int) -> int:
    """Block size for ``block_samples=None``: about :data:`AUTO_BLOCKS` blocks, each of
    :data:`MIN_AUTO_BLOCK` to :data:`BLOCK_SAMPLES` samples. It depends on the number of
    samples only, never on the workers, so every engine writes the same files."""
    per_block = -(-samples // AUTO_BLOCKS)
    return min(BLOCK_SAMPLES, max(MIN_AUTO_BLOCK, per_block))


def resolve_block_samples(plan: BuildPlan, *, remembered: int | None) -> BuildPlan:
    """The plan with its block size settled: as asked, else the one an interrupted build
    used (``remembered``: a resumed build keeps its blocks), else automatic."""
    if plan.block_samples is not None:
        return plan
    size = remembered if remembered is not None else auto_block_samples(len(plan.items))
    return replace(plan, block_samples=size)


def plan_build(
    source: Any,
    *,
    scenarios: str | Sequence[str] | Sequence[Variant],
    seed: int,
    split: str,
    block_samples: int | None,
    max_samples: int | None,
    backgrounds: BackgroundLibrary | str | os.PathLike[str] | None,
    generation: Any,
    strict: bool,
    auto_mask: Any = None,
) -> BuildPlan:
    """Check the options, open and select the source, and fingerprint the settings.

    ``auto_mask``: a mask maker (or its name) that makes the masks of a source of photos
    (:mod:`ximagenet12.sources.automask`); it is checked (installed, model present) first.
    """
    if block_samples is not None and (not isinstance(block_samples, int) or block_samples < 1):
        raise ValueError(f"block_samples must be a positive integer or None (automatic), got {block_samples!r}")
    if not isinstance(split, str) or not split.replace("_", "").isalnum():
        raise ValueError(f"split must be a name like 'train', got {split!r}")
    variants = _variants(scenarios)
    maker = None
    if auto_mask is not None:
        from ximagenet12.sources.automask import mask_maker

        maker = mask_maker(auto_mask)
        maker.check()  # a missing package or model fails here, in one line, before the source is listed
    src = _open(source, maker)
    items = _select(list(src.items()), max_samples)
    if not items:
        raise ValueError(f"source {getattr(src, 'name', src)!r} has no usable sample; skipped: "
                         + "; ".join(f"{s.source_id}: {s.reason}" for s in list(src.skipped)[:5]))
    if strict and src.skipped:
        first = src.skipped[0]
        raise SampleError(first.source_id, first.reason)
    if isinstance(backgrounds, (str, os.PathLike)):
        backgrounds = BackgroundLibrary.from_folder(backgrounds)
    uses_library = any(v.scenario.needs == "background" for v in variants if v.scenario.family != "generative")
    if backgrounds is None and uses_library:
        backgrounds = BackgroundLibrary.default()
    # a photo that shows a class of this build makes random_background a two-object test: warn, record
    findings: tuple[BackgroundFinding, ...] = ()
    unchecked = None
    if uses_library:
        try:
            findings = tuple(check_background_library(backgrounds, classes=src.classes))
        except BackgroundCheckUnavailable as exc:  # a core install without the classifiers: say so, record it
            unchecked = str(exc)
    fingerprint = _fingerprint(src, items, variants, seed, split, block_samples, backgrounds)
    if getattr(src, "mask_maker", None) is not None:  # the masks are made: their maker decides the rows
        fingerprint["auto_mask"] = src.mask_maker.fingerprint()
    if any(v.scenario.family == "generative" for v in variants):
        from ximagenet12.scenarios.generation import GenerationOptions

        generation = generation or GenerationOptions()
        generation.validate()  # a bad model, device or prompt file fails before anything is written
        fingerprint["generation"] = _generation_fingerprint(generation)
    return BuildPlan(source=src, items=tuple(items), variants=tuple(variants), seed=int(seed), split=split,
                     block_samples=block_samples, backgrounds=backgrounds, generation=generation,
                     fingerprint=fingerprint, background_findings=findings, background_unchecked=unchecked)


def source_skipped(plan: BuildPlan) -> list[Skipped]:
    """Samples the source reader already refused (listed before any block's skips)."""
    return list(plan.source.skipped)


def _variants(scenarios: str | Sequence[str] | Sequence[Variant]) -> list[Variant]:
    if isinstance(scenarios, str) or (scenarios and not isinstance(scenarios[0], Variant)):
        variants = resolve(scenarios)  # type: ignore[arg-type]
    else:
        variants = list(scenarios)  # type: ignore[arg-type]
    if not variants:
        raise ValueError("no scenario to build")
    configs = [v.config_name for v in variants]
    if len(set(configs)) != len(configs):
        raise ValueError(f"scenarios name a config twice: {configs}")
    return variants


def _select(items: list[SourceItem], max_samples: int | None) -> list[SourceItem]:
    if max_samples is None or max_samples >= len(items):
        return items
    if max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer, got {max_samples}")
    by_class: dict[str, list[SourceItem]] = defaultdict(list)
    for item in items:
        by_class[item.class_key].append(item)
    chosen: set[str] = set()
    queues = [iter(v) for _, v in sorted(by_class.items())]
    while len(chosen) < max_samples:  # round-robin over classes, so every class shows up
        for queue in queues:
            item = next(queue, None)
            if item is not None and len(chosen) < max_samples:
                chosen.add(item.source_id)
    return [i for i in items if i.source_id in chosen]


def _open(source: Any, maker: Any = None) -> Any:
    if source is None:
        from ximagenet12.builder.sample import auto_masked_sample_source, sample_source

        return sample_source() if maker is None else auto_masked_sample_source(maker)
    if isinstance(source, (str, os.PathLike)):
        from ximagenet12.sources import open_source

        return open_source(source, **({"auto_mask": maker} if maker is not None else {}))
    if maker is not None:
        raise TypeError("auto_mask needs the source as a path (photos in class folders, a COCO file, a LabelMe "
                        f"folder or a saved datasets folder), not a {type(source).__name__}")
    if not (hasattr(source, "items") and hasattr(source, "classes")):
        raise TypeError(f"source must be a Source, a path or None (the embedded sample), got {type(source).__name__}")
    return source


def _config_key(variant: Variant) -> str:
    """The config name, plus any parameter a run-wide option (``--corruption-fill``) changed."""
    from ximagenet12.scenarios.registry import SCENARIOS

    registered = SCENARIOS.get(variant.name)
    base = registered.parameters(variant.level) if registered is not None else variant.params
    changed = sorted((k, v) for k, v in variant.params.items() if base.get(k) != v)
    return variant.config_name + (f" {changed!r}" if changed else "")


def _fingerprint(source: Any, items: list[SourceItem], variants: list[Variant], seed: int, split: str,
                 block_samples: int | None, backgrounds: BackgroundLibrary | None) -> dict[str, Any]:
    ids = hashlib.blake2b(digest_size=16)
    for item in items:
        ids.update(f"{item.class_key}\x1f{item.source_id}\x1e".encode())
    return {
        "format": STATE_FORMAT,
        "version": __version__,
        "source": getattr(source, "name", str(source)),
        "samples": len(items),
        "items": ids.hexdigest(),
        "classes": list(source.classes),
        "configs": [_config_key(v) for v in variants],
        "seed": int(seed),
        "split": split,
        "block_samples": "auto" if block_samples is None else int(block_samples),
        "backgrounds": list(backgrounds.ids) if backgrounds is not None else None,
    }


def _generation_fingerprint(generation: Any) -> str:
    """What of the generation options must stay equal for ``--resume`` (not batch size or device)."""
    values = {f.name: getattr(generation, f.name) for f in fields(generation)}
    return repr({k: v for k, v in values.items() if k not in _GENERATION_RUN_ONLY})
