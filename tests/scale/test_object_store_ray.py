"""``--engine ray`` into an object store: Ray workers upload their block parts straight to the
store (a moto S3 server on 127.0.0.1), and the result is the local build's, byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "builder"))  # `import s3_server`

from s3_server import moto_endpoint, s3  # noqa: E402,F401 - fixtures

from ximagenet12.builder import build_dataset  # noqa: E402

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.xdist_group("ray")  # one Ray cluster per test session (with --dist loadgroup)
SCENARIOS = ["original", "image_rainbow", "mixed_rand"]


@pytest.mark.slow
def test_ray_workers_write_their_parts_to_the_store_and_the_build_equals_a_local_one(tmp_path, release, ray_cluster,
                                                                                   s3, monkeypatch):
    from ximagenet12.builder import layout
    from ximagenet12.engines.ray import RayExecutor

    uploads: list[str] = []
    real = layout.StorePartWriter.commit
    monkeypatch.setattr(layout.StorePartWriter, "commit", lambda self: (uploads.append(self.path.name), real(self))[1])
    kwargs = dict(scenarios=SCENARIOS, block_samples=2, progress=False)
    # the storage options travel with the tasks: the workers' environment has no credentials
    on_ray = build_dataset(release, s3.url(), executor=RayExecutor(), storage_options=s3.options, **kwargs)
    local = build_dataset(release, tmp_path / "local", **kwargs)
    assert on_ray.rows == local.rows == 7 * len(SCENARIOS)
    assert not uploads  # no part was uploaded by this (driver) process: the Ray workers did it
    stored = s3.objects()
    shards = {p.relative_to(tmp_path / "local").as_posix(): p.read_bytes()
              for p in sorted((tmp_path / "local" / "data").rglob("*.parquet"))}
    assert {k: v for k, v in stored.items() if k.startswith("data/")} == shards
    assert "build_info.json" in stored and not any(k.startswith(".cache/") for k in stored)
