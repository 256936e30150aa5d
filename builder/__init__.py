"""The dataset builder: a source -> a Hub-ready folder of parquet configs and a card.

    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    summary = build_dataset(sample_source(), "ximagenet12-out", scenarios="all", num_proc=2)
    print(summary)

A build is three stages, one module each: ``plan`` (:mod:`.plan`), ``process`` (per block,
in a worker: :mod:`.process`, per sample: :mod:`.worker`) and ``finalize`` (:mod:`.finalize`);
:mod:`.executors` says where ``process`` runs (this process, a local pool, or Ray) and
:mod:`.build` composes them. Names are imported lazily, so worker processes start without
importing ``datasets``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BLOCK_SAMPLES",
    "COLUMNS",
    "BuildPlan",
    "BuildSummary",
    "ConfigSummary",
    "DonorSampler",
    "LocalExecutor",
    "SampleRows",
    "arrow_schema",
    "build_dataset",
    "build_features",
    "encode_image",
    "encode_jpeg",
    "encode_mask",
    "encode_png",
    "finalize_build",
    "is_previous_build",
    "plan_build",
    "process_block",
    "process_sample",
    "result_row",
]

_WHERE = {
    "BLOCK_SAMPLES": "plan",
    "BuildPlan": "plan",
    "plan_build": "plan",
    "process_block": "process",
    "LocalExecutor": "executors",
    "BuildSummary": "finalize",
    "ConfigSummary": "finalize",
    "finalize_build": "finalize",
    "build_dataset": "build",
    "is_previous_build": "layout",
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
