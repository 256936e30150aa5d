"""Benchmark: the leaderboard's per-scenario comparison interval, counts vs resampling.

The Compare tab computes, for each scenario, a 95% percentile bootstrap interval of
acc(A) − acc(B) over the paired samples. For right/wrong outcomes the app draws the
resampled counts of the four pair kinds from a multinomial (``app._binary_interval``);
``scipy.stats.bootstrap`` resamples the n pairs themselves (``app._scipy_interval``, the
app's path for non-binary values such as IoU). Both run side by side here on synthetic
paired outcomes (A right 90%, B agreeing with A 90% of the time) at the sizes of one
scenario of the embedded sample, of a small user set and of the full XImageNet-12 release
(15,450 originals), with 2000 resamples each; the intervals are printed to show they agree.

Usage::

    python benchmarks/bench_leaderboard.py [--sizes 20,1000,15450] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib import resources

import numpy as np


def _app():
    import importlib.util

    path = resources.files("ximagenet12.leaderboard") / "app.py"
    spec = importlib.util.spec_from_file_location("leaderboard_app", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,1000,15450")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    app = _app()
    rng = np.random.default_rng(0)
    import scipy.stats  # noqa: F401  (imported once, outside the timings)

    print(f"{'n pairs':>8} {'counts (s)':>11} {'resampling (s)':>15} {'ratio':>7}  intervals (counts | resampling)")
    for n in (int(x) for x in args.sizes.split(",")):
        a = (rng.random(n) < 0.9).astype(float)
        b = np.where(rng.random(n) < 0.9, a, 1.0 - a)
        times, intervals = {}, {}
        for name, fn in (("counts", app._binary_interval), ("resampling", app._scipy_interval)):
            runs = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                intervals[name] = fn(a, b, paired=True)
                runs.append(time.perf_counter() - start)
            times[name] = statistics.median(runs)
        ratio = times["resampling"] / times["counts"]
        fmt = lambda iv: f"[{iv[0]:+.4f}, {iv[1]:+.4f}]"  # noqa: E731
        print(f"{n:>8} {times['counts']:>11.4f} {times['resampling']:>15.4f} {ratio:>6.0f}x  "
              f"{fmt(intervals['counts'])} | {fmt(intervals['resampling'])}")


if __name__ == "__main__":
    main()
