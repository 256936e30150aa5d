"""Push throughput and resume cost through the loopback Hub (tests/hub/fake_hub.py).

Prints, side by side in one run: validation time, a full push, a no-op re-push (every
file already there: the cost of resuming a finished push) and a push resumed after a
failure half-way. Usage: python benchmarks/hub_push.py [--configs 8] [--rows 400]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()

    helpers = _load("hub_bench_conftest", ROOT / "tests" / "hub" / "conftest.py")
    hub = helpers.fake_hub.FakeHub()
    hub.start()
    tmp = Path(tempfile.mkdtemp(prefix="hub_bench_"))
    os.environ.update(
        HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_TOKEN="hf_bench", HF_HOME=str(tmp / "home"),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    os.environ.pop("HF_HUB_OFFLINE", None)
    try:
        import datasets

        datasets.disable_progress_bars()
        names = ["original"] + [f"scenario_{i}" for i in range(1, args.configs)]
        folder = helpers.make_folder(tmp / "built", {n: args.rows for n in names}, shards=args.shards)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        n_files = sum(1 for p in folder.rglob("*") if p.is_file())

        from ximagenet12.hub.publish import push
        from ximagenet12.hub.validate import validate_folder

        t = time.perf_counter(); validate_folder(folder); t_validate = time.perf_counter() - t
        t = time.perf_counter(); full = push(folder, "bench/full", commit_batch_size=10); t_full = time.perf_counter() - t
        t = time.perf_counter(); noop = push(folder, "bench/full", commit_batch_size=10); t_noop = time.perf_counter() - t
        hub.fail_commits = {hub.commit_requests + 2}
        try:
            push(folder, "bench/resume", commit_batch_size=10)
        except Exception:
            pass
        uploads = len(hub.lfs_uploads)
        t = time.perf_counter(); resumed = push(folder, "bench/resume", commit_batch_size=10); t_resume = time.perf_counter() - t
        print(f"folder: {n_files} files, {size / 2**20:.1f} MiB, {args.configs} configs x {args.rows} rows")
        print(f"validate_folder          {t_validate * 1000:8.1f} ms")
        print(f"full push                {t_full * 1000:8.1f} ms  ({len(full.commits)} commits, {size / 2**20 / t_full:.1f} MiB/s)")
        print(f"no-op re-push            {t_noop * 1000:8.1f} ms  ({len(noop.skipped)} skipped)  ratio {t_noop / t_full:.2f}")
        print(f"resume after failure     {t_resume * 1000:8.1f} ms  ({len(resumed.skipped)} skipped, "
              f"{len(hub.lfs_uploads) - uploads} LFS uploads)  ratio {t_resume / t_full:.2f}")
    finally:
        hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
