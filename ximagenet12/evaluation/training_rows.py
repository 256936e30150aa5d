"""The training record a model folder written by ``ximagenet12 train`` carries.

``train`` saves ``training_rows.json`` beside the weights (the data, config and source ids
the model was fitted on); the evaluator, ``score``, the challenge and the leaderboard read it
here so a model is never scored on its own training rows without saying so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["TRAINING_ROWS_FILE", "read_training_rows"]

#: The file ``train`` writes into every model folder it saves.
TRAINING_ROWS_FILE = "training_rows.json"


def read_training_rows(model: Any) -> dict[str, Any] | None:
    """The training record of a model folder written by ``ximagenet12 train`` (its
    :data:`TRAINING_ROWS_FILE`), or ``None`` for any other model (Hub id, pipeline, folder
    without one). A record that cannot be read is an error, never taken as "no record"."""
    if not isinstance(model, (str, os.PathLike)) or not os.path.isdir(model):
        return None
    path = Path(model) / TRAINING_ROWS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        ids = record["source_ids"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a readable training record ({type(exc).__name__}: {exc}); expected JSON "
                         "with 'source_ids' as `ximagenet12 train` writes it") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError(f"{path}: 'source_ids' must be a list of source id strings")
    record["path"] = str(path)
    return record
