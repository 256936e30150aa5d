"""``evaluate`` metric modules shipped with ximagenet12.

``robustness_score`` (the folder ``robustness_score/``) is the XImageNet-12 robustness
score as an ``evaluate`` module. :func:`load_metric` loads the installed copy offline,
without the caller knowing where the package lives::

    from ximagenet12.metrics import load_metric
    metric = load_metric()            # configuration "table3" (reproduces the paper's Table 3)
    metric = load_metric("formula")   # the formula as printed in the paper

The maths without ``evaluate``: ``from ximagenet12 import robustness_score`` (summary
form) and :mod:`ximagenet12.metrics.robustness_score.functional` (per-sample form).
This module imports nothing heavy: ``evaluate`` is imported when a metric is loaded.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["METRICS", "load_metric", "metric_path"]

#: Metric modules in this package (folder names).
METRICS = ("robustness_score",)


def metric_path(name: str = "robustness_score") -> Path:
    """The folder of an installed metric module, for ``evaluate.load(str(path))``."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; ximagenet12 ships {', '.join(METRICS)}")
    folder = Path(str(resources.files(__name__) / name))
    script = folder / f"{name}.py"
    if not script.is_file():  # pragma: no cover - only a broken installation lacks it
        raise FileNotFoundError(f"the metric script {script} is not installed")
    return folder


def load_metric(config_name: str = "table3", *, name: str = "robustness_score", **kwargs: Any):
    """``evaluate.load`` on the installed metric folder (no Hub access needed).

    ``config_name`` is the metric configuration (``"table3"`` or ``"formula"`` for
    ``robustness_score``); ``kwargs`` go to ``evaluate.load`` (``cache_dir``,
    ``keep_in_memory``, ``experiment_id``, ``num_process``, ``process_id``, ...).
    """
    import evaluate

    return evaluate.load(str(metric_path(name)), config_name, **kwargs)
