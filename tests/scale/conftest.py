"""Fixtures for the scale tests: one two-node Ray cluster per test session, tiny release folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

#: Object store per Ray node: the tests move a few MB.
OBJECT_STORE_BYTES = 80 * 2**20


def write_release(root, classes: dict[str, int], *, size=(40, 56), seed=0):
    """A release layout with ``classes[wnid]`` random photos each and a box mask."""
    rng = np.random.default_rng(seed)
    h, w = size
    for wnid, n in classes.items():
        (root / "image" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "masks" / wnid).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            mask = np.zeros((h, w), np.uint8)
            top, left = int(rng.integers(2, h // 3)), int(rng.integers(2, w // 3))
            mask[top : top + h // 2, left : left + w // 2] = 255
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
                root / "image" / wnid / f"{wnid}_{k}.JPEG", quality=95)
            Image.fromarray(mask).save(root / "masks" / wnid / f"{wnid}_{k}.png")
    return root


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def ray_cluster():
    """A head and a worker node of one CPU each (``ray.cluster_utils.Cluster``), connected."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False})
    cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture
def release(tmp_path):
    """Two classes of four and three tiny samples."""
    return write_release(tmp_path / "release", {"n01000001": 4, "n01000002": 3})
