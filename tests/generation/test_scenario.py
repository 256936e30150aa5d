"""``ai_background`` as a scenario: registry entry, the builder's batch hook, resume, CLI options."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from ximagenet12.scenarios.engine import RunContext, ScenarioResult, apply_variant
from ximagenet12.scenarios.generation import (
    AIBackgroundGenerator,
    GenerationCache,
    GenerationError,
    GenerationOptions,
    HardnessThresholds,
    add_generation_arguments,
    generate_variant,
    options_from_args,
)
from ximagenet12.scenarios.registry import SCENARIOS, resolve
from ximagenet12.core.rng import derive_seed
from ximagenet12.core.types import Sample, SampleError, Skipped

VARIANT = resolve("ai_background")[0]


class CountingGenerator(AIBackgroundGenerator):
    """The real generator, counting the samples it is asked to generate."""

    def __init__(self, *args, fail_after: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated: list[str] = []
        self.fail_after = fail_after

    def generate(self, requests, *, errors="raise"):
        if self.fail_after is not None and len(self.generated) >= self.fail_after:
            raise KeyboardInterrupt  # the build is interrupted here
        self.generated += [r.source_id for r in requests]
        return super().generate(requests, errors=errors)


@pytest.fixture
def make_generator(tiny_model):
    def make(**kwargs):
        return CountingGenerator(tiny_model, device="cpu", steps=2, **kwargs)

    return make


@pytest.fixture
def samples(photo, box_mask):
    return [Sample(f"n02119022_{i}", "n02119022", photo(48, 64, seed=i), box_mask()) for i in range(3)]


def test_ai_background_is_a_generative_scenario_built_only_when_named():
    scenario = SCENARIOS["ai_background"]
    assert scenario.family == "generative" and scenario.keeps_object and scenario.mode == "RGB"
    assert VARIANT.config_name == "ai_background" and VARIANT.effective_level is None
    assert "ai_background" not in [v.name for v in resolve("all")]
    assert "ai_background" not in [v.name for v in resolve("all-levels")]


def test_the_per_sample_engine_points_to_the_batch_hook(samples):
    with pytest.raises(ValueError, match="ai_background runs in batches .*generate_variant"):
        apply_variant(VARIANT, samples[0], RunContext(seed=0))
    with pytest.raises(ValueError, match="scenario 'blur_background' is not generative"):
        generate_variant(resolve("blur_background")[0], samples)


def test_results_are_scenario_results_with_derived_seeds_in_sample_order(samples, make_generator):
    generator = make_generator()
    results = generate_variant(VARIANT, samples, seed=5, generator=generator, options=GenerationOptions(batch_size=2))
    assert all(isinstance(r, ScenarioResult) for r in results)
    for sample, result in zip(samples, results):
        assert result.seed == derive_seed(5, sample.source_id, "ai_background", None)
        assert result.provenance["seed"] == result.seed
        np.testing.assert_array_equal(result.output.mask, sample.mask)
        np.testing.assert_array_equal(result.output.image[sample.mask], sample.image[sample.mask])
        assert not np.array_equal(result.output.image, sample.image)
    assert sorted(generator.generated) == sorted(s.source_id for s in samples)


def test_hard_samples_are_skipped_with_the_reason_and_bad_ones_fail_alone(photo, box_mask, samples, make_generator):
    two = box_mask()
    two[2:10, 2:10] = True
    tiny = np.zeros((48, 64), bool)
    tiny[20:22, 30:32] = True
    batch = [
        Sample("two_1", "n02119022", photo(), two),
        samples[0],
        Sample("tiny_1", "n02119022", photo(), tiny),
        Sample("full_1", "n02119022", photo(), np.ones((48, 64), bool)),
    ]
    generator = make_generator()
    results = generate_variant(VARIANT, batch, generator=generator)
    assert isinstance(results[0], Skipped) and results[0].scenario == "ai_background"
    assert results[0].reason.startswith("hard sample: several objects (2 components")
    assert isinstance(results[1], ScenarioResult)
    assert isinstance(results[2], Skipped) and results[2].reason.startswith("hard sample: tiny object")
    assert isinstance(results[3], SampleError) and "mask leaves no background" in str(results[3])
    assert "(source full_1)" in str(results[3])
    assert generator.generated == [samples[0].source_id]
    # thresholds are options; hardness=None keeps every hard sample
    kept = generate_variant(VARIANT, batch[:3], generator=generator, options=GenerationOptions(hardness=None))
    assert all(isinstance(r, ScenarioResult) for r in kept)
    relaxed = GenerationOptions(hardness=HardnessThresholds(max_objects=2))
    assert isinstance(generate_variant(VARIANT, batch[:1], generator=generator, options=relaxed)[0], ScenarioResult)


def test_resume_generates_only_what_an_interrupted_run_left_undone(samples, make_generator, tmp_path):
    options = GenerationOptions(batch_size=1)
    interrupted = make_generator(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        generate_variant(VARIANT, samples, generator=interrupted, options=options, cache_dir=tmp_path)
    assert len(interrupted.generated) == 1

    resumed = make_generator()
    results = generate_variant(VARIANT, samples, generator=resumed, options=options, cache_dir=tmp_path)
    assert len(resumed.generated) == 2 and interrupted.generated[0] not in resumed.generated

    again = make_generator()
    cached = generate_variant(VARIANT, samples, generator=again, options=options, cache_dir=tmp_path)
    assert again.generated == []
    for a, b in zip(results, cached):
        assert a.output.image.tobytes() == b.output.image.tobytes()  # lossless cache
        assert a.provenance == b.provenance and a.seed == b.seed

    fresh = make_generator()  # without a cache the same seeds give the same images
    uncached = generate_variant(VARIANT, samples, generator=fresh, options=options)
    assert [r.output.image.tobytes() for r in uncached] == [r.output.image.tobytes() for r in cached]


def test_changing_a_setting_or_the_image_regenerates(samples, make_generator, tmp_path):
    generate_variant(VARIANT, samples, generator=make_generator(), cache_dir=tmp_path)
    other_steps = CountingGenerator(make_generator().model, device="cpu", steps=3)
    generate_variant(VARIANT, samples[:1], generator=other_steps, cache_dir=tmp_path)
    assert other_steps.generated == [samples[0].source_id]
    edited = Sample(samples[1].source_id, samples[1].class_key, samples[1].image.copy(), samples[1].mask)
    edited.image[0, 0] ^= 1
    same = make_generator()
    generate_variant(VARIANT, [edited, samples[2]], generator=same, cache_dir=tmp_path)
    assert same.generated == [edited.source_id]


def test_a_corrupt_cache_entry_is_generated_again(samples, make_generator, tmp_path):
    generate_variant(VARIANT, samples[:1], generator=make_generator(), cache_dir=tmp_path)
    (png,) = (tmp_path / "ai_background").rglob("*.png")
    png.write_bytes(b"not a png")
    again = make_generator()
    generate_variant(VARIANT, samples[:1], generator=again, cache_dir=tmp_path)
    assert again.generated == [samples[0].source_id]
    assert not list((tmp_path / "ai_background").rglob(".*.tmp"))


def test_cache_keys_depend_on_sample_seed_prompt_and_settings(samples):
    key = GenerationCache.key
    base = key(samples[0], seed=1, prompt="p", settings={"model": "m", "steps": 30})
    assert base == key(samples[0], seed=1, prompt="p", settings={"steps": 30, "model": "m"})
    assert len({
        base,
        key(samples[1], seed=1, prompt="p", settings={"model": "m", "steps": 30}),
        key(samples[0], seed=2, prompt="p", settings={"model": "m", "steps": 30}),
        key(samples[0], seed=1, prompt="q", settings={"model": "m", "steps": 30}),
        key(samples[0], seed=1, prompt="p", settings={"model": "n", "steps": 30}),
    }) == 5


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_generation_arguments(parser)
    return options_from_args(parser.parse_args(argv))


def test_cli_options_become_generation_options(tmp_path, tiny_model):
    assert _parse([]) == GenerationOptions()
    prompts = tmp_path / "prompts.json"
    prompts.write_text("{}")
    options = _parse([
        "--ai-model", tiny_model, "--device", "cpu", "--ai-steps", "20", "--ai-guidance", "5",
        "--ai-prompts", str(prompts), "--ai-batch-size", "8", "--ai-size", "768", "--ai-max-objects", "3",
    ])
    assert (options.model, options.device, options.steps, options.guidance_scale) == (tiny_model, "cpu", 20, 5.0)
    assert (options.prompts, options.batch_size, options.size) == (str(prompts), 8, 768)
    assert options.hardness == HardnessThresholds(max_objects=3)
    assert _parse(["--ai-keep-hard"]).hardness is None


@pytest.mark.parametrize(
    ("argv", "error", "match"),
    [
        (["--ai-prompts", "missing.json"], FileNotFoundError, "--ai-prompts: prompt file 'missing.json' not found"),
        (["--ai-batch-size", "0"], ValueError, "batch_size must be a positive integer, got 0"),
        (["--ai-min-object-fraction", "2"], ValueError, "min_object_fraction must be a fraction"),
        (["--ai-steps", "0"], ValueError, "steps must be a positive integer, got 0"),
        (["--ai-model", "./models/no-such-sdxl"], FileNotFoundError, "inpainting model folder './models/no-such-sdxl' not found"),
        (["--device", "tpu"], GenerationError, "unknown device 'tpu'"),
    ],
)
def test_bad_cli_options_are_refused(argv, error, match):
    with pytest.raises(error, match=match):
        _parse(argv)
