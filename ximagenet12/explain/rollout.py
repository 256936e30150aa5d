"""Attention rollout (Abnar & Zuidema, 2020) for ViT-style models.

Hand-written because it is a few lines of matrix algebra on the attention maps a
``transformers`` model already returns (``output_attentions=True``), and the libraries
that ship it (``grad-cam``, ``timm`` utilities) need ``torchvision`` or a timm model.

For each layer ``l`` with attention ``A_l`` (batch x heads x tokens x tokens): average
the heads, add the residual connection as the identity and renormalise the rows,
``Â_l = (mean_h A_l + I) / 2`` (rows sum to 1 again); the rollout is the product
``R = Â_L · … · Â_1``. The map of an image is the row of the class token (token 0) over
the patch tokens (the last ``grid_h * grid_w`` tokens: distillation or register tokens
between them are dropped), reshaped to the patch grid.

Rollout does not depend on the target class: it says where the class token reads from.
"""

from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["attention_rollout", "rollout_maps"]


def attention_rollout(attentions: Sequence[torch.Tensor]) -> torch.Tensor:
    """``R = Â_L ... Â_1`` (batch x tokens x tokens) from per-layer attentions (batch x heads x T x T)."""
    if not attentions:
        raise ValueError("attention rollout needs at least one layer of attention maps; the model returned none")
    first = attentions[0]
    if first.ndim != 4 or first.shape[-1] != first.shape[-2]:
        raise ValueError(f"attention maps must be batch x heads x tokens x tokens, got {tuple(first.shape)}")
    tokens = first.shape[-1]
    eye = torch.eye(tokens, dtype=torch.float64, device=first.device)
    rollout = eye.expand(first.shape[0], tokens, tokens)
    for layer in attentions:
        if tuple(layer.shape) != tuple(first.shape[:1]) + tuple(layer.shape[1:2]) + (tokens, tokens):
            raise ValueError(f"attention maps of different sizes: {tuple(first.shape)} and {tuple(layer.shape)}")
        a = layer.detach().to(torch.float64).mean(dim=1)
        a = (a + eye) / 2.0
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a @ rollout
    return rollout


def rollout_maps(attentions: Sequence[torch.Tensor], *, grid: tuple[int, int]) -> torch.Tensor:
    """Class-token rollout over the patch grid: batch x grid_h x grid_w (float64)."""
    rollout = attention_rollout(attentions)
    gh, gw = grid
    patches = gh * gw
    tokens = rollout.shape[-1]
    if patches < 1 or patches >= tokens:
        raise ValueError(
            f"a {gh} x {gw} patch grid does not fit {tokens} tokens (expected a class token plus the patches)"
        )
    return rollout[:, 0, tokens - patches :].reshape(-1, gh, gw)
