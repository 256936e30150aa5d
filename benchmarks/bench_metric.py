"""Benchmark: the robustness_score metric on one million predictions.

Measures, on synthetic data (N samples: N / 15 source images, each in the same 15
XImageNet-12 scenarios, 12 classes, int labels; an image's outcomes are correlated across
scenarios through a per-image difficulty, as real images' are):

(a) the functional per-sample core, ``robustness_score_from_samples``, with classes
    (numpy arrays in; the target of issue 4 is "well under a second" for N = 1,000,000);
(b) the same from Python lists (what a caller holding lists pays for the conversion);
(c) (a) plus a bootstrap CI of ``--n-bootstrap`` replicates, resampling source images
    paired across scenarios (issue 26); with ``--row-bootstrap`` also (c'), the same
    bootstrap with every row its own "source" (rows as independent draws), side by side,
    to compare the interval widths;
(d) for information, ``evaluate.load(<folder>).compute(...)`` on the same samples (it writes
    the samples to an Arrow cache file and reads them back before calling the core).

Prints the median of ``--repeats`` runs (one run for (d) unless ``--repeats-evaluate``).
Usage::

    python benchmarks/bench_metric.py [--n 1000000] [--repeats 7] [--n-bootstrap 1000] [--skip-evaluate] [--row-bootstrap]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from ximagenet12.metrics.robustness_score.functional import SCENARIO_SETS, robustness_score_from_samples

SCENARIO_NAMES = ("original", *SCENARIO_SETS["background"], "blur_object", "brightness_object", "only_fg", "no_fg")
N_SCENARIOS = len(SCENARIO_NAMES)
N_CLASSES = 12


def synthetic(n: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_src = max(2, n // N_SCENARIOS)
    names = np.array(SCENARIO_NAMES)
    cls = rng.integers(0, N_CLASSES, size=n_src)
    easy = rng.random(n_src)  # per-image difficulty: an easy image is right in most scenarios
    p_right = np.clip(easy[:, None] + np.linspace(0.45, -0.1, N_SCENARIOS)[None, :], 0.02, 0.98)
    right = (rng.random((n_src, N_SCENARIOS)) < p_right).ravel()
    refs = np.repeat(cls, N_SCENARIOS)
    preds = np.where(right, refs, (refs + rng.integers(1, N_CLASSES, size=refs.size)) % N_CLASSES)
    return {"predictions": preds, "references": refs, "scenarios": np.tile(names, n_src),
            "source_ids": np.repeat(np.arange(n_src), N_SCENARIOS)}


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n-bootstrap", type=int, default=1000)
    ap.add_argument("--repeats-evaluate", type=int, default=1)
    ap.add_argument("--skip-evaluate", action="store_true")
    ap.add_argument("--row-bootstrap", action="store_true", help="also run (c'): each row its own source")
    args = ap.parse_args(argv)

    data = synthetic(args.n)
    lists = {k: v.tolist() for k, v in data.items()}
    rows = []
    common = {"classes": "references", "scenario_set": "all"}

    t, result = median_seconds(lambda: robustness_score_from_samples(**data, **common), args.repeats)
    rows.append(("(a) functional, numpy arrays, with classes", t, result["s_robust"]))
    t, result = median_seconds(lambda: robustness_score_from_samples(**lists, **common), args.repeats)
    rows.append(("(b) functional, Python lists, with classes", t, result["s_robust"]))
    t, boot = median_seconds(
        lambda: robustness_score_from_samples(**data, **common, n_bootstrap=args.n_bootstrap, seed=0), args.repeats
    )
    rows.append((f"(c) (a) + paired bootstrap, {args.n_bootstrap} replicates", t, boot["s_robust"]))
    rowboot = None
    if args.row_bootstrap:  # every row its own "source": N sources instead of N / 15, so much slower
        per_row = {**data, "source_ids": np.arange(len(data["predictions"]))}
        t, rowboot = median_seconds(
            lambda: robustness_score_from_samples(**per_row, **common, n_bootstrap=args.n_bootstrap, seed=0),
            args.repeats,
        )
        rows.append((f"(c') rows as independent, {args.n_bootstrap} replicates", t, rowboot["s_robust"]))

    if not args.skip_evaluate:
        import evaluate

        from ximagenet12.metrics import metric_path

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        with tempfile.TemporaryDirectory() as tmp:
            evaluate.config.HF_MODULES_CACHE = os.path.join(tmp, "modules")
            metric = evaluate.load(str(metric_path()), cache_dir=os.path.join(tmp, "cache"))
            t, result = median_seconds(
                lambda: metric.compute(**{k: v for k, v in data.items() if k != "source_ids"}, **common),
                args.repeats_evaluate,
            )
            rows.append(("(d) evaluate.load(folder).compute, numpy arrays", t, result["s_robust"]))

    print(f"N = {args.n:,} samples, {N_SCENARIOS} scenarios, {N_CLASSES} classes; median of {args.repeats} runs "
          f"({args.repeats_evaluate} for evaluate)")  # fmt: skip
    print(f"{'path':<50} {'seconds':>9} {'S_robust':>9}")
    for name, seconds, s in rows:
        print(f"{name:<50} {seconds:>9.3f} {s:>9.4f}")
    for name, b in (("paired over source images", boot), ("rows as independent", rowboot)):
        if b is None:
            continue
        low, high = b["s_robust_ci"]
        print(f"95% CI for S_robust, {name}: [{low:.4f}, {high:.4f}] (width {high - low:.4f}), "
              f"se {b['s_robust_se']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
