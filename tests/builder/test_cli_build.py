"""``ximagenet12 build``: options, the summary, the load line, one-line errors."""

from __future__ import annotations

import datasets

from ximagenet12.cli import main


def test_build_prints_a_summary_and_the_load_line(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["build", "--out", str(out), "--scenarios", "original,blur_background@5", "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "built 2 config(s), 40 rows" in text and "blur_background_level5" in text
    assert "skipped: none" in text
    assert f'datasets.load_dataset("{out}", "original", split="train")' in text
    ds = datasets.load_dataset(str(out), "blur_background_level5", split="train")
    assert set(ds["level"]) == {5}


def test_build_on_a_source_with_options(tmp_path, release, capsys):
    out = tmp_path / "out"
    code = main(["build", "--source", str(release), "--out", str(out), "--scenarios", "image_grey",
                 "--seed", "3", "--num-proc", "1", "--license", "cc-by-4.0", "--max-samples", "4", "--no-progress"])
    assert code == 0
    assert "4 sample(s)" in capsys.readouterr().out
    assert "license: cc-by-4.0" in (out / "README.md").read_text()


def test_build_errors_are_one_line(tmp_path, release, capsys):
    assert main(["build", "--out", str(tmp_path / "o"), "--scenarios", "nope", "--no-progress"]) == 1
    assert "ximagenet12 build: error: unknown scenario 'nope'" in capsys.readouterr().err
    assert main(["build", "--source", str(release), "--out", str(release), "--no-progress"]) == 1
    assert "refusing to build into" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main(["build", "--source", str(release), "--out", str(foreign), "--no-progress"]) == 1
    assert "refusing to write into" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    try:
        main(["build", "--help"])
    except SystemExit:
        pass
    text = capsys.readouterr().out
    for option in ("--source", "--out", "--scenarios", "--seed", "--num-proc", "--resume", "--strict",
                   "--overwrite", "--backgrounds", "--license", "--max-samples", "ximagenet12-out"):
        assert option in text
    flat = " ".join(text.split())
    assert "(default: None)" not in flat and "(default: False)" not in flat  # nothing to show
    assert "(default 30) (default" not in flat and "denoising steps (default 30)" in flat  # said once
    assert "--seed SEED build seed (every row's seed derives from it) (default: 0)" in flat

