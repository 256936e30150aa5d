"""Explainability: how much of a model's evidence lies on the object, per scenario.

Public API (imported lazily, so ``import ximagenet12.explain`` does not load torch)::

    from ximagenet12.explain import explain_classification, write_explain_report
    result = explain_classification("efficientnet-lite0", "ximagenet12-out", method="gradcam")
    write_explain_report(result, "reports/lite0-explain")

Modules: ``scores`` (object focus, focus / area, pointing game, bootstrap CIs; pure
numpy), ``rollout`` (attention rollout), ``methods`` (captum Grad-CAM and Integrated
Gradients, which method fits which model, target layers), ``geometry`` (masks into the
model's input space), ``runner`` (the batched, resumable loop), ``summary`` and
``report`` (the report folder).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["METHODS", "explain_classification", "focus_metrics", "attention_rollout", "write_explain_report"]

_HOME = {
    "METHODS": "ximagenet12.explain.methods",
    "explain_classification": "ximagenet12.explain.runner",
    "focus_metrics": "ximagenet12.explain.scores",
    "attention_rollout": "ximagenet12.explain.rollout",
    "write_explain_report": "ximagenet12.explain.report",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'ximagenet12.explain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
