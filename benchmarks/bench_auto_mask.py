"""Benchmark GrabCut masks against building the scenarios (issue 22, Performance).

    python benchmarks/bench_auto_mask.py [--images 24]

On N generated 500x375 photos (``bench_build.make_release``: crops of scikit-image's
CC0 / public-domain photographs, with elliptical masks), measured side by side, in
alternation, in one process:

(a) scenarios - ``process_sample`` of every photo with its own mask for the 18
                non-generative configs (``all``): decode once, apply, encode JPEG/PNG;
(b) grabcut   - the default GrabCut maker's ``make_mask`` on the same decoded photos;
(c) both      - ``process_sample`` of the same photos read as photos without masks,
                masked by GrabCut in ``load`` (what ``build --auto-mask grabcut`` runs per
                sample in a worker), the process's mask memo emptied before each round;
                ``mixed_*`` donors reuse the masks it made.

Target: (b) <= 3x (a). The load average is printed before and after (shared machine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import make_release  # noqa: E402

ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description="GrabCut per photo against building its 18 scenarios.")
    parser.add_argument("--images", type=int, default=24, help="photos (500x375)")
    args = parser.parse_args()
    from ximagenet12.builder.plan import plan_build
    from ximagenet12.builder.worker import process_sample
    from ximagenet12.sources import automask
    from ximagenet12.sources.automask import GrabCutMaskMaker

    tmp = Path(tempfile.mkdtemp(prefix="bench_auto_mask_"))
    try:
        root = make_release(tmp / "src", args.images)
        load = "/".join(f"{x:.1f}" for x in os.getloadavg()[:2])
        maker = GrabCutMaskMaker()
        hand = plan_build(str(root), scenarios="all", seed=0, split="train", block_samples=None, max_samples=None,
                          backgrounds=None, generation=None, strict=False)
        auto = plan_build(str(root), scenarios="all", seed=0, split="train", block_samples=None, max_samples=None,
                          backgrounds=None, generation=None, strict=False, auto_mask=maker)
        samples = [item.load() for item in hand.items]
        print(f"{len(samples)} photos of 500x375, {len(hand.plain)} configs, GrabCut {maker.iterations} rounds at "
              f"<= {maker.max_side} px, {os.cpu_count()} CPU(s), load average {load}")

        def scenarios() -> float:
            t = time.perf_counter()
            for item in hand.items:
                process_sample(item, hand.plain, hand.context, hand.class_index)
            return time.perf_counter() - t

        def grabcut() -> float:
            t = time.perf_counter()
            for s in samples:
                maker.make_mask(s.image)
            return time.perf_counter() - t

        def both() -> float:
            automask._MEMO = automask._MaskMemo(automask.MASK_MEMO_BYTES)  # a fresh build: no mask made yet
            t = time.perf_counter()
            for item in auto.items:
                process_sample(item, auto.plain, auto.context, auto.class_index)
            return time.perf_counter() - t

        scenarios(), grabcut()  # warm: imports, background photos
        times: dict[str, float] = {"a": 0.0, "b": 0.0, "c": 0.0}
        for _ in range(ROUNDS):  # alternate, so a load change hits all three alike
            times["a"] += scenarios()
            times["b"] += grabcut()
            times["c"] += both()
        n = len(samples) * ROUNDS
        per = {k: v / n * 1000 for k, v in times.items()}
        print("| measurement | per photo | ratio / target |")
        print("|---|---|---|")
        print(f"| (a) 18 scenarios, decode + apply + encode | {per['a']:.1f} ms | |")
        print(f"| (b) GrabCut mask | {per['b']:.1f} ms | {per['b'] / per['a']:.2f}x (a) (target <= 3x) |")
        print(f"| (c) GrabCut + 18 scenarios, as build --auto-mask | {per['c']:.1f} ms | {per['c'] / per['a']:.2f}x (a) |")
        print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
