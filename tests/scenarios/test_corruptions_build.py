"""Corruption configs through the real builder: worker-count independence, the CLI option, loading."""

from __future__ import annotations

import json

import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.builder.sample import sample_source
from ximagenet12.cli import main

SCENARIOS = "original,corrupt_glass_blur_background@2,corrupt_snow_object,corrupt_fog_background@5,corrupt_contrast_object@1"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.mark.slow
def test_num_proc_1_and_2_give_identical_parquet(tmp_path):
    # byte identity holds for the same block size (the automatic one depends on the worker count)
    one = build_dataset(sample_source(), tmp_path / "one", scenarios=SCENARIOS, num_proc=1, progress=False,
                        block_samples=8)
    two = build_dataset(sample_source(), tmp_path / "two", scenarios=SCENARIOS, num_proc=2, progress=False,
                        block_samples=8)
    assert list(one.configs) == list(two.configs) and one.rows == two.rows == 5 * one.samples
    for name, config in one.configs.items():
        for a, b in zip(config.files, two.configs[name].files):
            assert (tmp_path / "one" / a).read_bytes() == (tmp_path / "two" / b).read_bytes(), name


def test_cli_corruption_fill_reaches_rows_and_card_and_loads(tmp_path, capsys):
    import datasets

    out = tmp_path / "out"
    argv = ["build", "--out", str(out), "--scenarios", "corrupt_defocus_blur_background@4,corruptions-object@1",
            "--max-samples", "2", "--no-progress", "--corruption-fill", "inpaint"]
    assert main(argv) == 0
    ds = datasets.load_dataset(str(out), "corrupt_defocus_blur_background_level4", split="train")
    assert len(ds) == 2
    provenance = json.loads(ds[0]["provenance"])
    assert provenance == {"corruption": "defocus_blur", "fill": "inpaint", "severity": 4}
    assert ds[0]["level"] == 4 and ds[0]["image"].size == ds[0]["mask"].size
    card = (out / "README.md").read_text(encoding="utf-8")
    assert '`fill="inpaint"`' in card and "corrupt_spatter_object_level1" in card
    assert len(datasets.get_dataset_config_names(str(out))) == 1 + 19


def test_resume_fingerprint_tells_the_fills_apart():
    """--resume compares this fingerprint: a build restarted with another fill must not mix rows."""
    from ximagenet12.builder.plan import _fingerprint
    from ximagenet12.scenarios.registry import resolve, with_params

    src = sample_source()
    items = list(src.items())
    plain = resolve("corrupt_pixelate_background")
    prints = [_fingerprint(src, items, with_params(plain, {"fill": f}, family="corruption"), 0, "train", 10, None)
              for f in ("none", "inpaint")]
    assert prints[0] != prints[1]
    assert json.loads(json.dumps(prints[0])) == prints[0]  # survives state.json unchanged


def test_default_corruption_fill_leaves_mixed_scenarios_alone(tmp_path):
    """Regression: --corruption-fill none must not reach mixed_*'s own `fill` parameter."""
    import datasets

    out = tmp_path / "out"
    argv = ["build", "--out", str(out), "--scenarios", "mixed_rand,corrupt_fog_background", "--max-samples", "4",
            "--no-progress"]
    assert main(argv) == 0
    ds = datasets.load_dataset(str(out), "mixed_rand", split="train")
    assert json.loads(ds[0]["provenance"])["fill"] == "inpaint"
