"""The evaluate / evaluate-segmentation / analyze commands: extras, progress, what reports record."""

from __future__ import annotations

import json
import sys

import pytest

from ximagenet12.cli import main


@pytest.mark.parametrize("command, module", [("evaluate", "transformers"), ("evaluate-segmentation", "torch"),
                                             ("analyze", "statsmodels")])
def test_without_the_eval_extra_one_line_names_it(command, module, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    args = [str(tmp_path)] if command == "analyze" else ["--model", "m", "--data", str(tmp_path)]
    assert main([command, *args, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == (f'ximagenet12 {command}: error: needs the [eval] extra ({module} not installed): '
                   'pip install "ximagenet12[eval]"\n')


@pytest.mark.slow
def test_no_progress_silences_every_library_bar(tiny_vit_dir, ev, tmp_path, capfd):
    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background": 3})
    capfd.readouterr()
    assert main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(root), "--out", str(tmp_path / "r"),
                 "--device", "cpu", "--no-progress"]) == 0
    err = capfd.readouterr().err
    assert "|" not in err and "it/s" not in err and "img/s" not in err, err


@pytest.mark.slow
def test_progress_shows_an_overall_bar_with_eta(tiny_vit_dir, ev, tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    root = ev.make_folder(tmp_path / "f", {"original": 3, "blur_background": 2})
    capfd.readouterr()
    assert main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(root), "--out", str(tmp_path / "r"),
                 "--device", "cpu"]) == 0
    err = capfd.readouterr().err
    assert "all configs: 100%" in err and "5/5" in err  # one bar over every config, total known: ETA shown
    assert hf_logging.is_progress_bar_enabled()  # --no-progress runs restore the libraries' settings


def test_every_report_records_the_data_fingerprint_and_versions(tiny_vit_dir, ev, tmp_path):
    import datasets
    import torch
    import transformers

    root = ev.make_folder(tmp_path / "f", {"original": 3})
    out = tmp_path / "r"
    assert main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(root), "--out", str(out), "--no-progress",
                 "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    fp = report["dataset"]["fingerprint"]
    assert fp["kind"] == "parquet_files" and len(fp["value"]) == 64
    assert report["versions"]["torch"] == torch.__version__
    assert report["versions"]["transformers"] == transformers.__version__
    assert report["versions"]["datasets"] == datasets.__version__
    assert "Dataset fingerprint:** parquet_files" in (out / "report.md").read_text()
