"""``ai_background`` through the real dataset builder: a config that ``load_dataset`` reads, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ximagenet12.scenarios.generation import AIBackgroundGenerator, GenerationOptions
from ximagenet12.core.rng import derive_seed

build = pytest.importorskip("ximagenet12.builder.build", reason="the dataset builder has not landed yet")

FOX, CELLO = "n02119022", "n02992211"


@pytest.fixture
def release(tmp_path, photo, box_mask):
    """The reference release layout: 3 usable samples and one with two objects (a hard sample)."""
    root = tmp_path / "release"
    for wnid in (FOX, CELLO):
        (root / "image" / wnid).mkdir(parents=True)
        (root / "masks" / wnid).mkdir(parents=True)
        for n in range(2):
            mask = box_mask()
            if (wnid, n) == (CELLO, 1):
                mask[2:10, 2:10] = True
            Image.fromarray(photo(seed=n)).save(root / "image" / wnid / f"{wnid}_{n}.JPEG", quality=95)
            Image.fromarray(mask.astype(np.uint8) * 255).save(root / "masks" / wnid / f"{wnid}_{n}.png")
    return root


@pytest.fixture
def calls(monkeypatch):
    """Counts the samples the real generator generates; ``calls.interrupt_after`` stops the build."""

    class Calls(list):
        interrupt_after: int | None = None

    seen = Calls()
    real = AIBackgroundGenerator.generate

    def counting(self, requests, **kwargs):
        if seen.interrupt_after is not None and len(seen) >= seen.interrupt_after:
            raise KeyboardInterrupt
        seen.extend(r.source_id for r in requests)
        return real(self, requests, **kwargs)

    monkeypatch.setattr(AIBackgroundGenerator, "generate", counting)
    return seen


def _build(release, out, tiny_model, **kwargs):
    options = GenerationOptions(model=tiny_model, device="cpu", steps=2, batch_size=1)
    return build.build_dataset(
        str(release), out, scenarios=["original", "ai_background"], generation=options, progress=False, **kwargs
    )


def test_a_built_ai_background_config_loads_with_datasets(release, tmp_path, tiny_model, calls):
    import datasets

    out = tmp_path / "out"
    summary = _build(release, out, tiny_model, seed=3)
    assert summary.configs["ai_background"].rows == 3 and summary.configs["original"].rows == 4
    ds = datasets.load_dataset(str(out), "ai_background", split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(ds["source_id"]) == [f"{FOX}_0", f"{FOX}_1", f"{CELLO}_0"]
    row = ds[0]
    provenance = json.loads(row["provenance"])
    assert row["scenario"] == "ai_background" and row["level"] is None
    assert row["seed"] == provenance["seed"] == derive_seed(3, row["source_id"], "ai_background", None)
    assert provenance["model"] == tiny_model and provenance["steps"] == 2
    assert "like a National Geographic photo" in provenance["prompt"]
    assert row["image"].size == (64, 48) and np.asarray(row["mask"]).max() == 255
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert skipped == [
        {
            "source_id": f"{CELLO}_1",
            "scenario": "ai_background",
            "reason": "hard sample: several objects (2 components of at least 5% of the object area; at most 1 allowed)",
        }
    ]
    assert sorted(calls) == sorted(ds["source_id"])


def test_an_interrupted_build_resumes_without_generating_done_samples_again(release, tmp_path, tiny_model, calls):
    import datasets

    out = tmp_path / "out"
    calls.interrupt_after = 2
    with pytest.raises(KeyboardInterrupt):
        _build(release, out, tiny_model)
    done = list(calls)
    assert len(done) == 2

    calls.interrupt_after = None
    calls.clear()
    _build(release, out, tiny_model, resume=True)
    assert len(calls) == 1 and calls[0] not in done
    resumed = datasets.load_dataset(str(out), "ai_background", split="train", cache_dir=str(tmp_path / "hf1"))

    calls.clear()  # a fresh build over the finished one reuses every generated image
    _build(release, out, tiny_model, overwrite=True)
    assert calls == []
    again = datasets.load_dataset(str(out), "ai_background", split="train", cache_dir=str(tmp_path / "hf2"))
    assert [r["image"].tobytes() for r in resumed] == [r["image"].tobytes() for r in again]


def test_the_build_command_builds_ai_background_and_refuses_bad_options_before_writing(
    release, tmp_path, tiny_model, calls, capsys
):
    from ximagenet12.cli import main

    out = tmp_path / "cli-out"
    argv = ["build", "--source", str(release), "--out", str(out), "--scenarios", "ai_background", "--no-progress"]
    assert main([*argv, "--ai-model", tiny_model, "--device", "cpu", "--ai-steps", "2", "--ai-batch-size", "2"]) == 0
    assert "ai_background        3 rows" in capsys.readouterr().out
    assert len(calls) == 3

    bad = tmp_path / "bad-out"
    assert main([*argv[:4], str(bad), *argv[5:], "--ai-model", str(tmp_path / "nowhere")]) == 1
    assert f"error: inpainting model folder '{tmp_path / 'nowhere'}' not found" in capsys.readouterr().err
    assert not bad.exists()


def test_strict_keeps_going_past_hard_samples_skipped_by_policy(release, tmp_path, tiny_model, calls):
    summary = _build(release, tmp_path / "out", tiny_model, strict=True)
    assert summary.configs["ai_background"].rows == 3
    assert [(s.source_id, s.scenario) for s in summary.skipped] == [(f"{CELLO}_1", "ai_background")]


def test_strict_stops_at_a_sample_that_fails_to_generate(release, tmp_path, tiny_model, monkeypatch):
    from ximagenet12.core.types import SampleError

    def failing(self, requests, **kwargs):
        return [SampleError(r.source_id, "the pipeline returned a black image") for r in requests]

    monkeypatch.setattr(AIBackgroundGenerator, "generate", failing)
    with pytest.raises(SampleError, match=r"ai_background: the pipeline returned a black image \(source n0"):
        _build(release, tmp_path / "strict", tiny_model, strict=True)
    summary = _build(release, tmp_path / "lenient", tiny_model)
    # no sample gave the config a row: it is left out of the build and named, never written empty
    assert "ai_background" not in summary.configs and "ai_background" in summary.empty_configs
    assert {s.reason for s in summary.skipped} >= {"the pipeline returned a black image"}


def test_resume_accepts_a_new_batch_size_but_not_new_generation_settings(release, tmp_path, tiny_model, calls):
    out = tmp_path / "out"
    calls.interrupt_after = 1
    with pytest.raises(KeyboardInterrupt):
        _build(release, out, tiny_model)
    calls.interrupt_after = None
    changed = GenerationOptions(model=tiny_model, device="cpu", steps=3, batch_size=1)
    with pytest.raises(ValueError, match=r"cannot resume .* different settings \(generation\)"):
        build.build_dataset(str(release), out, scenarios=["original", "ai_background"], generation=changed,
                            progress=False, resume=True)
    options = GenerationOptions(model=tiny_model, device="cpu", steps=2, batch_size=3)
    summary = build.build_dataset(str(release), out, scenarios=["original", "ai_background"], generation=options,
                                  progress=False, resume=True)
    assert summary.configs["ai_background"].rows == 3 and len(calls) == 3


def test_build_dataset_refuses_bad_generation_options_before_creating_the_folder(release, tmp_path):
    out = tmp_path / "never"
    options = GenerationOptions(model=str(tmp_path / "nowhere"), device="cpu")
    with pytest.raises(Exception, match="inpainting model folder .* not found"):
        build.build_dataset(str(release), out, scenarios=["ai_background"], generation=options, progress=False)
    assert not out.exists()
