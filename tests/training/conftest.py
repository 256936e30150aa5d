"""Fixtures for the training tests: built folders made in the test, tiny random models.

Folders follow the dataset-folder contract (card with ``configs:``, parquet shards with
embedded image bytes under ``data/<config>/``) and are written with ``datasets`` and the
builder's feature schema; scenario images come from the project's pure scenario
functions (``ximagenet12.scenarios.functional``), so each test states exactly what is in its data.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported

from ximagenet12.scenarios import functional as F  # noqa: E402
from ximagenet12.builder.schema import build_features  # noqa: E402

SIZE = 32
#: Background colours that encode the class in the planted-signal data.
PLANTED_COLOURS = [(220, 40, 40), (40, 200, 40), (40, 40, 220), (210, 210, 40)]
CLASS_NAMES = ["red", "green", "blue", "yellow"]
CLASS_KEYS = ["n00000001", "n00000002", "n00000003", "n00000004"]


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def planted_source(i: int, label: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image + mask whose class is decodable from the background only.

    The object (a central square) is grey noise drawn the same way for every class; the
    background is the class's colour plus noise.
    """
    rng = np.random.default_rng([seed, i])
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    a = 6 + int(rng.integers(0, 3))
    mask[a : SIZE - a, a : SIZE - a] = True
    background = np.clip(np.array(PLANTED_COLOURS[label]) + rng.normal(0, 25, (SIZE, SIZE, 3)), 0, 255)
    obj = np.repeat(rng.integers(60, 200, (SIZE, SIZE, 1)), 3, axis=2)
    image = np.where(mask[..., None], obj, background).astype(np.uint8)
    return image, mask


SCENARIO_FUNCTIONS: dict[str, Callable] = {
    "original": F.original,
    "no_fg": F.no_fg,
    "only_fg": F.only_fg,
    "blur_background": lambda im, m: F.blur_background(im, m, ksize=5, sigma=1.5),
    "blur_background_level3": lambda im, m: F.blur_background(im, m, ksize=9, sigma=3.0),
}


def write_folder(
    root: Path,
    *,
    per_class: int,
    configs: Sequence[str] = ("original", "no_fg", "only_fg"),
    classes: int = 4,
    seed: int = 0,
    bad: dict[str, set[int]] | None = None,
    source_id: Callable[[int, int], str] | None = None,
) -> Path:
    """A built folder of ``classes x per_class`` planted sources, one config per scenario."""
    import datasets
    import yaml

    names, keys = CLASS_NAMES[:classes], CLASS_KEYS[:classes]
    sources = [(i, i % classes) for i in range(classes * per_class)]
    for config in configs:
        records = []
        for i, label in sources:
            image, mask = planted_source(i, label, seed=seed)
            out = SCENARIO_FUNCTIONS[config](image, mask)
            data = b"not an image" if i in (bad or {}).get(config, set()) else encode(out.image)
            sid = source_id(i, label) if source_id else f"{keys[label]}_{i}"
            records.append({"image": {"bytes": data, "path": None}, "mask": {"bytes": encode(mask.astype(np.uint8) * 255), "path": None},
                            "label": label, "class_key": keys[label], "source_id": sid, "scenario": config,
                            "level": None, "seed": i, "provenance": "{}"})
        folder = root / "data" / config
        folder.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(records, features=build_features(names)).to_parquet(
            str(folder / "train-00000-of-00001.parquet"), batch_size=100)
    meta = {"license": "cc-by-4.0", "configs": [
        {"config_name": c, **({"default": True} if c == "original" else {}),
         "data_files": [{"split": "train", "path": f"data/{c}/train-*"}]} for c in configs]}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n# test\n", encoding="utf-8")
    (root / "build_info.json").write_text(json.dumps({"seed": seed, "scenarios": list(configs)}), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_vit_dir(tmp_path_factory, save_tiny_vit) -> Path:
    """A tiny random ImageNet-style ViT (10 labels), saved like a Hub model."""
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"), num_labels=10, size=SIZE)


@pytest.fixture(scope="session")
def planted(tmp_path_factory) -> Path:
    """4 classes x 12 planted sources; original, no_fg, only_fg."""
    return write_folder(tmp_path_factory.mktemp("planted"), per_class=12)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Two cores shared by parallel test workers: one intra-op thread each is faster than two fighting."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
