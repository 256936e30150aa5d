"""The ``XImageNet12`` builder passes shards in ``gen_kwargs``: ``num_proc=N`` runs N jobs, same rows."""

from __future__ import annotations

import datasets
import pytest

from ximagenet12.builder.loading_script import XImageNet12, shard_ranges


def _raw(ds):
    for column in ("image", "mask"):
        ds = ds.cast_column(column, datasets.Image(decode=False))
    return ds.to_list()


@pytest.mark.parametrize(
    ("count", "shards", "expected"),
    [
        (6, 64, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]),
        (10, 3, [(0, 3), (3, 6), (6, 10)]),
        (1, 64, [(0, 1)]),
        (0, 64, [(0, 0)]),
    ],
)
def test_shard_ranges_cover_every_sample_once_in_order(count, shards, expected):
    assert shard_ranges(count, shards) == expected


@pytest.mark.slow
def test_download_and_prepare_with_num_proc_2_runs_two_jobs_with_the_same_rows(tmp_path, release):
    one = XImageNet12(config_name="mixed_rand", data_dir=str(release), cache_dir=str(tmp_path / "one"))
    one.download_and_prepare()
    two = XImageNet12(config_name="mixed_rand", data_dir=str(release), cache_dir=str(tmp_path / "two"))
    two.download_and_prepare(num_proc=2)
    files = sorted(p.name for p in (tmp_path / "two").rglob("*.arrow"))
    assert [f.split("-", 1)[1] for f in files] == ["train-00000-of-00002.arrow", "train-00001-of-00002.arrow"]
    assert _raw(one.as_dataset(split="train")) == _raw(two.as_dataset(split="train"))
    assert len(one.as_dataset(split="train")) == 7
