"""``train --engine ray``: the run folder and numbers of a local run, resumable, one-line errors."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.training.api import train

from .conftest import write_release

CONFIGS = ["original", "blur_background"]
RUN = dict(scenarios=CONFIGS, folds=2, batch_size=4, num_workers=0, progress=False, device="cpu")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two classes of six sources (enough for 2 folds with a validation source per class)."""
    root = tmp_path_factory.mktemp("train")
    release = write_release(root / "release", {"n01000001": 6, "n01000002": 6})
    build_dataset(release, root / "built", scenarios=CONFIGS, progress=False)
    return root / "built"


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    """A tiny random ImageNet-style ViT (10 labels), saved like a Hub model: training puts a new head on it."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, num_labels=10)
    out = tmp_path_factory.mktemp("tiny-vit")
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return str(out)


def _numbers(report: dict) -> dict:
    """Per-scenario results without wall times."""
    out = {}
    for config, entry in report["scenarios"].items():
        entry = {k: v for k, v in entry.items() if k != "seconds"}
        entry["folds"] = [{k: v for k, v in f.items() if k != "seconds"} for f in entry["folds"]]
        out[config] = entry
    return out


def _fold_files(run) -> dict[str, int]:
    return {p.relative_to(run).as_posix(): p.stat().st_mtime_ns for p in sorted((run / "folds").rglob("fold-*"))}


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_linear_probe_on_two_replicas_caches_the_local_features_and_gives_the_local_numbers(
        built, tiny_vit, ray_cluster, tmp_path):
    local = train(tiny_vit, built, out=tmp_path / "local", protocol="ex2", method="linear-probe", seed=3, **RUN)
    on_ray = train(tiny_vit, built, out=tmp_path / "ray", protocol="ex2", method="linear-probe", seed=3,
                   engine="ray", replicas=2, **RUN)
    for config in CONFIGS:  # 12 rows each, cut at row 8 (a multiple of the batch size 4)
        here, there = (np.load(tmp_path / run / "features" / f"{config}.npz") for run in ("local", "ray"))
        for name in ("features", "ok", "labels", "source_ids", "failed_ids", "failed_errors"):
            np.testing.assert_array_equal(there[name], here[name], err_msg=f"{config}: {name}")
    assert _numbers(on_ray.report) == _numbers(local.report)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "predictions.parquet"))
    run_json = json.loads((tmp_path / "ray" / "run.json").read_text())
    assert run_json["engine"] == {"name": "ray", "replicas": 2, "gpus_per_replica": 0.0}


def _undecodable(built, out, config: str, rows: range):
    """A copy of ``built`` whose ``config`` has ``rows`` that are not images."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(built, out)
    (path,) = (out / "data" / config).glob("*.parquet")
    table = pq.read_table(path)
    images = table.column("image").to_pylist()
    for i in rows:
        images[i] = {"bytes": b"not an image", "path": None}
    pq.write_table(table.set_column(0, table.schema.field(0), pa.array(images, type=table.schema.field(0).type)), path)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_share_of_undecodable_images_only_is_recorded_as_locally(built, tiny_vit, ray_cluster, tmp_path):
    # rows 8-11 of blur_background are the whole second share: its replica decodes nothing
    data = _undecodable(built, tmp_path / "data", "blur_background", range(8, 12))
    kwargs = dict(protocol="ex1", method="linear-probe", **{**RUN, "folds": 3})
    local = train(tiny_vit, data, out=tmp_path / "local", **kwargs)
    on_ray = train(tiny_vit, data, out=tmp_path / "ray", engine="ray", replicas=2, **kwargs)
    here, there = (np.load(tmp_path / run / "features" / "blur_background.npz") for run in ("local", "ray"))
    assert here["ok"].tolist() == [True] * 8 + [False] * 4
    for name in ("features", "ok", "failed_ids", "failed_errors"):
        np.testing.assert_array_equal(there[name], here[name], err_msg=name)
    assert on_ray.failures == local.failures and len(local.failures) == 4
    assert _numbers(on_ray.report) == _numbers(local.report)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_finetune_folds_run_as_ray_tasks_write_the_local_run_and_resume(built, tiny_vit, ray_cluster, tmp_path):
    kwargs = dict(protocol="ex2", method="finetune", epochs=1, patience=1, seed=1, save_models=True, **RUN)
    local = train(tiny_vit, built, out=tmp_path / "local", **kwargs)
    on_ray = train(tiny_vit, built, out=tmp_path / "ray", engine="ray", **kwargs)
    assert _numbers(on_ray.report) == _numbers(local.report)  # 2 scenarios x 2 folds, same seed: same folds and weights
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "predictions.parquet"))
    models = sorted(p.parent.relative_to(tmp_path / "ray").as_posix() for p in (tmp_path / "ray").rglob("config.json"))
    assert models == sorted(f"models/{c}/fold-{k:02d}" for c in CONFIGS for k in range(2))
    # a fold lost (as if its job had been killed): the rerun redoes that fold only
    before = _fold_files(tmp_path / "ray")
    for suffix in (".json", ".parquet"):
        (tmp_path / "ray" / "folds" / "blur_background" / f"fold-01{suffix}").unlink()
    resumed = train(tiny_vit, built, out=tmp_path / "ray", engine="ray", **kwargs)
    after = _fold_files(tmp_path / "ray")
    changed = sorted(k for k in after if after[k] != before.get(k))
    assert changed == ["folds/blur_background/fold-01.json", "folds/blur_background/fold-01.parquet"]
    assert resumed.report["resumed"] and _numbers(resumed.report) == _numbers(local.report)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_finetune_ex1_trains_its_one_job_on_ray_and_tests_every_scenario(built, tiny_vit, ray_cluster, tmp_path):
    kwargs = dict(protocol="ex1", method="finetune", epochs=1, patience=1, **RUN)
    local = train(tiny_vit, built, out=tmp_path / "local", **kwargs)
    on_ray = train(tiny_vit, built, out=tmp_path / "ray", engine="ray", **kwargs)
    assert (tmp_path / "ray" / "model" / "config.json").is_file()
    assert _numbers(on_ray.report) == _numbers(local.report)


def test_without_ray_train_names_the_extra_to_install(built, tmp_path, monkeypatch, capsys):
    from ximagenet12.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["train", "--protocol", "ex2", "--model", "efficientnet-lite0", "--data", str(built),
                 "--out", str(tmp_path / "run"), "--engine", "ray", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "ximagenet12 train: error: --engine ray needs Ray, which is not installed: pip install 'ximagenet12[ray]'"
    assert not (tmp_path / "run").exists()


def test_an_unreachable_cluster_fails_in_one_line_before_any_work(built, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with pytest.raises(ValueError, match=r"^cannot reach a Ray cluster at 127.0.0.1:1: Connection refused$"):
        train("no-such-model", built, out=tmp_path / "run", protocol="ex2", engine="ray", ray_address="127.0.0.1:1")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"engine": "spark"}, r"^unknown engine 'spark'; expected local or ray$"),
    ({"engine": "ray", "replicas": 0}, r"^--replicas must be a positive integer, got 0$"),
    ({"engine": "ray", "gpus_per_replica": -1.0}, r"^--gpus-per-replica must be >= 0, got -1.0$"),
])
def test_bad_engine_options_fail_before_any_work(built, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train("no-such-model", built, out=tmp_path / "run", protocol="ex2", **kwargs)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_killed_feature_replica_is_restarted_and_its_share_extracted(built, tiny_vit, ray_cluster, tmp_path):
    import ray

    from ximagenet12.training.on_ray import RayTraining
    from ximagenet12.training.protocols import TrainSettings, _extract_here, prepare_run

    settings = TrainSettings(protocol="ex2", method="linear-probe", model=tiny_vit, data=str(built),
                             scenarios=tuple(CONFIGS), folds=2, batch_size=4)
    engine = RayTraining(replicas=2, device="cpu")
    engine.preflight()
    try:
        ctx = prepare_run(settings, out=tmp_path / "run", device="cpu", num_workers=0, progress=False, engine=engine)
        first, second = engine._replicas(ctx, 2)
        ray.get(second.extract.remote(str(built), "original", (0, 4), None, 4, 0))  # up and serving
        ray.kill(second, no_restart=False)  # its process dies; Ray restarts it (max_restarts)
        shared = engine.features(ctx, "original")
    finally:
        engine.close()
    here = _extract_here(ctx, "original")
    for name in ("features", "ok", "labels", "source_ids"):
        np.testing.assert_array_equal(shared[name], here[name], err_msg=name)
