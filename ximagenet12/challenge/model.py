"""The classifier under attack: the evaluator's model loading, label mapping and scoring.

Nothing here decides what a prediction means: the model is loaded by
:func:`ximagenet12.evaluation.models.load_pipeline`, its labels are mapped by
:func:`ximagenet12.evaluation.labels.map_labels` (a model whose labels do not map is
refused before any image is read), and each batch is scored by the evaluator's own
per-row scoring, in the mode asked for (``strict`` or ``restricted``). The only thing
added is the count of forward passes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ximagenet12.evaluation import classification as EC
from ximagenet12.evaluation.labels import SCORING_MODES, LabelMapping, ScoringMode, map_labels
from ximagenet12.evaluation.models import is_pipeline, load_pipeline, model_name

__all__ = ["Classifier", "Prediction"]


@dataclass(frozen=True)
class Prediction:
    correct: bool
    prediction: str | None  # the predicted class key (None: a model class outside the dataset's)
    score: float


class Classifier:
    """One forward pass per :meth:`predict` call; counts calls (``batches``) and images."""

    def __init__(self, model: str | os.PathLike | Any, *, class_names: Sequence[str], class_keys: Sequence[str],
                 mode: ScoringMode = "restricted", device: str = "auto"):
        if mode not in SCORING_MODES:
            raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(SCORING_MODES)}")
        self.mode = mode
        self.keys = list(class_keys)
        self.name = model_name(model)
        self.pipe = load_pipeline(model, task="image-classification", device=device)
        self.mapping: LabelMapping | None = None
        self.resolver = None
        if is_pipeline(self.pipe):
            self.mapping = map_labels(EC._model_labels(self.pipe), list(class_names), self.keys, model=self.name)
        else:
            self.resolver = EC._LabelResolver(list(class_names), self.keys)
        self.batches = 0
        self.images = 0

    def describe(self) -> dict:
        return self.mapping.describe() if self.mapping else {"kind": "callable labels"}

    def predict(self, images: Sequence[np.ndarray], labels: Sequence[int], source_ids: Sequence[str]) -> list[Prediction]:
        """Predictions for RGB arrays whose true classes are ``labels`` (one forward pass)."""
        pil = [Image.fromarray(a) for a in images]
        rows = [{"label": int(y), "source_id": s} for y, s in zip(labels, source_ids)]
        if self.mapping is not None:
            inputs = [self.pipe.preprocess(im) for im in pil]
            logits = np.zeros((len(pil), len(self.mapping.model_labels)), dtype=np.float32)
            for positions, batch in EC._collate(inputs):
                logits[positions] = self.pipe.forward(batch)["logits"].float().numpy()
            scored = EC._score_pipeline("worst_background", rows, logits, self.mapping, self.keys)
        else:
            scored = EC._score_callable("worst_background", rows, self.pipe(pil), self.resolver, self.keys)
        self.batches += 1
        self.images += len(pil)
        m = self.mode
        return [Prediction(bool(r[f"{m}_correct"]), r[f"{m}_prediction"], float(r[f"{m}_score"])) for r in scored]
