"""How loud a command is: ``--quiet`` / ``--verbose`` for this package and the libraries it drives.

One switch for everything a user sees besides our own results: Python logging, the
loggers and progress bars of ``transformers``, ``datasets`` and ``huggingface_hub``, and
our own progress bars. The libraries read environment variables when they are first
imported and offer setters once imported, so :func:`configure` does both: a command that
imports them later and a test that already imported them behave alike.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Literal

__all__ = ["Verbosity", "configure", "LEVELS"]

Verbosity = Literal["quiet", "normal", "verbose"]

#: Python logging level per verbosity: quiet shows errors only, verbose shows progress notes.
LEVELS: dict[str, int] = {"quiet": logging.ERROR, "normal": logging.WARNING, "verbose": logging.INFO}
_ENV_LEVEL = {"quiet": "error", "normal": "warning", "verbose": "info"}


def configure(verbosity: Verbosity) -> None:
    """Apply ``verbosity`` to logging, the Hugging Face libraries and their progress bars."""
    if verbosity not in LEVELS:
        raise ValueError(f"verbosity must be one of {', '.join(LEVELS)}, got {verbosity!r}")
    level = LEVELS[verbosity]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logging.getLogger("ximagenet12").setLevel(level)
    quiet = verbosity == "quiet"
    env = {
        "TRANSFORMERS_VERBOSITY": _ENV_LEVEL[verbosity],
        "DATASETS_VERBOSITY": _ENV_LEVEL[verbosity],
        "HF_HUB_VERBOSITY": _ENV_LEVEL[verbosity],
    }
    if quiet:
        env |= {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
                "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    os.environ.update(env)
    _apply_to_imported(level, quiet)


def _apply_to_imported(level: int, quiet: bool) -> None:
    # Libraries imported before this call ignore the environment: use their setters.
    if sys.modules.get("transformers") is not None:
        from transformers.utils import logging as tlog

        tlog.set_verbosity(level)
        (tlog.disable_progress_bar if quiet else tlog.enable_progress_bar)()
    if sys.modules.get("datasets") is not None:
        import datasets

        datasets.logging.set_verbosity(level)
        (datasets.disable_progress_bars if quiet else datasets.enable_progress_bars)()
    if sys.modules.get("huggingface_hub") is not None:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars, logging as hlog

        hlog.set_verbosity(level)
        (disable_progress_bars if quiet else enable_progress_bars)()
