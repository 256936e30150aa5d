"""Same rows for any worker count, resume after a kill, skipped samples, strict, output folder safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

from ximagenet12.builder import build_dataset, is_previous_build
from ximagenet12.builder.build import WORK_DIR
from ximagenet12.core.types import SampleError


def _rows(out):
    """Every config's rows (all columns, image bytes included), in order."""
    return {
        p.parent.name + "/" + p.name: pq.read_table(p).to_pylist()
        for p in sorted((out / "data").rglob("*.parquet"))
    }


def test_num_proc_1_and_2_give_identical_rows(tmp_path, release, small_scenarios):
    one = build_dataset(release, tmp_path / "one", scenarios=small_scenarios, num_proc=1, progress=False,
                        block_samples=4)
    two = build_dataset(release, tmp_path / "two", scenarios=small_scenarios, num_proc=2, progress=False,
                        block_samples=4)
    assert one.rows == two.rows == 6 * len(small_scenarios)
    assert _rows(tmp_path / "one") == _rows(tmp_path / "two")
    for a in sorted((tmp_path / "one" / "data").rglob("*.parquet")):  # byte-identical files
        assert a.read_bytes() == (tmp_path / "two" / a.relative_to(tmp_path / "one")).read_bytes()


def test_seed_changes_the_draws(tmp_path, release):
    a = build_dataset(release, tmp_path / "a", scenarios=["image_rainbow"], seed=0, progress=False)
    b = build_dataset(release, tmp_path / "b", scenarios=["image_rainbow"], seed=1, progress=False)
    assert a.rows == b.rows and _rows(tmp_path / "a") != _rows(tmp_path / "b")


_KILL_AFTER_BLOCKS = """
import os, signal, sys
from pathlib import Path
import ximagenet12.builder.build as build
import ximagenet12.builder.process as process

real = process.atomic_write_bytes
done = []

def write(path, data):
    real(path, data)
    if Path(path).parent.name == "blocks":
        done.append(path)
        if len(done) == {kill_after}:
            os.kill(os.getpid(), signal.SIGKILL)

process.atomic_write_bytes = write  # block records are written by the process stage
build.build_dataset(sys.argv[1], sys.argv[2], scenarios={scenarios!r}, block_samples=2, progress=False)
"""


def test_resume_after_sigkill_gives_the_rows_of_an_uninterrupted_build(tmp_path, release, small_scenarios):
    clean = tmp_path / "clean"
    build_dataset(release, clean, scenarios=small_scenarios, block_samples=2, progress=False)
    out = tmp_path / "killed"
    script = textwrap.dedent(_KILL_AFTER_BLOCKS).format(kill_after=2, scenarios=small_scenarios)
    proc = subprocess.run([sys.executable, "-c", script, str(release), str(out)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (out / "data").exists() and not (out / "README.md").exists()
    assert len(list((out / WORK_DIR / "blocks").iterdir())) == 2  # 2 of 3 blocks done
    assert is_previous_build(out)
    with pytest.raises(ValueError, match="holds an interrupted build: pass resume=True"):
        build_dataset(release, out, scenarios=small_scenarios, block_samples=2, progress=False)
    with pytest.raises(ValueError, match="cannot resume .* different settings \\(backgrounds, configs\\)"):
        build_dataset(release, out, scenarios=["original"], block_samples=2, progress=False, resume=True)
    summary = build_dataset(release, out, scenarios=small_scenarios, block_samples=2, progress=False, resume=True)
    assert summary.resumed_blocks == 2
    assert _rows(out) == _rows(clean)
    assert not (out / ".cache").exists()


def test_overwrite_restarts_an_interrupted_build(tmp_path, release):
    out = tmp_path / "out"
    (out / WORK_DIR).mkdir(parents=True)
    (out / WORK_DIR / "state.json").write_text("{}")
    summary = build_dataset(release, out, scenarios=["original"], progress=False, overwrite=True)
    assert summary.rows == 6 and summary.resumed_blocks == 0


def test_bad_samples_are_skipped_with_reasons(tmp_path, make_release):
    root = make_release(tmp_path / "bad", {"n01000001": 2, "n01000002": 2})
    (root / "image" / "n01000001" / "n01000001_0.JPEG").write_bytes(b"not a jpeg")
    (root / "masks" / "n01000002" / "n01000002_1.png").unlink()
    summary = build_dataset(root, tmp_path / "out", scenarios=["original", "mixed_same"], progress=False)
    lines = [json.loads(x) for x in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    by_id = {(x["source_id"], x["scenario"]): x["reason"] for x in lines}
    assert "mask missing" in by_id[("n01000002_1", None)]
    assert "could not decode image" in by_id[("n01000001_0", None)]
    # the class left with one sample cannot give mixed_same a donor
    assert "needs another sample of class n01000002" in by_id[("n01000002_0", "mixed_same")]
    assert summary.configs["original"].rows == 2
    text = str(summary)
    assert "skipped 4" in text and "n01000001_0 [all scenarios]: could not decode image" in text
    assert "skipped.jsonl" in (tmp_path / "out" / "README.md").read_text()


def test_a_bad_donor_is_never_drawn_so_good_samples_keep_their_rows(tmp_path, make_release):
    root = make_release(tmp_path / "bad", {"n01000001": 4})
    (root / "image" / "n01000001" / "n01000001_1.JPEG").write_bytes(b"not a jpeg")
    summary = build_dataset(root, tmp_path / "out", scenarios=["mixed_same"], progress=False)
    rows = pq.read_table(tmp_path / "out" / "data" / "mixed_same" / "train-00000-of-00001.parquet").to_pylist()
    assert sorted(r["source_id"] for r in rows) == ["n01000001_0", "n01000001_2", "n01000001_3"]
    assert all(json.loads(r["provenance"])["donor_id"] != "n01000001_1" for r in rows)
    assert [(s.source_id, s.scenario) for s in summary.skipped] == [("n01000001_1", None)]


def test_a_sample_whose_every_donor_fails_is_skipped_for_its_own_reason(tmp_path, make_release):
    root = make_release(tmp_path / "bad", {"n01000001": 2, "n01000002": 2})
    (root / "image" / "n01000001" / "n01000001_1.JPEG").write_bytes(b"not a jpeg")
    build_dataset(root, tmp_path / "out", scenarios=["mixed_same"], progress=False)
    lines = [json.loads(x) for x in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    assert {"source_id": "n01000001_0", "scenario": "mixed_same",
            "reason": "no donor for mixed_same loads (every candidate sample was skipped)"} in lines


def test_a_config_no_sample_can_fill_is_left_out_and_said(tmp_path, make_release):
    root = make_release(tmp_path / "one", {"n01000001": 1, "n01000002": 1})
    out = tmp_path / "out"
    summary = build_dataset(root, out, scenarios=["original", "mixed_same"], progress=False)
    assert list(summary.configs) == ["original"] and "mixed_same" in summary.empty_configs
    assert "mixed_same  left out: no sample gave it a row (mixed_same needs another sample" in str(summary)
    assert not (out / "data" / "mixed_same").exists()
    assert "config_name: mixed_same" not in (out / "README.md").read_text()
    info = json.loads((out / "build_info.json").read_text())
    assert "needs another sample" in info["empty_configs"]["mixed_same"]
    import datasets

    assert datasets.get_dataset_config_names(str(out)) == ["original"]  # the card offers only what holds rows
    with pytest.raises(SampleError, match="mixed_same needs another sample of class"):  # --strict: an error
        build_dataset(root, tmp_path / "strict", scenarios=["original", "mixed_same"], progress=False, strict=True)


def test_single_class_source_cannot_build_only_mixed_rand(tmp_path, make_release):
    root = make_release(tmp_path / "one", {"n01000001": 2})
    with pytest.raises(ValueError, match="no config of the build has any row, so nothing was written: "
                                         "mixed_rand: .*only one class"):
        build_dataset(root, tmp_path / "out", scenarios=["mixed_rand", "mixed_next"], progress=False)
    assert not (tmp_path / "out").exists()  # nothing left behind: the next run starts afresh


def test_strict_stops_at_the_first_bad_sample(tmp_path, make_release):
    root = make_release(tmp_path / "bad", {"n01000001": 2, "n01000002": 2})
    (root / "image" / "n01000002" / "n01000002_0.JPEG").write_bytes(b"not a jpeg")
    with pytest.raises(SampleError, match="could not decode image .*source n01000002_0"):
        build_dataset(root, tmp_path / "out", scenarios=["original"], progress=False, strict=True)
    (root / "masks" / "n01000001" / "n01000001_1.png").unlink()
    with pytest.raises(SampleError, match="mask missing.*source n01000001_1"):
        build_dataset(root, tmp_path / "out2", scenarios=["original"], progress=False, strict=True)


def test_refuses_a_foreign_folder(tmp_path, release):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="refusing to write into .*not empty and holds no ximagenet12 build"):
        build_dataset(release, foreign, scenarios=["original"], progress=False)
    build_dataset(release, foreign, scenarios=["original"], progress=False, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"  # overwrite deletes only the build's files


def test_rebuilding_with_other_settings_needs_overwrite(tmp_path, release):
    out = tmp_path / "out"
    build_dataset(release, out, scenarios=["original", "blur_object"], progress=False)
    with pytest.raises(ValueError, match="refusing to rebuild .* finished build with other settings \\(configs\\)"):
        build_dataset(release, out, scenarios=["original"], progress=False)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["blur_object", "original"]
    build_dataset(release, out, scenarios=["original"], progress=False, overwrite=True)
    assert sorted(p.name for p in (out / "data").iterdir()) == ["original"]


def test_max_samples_takes_every_class(tmp_path, release):
    summary = build_dataset(release, tmp_path / "out", scenarios=["original"], max_samples=2, progress=False)
    rows = pq.read_table(tmp_path / "out" / "data" / "original" / "train-00000-of-00001.parquet").to_pylist()
    assert summary.samples == 2 and sorted(r["class_key"] for r in rows) == ["n01000001", "n01000002"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"num_proc": 0}, ValueError, "num_proc must be a positive integer, got 0"),
        ({"block_samples": 0}, ValueError, "block_samples must be a positive integer"),
        ({"split": "a/b"}, ValueError, "split must be a name like 'train'"),
        ({"scenarios": ["nope"]}, ValueError, "unknown scenario 'nope'"),
        ({"max_samples": 0}, ValueError, "max_samples must be a positive integer"),
    ],
)
def test_bad_options(tmp_path, release, kwargs, error, match):
    with pytest.raises(error, match=match):
        build_dataset(release, tmp_path / "out", progress=False, **{"scenarios": ["original"], **kwargs})


def test_bad_source(tmp_path):
    with pytest.raises(TypeError, match="source must be a Source, a path or None"):
        build_dataset(42, tmp_path / "out", progress=False)
    with pytest.raises(FileNotFoundError, match="source not found"):
        build_dataset(tmp_path / "missing", tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="output path .* is not a folder"):
        (tmp_path / "file").write_text("x")
        build_dataset(None, tmp_path / "file", progress=False)


def test_strict_with_workers_stops_and_keeps_no_half_written_file(tmp_path, make_release):
    root = make_release(tmp_path / "bad", {"n01000001": 3, "n01000002": 3})
    (root / "image" / "n01000002" / "n01000002_2.JPEG").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    with pytest.raises(SampleError, match="source n01000002_2"):
        build_dataset(root, out, scenarios=["original"], progress=False, strict=True, num_proc=2, block_samples=2)
    assert not (out / "data").exists()
    assert not [p for p in out.rglob("*.tmp")]
    assert len(list((out / WORK_DIR / "blocks").iterdir())) == 2  # the blocks before the bad one are kept


def test_workers_that_cannot_start_give_a_clear_error_not_a_hang(tmp_path):
    # A calling script that fails when a spawned worker re-imports it (an unguarded top level):
    # the workers die at start; a multiprocessing.Pool would replace them forever, the build
    # must stop instead. (From standard input nothing is re-imported: that build works.)
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "if __name__ == '__mp_main__':\n    raise SystemExit('a worker re-imported the script')\n"
        "from ximagenet12.builder import build_dataset\n"
        f"build_dataset(None, {str(tmp_path / 'out')!r}, scenarios=['original'], num_proc=2, progress=False)\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode != 0
    assert "RuntimeError: a build worker process died" in proc.stderr
    assert "must be guarded by if __name__ == '__main__'" in proc.stderr
