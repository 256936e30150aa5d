"""Training: the paper's EX1 and EX2 protocols, so S_robust gets both of its terms.

    from ximagenet12.training import train, score_runs
    train("efficientnet-lite0", "ximagenet12-out", protocol="ex1", out="runs/lite0-ex1")
    train("efficientnet-lite0", "ximagenet12-out", protocol="ex2", folds=12, out="runs/lite0-ex2")
    score_runs("runs/lite0-ex1", "runs/lite0-ex2")

Modules: :mod:`~ximagenet12.training.data` (source table, image rows),
:mod:`~ximagenet12.training.folds` (stratified, grouped by source id),
:mod:`~ximagenet12.training.backbone` (new head, pooled features),
:mod:`~ximagenet12.training.probe` (linear probe), :mod:`~ximagenet12.training.finetune`
(``transformers.Trainer``), :mod:`~ximagenet12.training.runs` (run folder, resume),
:mod:`~ximagenet12.training.protocols` (EX1/EX2 fold loops),
:mod:`~ximagenet12.training.report` and :mod:`~ximagenet12.training.score`.
Imported lazily, so ``import ximagenet12.training`` does not load torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["train", "score_runs"]

_HOME = {"train": "ximagenet12.training.api", "score_runs": "ximagenet12.training.score"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'ximagenet12.training' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
