"""``--engine ray``: the same rows as the local engine, retries without duplicates, one-line errors."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.sources import open_source
from ximagenet12.core.types import SourceItem

ray = pytest.importorskip("ray")
#: Every kind of input: plain, random, RGBA, background photo, donor.
SCENARIOS = ["original", "image_rainbow", "transparent_image", "random_background", "mixed_rand", "mixed_same"]
pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster per test session (with --dist loadgroup)


def _files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "data").rglob("*.parquet"))}


@pytest.mark.slow
def test_ray_on_two_nodes_writes_the_bytes_of_local_num_proc_1_and_2(tmp_path, release, ray_cluster):
    from ximagenet12.engines.ray import RayExecutor

    kwargs = dict(scenarios=SCENARIOS, block_samples=2, progress=False)
    one = build_dataset(release, tmp_path / "one", num_proc=1, **kwargs)
    two = build_dataset(release, tmp_path / "two", num_proc=2, **kwargs)
    on_ray = build_dataset(release, f"file://{tmp_path / 'ray'}", executor=RayExecutor(), **kwargs)
    assert one.rows == two.rows == on_ray.rows == 7 * len(SCENARIOS)
    assert _files(tmp_path / "one") == _files(tmp_path / "two") == _files(tmp_path / "ray")
    assert on_ray.out_dir == tmp_path / "ray" and (tmp_path / "ray" / "README.md").is_file()
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2


def _rows(out: Path) -> dict[str, list[dict]]:
    return {p.relative_to(out).as_posix(): pq.read_table(p).to_pylist() for p in sorted((out / "data").rglob("*.parquet"))}


def _kill_first_time(marker: str, load, *args):
    """Load the sample, but kill this worker process the first time (the marker says it happened)."""
    if not os.path.exists(marker):
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return load(*args)


class _Killing:
    """A source whose ``victim`` sample kills the Ray worker that first decodes it."""

    def __init__(self, root: Path, victim: str, marker: Path):
        self.inner = open_source(root)
        self.name, self.classes, self.class_names = self.inner.name, self.inner.classes, self.inner.class_names
        self.skipped = self.inner.skipped
        self.victim, self.marker = victim, str(marker)

    def items(self):
        for item in self.inner.items():
            if item.source_id == self.victim:
                item = SourceItem(item.source_id, item.class_key, functools.partial(_kill_first_time, self.marker, item.load))
            yield item


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_without_duplicate_or_missing_rows(tmp_path, release, ray_cluster):
    from ximagenet12.engines.ray import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests are not importable by Ray workers
    marker = tmp_path / "killed"
    clean = build_dataset(release, tmp_path / "clean", scenarios=SCENARIOS, block_samples=3, progress=False)
    source = _Killing(release, "n01000002_1", marker)
    retried = build_dataset(source, tmp_path / "ray", scenarios=SCENARIOS, block_samples=3, progress=False,
                            executor=RayExecutor())
    assert marker.read_text() == "killed once"  # the worker did die mid-block
    assert retried.rows == clean.rows and retried.skipped == clean.skipped
    assert _files(tmp_path / "ray") == _files(tmp_path / "clean")
    ids = pq.read_table(tmp_path / "ray" / "data" / "original").column("source_id").to_pylist()
    assert len(ids) == len(set(ids)) == 7


def test_without_ray_the_engine_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    from ximagenet12.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["build", "--engine", "ray", "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "ximagenet12 build: error: --engine ray needs Ray, which is not installed: pip install 'ximagenet12[ray]'"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ray_address": "127.0.0.1:1"}, r"^cannot reach a Ray cluster at 127.0.0.1:1: Connection refused$"),
        ({"ray_address": "nowhere"}, r"^Ray address 'nowhere' is not HOST:PORT, ray://HOST:PORT or 'auto'$"),
    ],
)
def test_an_unreachable_cluster_fails_in_one_line_before_any_work(tmp_path, monkeypatch, kwargs, match):
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with pytest.raises(ValueError, match=match):
        build_dataset(None, tmp_path / "out", scenarios=["original"], progress=False, engine="ray", **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_ray_too_old_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(ray, "__version__", "2.5.1")
    with pytest.raises(ValueError, match=r"^--engine ray needs Ray >= 2\.10, found 2\.5\.1: pip install 'ximagenet12\[ray\]' --upgrade$"):
        build_dataset(None, tmp_path / "out", scenarios=["original"], progress=False, engine="ray")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("out", "error", "match"),
    [
        ("/proc/ximagenet12-out", OSError, r"^cannot write to /proc/ximagenet12-out: "),
        ("nosuch://bucket/out", ValueError, r"unknown protocol nosuch://"),
        ("file://host/out", ValueError, r"a file:// URL names a local path \(file:///abs/path\), not host 'host'"),
    ],
)
def test_a_destination_that_cannot_be_written_fails_before_any_work(out, error, match):
    with pytest.raises(error, match=match):
        build_dataset(None, out, scenarios=["original"], progress=False, engine="ray", ray_address="127.0.0.1:1")


@pytest.mark.slow
def test_the_build_command_starts_a_local_ray_and_builds_the_sample(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": "", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ximagenet12.cli", "build", "--engine", "ray", "--ray-num-cpus", "2", "--out", str(out),
         "--scenarios", "original,mixed_next", "--no-progress"],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    local = build_dataset(None, tmp_path / "local", scenarios=["original", "mixed_next"], progress=False)
    assert f"built 2 config(s), {local.rows} rows" in proc.stdout and local.rows == 2 * local.samples
    # the same rows (automatic blocks differ with the worker count, so the files may be laid out apart)
    assert _rows(out) == _rows(tmp_path / "local")
