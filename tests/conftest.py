"""Fixtures every test folder shares."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory):
    """Converted built-in models go to a per-session cache, not the user's home."""
    old = os.environ.get("XIMAGENET12_CACHE")
    os.environ["XIMAGENET12_CACHE"] = str(tmp_path_factory.mktemp("ximagenet12-cache"))
    yield
    if old is None:
        os.environ.pop("XIMAGENET12_CACHE", None)
    else:
        os.environ["XIMAGENET12_CACHE"] = old


def _save_tiny_vit(out, labels=None, *, num_labels: int | None = None, seed: int = 0, size: int = 32, **config):
    """A tiny random ViT (2 layers, width 32) and its processor saved in ``out`` like a Hub model.

    ``labels``: class names for id2label/label2id; else ``num_labels`` anonymous classes.
    Extra keyword arguments go to ``ViTConfig``.
    """
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    if labels is not None:
        config.update(num_labels=len(labels), id2label=dict(enumerate(labels)),
                      label2id={n: i for i, n in enumerate(labels)})
    else:
        config["num_labels"] = num_labels
    torch.manual_seed(seed)
    vit = ViTConfig(image_size=size, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=37, **config)
    ViTForImageClassification(vit).save_pretrained(out)
    ViTImageProcessor(size={"height": size, "width": size}).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def save_tiny_vit():
    """The function that writes a tiny random ViT folder (see :func:`_save_tiny_vit`)."""
    return _save_tiny_vit
