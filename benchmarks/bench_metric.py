"""Benchmark: the robustness_score metric on one million predictions.

Measures, on synthetic data (N samples over 15 scenarios and 12 classes, int labels):

(a) the functional per-sample core, ``robustness_score_from_samples``, with classes
    (numpy arrays in; the target of issue 4 is "well under a second" for N = 1,000,000);
(b) the same from Python lists (what a caller holding lists pays for the conversion);
(c) (a) plus a bootstrap CI of ``--n-bootstrap`` replicates;
(d) for information, ``evaluate.load(<folder>).compute(...)`` on the same samples (it writes
    the samples to an Arrow cache file and reads them back before calling the core).

Prints the median of ``--repeats`` runs (one run for (d) unless ``--repeats-evaluate``).
Usage::

    python benchmarks/bench_metric.py [--n 1000000] [--repeats 7] [--n-bootstrap 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from ximagenet12.metrics.robustness_score.functional import robustness_score_from_samples
from ximagenet12.registry import SCENARIOS

N_SCENARIOS = 15
N_CLASSES = 12


def synthetic(n: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # real scenario names: the metric refuses names it does not know (made-up ones need custom_scenarios=True)
    names = np.array(["original"] + [s for s in SCENARIOS if s != "original"][: N_SCENARIOS - 1])
    scen = rng.integers(0, N_SCENARIOS, size=n)
    refs = rng.integers(0, N_CLASSES, size=n)
    p_right = np.linspace(0.95, 0.4, N_SCENARIOS)[scen]
    right = rng.random(n) < p_right
    preds = np.where(right, refs, (refs + rng.integers(1, N_CLASSES, size=n)) % N_CLASSES)
    return {"predictions": preds, "references": refs, "scenarios": names[scen]}


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
    args = ap.parse_args(argv)

    data = synthetic(args.n)
    lists = {k: v.tolist() for k, v in data.items()}
    rows = []

    t, result = median_seconds(lambda: robustness_score_from_samples(**data, classes="references"), args.repeats)
    rows.append(("(a) functional, numpy arrays, with classes", t, result["s_robust"]))
    t, result = median_seconds(lambda: robustness_score_from_samples(**lists, classes="references"), args.repeats)
    rows.append(("(b) functional, Python lists, with classes", t, result["s_robust"]))
    t, boot = median_seconds(
        lambda: robustness_score_from_samples(**data, classes="references", n_bootstrap=args.n_bootstrap, seed=0),
        args.repeats,
    )
    rows.append((f"(c) (a) + bootstrap, {args.n_bootstrap} replicates", t, boot["s_robust"]))

    if not args.skip_evaluate:
        import evaluate

        from ximagenet12.metrics import metric_path

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        with tempfile.TemporaryDirectory() as tmp:
            evaluate.config.HF_MODULES_CACHE = os.path.join(tmp, "modules")
            metric = evaluate.load(str(metric_path()), cache_dir=os.path.join(tmp, "cache"))
            t, result = median_seconds(
                lambda: metric.compute(**data, classes="references"), args.repeats_evaluate
            )
            rows.append(("(d) evaluate.load(folder).compute, numpy arrays", t, result["s_robust"]))

    print(f"N = {args.n:,} samples, {N_SCENARIOS} scenarios, {N_CLASSES} classes; median of {args.repeats} runs "
          f"({args.repeats_evaluate} for evaluate)")  # fmt: skip
    print(f"{'path':<50} {'seconds':>9} {'S_robust':>9}")
    for name, seconds, s in rows:
        print(f"{name:<50} {seconds:>9.3f} {s:>9.4f}")
    low, high = boot["s_robust_ci"]
    print(f"bootstrap 95% CI for S_robust: [{low:.4f}, {high:.4f}], se {boot['s_robust_se']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
