"""The dataset builder: a source -> a Hub-ready folder of parquet configs and a card.

    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    summary = build_dataset(sample_source(), "ximagenet12-out", scenarios="all", num_proc=2)
    print(summary)
"""

from __future__ import annotations

from ximagenet12.builder.build import (
    BLOCK_SAMPLES,
    BuildSummary,
    ConfigSummary,
    DonorSampler,
    SampleRows,
    build_dataset,
    is_previous_build,
    process_sample,
    result_row,
)
from ximagenet12.builder.encode import encode_image, encode_jpeg, encode_mask, encode_png
from ximagenet12.builder.schema import COLUMNS, arrow_schema, build_features

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
