"""A trained model is never scored silently on the rows it was trained on.

``ximagenet12 train`` writes ``training_rows.json`` into every model folder it saves;
``evaluate`` leaves those source ids out of every config and says how many, or refuses in
one line when nothing would remain; ``--include-training-rows`` scores them, loudly and on
the record, and ``score`` and the leaderboard refuse such a report.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from ximagenet12.cli import main
from ximagenet12.evaluation.classification import evaluate_classification, summarise
from ximagenet12.evaluation.models import data_fingerprint
from ximagenet12.evaluation.report import write_report
from ximagenet12.training.api import train
from ximagenet12.training.runs import TRAINING_ROWS_FILE

RUN = dict(progress=False, num_workers=0, batch_size=16)
EVAL = dict(progress=False, num_workers=0, batch_size=16)


@pytest.fixture(scope="module")
def ex1(planted, tiny_vit_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ex1") / "run"
    train(tiny_vit_dir, planted, out=out, protocol="ex1", folds=4, **RUN)
    return out


def test_the_ex1_model_folder_records_the_rows_it_was_trained_on(ex1, planted):
    record = json.loads((ex1 / "model" / TRAINING_ROWS_FILE).read_text())
    folds = json.loads((ex1 / "folds.json").read_text())
    assert record["source_ids"] == sorted(s for s, f in folds.items() if f != 0)  # every fold but the test fold
    assert record["n"] == 36 and record["config"] == "original" and record["held_out_fold"] == 0
    assert record["data"] == str(planted) and record["data_fingerprint"] == data_fingerprint(planted)
    assert record["protocol"] == "ex1" and record["method"] == "linear-probe"


def test_evaluate_leaves_the_training_rows_out_and_says_so(ex1, planted):
    result = evaluate_classification(str(ex1 / "model"), planted, **EVAL)
    trained = set(json.loads((ex1 / "model" / TRAINING_ROWS_FILE).read_text())["source_ids"])
    scored = set(result.predictions["source_id"])
    assert scored and not scored & trained
    assert len(scored) == 12  # the held-out fold, in each of the three configs
    section = result.report["training_rows"]
    assert section["included"] is False and section["trained_on"] == 36
    assert section["excluded"] == {"original": 36, "no_fg": 36, "only_fg": 36} and section["n_excluded"] == 108
    assert any(w.startswith("left out 108 row(s) of source ids") for w in result.report["warnings"])
    assert "left out 108 row(s) of the 36 source ids the model was trained on" in summarise(result.report)


def test_include_training_rows_scores_them_on_the_record(ex1, planted):
    result = evaluate_classification(str(ex1 / "model"), planted, scenarios="original", include_training_rows=True, **EVAL)
    assert len(result.predictions) == 48
    assert result.report["training_rows"]["included"] is True and result.report["training_rows"]["n_excluded"] == 0
    assert "TRAINING ROWS SCORED" in summarise(result.report)
    assert any("were scored anyway" in w for w in result.report["warnings"])


def test_a_model_trained_on_every_row_is_refused_in_one_line(ex1, planted, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(ex1 / "model", model)
    record = json.loads((model / TRAINING_ROWS_FILE).read_text())
    record["source_ids"] = sorted(json.loads((ex1 / "folds.json").read_text()))
    (model / TRAINING_ROWS_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"nothing to evaluate in .*original: every row \(48\) is one the model "
                                         r"was trained on \(left out; --include-training-rows scores them\)"):
        evaluate_classification(str(model), planted, scenarios="original", **EVAL)


def test_an_unreadable_training_record_is_an_error_not_no_record(ex1, planted, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(ex1 / "model", model)
    (model / TRAINING_ROWS_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"training_rows.json is not a readable training record \(JSONDecodeError"):
        evaluate_classification(str(model), planted, **EVAL)


def test_cli_evaluate_says_how_many_rows_it_left_out(ex1, planted, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(ex1 / "model"), "--data", str(planted), "--scenarios", "original",
                 "--out", str(out), "--no-progress", "--num-workers", "0"]) == 0
    printed = capsys.readouterr()
    assert "left out 36 row(s) of the 36 source ids the model was trained on" in printed.out
    assert json.loads((out / "report.json").read_text())["training_rows"]["n_excluded"] == 36
    assert len(pd.read_parquet(out / "predictions.parquet")) == 12


def test_score_and_the_leaderboard_refuse_a_report_that_scored_training_rows(ex1, planted, tmp_path):
    from ximagenet12.leaderboard.results import report_entry
    from ximagenet12.training.score import score_runs

    result = evaluate_classification(str(ex1 / "model"), planted, include_training_rows=True, **EVAL)
    folder = write_report(result, tmp_path / "report")
    with pytest.raises(ValueError, match=r"scored 36 source id\(s\) its model was trained on \(--include-training-rows\): "
                                         r"the leaderboard ranks held-out scores only"):
        report_entry(folder)
    with pytest.raises(ValueError, match=r"scored 36 source id\(s\) its model was trained on \(--include-training-rows\): "
                                         r"S_robust needs held-out accuracies"):
        score_runs(folder, ex1)


def test_the_leaderboard_refuses_an_older_report_of_a_trained_model(ex1, planted, tmp_path):
    from ximagenet12.leaderboard.results import report_entry

    result = evaluate_classification(str(ex1 / "model"), planted, **EVAL)
    del result.report["training_rows"]  # as a report written before training rows were left out
    folder = write_report(result, tmp_path / "report")
    with pytest.raises(ValueError, match=r"scored a model trained by `ximagenet12 train` with a version that did not "
                                         r"leave its training rows out: evaluate it again"):
        report_entry(folder)


def test_evaluate_shares_for_ray_leave_the_same_rows_out_as_a_local_run(ex1, planted):
    """The shares of ``evaluate --engine ray`` (run here, without Ray) each leave their
    training rows out; the merged report counts them as the local one does."""
    from ximagenet12.evaluation import data as D
    from ximagenet12.engines.ray import _evaluate_shard, _planned_rows, merge_evaluations, plan_shards

    configs = ["original", "no_fg"]
    local = evaluate_classification(str(ex1 / "model"), planted, scenarios=configs, **EVAL)
    shards = plan_shards({c: _planned_rows(D, planted, c, None) for c in configs}, replicas=3, batch_size=16)
    results = [_evaluate_shard(evaluate_classification, str(ex1 / "model"), planted, s, EVAL) for s in shards]
    merged = merge_evaluations(results, configs, seconds=0.0)
    assert merged.report["training_rows"]["excluded"] == local.report["training_rows"]["excluded"] == {
        "original": 36, "no_fg": 36}
    assert merged.report["training_rows"]["n_excluded"] == 72
    assert sorted(merged.predictions["source_id"]) == sorted(local.predictions["source_id"])


def test_the_challenge_leaves_the_training_rows_out_too(ex1, planted, tmp_path):
    from ximagenet12.challenge import run_challenge

    result = run_challenge(str(ex1 / "model"), planted, tmp_path / "challenge", candidates=2, use_library=False,
                           progress=False, mode="strict")
    trained = set(json.loads((ex1 / "model" / TRAINING_ROWS_FILE).read_text())["source_ids"])
    searched = {o.sample.source_id for o in result.outcomes}
    assert len(searched) == 12 and not searched & trained
    assert result.report["training_rows"]["n_excluded"] == 36
    assert any(w.startswith("left out 36 sample(s) the model was trained on") for w in result.report["warnings"])
    model = tmp_path / "model"
    shutil.copytree(ex1 / "model", model)
    record = json.loads((model / TRAINING_ROWS_FILE).read_text())
    record["source_ids"] = sorted(json.loads((ex1 / "folds.json").read_text()))
    (model / TRAINING_ROWS_FILE).write_text(json.dumps(record))
    with pytest.raises(ValueError, match=r"every sample of .* \(48\) is one the model was trained on .*: the challenge "
                                         r"needs held-out samples"):
        run_challenge(str(model), planted, tmp_path / "again", candidates=2, use_library=False, progress=False)
