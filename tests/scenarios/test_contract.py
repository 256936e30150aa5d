"""One contract, checked for every registered scenario at every severity level."""

from __future__ import annotations

import numpy as np
import pytest

from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.scenarios.engine import RunContext, apply_variant
from ximagenet12.scenarios.registry import SCENARIOS, all_variants
from ximagenet12.core.types import Sample

H, W = 48, 64
VARIANTS = [v for v in all_variants() if v.scenario.family != "generative"]


def _sample(source_id: str = "n00000001_1", class_key: str = "n00000001", seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    mask = np.zeros((H, W), bool)
    mask[12:36, 20:44] = True
    return Sample(source_id, class_key, image, mask)


class _Donors:
    """Draws one of a few other samples with the sample's generator, as the builder's pool does."""

    def __init__(self):
        self.donors = [_sample(f"n00000002_{i}", "n00000002", seed=i + 1) for i in range(4)]

    def draw(self, sample, policy, rng):
        return self.donors[int(rng.integers(len(self.donors)))]


@pytest.fixture(scope="module")
def context() -> RunContext:
    return RunContext(seed=0, backgrounds=BackgroundLibrary.default(), donors=_Donors())


def _run(variant, sample, context, seed=0):
    context = RunContext(seed=seed, backgrounds=context.backgrounds, donors=context.donors)
    return apply_variant(variant, sample, context)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.config_name)
def test_shape_dtype_and_mode(variant, context):
    result = _run(variant, _sample(), context)
    channels = 4 if variant.scenario.mode == "RGBA" else 3
    assert result.output.image.shape == (H, W, channels)
    assert result.output.image.dtype == np.uint8
    assert result.output.mask.shape == (H, W) and result.output.mask.dtype == bool


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.config_name)
def test_input_not_mutated(variant, context):
    sample = _sample()
    image, mask = sample.image.copy(), sample.mask.copy()
    _run(variant, sample, context)
    np.testing.assert_array_equal(sample.image, image)
    np.testing.assert_array_equal(sample.mask, mask)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.config_name)
def test_same_seed_same_bytes(variant, context):
    a = _run(variant, _sample(), context)
    b = _run(variant, _sample(), context)
    assert a.output.image.tobytes() == b.output.image.tobytes()
    assert a.provenance == b.provenance and a.seed == b.seed


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.scenario.random], ids=lambda v: v.config_name)
def test_different_seed_different_draw(variant, context):
    draws = {str(sorted(_run(variant, _sample(), context, seed=s).provenance.items())) for s in range(8)}
    assert len(draws) > 1


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.scenario.keeps_object], ids=lambda v: v.config_name)
def test_object_pixels_bit_identical(variant, context):
    sample = _sample()
    result = _run(variant, sample, context)
    out = result.output
    np.testing.assert_array_equal(out.image[..., :3][out.mask], sample.image[sample.mask])


@pytest.mark.parametrize(
    "variant", [v for v in VARIANTS if v.scenario.keeps_background], ids=lambda v: v.config_name
)
def test_background_pixels_bit_identical(variant, context):
    sample = _sample()
    out = _run(variant, sample, context).output
    np.testing.assert_array_equal(out.image[~sample.mask], sample.image[~sample.mask])


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.config_name)
def test_provenance_records_parameters(variant, context):
    result = _run(variant, _sample(), context)
    for key in variant.params:
        assert key in result.provenance
    if variant.scenario.needs == "background":
        assert result.provenance["background_id"] in context.backgrounds.ids
    if variant.scenario.needs == "donor":
        assert result.provenance["donor_id"].startswith("n00000002_")


def test_registry_names_are_unique_config_names():
    names = [v.config_name for v in all_variants()]
    assert len(names) == len(set(names))
    assert set(SCENARIOS) >= {
        "original", "blur_background", "blur_object", "image_grey", "image_r", "image_g", "image_b",
        "image_rainbow", "brightness_background", "brightness_object", "segmented_image",
        "transparent_image", "random_background", "only_fg", "no_fg", "mixed_same", "mixed_rand", "mixed_next",
    }  # fmt: skip


def test_generator_independent_of_order(context):
    """A sample's output depends on (seed, id, scenario, level), not on what ran before."""
    variant = SCENARIOS["image_rainbow"].variant()
    first = _run(variant, _sample(), context)
    for other in range(5):
        _run(variant, _sample(f"other_{other}"), context)
    again = _run(variant, _sample(), context)
    assert first.provenance == again.provenance
