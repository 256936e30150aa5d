"""EX3: object masks from an image-segmentation pipeline, IoU / pixel accuracy, oracle check."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ximagenet12.cli import main
from ximagenet12.evaluation.labels import object_label_policy
from ximagenet12.evaluation.segmentation import evaluate_segmentation, mask_scores, object_mask


def test_mask_scores_hand_computed():
    pred = np.array([[1, 1, 0], [0, 0, 0]], bool)
    true = np.array([[1, 0, 0], [1, 0, 0]], bool)
    iou, acc = mask_scores(pred, true)
    assert iou == pytest.approx(1 / 3)
    assert acc == pytest.approx(4 / 6)
    assert mask_scores(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == (1.0, 1.0)
    with pytest.raises(ValueError, match=r"predicted mask \(2, 2\) does not match the ground truth \(2, 3\)"):
        mask_scores(np.zeros((2, 2)), np.zeros((2, 3)))


def test_object_mask_is_the_union_of_non_background_segments():
    a = Image.fromarray(np.array([[255, 0], [0, 0]], np.uint8))
    b = Image.fromarray(np.array([[0, 255], [0, 0]], np.uint8))
    bg = Image.fromarray(np.array([[0, 0], [255, 255]], np.uint8))
    segs = [{"label": "cat", "mask": a}, {"label": "dog", "mask": b}, {"label": "Background", "mask": bg}]
    mask, used = object_mask(segs, (2, 2))
    assert mask.tolist() == [[True, True], [False, False]] and used == ["cat", "dog"]
    policy = object_label_policy(["cat", "dog", "Background"], object_labels=["dog"])
    mask, used = object_mask(segs, (2, 2), policy=policy)
    assert mask.tolist() == [[False, True], [False, False]] and used == ["dog"]
    with pytest.raises(TypeError, match="list of"):
        object_mask("cat", (2, 2))


def test_oracle_ground_truth_masks_give_iou_one(ev, tmp_path):
    root = ev.make_folder(tmp_path / "f", {"original": 5, "segmented_image": 4})
    # the oracle looks up each image's ground-truth mask by its decoded pixels
    import datasets

    truth = {}
    for config in ("original", "segmented_image"):
        ds = datasets.load_dataset(str(root), config, split="train")
        for row in ds:
            rgb = np.asarray(row["image"].convert("RGBA"), dtype=np.uint16)
            flat = ((rgb[..., :3] * rgb[..., 3:4] + 127) // 255).astype(np.uint8)
            truth[flat.tobytes()] = np.asarray(row["mask"]) > 0

    def oracle(images):
        return [truth[np.asarray(im).tobytes()] for im in images]

    r = evaluate_segmentation(oracle, root, progress=False, batch_size=3)
    for entry in r.report["scenarios"].values():
        assert entry["iou"] == 1.0 and entry["pixel_accuracy"] == 1.0
        assert all(c["iou"] == 1.0 for c in entry["per_class"].values() if c["n"])

    def empty(images):
        return [np.zeros((im.height, im.width), bool) for im in images]

    r = evaluate_segmentation(empty, root, progress=False, scenarios="original")
    assert r.report["scenarios"]["original"]["iou"] == 0.0


def test_cli_tiny_segformer_end_to_end(tiny_segformer_dir, ev, tmp_path):
    root = ev.make_folder(tmp_path / "f", {"original": 4, "blur_background": 3}, blur_background={"bad_rows": (0,)})
    out = tmp_path / "seg"
    rc = main(["evaluate-segmentation", "--model", str(tiny_segformer_dir), "--data", str(root), "--out", str(out),
               "--device", "cpu", "--batch-size", "2", "--no-progress"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "segmentation" and report["metric"] == "iou"
    assert report["scenarios"]["original"]["n"] == 4
    assert report["scenarios"]["blur_background"]["n_failed"] == 1
    preds = pd.read_parquet(out / "predictions.parquet")
    assert len(preds) == 6
    assert preds["iou"].between(0, 1).all() and preds["pixel_accuracy"].between(0, 1).all()
    for config, entry in report["scenarios"].items():
        assert entry["iou"] == pytest.approx(preds[preds["config"] == config]["iou"].mean())
    assert (out / "heatmap.png").is_file() and (out / "scenarios.png").is_file()


def test_unknown_object_label_is_an_error(tiny_segformer_dir, folder):
    with pytest.raises(ValueError, match=r"object label\(s\) 'zebra' are not labels of model"):
        evaluate_segmentation(str(tiny_segformer_dir), folder, object_labels=["zebra"], progress=False)


def test_callable_returning_nonsense_is_a_type_error(folder):
    with pytest.raises(TypeError, match="one prediction per image"), pytest.warns(UserWarning, match="skipped: failed"):
        evaluate_segmentation(lambda images: None, folder, progress=False)


# ----------------------------------------------------------- which labels are the object
def constant_segformer(directory, labels: list[str], constant: str):
    """A tiny Segformer whose every pixel is ``constant``: zero classifier weights, one-hot bias."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
        patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
        decoder_hidden_size=16, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    model = SegformerForSemanticSegmentation(config)
    with torch.no_grad():
        model.decode_head.classifier.weight.zero_()
        model.decode_head.classifier.bias.zero_()
        model.decode_head.classifier.bias[labels.index(constant)] = 10.0
    model.save_pretrained(directory)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def ade_labels():
    from ximagenet12.evaluation.labels import label_spaces

    labels = list(label_spaces()["ade20k-150"].labels)
    labels[7] = "bed "  # as the Hub's ADE20k SegFormer configs spell it
    return labels


@pytest.mark.slow
@pytest.mark.parametrize("constant", ["wall", "person"])
def test_ade20k_model_scores_things_as_object_and_stuff_as_background(constant, ade_labels, ev, tmp_path):
    """Constant stuff (wall) never overlaps the object: IoU 0. Constant thing (person) covers the
    whole image: IoU = the object's area, and the report warns that the mask covers everything."""
    root = ev.make_folder(tmp_path / "f", {"original": 4, "blur_background": 3, "image_grey": 2})
    model = constant_segformer(tmp_path / f"ade-{constant}", ade_labels, constant)
    if constant == "wall":
        r = evaluate_segmentation(str(model), root, progress=False, device="cpu")
        assert r.report["warnings"] == []
    else:
        with pytest.warns(UserWarning, match=r"covers >= 99% of the pixels in 9 of 9 images"):
            r = evaluate_segmentation(str(model), root, progress=False, device="cpu")
        assert "covers >= 99% of the pixels" in r.report["warnings"][0]
        from ximagenet12.evaluation.classification import summarise

        assert "-- UNRELIABLE: see the 1 warning(s)" in summarise(r.report)  # never a clean-looking score
    policy = r.report["object_labels"]
    assert policy["source"] == "label_space" and policy["space"] == "ade20k-150"
    assert "person" in policy["object"] and "wall" in policy["background"] and len(policy["object"]) == 100
    preds = r.predictions
    area = preds["true_fraction"]
    assert (area > 0.1).all()  # the fixture's objects are not empty, so IoU 0 is a real miss
    if constant == "wall":
        assert (preds["iou"] == 0.0).all() and (preds["predicted_fraction"] == 0.0).all()
        assert r.report["scenarios"]["original"]["iou"] == 0.0
    else:
        np.testing.assert_allclose(preds["iou"], area)
        for config, entry in r.report["scenarios"].items():
            assert entry["iou"] == pytest.approx(area[preds["config"] == config].mean())


def test_a_model_with_no_known_label_space_and_no_background_must_be_told(tmp_path, folder, capsys):
    model = constant_segformer(tmp_path / "m", ["foo", "bar", "baz"], "foo")
    with pytest.raises(ValueError, match=r"labels \('foo', 'bar', 'baz'\) match no known label space "
                                         r"\(ade20k-150, .*\) and include no background label; .*--object-labels"):
        evaluate_segmentation(str(model), folder, progress=False, device="cpu")
    capsys.readouterr()
    rc = main(["evaluate-segmentation", "--model", str(model), "--data", str(folder), "--out", str(tmp_path / "r"),
               "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err
    assert rc == 1 and "--background-labels" in err and len(err.strip().splitlines()) == 1
    # told: --background-labels bar,baz makes foo the object, which covers every pixel
    with pytest.warns(UserWarning, match="covers >= 99%"):
        r = evaluate_segmentation(str(model), folder, progress=False, device="cpu", background_labels=["bar", "baz"])
    assert r.report["object_labels"]["object"] == ["foo"]
    np.testing.assert_allclose(r.predictions["iou"], r.predictions["true_fraction"])


def test_option_errors_name_the_option(tiny_segformer_dir, folder):
    with pytest.raises(ValueError, match=r"background label\(s\) 'sky' are not labels of model .*--background-labels"):
        evaluate_segmentation(str(tiny_segformer_dir), folder, background_labels=["sky"], progress=False)
    with pytest.raises(ValueError, match="either object labels .* or background labels .*, not both"):
        evaluate_segmentation(str(tiny_segformer_dir), folder, object_labels=["object"], background_labels=["x"])
    with pytest.raises(ValueError, match="'efficientnet-lite0' is an image classifier"):
        evaluate_segmentation("efficientnet-lite0", folder, progress=False)


def test_segmentation_help_offers_no_classifier(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate-segmentation", "--help"])
    text = capsys.readouterr().out
    assert "efficientnet" not in text and "--object-labels" in text and "ade20k-150" in text


def test_full_cover_warning_rule():
    from ximagenet12.evaluation.segmentation import full_cover_warning

    policy = object_label_policy(["background", "cat"])
    assert full_cover_warning([1.0, 0.995, 0.2], policy).startswith("the predicted object covers >= 99% of the pixels in 2 of 3")
    assert full_cover_warning([1.0, 0.2], policy) is None  # half is not most
    assert full_cover_warning([], policy) is None


def test_the_low_resolution_argmax_matches_the_pipelines_post_processing(tiny_segformer_dir, ev, tmp_path, monkeypatch):
    """The fast path (argmax at output size, one map upsampled) against the pipeline's own
    post-processing (every class map upsampled, argmax at image size) on a random Segformer:
    the same object labels and masks that differ along label boundaries only."""
    from ximagenet12.evaluation import segmentation

    root = ev.make_folder(tmp_path / "f", {"original": 4, "blur_background": 3})
    fast = evaluate_segmentation(str(tiny_segformer_dir), root, progress=False, device="cpu", batch_size=3)
    monkeypatch.setattr(segmentation, "LOW_RES_ARGMAX", False)
    slow = evaluate_segmentation(str(tiny_segformer_dir), root, progress=False, device="cpu", batch_size=3)
    a, b = fast.predictions, slow.predictions
    assert list(a["source_id"]) == list(b["source_id"]) and len(a) == 7
    # this model's output map is 8 x 8: one output pixel is 1/64 of the image, so masks that
    # differ along label boundaries differ by a few percent of the image (realistic sizes:
    # a mean IoU difference of about 0.003, see benchmarks/bench_segmentation.py)
    assert (a["iou"] - b["iou"]).abs().mean() < 0.08 and (a["iou"] - b["iou"]).abs().max() < 0.15
    assert (a["predicted_fraction"] - b["predicted_fraction"]).abs().max() < 0.15
    assert fast.report["object_labels"] == slow.report["object_labels"]


def test_a_constant_model_gives_identical_masks_on_both_paths(ade_labels, ev, tmp_path, monkeypatch):
    from ximagenet12.evaluation import segmentation

    root = ev.make_folder(tmp_path / "f", {"original": 3})
    model = str(constant_segformer(tmp_path / "ade-person", ade_labels, "person"))
    with pytest.warns(UserWarning, match="covers >= 99%"):
        fast = evaluate_segmentation(model, root, progress=False, device="cpu")
    monkeypatch.setattr(segmentation, "LOW_RES_ARGMAX", False)
    with pytest.warns(UserWarning, match="covers >= 99%"):
        slow = evaluate_segmentation(model, root, progress=False, device="cpu")
    cols = ["source_id", "iou", "pixel_accuracy", "predicted_fraction", "object_segments"]
    assert fast.predictions[cols].equals(slow.predictions[cols])
    assert set(fast.predictions["object_segments"]) == {"person"}


def test_one_run_parses_the_dataset_card_once(tiny_segformer_dir, folder, monkeypatch):
    import huggingface_hub

    from ximagenet12.hub import validate as hub_validate

    hub_validate._PARSED_CARDS.clear()
    parsed = []
    real = huggingface_hub.RepoCard

    class Counting(real):
        def __init__(self, *args, **kwargs):
            parsed.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "RepoCard", Counting)
    evaluate_segmentation(str(tiny_segformer_dir), folder, progress=False, device="cpu")
    assert len(parsed) == 1
