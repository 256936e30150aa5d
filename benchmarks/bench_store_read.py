"""Benchmark reading a build from an object store against reading a local copy of it, side by side.

    python benchmarks/bench_store_read.py [--images 100] [--scenarios all] [--repeats 3]

On a generated release folder of N 500x375 photos with masks (``bench_build.make_release``)
it builds once into ``s3://bench/out`` on a moto S3 server on 127.0.0.1 (in this process),
copies the prefix to a local folder (as ``aws s3 sync`` would), then reads, alternately and
``--repeats`` times each, every row of every config through the evaluator's data layer
(:mod:`ximagenet12.evaluation.data`: card, footers, shards row group by row group; the
columns ``evaluate`` reads, image bytes left encoded) from (a) the local copy and (b) the
store, and prints the median wall time of each and their ratio, with the 1-minute load
average before and after. (b) - (a) is what reading through fsspec/s3fs and moto costs here,
not the cost of a real network or a real store, which this machine cannot reach; the model's
own time, which a real evaluation adds to both, is left out so the ratio is the layer's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _moto import moto_bucket  # noqa: E402
from bench_build import make_release  # noqa: E402

COLUMNS = ["image", "label", "class_key", "source_id", "scenario"]


def _read_all(data: object) -> tuple[float, int, int]:
    """(seconds, rows, image bytes) of reading every config's rows, as ``evaluate`` streams them."""
    from ximagenet12.evaluation import data as D

    start = time.perf_counter()
    rows = nbytes = 0
    log = D.RunLog()
    for config in D.resolve_scenarios(data, "all"):
        D.count_rows(data, config)  # the evaluator's planning step (footers)
        for row in D._config_rows(data, config, columns=COLUMNS, log=log):
            rows += 1
            nbytes += len(row["image"]["bytes"])
    if log.bad_shards:
        raise SystemExit(f"damaged shards: {log.bad_shards}")
    return time.perf_counter() - start, rows, nbytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import s3fs

    from ximagenet12.builder import build_dataset
    from ximagenet12.io.storage import data_source

    with moto_bucket("bench") as options, tempfile.TemporaryDirectory(prefix="bench-store-read-") as tmp:
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
        source = make_release(Path(tmp) / "release", args.images)
        build_dataset(str(source), "s3://bench/out", scenarios=args.scenarios, progress=False, storage_options=options)
        local = Path(tmp) / "copy"
        fs.get("bench/out/", str(local), recursive=True)
        store = data_source("s3://bench/out", storage_options=options)
        load0 = os.getloadavg()[0]
        times: dict[str, list[float]] = {"local": [], "store": []}
        counts = set()
        for _ in range(args.repeats):
            for name, data in (("local", local), ("store", store)):
                seconds, rows, nbytes = _read_all(data)
                times[name].append(seconds)
                counts.add((rows, nbytes))
        load1 = os.getloadavg()[0]
    if len(counts) != 1:
        raise SystemExit(f"the store and the copy gave different rows: {counts}")
    (rows, nbytes), = counts
    a, b = statistics.median(times["local"]), statistics.median(times["store"])
    print(f"{args.images} images, scenarios={args.scenarios}: {rows} rows, {nbytes / 2**20:.1f} MiB of image bytes, "
          f"{args.repeats} repeats each, alternating; load average (1 min) {load0:.1f} before, {load1:.1f} after")
    print(f"(a) local copy          median {a:7.2f} s   runs {', '.join(f'{x:.2f}' for x in times['local'])}")
    print(f"(b) s3:// (moto, local) median {b:7.2f} s   runs {', '.join(f'{x:.2f}' for x in times['store'])}")
    print(f"(b)/(a) = {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
