"""A tiny randomly initialised SDXL inpainting pipeline, built once per test session.

It is the real ``StableDiffusionXLInpaintPipeline`` with SPEC §8's tiny components,
saved with ``save_pretrained`` so the generator loads it the way it loads SDXL from a
local folder. Nothing touches the network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZE = 64  # the tiny UNet's sample_size 32 × vae_scale_factor 2


def _tokenizer(folder: Path):
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789-,.'":
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    # model_max_length=77: without it tokenisation fails with OverflowError (SPEC §8)
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def build_tiny_sdxl_inpainting(folder: Path) -> Path:
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=128,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )
    tokenizer = _tokenizer(folder.parent / f"{folder.name}-tokenizer")
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(config),
        text_encoder_2=CLIPTextModelWithProjection(config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Folder of a saved tiny SDXL inpainting pipeline."""
    return str(build_tiny_sdxl_inpainting(tmp_path_factory.mktemp("models") / "tiny-sdxl-inpaint"))


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
