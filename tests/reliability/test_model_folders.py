"""Hostile model folders (issue 25): refused with one line naming the model, never run on random weights.

Every command that loads a local model folder goes through one pre-flight
(:func:`ximagenet12.evaluation.models.check_model_folder`) and one check of what
``transformers`` loaded (:func:`ximagenet12.evaluation.models.load_report`).
"""

from __future__ import annotations

import contextlib
import io

import hostile_eval
import hostile_models
import pytest

from ximagenet12.cli import main
from ximagenet12.evaluation.models import ALLOW_PICKLE_ENV, check_model_folder, load_pipeline

CASES = {c.name: c for c in hostile_models.CASES}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return hostile_models.tiny_vit(tmp_path_factory.mktemp("pristine") / "vit")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "built"
    return hostile_eval.folder(root, {"original": [[hostile_eval.row(i) for i in range(4)]]})


def _cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(args)
    return code, err.getvalue()


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_pipeline_refuses_each_hostile_folder(name, pristine, tmp_path, monkeypatch):
    case = CASES[name]
    if case.pickle_opt_in:
        monkeypatch.setenv(ALLOW_PICKLE_ENV, "1")
    folder = hostile_models.make(case, tmp_path, pristine)
    with pytest.raises(ValueError, match=case.message) as info:
        load_pipeline(str(folder), task="image-classification", device="cpu")
    assert "\n" not in str(info.value)
    assert str(folder) in str(info.value)
    assert not (folder / hostile_models.PWNED).exists()  # no pickle ran code


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluate_cli_gives_one_line_and_writes_nothing(name, pristine, data, tmp_path, monkeypatch):
    case = CASES[name]
    if case.pickle_opt_in:
        monkeypatch.setenv(ALLOW_PICKLE_ENV, "1")
    folder = hostile_models.make(case, tmp_path, pristine)
    code, err = _cli(["evaluate", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "report"),
                      "--device", "cpu", "--no-progress"])
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("ximagenet12 evaluate: error: "), err
    assert str(folder) in err and "Traceback" not in err
    assert not (tmp_path / "report" / "report.json").exists()


def test_pickled_weights_load_when_opted_in_and_give_the_same_predictions(pristine, tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    folder = hostile_models.make(CASES["pickle_bin_only"], tmp_path, pristine)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    monkeypatch.setenv(ALLOW_PICKLE_ENV, "1")
    assert check_model_folder(folder) == "pickle"
    got = load_pipeline(str(folder), task="image-classification", device="cpu")(image)
    want = load_pipeline(str(pristine), task="image-classification", device="cpu")(image)
    assert [(p["label"], round(p["score"], 5)) for p in got] == [(p["label"], round(p["score"], 5)) for p in want]


def test_a_clean_folder_passes_the_pre_flight(pristine):
    assert check_model_folder(pristine) == "safetensors"


def test_processor_size_of_a_convolutional_model_is_a_warning_not_an_error(tmp_path, caplog):
    import json

    folder = tmp_path / "conv"
    folder.mkdir()
    hostile_models.tiny_vit(folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("patch_size")  # no fixed position embeddings: other sizes run, at a size it was not made for
    (folder / "config.json").write_text(json.dumps(config))
    hostile_models._processor_size(folder)
    with caplog.at_level("WARNING", logger="ximagenet12.evaluation.models"):
        assert check_model_folder(folder, name="conv") == "safetensors"
    assert "makes 64x64 inputs but config.json's image_size is 32x32" in caplog.text


@pytest.mark.parametrize("name", ["no_weights", "weight_missing_silently_initialised"])
def test_training_refuses_missing_weights_but_takes_a_new_head(name, pristine, tmp_path):
    from ximagenet12.training.backbone import load_for_training

    folder = hostile_models.make(CASES[name], tmp_path, pristine)
    if name == "weight_missing_silently_initialised":  # the head is replaced anyway: a missing head is fine
        loaded = load_for_training(str(folder), class_names=["a", "b", "c"], device="cpu")
        assert loaded.head_name == "classifier"
        folder = hostile_models.make(
            hostile_models.ModelCase("backbone", hostile_models._missing_backbone_weight, ""), tmp_path / "b", pristine)
    with pytest.raises(ValueError, match=r"no weights|missing from its checkpoint .* randomly initialised") as info:
        load_for_training(str(folder), class_names=["a", "b", "c"], device="cpu")
    assert "\n" not in str(info.value)


def test_a_hierarchical_model_is_not_compared_with_its_nominal_image_size(tmp_path, caplog):
    import json

    folder = hostile_models.tiny_vit(tmp_path / "segformer-like")
    config = json.loads((folder / "config.json").read_text())
    config.pop("patch_size")
    config["patch_sizes"] = [7, 3, 3, 3]  # SegFormer: image_size is nominal, any input size runs
    (folder / "config.json").write_text(json.dumps(config))
    hostile_models._processor_size(folder)
    with caplog.at_level("WARNING", logger="ximagenet12.evaluation.models"):
        assert check_model_folder(folder) == "safetensors"
    assert "image processor makes" not in caplog.text


@pytest.mark.parametrize("name", ["truncated_safetensors", "weight_missing_silently_initialised", "no_weights"])
def test_an_ex1_model_saved_by_an_earlier_run_goes_through_the_same_checks(name, pristine, tmp_path):
    """``train --protocol ex1 --method finetune`` reloads the model an earlier (killed?) run saved."""
    from ximagenet12.training.protocols import _load_saved

    assert _load_saved(pristine).config.num_labels == 2
    folder = hostile_models.make(CASES[name], tmp_path, pristine)
    with pytest.raises(ValueError, match=CASES[name].message) as info:
        _load_saved(folder)
    assert "\n" not in str(info.value)
