"""The search: per sample, try candidate backgrounds in a fixed seeded order until one fools the model.

For each sample the model first sees the original (batched with other originals). A
sample it already gets wrong is recorded as such and not searched. Otherwise its first
``N`` candidates (:func:`~ximagenet12.challenge.candidates.candidate_order`) are
composited under its object ``batch_size`` at a time, one forward pass per batch; the
search stops after the first batch that holds a fooling composite, and the *first*
fooling candidate in the order is the one recorded. So the result does not depend on
the batch size, and the images forwarded per sample are at most ``1 + N`` (at most
``batch_size - 1`` past the fooling one).

Worst-case accuracy at budget ``n`` is the share of samples that are right on the
original and on each of their first ``n`` candidates; ``n = 0`` is the plain accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ximagenet12.challenge.candidates import Candidate, ChallengeSample, ImageStore, candidate_order, compose
from ximagenet12.challenge.model import Classifier, Prediction
from ximagenet12.core.types import ScenarioOutput

__all__ = ["Outcome", "search_sample", "check_originals", "worst_case_curve", "per_class"]


@dataclass
class Outcome:
    """What the search found for one sample."""

    sample: ChallengeSample
    original: Prediction
    available: int  # candidates in this sample's order (at most N)
    tried: int = 0  # candidates composited and forwarded
    fooled_at: int | None = None  # 1-based position of the first fooling candidate
    candidate: Candidate | None = None
    prediction: Prediction | None = None
    composite: ScenarioOutput | None = field(default=None, repr=False)

    @property
    def unfoolable(self) -> bool:
        return self.original.correct and self.fooled_at is None

    def correct_at(self, n: int) -> bool:
        return self.original.correct and (self.fooled_at is None or self.fooled_at > n)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def check_originals(samples: Sequence[ChallengeSample], store: ImageStore, model: Classifier,
                    *, batch_size: int, progress: Callable[[int], None] | None = None) -> list[Prediction]:
    """The model's prediction on every original, ``batch_size`` samples per forward pass."""
    out: list[Prediction] = []
    for chunk in _chunks(samples, batch_size):
        images = [store.get(s.index)[0] for s in chunk]
        out += model.predict(images, [s.label for s in chunk], [s.source_id for s in chunk])
        if progress:
            progress(len(chunk))
    return out


def search_sample(sample: ChallengeSample, original: Prediction, store: ImageStore, pool: Sequence[Candidate],
                  model: Classifier, *, candidates: int, batch_size: int, seed: int) -> Outcome:
    """Search ``sample``'s first ``candidates`` backgrounds for one that fools ``model``."""
    order = candidate_order(sample.source_id, pool, limit=candidates, seed=seed)
    outcome = Outcome(sample, original, available=len(order))
    if not original.correct:
        return outcome
    image, mask = store.get(sample.index)
    for chunk in _chunks(order, batch_size):
        composites = [compose(image, mask, *pool[i].load()) for i in chunk]
        preds = model.predict([c.image for c in composites], [sample.label] * len(chunk), [sample.source_id] * len(chunk))
        outcome.tried += len(chunk)
        for k, (i, comp, pred) in enumerate(zip(chunk, composites, preds)):
            if not pred.correct:
                outcome.fooled_at = outcome.tried - len(chunk) + k + 1
                outcome.candidate, outcome.prediction, outcome.composite = pool[i], pred, comp
                return outcome
    return outcome


def worst_case_curve(outcomes: Sequence[Outcome], candidates: int) -> list[float | None]:
    """Worst-case accuracy at every budget ``0..candidates``."""
    if not outcomes:
        return [None] * (candidates + 1)
    first = np.array([0 if not o.original.correct else (o.fooled_at or candidates + 1) for o in outcomes])
    return [float(np.mean(first > n)) for n in range(candidates + 1)]


def per_class(outcomes: Sequence[Outcome], class_keys: Sequence[str], class_names: Sequence[str],
              candidates: int) -> dict[str, dict]:
    """Accuracy on originals, worst-case accuracy at ``candidates`` and the unfoolable share, per class."""
    table: dict[str, dict] = {}
    for c, (key, name) in enumerate(zip(class_keys, class_names)):
        sub = [o for o in outcomes if o.sample.label == c]
        if not sub:
            continue
        table[key] = {
            "name": name,
            "n": len(sub),
            "accuracy": float(np.mean([o.original.correct for o in sub])),
            "worst_case_accuracy": float(np.mean([o.correct_at(candidates) for o in sub])),
            "fooled": sum(o.fooled_at is not None for o in sub),
        }
    return table
