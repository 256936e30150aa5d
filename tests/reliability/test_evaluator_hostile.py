"""The evaluator reads only the dataset: hostile rows, damaged shards, bad options (issue 17).

Every folder here is generated in the test (``hostile_eval``: parquet written with pyarrow
and the builder's schema, so nothing is embedded or decoded on the way in; the same corpus
feeds ``benchmarks/reliability_tally.py``); the model is a plain callable in the pipeline's
output format, so each case runs the real data path in well under a second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import hostile_eval  # tests/reliability is on the path (conftest), as for the tally
import numpy as np
import pytest

from ximagenet12.cli import main
from ximagenet12.evaluation import data as D
from ximagenet12.evaluation.classification import evaluate_classification
from ximagenet12.evaluation.report import write_report
from ximagenet12.evaluation.segmentation import evaluate_segmentation

_row, _shard, _folder, _png = hostile_eval.row, hostile_eval.shard, hostile_eval.folder, hostile_eval.png
CLASSES, KEYS, SECRET, crayfish = hostile_eval.CLASSES, hostile_eval.KEYS, hostile_eval.SECRET, hostile_eval.crayfish


@pytest.mark.parametrize("case", hostile_eval.CASES, ids=lambda c: c.name)
def test_the_hostile_corpus_is_recorded_or_refused_never_leaked_never_lost(case, tmp_path):
    """The evaluator's part of the reliability tally: no traceback, no leak, no good row lost."""
    outcome = hostile_eval.run_case(case, tmp_path)
    assert outcome["kind"] == case.expected, outcome
    assert not outcome["leaked"] and outcome["rows_lost"] == 0, outcome


def _report_text(result, out: Path) -> str:
    write_report(result, out)
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.suffix in (".json", ".md"))


# --------------------------------------------------------------------- paths in rows
@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "outside" / "token.txt"
    path.parent.mkdir()
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", ["absolute", "relative_dotdot", "symlink_inside"])
def test_a_row_path_outside_the_folder_is_never_read(kind, tmp_path, secret_file):
    root = tmp_path / "built"
    if kind == "absolute":
        path = str(secret_file)
    elif kind == "relative_dotdot":
        path = "../outside/token.txt"
    else:
        (root / "data").mkdir(parents=True)
        (root / "data" / "link.png").symlink_to(secret_file)
        path = "data/link.png"
    rows = [_row(0), _row(1, image={"bytes": None, "path": path}), _row(2)]
    _folder(root, {"original": [rows]})
    r = evaluate_classification(crayfish, root, progress=False)
    assert r.report["scenarios"]["original"]["n"] == 2
    [failure] = r.report["failures"]
    assert failure["source_id"] == "s1" and "lies outside the dataset folder; not read" in failure["error"]
    assert SECRET not in _report_text(r, tmp_path / "report")


def test_a_row_path_inside_the_folder_is_read(tmp_path):
    root = tmp_path / "built"
    image = np.full((8, 8, 3), 7, np.uint8)
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(_png(image))
    _folder(root, {"original": [[_row(0, image={"bytes": None, "path": "images/a.png"})]]})
    seen = []

    def model(images):
        seen.extend(np.asarray(im) for im in images)
        return crayfish(images)

    r = evaluate_classification(model, root, progress=False)
    assert r.report["n_failed"] == 0 and (seen[0] == image).all()


def test_hub_data_never_reads_row_paths(secret_file):
    with pytest.raises(D.DecodeError, match="has no embedded bytes, only a path .*read only inside a local dataset folder"):
        D.decode_rgb({"bytes": None, "path": str(secret_file)}, source_id="s1", root=None)


def test_undecodable_bytes_are_never_echoed(tmp_path):
    root = _folder(tmp_path / "built", {"original": [[_row(0), _row(1, image={"bytes": SECRET.encode(), "path": None})]]})
    r = evaluate_classification(crayfish, root, progress=False)
    assert "not a recognised image file (36 bytes)" in r.report["failures"][0]["error"]
    assert SECRET not in _report_text(r, tmp_path / "report")


def test_a_card_pattern_leading_outside_the_folder_is_refused(tmp_path, secret_file):
    root = tmp_path / "built"
    _folder(root, {"original": [[_row(0)]]}, data_files={"original": "../outside/*"})
    with pytest.raises(ValueError, match=r"data_files pattern '../outside/\*' points outside the dataset folder"):
        D.config_files(root, "original")


def test_a_shard_linked_from_outside_is_refused(tmp_path):
    elsewhere = _shard(tmp_path / "elsewhere" / "x.parquet", [_row(0)])
    root = _folder(tmp_path / "built", {"original": [[_row(1)]]})
    (root / "data" / "original" / "train-00009-of-00009.parquet").symlink_to(elsewhere)
    with pytest.raises(ValueError, match="train-00009-of-00009.parquet leads outside the dataset folder"):
        D.config_files(root, "original")


# --------------------------------------------------------------------- damaged shards
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty_file"])
def test_a_damaged_shard_is_named_skipped_counted_and_the_rest_evaluated(damage, tmp_path):
    root = _folder(tmp_path / "built", {
        "original": [[_row(i) for i in range(4)], [_row(i) for i in range(4, 8)]],
        "blur_background": [[_row(i) for i in range(3)]],
    })
    bad = root / "data" / "original" / "train-00001-of-00002.parquet"
    data = bad.read_bytes()
    bad.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty_file": b""}[damage])
    with pytest.warns(UserWarning, match=r"config 'original': shard data/original/train-00001-of-00002.parquet "
                                         r"could not be read after 0 row\(s\)"):
        r = evaluate_classification(crayfish, root, progress=False)
    assert r.report["scenarios"]["original"]["n"] == 4
    assert r.report["scenarios"]["blur_background"]["n"] == 3
    [shard] = r.report["bad_shards"]
    assert shard["file"] == "data/original/train-00001-of-00002.parquet" and shard["rows_read"] == 0
    assert r.report["n_bad_shards"] == 1 and r.report["robustness"]["scenarios"] == ["blur_background"]


def test_a_config_whose_only_shard_is_damaged_is_skipped_not_fatal(tmp_path, capsys):
    root = _folder(tmp_path / "built", {"original": [[_row(i) for i in range(4)]], "image_grey": [[_row(0)]]})
    (root / "data" / "image_grey" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    out = tmp_path / "report"
    with pytest.warns(UserWarning):
        r = evaluate_classification(crayfish, root, progress=False)
    assert list(r.report["scenarios"]) == ["original"]
    assert r.report["skipped_configs"] == [{"config": "image_grey", "reason": "no readable rows (1 damaged shard(s))"}]
    assert "image_grey" in json.dumps(write_report(r, out) and json.loads((out / "report.json").read_text()))


def test_segmentation_survives_a_damaged_shard_too(tmp_path):
    root = _folder(tmp_path / "built", {"original": [[_row(i) for i in range(3)], [_row(3)]]})
    (root / "data" / "original" / "train-00001-of-00002.parquet").write_bytes(b"\0" * 64)

    def nothing(images):
        return [np.zeros((im.height, im.width), bool) for im in images]

    with pytest.warns(UserWarning, match="could not be read"):
        r = evaluate_segmentation(nothing, root, progress=False)
    assert r.report["scenarios"]["original"]["n"] == 3 and r.report["n_bad_shards"] == 1


# --------------------------------------------------------------------- options and the metric
def test_a_bad_robustness_config_is_rejected_before_any_work(tmp_path):
    calls = []

    def model(images):
        calls.append(images)
        return crayfish(images)

    missing = tmp_path / "no-such-data"  # never opened: the option is checked first
    for evaluate in (evaluate_classification, evaluate_segmentation):
        with pytest.raises(ValueError, match="unknown robustness_score config 'typo'"):
            evaluate(model, missing, robustness_config="typo")
    assert calls == []
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--model", "efficientnet-lite0", "--data", str(missing), "--out", str(tmp_path / "r"),
              "--robustness-config", "typo"])
    assert exit_info.value.code == 2 and not (tmp_path / "r").exists()


def test_the_metric_refuses_an_unknown_scenario_name():
    from ximagenet12.metrics.robustness_score.functional import robustness_score

    with pytest.raises(ValueError, match=r"'typo_blur'.*custom_scenarios=True"):
        robustness_score({"typo_blur": 0.2, "blur_background": 0.9}, external_reference=0.95)


def test_classes_come_from_the_next_config_when_the_first_is_damaged(tmp_path):
    root = _folder(tmp_path / "built", {"original": [[_row(0)]], "image_grey": [[_row(i) for i in range(3)]]})
    (root / "data" / "original" / "train-00000-of-00001.parquet").write_bytes(b"junk")
    assert D.dataset_classes(root, ["original", "image_grey"]) == (CLASSES, KEYS)
    with pytest.warns(UserWarning) as caught:
        r = evaluate_classification(crayfish, root, progress=False)
    assert "shard data/original/train-00000-of-00001.parquet could not be read" in str(caught[0].message)
    assert "config 'original' skipped: no readable rows (1 damaged shard(s))" in str(caught[1].message)
    assert list(r.report["scenarios"]) == ["image_grey"]
    assert r.report["robustness"]["reason"] == "the 'original' config was not evaluated"


@pytest.mark.slow
def test_a_damaged_shard_on_the_hub_is_named_and_skipped_too(tmp_path, monkeypatch):
    """Through the loopback Hub of tests/hub (a subprocess pointed at it, as there)."""
    import importlib.util
    import subprocess
    import sys
    import textwrap

    spec = importlib.util.spec_from_file_location("_hostile_fake_hub", Path(__file__).parents[1] / "hub" / "fake_hub.py")
    fake_hub = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, fake_hub)  # its dataclasses look their module up
    spec.loader.exec_module(fake_hub)
    root = _folder(tmp_path / "built", {"original": [[_row(i) for i in range(3)]],
                                        "image_grey": [[_row(i) for i in range(2)], [_row(2)]]})
    (root / "data" / "image_grey" / "train-00001-of-00002.parquet").write_bytes(b"PAR1 truncated")
    server = fake_hub.FakeHub()
    server.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(HF_ENDPOINT=server.url, HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0",
                   HF_HOME=str(tmp_path / "hf"), HF_DATASETS_CACHE=str(tmp_path / "cache"),
                   HF_TOKEN="hf_test_token_not_secret", NO_PROXY="127.0.0.1,localhost", HF_HUB_DISABLE_PROGRESS_BARS="1")
        code = f"""
            import json, warnings
            from huggingface_hub import HfApi
            from ximagenet12.evaluation import evaluate_classification
            api = HfApi()
            api.create_repo("owner/hostile", repo_type="dataset")
            api.upload_folder(folder_path={str(root)!r}, repo_id="owner/hostile", repo_type="dataset")
            warnings.simplefilter("ignore")
            model = lambda images: [[{{"label": "crayfish", "score": 1.0}}] for _ in images]
            r = evaluate_classification(model, "owner/hostile", progress=False)
            print("RESULT " + json.dumps(r.report))
        """
        proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                              timeout=300)
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert {c: e["n"] for c, e in report["scenarios"].items()} == {"original": 3, "image_grey": 2}
    [shard] = report["bad_shards"]
    assert shard["file"] == "data/image_grey/train-00001-of-00002.parquet" and shard["rows_read"] == 0
    assert report["dataset"]["fingerprint"]["kind"] == "hub_revision" and len(report["dataset"]["fingerprint"]["value"]) == 40
