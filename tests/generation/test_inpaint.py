"""The real generator end to end on a tiny randomly initialised SDXL inpainting pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ximagenet12.scenarios.generation.inpaint import (
    AIBackgroundGenerator,
    GenerationError,
    InpaintRequest,
    InpaintResult,
    generation_size,
    load_pipeline,
    resolve_device,
)
from ximagenet12.core.types import SampleError

STEPS = 2
RED_FOX = "n02119022"


@pytest.fixture(scope="module")
def generator(tiny_model) -> AIBackgroundGenerator:
    return AIBackgroundGenerator(tiny_model, device="cpu", steps=STEPS)


def _request(photo, box_mask, *, seed=1, source_id="fox_1", class_key=RED_FOX, h=48, w=64, **kw):
    return InpaintRequest(photo(h, w), box_mask(h, w), class_key, seed, source_id=source_id, **kw)


def test_object_pixels_are_bit_identical_and_the_background_is_repainted(generator, photo, box_mask):
    request = _request(photo, box_mask)
    (result,) = generator.generate([request])
    assert isinstance(result, InpaintResult) and result.source_id == "fox_1"
    assert result.image.shape == (48, 64, 3) and result.image.dtype == np.uint8
    np.testing.assert_array_equal(result.image[request.mask], request.image[request.mask])
    changed = np.any(result.image != request.image, axis=-1)[~request.mask]
    assert changed.mean() > 0.9


def test_same_seed_same_image_and_different_seed_different_image(generator, photo, box_mask):
    a, b = (generator.generate([_request(photo, box_mask, seed=7)])[0] for _ in range(2))
    c = generator.generate([_request(photo, box_mask, seed=8)])[0]
    assert a.image.tobytes() == b.image.tobytes()
    assert a.image.tobytes() != c.image.tobytes()


def test_each_sample_of_a_batch_uses_its_own_seed(generator, photo, box_mask):
    batch = generator.generate([_request(photo, box_mask, seed=s, source_id=f"s{s}") for s in (3, 3, 4)])
    assert batch[0].image.tobytes() == batch[1].image.tobytes()
    assert batch[0].image.tobytes() != batch[2].image.tobytes()


def test_provenance_records_every_value_used(generator, photo, box_mask, tiny_model):
    (result,) = generator.generate([_request(photo, box_mask, seed=11)])
    p = result.provenance
    assert p["model"] == tiny_model
    assert p["prompt"].startswith("A high-resolution photograph of a red fox in ")
    assert p["negative_prompt"] == generator.negative_prompt and "cartoon" in p["negative_prompt"]
    assert (p["steps"], p["guidance_scale"], p["strength"], p["dilate"]) == (STEPS, 8.0, 0.99, 8)
    assert p["seed"] == 11 and p["size"] == [80, 48]  # [width, height] generated
    assert (p["dtype"], p["device"], p["scheduler"]) == ("float32", "cpu", "EulerDiscreteScheduler")
    json.dumps(p)  # stored in the row as JSON


def test_samples_of_other_sizes_run_at_their_own_generation_size(generator, photo, box_mask):
    tall = _request(photo, box_mask, h=64, w=40, source_id="tall")
    wide = _request(photo, box_mask, h=40, w=64, source_id="wide")
    results = generator.generate([tall, wide])
    assert [r.source_id for r in results] == ["tall", "wide"]
    assert results[0].image.shape == (64, 40, 3) and results[1].image.shape == (40, 64, 3)
    assert results[0].provenance["size"] == [48, 80] and results[1].provenance["size"] == [80, 48]
    for request, result in zip((tall, wide), results):
        np.testing.assert_array_equal(result.image[request.mask], request.image[request.mask])


def test_user_classes_are_prompted_by_name(generator, photo, box_mask):
    (result,) = generator.generate([_request(photo, box_mask, class_key="c7", class_name="hex bolt")])
    assert "of a hex bolt in a natural, realistic setting" in result.provenance["prompt"]


def test_the_pipeline_is_loaded_once_per_process(tiny_model):
    first = AIBackgroundGenerator(tiny_model, device="cpu", steps=1).pipeline
    second = AIBackgroundGenerator(tiny_model, device="cpu", steps=5, guidance_scale=1.0).pipeline
    assert first is second is load_pipeline(tiny_model, device="cpu", dtype="float32")


def test_generation_size_keeps_the_aspect_ratio_at_about_the_native_area():
    assert generation_size(375, 500, size=1024, multiple=64) == (896, 1152)
    assert generation_size(500, 375, size=1024, multiple=64) == (1152, 896)
    assert generation_size(1024, 1024, size=1024, multiple=64) == (1024, 1024)
    assert generation_size(10, 4000, size=1024, multiple=64)[0] == 64  # never below one multiple


# -- bad input ---------------------------------------------------------------------------------


def test_a_mask_without_background_is_a_clear_error(generator, photo):
    request = InpaintRequest(photo(), np.ones((48, 64), bool), RED_FOX, 1, source_id="full_1")
    with pytest.raises(SampleError, match=r"mask leaves no background to repaint .*\(source full_1\)"):
        generator.generate([request])


def test_a_bad_sample_is_returned_and_the_others_are_generated(generator, photo, box_mask):
    bad = InpaintRequest(photo(), box_mask(40, 64), RED_FOX, 1, source_id="bad_1")
    results = generator.generate([_request(photo, box_mask), bad], errors="return")
    assert isinstance(results[0], InpaintResult)
    assert isinstance(results[1], SampleError)
    assert str(results[1]) == "mask 40×64 does not match image 48×64 (source bad_1)"


def test_a_sample_failing_inside_the_pipeline_is_recorded_and_its_batch_neighbours_go_on(
    generator, photo, box_mask, monkeypatch
):
    # Fault injection: no real input makes the tiny pipeline itself fail, so wrap it.
    pipe = generator.pipeline
    real_call = type(pipe).__call__

    def failing_call(self, *args, **kwargs):
        if any("poison" in p for p in kwargs["prompt"]):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", failing_call)
    requests = [
        _request(photo, box_mask, source_id="ok_1"),
        _request(photo, box_mask, source_id="poisoned_1", class_key="poison"),
        _request(photo, box_mask, source_id="ok_2", seed=2),
    ]
    results = generator.generate(requests, errors="return")
    assert [type(r).__name__ for r in results] == ["InpaintResult", "SampleError", "InpaintResult"]
    assert str(results[1]) == (
        "ai_background generation failed: RuntimeError: CUDA out of memory (simulated) (source poisoned_1)"
    )
    with pytest.raises(SampleError, match="generation failed: RuntimeError.*poisoned_1"):
        generator.generate(requests[1:2])


def test_images_of_the_wrong_type_are_refused(generator, box_mask):
    request = InpaintRequest(np.zeros((48, 64, 3), np.float32), box_mask(), RED_FOX, 1, source_id="f_1")
    with pytest.raises(TypeError, match=r"image must be an HxWx3 uint8 numpy array, got array of dtype float32 \(source f_1\)"):
        generator.generate([request])


def test_a_missing_model_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"inpainting model folder '.*no-such-model' not found"):
        load_pipeline(str(tmp_path / "no-such-model"))


def test_a_folder_that_is_not_a_pipeline_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(GenerationError, match="is not a diffusers pipeline folder \\(no model_index.json\\)"):
        load_pipeline(str(tmp_path))


def test_a_pipeline_without_an_inpainting_counterpart_is_refused(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "DDPMPipeline", "_diffusers_version": "0.42.0"}))
    with pytest.raises(GenerationError, match=r"model '.*' is not an inpainting pipeline: .*DDPMPipeline"):
        load_pipeline(str(tmp_path))


def test_an_unreachable_hub_model_is_named(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(GenerationError, match="could not load inpainting model 'someone/not-a-model'"):
        load_pipeline("someone/not-a-model")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_requested_but_absent_is_a_clear_error(tiny_model):
    with pytest.raises(GenerationError, match="device 'cuda' was requested but CUDA is not available"):
        AIBackgroundGenerator(tiny_model, device="cuda")
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"device": "tpu"}, GenerationError, "unknown device 'tpu'"),
        ({"dtype": "float16", "device": "cpu"}, GenerationError, "float16 is not supported on the CPU"),
        ({"dtype": "int8", "device": "cpu"}, GenerationError, "unknown dtype 'int8'"),
        ({"steps": 0}, ValueError, "steps must be a positive integer, got 0"),
        ({"strength": 1.5}, ValueError, r"strength must be in \(0, 1\], got 1.5"),
        ({"size": 4}, ValueError, "size must be an integer of at least 8"),
        ({"dilate": -1}, ValueError, "dilate must be a non-negative integer"),
    ],
)
def test_bad_options_are_refused(tiny_model, kwargs, error, match):
    with pytest.raises(error, match=match):
        AIBackgroundGenerator(tiny_model, **kwargs)
