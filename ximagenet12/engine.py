"""Apply a scenario variant to one sample: derive its generator, gather extra inputs,
call the pure function and collect the provenance.

This is the single place where scenarios are run; the CLI builder, the
``GeneratorBasedBuilder`` in ``ximagenet12.py`` and the evaluator all come through here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Protocol

import numpy as np

from ximagenet12.backgrounds import BackgroundLibrary
from ximagenet12.registry import Variant
from ximagenet12.rng import derive_seed
from ximagenet12.types import Sample, ScenarioOutput

__all__ = ["DonorPool", "RunContext", "ScenarioResult", "apply_variant"]


class DonorPool(Protocol):
    """Gives the ``mixed_*`` scenarios another sample to take a background from."""

    def draw(self, sample: Sample, policy: str, rng: np.random.Generator) -> Sample: ...


@dataclass
class RunContext:
    """What scenarios with extra inputs need: a background library and a donor pool."""

    seed: int = 0
    backgrounds: BackgroundLibrary | None = None
    donors: DonorPool | None = None


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
def _takes_rng(fn: Callable[..., Any]) -> bool:
    return "rng" in inspect.signature(fn).parameters


def apply_variant(variant: Variant, sample: Sample, context: RunContext) -> ScenarioResult:
    """Run ``variant`` on ``sample``. Raises ``ValueError`` if an extra input is missing."""
    scenario = variant.scenario
    seed = derive_seed(context.seed, sample.source_id, scenario.name, variant.effective_level)
    rng = np.random.default_rng(seed)
    kwargs: dict[str, Any] = dict(variant.params)
    extra: dict[str, Any] = {}
    if scenario.needs == "background":
        if context.backgrounds is None:
            raise ValueError(f"scenario {scenario.name!r} needs a background library")
        extra["background_id"], kwargs["background"] = context.backgrounds.draw(rng)
    elif scenario.needs == "donor":
        if context.donors is None:
            raise ValueError(f"scenario {scenario.name!r} needs a donor pool of other samples")
        donor = context.donors.draw(sample, scenario.donor_policy or "random", rng)
        extra["donor_id"] = donor.source_id
        extra["donor_class"] = donor.class_key
        kwargs["donor_image"], kwargs["donor_mask"] = donor.image, donor.mask
    if _takes_rng(scenario.fn):
        kwargs["rng"] = rng
    fn: Callable[..., ScenarioOutput] = scenario.fn
    output = fn(sample.image, sample.mask, **kwargs)
    provenance = {
        **{k: _jsonable(v) for k, v in variant.params.items()},
        **extra,
        **{k: _jsonable(v) for k, v in output.drawn.items()},
    }
    return ScenarioResult(output, seed, provenance)
