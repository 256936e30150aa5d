"""``ximagenet12 train`` and ``ximagenet12 score`` from the command line, as the README runs them."""

from __future__ import annotations

import json

import pytest

from ximagenet12.cli import main


@pytest.mark.slow
def test_train_ex1_and_ex2_then_score(planted, tiny_vit_dir, tmp_path, capsys):
    common = ["--model", str(tiny_vit_dir), "--data", str(planted), "--no-progress", "--num-workers", "0"]
    assert main(["train", "--protocol", "ex1", "--folds", "4", "--out", str(tmp_path / "ex1"), *common]) == 0
    assert main(["train", "--protocol", "ex2", "--folds", "3", "--out", str(tmp_path / "ex2"), *common]) == 0
    out = capsys.readouterr().out
    assert "folds: " in out and "run written to" in out
    # the planted data has only the controls no_fg and only_fg: name the set that includes them
    assert main(["score", str(tmp_path / "ex1"), str(tmp_path / "ex2"), "--scenario-set", "all",
                 "--out", str(tmp_path / "s.json")]) == 0
    printed = capsys.readouterr().out
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["scenarios"] == ["no_fg", "only_fg"]
    assert f"{doc['scores']['table3']['s_robust']:.4f}" in printed and "formula" in printed


def test_bad_input_is_one_line_on_stderr(planted, tiny_vit_dir, tmp_path, capsys):
    code = main(["train", "--protocol", "ex2", "--folds", "40", "--model", str(tiny_vit_dir), "--data", str(planted),
                 "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("ximagenet12 train: error: 4 class(es) have fewer source images than --folds 40")
    assert "use --folds 12 or fewer" in err and len(err.strip().splitlines()) == 1


def test_unknown_protocol_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--protocol", "ex9", "--model", "m", "--data", "d", "--out", "o"])
    assert "invalid choice: 'ex9'" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for command in ("train", "score"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text and f"ximagenet12 {command} " in text.split("example:", 1)[1]


def test_finetune_without_room_for_a_validation_part_is_one_line_before_training(tiny_vit_dir, tmp_path, capsys):
    from ximagenet12.builder.build import build_dataset

    data = tmp_path / "sample"
    build_dataset(None, data, scenarios="original", progress=False)  # the embedded sample: 2 photos per class
    code = main(["train", "--protocol", "ex2", "--method", "finetune", "--folds", "2", "--scenarios", "original",
                 "--model", str(tiny_vit_dir), "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("ximagenet12 train: error: fine-tuning needs a validation part for early stopping")
    assert not (tmp_path / "run").exists()  # refused before the run folder is made
