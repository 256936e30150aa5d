"""Run models on every scenario config, score them, analyse and plot the result.

Public API (imported lazily, so ``import ximagenet12.evaluation`` does not load torch)::

    from ximagenet12.evaluation import evaluate_classification, write_report
    result = evaluate_classification("efficientnet-lite0", "ximagenet12-out")
    write_report(result, "reports/lite0")

``evaluate_segmentation`` (EX3) and ``analyze_reports`` (OLS + ANOVA over report
folders) complete it; ``read_report`` loads a written ``report.json``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["analyze_reports", "evaluate_classification", "evaluate_segmentation", "read_report", "write_report"]

_HOME = {
    "evaluate_classification": "ximagenet12.evaluation.classification",
    "evaluate_segmentation": "ximagenet12.evaluation.segmentation",
    "analyze_reports": "ximagenet12.evaluation.analysis",
    "read_report": "ximagenet12.evaluation.report",
    "write_report": "ximagenet12.evaluation.report",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module 'ximagenet12.evaluation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
