"""The ``XImageNet12`` GeneratorBasedBuilder gives the same rows as ``ximagenet12 build``."""

from __future__ import annotations

import datasets
import pytest

import ximagenet12
from ximagenet12.builder.loading_script import XImageNet12


def _raw(ds):
    return ds.cast_column("image", datasets.Image(decode=False)).cast_column("mask", datasets.Image(decode=False)).to_list()


@pytest.mark.parametrize("config", ["blur_background", "mixed_same", "transparent_image"])
def test_builder_rows_equal_the_cli_build(sample_build, tmp_path, config):
    out, _ = sample_build
    builder = XImageNet12(config_name=config, cache_dir=str(tmp_path / "cache"))  # data_dir: the embedded sample
    builder.download_and_prepare()
    generated = builder.as_dataset(split="train")
    built = datasets.load_dataset(str(out), config, split="train")
    assert generated.features == built.features
    assert _raw(generated) == _raw(built)


def test_builder_reads_a_source_folder_and_a_seed(release, tmp_path):
    a = XImageNet12(config_name="image_rainbow_level2", data_dir=str(release), cache_dir=str(tmp_path / "a"))
    a.download_and_prepare()
    b = XImageNet12(config_name="image_rainbow_level2", data_dir=str(release), cache_dir=str(tmp_path / "b"), seed=5)
    b.download_and_prepare()
    rows_a, rows_b = a.as_dataset(split="train"), b.as_dataset(split="train")
    assert len(rows_a) == 6 and rows_a.features["label"].names == ["n01000001", "n01000002"]
    assert set(rows_a["level"]) == {2}
    assert rows_a["seed"] != rows_b["seed"]


def test_configs_come_from_the_registry():
    names = [c.name for c in XImageNet12.BUILDER_CONFIGS]
    assert names[0] == "original" and "blur_background_level5" in names and "mixed_next" in names
    assert "ai_background" not in names
    assert ximagenet12.XImageNet12 is XImageNet12
    with pytest.raises(ValueError, match="BuilderConfig 'nope' not found"):
        XImageNet12(config_name="nope")
