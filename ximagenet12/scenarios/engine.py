"""Apply a scenario variant to one sample: derive its generator, gather extra inputs,
call the pure function and collect the provenance.

This is the single place where scenarios are run; the CLI builder, the
``GeneratorBasedBuilder`` in ``ximagenet12.py`` and the evaluator all come through here.

It also owns the scenarios' caches (:mod:`ximagenet12.scenarios.memo`): the caller's per-sample
:class:`~ximagenet12.scenarios.memo.SampleMemo` (intermediates shared by the variants of one
sample) and the context's run-wide :class:`~ximagenet12.scenarios.memo.ArrayCache` (background
photos resized per frame size; donors' hole-filled backgrounds per donor, frame size
and fill). Neither changes a result byte; both only skip repeated work.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Protocol

import numpy as np

from ximagenet12.scenarios import functional as F
from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.scenarios.memo import ArrayCache, SampleMemo
from ximagenet12.scenarios.registry import Variant
from ximagenet12.core.rng import derive_seed
from ximagenet12.core.types import Sample, ScenarioOutput

__all__ = ["DonorPool", "RunContext", "SampleMemo", "ScenarioResult", "apply_variant"]


class DonorPool(Protocol):
    """Gives the ``mixed_*`` scenarios another sample to take a background from.

    A pool whose samples have stable source ids (the builder's) may also offer
    ``draw_item(sample, policy, rng) -> SourceItem``: the same draw as :meth:`draw`
    (same generator use, a donor that loads) without decoding it again, and
    ``load(source_id) -> Sample``; the engine then keeps each donor's background in
    the context's cache and decodes the donor only when it is not there.
    """

    def draw(self, sample: Sample, policy: str, rng: np.random.Generator) -> Sample: ...


@dataclass
class RunContext:
    """What scenarios with extra inputs need: a background library and a donor pool,
    and the run-wide cache of their resized photos and donor backgrounds."""

    seed: int = 0
    backgrounds: BackgroundLibrary | None = None
    donors: DonorPool | None = None
    cache: ArrayCache = field(default_factory=ArrayCache, repr=False, compare=False)


@dataclass(frozen=True)
class ScenarioResult:
    """A scenario output plus everything needed to reproduce it."""

    output: ScenarioOutput
    seed: int  # the derived per-sample seed
    provenance: dict[str, Any]  # parameters used and values drawn


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


@lru_cache(maxsize=None)
def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(fn).parameters)


def _donor_inputs(variant: Variant, sample: Sample, context: RunContext, rng: np.random.Generator,
                  kwargs: dict[str, Any]) -> dict[str, Any]:
    """Draw the donor; put its image and mask, or its cached background, in ``kwargs``."""
    scenario, donors = variant.scenario, context.donors
    if donors is None:
        raise ValueError(f"scenario {scenario.name!r} needs a donor pool of other samples")
    policy = scenario.donor_policy or "random"
    draw_item, load = getattr(donors, "draw_item", None), getattr(donors, "load", None)
    if draw_item is None or load is None or scenario.fn is not F.mixed_background:
        donor = donors.draw(sample, policy, rng)
        kwargs["donor_image"], kwargs["donor_mask"] = donor.image, donor.mask
        return {"donor_id": donor.source_id, "donor_class": donor.class_key}
    item = draw_item(sample, policy, rng)
    h, w = sample.mask.shape
    fill = kwargs.get("fill", "inpaint")

    def make() -> np.ndarray:
        donor = load(item.source_id)
        return F.donor_background(donor.image, donor.mask, h, w, fill=fill)

    # keyed by the donor's source id: in a build, an id always names the same pixels
    kwargs["background"] = context.cache.get(("donor_background", item.source_id, h, w, fill), make)
    return {"donor_id": item.source_id, "donor_class": item.class_key}


def apply_variant(variant: Variant, sample: Sample, context: RunContext, *,
                  memo: SampleMemo | None = None) -> ScenarioResult:
    """Run ``variant`` on ``sample``. Raises ``ValueError`` if an extra input is missing.

    ``memo``: a :class:`SampleMemo` of ``sample.image`` shared by the variants applied to
    this sample (the builder makes one per sample); the result is the same without it.
    """
    scenario = variant.scenario
    seed = derive_seed(context.seed, sample.source_id, scenario.name, variant.effective_level)
    rng = np.random.default_rng(seed)
    kwargs: dict[str, Any] = dict(variant.params)
    extra: dict[str, Any] = {}
    takes = _parameters(scenario.fn)
    if scenario.needs == "background":
        if context.backgrounds is None:
            raise ValueError(f"scenario {scenario.name!r} needs a background library")
        extra["background_id"], kwargs["background"] = context.backgrounds.draw(rng)
        if "cache" in takes:
            kwargs["cache"] = context.cache
    elif scenario.needs == "donor":
        extra.update(_donor_inputs(variant, sample, context, rng, kwargs))
    if "rng" in takes:
        kwargs["rng"] = rng
    if memo is not None and "memo" in takes:
        kwargs["memo"] = memo
    fn: Callable[..., ScenarioOutput] = scenario.fn
    output = fn(sample.image, sample.mask, **kwargs)
    provenance = {
        **{k: _jsonable(v) for k, v in variant.params.items()},
        **extra,
        **{k: _jsonable(v) for k, v in output.drawn.items()},
    }
    return ScenarioResult(output, seed, provenance)
