"""XImageNet-12 as a ``datasets.GeneratorBasedBuilder``: scenario configs generated from a source.

Use it to generate a config straight from your own images and masks without writing a
dataset folder first::

    from ximagenet12.builder.loading_script import XImageNet12   # or: from ximagenet12 import XImageNet12

    builder = XImageNet12(config_name="blur_background", data_dir="/data/ximagenet12-release")
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")

``data_dir`` is any source that :func:`ximagenet12.sources.open_source` reads (the
release layout, images/ + masks/ folders, COCO, LabelMe, a saved ``datasets`` folder);
without it the package's embedded sample is used. Config names come from the scenario
registry (``original``, ``blur_background``, ``blur_background_level5``, ...); the
options ``seed`` and ``backgrounds`` (a folder of photos for ``random_background``) are
config keywords: ``XImageNet12(config_name=..., data_dir=..., seed=1)``.

Rows are made by :func:`ximagenet12.builder.worker.process_sample`, the same function the
``ximagenet12 build`` command runs, so the bytes are identical to the published parquet.
The source is cut into up to :data:`GEN_SHARDS` contiguous shards passed in ``gen_kwargs``,
so ``builder.download_and_prepare(num_proc=N)`` really runs N processes (``datasets`` runs
one job per group of shards and concatenates them in order: the rows do not change).

Note: ``datasets`` 4 and later no longer run loading scripts (``load_dataset("x.py")``
raises "Dataset scripts are no longer supported") and the Hub's dataset viewer never
runs them. Hub users load the published parquet configs instead::

    datasets.load_dataset("<owner>/ximagenet12", "blur_background")

This file is therefore never copied into a published dataset folder; instantiating the
class directly, as above, still works. In a source checkout it sits beside the
``ximagenet12/`` package folder, so it is imported as ``ximagenet12.builder.loading_script``
(a symlink in ``builder/``) rather than by its file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import datasets

from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.builder.worker import DonorSampler, process_sample
from ximagenet12.builder.schema import build_features
from ximagenet12.scenarios.engine import RunContext
from ximagenet12.scenarios.registry import SCENARIOS, Variant, all_variants

__all__ = ["GEN_SHARDS", "XImageNet12", "XImageNet12Config", "shard_ranges"]

#: At most this many ``gen_kwargs`` shards (``download_and_prepare(num_proc=N)`` uses min(N, shards)).
GEN_SHARDS = 64

_CITATION = """\
@article{li2023ximagenet12,
  title   = {XIMAGENET-12: An Explainable AI Benchmark Dataset for Model Robustness Evaluation},
  author  = {Li, Qiang and others},
  journal = {arXiv preprint arXiv:2310.08182},
  year    = {2023}
}
"""
_DESCRIPTION = "Background-robustness scenarios (XImageNet-12): one config per scenario variant."


@dataclass
class XImageNet12Config(datasets.BuilderConfig):
    """One scenario variant; ``seed`` and ``backgrounds`` as in ``ximagenet12 build``."""

    seed: int = 0
    backgrounds: str | None = None

    @property
    def variant(self) -> Variant:
        for variant in _variants():
            if variant.config_name == self.name:
                return variant
        raise ValueError(f"unknown config {self.name!r}; known: {', '.join(v.config_name for v in _variants())}")


def _variants() -> list[Variant]:
    names = [n for n, s in SCENARIOS.items() if s.family != "generative"]
    return all_variants(levels=True, include=names)


class XImageNet12(datasets.GeneratorBasedBuilder):
    """XImageNet-12 scenario configs generated from a source (see the module docstring)."""

    BUILDER_CONFIG_CLASS = XImageNet12Config
    BUILDER_CONFIGS = [
        XImageNet12Config(name=v.config_name, description=v.scenario.description) for v in _variants()
    ]
    DEFAULT_CONFIG_NAME = "original"
    VERSION = datasets.Version("0.1.0")

    def _source(self) -> Any:
        if getattr(self, "_opened", None) is None:
            if self.config.data_dir is None:
                from ximagenet12.builder.sample import sample_source

                self._opened = sample_source()
            else:
                from ximagenet12.sources import open_source

                self._opened = open_source(self.config.data_dir)
        return self._opened

    def _info(self) -> datasets.DatasetInfo:
        source = self._source()
        return datasets.DatasetInfo(
            description=f"{_DESCRIPTION} Config {self.config.name}: {self.config.description}",
            features=build_features(source.class_names),
            citation=_CITATION,
            homepage="https://arxiv.org/abs/2310.08182",
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        count = len(list(self._source().items()))
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"ranges": shard_ranges(count)})]

    def _generate_examples(self, ranges: list[tuple[int, int]]) -> Iterator[tuple[str, dict[str, Any]]]:
        """The rows of the samples in ``ranges`` (this job's shards), in source order."""
        source = self._source()
        variant = self.config.variant
        items = list(source.items())  # all of them: donors for mixed_* come from the whole source
        if self.config.backgrounds is not None:
            backgrounds = BackgroundLibrary.from_folder(self.config.backgrounds)
        elif variant.scenario.needs == "background":
            backgrounds = BackgroundLibrary.default()
        else:
            backgrounds = None
        donors = DonorSampler(items) if variant.scenario.needs == "donor" else None
        context = RunContext(seed=int(self.config.seed), backgrounds=backgrounds, donors=donors)
        class_index = {key: i for i, key in enumerate(source.classes)}
        for index in (i for start, stop in ranges for i in range(start, stop)):
            result = process_sample(items[index], [variant], context, class_index, index=index)
            row = result.rows.get(variant.config_name)
            if row is None:  # skipped: the reason is in result.skipped (see `ximagenet12 build`)
                continue
            image, mask, label, class_key, source_id, scenario, level, seed, provenance = row
            yield source_id, {
                "image": {"bytes": image, "path": None},
                "mask": {"bytes": mask, "path": None},
                "label": label,
                "class_key": class_key,
                "source_id": source_id,
                "scenario": scenario,
                "level": level,
                "seed": seed,
                "provenance": provenance,
            }


def shard_ranges(count: int, shards: int = GEN_SHARDS) -> list[tuple[int, int]]:
    """``count`` samples as at most ``shards`` contiguous ``(start, stop)`` ranges of near-equal size."""
    n = max(1, min(shards, count))
    bounds = [count * k // n for k in range(n + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(n) if bounds[k] < bounds[k + 1]] or [(0, 0)]
