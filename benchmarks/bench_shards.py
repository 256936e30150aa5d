"""What writing shards the way ``datasets`` does costs (page index + content-defined chunking).

Side by side in one run, on the same parts (written in small pieces, as a build does):
(a) the old fast path: parts hard-linked into place, no rewrite (small row groups published);
(b) merge into 100-row groups with plain parquet options;
(c) merge into 100-row groups with the page index and content-defined chunking;
(d) (c) plus the read-back that measures ``num_bytes`` as ``datasets`` does
    (:func:`ximagenet12.builder.writer.finalize_parts`, what a build does now).

Usage: python benchmarks/bench_shards.py [--rows 2000] [--image-kib 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ximagenet12.builder import writer as w
from ximagenet12.builder.schema import arrow_schema, build_features

SCHEMA = arrow_schema(build_features(["a", "b", "c"]))


def make_parts(folder: Path, rows: int, image_bytes: int, rng: np.random.Generator) -> list[Path]:
    """Parts of 1000 rows each, written 16 rows at a time (incompressible image bytes)."""
    parts = []
    for b, start in enumerate(range(0, rows, 1000)):
        part = w.PartWriter(folder / f"block-{b:05d}.parquet", SCHEMA)
        end = min(rows, start + 1000)
        for k in range(start, end, 16):
            n = min(16, end - k)
            part.write([(rng.bytes(image_bytes), rng.bytes(image_bytes // 20), i % 3, "k", f"id{i:06d}", "original",
                         None, i, "{}") for i in range(k, k + n)])
        part.commit()
        parts.append(part.path)
    return parts


def _link(parts: list[Path], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(parts):
        os.link(part, out / w.shard_name("train", i, len(parts)))


def _plain_merge(parts: list[Path], out: Path) -> None:
    final = w._writer

    w._writer = lambda path, schema, final=True: final_plain(path, schema)  # noqa: E731 - swap for this case only
    try:
        w.merge_parts(parts, out, SCHEMA)
    finally:
        w._writer = final


def final_plain(path: Path, schema) -> pq.ParquetWriter:
    return pq.ParquetWriter(str(path), schema, **w._column_options(schema))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--image-kib", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_shards_"))
    try:
        parts = make_parts(tmp / "parts", args.rows, args.image_kib * 1024, np.random.default_rng(0))
        size = sum(p.stat().st_size for p in parts)
        cases = {
            "(a) link parts, no rewrite": lambda out: _link(parts, out),
            "(b) merge, plain options": lambda out: _plain_merge(parts, out),
            "(c) merge, page index + CDC": lambda out: w.merge_parts(parts, out, SCHEMA),
            "(d) = (c) + num_bytes read-back": lambda out: w.finalize_parts(parts, out, SCHEMA),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for r in range(args.repeat):
            for name, run in cases.items():
                out = tmp / f"out-{r}-{name[1]}"
                t = time.perf_counter()
                run(out)
                times[name].append(time.perf_counter() - t)
                groups = [m.row_group(i).num_rows for m in (pq.ParquetFile(f).metadata for f in sorted(out.iterdir()))
                          for i in range(m.num_row_groups)]
                shutil.rmtree(out)
        print(f"{args.rows} rows, {size / 2**20:.0f} MiB of parts, median of {args.repeat}")
        base = statistics.median(times["(b) merge, plain options"])
        for name, values in times.items():
            med = statistics.median(values)
            print(f"{name:<30} {med:7.3f} s  {size / 2**20 / med:8.0f} MiB/s  ratio to (b) {med / base:5.2f}")
        print(f"row groups of (d): {groups[:3]}... ({len(groups)} groups)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
