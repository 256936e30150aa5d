"""Publishing to the Hugging Face Hub: a built dataset and the metric (:mod:`.publish`),
a model (:mod:`.model`), and the rules a dataset folder must meet (:mod:`.validate`).

The public names of the former flat module ``hub.py`` (``push``, ``push_metric``, ...)
stay importable from this package; they are loaded from :mod:`ximagenet12.hub.publish`
on first use, so importing :mod:`ximagenet12.hub.validate` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the public names of :mod:`ximagenet12.hub.publish`, importable from here
__all__ = [
    "push",
    "push_metric",
    "space_card_problems",
    "mask_tokens",
    "pipelined_upload_available",
    "PushSummary",
    "PushError",
    "ConcurrentCommitError",
    "FolderInUseError",
    "COMMIT_BATCH_SIZE",
    "METRIC_NAME",
    "METRIC_REQUIRED_FILES",
    "SPACE_SDK",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ximagenet12.hub.publish"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
