"""Fixtures for the publishing tests: a small built dataset folder and a loopback Hub.

The Hub server (``fake_hub.py`` next to this file) runs in a daemon thread on
127.0.0.1; client code runs in a subprocess whose ``HF_ENDPOINT`` points at it, because
``huggingface_hub`` and ``datasets`` read the endpoint when they are imported.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image


_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("ximagenet12_tests_fake_hub", _HERE / "fake_hub.py")
fake_hub = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fake_hub
_spec.loader.exec_module(fake_hub)

CLASS_NAMES = ["alligator lizard", "green lizard", "crayfish"]
CLASS_KEYS = ["n01689811", "n01693334", "n01985128"]


def _encode(array: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def write_config(root: Path, config: str, *, rows: int, shards: int = 1, seed: int = 0) -> list[dict]:
    """Write data/<config>/train-*.parquet the way the builder does; return the rows."""
    import datasets

    from ximagenet12.builder.schema import build_features  # imports datasets: not before HF_ENDPOINT is set

    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        image = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        mask = np.zeros((8, 8), dtype=np.uint8)
        mask[2:6, 2:6] = 255
        label = i % len(CLASS_NAMES)
        records.append(
            {
                "image": {"bytes": _encode(image, "JPEG"), "path": None},
                "mask": {"bytes": _encode(mask, "PNG"), "path": None},
                "label": label,
                "class_key": CLASS_KEYS[label],
                "source_id": f"{CLASS_KEYS[label]}_{i}",
                "scenario": config,
                "level": None,
                "seed": int(rng.integers(0, 2**62)),
                "provenance": json.dumps({"i": i}),
            }
        )
    folder = root / "data" / config
    folder.mkdir(parents=True, exist_ok=True)
    per_shard = -(-rows // shards)
    for s in range(shards):
        chunk = records[s * per_shard : (s + 1) * per_shard]
        ds = datasets.Dataset.from_list(chunk, features=build_features(CLASS_NAMES))
        ds.to_parquet(str(folder / f"train-{s:05d}-of-{shards:05d}.parquet"), batch_size=4)
    return records


def card_metadata(configs: dict[str, int], *, default: str = "original") -> dict:
    """Card metadata consistent with ``configs`` ({name: rows})."""
    features = [
        {"name": "image", "dtype": "image"},
        {"name": "mask", "dtype": "image"},
        {"name": "label", "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(CLASS_NAMES)}}}},
        {"name": "class_key", "dtype": "string"},
        {"name": "source_id", "dtype": "string"},
        {"name": "scenario", "dtype": "string"},
        {"name": "level", "dtype": "int32"},
        {"name": "seed", "dtype": "int64"},
        {"name": "provenance", "dtype": "string"},
    ]
    return {
        "license": "cc-by-4.0",
        "task_categories": ["image-classification", "image-segmentation"],
        "size_categories": ["n<1K"],
        "pretty_name": "XImageNet-12 (test)",
        "configs": [
            {
                "config_name": name,
                **({"default": True} if name == default else {}),
                "data_files": [{"split": "train", "path": f"data/{name}/train-*"}],
            }
            for name in configs
        ],
        "dataset_info": [
            {
                "config_name": name,
                "features": features,
                "splits": [{"name": "train", "num_bytes": 1000 * rows, "num_examples": rows}],
            }
            for name, rows in configs.items()
        ],
    }


def write_card(root: Path, meta: dict, body: str = "# XImageNet-12 (test)\n") -> None:
    import yaml

    text = "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body
    (root / "README.md").write_text(text, encoding="utf-8")


def make_folder(root: Path, configs: dict[str, int] | None = None, *, shards: int = 1) -> Path:
    configs = configs or {"original": 6, "blur_background": 6}
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, rows) in enumerate(configs.items()):
        write_config(root, name, rows=rows, shards=shards, seed=k)
    write_card(root, card_metadata(configs))
    (root / "skipped.jsonl").write_text("", encoding="utf-8")
    (root / "build_info.json").write_text(json.dumps({"seed": 0, "scenarios": list(configs)}), encoding="utf-8")
    return root


@pytest.fixture
def folders():
    """The folder-writing helpers, for tests that break a folder on purpose."""
    return SimpleNamespace(
        make_folder=make_folder, card_metadata=card_metadata, write_card=write_card, write_config=write_config
    )


@pytest.fixture
def built_folder(tmp_path) -> Path:
    """A valid two-config folder (6 rows each), shaped like the builder's output."""
    return make_folder(tmp_path / "built")


@pytest.fixture
def hub():
    """A loopback Hub on 127.0.0.1, stopped at teardown."""
    server = fake_hub.FakeHub()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def run_client(hub, tmp_path):
    """Run a Python snippet in a subprocess pointed at the loopback Hub; return it."""

    def run(code: str, *, token: str | None = "hf_test_token_not_secret", check: bool = True, timeout: int = 120):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(
            HF_ENDPOINT=hub.url,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_OFFLINE="0",
            HF_DATASETS_OFFLINE="0",
            HF_HOME=str(tmp_path / "hf_home"),
            HF_DATASETS_CACHE=str(tmp_path / "hf_datasets_cache"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_ETAG_TIMEOUT="30",
            HF_HUB_DOWNLOAD_TIMEOUT="30",
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
        )
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            env.pop(key, None)
        if token is not None:
            env["HF_TOKEN"] = token
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"client exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
                f"\n--- server log\n" + "\n".join(hub.log_lines())
            )
        return proc

    return run
