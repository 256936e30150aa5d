"""Benchmark a build into an object store against the same build into a local folder, side by side.

    python benchmarks/bench_object_store.py [--images 100] [--scenarios all] [--repeats 3]

On a generated release folder of N 500x375 photos with masks (``bench_build.make_release``)
it builds, alternately and ``--repeats`` times each, (a) into a local folder and (b) into
``s3://bench/out-K`` on a moto S3 server on 127.0.0.1 (in this process), one worker, and
prints the median wall time of each and their ratio, with the output size and the 1-minute
load average before and after. (b) - (a) is what the object-store path itself costs here:
parts uploaded by the worker, downloaded for finalize, shards uploaded, plus moto's own
request handling; it is not the cost of a real network or a real store, which this machine
cannot reach.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _moto import moto_bucket  # noqa: E402
from bench_build import make_release  # noqa: E402


def _timed(build, source: Path, out: object, scenarios: str, **kwargs: object) -> tuple[float, int]:
    start = time.perf_counter()
    summary = build(str(source), out, scenarios=scenarios, progress=False, **kwargs)
    return time.perf_counter() - start, summary.download_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from ximagenet12.builder import build_dataset

    with moto_bucket("bench") as options, tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        source = make_release(Path(tmp) / "release", args.images)
        load0 = os.getloadavg()[0]
        local, store, size = [], [], 0
        for k in range(args.repeats):
            out = Path(tmp) / f"local-{k}"
            seconds, size = _timed(build_dataset, source, out, args.scenarios)
            local.append(seconds)
            shutil.rmtree(out)
            store.append(_timed(build_dataset, source, f"s3://bench/out-{k}", args.scenarios,
                                storage_options=options)[0])
        load1 = os.getloadavg()[0]
    a, b = statistics.median(local), statistics.median(store)
    print(f"{args.images} images, scenarios={args.scenarios}, {size / 2**20:.1f} MiB of shards, "
          f"{args.repeats} repeats each, alternating; load average (1 min) {load0:.1f} before, {load1:.1f} after")
    print(f"(a) local folder      median {a:7.2f} s   runs {', '.join(f'{x:.2f}' for x in local)}")
    print(f"(b) s3:// (moto, local) median {b:7.2f} s   runs {', '.join(f'{x:.2f}' for x in store)}")
    print(f"(b)/(a) = {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
