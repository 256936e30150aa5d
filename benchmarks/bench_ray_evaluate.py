"""Benchmark ``evaluate --engine ray --replicas N`` against the local evaluator on ONE config.

    python benchmarks/bench_ray_evaluate.py [--n 300] [--replicas 2] [--cpus 2] [--batch-size 32]

On a built folder with one config (``original``) of N real photos (seeded crops of
scikit-image's bundled images, 500x375 JPEG), with the real EfficientNet-Lite0, it
measures side by side in one run:

(a) the local evaluator (``evaluate_classification``, one process, torch's own threads);
(b) Ray start-up: a new local Ray instance of ``--cpus`` CPUs (``RayExecutor.preflight``);
(c) ``evaluate_on_ray`` with ``--replicas`` replicas on that instance (start-up excluded):
    the config is cut into row shares, each replica (a Ray task: one torch thread) loads
    the model and evaluates its share. The first pair also pays the Ray workers' imports.

(a) and (c) alternate ``--repeats`` times. It checks that (c) gives the predictions of (a),
and prints wall times with the 1-minute load average before and after: on a shared machine
the ratios only mean something next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench_evaluate import photos, write_folder  # noqa: E402


def train_pair(root: Path, args: argparse.Namespace) -> dict:
    """(e) ex2 linear probe, local then on Ray (feature extraction shared over the replicas)."""
    from ximagenet12.training.api import train

    kwargs = dict(protocol="ex2", method="linear-probe", scenarios="original", folds=2, batch_size=args.batch_size,
                  device="cpu", progress=False)
    times, reports = [], []
    for engine in ("local", "ray"):
        t = time.perf_counter()
        extra = {"engine": "ray", "replicas": args.replicas} if engine == "ray" else {}
        reports.append(train("efficientnet-lite0", root, out=root.parent / f"run-{engine}", **kwargs, **extra).report)
        times.append(time.perf_counter() - t)
    same = [f["accuracy"] for f in reports[0]["scenarios"]["original"]["folds"]] == \
        [f["accuracy"] for f in reports[1]["scenarios"]["original"]["folds"]]
    return {"local_s": round(times[0], 2), "ray_s": round(times[1], 2), "ratio": round(times[1] / times[0], 3),
            "same_fold_accuracies": same}


def main() -> None:
    import torch

    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import RayExecutor, evaluate_on_ray

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300, help="rows of the one config (default 300)")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance (default 2)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="local/Ray pairs, interleaved (default 2)")
    ap.add_argument("--train", action="store_true",
                    help="also (e) `train --method linear-probe` (ex2, 2 folds) locally and with --engine ray")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    options = dict(scenarios="original", batch_size=args.batch_size, device="cpu", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "built"
        write_folder(root, photos(args.n, (500, 375)))
        evaluate_classification("efficientnet-lite0", root, limit=args.batch_size, **options)  # warm caches
        executor = RayExecutor(num_cpus=args.cpus)
        t = time.perf_counter()
        executor.preflight()
        startup_s = time.perf_counter() - t
        local_s, ray_s = [], []
        try:
            for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits both
                t = time.perf_counter()
                local = evaluate_classification("efficientnet-lite0", root, **options)
                local_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                merged = evaluate_on_ray(evaluate_classification, "efficientnet-lite0", root, replicas=args.replicas,
                                         **options)
                ray_s.append(time.perf_counter() - t)
            probe = train_pair(root, args) if args.train else None
        finally:
            executor.close()
    drop = ["score", "strict_score", "restricted_score"]
    same = merged.predictions.drop(columns=drop).equals(local.predictions.drop(columns=drop))
    print(json.dumps({
        "rows": args.n, "replicas": args.replicas, "ray_cpus": args.cpus, "batch_size": args.batch_size,
        "local_torch_threads": torch.get_num_threads(),
        "shares": [s["spans"] for s in merged.report["engine"]["shards"]],
        "b_ray_startup_s": round(startup_s, 2),
        "a_local_s": [round(x, 2) for x in local_s],
        "c_ray_s": [round(x, 2) for x in ray_s],
        "ratio_c_over_a_per_pair": [round(r / loc, 3) for r, loc in zip(ray_s, local_s)],
        "ratio_best_c_over_best_a": round(min(ray_s) / min(local_s), 3),
        "same_predictions": bool(same),
        **({"e_train_linear_probe": probe} if probe else {}),
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
