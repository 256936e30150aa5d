"""A tiny randomly initialised SDXL inpainting pipeline, for offline tests and benchmarks.

:func:`save_tiny_sdxl_inpainting` builds the real ``StableDiffusionXLInpaintPipeline``
from SPEC §8's tiny components (a 2-block ``UNet2DConditionModel``, a 2-block
``AutoencoderKL``, two 5-layer CLIP text encoders, ``EulerDiscreteScheduler`` and a
``CLIPTokenizer`` over a 84-token character vocabulary) and saves it with
``save_pretrained``. Its native resolution is 64×64 and it runs on a CPU in a fraction
of a second; its pictures are noise. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["save_tiny_sdxl_inpainting", "TINY_SIZE"]

#: Native resolution: UNet sample_size 32 × vae_scale_factor 2.
TINY_SIZE = 64


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


def save_tiny_sdxl_inpainting(folder: str | os.PathLike[str]) -> Path:
    """Build the tiny pipeline with fixed weights (torch seed 0) and save it to ``folder``."""
    folder = Path(folder)
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    generator_state = torch.random.get_rng_state()
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
    with tempfile.TemporaryDirectory() as vocab_dir:
        tokenizer = _tokenizer(Path(vocab_dir))
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(config),
        text_encoder_2=CLIPTextModelWithProjection(config),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    )
    torch.random.set_rng_state(generator_state)  # leave the caller's global torch RNG as it was
    pipe.save_pretrained(folder)
    return folder
