"""``ai_background`` on Ray: a Ray Data actor pool gives the rows and skips of the local build."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ximagenet12.builder import build_dataset

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.xdist_group("ray"), pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    from ximagenet12.scenarios.generation.testing import save_tiny_sdxl_inpainting

    return str(save_tiny_sdxl_inpainting(tmp_path_factory.mktemp("models") / "tiny-sdxl-inpaint"))


def _two_objects(root):
    """Make one sample's mask hold two separate objects: a hard sample, skipped by policy."""
    path = root / "masks" / "n01000002" / "n01000002_2.png"
    mask = np.zeros((40, 56), np.uint8)
    mask[4:16, 4:20] = 255
    mask[24:36, 34:52] = 255
    Image.fromarray(mask).save(path)


def _table(out, config):
    return pq.read_table(out / "data" / config).to_pylist()


def test_ai_background_on_a_ray_actor_pool_matches_the_local_build(tmp_path, release, tiny_model, ray_cluster):
    from ximagenet12.scenarios.generation import GenerationOptions
    from ximagenet12.engines.ray import RayExecutor

    _two_objects(release)
    (release / "image" / "n01000001" / "n01000001_3.JPEG").write_bytes(b"not a jpeg")
    options = GenerationOptions(model=tiny_model, device="cpu", steps=2, batch_size=2)
    kwargs = dict(scenarios=["original", "ai_background"], generation=options, block_samples=3, progress=False, seed=4)
    local = build_dataset(release, tmp_path / "local", **kwargs)
    on_ray = build_dataset(release, tmp_path / "ray", executor=RayExecutor(gpus_per_actor=0, actors=1), **kwargs)

    assert local.configs["ai_background"].rows == on_ray.configs["ai_background"].rows == 5
    # the undecodable sample once (not again for ai_background), the hard sample for ai_background
    assert [(s.source_id, s.scenario) for s in on_ray.skipped] == [(s.source_id, s.scenario) for s in local.skipped]
    assert [(s.source_id, s.scenario) for s in on_ray.skipped] == [("n01000001_3", None), ("n01000002_2", "ai_background")]
    assert on_ray.skipped[1] == local.skipped[1]
    a, b = _table(tmp_path / "local", "ai_background"), _table(tmp_path / "ray", "ai_background")
    assert [{k: v for k, v in r.items() if k != "image"} for r in a] == [{k: v for k, v in r.items() if k != "image"} for r in b]
    for x, y in zip(a, b):  # same generated pixels, float noise aside
        px = np.asarray(Image.open(__import__("io").BytesIO(x["image"]["bytes"])), dtype=np.int16)
        py = np.asarray(Image.open(__import__("io").BytesIO(y["image"]["bytes"])), dtype=np.int16)
        # The actor runs torch with one intra-op thread, the local build with the machine's:
        # float32 sums in another order, through the denoising steps and the VAE, then JPEG.
        # With torch 2.13 / diffusers 0.42 that moves single pixels by up to 4 levels (a
        # different picture would differ by tens of levels nearly everywhere).
        diff = np.abs(px - py)
        assert px.shape == py.shape and diff.max() <= 8 and diff.mean() < 0.5, (diff.max(), diff.mean())
    assert list((tmp_path / "ray" / ".cache" / "ai_background").rglob("*.png"))  # cached for resume
