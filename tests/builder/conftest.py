"""Fixtures for the builder tests: one build of the embedded sample, tiny release folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ximagenet12.builder import build_dataset
from ximagenet12.builder.sample import sample_source

#: A few configs with every kind of input: plain, random, RGBA, background photo, donor.
SMALL_SCENARIOS = ["original", "image_rainbow", "transparent_image", "random_background", "mixed_rand"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory):
    """Every paper-level scenario of the embedded sample, built once."""
    out = tmp_path_factory.mktemp("sample") / "built"
    summary = build_dataset(sample_source(), out, scenarios="all", progress=False)
    return out, summary


def write_release(root, classes: dict[str, int], *, size=(40, 56), seed=0):
    """A release layout with ``classes[wnid]`` random photos each and a box mask."""
    rng = np.random.default_rng(seed)
    h, w = size
    for wnid, n in classes.items():
        (root / "image" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "masks" / wnid).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            mask = np.zeros((h, w), np.uint8)
            top, left = int(rng.integers(2, h // 3)), int(rng.integers(2, w // 3))
            mask[top : top + h // 2, left : left + w // 2] = 255
            Image.fromarray(photo).save(root / "image" / wnid / f"{wnid}_{k}.JPEG", quality=95)
            Image.fromarray(mask).save(root / "masks" / wnid / f"{wnid}_{k}.png")
    return root


@pytest.fixture
def release(tmp_path):
    """Two classes of three tiny samples each."""
    return write_release(tmp_path / "release", {"n01000001": 3, "n01000002": 3})


@pytest.fixture
def make_release():
    """The :func:`write_release` helper, for tests that need their own layout."""
    return write_release


@pytest.fixture
def small_scenarios():
    return list(SMALL_SCENARIOS)
