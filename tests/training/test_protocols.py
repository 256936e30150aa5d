"""EX1 / EX2 by linear probe on tiny models built here: what they learn, folds, resume, bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ximagenet12.training import protocols
from ximagenet12.training.api import train

from .conftest import write_folder

RUN = dict(progress=False, num_workers=0, batch_size=16)


def numbers(report: dict) -> dict:
    """The per-scenario results without wall times."""
    return {c: {**e, "folds": [{k: v for k, v in f.items() if k != "seconds"} for f in e["folds"]]}
            for c, e in report["scenarios"].items()}


@pytest.fixture(scope="module")
def ex2_run(planted, tiny_vit_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ex2"
    return out, train(tiny_vit_dir, planted, out=out, protocol="ex2", folds=4, **RUN)


def test_planted_background_signal_is_learnt_on_original_and_no_fg_and_lost_on_only_fg(ex2_run):
    # the class is decodable only from the background colour: the object is the same grey noise for all
    _, result = ex2_run
    acc = {c: e["accuracy"] for c, e in result.report["scenarios"].items()}
    assert acc["original"] >= 0.9 and acc["no_fg"] >= 0.9
    assert acc["only_fg"] <= 0.5  # chance is 0.25 over 4 classes


def test_ex2_report_has_the_evaluator_layout_plus_folds(ex2_run):
    out, result = ex2_run
    report = json.loads((out / "report.json").read_text())
    for config in ("original", "no_fg", "only_fg"):
        e = report["scenarios"][config]
        assert e["n"] == 48 and len(e["folds"]) == 4
        assert sum(f["n"] for f in e["folds"]) == 48
        assert all(f["train_n"] == 48 - f["n"] for f in e["folds"])
        assert e["fold_accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in e["folds"]]))
        assert e["fold_accuracy_std"] == pytest.approx(np.std([f["accuracy"] for f in e["folds"]], ddof=1))
        assert set(e["per_class"]) == {"n00000001", "n00000002", "n00000003", "n00000004"}
        assert e["modes"]["strict"]["accuracy"] == e["modes"]["restricted"]["accuracy"] == e["accuracy"]
    assert report["internal"]["reference"] == report["scenarios"]["original"]["accuracy"]
    assert set(report["internal"]["scenarios"]) == {"no_fg", "only_fg"}
    prov = report["provenance"]
    assert prov["model"]["resolved_commit"].startswith("sha256:") and prov["data"]["fingerprint"].startswith("sha256:")
    assert set(prov["versions"]) >= {"torch", "transformers", "datasets"}
    for name in ("predictions.parquet", "report.md", "heatmap.png", "scenarios.png", "curves.png", "folds.json",
                 "features/original.npz", "features/only_fg.npz"):
        assert (out / name).is_file(), name
    preds = pd.read_parquet(out / "predictions.parquet")
    assert "fold" in preds and len(preds) == 3 * 48


def test_folds_are_grouped_by_source_across_scenarios_and_levels(tiny_vit_dir, tmp_path):
    data = write_folder(tmp_path / "d", per_class=6, configs=("original", "blur_background", "blur_background_level3"))
    out = tmp_path / "run"
    train(tiny_vit_dir, data, out=out, protocol="ex2", folds=3, **RUN)
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["config"]) == {"original", "blur_background", "blur_background_level3"}
    # one fold per source image, whatever the scenario or level: no source is on both sides of a split
    assert (preds.groupby("source_id")["fold"].nunique() == 1).all()
    assert preds.groupby("source_id")["config"].nunique().eq(3).all()
    folds = json.loads((out / "folds.json").read_text())
    assert all(folds[s] == f for s, f in zip(preds["source_id"], preds["fold"]))
    report = json.loads((out / "report.json").read_text())
    for e in report["scenarios"].values():  # stratified: each of 3 folds holds 2 sources of each of 4 classes
        assert [f["n"] for f in e["folds"]] == [8, 8, 8]


def test_the_same_seed_gives_the_same_numbers(ex2_run, planted, tiny_vit_dir, tmp_path):
    _, first = ex2_run
    again = train(tiny_vit_dir, planted, out=tmp_path / "again", protocol="ex2", folds=4, **RUN)
    assert numbers(again.report) == numbers(first.report)


def test_the_same_seed_gives_the_same_numbers_with_more_dimensions_than_samples(planted, tmp_path):
    # 96-d features against 36 training rows per fold: the probe is fitted in the span of the samples
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    wide = tmp_path / "wide-vit"
    ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=96, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=37, num_labels=10)).save_pretrained(wide)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(wide)
    runs = [train(wide, planted, out=tmp_path / f"run{i}", protocol="ex2", scenarios="no_fg", folds=4, **RUN).report
            for i in range(2)]
    assert numbers(runs[0]) == numbers(runs[1])
    assert runs[0]["scenarios"]["no_fg"]["accuracy"] >= 0.9  # the planted background colour, learnt
    other = train(wide, planted, out=tmp_path / "seed1", protocol="ex2", scenarios="no_fg", folds=4, seed=1, **RUN)
    assert [f["n"] for f in other.report["scenarios"]["no_fg"]["folds"]] == [12] * 4
    assert numbers(other.report) != numbers(runs[0])  # another seed, other folds


class Killed(Exception):
    """Stands for SIGKILL (a real KeyboardInterrupt would stop the pytest worker)."""


def test_a_killed_run_resumes_with_the_unfinished_folds(planted, tiny_vit_dir, tmp_path, monkeypatch, ex2_run):
    out = tmp_path / "run"
    real = protocols._probe_fold
    calls, killed = [], []

    def dies_on_the_sixth_fold(ctx, config, cache, fold, train_rows, test_rows):
        calls.append((config, fold))
        if len(calls) == 6 and not killed:
            killed.append(True)
            raise Killed  # what a kill leaves: the folds before it written, nothing after
        return real(ctx, config, cache, fold, train_rows, test_rows)

    monkeypatch.setattr(protocols, "_probe_fold", dies_on_the_sixth_fold)
    with pytest.raises(Killed):
        train(tiny_vit_dir, planted, out=out, protocol="ex2", folds=4, **RUN)
    done = sorted(p.relative_to(out).as_posix() for p in out.glob("folds/*/*.json"))
    assert done == ["folds/no_fg/fold-00.json", "folds/original/fold-00.json", "folds/original/fold-01.json",
                    "folds/original/fold-02.json", "folds/original/fold-03.json"]
    assert not (out / "report.json").exists()
    stamps = {p: (out / p).stat().st_mtime_ns for p in done}
    calls.clear()
    result = train(tiny_vit_dir, planted, out=out, protocol="ex2", folds=4, **RUN)
    assert len(calls) == 12 - 5  # only the unfinished folds ran
    assert {p: (out / p).stat().st_mtime_ns for p in done} == stamps
    assert result.report["resumed"] is True
    assert numbers(result.report) == numbers(ex2_run[1].report)


def test_resuming_with_other_settings_is_refused(ex2_run, planted, tiny_vit_dir):
    out, _ = ex2_run
    with pytest.raises(ValueError, match=r"holds a run with other settings \(folds: 4 there, 3 now\)"):
        train(tiny_vit_dir, planted, out=out, protocol="ex2", folds=3, **RUN)


def test_ex1_trains_on_original_and_tests_the_held_out_sources_of_every_scenario(planted, tiny_vit_dir, tmp_path):
    out = tmp_path / "ex1"
    result = train(tiny_vit_dir, planted, out=out, protocol="ex1", folds=4, **RUN)
    folds = json.loads((out / "folds.json").read_text())
    test_sources = {s for s, f in folds.items() if f == 0}
    preds = pd.read_parquet(out / "predictions.parquet")
    for config in ("original", "no_fg", "only_fg"):
        assert set(preds.loc[preds["config"] == config, "source_id"]) == test_sources
    acc = {c: e["accuracy"] for c, e in result.report["scenarios"].items()}
    assert acc["original"] >= 0.9 and acc["only_fg"] <= 0.5
    # the planted data has only the controls no_fg and only_fg: no scenario of the default set, so no S
    # (failing on a control is correct behaviour, not a lack of robustness), and the block says why
    rb = result.report["robustness"]
    assert rb["s_robust"] is None and rb["reason"] == "no scenario of set 'background' besides 'original' was evaluated"
    assert rb["scenario_set"]["excluded"] == ["no_fg", "only_fg"] and rb["mu"] == acc["original"]
    assert (out / "model" / "config.json").is_file()


SUBPROCESS = r"""
import json, sys
import pandas as pd
from PIL import Image
import io
from transformers import pipeline
import datasets
pipe = pipeline("image-classification", model=sys.argv[1], trust_remote_code=True, device="cpu")
rows = datasets.load_dataset(sys.argv[2], "original", split="train")
wanted = set(json.loads(sys.argv[3]))
out = {}
for row in rows:
    if row["source_id"] in wanted:
        out[row["source_id"]] = pipe(row["image"].convert("RGB"), top_k=1)[0]["label"]
assert not [m for m in sys.modules if m.startswith("ximagenet12")], "ximagenet12 was imported"
print(json.dumps(out))
"""


def predict_in_plain_transformers(model_dir: Path, data: Path, sources: list[str]) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", SUBPROCESS, str(model_dir), str(data), json.dumps(sources)],
                          capture_output=True, text=True, env=env, cwd=model_dir.parent, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_ex1_model_predicts_like_the_probe_in_plain_transformers(planted, tiny_vit_dir, tmp_path):
    out = tmp_path / "ex1"
    train(tiny_vit_dir, planted, out=out, protocol="ex1", folds=4, **RUN)
    preds = pd.read_parquet(out / "predictions.parquet")
    original = preds[preds["config"] == "original"]
    got = predict_in_plain_transformers(out / "model", planted, original["source_id"].tolist())
    names = {"n00000001": "red", "n00000002": "green", "n00000003": "blue", "n00000004": "yellow"}
    assert got == {s: names[p] for s, p in zip(original["source_id"], original["prediction"])}


# --------------------------------------------------------------------------- bad input, before training
@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"protocol": "ex3"}, ValueError, "unknown protocol 'ex3'; expected one of ex1, ex2"),
        ({"method": "lora"}, ValueError, "unknown method 'lora'; expected one of linear-probe, finetune"),
        ({"scenarios": "blur_object"}, ValueError, "scenario 'blur_object' is not in the data"),
        ({"folds": 13}, ValueError, "4 class\\(es\\) have fewer source images than --folds 13: .*use --folds 12 or fewer"),
        ({"epochs": 0}, ValueError, "--epochs must be at least 1"),
        ({"mixed_precision": "fp16", "device": "cpu"}, ValueError, "--mixed-precision fp16 needs a CUDA device"),
        ({"mixed_precision": "bf16"}, ValueError, "--mixed-precision bf16 applies to --method finetune only"),
    ],
)
def test_bad_options_fail_in_one_line_before_any_training(planted, tiny_vit_dir, tmp_path, options, error, match):
    opts = {"protocol": "ex2", "folds": 4, **RUN, **options}
    with pytest.raises(error, match=match):
        train(tiny_vit_dir, planted, out=tmp_path / "run", **opts)
    assert not (tmp_path / "run").exists()


def test_one_class_only_is_refused(tiny_vit_dir, tmp_path):
    data = write_folder(tmp_path / "d", per_class=4, classes=1)
    with pytest.raises(ValueError, match="one class only \\('red'\\)"):
        train(tiny_vit_dir, data, out=tmp_path / "run", protocol="ex2", folds=2, **RUN)


def test_a_source_that_changes_class_between_configs_is_refused(tiny_vit_dir, tmp_path):
    data = write_folder(tmp_path / "d", per_class=3, configs=("original",))
    write_folder(tmp_path / "e", per_class=3, configs=("no_fg",), source_id=lambda i, y: f"s{(i + 1) % 12}")
    # copies, not links: the evaluator's reader refuses data files that lead outside the folder
    shutil.copytree(tmp_path / "e" / "data" / "no_fg", tmp_path / "d" / "data" / "no_fg")
    card = (tmp_path / "d" / "README.md").read_text().replace(
        "configs:\n", "configs:\n- config_name: no_fg\n  data_files:\n  - split: train\n    path: data/no_fg/train-*\n")
    (tmp_path / "d" / "README.md").write_text(card)
    write_folder(tmp_path / "f", per_class=3, configs=("original",), source_id=lambda i, y: f"s{i}")
    (tmp_path / "d" / "data" / "original").rename(tmp_path / "old")
    shutil.copytree(tmp_path / "f" / "data" / "original", tmp_path / "d" / "data" / "original")
    with pytest.raises(ValueError, match="source 's1' has class .* in one config and .* in 'no_fg'"):
        train(tiny_vit_dir, data, out=tmp_path / "run", protocol="ex2", folds=2, **RUN)


def test_a_model_that_cannot_take_a_classification_head_is_refused(planted, tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                         vocab_size=50)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="cannot take a new classification head of 4 classes"):
        train(tmp_path / "bert", planted, out=tmp_path / "run", protocol="ex2", folds=4, **RUN)
    assert not (tmp_path / "run").exists()


def test_undecodable_images_are_recorded_and_left_out(tiny_vit_dir, tmp_path):
    data = write_folder(tmp_path / "d", per_class=3, configs=("original", "no_fg"), bad={"no_fg": {4}})
    result = train(tiny_vit_dir, data, out=tmp_path / "run", protocol="ex2", folds=3, **RUN)
    assert result.report["scenarios"]["no_fg"]["n"] == 11 and result.report["scenarios"]["no_fg"]["n_failed"] == 1
    assert result.failures == [{"config": "no_fg", "source_id": "n00000001_4", "error": result.failures[0]["error"]}]
    assert "failed to decode" in result.failures[0]["error"]
