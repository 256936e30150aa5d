"""A tiny randomly initialised SDXL inpainting pipeline, built once per test session.

It is the real ``StableDiffusionXLInpaintPipeline`` with SPEC §8's tiny components
(:func:`ximagenet12.scenarios.generation.testing.save_tiny_sdxl_inpainting`), saved with
``save_pretrained`` so the generator loads it the way it loads SDXL from a local
folder. Nothing touches the network.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from ximagenet12.scenarios.generation.testing import save_tiny_sdxl_inpainting

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a saved tiny SDXL inpainting pipeline."""
    return str(save_tiny_sdxl_inpainting(tmp_path_factory.mktemp("models") / "tiny-sdxl-inpaint"))


def _photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colourful test image (gradients plus noise), HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (height + width)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _box_mask(height: int = 48, width: int = 64, box=(12, 36, 20, 44)) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    y0, y1, x0, x1 = box
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture(scope="session")
def photo():
    """``photo(height, width, seed)``: a smooth colourful image."""
    return _photo


@pytest.fixture(scope="session")
def box_mask():
    """``box_mask(height, width, (y0, y1, x0, x1))``: a rectangular object."""
    return _box_mask


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny pipeline gains nothing from threads; under ``-n 2`` on two busy cores,
    torch's default threads oversubscribe the CPU (4x slower here), so use one per test."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
