"""Fold assignment: stratified by class, grouped by source id, the same for every scenario.

The unit that is assigned is the *source image*: every row of every config (scenario,
severity level) with that source id lands in the same fold, so no source image is ever
on both sides of a split, and the accuracies of two scenarios are paired (same objects
in the same test folds). Stratification uses scikit-learn's ``StratifiedKFold`` over the
table of unique source ids (one group per source id, so this *is* a stratified group
k-fold), shuffled by ``seed``: the same seed gives the same folds.
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

from ximagenet12.training.data import SourceTable

__all__ = ["MIN_FOLDS", "check_folds", "assign_folds", "check_validation_parts", "validation_split", "fold_of_rows"]

#: Fewer folds than this is not a cross-validation.
MIN_FOLDS = 2


def check_folds(table: SourceTable, *, n_folds: int) -> None:
    """The one-line errors a fold assignment can hit, raised before any training."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, int):
        raise TypeError(f"--folds must be an int, got {type(n_folds).__name__}")
    if n_folds < MIN_FOLDS:
        raise ValueError(f"--folds must be at least {MIN_FOLDS}, got {n_folds}")
    counts = table.class_counts()
    present = [c for c, n in counts.items() if n > 0]
    if len(present) < 2:
        only = ", ".join(repr(table.class_names[c]) for c in present) or "none"
        raise ValueError(f"the data has one class only ({only}): a classifier needs at least two classes")
    small = [(c, n) for c, n in counts.items() if n < n_folds]
    if small:
        fewest = min(n for _, n in small)
        listed = ", ".join(f"{table.class_names[c]!r} ({table.class_keys[c]}): {n}" for c, n in small[:6])
        more = f" and {len(small) - 6} more" if len(small) > 6 else ""
        hint = f"use --folds {fewest} or fewer" if fewest >= MIN_FOLDS else "add images of these classes or leave them out"
        raise ValueError(
            f"{len(small)} class(es) have fewer source images than --folds {n_folds}: {listed}{more}; {hint}"
        )


def assign_folds(table: SourceTable, *, n_folds: int, seed: int) -> dict[str, int]:
    """``{source_id: fold}`` with folds ``0 .. n_folds - 1`` (see the module docstring)."""
    from sklearn.model_selection import StratifiedKFold

    check_folds(table, n_folds=n_folds)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.empty(len(table.source_ids), dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(table.labels)), table.labels)):
        fold[test] = k
    return {sid: int(f) for sid, f in zip(table.source_ids, fold)}


def fold_of_rows(source_ids: Sequence[str], folds: Mapping[str, int], *, config: str) -> np.ndarray:
    """The fold of each row of a config; a source id outside the assignment is an error."""
    try:
        return np.array([folds[s] for s in source_ids], dtype=np.int64)
    except KeyError as exc:
        raise ValueError(f"config {config!r} has source {exc.args[0]!r} that the fold assignment lacks") from exc


def check_validation_parts(table: SourceTable, folds: dict[str, int], *, test_folds: Sequence[int]) -> None:
    """Fine-tuning's one-line error before any training: each training part (every fold but
    the test fold ``k``) must leave a validation part for early stopping, i.e. some class with
    two or more training sources (:func:`validation_split` never takes a class's last one)."""
    for k in test_folds:
        counts = Counter(int(y) for sid, y in zip(table.source_ids, table.labels) if folds[sid] != k)
        if not any(n >= 2 for n in counts.values()):
            most = max(counts.values(), default=0)
            raise ValueError(
                f"fine-tuning needs a validation part for early stopping, but with fold {k} held out no class has "
                f"two or more training source images (at most {most}); use fewer --folds, more images per class, "
                "or --method linear-probe"
            )


def validation_split(
    source_ids: Sequence[str], labels: np.ndarray, *, fraction: float, seed: int
) -> set[str]:
    """Source ids held out for validation (early stopping), stratified by class and grouped
    by source id; at least one source per class that has two or more."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    per_class: dict[int, list[str]] = {}
    for sid, y in dict(zip(source_ids, (int(v) for v in labels))).items():
        per_class.setdefault(y, []).append(sid)
    held: set[str] = set()
    for y in sorted(per_class):
        ids = sorted(per_class[y])
        if len(ids) < 2:
            continue
        take = max(1, int(round(fraction * len(ids))))
        held.update(rng.choice(ids, size=min(take, len(ids) - 1), replace=False).tolist())
    return held
