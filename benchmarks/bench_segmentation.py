"""Benchmark: ``evaluate-segmentation`` end to end, pipeline post-processing vs low-resolution argmax.

Measures, side by side in one run on the CPU, ``evaluate_segmentation`` of a Segformer
with the 150 ADE20k labels (random weights, seeded; the real processor's 512 x 512 input)
on the embedded sample built with three scenarios (60 rows of 300-600 px photos):

(a) before: the ``image-segmentation`` pipeline's own post-processing, which upsamples all
    150 class maps to each image's size, takes the argmax there and cuts one PIL mask per
    label (``segmentation.LOW_RES_ARGMAX = False``);
(b) after: argmax at the model's output size, object/background per label there, one
    boolean map upsampled (the default).

Runs alternate (a), (b), (a), (b) ... and the median of each is reported with the
speed-up (target >= 3x, issue 26), and how much the masks differ: the mean and largest
per-row IoU difference between (a) and (b). Usage::

    python benchmarks/bench_segmentation.py [--repeats 3] [--batch-size 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from importlib import resources
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCENARIOS = "original,blur_background,random_background"


def ade_segformer(directory: Path) -> Path:
    """A small random Segformer (seeded) with the ADE20k-150 labels and the default 512 x 512 processor."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    spaces = json.loads(resources.files("ximagenet12").joinpath("data/segmentation_label_spaces.json").read_text("utf-8"))
    labels = [entry["name"] for entry in spaces["spaces"]["ade20k-150"]["labels"]]
    torch.manual_seed(0)
    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[16, 32],
        patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
        decoder_hidden_size=32, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    SegformerForSemanticSegmentation(config).eval().save_pretrained(directory)
    SegformerImageProcessor().save_pretrained(directory)
    return directory


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from ximagenet12.builder import build_dataset
    from ximagenet12.evaluation import segmentation

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_dataset(None, tmp / "data", scenarios=SCENARIOS, progress=False)
        model = str(ade_segformer(tmp / "segformer"))

        def run(low_res: bool):
            segmentation.LOW_RES_ARGMAX = low_res
            started = time.perf_counter()
            result = segmentation.evaluate_segmentation(model, tmp / "data", batch_size=args.batch_size,
                                                        num_workers=args.workers, progress=False, device="cpu")
            return time.perf_counter() - started, result

        run(True)  # warm-up: model load, imports, page cache
        times = {False: [], True: []}
        results = {}
        for _ in range(args.repeats):
            for low_res in (False, True):
                seconds, results[low_res] = run(low_res)
                times[low_res].append(seconds)
        segmentation.LOW_RES_ARGMAX = True
    before, after = statistics.median(times[False]), statistics.median(times[True])
    a = results[False].predictions.set_index(["config", "source_id"])["iou"]
    b = results[True].predictions.set_index(["config", "source_id"])["iou"]
    diff = (a - b.reindex(a.index)).abs()
    rows = len(a)
    print(f"evaluate-segmentation, {rows} rows ({SCENARIOS}), ADE20k-150 Segformer, batch {args.batch_size}, "
          f"{args.workers} workers, median of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    print(f"(a) pipeline post-processing (150 maps upsampled)   {before:8.2f} s   {rows / before:6.1f} rows/s")
    print(f"(b) argmax at output size, one map upsampled        {after:8.2f} s   {rows / after:6.1f} rows/s")
    print(f"speed-up (a)/(b): {before / after:.2f}x")
    print(f"IoU difference per row: mean {diff.mean():.4f}, max {diff.max():.4f}; "
          f"mean IoU (a) {a.mean():.4f}, (b) {b.mean():.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
