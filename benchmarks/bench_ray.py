"""Benchmark the build engines side by side, and the per-sample cost of each build step (issue 13).

    python benchmarks/bench_ray.py [--images 200] [--scenarios all] [--cpus 2] [--skip-ray]
                                   [--only-breakdown | --only-timeline] [--opencv-threads N]

On a generated release folder of N 500x375 photos with masks (``bench_build.make_release``)
it measures, in one run:

(a) local, ``num_proc=1``;
(b) local, ``num_proc=--cpus``;
(c) Ray start-up: ``RayExecutor(num_cpus=--cpus).preflight()`` (a new local Ray instance);
(d) Ray build on that instance (start-up excluded), the same data and configs;
(f) the codec floor of bench_build.py, for the <= 1.2x target;
(e) per-sample costs, one process with one OpenCV thread (as a pool worker): decode (image
    + mask), scenarios, encode (JPEG/PNG), and parquet write, each summed over the samples
    and divided by N, and each config's scenario / encode cost (these feed docs/scale.md);
(g) where the wall time of (b) goes: plan, pool start-up (until each worker starts its
    first block), the blocks per worker (busy time, and the idle tail after each worker's
    last block), and finalize (merges on the pool, then card and publish in the driver).

Targets: (a) <= 1.2x (f); (b) >= 1.85x faster than (a) on idle cores; (d) <= 1.3x (b),
plus (c) once. Wall times are printed with CPU times (``getrusage``, this process and its
joined workers) and the 1- and 5-minute load averages before and after: on a shared
machine wall-time ratios only mean something next to them, and the CPU times give what
idle cores would (driver CPU + worker CPU / workers) -- unless OpenCV runs several
threads in this process for (f) and (a), which adds CPU time but little speed
(``--opencv-threads 1`` runs them as a worker does).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_build import HEIGHT, WIDTH, make_release  # noqa: E402


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished (joined) children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def local(source: Path, out: Path, scenarios: str, num_proc: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of the driver, CPU seconds of its worker processes."""
    from ximagenet12.builder import build_dataset

    me0, kids0 = _cpu()
    start = time.perf_counter()
    build_dataset(str(source), out, scenarios=scenarios, num_proc=num_proc, progress=False, overwrite=True)
    wall = time.perf_counter() - start
    me1, kids1 = _cpu()
    return wall, me1 - me0, kids1 - kids0


def timeline(source: Path, out: Path, scenarios: str, num_proc: int) -> dict[str, float]:
    """(g): a local build with timestamps per stage, taken in the driver (the stages are
    wrapped here; each block result carries its worker's process id and start/end times)."""
    import ximagenet12.builder.build as build
    import ximagenet12.builder.finalize as finalize
    from ximagenet12.engines.local import LocalExecutor

    marks: dict[str, float] = {}
    blocks: list[tuple[int, float, float, float]] = []

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            marks.setdefault(f"{label} start", time.time())
            try:
                return original(*args, **kwargs)
            finally:
                marks[f"{label} end"] = time.time()
        setattr(owner, name, timed)
        return original

    def run(self, tasks, setup):
        for result in run_original(self, tasks, setup):
            blocks.append(result.timing)
            yield result

    saved = [(build, "plan_build", wrap(build, "plan_build", "plan")),
             (LocalExecutor, "_start", wrap(LocalExecutor, "_start", "pool")),
             (build, "finalize_build", wrap(build, "finalize_build", "finalize")),
             (finalize, "merge_configs", wrap(finalize, "merge_configs", "merge")),
             (LocalExecutor, "run", LocalExecutor.run)]
    run_original = LocalExecutor.run
    LocalExecutor.run = run
    try:
        t0 = time.time()
        build.build_dataset(str(source), out, scenarios=scenarios, num_proc=num_proc, progress=False, overwrite=True)
        end = time.time()
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
    workers: dict[int, list[tuple[float, float, float]]] = {}
    for pid, start, stop, cpu in blocks:
        workers.setdefault(pid, []).append((start, stop, cpu))
    last = max(stop for _, _, stop, _ in blocks)
    out_marks = {k: v - t0 for k, v in marks.items()}
    out_marks["total"] = end - t0
    out_marks["blocks"] = len(blocks)
    for k, (pid, spans) in enumerate(sorted(workers.items())):
        out_marks[f"worker {k} first block start"] = min(s for s, _, _ in spans) - t0
        out_marks[f"worker {k} busy"] = sum(e - s for s, e, _ in spans)
        out_marks[f"worker {k} CPU in blocks"] = sum(c for _, _, c in spans)
        out_marks[f"worker {k} idle tail"] = last - max(e for _, e, _ in spans)
    return out_marks


def _print_timeline(marks: dict[str, float], num_proc: int) -> None:
    print(f"(g) timeline of a local num_proc={num_proc} build (seconds from the call; {marks.pop('blocks'):.0f} blocks):")
    for key, value in sorted(marks.items(), key=lambda kv: (kv[0] != "total", kv[1])):
        print(f"    {key:<32} {value:7.2f} s")


def floor_cpu(source: Path, scenarios: str) -> tuple[float, float]:
    """bench_build's codec floor (decode once + encode every output): wall and CPU seconds."""
    from bench_build import floor

    me0, _ = _cpu()
    wall = floor(source, scenarios)
    return wall, _cpu()[0] - me0


def ray_build(source: Path, out: Path, scenarios: str, cpus: int) -> tuple[float, float]:
    from ximagenet12.builder import build_dataset
    from ximagenet12.engines.ray import RayExecutor

    executor = RayExecutor(num_cpus=cpus)
    start = time.perf_counter()
    executor.preflight()
    startup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        build_dataset(str(source), out, scenarios=scenarios, progress=False, overwrite=True, executor=executor)
        return startup, time.perf_counter() - start
    finally:
        executor.close()


def breakdown(source: Path, scenarios: str) -> dict[str, Any]:
    """CPU seconds per sample of each step, run in this process the way a build worker runs
    them (``time.process_time``: what a core spends, whatever else the machine runs)."""
    from ximagenet12.scenarios.backgrounds import BackgroundLibrary
    from ximagenet12.builder.encode import encode_image, encode_mask
    from ximagenet12.builder.schema import arrow_schema, build_features
    from ximagenet12.builder.worker import DonorSampler
    from ximagenet12.builder.writer import PartWriter
    from ximagenet12.scenarios.engine import RunContext, SampleMemo, apply_variant
    from ximagenet12.scenarios.registry import resolve
    from ximagenet12.sources import open_source

    import cv2

    src = open_source(source)
    items = list(src.items())
    variants = resolve(scenarios)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a pool worker; OpenCV's idle threads would add CPU time that does no work
    context = RunContext(seed=0, backgrounds=BackgroundLibrary.default(), donors=DonorSampler(items))
    schema = arrow_schema(build_features(src.class_names))
    cost = {"decode": 0.0, "scenarios": 0.0, "encode": 0.0, "write": 0.0}
    per_config = {v.config_name: [0.0, 0.0] for v in variants}  # scenario, encode
    rows: dict[str, list] = {v.config_name: [] for v in variants}
    clock = time.process_time
    for item in items:
        t0 = clock()
        sample = item.load()
        t1 = clock()
        memo = SampleMemo(sample.image)  # as process_sample does: intermediates shared by the variants
        results = []
        for v in variants:
            start = clock()
            results.append((v, apply_variant(v, sample, context, memo=memo)))
            per_config[v.config_name][0] += clock() - start
        t2 = clock()
        mask_png = encode_mask(sample.mask)
        for v, r in results:
            start = clock()
            rows[v.config_name].append((encode_image(r.output.image, v.scenario.mode), mask_png, 0, sample.class_key,
                                        sample.source_id, v.name, v.effective_level, int(r.seed), "{}"))
            per_config[v.config_name][1] += clock() - start
        t3 = clock()
        cost["decode"] += t1 - t0
        cost["scenarios"] += t2 - t1
        cost["encode"] += t3 - t2
    with tempfile.TemporaryDirectory() as tmp:
        t0 = clock()
        for name, config_rows in rows.items():
            part = PartWriter(Path(tmp) / f"{name}.parquet", schema)  # as a worker writes a config's part
            part.write(config_rows)
            part.commit()
        cost["write"] = clock() - t0
        cost["output_bytes"] = sum(p.stat().st_size for p in Path(tmp).iterdir())
    cv2.setNumThreads(threads)
    n = len(items)
    out: dict[str, Any] = {k: v / n for k, v in cost.items()}
    out["configs"] = len(variants)
    out["per_config"] = {name: (s / n, e / n) for name, (s, e) in per_config.items()}
    return out


def _print_breakdown(costs: dict[str, Any]) -> None:
    total = sum(costs[k] for k in ("decode", "scenarios", "encode", "write"))
    print(f"(e) CPU per sample, one process, {costs['configs']:.0f} configs: "
          + ", ".join(f"{k} {costs[k] * 1000:.1f} ms" for k in ("decode", "scenarios", "encode", "write"))
          + f" = {total * 1000:.1f} ms; output {costs['output_bytes'] / 1024:.0f} KiB per sample")
    print("    per config, CPU per sample (scenario / encode): " + ", ".join(
        f"{name} {s * 1000:.1f}/{e * 1000:.1f}" for name, (s, e) in costs["per_config"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description="Local vs Ray build engines, and per-sample build costs.")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--scenarios", default="all")
    parser.add_argument("--cpus", type=int, default=2, help="workers for (b), CPUs of the Ray instance for (c, d)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--only-breakdown", action="store_true", help="only (e), the per-sample CPU costs")
    parser.add_argument("--only-timeline", action="store_true", help="only (g), where the wall time of (b) goes")
    parser.add_argument("--opencv-threads", type=int, default=None,
                        help="OpenCV threads in this process, for (f) and (a) (default: OpenCV's own, one per core)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.opencv_threads is not None:
        import cv2

        cv2.setNumThreads(args.opencv_threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        n = args.images
        source = make_release(tmp / "src", n)
        print(f"{n} images of {WIDTH}x{HEIGHT}, --scenarios {args.scenarios}, {os.cpu_count()} CPU(s), "
              f"load average before: {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
        if args.only_breakdown:
            _print_breakdown(breakdown(source, args.scenarios))
            return
        if args.only_timeline:
            local(source, tmp / "warm", args.scenarios, 1)
            _print_timeline(timeline(source, tmp / "tl", args.scenarios, args.cpus), args.cpus)
            print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
            return
        local(source, tmp / "warm", args.scenarios, 1)  # imports, background photos, file cache
        f_wall, f_cpu = floor_cpu(source, args.scenarios)
        t1, c1, _ = local(source, tmp / "l1", args.scenarios, 1)
        tn, cn_driver, cn_workers = local(source, tmp / "ln", args.scenarios, args.cpus)
        # what idle cores would give: the driver's CPU in series with the workers' CPU spread evenly
        idle_n = cn_driver + cn_workers / args.cpus
        print("| measurement | wall | CPU | per image (wall) | ratio / target |")
        print("|---|---|---|---|---|")
        print(f"| (f) codec floor (bench_build (a)) | {f_wall:.2f} s | {f_cpu:.2f} s | {f_wall / n * 1000:.1f} ms | |")
        print(f"| (a) local, num_proc=1 | {t1:.2f} s | {c1:.2f} s | {t1 / n * 1000:.1f} ms | "
              f"{t1 / f_wall:.2f}x floor wall, {c1 / f_cpu:.2f}x floor CPU (target <= 1.2x) |")
        print(f"| (b) local, num_proc={args.cpus} | {tn:.2f} s | {cn_driver:.2f} s driver + {cn_workers:.2f} s workers | "
              f"{tn / n * 1000:.1f} ms | {t1 / tn:.2f}x faster than (a) in wall; {c1 / idle_n:.2f}x from CPU times "
              f"(driver + workers/{args.cpus}) (target >= 1.85x on idle cores) |")
        if not args.skip_ray:
            startup, tr = ray_build(source, tmp / "ray", args.scenarios, args.cpus)
            print(f"| (c) Ray start-up, {args.cpus} CPUs | {startup:.2f} s | | | once per run |")
            print(f"| (d) Ray build, {args.cpus} CPUs | {tr:.2f} s | | {tr / n * 1000:.1f} ms | "
                  f"{tr / tn:.2f}x (b) (target <= 1.3x) |")
        _print_breakdown(breakdown(source, args.scenarios))
        _print_timeline(timeline(source, tmp / "tl", args.scenarios, args.cpus), args.cpus)
        print(f"load average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg()[:2])}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
