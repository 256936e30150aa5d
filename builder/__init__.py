"""The dataset builder: a source -> a Hub-ready folder of parquet configs and a card.

    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    summary = build_dataset(sample_source(), "ximagenet12-out", scenarios="all", num_proc=2)
    print(summary)

Names are imported lazily, so worker processes (``ximagenet12.builder.worker``) start
without importing ``datasets``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BLOCK_SAMPLES",
    "COLUMNS",
    "BuildSummary",
    "ConfigSummary",
    "DonorSampler",
    "SampleRows",
    "arrow_schema",
    "build_dataset",
    "build_features",
    "encode_image",
    "encode_jpeg",
    "encode_mask",
    "encode_png",
    "is_previous_build",
    "process_sample",
    "result_row",
]

_WHERE = {
    "BLOCK_SAMPLES": "build",
    "BuildSummary": "build",
    "ConfigSummary": "build",
    "build_dataset": "build",
    "is_previous_build": "build",
    "DonorSampler": "worker",
    "SampleRows": "worker",
    "process_sample": "worker",
    "result_row": "worker",
    "COLUMNS": "schema",
    "arrow_schema": "schema",
    "build_features": "schema",
    "encode_image": "encode",
    "encode_jpeg": "encode",
    "encode_mask": "encode",
    "encode_png": "encode",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"ximagenet12.builder.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'ximagenet12.builder' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
