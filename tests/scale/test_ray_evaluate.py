"""``evaluate --engine ray``: every config cut into row shares over model replicas, merged into the local report."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ximagenet12.builder import build_dataset
from ximagenet12.builder.sample import sample_source
from ximagenet12.engines.ray import EvalShard, plan_shards, replica_device

CONFIGS = ["original", "blur_background", "image_grey", "segmented_image", "mixed_same"]
#: What differs between any two runs (wall times) or names the engine itself.
RUN_FIELDS = ("seconds", "engine", "replicas", "device")


# --------------------------------------------------------------------------- planning (no Ray)
def test_shares_are_contiguous_equal_and_cut_on_batch_boundaries():
    shards = plan_shards({"original": 100, "blur_background": 60}, replicas=4, batch_size=8)
    assert shards == [
        EvalShard(("original",), {"original": (0, 40)}),
        EvalShard(("original",), {"original": (40, 80)}),
        EvalShard(("original", "blur_background"), {"original": (80, 100), "blur_background": (0, 24)}),
        EvalShard(("blur_background",), {"blur_background": (24, 60)}),
    ]


def test_one_config_is_split_over_every_replica():
    shards = plan_shards({"original": 20}, replicas=2, batch_size=2)
    assert [s.spans for s in shards] == [{"original": (0, 10)}, {"original": (10, 20)}]


def test_configs_of_unknown_length_go_whole_round_robin_and_small_configs_stay_whole():
    shards = plan_shards({"original": 8, "hub_a": None, "empty": 0, "small": 8}, replicas=2, batch_size=4)
    assert shards == [EvalShard(("original", "hub_a"), {}), EvalShard(("empty", "small"), {})]


def test_more_replicas_than_rows_leaves_no_empty_share():
    assert len(plan_shards({"original": 3}, replicas=8, batch_size=1)) == 3


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"replicas": 0, "batch_size": 4}, r"^replicas must be a positive integer, got 0$"),
    ({"replicas": 2, "batch_size": 0}, r"^batch_size must be a positive integer, got 0$"),
])
def test_bad_plan_options_are_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan_shards({"original": 4}, **kwargs)


@pytest.mark.parametrize(("device", "gpus", "expected"), [
    ("auto", 0.0, "cpu"),  # a replica without GPUs stays on the CPU even on a GPU node
    ("cpu", 0.0, "cpu"),
    ("auto", 1.0, "auto"),
    ("cuda:0", 0.5, "cuda:0"),
])
def test_a_replica_runs_on_the_device_its_gpus_allow(device, gpus, expected):
    assert replica_device(device, gpus) == expected


def test_cuda_without_gpus_per_replica_is_one_line():
    with pytest.raises(ValueError, match=r"^--device cuda needs GPUs on the replicas, but --gpus-per-replica is 0 "):
        replica_device("cuda", 0.0)


# --------------------------------------------------------------------------- on a Ray cluster
@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "sample"
    build_dataset(None, out, scenarios=CONFIGS, progress=False)
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The embedded sample's original and blur_background only (quick to build)."""
    out = tmp_path_factory.mktemp("eval") / "small"
    build_dataset(None, out, scenarios=CONFIGS[:2], progress=False)
    return out


def test_span_rows_of_a_config_concatenate_to_its_rows(small):
    from ximagenet12.evaluation import data as D

    whole = [r["source_id"] for r in D._local_rows(small, "original", D.config_files(small, "original"),
                                                   columns=["source_id"], log=None)]
    parts = [r["source_id"] for a, b in [(0, 7), (7, 8), (8, 20)]
             for r in D.span_rows(small, "original", (a, b), columns=["source_id"], log=None)]
    assert parts == whole and len(whole) == 20


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory, built):
    """A tiny random ViT whose labels are the sample's classes, saved like a Hub model."""
    import datasets
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    names = datasets.load_dataset(str(built), "original", split="train").features["label"].names
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, num_labels=len(names), id2label=dict(enumerate(names)),
                       label2id={n: i for i, n in enumerate(names)})
    out = tmp_path_factory.mktemp("tiny-vit")
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return str(out)


def _comparable(report: dict) -> dict:
    """A report as report.json stores it, without wall times and the engine's own record."""
    report = json.loads(json.dumps(report, default=str))
    for key in RUN_FIELDS:
        report.pop(key, None)
    for entry in report["scenarios"].values():
        entry.pop("seconds")
    return report


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_evaluate_on_two_replicas_writes_the_local_report_and_predictions(built, tiny_vit, ray_cluster, tmp_path, capsys):
    from ximagenet12.cli import main
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import read_report

    local = evaluate_classification(tiny_vit, built, device="cpu", num_workers=0, batch_size=4, progress=False)
    assert main(["evaluate", "--model", tiny_vit, "--data", str(built), "--out", str(tmp_path / "ray"),
                 "--device", "cpu", "--num-workers", "0", "--batch-size", "4", "--engine", "ray", "--replicas", "2",
                 "--no-progress"]) == 0
    assert "report written to" in capsys.readouterr().out
    merged = read_report(tmp_path / "ray")
    # 5 configs x 20 rows cut in two halves of 50 rows: the middle config is split between the replicas
    assert [s["spans"] for s in merged["engine"]["shards"]] == [{"image_grey": [0, 12]}, {"image_grey": [12, 20]}]
    assert list(merged["scenarios"]) == CONFIGS
    assert all(e["n"] == len(sample_source()) for e in merged["scenarios"].values())
    assert _comparable(merged) == _comparable(local.report)  # numbers, per class, both modes, provenance, warnings
    predictions = pd.read_parquet(tmp_path / "ray" / "predictions.parquet")
    pd.testing.assert_frame_equal(predictions, local.predictions)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_one_config_split_over_two_replicas_gives_the_local_numbers(built, tiny_vit, ray_cluster):
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import evaluate_on_ray

    kwargs = dict(scenarios="image_grey", device="cpu", num_workers=0, batch_size=2, progress=False)
    local = evaluate_classification(tiny_vit, built, **kwargs)
    merged = evaluate_on_ray(evaluate_classification, tiny_vit, built, replicas=2, **kwargs)
    assert [s["spans"] for s in merged.report["engine"]["shards"]] == [{"image_grey": (0, 10)}, {"image_grey": (10, 20)}]
    assert _comparable(merged.report) == _comparable(local.report)
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)
    # a share that raises re-raises its own one-line error, as a local run does
    with pytest.raises(ValueError) as here:
        evaluate_classification(str(built / "no-such-model"), built, **kwargs)
    with pytest.raises(ValueError) as there:
        evaluate_on_ray(evaluate_classification, str(built / "no-such-model"), built, replicas=2, **kwargs)
    assert type(there.value) is type(here.value) and str(there.value) == str(here.value)


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_real_lite0_on_one_config_split_over_two_replicas_gives_the_local_report(small, ray_cluster):
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import evaluate_on_ray

    kwargs = dict(scenarios="original", device="cpu", num_workers=0, batch_size=4, progress=False)
    local = evaluate_classification("efficientnet-lite0", small, **kwargs)
    merged = evaluate_on_ray(evaluate_classification, "efficientnet-lite0", small, replicas=2, **kwargs)
    assert [s["spans"] for s in merged.report["engine"]["shards"]] == [{"original": (0, 12)}, {"original": (12, 20)}]
    assert local.report["provenance"]["model"] == merged.report["provenance"]["model"]  # the same weights
    assert _comparable(merged.report) == _comparable(local.report)
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)


class _MeanColourModel:
    """A deterministic classifier callable (the pipeline output format) that kills the Ray
    worker running it the first time it sees ``victim`` (the marker file says it happened)."""

    def __init__(self, names: list[str], marker: str, victim: str):
        self.names, self.marker, self.victim = names, marker, victim

    def __call__(self, images):
        out = []
        for image in images:
            mean = float(np.asarray(image, dtype=np.float32).mean())
            if abs(mean - float(self.victim)) < 1e-3 and not os.path.exists(self.marker):
                Path(self.marker).write_text("killed once")
                os.kill(os.getpid(), signal.SIGKILL)
            scores = np.abs(np.sin(mean * (1 + np.arange(len(self.names)))))
            out.append([{"label": n, "score": float(s)} for n, s in zip(self.names, scores)])
        return out


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_a_replica_killed_mid_share_is_retried_without_duplicate_or_missing_rows(built, ray_cluster, tmp_path):
    import datasets

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import evaluate_on_ray

    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests are not importable by Ray workers
    names = datasets.load_dataset(str(built), "original", split="train").features["label"].names
    rows = list(D.span_rows(built, "original", (15, 16), columns=["image"], log=None))  # in the second share
    victim = float(np.asarray(D.decode_rgb(rows[0]["image"]), dtype=np.float32).mean())
    marker = tmp_path / "killed"
    kwargs = dict(scenarios="original", device="cpu", num_workers=0, batch_size=4, progress=False)
    merged = evaluate_on_ray(evaluate_classification, _MeanColourModel(names, str(marker), str(victim)), built,
                             replicas=2, **kwargs)
    assert marker.read_text() == "killed once"  # the second replica did die mid-share
    local = evaluate_classification(_MeanColourModel(names, str(marker), str(victim)), built, **kwargs)
    ids = merged.predictions["source_id"].tolist()
    assert len(ids) == len(set(ids)) == 20
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)
    assert _comparable(merged.report) == _comparable(local.report)


def test_evaluate_without_ray_names_the_extra_to_install(small, tmp_path, monkeypatch, capsys):
    from ximagenet12.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["evaluate", "--model", "efficientnet-lite0", "--data", str(small), "--out", str(tmp_path / "r"),
                 "--engine", "ray", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("ximagenet12 evaluate: error: --engine ray needs Ray, which is not installed: "
                           "pip install 'ximagenet12[ray]'")
    assert not (tmp_path / "r").exists()


def test_evaluate_on_an_unreachable_cluster_fails_in_one_line_before_any_work(small, tmp_path, monkeypatch):
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import evaluate_on_ray

    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process
    with pytest.raises(ValueError, match=r"^cannot reach a Ray cluster at 127.0.0.1:1: Connection refused$"):
        evaluate_on_ray(evaluate_classification, "no-such-model", small, address="127.0.0.1:1")


#: blur_background's rows renamed to a masked-corruption config: the report then has a whole-run corruption summary.
CORRUPT = "corrupt_gaussian_noise_background_level2"


def _split_and_damage(built, out):
    """A copy of ``built`` whose ``original`` is two shards of 10 rows (row groups of 2): row 3
    is not an image, and the second shard's third row group is damaged (its footer still reads);
    its ``blur_background`` is renamed :data:`CORRUPT`."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.copytree(built, out)
    (out / "data" / "blur_background").rename(out / "data" / CORRUPT)
    card = out / "README.md"
    card.write_text(card.read_text(encoding="utf-8").replace("blur_background", CORRUPT), encoding="utf-8")
    folder = out / "data" / "original"
    (path,) = folder.glob("*.parquet")
    table = pq.read_table(path)
    path.unlink()
    images = table.column("image").to_pylist()
    images[3] = {"bytes": b"not an image", "path": None}
    table = table.set_column(0, table.schema.field(0), pa.array(images, type=table.schema.field(0).type))
    for k in range(2):
        pq.write_table(table.slice(10 * k, 10), folder / f"train-0000{k}-of-00002.parquet", row_group_size=2)
    damaged = folder / "train-00001-of-00002.parquet"
    offset = pq.ParquetFile(damaged).metadata.row_group(2).column(0).data_page_offset
    with open(damaged, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 64)
    return out


def test_shares_merge_into_the_local_report_with_decode_failures_and_a_damaged_shard(small, tmp_path):
    """The planning, the shares' row reading and the merge, run in this process (no Ray): one
    damaged shard read by two shares is reported once, and every number is the local one."""
    import datasets

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import _evaluate_shard, _planned_rows, merge_evaluations

    data = _split_and_damage(small, tmp_path / "damaged")
    names = datasets.load_dataset(str(small), "original", split="train").features["label"].names
    marker = tmp_path / "never-kill"
    marker.write_text("")
    model = _MeanColourModel(names, str(marker), "-1")
    options = dict(batch_size=2, device="cpu", num_workers=0, progress=False)
    configs = ["original", CORRUPT]
    with pytest.warns(UserWarning, match="could not be read"):
        local = evaluate_classification(model, data, scenarios=configs, **options)
    assert local.report["corruptions"]["per_corruption"]["gaussian_noise"]["levels"]["background"]
    shards = plan_shards({c: _planned_rows(D, data, c, None) for c in configs}, replicas=3, batch_size=2)
    assert [s.spans for s in shards] == [{"original": (0, 14)}, {"original": (14, 20), CORRUPT: (0, 6)},
                                         {CORRUPT: (6, 20)}]
    with pytest.warns(UserWarning) as caught:
        results = [_evaluate_shard(evaluate_classification, model, data, s, options) for s in shards]
    messages = [str(w.message) for w in caught]
    assert sum("could not be read" in m for m in messages) == 2  # by both shares that read the damaged shard
    assert sum(m.startswith("config 'original' skipped: no readable rows") for m in messages) == 1
    assert [len(r.report["bad_shards"]) for r in results] == [1, 1, 0]  # both shares that read it saw it
    # the damage makes the whole second shard unreadable: the second share scored no row of original
    assert [s["config"] for s in results[1].report["skipped_configs"]] == ["original"]
    merged = merge_evaluations(results, configs, seconds=0.0)
    assert local.report["scenarios"]["original"]["n"] == 9  # 10 rows of the first shard, one not an image
    assert local.report["n_bad_shards"] == 1 and local.report["n_failed"] == 1 and local.report["skipped_configs"] == []
    assert _comparable(merged.report) == _comparable(local.report)
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)
    # a share of nothing but damaged rows returns its records instead of raising; alone, it is the local error
    with pytest.warns(UserWarning, match="could not be read|skipped: no readable rows") as caught:
        empty = _evaluate_shard(evaluate_classification, model, data, EvalShard(("original",), {"original": (10, 20)}),
                                options)
    assert empty.report["scenarios"] == {} and empty.report["n_bad_shards"] == 1 and len(caught) == 2
    with pytest.raises(ValueError, match=r"^nothing to evaluate in .*: every config was skipped \(original: no readable "
                       r"rows \(1 damaged shard\(s\)\)\)$"):
        merge_evaluations([empty], ["original"], seconds=0.0)


class _WholeImageSegmenter:
    """A segmentation callable that calls every image an object: the whole-run full-cover warning fires."""

    def __call__(self, images):
        return [[{"label": "thing", "mask": np.full((im.height, im.width), 255, np.uint8)}] for im in images]


def test_segmentation_shares_merge_into_the_local_report_with_its_whole_run_warning(small):
    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.segmentation import evaluate_segmentation
    from ximagenet12.engines.ray import _evaluate_shard, _planned_rows, merge_evaluations

    options = dict(object_labels=["thing"], batch_size=4, device="cpu", num_workers=0, progress=False)
    configs = ["original", "blur_background"]
    with pytest.warns(UserWarning, match="covers >= "):
        local = evaluate_segmentation(_WholeImageSegmenter(), small, scenarios=configs, **options)
    shards = plan_shards({c: _planned_rows(D, small, c, None) for c in configs}, replicas=3, batch_size=4)
    with pytest.warns(UserWarning, match="covers >= "):
        results = [_evaluate_shard(evaluate_segmentation, _WholeImageSegmenter(), small, s, options) for s in shards]
    merged = merge_evaluations(results, configs, seconds=0.0)
    assert [w for w in merged.report["warnings"] if "covers" in w] == [w for w in local.report["warnings"] if "covers" in w]
    assert "in 40 of 40 images" in merged.report["warnings"][0]  # over every row, not one share's
    assert _comparable(merged.report) == _comparable(local.report)
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)


def test_limit_applies_before_the_rows_are_cut_into_shares(small, tmp_path):
    import datasets

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.engines.ray import _evaluate_shard, _planned_rows, merge_evaluations

    names = datasets.load_dataset(str(small), "original", split="train").features["label"].names
    (tmp_path / "never-kill").write_text("")
    model = _MeanColourModel(names, str(tmp_path / "never-kill"), "-1")
    options = dict(batch_size=2, device="cpu", num_workers=0, progress=False, limit=7)
    configs = ["original", "blur_background"]
    local = evaluate_classification(model, small, scenarios=configs, **options)
    shards = plan_shards({c: _planned_rows(D, small, c, 7) for c in configs}, replicas=3, batch_size=2)
    assert [s.spans for s in shards] == [{"original": (0, 4)}, {"original": (4, 7), "blur_background": (0, 2)},
                                         {"blur_background": (2, 7)}]
    merged = merge_evaluations([_evaluate_shard(evaluate_classification, model, small, s, options) for s in shards],
                               configs, seconds=0.0)
    assert [e["n"] for e in merged.report["scenarios"].values()] == [7, 7] and merged.report["limit"] == 7
    assert _comparable(merged.report) == _comparable(local.report)
    pd.testing.assert_frame_equal(merged.predictions, local.predictions)
