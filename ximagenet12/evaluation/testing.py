"""A tiny randomly initialised CLIP, for offline tests and benchmarks of ``--task zero-shot``.

:func:`save_tiny_clip` builds a real ``CLIPModel`` from a small ``CLIPConfig`` (2-layer
text and vision towers of width 32, 32×32 images in 8×8 patches), a ``CLIPTokenizer``
over a character vocabulary written next to it (``model_max_length=77``, SPEC §8) and a
``CLIPImageProcessor``, and saves them with ``save_pretrained``, so that
``pipeline("zero-shot-image-classification", model=folder)`` loads it like a Hub model.
Its predictions are noise; nothing is downloaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["save_tiny_clip", "TINY_CLIP_SIZE"]

#: The image side the tiny CLIP's processor resizes and crops to.
TINY_CLIP_SIZE = 32


def save_tiny_clip(folder: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build the tiny CLIP with fixed weights (torch seed ``seed``) and save it to ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from ximagenet12.generation.testing import _tokenizer

    folder = Path(folder)
    with tempfile.TemporaryDirectory() as vocab_dir:  # the vocabulary files are saved again with the processor
        tokenizer = _tokenizer(Path(vocab_dir))
    vocab_size = len(tokenizer.get_vocab())
    config = CLIPConfig(
        text_config={"vocab_size": vocab_size, "hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4,
                     "num_hidden_layers": 2, "max_position_embeddings": 77, "bos_token_id": 0, "eos_token_id": 1,
                     "pad_token_id": 1},
        vision_config={"image_size": TINY_CLIP_SIZE, "patch_size": 8, "hidden_size": 32, "intermediate_size": 37,
                       "num_attention_heads": 4, "num_hidden_layers": 2},
        projection_dim=16,
    )
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    finally:
        torch.random.set_rng_state(state)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": TINY_CLIP_SIZE},
                                           crop_size={"height": TINY_CLIP_SIZE, "width": TINY_CLIP_SIZE}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
