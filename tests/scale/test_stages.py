"""The build's stages on their own: plan cuts blocks, process writes a block's parts in the worker."""

from __future__ import annotations

import dataclasses

import pyarrow.parquet as pq
import pytest

from ximagenet12.builder.layout import block_record, part_path
from ximagenet12.builder.plan import BLOCK_SAMPLES, auto_block_samples, plan_build, resolve_block_samples
from ximagenet12.builder.process import BlockTask, process_block, worker_setup
from ximagenet12.builder.schema import arrow_schema, build_features


def _plan(source, **kwargs):
    options = dict(scenarios=["original", "image_grey"], seed=0, split="train", block_samples=None,
                   max_samples=None, backgrounds=None, generation=None, strict=False)
    return plan_build(source, **{**options, **kwargs})


@pytest.mark.parametrize(
    ("samples", "expected"),
    [(200, 8), (1000, 32), (10, 8), (5, 8), (20_000, 625), (100_000, BLOCK_SAMPLES)],
)
def test_automatic_blocks_cut_about_32_blocks_whatever_the_workers(samples, expected):
    assert auto_block_samples(samples) == expected


def test_a_resumed_build_keeps_its_blocks_whatever_the_worker_count(release):
    plan = _plan(release)
    assert plan.fingerprint["block_samples"] == "auto" and plan.block_samples is None
    with pytest.raises(ValueError, match="block size is not settled yet"):
        plan.blocks
    assert resolve_block_samples(plan, remembered=None).block_samples == 8
    assert resolve_block_samples(plan, remembered=3).block_samples == 3  # the interrupted run's
    fixed = _plan(release, block_samples=2)
    assert resolve_block_samples(fixed, remembered=3).block_samples == 2
    assert [(b.start, b.stop) for b in fixed.blocks] == [(0, 2), (2, 4), (4, 6), (6, 7)]


def test_process_block_writes_the_blocks_parts_itself(tmp_path, release):
    plan = dataclasses.replace(_plan(release), block_samples=4)
    schema = arrow_schema(build_features(plan.class_names))
    block = plan.blocks[1]
    task = BlockTask(block.index, block.start, plan.items[block.start : block.stop], tmp_path)
    result = process_block(task, worker_setup(plan, schema, strict=False))
    assert (result.block, result.rows, result.loaded, result.error) == (1, 6, [0, 1, 2], None)
    table = pq.read_table(part_path(tmp_path, "image_grey", 1))
    assert table.column("source_id").to_pylist() == [i.source_id for i in plan.items[4:7]]
    assert table.schema.metadata[b"huggingface"]  # the datasets feature metadata travels with every part
    assert not block_record(tmp_path, 1).exists()  # only the driver records a block as done
    assert not list(tmp_path.rglob("*.tmp"))


def test_strict_process_block_reports_the_bad_sample_and_leaves_no_part(tmp_path, release):
    bad = release / "image" / "n01000002" / "n01000002_0.JPEG"
    bad.write_bytes(b"not a jpeg")
    plan = dataclasses.replace(_plan(release, strict=True), block_samples=7)
    schema = arrow_schema(build_features(plan.class_names))
    task = BlockTask(0, 0, plan.items, tmp_path)
    result = process_block(task, worker_setup(plan, schema, strict=True))
    assert result.error is not None and result.error[0] == "n01000002_0"
    assert "could not decode image" in result.error[1]
    assert not list(tmp_path.rglob("*.parquet")) and not list(tmp_path.rglob("*.tmp"))
