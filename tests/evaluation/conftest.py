"""Fixtures for the evaluator tests: tiny built folders, tiny random models, the real Lite0.

Built folders follow the dataset-folder contract (card with ``configs:``, parquet shards
with embedded image bytes under ``data/<config>/``); they are written with ``datasets``
directly (with the builder's feature schema), so these tests do not depend on the build code.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported

from ximagenet12.builder.schema import build_features  # noqa: E402

CLASS_NAMES = ["alligator lizard", "green lizard", "crayfish"]
CLASS_KEYS = ["n01689811", "n01693334", "n01985128"]
SIZE = 24


def encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def sample_arrays(i: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, i])
    image = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), dtype=np.uint8)
    a, b = 3 + i % 4, size - 3 - i % 3
    mask[a:b, a + 1 : b] = 255
    return image, mask


def write_config(root: Path, config: str, *, rows: int, seed: int = 0, rgba: bool = False,
                 bad_rows: tuple[int, ...] = (), images: list[np.ndarray] | None = None) -> list[dict]:
    import datasets

    records = []
    for i in range(rows):
        image, mask = sample_arrays(i, seed)
        if images is not None:
            image = images[i]
        label = i % len(CLASS_NAMES)
        if rgba:
            alpha = mask if config == "transparent_image" else np.full_like(mask, 255)
            rgb = image * (mask[..., None] > 0)
            data = encode(np.dstack([rgb, alpha]).astype(np.uint8), "PNG")
        else:
            data = encode(image, "JPEG")
        if i in bad_rows:
            data = b"this is not an image"
        records.append(
            {
                "image": {"bytes": data, "path": None},
                "mask": {"bytes": encode(mask, "PNG"), "path": None},
                "label": label,
                "class_key": CLASS_KEYS[label],
                "source_id": f"{CLASS_KEYS[label]}_{i}",
                "scenario": config,
                "level": None,
                "seed": i,
                "provenance": json.dumps({"i": i}),
            }
        )
    folder = root / "data" / config
    folder.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_list(records, features=build_features(CLASS_NAMES)) if records else datasets.Dataset.from_dict(
        {k: [] for k in build_features(CLASS_NAMES)}, features=build_features(CLASS_NAMES)
    )
    ds.to_parquet(str(folder / "train-00000-of-00001.parquet"), batch_size=100)
    return records


def write_card(root: Path, configs: dict[str, int]) -> None:
    import yaml

    meta = {
        "license": "cc-by-4.0",
        "pretty_name": "XImageNet-12 (test)",
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == "original" else {}),
                "data_files": [{"split": "train", "path": f"data/{name}/train-*"}],
            }
            for name in configs
        ],
    }
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n# test\n", encoding="utf-8")


def make_folder(root: Path, configs: dict[str, int] | None = None, **per_config) -> Path:
    """A built folder; ``per_config[name]`` holds extra write_config options."""
    configs = configs or {"original": 6, "blur_background": 6}
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, rows) in enumerate(configs.items()):
        opts = dict(per_config.get(name, {}))
        opts.setdefault("rgba", name in ("segmented_image", "transparent_image"))
        write_config(root, name, rows=rows, seed=k, **opts)
    write_card(root, configs)
    (root / "skipped.jsonl").write_text("", encoding="utf-8")
    (root / "build_info.json").write_text(json.dumps({"seed": 0, "scenarios": list(configs)}), encoding="utf-8")
    return root


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "built")


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory, save_tiny_vit):
    """A tiny random ViT fine-tuned (in name) on the test classes, saved like a Hub model."""
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"), CLASS_NAMES)


@pytest.fixture(scope="session")
def tiny_segformer_dir(tmp_path_factory):
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(0)
    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
        patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
        decoder_hidden_size=16, num_labels=2, id2label={0: "background", 1: "object"},
        label2id={"background": 0, "object": 1},
    )
    out = tmp_path_factory.mktemp("tiny-segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(out)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def lite0_pipeline():
    from ximagenet12.evaluation.models import load_pipeline

    return load_pipeline("efficientnet-lite0", task="image-classification", device="cpu")


@pytest.fixture(scope="session")
def ev():
    """The folder-writing helpers and class lists, for tests (conftest is not importable)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        CLASS_NAMES=CLASS_NAMES, CLASS_KEYS=CLASS_KEYS, make_folder=make_folder,
        write_config=write_config, write_card=write_card, encode=encode, sample_arrays=sample_arrays,
    )
