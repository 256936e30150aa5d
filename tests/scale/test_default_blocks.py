"""A default build (automatic blocks) writes byte-identical files on every engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.builder.plan import auto_block_samples

ray = pytest.importorskip("ray")
SCENARIOS = ["original", "image_rainbow", "transparent_image", "random_background", "mixed_rand"]
pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster per test session (with --dist loadgroup)


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes()
            for p in sorted([*(out / "data").rglob("*.parquet"), out / "skipped.jsonl"])}


@pytest.mark.slow
def test_default_blocks_give_the_same_files_for_num_proc_1_and_2_and_ray(tmp_path, release, ray_cluster):
    from ximagenet12.engines.ray import RayExecutor

    for image in list((release / "image").rglob("*.JPEG")):  # 7 samples -> 14: two blocks
        mask = release / "masks" / image.parent.name / f"{image.stem}.png"
        shutil.copy(image, image.with_name(f"{image.stem}0.JPEG"))
        shutil.copy(mask, mask.with_name(f"{image.stem}0.png"))
    assert auto_block_samples(14) == 8
    kwargs = dict(scenarios=SCENARIOS, progress=False)
    build_dataset(release, tmp_path / "one", num_proc=1, **kwargs)
    build_dataset(release, tmp_path / "two", num_proc=2, **kwargs)
    build_dataset(release, tmp_path / "ray", executor=RayExecutor(), **kwargs)
    files = _files(tmp_path / "one")
    assert len(files) == len(SCENARIOS) + 1
    assert files == _files(tmp_path / "two") == _files(tmp_path / "ray")
