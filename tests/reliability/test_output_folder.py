"""A build never destroys or mixes data: the source is never the output, --overwrite deletes
only what a build wrote (its manifest), other settings need --overwrite, and --resume on a
finished build does nothing and says so."""

from __future__ import annotations

import json
import os

import pytest

import hostile
from ximagenet12.builder import build_dataset
from ximagenet12.builder.safety import WORK_DIR
from ximagenet12.cli import main


@pytest.fixture
def source(tmp_path):
    return hostile._folders(tmp_path / "project" / "src")


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_out_that_is_holds_or_lies_in_the_source_is_refused_before_anything_is_touched(tmp_path, source, where,
                                                                                      capsys):
    out = {"same": source, "inside": source / "images" / "out", "contains": source.parent}[where]
    before = _tree(source.parent)
    word = {"same": "is", "inside": "lies inside", "contains": "contains"}[where]
    code = main(["build", "--source", str(source), "--out", str(out), "--overwrite", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert f"refusing to build into {out}: it {word} the source folder" in err
    assert _tree(source.parent) == before and not (source / "images" / "out").exists()


def test_the_api_refuses_it_too(tmp_path, source):
    with pytest.raises(ValueError, match="it lies inside the source folder"):
        build_dataset(source, source / "masks" / "x", scenarios=["original"], progress=False)


def test_overwrite_never_deletes_a_users_card_or_data(tmp_path, source):
    out = tmp_path / "mine"
    (out / "data" / "notes").mkdir(parents=True)
    (out / "data" / "notes" / "a.csv").write_text("1,2")
    (out / "README.md").write_text("# my project")
    with pytest.raises(ValueError, match=r"README.md, data/notes/a.csv would be replaced but no ximagenet12 build "
                                         r"wrote them"):
        build_dataset(source, out, scenarios=["original"], progress=False, overwrite=True)
    assert (out / "README.md").read_text() == "# my project" and (out / "data" / "notes" / "a.csv").exists()


def test_overwrite_deletes_exactly_the_files_of_the_manifest(tmp_path, source):
    out = tmp_path / "out"
    build_dataset(source, out, scenarios=["original", "blur_object"], progress=False)
    info = json.loads((out / "build_info.json").read_text())
    assert sorted(info["files"]) == sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    (out / "notes.txt").write_text("keep me")
    build_dataset(source, out, scenarios=["original"], progress=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (out / "data").iterdir()) == ["original"]
    # a file a user put next to the shards is not in the manifest: refused, not deleted
    (out / "data" / "original" / "mine.txt").write_text("x")
    with pytest.raises(ValueError, match="data/original/mine.txt would be replaced but no ximagenet12 build wrote it"):
        build_dataset(source, out, scenarios=["blur_object"], progress=False, overwrite=True)
    assert (out / "data" / "original" / "mine.txt").exists()


def test_a_tampered_manifest_never_reaches_outside_the_folder(tmp_path, source):
    out = tmp_path / "out"
    build_dataset(source, out, scenarios=["original"], progress=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    info = json.loads((out / "build_info.json").read_text())
    info["files"] += ["../victim.txt", str(victim)]
    (out / "build_info.json").write_text(json.dumps(info))
    build_dataset(source, out, scenarios=["blur_object"], progress=False, overwrite=True)
    assert victim.read_text() == "precious"


def test_a_build_from_before_the_manifest_is_replaced_by_its_known_files(tmp_path, source):
    out = tmp_path / "out"
    build_dataset(source, out, scenarios=["original"], progress=False)
    info = json.loads((out / "build_info.json").read_text())
    del info["files"], info["settings"]
    (out / "build_info.json").write_text(json.dumps(info))
    build_dataset(source, out, scenarios=["blur_object"], progress=False, overwrite=True)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["blur_object"]


def test_resume_on_a_finished_build_is_a_no_op_that_says_so(tmp_path, source, capsys):
    out = tmp_path / "out"
    args = ["build", "--source", str(source), "--out", str(out), "--scenarios", "original", "--no-progress"]
    assert main(args) == 0
    before = {p: os.stat(p).st_mtime_ns for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"nothing to do: {out} already holds this build, finished, with the same settings "
                              "(1 config(s), 4 rows)")
    assert {p: os.stat(p).st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_resume_or_rebuild_with_other_settings_is_refused(tmp_path, source):
    out = tmp_path / "out"
    build_dataset(source, out, scenarios=["original"], seed=1, progress=False)
    for resume, verb in ((True, "resume into"), (False, "rebuild")):
        with pytest.raises(ValueError, match=f"refusing to {verb} .* finished build with other settings \\(seed\\)"):
            build_dataset(source, out, scenarios=["original"], seed=2, progress=False, resume=resume)
    build_dataset(source, out, scenarios=["original"], seed=1, progress=False)  # same settings: a plain rebuild


def test_an_interrupted_publish_is_finished_by_resume(tmp_path, source, monkeypatch):
    """A crash between renaming data/ and the card into place: resume completes it."""
    out = tmp_path / "out"
    real = os.replace

    def crash_at_the_card(src, dst):
        if os.fspath(dst) == os.fspath(out / "skipped.jsonl"):  # publishing: data/ already has its final name
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", crash_at_the_card)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(source, out, scenarios=["original"], progress=False)
    assert (out / "data").exists() and not (out / "build_info.json").exists()
    assert (out / WORK_DIR / "state.json").exists()
    monkeypatch.setattr(os, "replace", real)
    summary = build_dataset(source, out, scenarios=["original"], progress=False, resume=True)
    assert summary.rows == 4 and (out / "build_info.json").exists() and not (out / WORK_DIR).exists()
    # and --overwrite of such a folder treats the moved data/ as the build's own
    monkeypatch.setattr(os, "replace", crash_at_the_card)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(source, out, scenarios=["original"], progress=False, overwrite=True)
    monkeypatch.setattr(os, "replace", real)
    build_dataset(source, out, scenarios=["blur_object"], progress=False, overwrite=True)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["blur_object"]
