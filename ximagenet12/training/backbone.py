"""The model a run trains: loaded with a new head over the dataset's classes, its head
found, and its pooled features (what the head sees) extracted for the linear probe.

Any ``AutoModelForImageClassification`` checkpoint works (Hub id, local folder, the
built-in EfficientNet-Lite models): it is loaded with ``num_labels`` = the dataset's
classes and ``ignore_mismatched_sizes=True``, the documented way to put a new head on a
classifier. The head is the last ``nn.Linear`` whose ``out_features`` is ``num_labels``
(``classifier`` in ViT/ConvNeXt/ResNet, ``net._fc`` in EfficientNet-Lite); the linear
probe's features are that layer's *input*, captured with a forward pre-hook, so they are
exactly the pooled representation the model's own head would use.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ximagenet12.evaluation import data as D
from ximagenet12.evaluation.models import (
    load_report,
    one_line,
    register_auto_classes,
    resolve_device,
    resolve_dtype,
    resolve_model_source,
)

__all__ = ["quiet_transformers", "LoadedModel", "load_for_training", "find_head", "extract_features", "install_head", "decode_all"]


@contextlib.contextmanager
def quiet_transformers():
    """transformers' warnings off for a block: the new head's "MISMATCH ... Reinit" load
    report and the Trainer's notes are expected here and would bury the run's own output."""
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


@dataclass
class LoadedModel:
    """A classifier with a fresh head over the dataset's classes, and its image processor."""

    name: str
    source: str
    kind: str  # builtin, local or hub
    model: Any
    processor: Any
    head_name: str
    device: torch.device


def find_head(model: nn.Module, num_labels: int) -> tuple[str, nn.Linear]:
    """``(qualified name, module)`` of the classification head (see the module docstring)."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == num_labels:
            found = (name, module)
    if found is None:
        raise ValueError(
            f"{type(model).__name__} has no linear layer with {num_labels} outputs after its head was resized: "
            "it cannot take a new classification head"
        )
    return found


def load_for_training(
    model: str | os.PathLike,
    *,
    class_names: Sequence[str],
    device: str = "auto",
    dtype: str | None = None,
    revision: str | None = None,
) -> LoadedModel:
    """The model with a new ``len(class_names)``-way head; ``ValueError`` if it cannot take one."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be a Hub id, a local folder or a built-in name, got {type(model).__name__}")
    register_auto_classes()
    dev = resolve_device(device)
    source, kind = resolve_model_source(model)
    id2label = dict(enumerate(class_names))
    options: dict[str, Any] = {"dtype": resolve_dtype(dtype)}
    if revision is not None:
        if kind != "hub":
            raise ValueError(f"--revision {revision!r} applies to Hub models only; {os.fspath(model)!r} is a {kind} model")
        options["revision"] = revision
    try:
        with quiet_transformers(), load_report() as report:
            net = AutoModelForImageClassification.from_pretrained(
                source, id2label=id2label, label2id={v: k for k, v in id2label.items()},
                ignore_mismatched_sizes=True, weights_only=True, **options,
            )
        processor = AutoImageProcessor.from_pretrained(source, **({"revision": revision} if revision else {}))
    except (OSError, ValueError, KeyError, RuntimeError, ImportError, TypeError, pickle.UnpicklingError) as exc:
        raise ValueError(
            f"model {os.fspath(model)!r} cannot take a new classification head of {len(class_names)} classes "
            f"(AutoModelForImageClassification + AutoImageProcessor): {one_line(exc)}"
        ) from exc
    head_name, _ = find_head(net, len(class_names))
    refusal = report.refusal(os.fspath(model), expected={head_name})  # the new head is new by design; the rest is not
    if refusal:
        raise ValueError(refusal)
    return LoadedModel(os.fspath(model), source, kind, net.to(dev).eval(), processor, head_name, dev)


def decode_all(images: Sequence[bytes], source_ids: Sequence[str]) -> list[Any]:
    """Decoded RGB images (alpha on black); a ``DecodeError`` in place of one that fails."""
    out: list[Any] = []
    for data, sid in zip(images, source_ids):
        try:
            out.append(D.decode_rgb({"bytes": data}, source_id=sid))
        except D.DecodeError as exc:
            out.append(exc)
    return out


def extract_features(
    loaded: LoadedModel,
    images: Sequence[bytes],
    *,
    source_ids: Sequence[str],
    batch_size: int,
    num_workers: int,
    progress: bool = False,
    desc: str = "features",
) -> tuple[np.ndarray, np.ndarray, list[dict], float]:
    """``(features float32 [n, d], ok bool [n], failures, forward seconds)``.

    Images are decoded and preprocessed by ``num_workers`` threads ahead of the forward
    passes (:func:`ximagenet12.evaluation.data.prefetch_batches`); an image that fails to
    decode gets a row of zeros, ``ok = False`` and an entry in ``failures``.
    """
    _, head = find_head(loaded.model, loaded.model.config.num_labels)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().float().cpu()))
    processor = loaded.processor

    def prepare(i: int) -> torch.Tensor:
        image = D.decode_rgb({"bytes": images[i]}, source_id=source_ids[i])
        return processor(image, return_tensors="pt")["pixel_values"]

    chunks: dict[int, np.ndarray] = {}
    failures: list[dict] = []
    forward_s = 0.0
    bar = D.progress_bar(progress, total=len(images), desc=desc)
    param = next(loaded.model.parameters())
    try:
        with torch.inference_mode():
            for batch in D.prefetch_batches(range(len(images)), prepare, batch_size=batch_size, num_workers=num_workers):
                good = [(i, x) for i, x in batch if not isinstance(x, D.DecodeError)]
                failures += [{"source_id": source_ids[i], "error": str(x)} for i, x in batch if isinstance(x, D.DecodeError)]
                if good:
                    pixels = torch.cat([x for _, x in good]).to(loaded.device, dtype=param.dtype)
                    started = time.perf_counter()
                    captured.clear()
                    loaded.model(pixel_values=pixels)
                    forward_s += time.perf_counter() - started
                    feats = captured[-1].reshape(len(good), -1).numpy()
                    for (i, _), f in zip(good, feats):
                        chunks[i] = f
                if bar is not None:
                    bar.update(len(batch))
    finally:
        hook.remove()
        if bar is not None:
            bar.close()
    if not chunks:
        raise ValueError(f"{desc}: none of the {len(images)} images could be decoded")
    dim = next(iter(chunks.values())).shape[0]
    features = np.zeros((len(images), dim), dtype=np.float32)
    ok = np.zeros(len(images), dtype=bool)
    for i, f in chunks.items():
        features[i], ok[i] = f, True
    return features, ok, failures, forward_s


def install_head(loaded: LoadedModel, weight: np.ndarray, bias: np.ndarray) -> None:
    """Write a fitted linear head (``weight [classes, d]``, ``bias [classes]``) into the model."""
    head = loaded.model.get_submodule(loaded.head_name)
    if tuple(head.weight.shape) != tuple(weight.shape):
        raise ValueError(f"head {loaded.head_name} has shape {tuple(head.weight.shape)}, fitted weights {weight.shape}")
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
