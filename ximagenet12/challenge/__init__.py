"""The worst-case background challenge: the first background that fools a model, per sample.

    from ximagenet12.challenge import run_challenge
    result = run_challenge("efficientnet-lite0", "ximagenet12-out", "challenge-out", candidates=50)
    result.report["curve"], result.report["unfoolable_share"]

Modules: :mod:`~ximagenet12.challenge.candidates` (samples, backgrounds, seeded order,
compositing), :mod:`~ximagenet12.challenge.model` (the evaluator's model loading and
scoring, with forward counts), :mod:`~ximagenet12.challenge.search` (the search and the
curve), :mod:`~ximagenet12.challenge.output` (the ``worst_background`` config and the
report), :mod:`~ximagenet12.challenge.run` (all of it in order).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ChallengeResult", "run_challenge", "DEFAULT_BATCH_SIZE"]


def __getattr__(name: str) -> Any:  # lazy: importing the package does not load torch
    if name in __all__:
        return getattr(import_module("ximagenet12.challenge.run"), name)
    raise AttributeError(f"module 'ximagenet12.challenge' has no attribute {name!r}")
