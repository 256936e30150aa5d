"""One table per data fingerprint, one row per (model, protocol), the newest report kept and said so."""

from __future__ import annotations

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
    scores = frame["S_robust"].tolist()
    assert scores == sorted(scores, reverse=True) and frame["rank"].tolist() == [1, 2, 3]
    partial = frame.set_index("model").loc[rows[1]["model"]]
    assert math.isnan(partial["mixed_same"]) and math.isnan(partial["bg_gap"]) and math.isnan(partial["sigma_i"])
    assert "original" not in board.scenarios and board.scenarios[0] == "blur_background"
    assert board.notes == []


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
    (note,) = board.notes
    assert note.startswith(f"{rows[0]['model']} (EX1 classification (restricted)): two reports of one model and data")
    assert f"kept the newest {rows[0]['report_id']}" in note and "dropped older0000 (2020-01-01" in note


def test_another_protocol_is_another_row(rows):
    strict = _like(rows[0], report_id="strict000", protocol="EX1 classification (strict)")
    (board,) = build_leaderboards([*rows, strict])
    assert len(board.frame) == 4 and board.notes == []
