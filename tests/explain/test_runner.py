"""End to end: explain real and tiny models on folders built from the embedded sample."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ximagenet12.cli import main
from ximagenet12.explain.report import EXPLAIN_REPORT_FILES, write_explain_report
from ximagenet12.explain.runner import EXPLANATION_COLUMNS, explain_classification

FIGURES = ["object_focus", "focus_ratio", "pointing_hit", "mask_area"]


@pytest.fixture(scope="module")
def lite0_result(sample_folder):
    return explain_classification("efficientnet-lite0", sample_folder, method="gradcam", device="cpu",
                                  progress=False, n_bootstrap=200, overlay_samples=3)


@pytest.mark.slow
def test_gradcam_on_the_real_lite0_looks_more_at_the_object_when_only_the_object_is_left(lite0_result, sample_size):
    scen = lite0_result.report["scenarios"]
    assert scen["only_fg"]["n"] == scen["no_fg"]["n"] == sample_size
    assert scen["only_fg"]["object_focus"] > scen["no_fg"]["object_focus"]
    assert lite0_result.report["target_layer"] == "net._bn1"
    assert lite0_result.report["label_mapping"]["kind"] == "imagenet_wnids"


@pytest.mark.slow
def test_every_figure_is_in_range_and_every_scenario_has_cis(lite0_result):
    frame = lite0_result.explanations
    assert list(frame.columns) == list(EXPLANATION_COLUMNS)
    assert frame["object_focus"].between(0, 1).all() and frame["mask_area"].between(0, 1).all()
    assert ((frame["focus_ratio"] - frame["object_focus"] / frame["mask_area"]).abs() < 1e-9).all()
    for entry in lite0_result.report["scenarios"].values():
        low, high = entry["object_focus_ci"]
        assert 0 <= low <= entry["object_focus"] <= high <= 1
        assert set(entry["right_vs_wrong"]) == {"right", "wrong", "difference", "difference_ci"}
        assert sum(c["n"] for c in entry["per_class"].values()) == entry["n"]
    assert {len(v) for v in lite0_result.overlays.values()} == {3}


@pytest.mark.slow
def test_the_report_folder_holds_every_file(lite0_result, tmp_path, sample_size):
    folder = write_explain_report(lite0_result, tmp_path / "r")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*EXPLAIN_REPORT_FILES, ".cache"])  # .cache: the manifest
    report = json.loads((folder / "report.json").read_text())
    assert report["task"] == "explanation" and report["metric"] == "object_focus"
    frame = pd.read_parquet(folder / "explanations.parquet")
    pd.testing.assert_frame_equal(frame, lite0_result.explanations)
    md = (folder / "report.md").read_text()
    assert f"| only_fg | {sample_size} | 0 | 0 |" in md and "![overlays](overlays.png)" in md


def _tiny_run(folder, model_dir, **kw):
    kw = {"method": "gradcam", "device": "cpu", "progress": False, "n_bootstrap": 50, **kw}
    return explain_classification(str(model_dir), folder, **kw)


def _without_timing(report: dict) -> dict:
    report = {k: v for k, v in report.items() if k not in ("seconds", "resumed_configs")}
    report["scenarios"] = {c: {k: v for k, v in e.items() if k != "seconds"} for c, e in report["scenarios"].items()}
    return report


def test_same_options_give_the_same_explanations(sample_folder, tiny_resnet_dir):
    a = _tiny_run(sample_folder, tiny_resnet_dir, batch_size=4)
    b = _tiny_run(sample_folder, tiny_resnet_dir, batch_size=4)
    pd.testing.assert_frame_equal(a.explanations, b.explanations, check_exact=True)
    assert _without_timing(a.report) == _without_timing(b.report)


def test_batching_and_workers_change_nothing_but_rounding(sample_folder, tiny_resnet_dir):
    a = _tiny_run(sample_folder, tiny_resnet_dir, batch_size=4)
    b = _tiny_run(sample_folder, tiny_resnet_dir, batch_size=5, num_workers=0)
    order = ["config", "source_id"]
    pd.testing.assert_frame_equal(a.explanations.sort_values(order).reset_index(drop=True),
                                  b.explanations.sort_values(order).reset_index(drop=True), rtol=1e-6)
    assert [o.source_id for o in a.overlays["only_fg"]] == [o.source_id for o in b.overlays["only_fg"]]


def test_an_interrupted_run_resumes_per_config(sample_folder, tiny_resnet_dir, tmp_path):
    ckpt = tmp_path / "ckpt"
    full = _tiny_run(sample_folder, tiny_resnet_dir, checkpoint_dir=ckpt)
    (ckpt / "no_fg.json").unlink()  # as if the run stopped while explaining no_fg
    again = _tiny_run(sample_folder, tiny_resnet_dir, checkpoint_dir=ckpt, resume=True)
    assert again.report["resumed_configs"] == ["only_fg"]
    pd.testing.assert_frame_equal(again.explanations, full.explanations)
    assert _without_timing(again.report) == _without_timing(full.report)
    np.testing.assert_array_equal(again.overlays["only_fg"][0].attribution, full.overlays["only_fg"][0].attribution)
    with pytest.raises(ValueError, match=r"cannot resume from .*ckpt.*\(limit differ\)"):
        _tiny_run(sample_folder, tiny_resnet_dir, checkpoint_dir=ckpt, resume=True, limit=2)


def test_predicted_target_and_limit(sample_folder, tiny_resnet_dir, sample_names):
    r = _tiny_run(sample_folder, tiny_resnet_dir, target="predicted", limit=2)
    frame = r.explanations
    assert r.report["scenarios"]["only_fg"]["n"] == 2 and len(frame) == 4
    keys = [c["key"] for c in r.report["classes"]]
    names = [c["name"] for c in r.report["classes"]]
    assert list(frame["target_label"]) == [names[keys.index(p)] for p in frame["prediction"]]


def test_integrated_gradients_on_a_tiny_vit_reports_its_completeness(sample_folder, tiny_vit_dir):
    r = _tiny_run(sample_folder, tiny_vit_dir, method="ig", ig_steps=4, limit=2)
    assert r.report["method"] == "integrated_gradients" and r.report["ig_steps"] == 4
    assert r.explanations["ig_relative_delta"].notna().all()
    assert r.explanations["object_focus"].between(0, 1).all()


def test_bad_samples_are_recorded_not_dropped(tmp_path, tiny_vit_dir, folder_writer, sample_names):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    good = np.zeros((40, 48), np.uint8)
    good[10:30, 12:36] = 255
    rows = [(image, good, 0), (image, good[:, :40], 1), (image, np.zeros_like(good), 2)]
    folder = folder_writer(tmp_path / "bad", rows, class_names=sample_names)
    r = _tiny_run(folder, tiny_vit_dir, method="rollout")
    assert r.report["scenarios"]["original"]["n"] == 1 and r.report["n_failed"] == 2
    errors = [f["error"] for f in r.failures]
    assert errors == ["sample 's1': mask 40x40 does not match image 48x40",
                      "sample 's2': the object mask is empty, so object focus is undefined"]


def test_cli_rollout_report_and_analyze_it(sample_folder, tiny_vit_dir, tmp_path, capsys, sample_names):
    out = tmp_path / "vit-explain"
    rc = main(["explain", "--model", str(tiny_vit_dir), "--data", str(sample_folder), "--method", "rollout",
               "--out", str(out), "--device", "cpu", "--no-progress", "--n-bootstrap", "50", "--dtype", "float32"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "only_fg" in text and f"report written to {out}" in text
    assert sorted(p.name for p in out.iterdir()) == sorted([*EXPLAIN_REPORT_FILES, ".cache"])  # checkpoints removed
    report = json.loads((out / "report.json").read_text())
    assert "switched from 'sdpa' to 'eager'" in report["notes"][0]
    provenance = report["provenance"]  # what ran, as every evaluator report records it
    assert provenance["model"]["dtype"] == "float32" and set(provenance["versions"]) >= {"torch", "transformers", "datasets"}
    assert report["dataset"]["fingerprint"]["value"]  # so analyze can tell reports over other data apart
    capsys.readouterr()
    rc = main(["analyze", str(out), "--out", str(tmp_path / "analysis")])
    assert rc == 0
    assert "records no dataset fingerprint" not in capsys.readouterr().err + (tmp_path / "analysis" / "analysis.md").read_text()
    observations = pd.read_csv(tmp_path / "analysis" / "observations.csv")
    assert len(observations) == 2 * len(sample_names) and observations["value"].between(0, 1).all()
    assert set(observations["model"]) == {f"{tiny_vit_dir} (rollout)"}
    assert "object_focus" in (tmp_path / "analysis" / "analysis.md").read_text()


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--method", "lime"], "unknown attribution method 'lime'; expected one of gradcam, integrated_gradients, rollout"),
        (["--method", "rollout"], "rollout does not fit model .*methods that fit it: gradcam, integrated_gradients"),
        (["--target-layer", "resnet.nope"], "target layer 'resnet.nope' does not exist"),
        (["--limit", "0"], "limit must be an int of at least 1"),
    ],
)
def test_cli_bad_requests_are_one_clear_line(sample_folder, tiny_resnet_dir, tmp_path, capsys, extra, match):
    import re

    rc = main(["explain", "--model", str(tiny_resnet_dir), "--data", str(sample_folder), "--out",
               str(tmp_path / "r"), "--device", "cpu", "--no-progress", *extra])
    err = capsys.readouterr().err
    assert rc == 1 and re.search(match, err) and "Traceback" not in err
    assert not (tmp_path / "r" / "report.json").exists()


def test_a_config_where_no_sample_can_be_explained_reports_none_not_zero(tmp_path, tiny_vit_dir, folder_writer,
                                                                         sample_names):
    image = np.full((32, 32, 3), 90, np.uint8)
    folder = folder_writer(tmp_path / "empty-masks", [(image, np.zeros((32, 32), np.uint8), 0)] * 2,
                           class_names=sample_names)
    r = _tiny_run(folder, tiny_vit_dir, method="rollout")
    entry = r.report["scenarios"]["original"]
    assert entry["n"] == 0 and entry["n_failed"] == 2
    assert entry["object_focus"] is None and entry["object_focus_ci"] is None
    out = write_explain_report(r, tmp_path / "r")
    assert "| original | 0 | 2 | 0 | – |" in (out / "report.md").read_text()
