"""Fine-tuning through transformers.Trainer on a tiny ViT built here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ximagenet12.training.api import train
from ximagenet12.training.finetune import FinetuneOptions, ImageDataset, finetune

from .conftest import CLASS_NAMES, encode, planted_source

FT = dict(progress=False, num_workers=0, batch_size=8, method="finetune", epochs=3, lr=3e-3, patience=1)


def dataset(indices, processor) -> ImageDataset:
    images, labels = [], []
    for i in indices:
        image, _ = planted_source(i, i % 4)
        images.append(encode(image))
        labels.append(i % 4)
    return ImageDataset(images, labels, [f"s{i}" for i in indices], processor)


def test_the_best_validation_epoch_is_the_model_kept(tiny_vit_dir, tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_pretrained(
        tiny_vit_dir, id2label=dict(enumerate(CLASS_NAMES)), label2id={n: i for i, n in enumerate(CLASS_NAMES)},
        ignore_mismatched_sizes=True)
    proc = AutoImageProcessor.from_pretrained(tiny_vit_dir)
    val = dataset(range(24, 32), proc)
    options = FinetuneOptions(epochs=4, lr=5e-2, batch_size=8, patience=4, seed=0)  # a large lr: epochs differ
    result = finetune(model, proc, train=dataset(range(24), proc), val=val, test=val, options=options, workdir=tmp_path)
    assert [p["epoch"] for p in result.curve] == [1, 2, 3, 4]
    assert all(p["train_accuracy"] is not None and p["val_accuracy"] is not None for p in result.curve)
    best = max(result.curve, key=lambda p: (p["val_accuracy"], -p["epoch"]))
    assert result.best_epoch == best["epoch"]
    # the test logits come from the restored best weights: their accuracy on val is the best val accuracy
    acc = float(np.mean(result.logits.argmax(1) == np.array(val.labels)))
    assert acc == pytest.approx(best["val_accuracy"])
    assert not list(tmp_path.glob("trainer-*"))  # the Trainer's output folder is removed


@pytest.mark.slow
def test_ex2_finetune_writes_folds_curves_and_fold_models(planted, tiny_vit_dir, tmp_path):
    out = tmp_path / "ex2"
    result = train(tiny_vit_dir, planted, out=out, protocol="ex2", scenarios="original", folds=2, save_models=True, **FT)
    entry = result.report["scenarios"]["original"]
    assert entry["n"] == 48 and [f["n"] for f in entry["folds"]] == [24, 24]
    for f in entry["folds"]:
        assert f["train_n"] + f["val_n"] == 24 and f["val_n"] == 4  # 10 % of each class's 6 sources, at least 1
        assert 1 <= f["epochs"] <= 3 and f["epochs_unit"] == "epochs"
        assert [p["epoch"] for p in f["curve"]] == list(range(1, f["epochs"] + 1))
    assert entry["accuracy"] >= 0.75  # the background colour is easy to learn
    for k in (0, 1):
        assert (out / "models" / "original" / f"fold-{k:02d}" / "config.json").is_file()
    assert (out / "curves.png").is_file() and "## Training" in (out / "report.md").read_text()
    assert set(pd.read_parquet(out / "predictions.parquet")["fold"]) == {0, 1}


@pytest.mark.slow
def test_ex1_finetune_saves_the_model_that_made_its_predictions(planted, tiny_vit_dir, tmp_path):
    from .test_protocols import predict_in_plain_transformers

    out = tmp_path / "ex1"
    train(tiny_vit_dir, planted, out=out, protocol="ex1", folds=4, **FT)
    preds = pd.read_parquet(out / "predictions.parquet")
    original = preds[preds["config"] == "original"]
    got = predict_in_plain_transformers(out / "model", planted, original["source_id"].tolist())
    names = {"n00000001": "red", "n00000002": "green", "n00000003": "blue", "n00000004": "yellow"}
    assert got == {s: names[p] for s, p in zip(original["source_id"], original["prediction"])}
    training = json.loads((out / "ex1_training.json").read_text())
    assert training["train_n"] + training["val_n"] == 36


# --------------------------------------------------------------------------- mixed precision without a GPU
def _head_dtypes(tiny_vit_dir, tmp_path, mixed_precision: str) -> set:
    """(output dtype, CPU autocast on, training) of every call of the new head during one fold."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_pretrained(
        tiny_vit_dir, id2label=dict(enumerate(CLASS_NAMES)), label2id={n: i for i, n in enumerate(CLASS_NAMES)},
        ignore_mismatched_sizes=True)
    proc = AutoImageProcessor.from_pretrained(tiny_vit_dir)
    seen = set()
    model.classifier.register_forward_hook(
        lambda m, args, out: seen.add((out.dtype, torch.is_autocast_enabled("cpu"), m.training)))
    options = FinetuneOptions(epochs=1, lr=1e-3, batch_size=8, patience=1, seed=0, mixed_precision=mixed_precision)
    result = finetune(model, proc, train=dataset(range(16), proc), val=dataset(range(16, 24), proc),
                      test=dataset(range(16, 24), proc), options=options, workdir=tmp_path)
    assert result.logits.shape == (8, 4) and np.isfinite(result.logits).all()
    assert next(model.parameters()).dtype == torch.float32  # autocast: the weights stay float32
    return seen


def test_bf16_runs_on_cpu_under_torch_autocast_through_the_trainer(tiny_vit_dir, tmp_path):
    assert _head_dtypes(tiny_vit_dir, tmp_path, "bf16") == {(torch.bfloat16, True, True), (torch.bfloat16, True, False)}
    # the control: without mixed precision the same head computes in float32, autocast off
    assert _head_dtypes(tiny_vit_dir, tmp_path, "no") == {(torch.float32, False, True), (torch.float32, False, False)}


def test_fp16_without_cuda_is_refused_in_one_line_before_training(planted, tiny_vit_dir, tmp_path, monkeypatch, capsys):
    from ximagenet12.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^--mixed-precision fp16 needs a CUDA device \(this machine has no CUDA "
                                         r"device\): use --mixed-precision bf16 \(CPU autocast\) or no$"):
        train(tiny_vit_dir, planted, out=tmp_path / "run", protocol="ex2", mixed_precision="fp16", device="auto",
              folds=2, **FT)
    argv = ["train", "--protocol", "ex2", "--method", "finetune", "--model", str(tiny_vit_dir), "--data", str(planted),
            "--out", str(tmp_path / "cli-run"), "--mixed-precision", "fp16", "--folds", "2", "--no-progress"]
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ximagenet12 train: error: --mixed-precision fp16 needs a CUDA device (this machine has no CUDA "
                   "device): use --mixed-precision bf16 (CPU autocast) or no"]
    assert not (tmp_path / "run").exists() and not (tmp_path / "cli-run").exists()


def test_train_passes_bf16_to_the_trainer_of_every_fold(planted, tiny_vit_dir, tmp_path, monkeypatch):
    from ximagenet12.training import finetune as ft

    real, seen = ft.build_trainer, []

    def recording(*args, **kwargs):
        trainer = real(*args, **kwargs)
        seen.append((trainer.args.bf16, trainer.accelerator.mixed_precision, str(trainer.args.device)))
        return trainer

    monkeypatch.setattr(ft, "build_trainer", recording)
    opts = {**FT, "epochs": 1}
    result = train(tiny_vit_dir, planted, out=tmp_path / "run", protocol="ex2", scenarios="original", folds=2,
                   mixed_precision="bf16", device="cpu", **opts)
    assert seen == [(True, "bf16", "cpu")] * 2
    assert result.report["training"]["mixed_precision"] == "bf16" and result.report["scenarios"]["original"]["n"] == 48
