"""--task zero-shot: a tiny random CLIP through the real zero-shot-image-classification pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ximagenet12.cli import main
from ximagenet12.evaluation.classification import evaluate_classification
from ximagenet12.evaluation.zero_shot import (
    DEFAULT_PROMPT_TEMPLATE,
    ZeroShotHead,
    check_prompt_template,
    class_prompts,
    readable_class_names,
)


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    from ximagenet12.evaluation.testing import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def tiny_siglip_dir(tmp_path_factory):
    from ximagenet12.evaluation.testing import save_tiny_siglip

    return save_tiny_siglip(tmp_path_factory.mktemp("tiny-siglip"))


def _pipe(folder):
    from transformers import pipeline

    return pipeline("zero-shot-image-classification", model=str(folder), device="cpu")


@pytest.fixture(scope="module")
def clip_pipe(tiny_clip_dir):
    return _pipe(tiny_clip_dir)


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8)) for i in range(n)]


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_prompts_encoded_once_give_the_pipelines_own_scores(family, request):
    import torch

    pipe = _pipe(request.getfixturevalue(f"tiny_{family}_dir"))
    names = ["alligator lizard", "crayfish", "cello", "ice cream"]
    head = ZeroShotHead.build(pipe, class_prompts(names, DEFAULT_PROMPT_TEMPLATE))
    images = _images(5)
    inputs = [head.prepare(im) for im in images]
    logits = head.logits({"pixel_values": torch.cat([x["pixel_values"] for x in inputs])})  # one batch
    if family == "siglip":  # the pipeline's scores: sigmoid per prompt for SigLIP, softmax over prompts for CLIP
        probs = 1.0 / (1.0 + np.exp(-logits))
    else:
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
    for i, image in enumerate(images):
        out = pipe(image, candidate_labels=names, hypothesis_template=DEFAULT_PROMPT_TEMPLATE)
        want = np.array([next(o["score"] for o in out if o["label"] == n) for n in names])
        np.testing.assert_allclose(probs[i], want, rtol=1e-4, atol=1e-6)


def test_evaluate_zero_shot_reports_task_prompts_and_one_argmax(tiny_clip_dir, clip_pipe, ev, tmp_path):
    root = ev.make_folder(tmp_path / "built", {"original": 6, "blur_background": 6})
    result = evaluate_classification(tiny_clip_dir, root, task="zero-shot", device="cpu", progress=False,
                                     batch_size=4)
    report, pred = result.report, result.predictions
    prompts = [f"a photo of a {n}." for n in ev.CLASS_NAMES]
    assert report["task"] == "classification" and report["pipeline_task"] == "zero-shot-image-classification"
    assert report["prompt_template"] == DEFAULT_PROMPT_TEMPLATE and report["prompts"] == prompts
    assert report["provenance"]["task"]["prompts"] == prompts
    assert report["label_mapping"]["kind"] == "zero_shot_prompts"
    assert "no 1000-class mode" in report["modes"]["strict"] and "no 1000-class mode" in report["mode_reason"]
    assert any("zero-shot over only 3 classes" in w for w in report["warnings"])
    assert (pred["strict_correct"] == pred["restricted_correct"]).all()
    assert (pred["strict_prediction"] == pred["restricted_prediction"]).all()
    # oracle: the real pipeline's top label on the same decoded images
    import datasets

    rows = datasets.load_dataset(str(root), "original", split="train")
    for row, (_, p) in zip(rows, pred[pred["config"] == "original"].iterrows()):
        image = row["image"].convert("RGB")
        top = clip_pipe(image, candidate_labels=list(ev.CLASS_NAMES), hypothesis_template=DEFAULT_PROMPT_TEMPLATE)[0]
        assert p["strict_prediction"] == ev.CLASS_KEYS[ev.CLASS_NAMES.index(top["label"])]
        assert p["strict_label"] == f"a photo of a {top['label']}."


def test_evaluate_zero_shot_siglip(tiny_siglip_dir, ev, tmp_path):
    root = ev.make_folder(tmp_path / "built", {"original": 4})
    result = evaluate_classification(tiny_siglip_dir, root, task="zero-shot", device="cpu", progress=False)
    assert result.report["scenarios"]["original"]["n"] == 4
    assert result.report["provenance"]["task"]["pipeline_task"] == "zero-shot-image-classification"


def test_custom_prompt_template(tiny_clip_dir, ev, tmp_path):
    root = ev.make_folder(tmp_path / "built", {"original": 3})
    result = evaluate_classification(tiny_clip_dir, root, task="zero-shot", prompt_template="a blurry photo of the {}",
                                     device="cpu", progress=False)
    assert result.report["prompts"] == [f"a blurry photo of the {n}" for n in ev.CLASS_NAMES]


def test_wnid_class_names_become_imagenet_names():
    assert readable_class_names(["n01689811", "n02992211", "my_widget"], ["n01689811", "n02992211", "w"]) == [
        "alligator lizard", "cello", "my widget"]
    with pytest.raises(ValueError, match=r"class 'n00000001' \(key 'n00000001'\) is a wnid outside ImageNet-1k"):
        readable_class_names(["n00000001"], ["n00000001"])


@pytest.mark.parametrize("template, match", [
    ("a photo", "must contain exactly one '{}'"),
    ("{} and {}", "must contain exactly one '{}'"),
    ("a {name}", "must contain exactly one '{}' and no other braces"),
    ("a {} {", "must contain exactly one '{}' and no other braces"),
])
def test_bad_prompt_templates_are_refused(template, match):
    with pytest.raises(ValueError, match=match):
        check_prompt_template(template)


def test_not_clip_like_model_is_refused_before_any_work(tiny_vit_dir, tmp_path):
    missing = tmp_path / "no-such-data"  # never read: the model is refused first
    with pytest.raises(ValueError, match=r"is not a CLIP-like model \(model_type 'vit', config.json has no "
                                         r"text_config or vision_config\)"):
        evaluate_classification(tiny_vit_dir, missing, task="zero-shot", device="cpu", progress=False)
    with pytest.raises(ValueError, match="built-in model 'efficientnet-lite0' is an ImageNet-1k image classifier"):
        evaluate_classification("efficientnet-lite0", missing, task="zero-shot", device="cpu", progress=False)


def test_loaded_model_without_towers_is_refused(tiny_vit_dir):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(tiny_vit_dir), device="cpu")
    with pytest.raises(ValueError, match="is not a CLIP-like model: --task zero-shot needs get_image_features"):
        ZeroShotHead.build(pipe, ["a photo of a cat."], model="vit")


def test_task_options_are_checked(tiny_vit_dir, tmp_path):
    with pytest.raises(ValueError, match="applies to --task zero-shot only"):
        evaluate_classification(tiny_vit_dir, tmp_path, prompt_template="a {}", progress=False)
    with pytest.raises(ValueError, match="unknown task 'detection'; expected one of image-classification, zero-shot"):
        evaluate_classification(tiny_vit_dir, tmp_path, task="detection", progress=False)


def test_cli_zero_shot_report_and_leaderboard_protocol(tiny_clip_dir, ev, tmp_path, capsys):
    from ximagenet12.leaderboard.results import report_entry

    root = ev.make_folder(tmp_path / "built", {"original": 3, "blur_background": 3})
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(tiny_clip_dir), "--data", str(root), "--out", str(out), "--task",
                 "zero-shot", "--prompt-template", "a photo of the {}.", "--device", "cpu", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "**Zero-shot prompts** (zero-shot-image-classification, template `a photo of the {}.`)" in (
        out / "report.md").read_text()
    assert report["pipeline_task"] == "zero-shot-image-classification"
    assert report["prompts"][0] == "a photo of the alligator lizard."
    entry = report_entry(out)
    assert entry.row["protocol"] == "EX1 zero-shot classification (strict, prompt 'a photo of the {}.')"


def test_cli_refuses_a_classifier_for_zero_shot_in_one_line(tiny_vit_dir, tmp_path, capsys):
    code = main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--task", "zero-shot", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "is not a CLIP-like model" in err and "--task image-classification" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("family, limit", [("clip", 77), ("siglip", 64)])
def test_prompt_longer_than_the_text_tower_is_refused(family, limit, request, ev, tmp_path):
    root = ev.make_folder(tmp_path / "built", {"original": 3})
    template = "a photo of " + "a very " * 40 + "{}."  # the character tokenizer: one token per character
    with pytest.raises(ValueError, match=rf"prompt 'a photo of a very .*' is \d+ tokens, longer than the {limit} "
                                         "that the text tower of model .* reads: shorten --prompt-template"):
        evaluate_classification(request.getfixturevalue(f"tiny_{family}_dir"), root, task="zero-shot",
                                prompt_template=template, device="cpu", progress=False)


def test_clip_folder_without_its_vocabulary_is_refused_not_scored(tiny_clip_dir, ev, tmp_path):
    import shutil

    broken = tmp_path / "clip-no-tokenizer"
    shutil.copytree(tiny_clip_dir, broken)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json"):
        (broken / name).unlink(missing_ok=True)
    root = ev.make_folder(tmp_path / "built", {"original": 3})
    # transformers then builds an empty CLIPTokenizer: every character is the unknown token
    with pytest.raises(ValueError, match=r"prompt 'a photo of a alligator lizard.' is nothing but unknown tokens for "
                                         r"the tokenizer of model .*: its tokenizer files are missing or do not cover"):
        evaluate_classification(broken, root, task="zero-shot", device="cpu", progress=False)


def test_prompts_the_tokenizer_cannot_tell_apart_are_refused(clip_pipe):
    # the character vocabulary has no 'é' or 'è': both names lose that letter to the unknown token
    with pytest.raises(ValueError, match=r"prompts 'a photo of a caf\u00e9.' and 'a photo of a caf\u00e8.' are the "
                                         r"same \d+ tokens for the tokenizer of model 'tiny'"):
        ZeroShotHead.build(clip_pipe, ["a photo of a café.", "a photo of a cafè."], model="tiny")


def test_cli_prompt_template_without_zero_shot_is_one_line(tiny_vit_dir, tmp_path, capsys):
    code = main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--prompt-template", "a photo of a {}.", "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0
    assert err == ("ximagenet12 evaluate: error: a prompt template (--prompt-template) applies to --task zero-shot "
                   "only\n")
