"""Donors for mixed_* are drawn only among samples that load, and the draw does not depend on
what a worker process already knows about bad samples (so not on the worker count)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow.parquet as pq
import pytest

import hostile
from ximagenet12.builder import build_dataset
from ximagenet12.builder.worker import DonorSampler
from ximagenet12.core.types import Sample, SampleError, SourceItem


def _load(source_id: str, class_key: str, good: bool) -> Sample:
    if not good:
        raise SampleError(source_id, "broken")
    return Sample(source_id, class_key, np.zeros((2, 2, 3), np.uint8), np.eye(2, dtype=bool))


def _sampler(bad: set[str]) -> DonorSampler:
    ids = [("a0", "a"), ("a1", "a"), ("a2", "a"), ("a3", "a"), ("b0", "b"), ("b1", "b"), ("c0", "c")]
    return DonorSampler([SourceItem(i, c, partial(_load, i, c, i not in bad)) for i, c in ids])


@pytest.mark.parametrize("policy", ["same", "random", "next"])
def test_a_donor_is_always_one_that_loads_and_the_draw_ignores_the_cache(policy):
    bad = {"a1", "a2", "b0", "c0"}
    sample = _load("a0", "a", True)
    for seed in range(40):
        fresh = _sampler(bad).draw(sample, policy, np.random.default_rng(seed))
        warm = _sampler(bad)
        for item in warm.by_class["a"] + warm.by_class["b"] + warm.by_class["c"]:  # this worker knows them all
            try:
                warm._load(item.source_id)
            except SampleError:
                warm._bad.add(item.source_id)
        assert fresh.source_id not in bad
        assert warm.draw(sample, policy, np.random.default_rng(seed)).source_id == fresh.source_id


def test_every_loadable_donor_can_be_drawn():
    sampler, sample = _sampler({"a1"}), _load("a0", "a", True)
    drawn = {sampler.draw(sample, "same", np.random.default_rng(seed)).source_id for seed in range(60)}
    assert drawn == {"a2", "a3"}


def test_no_loadable_donor_is_a_skip_naming_why():
    with pytest.raises(SampleError, match=r"no donor for mixed_rand loads \(every candidate sample was skipped\)"):
        _sampler({"b0", "b1", "c0"}).draw(_load("a0", "a", True), "random", np.random.default_rng(0))


@pytest.mark.slow
def test_bad_donors_give_the_same_rows_with_one_or_two_workers(tmp_path):
    source = hostile._folders(tmp_path / "src", per_class=4)
    for k in range(3):
        (source / "images" / "cat" / f"cut{k}.jpg").write_bytes(b"\xff\xd8 truncated")
        (source / "masks" / "cat" / f"cut{k}.png").write_bytes(hostile.png_bytes(hostile.box_mask()))
    scenarios = ["mixed_same", "mixed_rand", "mixed_next"]
    one = build_dataset(source, tmp_path / "one", scenarios=scenarios, num_proc=1, block_samples=3, progress=False)
    build_dataset(source, tmp_path / "two", scenarios=scenarios, num_proc=2, block_samples=3, progress=False)
    assert all(c.rows == 8 for c in one.configs.values())  # every good sample, in every mixed config
    for shard in sorted((tmp_path / "one" / "data").rglob("*.parquet")):
        assert shard.read_bytes() == (tmp_path / "two" / shard.relative_to(tmp_path / "one")).read_bytes()
        assert not any('"donor_id":"cat/cut' in d for d in pq.read_table(shard).column("provenance").to_pylist())
