"""The evaluator on the real builder's output (the embedded sample), through the CLI."""

from __future__ import annotations

import json

import pytest

from ximagenet12.cli import main


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source

    out = tmp_path_factory.mktemp("built-sample") / "ximagenet12"
    build_dataset(
        sample_source(), out, scenarios=["original", "transparent_image"], progress=False,
        max_samples=3,
    )
    return out


def test_real_lite0_on_the_builders_sample_output(built, tmp_path, lite0_pipeline):
    out = tmp_path / "lite0"
    assert main(["evaluate", "--model", "efficientnet-lite0", "--data", str(built), "--out", str(out),
                 "--device", "cpu", "--batch-size", "4", "--no-progress"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["label_mapping"]["kind"] == "imagenet_wnids"
    assert list(report["scenarios"]) == ["original", "transparent_image"]
    assert all(e["n"] > 0 and e["n_failed"] == 0 for e in report["scenarios"].values())
    # measured, not asserted as a number: the real model recognises some originals
    assert 0.0 <= report["scenarios"]["original"]["modes"]["restricted"]["accuracy"] <= 1.0
