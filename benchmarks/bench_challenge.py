"""Benchmark the worst-case background challenge: batching and forward passes (issue 14).

    python benchmarks/bench_challenge.py [--candidates 16]

Builds the ``original`` config of the embedded sample (photographs of ImageNet-1k
classes with masks: the model's labels map to them) and runs ``run_challenge`` with the
real EfficientNet-Lite0 weights on the CPU, side by side in one run, at ``--batch-size``
1 and 16; the pool is the other samples' backgrounds and the 9 default library photos. Both must find the same first fooling
candidate for every sample; the figures are the forward passes (model calls), the images
forwarded against the bound ``samples x (1 + N)``, and the time of each, with the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=16)
    args = parser.parse_args()

    from ximagenet12.builder import build_dataset
    from ximagenet12.builder.sample import sample_source
    from ximagenet12.challenge import run_challenge
    from ximagenet12.evaluation.models import load_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_dataset(sample_source(), root / "data", scenarios="original", progress=False)
        pipe = load_pipeline("efficientnet-lite0", task="image-classification", device="cpu")
        results = {}
        for batch in (1, 16):
            started = time.perf_counter()
            r = run_challenge(pipe, root / "data", root / f"out{batch}", candidates=args.candidates,
                              batch_size=batch, device="cpu", progress=False)
            results[batch] = (time.perf_counter() - started, r)
    (t1, r1), (t16, r16) = results[1], results[16]
    same = [o.fooled_at for o in r1.outcomes] == [o.fooled_at for o in r16.outcomes]
    print(f"{r1.report['n']} samples (embedded sample), N = {args.candidates}, EfficientNet-Lite0 on the CPU")
    print(f"same first fooling candidate at batch 1 and 16: {same}")
    print(f"accuracy {r1.report['accuracy']:.3f} -> worst case {r1.report['worst_case_accuracy']:.3f}, "
          f"unfoolable {r1.report['unfoolable_share']:.3f}")
    print("| batch size | model calls | images forwarded | bound samples x (1 + N) | time |")
    print("|---|---|---|---|---|")
    for batch, (t, r) in results.items():
        f = r.report["forwards"]
        print(f"| {batch} | {f['batches']} | {f['images']} | {f['bound_images']} | {t:.1f} s |")
    print(f"batch 16 is {t1 / t16:.2f}x faster than batch 1")


if __name__ == "__main__":
    main()
