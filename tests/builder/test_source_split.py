"""``build --source-split``: where the source images come from is recorded in build_info.json and
read back for leaderboard rows; unknown when the build does not say."""

from __future__ import annotations

import json

import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.leaderboard.provenance import source_split_of


def test_the_source_split_is_recorded_and_read_back(tmp_path, capsys):
    from ximagenet12.cli import main

    out = tmp_path / "val"
    assert main(["build", "--out", str(out), "--scenarios", "original", "--max-samples", "2", "--no-progress",
                 "--source-split", "imagenet-val"]) == 0
    assert json.loads((out / "build_info.json").read_text())["source_split"] == "imagenet-val"
    assert source_split_of(out) == "imagenet-val"
    plain = tmp_path / "plain"
    build_dataset(None, plain, scenarios=["original"], max_samples=2, progress=False)
    assert json.loads((plain / "build_info.json").read_text())["source_split"] == "unknown"
    assert source_split_of(plain) == "unknown" and source_split_of(tmp_path / "nowhere") == "unknown"
    # a resume with nothing to do reports the recorded split too
    again = build_dataset(None, out, scenarios=["original"], max_samples=2, progress=False, resume=True,
                          source_split="imagenet-val")
    assert again.nothing_to_do and again.source_split == "imagenet-val"


def test_an_unknown_source_split_is_refused_before_anything_is_written(tmp_path, capsys):
    from ximagenet12.cli import main

    with pytest.raises(ValueError, match="source_split must be one of imagenet-train, imagenet-val, other, got 'train'"):
        build_dataset(None, tmp_path / "out", scenarios=["original"], source_split="train")
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["build", "--out", str(tmp_path / "out"), "--source-split", "train"])
    assert "invalid choice: 'train'" in capsys.readouterr().err
