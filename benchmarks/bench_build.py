"""Benchmark the dataset builder against its floor and a naive baseline (issue 3, Performance).

    python benchmarks/bench_build.py [--images 200] [--scenarios all]

On a generated release folder of N 500x375 photos with masks (crops of scikit-image's
CC0 / public-domain photographs, with elliptical masks), it measures in one run:

(a) floor    - decode each source once and encode every output with the builder's
               codecs (JPEG q95 4:4:4 for RGB configs, PNG for RGBA configs), plus the
               mask once per source (PNG; the outputs keep it), no scenario applied,
               nothing written;
(b) builder  - ``build_dataset(..., num_proc=1)`` for the same configs (transforms,
               parquet parts, merge, card);
(c) naive    - per scenario: re-read and re-decode every source, apply the scenario,
               hand PIL images to ``datasets.Dataset.from_dict`` and ``to_parquet``
               (datasets encodes the PIL images itself);
(d) peak RSS - of a fresh process running the builder on N and 4N images;
(e) num_proc - the builder with ``num_proc=2`` against ``num_proc=1``.

Targets: builder <= 1.2x floor (issue 13; 1.5x before), >= 5x faster than naive, RSS(4N)
within 20% of RSS(N), num_proc 2 >= 1.85x faster than 1 on idle cores (issue 13; 1.7x
before). Figures are printed as a table; ratios are measured side by side in the same
run, with the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 500, 375
CHILD = "--child"


def make_release(root: Path, n: int, *, classes: int = 4, seed: int = 0) -> Path:
    """N photo-like 500x375 JPEGs with elliptical object masks, in the release layout."""
    import skimage.data

    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket(), skimage.data.astronaut()]
    rng = np.random.default_rng(seed)
    for k in range(n):
        wnid = f"n{10000001 + k % classes:08d}"
        (root / "image" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "masks" / wnid).mkdir(parents=True, exist_ok=True)
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        scale = float(rng.uniform(1.0, 1.6)) * max(WIDTH / w, HEIGHT / h)
        big = cv2.resize(photo, (int(np.ceil(w * scale)), int(np.ceil(h * scale))), interpolation=cv2.INTER_LINEAR)
        y = int(rng.integers(0, big.shape[0] - HEIGHT + 1))
        x = int(rng.integers(0, big.shape[1] - WIDTH + 1))
        image = big[y : y + HEIGHT, x : x + WIDTH]
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        centre = (int(rng.integers(150, 350)), int(rng.integers(120, 255)))
        axes = (int(rng.integers(60, 140)), int(rng.integers(50, 110)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        stem = f"{wnid}_{k}"
        cv2.imwrite(str(root / "image" / wnid / f"{stem}.JPEG"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(root / "masks" / wnid / f"{stem}.png"), mask)
    return root


def floor(source_dir: Path, scenarios: str) -> float:
    from ximagenet12.builder.encode import encode_image, encode_mask
    from ximagenet12.scenarios.registry import resolve
    from ximagenet12.sources import open_source

    modes = [v.scenario.mode for v in resolve(scenarios)]
    source = open_source(source_dir)
    start = time.perf_counter()
    for item in source.items():
        sample = item.load()
        encode_mask(sample.mask)  # the outputs keep the source's mask: one encode per sample
        rgba = None
        for mode in modes:
            if mode == "RGBA":
                if rgba is None:
                    rgba = np.dstack([sample.image, sample.mask.astype(np.uint8) * 255])
                encode_image(rgba, "RGBA")
            else:
                encode_image(sample.image, "RGB")
    return time.perf_counter() - start


def builder(source_dir: Path, out: Path, scenarios: str, num_proc: int) -> float:
    from ximagenet12.builder import build_dataset

    start = time.perf_counter()
    build_dataset(str(source_dir), out, scenarios=scenarios, num_proc=num_proc, progress=False, overwrite=True)
    return time.perf_counter() - start


def naive(source_dir: Path, out: Path, scenarios: str) -> float:
    """What research code usually does: one loop per scenario, PIL images into datasets."""
    import datasets
    from PIL import Image

    from ximagenet12.scenarios.backgrounds import BackgroundLibrary
    from ximagenet12.builder.schema import build_features
    from ximagenet12.builder.worker import DonorSampler
    from ximagenet12.scenarios.engine import RunContext, apply_variant
    from ximagenet12.scenarios.registry import resolve
    from ximagenet12.sources import open_source

    datasets.disable_progress_bars()
    start = time.perf_counter()
    source = open_source(source_dir)
    items = list(source.items())
    features = build_features(source.class_names)
    context = RunContext(seed=0, backgrounds=BackgroundLibrary.default(), donors=DonorSampler(items))
    out.mkdir(parents=True, exist_ok=True)
    for variant in resolve(scenarios):
        rows: dict[str, list] = {name: [] for name in features}
        for item in items:
            sample = item.load()  # re-read and re-decode for every scenario
            result = apply_variant(variant, sample, context)
            rows["image"].append(Image.fromarray(result.output.image))
            rows["mask"].append(Image.fromarray(result.output.mask.astype(np.uint8) * 255))
            rows["label"].append(source.classes.index(sample.class_key))
            rows["class_key"].append(sample.class_key)
            rows["source_id"].append(sample.source_id)
            rows["scenario"].append(variant.name)
            rows["level"].append(variant.effective_level)
            rows["seed"].append(result.seed)
            rows["provenance"].append(json.dumps(result.provenance))
        ds = datasets.Dataset.from_dict(rows, features=features)
        ds.to_parquet(str(out / f"{variant.config_name}.parquet"))
    return time.perf_counter() - start


def child_build(source_dir: str, out: str, scenarios: str) -> None:
    """Run in a fresh process: build, then print the peak RSS.

    The peak is VmHWM from /proc/self/status: getrusage's ru_maxrss survives exec on
    Linux, so a child started by a big parent would report the parent's peak.
    """
    seconds = builder(Path(source_dir), Path(out), scenarios, 1)
    print(json.dumps({"seconds": seconds, "peak_rss_mib": _peak_rss_mib()}))


def _peak_rss_mib() -> float:
    status = Path("/proc/self/status")  # Linux; elsewhere ru_maxrss (bytes on macOS, KiB on BSD)
    if status.is_file():
        lines = status.read_text().splitlines()
        return int(next(line.split()[1] for line in lines if line.startswith("VmHWM:"))) / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_rss(source_dir: Path, out: Path, scenarios: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, CHILD, str(source_dir), str(out), scenarios],
        capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark ximagenet12's dataset builder.")
    parser.add_argument("--images", type=int, default=200, help="N: images in the 1x set (the RSS run uses 4N)")
    parser.add_argument("--scenarios", default="all", help="scenarios to build (default: all paper-level)")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bench_build_"))
    try:
        n = args.images
        src1 = make_release(tmp / "src1", n)
        src4 = make_release(tmp / "src4", 4 * n, seed=1)
        from ximagenet12.scenarios.registry import resolve

        configs = len(resolve(args.scenarios))
        print(f"{n} images of {WIDTH}x{HEIGHT}, {configs} configs ({args.scenarios}), {os.cpu_count()} CPU(s), "
              f"load average {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
        builder(src1, tmp / "warm", args.scenarios, 1)  # warm caches (imports, background photos, files)
        t_floor = floor(src1, args.scenarios)
        t_build1 = builder(src1, tmp / "b1", args.scenarios, 1)
        t_build2 = builder(src1, tmp / "b2", args.scenarios, 2)
        t_naive = None if args.skip_naive else naive(src1, tmp / "naive", args.scenarios)
        rss1 = peak_rss(src1, tmp / "r1", args.scenarios)
        rss4 = peak_rss(src4, tmp / "r4", args.scenarios)

        def row(name, seconds, note=""):
            per = seconds / n * 1000
            print(f"| {name:<32} | {seconds:8.2f} s | {per:7.1f} ms/image | {note}")

        print("| measurement                      |    time    |   per image     | ratio / target")
        print("|---|---|---|---|")
        row("(a) floor: decode once + encode", t_floor)
        row("(b) builder, num_proc=1", t_build1, f"{t_build1 / t_floor:.2f}x floor (target <= 1.2x)")
        if t_naive is not None:
            row("(c) naive baseline", t_naive, f"builder is {t_naive / t_build1:.1f}x faster (target >= 5x)")
        row("(e) builder, num_proc=2", t_build2, f"{t_build1 / t_build2:.2f}x faster than num_proc=1 (target >= 1.85x)")
        print(
            f"| (d) peak RSS, {n} images          | {rss1['peak_rss_mib']:8.1f} MiB |\n"
            f"| (d) peak RSS, {4 * n} images          | {rss4['peak_rss_mib']:8.1f} MiB | "
            f"{rss4['peak_rss_mib'] / rss1['peak_rss_mib']:.2f}x (target <= 1.2x)"
        )
        print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child_build(*sys.argv[2:5])
    else:
        main()
