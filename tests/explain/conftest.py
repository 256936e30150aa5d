"""Fixtures for the explain tests: folders built from the embedded sample, tiny models, the real Lite0."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported


@pytest.fixture(scope="session")
def sample_folder(tmp_path_factory) -> Path:
    """The embedded sample (real photos with masks) built as only_fg and no_fg by the real builder."""
    from ximagenet12.builder.build import build_dataset

    out = tmp_path_factory.mktemp("explain-sample") / "built"
    build_dataset(None, out, scenarios="only_fg,no_fg", progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory, save_tiny_vit) -> Path:
    """A tiny random ViT whose labels are the sample's ImageNet classes, saved like a Hub model."""
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"), _sample_names())


@pytest.fixture(scope="session")
def tiny_resnet_dir(tmp_path_factory) -> Path:
    """A tiny random transformers ResNet (a CNN) with the sample's classes."""
    import torch
    from transformers import ConvNextImageProcessor, ResNetConfig, ResNetForImageClassification

    names = _sample_names()
    torch.manual_seed(0)
    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=len(names),
                          id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    out = tmp_path_factory.mktemp("tiny-resnet")
    ResNetForImageClassification(config).save_pretrained(out)
    ConvNextImageProcessor(size={"shortest_edge": 64}, crop_pct=1.0).save_pretrained(out)
    return out


def _sample_names() -> list[str]:
    from ximagenet12.builder.sample import sample_path

    names = json.loads((sample_path() / "classes.json").read_text(encoding="utf-8"))
    return [names[k] for k in sorted(names)]


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def write_folder(root: Path, rows: list[tuple[np.ndarray, np.ndarray, int]], *, config: str = "original",
                 class_names: list[str]) -> Path:
    """A one-config built folder (card + parquet with the builder's schema) from (image, mask, label) rows."""
    import datasets
    import yaml

    from ximagenet12.builder.schema import build_features

    records = [
        {"image": {"bytes": _png(img), "path": None}, "mask": {"bytes": _png(mask), "path": None}, "label": label,
         "class_key": "", "source_id": f"s{i}", "scenario": config, "level": None, "seed": i, "provenance": "{}"}
        for i, (img, mask, label) in enumerate(rows)
    ]
    folder = root / "data" / config
    folder.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(records, features=build_features(class_names)).to_parquet(
        str(folder / "train-00000-of-00001.parquet"))
    meta = {"configs": [{"config_name": config, "data_files": [{"split": "train", "path": f"data/{config}/train-*"}]}]}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def folder_writer():
    return write_folder


@pytest.fixture(scope="session")
def sample_names() -> list[str]:
    return _sample_names()


@pytest.fixture(scope="session")
def sample_size() -> int:
    """Samples in the embedded sample (rows per config of ``sample_folder``)."""
    from ximagenet12.builder.sample import sample_path

    return len(list((sample_path() / "image").glob("*/*")))
