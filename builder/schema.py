"""The columns of every config, as ``datasets.Features`` and as an Arrow schema.

The Arrow schema carries the Hugging Face feature metadata (``{"huggingface":
{"info": {"features": ...}}}``), so ``datasets.load_dataset`` on the parquet files
decodes ``image``/``mask`` as images and ``label`` as a ClassLabel without being told.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

import pyarrow as pa

if TYPE_CHECKING:  # imported where used: build workers write parts without importing datasets
    import datasets

__all__ = ["COLUMNS", "build_features", "arrow_schema", "PROVENANCE_COLUMNS"]

#: Column order of every config.
COLUMNS: tuple[str, ...] = (
    "image",
    "mask",
    "label",
    "class_key",
    "source_id",
    "scenario",
    "level",
    "seed",
    "provenance",
)

#: What the non-pixel columns mean (used by the dataset card).
PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("image", "the scenario's image: JPEG (quality 95, 4:4:4) for RGB scenarios, PNG for RGBA ones"),
    ("mask", "the object mask of the output: single-channel PNG, 255 = object, 0 = background"),
    ("label", "class index (ClassLabel; order = the source's sorted class keys)"),
    ("class_key", "the class key, the ImageNet wnid for ImageNet classes (e.g. n02123045)"),
    ("source_id", "stable id of the source photo (the file stem in the reference release)"),
    ("scenario", "scenario name from the registry (e.g. blur_background)"),
    ("level", "effective severity level 1-5; null for scenarios without a ladder"),
    ("seed", "the per-row seed, derived from (build seed, source_id, scenario, level)"),
    (
        "provenance",
        "JSON of the parameters used and the values drawn: e.g. hue, shift, background_id, "
        "donor_id, donor_class, offset; mask_source when the mask was made automatically (build --auto-mask: "
        "grabcut, rembg:<model>, transformers:<id>)",
    ),
)


def build_features(class_names: Sequence[str]) -> datasets.Features:
    """The features of every config for a source with these class names (in label order)."""
    if not class_names:
        raise ValueError("a dataset needs at least one class name")
    import datasets

    return datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "label": datasets.ClassLabel(names=list(class_names)),
            "class_key": datasets.Value("string"),
            "source_id": datasets.Value("string"),
            "scenario": datasets.Value("string"),
            "level": datasets.Value("int32"),
            "seed": datasets.Value("int64"),
            "provenance": datasets.Value("string"),
        }
    )


def arrow_schema(features: datasets.Features) -> pa.Schema:
    """The Arrow schema of ``features`` with the Hugging Face metadata attached."""
    metadata = {"huggingface": json.dumps({"info": {"features": features.to_dict()}})}
    return features.arrow_schema.with_metadata(metadata)
