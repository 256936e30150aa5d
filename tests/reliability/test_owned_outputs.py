"""Issue 25: every command's output folder is owned — nothing destroyed, nothing leaked,
nothing wrong, no traceback. One test (or more) per defect class of the hostile pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

import hostile
import hostile_out
from ximagenet12.builder import build_dataset
from ximagenet12.io.owned import MANIFEST, OwnedFolder, is_exact_path
from ximagenet12.cli import main


@pytest.fixture
def source(tmp_path):
    return hostile._folders(tmp_path / "src")


def _rows(out: Path) -> list[dict]:
    return [r for p in sorted((out / "data").rglob("*.parquet")) for r in pq.read_table(p).to_pylist()]


# --------------------------------------------------------------------------- the mechanism


@pytest.mark.parametrize("entry", ["*", "**/*", "data/*", "../x", "/etc/passwd", "a/../b", "./a", "a\\b", "", "a[1]"])
def test_a_manifest_entry_that_is_not_an_exact_relative_path_names_nothing(entry):
    assert not is_exact_path(entry)
    assert is_exact_path("data/original/train-00000-of-00001.parquet")


def test_an_owned_folder_deletes_only_what_its_manifest_lists_and_never_through_a_link(tmp_path):
    folder = OwnedFolder.open(tmp_path / "out", command="evaluate")
    folder.write_text("sub/a.txt", "a")
    (tmp_path / "out" / "sub" / "user.txt").write_text("mine")
    doc = json.loads((tmp_path / "out" / MANIFEST).read_text())
    doc["files"] += ["*", "**/*", "sub/*", "../outside.txt"]  # tampered: globs and a way out
    (tmp_path / "out" / MANIFEST).write_text(json.dumps(doc))
    (tmp_path / "outside.txt").write_text("precious")
    again = OwnedFolder.open(tmp_path / "out", command="evaluate")
    assert again.files == ["sub/a.txt"]
    again.clear()
    left = {k: v for k, v in hostile_out.tree(tmp_path / "out").items() if not k.startswith(".cache/")}
    assert left == {"sub/user.txt": b"mine"}
    assert (tmp_path / "outside.txt").read_text() == "precious"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ValueError, match=r"linked is a symbolic link .*never writes or deletes through a link"):
        again.write_text("linked/x.txt", "x")
    assert not any((tmp_path / "elsewhere").iterdir())


def test_a_link_planted_at_the_temporary_name_is_not_written_through(tmp_path):
    folder = OwnedFolder.open(tmp_path / "out", command="evaluate")
    (tmp_path / "victim.txt").write_text("precious")
    (tmp_path / "out" / f".report.{os.getpid()}.tmp.json").symlink_to(tmp_path / "victim.txt")
    folder.write_text("report.json", "{}")
    assert (tmp_path / "victim.txt").read_text() == "precious"
    assert (tmp_path / "out" / "report.json").read_text() == "{}" and not (tmp_path / "out" / "report.json").is_symlink()


def test_an_owned_folder_refuses_a_foreign_folder_and_never_replaces_a_users_file(tmp_path):
    before = hostile_out.plant_user_files(tmp_path / "busy")
    with pytest.raises(ValueError, match=r"refusing to write into .*busy: it is not empty and holds no ximagenet12 "
                                         r"evaluate output .*pass --overwrite, which never replaces or deletes"):
        OwnedFolder.open(tmp_path / "busy", command="evaluate", planned=["report.md"])
    with pytest.raises(ValueError, match=r"report.json would be replaced but it is a file ximagenet12 evaluate did "
                                         r"not write"):
        OwnedFolder.open(tmp_path / "busy", command="evaluate", overwrite=True, planned=["report.json"])
    assert hostile_out.tree(tmp_path / "busy") == before


# --------------------------------------------------------------------------- destroyed user files


def _fake_result():
    import pandas as pd

    return SimpleNamespace(report={"model": "m", "scenarios": {}}, predictions=pd.DataFrame({"a": [1]}))


def test_evaluate_into_a_users_folder_damages_nothing(tmp_path, monkeypatch):
    from ximagenet12.evaluation import report as R

    monkeypatch.setattr(R, "_heatmap", lambda report, path: path.write_bytes(b"png"))
    monkeypatch.setattr(R, "_scenarios_plot", lambda report, path: path.write_bytes(b"png"))
    monkeypatch.setattr(R, "_markdown", lambda report: "# report\n")  # the plots and text are not under test here
    before = hostile_out.plant_user_files(tmp_path / "mine")
    with pytest.raises(ValueError, match="it is not empty and holds no ximagenet12 evaluate output"):
        R.write_report(_fake_result(), tmp_path / "mine")
    with pytest.raises(ValueError, match="report.json would be replaced"):
        R.write_report(_fake_result(), tmp_path / "mine", overwrite=True)
    assert hostile_out.tree(tmp_path / "mine") == before
    # only notes.txt there: --overwrite writes the report beside it and keeps it
    (tmp_path / "mine" / "report.json").unlink()
    R.write_report(_fake_result(), tmp_path / "mine", overwrite=True)
    R.write_report(_fake_result(), tmp_path / "mine")  # its own report: replaced without --overwrite
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my notes"
    assert json.loads((tmp_path / "mine" / "report.json").read_text())["model"] == "m"


@pytest.mark.parametrize("command", ["evaluate", "evaluate-segmentation", "analyze", "explain", "challenge", "train"])
def test_every_command_refuses_a_users_folder_in_one_line_before_any_work(tmp_path, source, command, capsys):
    data = tmp_path / "built"
    argv = dict(hostile_out.commands(data))[command]
    before = hostile_out.plant_user_files(tmp_path / "mine")
    code = main(argv(tmp_path / "mine"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert f"ximagenet12 {command}: error: " in err
    assert "holds no" in err and "mine" in err  # "holds no ximagenet12 ... output" / "holds no run"
    assert hostile_out.tree(tmp_path / "mine") == before


def test_leaderboard_and_score_never_replace_a_users_file(tmp_path):
    from ximagenet12.leaderboard.results import Results, write_results
    from ximagenet12.leaderboard.site import write_site
    from ximagenet12.training.score import write_score

    before = hostile_out.plant_user_files(tmp_path / "mine")
    with pytest.raises(ValueError, match="holds no ximagenet12 leaderboard output"):
        write_site(Results(rows=[{"report_id": "x"}]), tmp_path / "mine")
    with pytest.raises(ValueError, match="holds no ximagenet12 leaderboard-results output"):
        write_results(Results(rows=[{"report_id": "x"}]), tmp_path / "mine")
    with pytest.raises(ValueError, match=r"mine/notes.txt: it exists and is not a score written by ximagenet12 score"):
        write_score({"runs": {}, "scores": {}}, tmp_path / "mine" / "notes.txt")
    (tmp_path / "victim.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "victim.json")
    with pytest.raises(ValueError, match="link.json: it is a symbolic link"):
        write_score({"runs": {}, "scores": {}}, tmp_path / "link.json")
    assert hostile_out.tree(tmp_path / "mine") == before and (tmp_path / "victim.json").read_text() == "{}"
    write_score({"runs": {}, "scores": {}}, tmp_path / "score.json")
    write_score({"runs": {"x": 1}, "scores": {}}, tmp_path / "score.json")  # an earlier score: replaced
    assert json.loads((tmp_path / "score.json").read_text())["runs"] == {"x": 1}


@pytest.mark.parametrize("pattern", ["*", "**/*", "*.txt", "sub/*", "[n]otes.txt"])
def test_a_glob_in_a_tampered_build_manifest_reaches_nothing_the_build_did_not_write(tmp_path, source, pattern):
    out = tmp_path / "out"
    build_dataset(source, out, scenarios=["original"], progress=False)
    (out / "notes.txt").write_text("keep me")
    (out / "sub").mkdir()
    (out / "sub" / "deep.txt").write_text("keep me too")
    info = json.loads((out / "build_info.json").read_text())
    info["files"].append(pattern)
    (out / "build_info.json").write_text(json.dumps(info))
    build_dataset(source, out, scenarios=["blur_object"], progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep me" and (out / "sub" / "deep.txt").read_text() == "keep me too"
    assert sorted(p.name for p in (out / "data").iterdir()) == ["blur_object"]


@pytest.mark.parametrize("command", ["build", "evaluate"])
def test_a_cache_folder_that_is_a_link_to_a_users_folder_is_never_written_or_cleaned(tmp_path, source, command,
                                                                                      capsys):
    users = tmp_path / "users"
    (users / "ximagenet12-build").mkdir(parents=True)
    (users / "ximagenet12-build" / "state.json").write_text("{}")
    (users / "thesis.tex").write_text("...")
    before = hostile_out.tree(users)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".cache").symlink_to(users, target_is_directory=True)
    if command == "build":
        argv = ["build", "--source", str(source), "--out", str(out), "--overwrite", "--no-progress"]
    else:
        argv = dict(hostile_out.commands(tmp_path / "built"))["evaluate"](out)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".cache is a symbolic link" in err and "never writes or deletes through" in err
    assert hostile_out.tree(users) == before and sorted(os.listdir(users)) == ["thesis.tex", "ximagenet12-build"]


# --------------------------------------------------------------------------- leak


def test_a_hf_row_that_is_a_path_outside_the_dataset_is_never_read(tmp_path, capsys):
    secret = tmp_path / "secret.png"
    secret.write_bytes(hostile.png_bytes(hostile.photo(42)))
    saved = hostile_out.path_only_hf(tmp_path / "hf", secret)
    out = tmp_path / "out"
    assert main(["build", "--source", str(saved), "--out", str(out), "--scenarios", "original", "--no-progress"]) == 0
    assert "image path" in capsys.readouterr().out
    assert sorted(r["source_id"] for r in _rows(out)) == ["img0", "img1", "img2"]
    skipped = [json.loads(x) for x in (out / "skipped.jsonl").read_text().splitlines()]
    assert [s["source_id"] for s in skipped] == ["secret"]
    assert f"image path '{secret}' of row 3 lies outside the dataset folder" in skipped[0]["reason"]
    # an in-memory dataset has no folder: its path-only rows are read only inside root=
    import datasets

    from ximagenet12.sources.hf import HFDatasetSource

    ds = datasets.load_from_disk(str(saved))
    assert len(HFDatasetSource(ds)) == 3
    assert "paths are read only inside the dataset's folder" in HFDatasetSource(ds).skipped[0].reason
    assert len(HFDatasetSource(ds, root=tmp_path)) == 4  # the caller named a folder that holds the file


# --------------------------------------------------------------------------- wrong results


def test_resume_after_an_images_pixels_changed_under_the_same_name_rebuilds_its_block(tmp_path, source, monkeypatch):
    import numpy as np
    from PIL import Image

    import ximagenet12.builder.process as process

    real, written = process._write_record, []

    def stop_after_two(path, data):
        real(path, data)
        written.append(path)
        if len(written) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(process, "_write_record", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(source, tmp_path / "out", scenarios=["original"], block_samples=2, progress=False)
    monkeypatch.setattr(process, "_write_record", real)
    first = sorted((source / "images").rglob("*.*"))[0]
    pixels = np.asarray(Image.open(first).convert("RGB"))
    Image.fromarray(255 - pixels).save(first)  # same name, other content
    summary = build_dataset(source, tmp_path / "out", scenarios=["original"], block_samples=2, progress=False,
                            resume=True)
    assert summary.resumed_blocks == 1  # the other recorded block is unchanged: reused
    build_dataset(source, tmp_path / "clean", scenarios=["original"], block_samples=2, progress=False)
    assert _rows(tmp_path / "out") == _rows(tmp_path / "clean")


def test_a_multi_gigabyte_sparse_file_behind_a_jpeg_header_is_refused_under_a_memory_limit(tmp_path, source):
    victim = sorted((source / "images").rglob("*.*"))[0]
    hostile_out.sparse_jpeg(victim)
    proc = subprocess.run([sys.executable, "-c", hostile_out.SPARSE_BUILD, str(source), str(tmp_path / "out"),
                           str(3 * 1024**3)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert f"of {6 * 1024**3:,} bytes is over the limit of" in proc.stdout
    assert len(_rows(tmp_path / "out")) == 3


# --------------------------------------------------------------------------- tracebacks


def test_a_saved_hf_dataset_with_no_rows_is_one_line(tmp_path, capsys):
    empty = hostile_out.empty_hf(tmp_path)
    capsys.readouterr()  # datasets' own progress bar while the fixture saved it
    assert main(["build", "--source", str(empty), "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err == f"ximagenet12 build: error: {empty} is a saved Hugging Face dataset with 0 rows: there is nothing to build\n"
    assert not (tmp_path / "out").exists()


def test_build_with_two_processes_from_standard_input_works(tmp_path, source):
    proc = subprocess.run([sys.executable, "-", str(source), str(tmp_path / "out")], input=hostile_out.STDIN_BUILD,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stdout.strip() == "4"


_SLOW_BUILD = """
import sys, time
import ximagenet12.builder.worker as worker
real = worker.process_sample
def slow(*a, **k):
    time.sleep(1.0)
    return real(*a, **k)
worker.process_sample = slow
from ximagenet12.cli import main
if __name__ == "__main__":
    sys.exit(main(["build", "--source", sys.argv[1], "--out", sys.argv[2], "--scenarios", "original",
                   "--num-proc", "2", "--block-samples", "2", "--no-progress"]))
"""


@pytest.mark.slow
def test_sigkill_of_the_resource_tracker_during_a_two_process_build_is_one_line(tmp_path):
    import psutil

    source = hostile._folders(tmp_path / "src", per_class=4)
    script = tmp_path / "slow_build.py"
    script.write_text(textwrap.dedent(_SLOW_BUILD))
    proc = subprocess.Popen([sys.executable, str(script), str(source), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent, tracker = psutil.Process(proc.pid), None
    deadline = time.monotonic() + 120
    while tracker is None and time.monotonic() < deadline and proc.poll() is None:
        for child in parent.children(recursive=True):
            try:
                if "resource_tracker" in " ".join(child.cmdline()):
                    tracker = child
            except psutil.Error:
                pass
        time.sleep(0.1)
    assert tracker is not None, "no resource tracker seen"
    tracker.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    assert err.strip().splitlines() == [
        f"warning: multiprocessing's resource tracker (process {tracker.pid}) was killed during the build and has "
        "been restarted; the build's files are not affected"]
    assert len(_rows(tmp_path / "out")) == 8
