"""Does the repainted background alone give the class away? A check of built ``ai_background`` rows.

A diffusion model prompted with the class ("a red fox in a forest") may paint a second
fox, or fox-like texture, into the background. A model that then recognises the object on
an ``ai_background`` image may be reading the background, and the scenario no longer
tests what it claims to. :func:`check_background_leak` blacks out the object (every mask
pixel set to 0), classifies what is left with a classifier (the built-in EfficientNet-Lite0
by default) and flags each row whose background alone gets the row's class with a
probability (softmax over all the classifier's outputs) of at least ``threshold``.

The outcome is written into the build: each ``ai_background`` row's ``provenance`` gains
``background_leak`` (the flag), ``background_leak_score``, and the classifier and threshold
used; the card gets a section with the number of flagged rows per config. Shards are
rewritten to a temporary name and moved into place, never half-written under their name.
"""

from __future__ import annotations

from ximagenet12.core.constants import DEFAULT_LEAK_CLASSIFIER, DEFAULT_LEAK_THRESHOLD

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["check_background_leak", "LeakSummary", "DEFAULT_LEAK_CLASSIFIER", "DEFAULT_LEAK_THRESHOLD",
           "black_out_object"]

_BATCH = 16
_CARD_BEGIN = "<!-- ximagenet12:background-leak -->"
_CARD_END = "<!-- /ximagenet12:background-leak -->"


@dataclass
class LeakSummary:
    """Rows checked and flagged per config, with the classifier and threshold used."""

    classifier: str
    threshold: float
    checked: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{config}: {self.flagged[config]} of {n} row(s) flagged (background alone classified as the "
                f"object's class with p ≥ {self.threshold:g} by {self.classifier})" for config, n in self.checked.items()]


def black_out_object(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` (HxWx3 uint8) with every object pixel (``mask`` non-zero) set to black."""
    if image.shape[:2] != mask.shape[:2]:
        raise ValueError(f"mask {mask.shape[1]}×{mask.shape[0]} does not match image {image.shape[1]}×{image.shape[0]}")
    out = image.copy()
    out[np.asarray(mask) != 0] = 0
    return out


def _configs(folder: Path) -> list[str]:
    data = folder / "data"
    return sorted(p.name for p in data.iterdir() if p.is_dir() and re.fullmatch(r"ai_background(_level\d+)?", p.name)) \
        if data.is_dir() else []


class _Classifier:
    def __init__(self, model: str, *, device: str, class_names: list[str], class_keys: list[str]) -> None:
        from ximagenet12.evaluation.classification import _model_labels
        from ximagenet12.evaluation.labels import map_labels
        from ximagenet12.evaluation.models import load_pipeline

        self.pipe = load_pipeline(model, task="image-classification", device=device)
        self.mapping = map_labels(_model_labels(self.pipe), class_names, class_keys, model=model)

    def class_probability(self, images: list[np.ndarray], labels: list[int]) -> np.ndarray:
        import torch
        from PIL import Image

        inputs = self.pipe.image_processor(images=[Image.fromarray(a) for a in images], return_tensors="pt")
        inputs = {k: v.to(self.pipe.model.device) for k, v in inputs.items()}
        with torch.no_grad():
            logits = self.pipe.model(**inputs).logits.float().cpu().numpy()
        z = logits - logits.max(axis=1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        columns = [self.mapping.model_index[label] for label in labels]
        return prob[np.arange(len(labels)), columns]


def _decode(cell: dict, *, where: str, mode: str) -> np.ndarray:
    from PIL import Image

    if not cell or not cell.get("bytes"):
        raise ValueError(f"{where}: no image bytes to check")
    with Image.open(io.BytesIO(cell["bytes"])) as im:
        return np.asarray(im.convert(mode))


def _check_shard(path: Path, classifier: _Classifier, *, threshold: float, name: str) -> tuple[int, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    rows_per_group = max(parquet.metadata.row_group(0).num_rows if parquet.metadata.num_row_groups else 1, 1)
    table = parquet.read()
    rows = table.select(["image", "mask", "label", "source_id", "provenance"]).to_pylist()
    scores = []
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start:start + _BATCH]
        images = [black_out_object(_decode(r["image"], where=f"{path.name} row {r['source_id']}", mode="RGB"),
                                   _decode(r["mask"], where=f"{path.name} row {r['source_id']}", mode="L"))
                  for r in chunk]
        scores.extend(classifier.class_probability(images, [int(r["label"]) for r in chunk]).tolist())
    provenance = []
    for r, score in zip(rows, scores):
        record = json.loads(r["provenance"]) if r["provenance"] else {}
        record.update(background_leak=bool(score >= threshold), background_leak_score=round(float(score), 6),
                      background_leak_classifier=name, background_leak_threshold=threshold)
        provenance.append(json.dumps(record, sort_keys=True))
    index = table.schema.get_field_index("provenance")
    table = table.set_column(index, table.schema.field(index), pa.array(provenance, pa.string()))
    tmp = path.with_name(f".{path.name}.leak-check.tmp")
    pq.write_table(table, tmp, row_group_size=rows_per_group)
    os.replace(tmp, path)
    return len(rows), sum(s >= threshold for s in scores)


def _update_card(folder: Path, summary: LeakSummary) -> None:
    card = folder / "README.md"
    if not card.is_file():
        return
    text = card.read_text(encoding="utf-8")
    total = sum(summary.flagged.values())
    section = (
        f"{_CARD_BEGIN}\n## Background leak check (`ai_background`)\n\n"
        f"The object was blacked out and the background alone classified by `{summary.classifier}`. "
        f"**{total} of {sum(summary.checked.values())} row(s)** have a background classified as the object's class "
        f"with probability ≥ {summary.threshold:g}; their `provenance` says `\"background_leak\": true` (with "
        "`background_leak_score`). A model's accuracy on those rows may come from the background.\n\n"
        + "\n".join(f"- `{config}`: {summary.flagged[config]} of {n} flagged" for config, n in summary.checked.items())
        + f"\n{_CARD_END}\n"
    )
    pattern = re.compile(re.escape(_CARD_BEGIN) + r".*?" + re.escape(_CARD_END) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    tmp = card.with_name(".README.md.leak-check.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, card)


def check_background_leak(folder: str | os.PathLike, *, classifier: str = DEFAULT_LEAK_CLASSIFIER,
                          threshold: float = DEFAULT_LEAK_THRESHOLD, device: str = "auto") -> LeakSummary:
    """Check every ``ai_background`` config of the built folder ``folder`` (see the module doc)."""
    from ximagenet12.evaluation.data import class_info

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"leak threshold must be in (0, 1], got {threshold}")
    root = Path(folder)
    configs = _configs(root)
    if not configs:
        raise ValueError(f"{str(root)!r} has no ai_background config to check (data/ai_background/ is missing)")
    summary = LeakSummary(classifier=os.fspath(classifier), threshold=threshold)
    model = None
    for config in configs:
        if model is None:
            names, keys = class_info(root, config)
            model = _Classifier(os.fspath(classifier), device=device, class_names=names, class_keys=keys)
        checked = flagged = 0
        for shard in sorted((root / "data" / config).glob("*.parquet")):
            n, f = _check_shard(shard, model, threshold=threshold, name=summary.classifier)
            checked, flagged = checked + n, flagged + f
        summary.checked[config], summary.flagged[config] = checked, flagged
    _update_card(root, summary)
    return summary
