"""Tiny randomly initialised CLIP and SigLIP models, for offline tests of ``--task zero-shot``.

:func:`save_tiny_clip` builds a real ``CLIPModel`` from a small ``CLIPConfig`` (2-layer
text and vision towers of width 32, 32×32 images in 8×8 patches) and
:func:`save_tiny_siglip` a ``SiglipModel`` of the same size; both get a ``CLIPTokenizer``
over a character vocabulary (``model_max_length=77``, SPEC §8) and their family's image
processor, saved with ``save_pretrained``, so that
``pipeline("zero-shot-image-classification", model=folder)`` loads them like Hub models.
Their predictions are noise; nothing is downloaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["save_tiny_clip", "save_tiny_siglip", "TINY_CLIP_SIZE"]

#: The image side the tiny models' processors resize to.
TINY_CLIP_SIZE = 32
_TOWER = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2}


def _tokenizer() -> Any:
    from ximagenet12.scenarios.generation.testing import _tokenizer as character_tokenizer

    with tempfile.TemporaryDirectory() as vocab_dir:  # the vocabulary is saved again with the model
        return character_tokenizer(Path(vocab_dir))


def _text_config(tokenizer: Any, max_positions: int) -> dict:
    return {"vocab_size": len(tokenizer.get_vocab()), **_TOWER, "max_position_embeddings": max_positions,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}


def _save(model_class: Any, config: Any, processor: Any, tokenizer: Any, folder: Path, seed: int) -> Path:
    import torch

    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = model_class(config).eval()
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_clip(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build the tiny CLIP with fixed weights (torch seed ``seed``) and save it to ``folder``."""
    import transformers
    from transformers import CLIPConfig, CLIPModel

    tokenizer = _tokenizer()
    config = CLIPConfig(
        text_config=_text_config(tokenizer, 77),
        vision_config={"image_size": TINY_CLIP_SIZE, "patch_size": 8, **_TOWER},
        projection_dim=16,
    )
    processor_class = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    processor = processor_class(size={"shortest_edge": TINY_CLIP_SIZE},
                                crop_size={"height": TINY_CLIP_SIZE, "width": TINY_CLIP_SIZE})
    return _save(CLIPModel, config, processor, tokenizer, Path(folder), seed)


def save_tiny_siglip(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny SigLIP (sigmoid scores, ``logit_bias``) and save it to ``folder``.

    SigLIP's own tokenizer needs a SentencePiece model; the character ``CLIPTokenizer``
    stands in (the pipeline pads SigLIP prompts to 64 tokens whatever the tokenizer).
    """
    import transformers
    from transformers import SiglipConfig, SiglipModel

    tokenizer = _tokenizer()
    config = SiglipConfig(
        text_config=_text_config(tokenizer, 64),
        vision_config={"image_size": TINY_CLIP_SIZE, "patch_size": 8, **_TOWER},
    )
    processor_class = getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
    processor = processor_class(size={"height": TINY_CLIP_SIZE, "width": TINY_CLIP_SIZE})
    return _save(SiglipModel, config, processor, tokenizer, Path(folder), seed)
