"""One table per data fingerprint, one row per (model, protocol), the newest report kept and said so."""

from __future__ import annotations

import json
import math

import pytest

from ximagenet12.leaderboard.results import report_entry
from ximagenet12.leaderboard.table import build_leaderboards


@pytest.fixture(scope="module")
def rows(reports):
    return [report_entry(reports[k]).row for k in ("vit_a", "vit_b", "lite0")]


def _like(row: dict, **changes) -> dict:
    return {**row, **changes}


def test_one_row_per_model_sorted_by_s_robust_with_missing_figures_missing(rows):
    (board,) = build_leaderboards(rows)
    frame = board.frame
    assert sorted(frame["model"]) == sorted(r["model"] for r in rows)
    ranked = frame[frame["rank"].notna()]
    assert ranked["S_robust"].tolist() == sorted(ranked["S_robust"], reverse=True)
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1)) and ranked.index.tolist() == list(range(len(ranked)))
    partial = frame.set_index("model").loc[rows[1]["model"]]
    assert math.isnan(partial["mixed_same"]) and math.isnan(partial["bg_gap"]) and math.isnan(partial["sigma_i"])
    assert "original" not in board.scenarios and board.scenarios[0] == "blur_background"
    assert not [n for n in board.notes if "two reports" in n]


def test_reports_over_other_data_never_mix(rows):
    other = _like(rows[0], data_fingerprint="sha256:0000000000000000", report_id="other", data="elsewhere")
    boards = build_leaderboards([*rows, other])
    assert [len(b.frame) for b in boards] == [3, 1]
    assert boards[1].fingerprint == "sha256:0000000000000000" and boards[1].data == ["elsewhere"]


def test_two_reports_of_one_model_and_data_keep_the_newest_and_say_so(rows):
    older = _like(rows[0], report_id="older0000", evaluated_at="2020-01-01T00:00:00+00:00", mu=0.0)
    (board,) = build_leaderboards([older, *rows])
    assert len(board.frame) == 3
    kept = board.frame.set_index("model").loc[rows[0]["model"]]
    assert kept["report_id"] == rows[0]["report_id"] and kept["mu"] == rows[0]["mu"]
    (note,) = [n for n in board.notes if "two reports" in n]
    assert note.startswith(f"{rows[0]['model']} (EX1 classification (restricted)): two reports of one model and data")
    assert f"kept the newest {rows[0]['report_id']}" in note and "dropped older0000 (2020-01-01" in note


def test_another_protocol_is_another_row(rows):
    strict = _like(rows[0], report_id="strict000", protocol="EX1 classification (strict)")
    (board,) = build_leaderboards([*rows, strict])
    assert len(board.frame) == 4 and not [n for n in board.notes if "two reports" in n]


def test_a_classifier_not_above_chance_is_flagged_because_its_s_robust_means_nothing(rows):
    lite0 = next(r for r in rows if r["model"] == "efficientnet-lite0")
    report = json.loads(lite0["report_json"])
    assert len(report["classes"]) == 10 and report["scenarios"]["original"]["n"] == 12
    sure = _like(lite0, report_id="sure", model="sure-model", mu=1.0)  # 12 of 12: p = 1e-12
    at_chance = _like(lite0, report_id="chance", model="chance-model", mu=2 / 12)
    (board,) = build_leaderboards([sure, at_chance])
    caveats = board.frame.set_index("model")["caveat"]
    assert caveats["sure-model"] == ""
    # P(X >= 2) for X ~ Binomial(12, 0.1) = 1 - 0.9^12 - 12 * 0.1 * 0.9^11 = 0.341
    assert caveats["chance-model"].startswith("μ = 0.167 is not above chance (1/10; binomial p = 0.34, n = 12)")
    assert any(n.startswith("chance-model (EX1 classification (restricted)): μ = 0.167") for n in board.notes)


def test_a_random_model_with_the_best_s_robust_is_flagged_and_not_ranked_first(rows):
    """Issue 26 point 1: the tiny random ViTs are at chance (μ = 2/12 over 10 classes), yet one
    has S = 1.0, above the real EfficientNet-Lite0; the table ranks only Lite0."""
    by_model = {r["model"]: r for r in rows}
    vit_b = next(r for m, r in by_model.items() if m.endswith("vit-b"))
    assert vit_b["s_robust_table3"] > by_model["efficientnet-lite0"]["s_robust_table3"]
    assert vit_b["mu_above_chance"] is False and by_model["efficientnet-lite0"]["mu_above_chance"] is True
    (board,) = build_leaderboards(rows)
    frame = board.frame
    assert frame.loc[0, "model"] == "efficientnet-lite0" and frame.loc[0, "rank"] == 1
    flagged = frame[frame["model"].str.contains("vit")]
    assert flagged["rank"].isna().all() and flagged["caveat"].str.contains("not above chance").all()
    assert (frame["mu"].notna()).all() and frame.columns.get_loc("mu") < frame.columns.get_loc("S_robust")


def test_scores_over_another_scenario_set_are_not_ranked_with_the_table(rows):
    lite0 = next(r for r in rows if r["model"] == "efficientnet-lite0")
    members = list(lite0["scenario_set_members"])
    assert lite0["scenario_set"] == "background" and members == ["blur_background", "image_grey"]
    wider = _like(lite0, report_id="wider", model="wider-set", scenario_set="all",
                  scenario_set_members=[*members, "mixed_same", "mixed_rand"], s_robust_table3=0.999)
    (board,) = build_leaderboards([lite0, wider, _like(lite0, report_id="b", model="twin")])
    frame = board.frame.set_index("model")
    assert frame.loc["wider-set", "S_set"] == "all (4)" and frame.loc["efficientnet-lite0", "S_set"] == "background (2)"
    assert pd_isna(frame.loc["wider-set", "rank"]) and sorted(frame["rank"].dropna()) == [1, 2]
    assert frame.loc["wider-set", "caveat"] == (
        "S_robust over scenario set all (4) is not comparable with this table's background (2): not ranked")
    assert "S_robust is over scenario set 'background': blur_background, image_grey" in board.notes


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))
