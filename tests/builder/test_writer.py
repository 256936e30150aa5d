"""Parts and shards: atomic files, shard names with their count, row groups of at most 100 rows."""

from __future__ import annotations

import datasets
import pyarrow.parquet as pq
import pytest

from ximagenet12.builder.schema import arrow_schema, build_features
from ximagenet12.builder.writer import PartWriter, finalize_parts, merge_parts

SCHEMA = arrow_schema(build_features(["a", "b"]))


def _rows(n, start=0):
    return [
        (bytes([i % 256]) * 1000, b"m", i % 2, "k", f"id{i:04d}", "original", None, i, "{}")
        for i in range(start, start + n)
    ]


def _parts(tmp_path, sizes):
    parts, start = [], 0
    for b, n in enumerate(sizes):
        w = PartWriter(tmp_path / "parts" / f"block-{b}.parquet", SCHEMA)
        for k in range(0, n, 7):  # several small writes, as the builder does
            w.write(_rows(min(7, n - k), start + k))
        w.commit()
        parts.append(w.path)
        start += n
    return parts


def test_part_appears_only_on_commit(tmp_path):
    w = PartWriter(tmp_path / "p.parquet", SCHEMA)
    w.write(_rows(3))
    assert not w.path.exists() and len(list(tmp_path.glob(".p.parquet.*.tmp"))) == 1
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_merge_splits_shards_and_regroups_rows(tmp_path):
    parts = _parts(tmp_path, [130, 0, 95])
    files, rows, _ = merge_parts(parts, tmp_path / "out", SCHEMA, max_shard_bytes=150_000)
    assert [f.name for f in files] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert rows == 225
    groups = [pq.ParquetFile(f).metadata.row_group(i).num_rows for f in files for i in range(pq.ParquetFile(f).metadata.num_row_groups)]
    assert groups == [100, 100, 25]
    ids = [r["source_id"] for f in files for r in pq.read_table(f).to_pylist()]
    assert ids == [f"id{i:04d}" for i in range(225)]
    ds = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    assert isinstance(ds.features["image"], datasets.Image) and ds.features["label"].names == ["a", "b"]


@pytest.mark.parametrize("sizes, groups", [([150, 40], [100, 90]), ([45], [45]), ([230], [100, 100, 30])])
def test_parts_are_always_regrouped_into_row_groups_of_100(tmp_path, sizes, groups):
    parts = _parts(tmp_path, sizes)  # written 7 rows at a time: 7-row groups in every part
    assert pq.ParquetFile(parts[0]).metadata.row_group(0).num_rows == 7
    files, rows, nbytes = finalize_parts(parts, tmp_path / "out", SCHEMA)
    metas = [pq.ParquetFile(f).metadata for f in files]
    assert [m.row_group(i).num_rows for m in metas for i in range(m.num_row_groups)] == groups
    assert rows == sum(sizes) and all(p.exists() for p in parts)  # parts kept for a re-run
    # num_bytes is the Arrow size datasets computes when it loads the shards
    ds = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train",
                               cache_dir=str(tmp_path / "cache"))
    assert nbytes == ds.info.splits["train"].num_bytes
    again, _, _ = finalize_parts(parts, tmp_path / "out", SCHEMA)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f.name for f in again]


def test_small_parts_are_merged_and_an_empty_config_keeps_one_shard(tmp_path):
    parts = _parts(tmp_path, [10, 10])
    files, rows, _ = finalize_parts(parts, tmp_path / "out", SCHEMA)
    assert len(files) == 1 and rows == 20
    empty = _parts(tmp_path / "e", [0])
    files, rows, _ = finalize_parts(empty, tmp_path / "empty", SCHEMA)
    assert rows == 0 and [f.name for f in files] == ["train-00000-of-00001.parquet"]


@pytest.mark.parametrize("n", [0, 1, 100, 101])
def test_part_row_groups_never_exceed_100(tmp_path, n):
    w = PartWriter(tmp_path / "p.parquet", SCHEMA)
    w.write(_rows(n))
    w.commit()
    meta = pq.ParquetFile(w.path).metadata
    assert meta.num_rows == n
    assert all(meta.row_group(i).num_rows <= 100 for i in range(meta.num_row_groups))


def test_merged_row_groups_hold_fewer_rows_when_the_images_are_large(tmp_path):
    parts = _parts(tmp_path, [40, 25])  # rows carry 1000 image bytes + 1 mask byte each
    files, rows, _ = merge_parts(parts, tmp_path / "out", SCHEMA, max_group_bytes=10 * 1001)
    meta = pq.ParquetFile(files[0]).metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert rows == 65 and groups == [10] * 6 + [5]
    ids = [r["source_id"] for r in pq.read_table(files[0]).to_pylist()]
    assert ids == [f"id{i:04d}" for i in range(65)]
    # one row bigger than the budget still gets a group of its own
    files, rows, _ = merge_parts(parts, tmp_path / "one", SCHEMA, max_group_bytes=10)
    meta = pq.ParquetFile(files[0]).metadata
    assert rows == 65 and meta.num_row_groups == 65


def test_a_shard_never_grows_past_its_limit_by_a_row_group(tmp_path):
    parts = _parts(tmp_path, [100])
    limit = 25 * 1100  # about 25 rows of data per shard, groups of 20 rows
    files, rows, _ = merge_parts(parts, tmp_path / "out", SCHEMA, rows_per_group=20, max_shard_bytes=limit)
    sizes = [sum(m.row_group(i).total_byte_size for i in range(m.num_row_groups))
             for m in (pq.ParquetFile(f).metadata for f in files)]
    assert rows == 100 and len(files) == 5 and max(sizes) <= limit


def test_num_bytes_matches_datasets_for_uneven_row_groups(tmp_path):
    from ximagenet12.builder.writer import arrow_num_bytes, rows_to_table

    path = tmp_path / "uneven.parquet"
    with pq.ParquetWriter(str(path), SCHEMA) as writer:
        for start, n in ((0, 7), (7, 10), (17, 3)):  # groups of 7, 10, 3: datasets reads batches of 7
            writer.write_table(rows_to_table(_rows(n, start), SCHEMA))
    ds = datasets.load_dataset("parquet", data_files=[str(path)], split="train", cache_dir=str(tmp_path / "cache"))
    assert arrow_num_bytes(path) == ds.info.splits["train"].num_bytes
