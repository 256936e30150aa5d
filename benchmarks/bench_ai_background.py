"""Benchmark ``ai_background`` generation: batching, wrapper overhead, resume.

    python benchmarks/bench_ai_background.py                       # tiny SDXL pipeline, CPU
    python benchmarks/bench_ai_background.py --model diffusers/stable-diffusion-xl-1.0-inpainting-0.1 \\
        --device cuda --steps 30 --height 375 --width 500 --samples 16   # the real thing, on a GPU

Measured side by side in one run, on N synthetic photos with an elliptical object mask:

(a) throughput at batch sizes 1, 2, 4 (and 8 with --max-batch 8): images/s through
    :meth:`AIBackgroundGenerator.generate` (one warm-up call first, not counted);
(b) wrapper overhead: the same batch through ``generate`` against the bare pipeline call
    on inputs already resized (so the difference is our dilation, resizing, mask
    building and paste-back);
(c) resume: :func:`generate_variant` a second time over a filled cache against the first,
    generating run, per sample.

Without --model a tiny randomly initialised SDXL inpainting pipeline (64² native) is
built in a temporary folder: its figures show the machinery's cost, not SDXL's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def _samples(n: int, height: int, width: int):
    from ximagenet12.core.types import Sample

    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        yy, xx = np.mgrid[0:height, 0:width]
        base = np.stack([xx * 255 / width, yy * 255 / height, np.full_like(xx, 128.0)], -1)
        image = np.clip(base + rng.normal(0, 15, base.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((height, width), np.uint8)
        cv2.ellipse(mask, (width // 2, height // 2), (width // 4, height // 3), 0, 0, 360, 1, -1)
        out.append(Sample(f"n02119022_{i}", "n02119022", image, mask.astype(bool)))
    return out


def _timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Hub id or folder (default: a tiny pipeline built here)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=None, help="generation size (default: the model's)")
    parser.add_argument("--height", type=int, default=48)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-batch", type=int, default=4)
    args = parser.parse_args()

    import torch

    from ximagenet12.scenarios.generation import AIBackgroundGenerator, InpaintRequest
    from ximagenet12.scenarios.generation.inpaint import _inpaint_mask, _resize, generation_size

    tmp = Path(tempfile.mkdtemp(prefix="bench-ai-"))
    model = args.model
    if model is None:
        from ximagenet12.scenarios.generation.testing import save_tiny_sdxl_inpainting

        model = str(save_tiny_sdxl_inpainting(tmp / "tiny"))
    generator = AIBackgroundGenerator(model, device=args.device, steps=args.steps, size=args.size)
    samples = _samples(args.samples, args.height, args.width)
    requests = [InpaintRequest(s.image, s.mask, s.class_key, i, source_id=s.source_id) for i, s in enumerate(samples)]
    generator.generate(requests[:1])  # warm-up: loads the pipeline, first-call kernels
    sync = torch.cuda.synchronize if generator.device.startswith("cuda") else (lambda: None)

    print(f"model {model} on {generator.device} ({generator.dtype}), {args.steps} steps, "
          f"{args.samples} samples of {args.height}x{args.width}")
    _throughput(generator, requests, max_batch=args.max_batch, sync=sync)

    size, multiple = generator._geometry()
    gh, gw = generation_size(args.height, args.width, size=size, multiple=multiple)
    b = min(args.max_batch, len(requests))
    pil_images = [_resize(r.image, gh, gw) for r in requests[:b]]
    from PIL import Image

    pil_images = [Image.fromarray(a) for a in pil_images]
    pil_masks = [Image.fromarray(np.where(_resize(_inpaint_mask(r.mask, generator.dilate), gh, gw) > 0, 255, 0).astype(np.uint8))
                 for r in requests[:b]]
    prompts = [generator.prompt_for(r.class_key) for r in requests[:b]]

    def bare():
        gens = [torch.Generator("cpu").manual_seed(int(r.seed)) for r in requests[:b]]
        with torch.inference_mode():
            generator.pipeline(prompt=prompts, negative_prompt=[generator.negative_prompt] * b, image=pil_images,
                               mask_image=pil_masks, height=gh, width=gw, num_inference_steps=generator.steps,
                               guidance_scale=generator.guidance_scale, strength=generator.strength,
                               generator=gens, output_type="np")
        sync()

    def wrapped():
        generator.generate(requests[:b])
        sync()

    t_bare = t_wrapped = float("inf")
    for _ in range(5):  # interleaved, best of 5: the machine's load hits both alike
        t_bare, t_wrapped = min(t_bare, _timed(bare)), min(t_wrapped, _timed(wrapped))
    print(f"(b) batch of {b} at {gw}x{gh}: bare pipeline {t_bare * 1000:.1f} ms, generate {t_wrapped * 1000:.1f} ms "
          f"-> overhead {100 * (t_wrapped / t_bare - 1):+.1f}%")

    _resume(generator, samples, batch_size=b, cache=tmp / "cache")


def _throughput(generator, requests, *, max_batch: int, sync) -> None:
    """(a) images per second through ``AIBackgroundGenerator.generate`` at batch 1, 2, 4, ..."""
    print("(a) throughput through AIBackgroundGenerator.generate")
    base = None
    batch = 1
    while batch <= max_batch:
        def run(b=batch):
            for k in range(0, len(requests), b):
                generator.generate(requests[k : k + b])
            sync()

        seconds = _timed(run, 2)
        rate = len(requests) / seconds
        base = base or rate
        print(f"    batch {batch:>2}: {rate:8.2f} images/s  ({rate / base:.2f}x batch 1)")
        batch *= 2


def _resume(generator, samples, *, batch_size: int, cache: Path) -> None:
    """(c) ``generate_variant`` twice on the same cache: the rerun only reads it."""
    from ximagenet12.scenarios.generation import GenerationOptions, generate_variant
    from ximagenet12.scenarios.registry import resolve

    variant = resolve("ai_background")[0]
    options = GenerationOptions(batch_size=batch_size)
    t_first = _timed(lambda: generate_variant(variant, samples, options=options, cache_dir=cache, generator=generator))
    t_again = _timed(lambda: generate_variant(variant, samples, options=options, cache_dir=cache, generator=generator))
    print(f"(c) resume: first run {1000 * t_first / len(samples):.1f} ms/sample (generates, writes the cache), "
          f"rerun {1000 * t_again / len(samples):.2f} ms/sample (cache hits) -> {t_first / t_again:.0f}x")


if __name__ == "__main__":
    main()
