"""builder/safety.py as pure decisions: what a build may do with its output folder."""

from __future__ import annotations

import json

import pytest

from ximagenet12.builder.safety import (
    WORK_DIR,
    apply_fresh,
    check_out_vs_source,
    manifest_files,
    plan_out_dir,
    source_roots,
)

SETTINGS = {"configs": ["original"], "seed": 0}


def _finished(out, files, settings=SETTINGS):
    out.mkdir(parents=True, exist_ok=True)
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("x")
    info = {"builder": "ximagenet12", "files": [*files, "build_info.json"], "settings": settings, "split": "train"}
    (out / "build_info.json").write_text(json.dumps(info))


def test_source_roots_are_the_path_given_and_the_readers_folders(tmp_path):
    (tmp_path / "ann.json").write_text("{}")

    class Reader:
        images_dir = tmp_path / "imgs"

    assert source_roots(tmp_path / "ann.json", Reader()) == [tmp_path, tmp_path / "imgs"]
    assert source_roots(None, None) == []


@pytest.mark.parametrize(("out", "word"), [("src", "is"), ("src/x/y", "lies inside"), (".", "contains")])
def test_check_out_vs_source(tmp_path, out, word):
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError, match=f"refusing to build into .*: it {word} the source folder"):
        check_out_vs_source(tmp_path / out, [tmp_path / "src"])
    check_out_vs_source(tmp_path / "elsewhere", [tmp_path / "src"])


def test_a_new_or_empty_folder_is_a_fresh_build(tmp_path):
    assert plan_out_dir(tmp_path / "new", resume=False, overwrite=False, fingerprint=SETTINGS).action == "fresh"
    (tmp_path / "empty" / ".cache").mkdir(parents=True)  # only the lock's folder: still empty
    assert plan_out_dir(tmp_path / "empty", resume=False, overwrite=False, fingerprint=SETTINGS).delete == []


def test_the_same_finished_build_resumed_is_finished(tmp_path):
    _finished(tmp_path, ["README.md"])
    assert plan_out_dir(tmp_path, resume=True, overwrite=False, fingerprint=SETTINGS).action == "finished"


def test_a_fresh_build_over_a_previous_one_deletes_its_manifest_build_info_first(tmp_path):
    _finished(tmp_path, ["README.md", "skipped.jsonl", "data/original/train-00000-of-00001.parquet"])
    plan = plan_out_dir(tmp_path, resume=False, overwrite=False, fingerprint=SETTINGS)
    assert plan.action == "fresh" and plan.delete[0] == tmp_path / "build_info.json"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in plan.delete) == [
        "README.md", "build_info.json", "data/original/train-00000-of-00001.parquet", "skipped.jsonl"]
    (tmp_path / "mine.txt").write_text("keep")
    apply_fresh(tmp_path, plan)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_other_settings_need_overwrite(tmp_path):
    _finished(tmp_path, ["README.md"], settings={"configs": ["blur_object"], "seed": 0})
    with pytest.raises(ValueError, match=r"refusing to rebuild .* other settings \(configs\); pass overwrite=True"):
        plan_out_dir(tmp_path, resume=False, overwrite=False, fingerprint=SETTINGS)
    assert plan_out_dir(tmp_path, resume=False, overwrite=True, fingerprint=SETTINGS).action == "fresh"


def test_an_interrupted_build(tmp_path):
    (tmp_path / WORK_DIR).mkdir(parents=True)
    (tmp_path / WORK_DIR / "state.json").write_text(json.dumps({"fingerprint": SETTINGS}))
    assert plan_out_dir(tmp_path, resume=True, overwrite=False, fingerprint=SETTINGS).action == "resume"
    with pytest.raises(ValueError, match="holds an interrupted build: pass resume=True"):
        plan_out_dir(tmp_path, resume=False, overwrite=False, fingerprint=SETTINGS)
    with pytest.raises(ValueError, match=r"cannot resume .* different settings \(seed\)"):
        plan_out_dir(tmp_path, resume=True, overwrite=False, fingerprint={**SETTINGS, "seed": 1})


def test_a_foreign_folder_and_foreign_files_in_the_way(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty and holds no ximagenet12 build"):
        plan_out_dir(tmp_path, resume=False, overwrite=False, fingerprint=SETTINGS)
    assert plan_out_dir(tmp_path, resume=False, overwrite=True, fingerprint=SETTINGS).delete == []
    (tmp_path / "README.md").write_text("# mine")
    with pytest.raises(ValueError, match="README.md would be replaced but no ximagenet12 build wrote it"):
        plan_out_dir(tmp_path, resume=False, overwrite=True, fingerprint=SETTINGS)


def test_manifest_of_a_build_from_before_the_files_list():
    info = {"builder": "ximagenet12", "rows": {"original": 4}, "split": "test"}
    # the legacy shards: that shape of name in that one folder, not a glob
    assert manifest_files(info) == ["README.md", "skipped.jsonl", "build_info.json",
                                    "data/original/test-NNNNN-of-NNNNN.parquet"]
