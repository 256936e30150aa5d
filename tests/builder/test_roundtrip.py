"""Every config built from the embedded sample loads with ``datasets`` (also streaming) and is right."""

from __future__ import annotations

import io
import json

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ximagenet12.builder.sample import sample_source
from ximagenet12.core.constants import ROWS_PER_ROW_GROUP
from ximagenet12.hub.validate import read_card_metadata, validate_folder
from ximagenet12.scenarios.registry import resolve

PAPER_CONFIGS = [v.config_name for v in resolve("all")]
SOURCE = {item.source_id: item for item in sample_source().items()}


def _originals():
    return {sid: item.load() for sid, item in SOURCE.items()}


ORIGINALS = _originals()


def _check_rows(rows, config):
    variant = next(v for v in resolve(config))
    assert [r["source_id"] for r in rows] == sorted(SOURCE, key=lambda s: (SOURCE[s].class_key, s))
    for row in rows:
        original = ORIGINALS[row["source_id"]]
        image = np.asarray(row["image"])
        mask = np.asarray(row["mask"])
        assert row["scenario"] == variant.name
        assert row["level"] == variant.effective_level
        assert mask.shape == original.mask.shape and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        assert isinstance(json.loads(row["provenance"]), dict)
        if variant.scenario.mode == "RGBA":
            assert row["image"].mode == "RGBA"
            assert np.array_equal(image[..., :3][original.mask], original.image[original.mask])  # lossless
        else:
            assert row["image"].mode == "RGB" and row["image"].format == "JPEG"
        if variant.scenario.keeps_object and variant.scenario.mode == "RGB":
            inside = mask.astype(bool) & original.mask
            diff = np.abs(image[inside].astype(int) - original.image[inside].astype(int))
            assert diff.mean() < 2.0, (config, row["source_id"], diff.mean())  # JPEG q95 4:4:4 tolerance
            assert np.percentile(diff, 99) <= 16


@pytest.mark.parametrize("config", PAPER_CONFIGS)
def test_every_config_loads_and_keeps_the_object(sample_build, config):
    out, _ = sample_build
    ds = datasets.load_dataset(str(out), config, split="train")
    assert ds.features["label"].names == sample_source().class_names
    assert len(ds.features["label"].names) == 10 and "tabby cat" in ds.features["label"].names
    assert isinstance(ds.features["image"], datasets.Image)
    _check_rows(list(ds), config)


@pytest.mark.parametrize("config", PAPER_CONFIGS)
def test_every_config_streams(sample_build, config):
    out, _ = sample_build
    ds = datasets.load_dataset(str(out), config, split="train", streaming=True)
    rows = list(ds)
    assert len(rows) == len(SOURCE)
    _check_rows(rows, config)


def test_transparent_image_has_zero_rgb_outside_the_object(sample_build):
    out, _ = sample_build
    ds = datasets.load_dataset(str(out), "transparent_image", split="train")
    for row in ds:
        rgba = np.asarray(row["image"])
        outside = ~ORIGINALS[row["source_id"]].mask
        assert (rgba[outside] == 0).all()


def test_provenance_records_the_drawn_values(sample_build):
    out, _ = sample_build
    rows = datasets.load_dataset(str(out), "mixed_same", split="train")
    for row in rows:
        prov = json.loads(row["provenance"])
        assert prov["donor_id"] != row["source_id"]
        assert prov["donor_class"] == row["class_key"]
    rows = datasets.load_dataset(str(out), "random_background", split="train")
    assert all(json.loads(r["provenance"])["background_id"].startswith("skimage/") for r in rows)
    rows = datasets.load_dataset(str(out), "image_r", split="train")
    assert all(0 <= json.loads(r["provenance"])["hue"] <= 179 for r in rows)


def test_parquet_layout_fits_the_hub(sample_build):
    out, summary = sample_build
    files = sorted((out / "data").rglob("*.parquet"))
    assert {f.parent.name for f in files} == set(PAPER_CONFIGS)
    for f in files:
        meta = pq.ParquetFile(f).metadata
        assert b"huggingface" in meta.schema.to_arrow_schema().metadata
        assert all(meta.row_group(i).num_rows <= ROWS_PER_ROW_GROUP for i in range(meta.num_row_groups))
        assert f.name == "train-00000-of-00001.parquet"
    assert not [p for p in out.rglob("*") if p.suffix in (".py", ".pyc", ".tmp") or ".cache" in p.parts]
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "build_info.json", "data", "skipped.jsonl"]
    assert validate_folder(out) == []


def test_card_lists_every_config_with_original_default(sample_build):
    out, summary = sample_build
    meta = read_card_metadata(out / "README.md")
    assert [c["config_name"] for c in meta["configs"]] == PAPER_CONFIGS
    assert [c["config_name"] for c in meta["configs"] if c.get("default")] == ["original"]
    assert meta["license"] == "other" and "cc-by-2.0" in meta["license_name"]  # mixed terms, per image
    assert meta["size_categories"] == ["n<1K"]
    assert set(meta["task_categories"]) == {"image-classification", "image-segmentation"}
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    assert info["blur_background"]["splits"][0]["num_examples"] == len(SOURCE)
    text = (out / "README.md").read_text()
    for config in PAPER_CONFIGS:  # the scenario table comes from the registry
        assert f"| `{config}` |" in text
    assert "arXiv:2310.08182" in text and "n02123045" in text


def test_build_info_and_skipped_file(sample_build):
    out, summary = sample_build
    info = json.loads((out / "build_info.json").read_text())
    assert info["builder"] == "ximagenet12" and info["seed"] == 0
    assert info["scenarios"] == PAPER_CONFIGS
    assert info["rows"]["original"] == len(SOURCE) == 20
    assert (out / "skipped.jsonl").read_text() == ""
    assert summary.rows == len(SOURCE) * len(PAPER_CONFIGS)
    assert 'datasets.load_dataset("' in str(summary) and "skipped: none" in str(summary)


def test_mask_column_is_single_channel_png(sample_build):
    out, _ = sample_build
    table = pq.read_table(out / "data" / "original" / "train-00000-of-00001.parquet")
    raw = table.column("mask")[0].as_py()
    assert raw["path"] is None
    with Image.open(io.BytesIO(raw["bytes"])) as im:
        assert im.format == "PNG" and im.mode == "L"
