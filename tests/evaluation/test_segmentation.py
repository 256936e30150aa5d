"""EX3: object masks from an image-segmentation pipeline, IoU / pixel accuracy, oracle check."""

from __future__ import annotations

import io
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
