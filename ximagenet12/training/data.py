"""The rows training reads: which source images exist, their classes, each config's images.

Training needs every config of a run before it starts: the fold assignment is made once
over the *source ids* of all of them (so one source image, in any scenario or severity
level, sits in one fold only), and every bad input is found before any model runs.
:func:`read_sources` reads only the ``label`` and ``source_id`` columns (a projection on
the parquet shards); :func:`load_images` then reads one config's image bytes.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ximagenet12.evaluation import data as D

__all__ = ["SourceTable", "ConfigImages", "read_sources", "load_images"]


@dataclass(frozen=True)
class SourceTable:
    """Every source id of a run with its class, and the dataset's class names and keys."""

    source_ids: tuple[str, ...]
    labels: np.ndarray  # int64, one per source id
    class_names: tuple[str, ...]
    class_keys: tuple[str, ...]

    def class_counts(self) -> dict[int, int]:
        counts = Counter(int(x) for x in self.labels)
        return {c: counts.get(c, 0) for c in range(len(self.class_names))}


@dataclass(frozen=True)
class ConfigImages:
    """One config's rows: encoded image bytes, class and source id per row."""

    config: str
    images: list[bytes]
    labels: np.ndarray  # int64
    source_ids: list[str]

    def __len__(self) -> int:
        return len(self.images)


def _projected(data: str | os.PathLike, config: str, columns: list[str]):
    import datasets

    if D.is_store(data):  # a build in an object store: its shards through datasets' parquet loader
        return D.open_config(data, config, columns=columns)
    try:
        return datasets.load_dataset(os.fspath(data), config, split=D.SPLIT, streaming=True, columns=columns)
    except Exception as exc:
        raise ValueError(f"could not open config {config!r} of {D.data_name(data)!r}: {type(exc).__name__}: {exc}") from exc


def read_sources(data: str | os.PathLike, configs: Sequence[str], *, limit: int | None = None) -> SourceTable:
    """The source table of ``configs``; a source id whose class differs between configs,
    a row without a source id, or configs with different class lists are ``ValueError``s."""
    names, keys = D.class_info(data, configs[0])
    keys = [k or n for k, n in zip(keys, names)]
    label_of: dict[str, int] = {}
    for config in configs:
        other, _ = D.class_info(data, config) if config != configs[0] else (names, keys)
        if list(other) != list(names):
            raise ValueError(
                f"config {config!r} has classes {list(other)}, but {configs[0]!r} has {list(names)}: "
                "one run needs one class list"
            )
        rows = _projected(data, config, ["label", "source_id"])
        rows = rows if limit is None else rows.take(limit)
        for i, row in enumerate(rows):
            sid, label = row["source_id"], int(row["label"])
            if not sid:
                raise ValueError(f"row {i} of config {config!r} has no source_id: folds are grouped by source id")
            if label_of.setdefault(sid, label) != label:
                raise ValueError(
                    f"source {sid!r} has class {names[label_of[sid]]!r} in one config and {names[label]!r} "
                    f"in {config!r}: a source image must keep its class in every scenario"
                )
    if not label_of:
        raise ValueError(f"the configs {', '.join(configs)} of {D.data_name(data)!r} have no rows")
    ids = tuple(sorted(label_of))
    return SourceTable(ids, np.array([label_of[s] for s in ids], dtype=np.int64), tuple(names), tuple(keys))


def load_images(data: str | os.PathLike, config: str, *, limit: int | None = None) -> ConfigImages:
    """All rows of ``config`` (first ``limit``): image bytes left encoded, decoded later."""
    ds = D.open_config(data, config, columns=["image", "label", "source_id"])
    rows = ds if limit is None else ds.take(limit)
    images, labels, sids = [], [], []
    for row in rows:
        value = row["image"]
        data_bytes = value.get("bytes") if isinstance(value, dict) else value
        if data_bytes is None and isinstance(value, dict) and value.get("path"):
            with open(value["path"], "rb") as fh:
                data_bytes = fh.read()
        images.append(data_bytes or b"")
        labels.append(int(row["label"]))
        sids.append(row["source_id"])
    if not images:
        raise ValueError(f"config {config!r} of {D.data_name(data)!r} is empty (0 rows)")
    return ConfigImages(config, images, np.array(labels, dtype=np.int64), sids)
