"""EX1 end to end: CLI on a built folder with a tiny ViT, report contents, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ximagenet12.cli import main
from ximagenet12.evaluation.classification import evaluate_classification, primary_mode
from ximagenet12.evaluation.report import REPORT_FILES, _markdown


def test_cli_evaluate_tiny_vit_end_to_end(tiny_vit_dir, tmp_path, capsys, ev):
    root = ev.make_folder(
        tmp_path / "built",
        {"original": 6, "blur_background": 5, "transparent_image": 4},
        blur_background={"bad_rows": (2,)},
    )
    out = tmp_path / "report"
    rc = main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(root), "--out", str(out),
               "--batch-size", "4", "--device", "cpu", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "blur_background" in printed and "1 image(s) failed to decode" in printed
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["model"] == str(tiny_vit_dir)
    assert report["data"] == str(root)
    assert report["mode"] == "strict"  # 3 classes: restricted is too easy to headline
    assert "fewer than 10" in report["mode_reason"] and "headline mode: strict" in printed
    assert report["label_mapping"]["kind"] == "dataset_classes"
    assert list(report["scenarios"]) == ["original", "blur_background", "transparent_image"]
    bb = report["scenarios"]["blur_background"]
    assert bb["n"] == 4 and bb["n_failed"] == 1
    assert report["failures"][0]["source_id"] == f"{ev.CLASS_KEYS[2]}_2"
    assert set(bb["per_class"]) == set(ev.CLASS_KEYS)
    assert sum(c["n"] for c in bb["per_class"].values()) == 4
    preds = pd.read_parquet(out / "predictions.parquet")
    assert len(preds) == 6 + 4 + 4
    assert {"source_id", "scenario", "label", "prediction", "score", "strict_correct", "restricted_correct"} <= set(preds.columns)
    for config, entry in report["scenarios"].items():
        sub = preds[preds["config"] == config]
        assert entry["accuracy"] == pytest.approx(sub["strict_correct"].mean())
        assert entry["modes"]["restricted"]["accuracy"] == pytest.approx(sub["restricted_correct"].mean())
        for key, cell in entry["per_class"].items():
            assert cell["n"] == (sub["class_key"] == key).sum()
    rb = report["robustness"]
    assert rb["scenarios"] == ["blur_background", "transparent_image"]
    assert rb["external_reference"] == pytest.approx(report["scenarios"]["original"]["accuracy"])
    assert "s_robust" in rb
    # issue 26: S is printed beside μ, its chance verdict and its scenario set; a flag is a report warning
    assert rb["chance"]["n"] == 6 and rb["chance"]["n_classes"] == 3 and rb["scenario_set"]["name"] == "background"
    (line,) = [x for x in printed.splitlines() if x.startswith("robustness (strict, table3): S = ")]
    assert f"(μ = {rb['mu']:.4f}, " in line and "; set 'background', 2 scenarios)" in line
    assert rb["mu_above_chance"] is False  # the tiny random ViT: 2 of 6 right over 3 classes, chance level
    assert "NOT ABOVE CHANCE 1/3" in line and "UNRELIABLE" in line
    assert rb["chance"]["warning"] in report["warnings"] and f"  WARNING: {rb['chance']['warning']}" in printed
    md = (out / "report.md").read_text()
    assert "heatmap.png" in md and "scenarios.png" in md and "restricted" in md
    for png in ("heatmap.png", "scenarios.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 300 and im.size[1] > 150


def test_same_predictions_whatever_the_batch_size_and_workers(tiny_vit_dir, folder):
    a = evaluate_classification(str(tiny_vit_dir), folder, device="cpu", progress=False, batch_size=1, num_workers=0)
    b = evaluate_classification(str(tiny_vit_dir), folder, device="cpu", progress=False, batch_size=5, num_workers=3)
    np.testing.assert_allclose(a.predictions["strict_score"], b.predictions["strict_score"], rtol=1e-5)
    assert list(a.predictions["prediction"]) == list(b.predictions["prediction"])


def test_pipeline_object_and_callable_models(tiny_vit_dir, folder, ev):
    from transformers import pipeline

    pipe = pipeline("image-classification", model=str(tiny_vit_dir), device="cpu")
    via_pipe = evaluate_classification(pipe, folder, progress=False, device="cpu")
    via_dir = evaluate_classification(str(tiny_vit_dir), folder, progress=False, device="cpu")
    assert list(via_pipe.predictions["prediction"]) == list(via_dir.predictions["prediction"])

    # a callable in the pipeline's output format: always says "crayfish" then "cat"
    def always_crayfish(images):
        return [[{"label": "cat", "score": 0.9}, {"label": "crayfish", "score": 0.1}] for _ in images]

    r = evaluate_classification(always_crayfish, folder, progress=False, scenarios="original")
    orig = r.report["scenarios"]["original"]
    assert orig["modes"]["strict"]["accuracy"] == 0.0
    assert orig["modes"]["restricted"]["accuracy"] == pytest.approx(2 / 6)
    assert orig["modes"]["restricted"]["per_class"][ev.CLASS_KEYS[2]] == {"accuracy": 1.0, "n": 2}


def test_strict_mode_as_primary(tiny_vit_dir, folder):
    r = evaluate_classification(str(tiny_vit_dir), folder, mode="strict", progress=False, device="cpu")
    assert r.report["mode"] == "strict"
    assert r.report["scenarios"]["original"]["accuracy"] == r.report["scenarios"]["original"]["modes"]["strict"]["accuracy"]


def test_real_lite0_on_a_built_folder_of_real_photos(tmp_path, lite0_pipeline, ev):
    """ImageNet-1k model mapped through wnids; the cat photo is a tiger cat in strict mode."""
    import skimage.data

    
    root = tmp_path / "photos"
    cat = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((96, 72)))
    ev.write_config(root, "original", rows=1, images=[cat])
    ev.write_card(root, {"original": 1})
    r = evaluate_classification(lite0_pipeline, root, progress=False)
    assert r.report["label_mapping"]["kind"] == "imagenet_wnids"
    row = r.predictions.iloc[0]
    assert row["strict_label"] in {"tiger cat", "Egyptian cat", "tabby, tabby cat"}
    assert not row["strict_correct"]  # a cat is none of the dataset's lizards


# ------------------------------------------------------------------------ bad input
def test_cli_unknown_model_is_one_clear_line(folder, tmp_path, capsys):
    rc = main(["evaluate", "--model", "nobody-xyz/no-such-model", "--data", str(folder), "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "could not load model 'nobody-xyz/no-such-model'" in err
    assert "Traceback" not in err


def test_cli_unmappable_labels(tmp_path, folder, capsys):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=2, id2label={0: "cat", 1: "dog"})
    d = tmp_path / "catdog"
    ViTForImageClassification(config).save_pretrained(d)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(d)
    rc = main(["evaluate", "--model", str(d), "--data", str(folder), "--out", str(tmp_path / "r"), "--no-progress"])
    assert rc == 1
    assert "3 of 3 classes not found: alligator lizard (n01689811)" in capsys.readouterr().err


def test_missing_scenario(tiny_vit_dir, folder):
    with pytest.raises(ValueError, match="scenario 'image_r' is not in the data"):
        evaluate_classification(str(tiny_vit_dir), folder, scenarios="image_r", progress=False)


def test_empty_config_is_skipped_with_a_warning_and_the_others_are_scored(tiny_vit_dir, tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background": 0, "image_grey": 3})
    with pytest.warns(UserWarning, match=r"config 'blur_background' skipped: empty \(0 rows\)"):
        r = evaluate_classification(str(tiny_vit_dir), root, progress=False, device="cpu")
    assert list(r.report["scenarios"]) == ["original", "image_grey"]
    assert r.report["skipped_configs"] == [{"config": "blur_background", "reason": "empty (0 rows)"}]
    assert r.report["robustness"]["scenarios"] == ["image_grey"]
    assert len(r.predictions) == 6


def test_data_with_only_empty_configs_is_an_error_not_an_empty_report(tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 0, "image_grey": 0})
    with pytest.raises(ValueError, match=r"nothing to evaluate in .*every config was skipped "
                                         r"\(original: empty \(0 rows\); image_grey: empty \(0 rows\)\)"), \
            pytest.warns(UserWarning):
        evaluate_classification(lambda images: [], root, progress=False)


def test_a_config_that_fails_does_not_lose_the_others(tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background": 3, "image_grey": 3})
    calls = []

    def flaky(images):  # one batch per config, in order; breaks on the second (say, out of memory)
        calls.append(len(images))
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory")
        return [[{"label": "crayfish", "score": 1.0}] for _ in images]

    with pytest.warns(UserWarning, match="config 'blur_background' skipped: failed: RuntimeError: CUDA out of memory"):
        r = evaluate_classification(flaky, root, progress=False)
    assert list(r.report["scenarios"]) == ["original", "image_grey"]
    assert r.report["scenarios"]["image_grey"]["n"] == 3
    assert set(r.predictions["config"]) == {"original", "image_grey"}


def test_when_every_config_fails_the_error_is_raised(folder):
    def broken(images):
        raise RuntimeError("model is broken")

    with pytest.raises(RuntimeError, match="model is broken"), pytest.warns(UserWarning, match="skipped: failed"):
        evaluate_classification(broken, folder, progress=False)


def test_headline_mode_rule():
    assert primary_mode(None, 3)[0] == "strict" and "fewer than 10" in primary_mode(None, 3)[1]
    assert primary_mode(None, 12) == ("restricted", "restricted: argmax over the data's 12 classes (the default when the data "
                                                    "has at least 10 classes; strict is reported too)")
    mode, why = primary_mode("restricted", 3)
    assert mode == "restricted" and "as asked, although it covers only 3 classes" in why
    assert primary_mode("strict", 12) == ("strict", "strict, as asked")


def test_bad_options(tiny_vit_dir, folder):
    with pytest.raises(ValueError, match="unknown scoring mode 'top5'"):
        evaluate_classification(str(tiny_vit_dir), folder, mode="top5")
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        evaluate_classification(str(tiny_vit_dir), folder, batch_size=0)


def test_bad_robustness_config_is_rejected_before_any_work(tmp_path):
    calls = []

    def model(images):  # never called: the option is checked first
        calls.append(len(images))
        return [[{"label": "crayfish", "score": 1.0}] for _ in images]

    with pytest.raises(ValueError, match="unknown robustness_score config 'tabel3'; known configs: table3, formula"):
        evaluate_classification(model, tmp_path / "no-such-folder", robustness_config="tabel3")
    assert calls == []


def test_cli_bad_robustness_config_lists_the_choices(folder, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "x", "--data", str(folder), "--out", str(tmp_path / "r"),
              "--robustness-config", "tabel3"])
    err = capsys.readouterr().err
    assert "invalid choice: 'tabel3'" in err and "table3" in err and "formula" in err


def test_class_names_are_the_datasets(folder, tiny_vit_dir, ev):
    r = evaluate_classification(str(tiny_vit_dir), folder, progress=False, scenarios="original")
    assert [c["name"] for c in r.report["classes"]] == ev.CLASS_NAMES


def test_an_interrupt_keeps_and_reports_the_finished_configs(tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background": 3, "image_grey": 3})
    calls = []

    def interrupted(images):  # one batch per config; Ctrl-C during the second
        calls.append(len(images))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return [[{"label": "crayfish", "score": 1.0}] for _ in images]

    with pytest.warns(UserWarning, match="interrupted during config 'blur_background'"):
        r = evaluate_classification(interrupted, root, progress=False)
    assert r.report["interrupted"] is True and list(r.report["scenarios"]) == ["original"]
    assert [s["config"] for s in r.report["skipped_configs"]] == ["blur_background", "image_grey"]


def test_an_interrupt_before_anything_finished_propagates(folder):
    def interrupted(images):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning):
        evaluate_classification(interrupted, folder, progress=False)


def test_a_run_with_masked_corruptions_reports_where_they_hurt_and_what_is_missing(tiny_vit_dir, tmp_path, ev):
    root = ev.make_folder(tmp_path / "f", {"original": 4, "corrupt_fog_background": 4,
                                           "corrupt_fog_object": 4})
    result = evaluate_classification(str(tiny_vit_dir), str(root), batch_size=4, num_workers=0, device="cpu", progress=False)
    acc = {c: e["accuracy"] for c, e in result.report["scenarios"].items()}
    summary = result.report["corruptions"]
    fog = summary["per_corruption"]["fog"]
    assert fog["background"] == pytest.approx(acc["corrupt_fog_background"])
    assert fog["object"] == pytest.approx(acc["corrupt_fog_object"])
    assert fog["gap"] == pytest.approx(fog["background"] - fog["object"])
    assert summary["reference"] == pytest.approx(acc["original"])
    assert not summary["complete"] and "fog/background@1" in summary["missing"]
    text = _markdown(result.report)
    assert "## Masked corruptions" in text and "| fog |" in text and "**Partial:**" in text
    assert "corruptions" not in evaluate_classification(str(tiny_vit_dir), str(ev.make_folder(tmp_path / "g")), batch_size=4,
                                         num_workers=0, device="cpu", progress=False).report
