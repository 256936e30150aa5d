"""``evaluate --engine ray``: configs sharded over model replicas merge into the local report."""

from __future__ import annotations

import json

import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.builder.sample import sample_source

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]

CONFIGS = ["original", "blur_background", "image_grey", "segmented_image", "mixed_same"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "sample"
    build_dataset(None, out, scenarios=CONFIGS, progress=False)
    return out


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory, built):
    """A tiny random ViT whose labels are the sample's classes, saved like a Hub model."""
    import datasets
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    names = datasets.load_dataset(str(built), "original", split="train").features["label"].names
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, num_labels=len(names), id2label=dict(enumerate(names)),
                       label2id={n: i for i, n in enumerate(names)})
    out = tmp_path_factory.mktemp("tiny-vit")
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return str(out)


def test_evaluate_on_two_replicas_gives_the_local_report(built, tiny_vit, ray_cluster, tmp_path, capsys):
    from ximagenet12.cli import main
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import read_report

    local = evaluate_classification(tiny_vit, built, device="cpu", num_workers=0, progress=False)
    assert main(["evaluate", "--model", tiny_vit, "--data", str(built), "--out", str(tmp_path / "ray"),
                 "--device", "cpu", "--num-workers", "0", "--engine", "ray", "--replicas", "2", "--no-progress"]) == 0
    assert "report written to" in capsys.readouterr().out
    merged = read_report(tmp_path / "ray")
    assert merged["replicas"] == 2
    assert list(merged["scenarios"]) == list(local.report["scenarios"]) == CONFIGS
    expected = json.loads(json.dumps(local.report, default=str))  # as report.json stores it
    for config in CONFIGS:  # every per-config figure but its wall time
        merged["scenarios"][config].pop("seconds"), expected["scenarios"][config].pop("seconds")
        assert merged["scenarios"][config] == expected["scenarios"][config]
        assert merged["scenarios"][config]["n"] == len(sample_source())
    assert merged["robustness"] == expected["robustness"]
    assert merged["robustness_by_mode"] == expected["robustness_by_mode"]
    import pandas as pd

    predictions = pd.read_parquet(tmp_path / "ray" / "predictions.parquet")
    assert predictions.drop(columns=["score", "strict_score", "restricted_score"]).equals(
        local.predictions.drop(columns=["score", "strict_score", "restricted_score"]))
    assert predictions["score"].to_numpy() == pytest.approx(local.predictions["score"].to_numpy(), abs=1e-5)
