"""The worst-case background challenge on a built folder with a planted model.

The data: six samples over two classes, each a uniform background of its own colour
with a class-coloured square object in the middle. The planted model reads the class
from the object's colour, except that it is wrong whenever the background has the
colour of sample ``PLANTED``: exactly one candidate background fools it.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from ximagenet12.builder import build_dataset
from ximagenet12.challenge import run_challenge
from ximagenet12.cli import main

CLASSES = ("n01000001", "n01000002")
OBJECT_COLOURS = {CLASSES[0]: (230, 30, 30), CLASSES[1]: (30, 30, 230)}
BACKGROUNDS = {  # source id -> background colour
    f"{CLASSES[k % 2]}_{k}": colour
    for k, colour in enumerate([(20, 160, 20), (200, 200, 40), (40, 200, 200), (120, 60, 160), (90, 90, 90), (250, 140, 0)])
}
PLANTED = f"{CLASSES[1]}_3"
H, W = 48, 64


def _close(a, b, tol: int = 12) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("challenge")
    for sid, colour in BACKGROUNDS.items():
        wnid = sid.split("_")[0]
        (root / "release" / "image" / wnid).mkdir(parents=True, exist_ok=True)
        (root / "release" / "masks" / wnid).mkdir(parents=True, exist_ok=True)
        image = np.full((H, W, 3), colour, np.uint8)
        mask = np.zeros((H, W), np.uint8)
        mask[14:34, 22:42] = 255
        image[mask > 0] = OBJECT_COLOURS[wnid]
        Image.fromarray(image).save(root / "release" / "image" / wnid / f"{sid}.JPEG", quality=98)
        Image.fromarray(mask).save(root / "release" / "masks" / wnid / f"{sid}.png")
    build_dataset(str(root / "release"), root / "built", scenarios="original", progress=False)
    return root / "built"


class PlantedModel:
    """``model(images) -> [[{label, score}]]``, the evaluator's callable protocol."""

    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, images):
        self.calls.append(len(images))
        out = []
        for im in images:
            a = np.asarray(im)
            centre, corner = a[H // 2, W // 2], a[2, 2]
            cls = min(CLASSES, key=lambda c: np.abs(centre.astype(int) - OBJECT_COLOURS[c]).sum())
            if _close(corner, BACKGROUNDS[PLANTED]):
                cls = CLASSES[1 - CLASSES.index(cls)]
            out.append([{"label": cls, "score": 0.9}])
        return out


def _run(data, out, **kwargs):
    kwargs.setdefault("candidates", 5)
    kwargs.setdefault("use_library", False)
    return run_challenge(PlantedModel(), data, out, progress=False, **kwargs)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_the_one_planted_background_is_found_whatever_the_batch(data, tmp_path, batch_size):
    result = _run(data, tmp_path / "out", batch_size=batch_size)
    by_id = {o.sample.source_id: o for o in result.outcomes}
    assert not by_id[PLANTED].original.correct and by_id[PLANTED].tried == 0  # its own background fools it
    for sid, o in by_id.items():
        if sid == PLANTED:
            continue
        assert o.original.correct and o.available == 5  # the pool: the 5 other samples' backgrounds
        assert o.fooled_at is not None and o.candidate.id == PLANTED and o.candidate.kind == "sample_background"
        assert o.tried == min(5, math.ceil(o.fooled_at / batch_size) * batch_size)  # stops after that batch
    report = result.report
    assert report["curve"][0] == pytest.approx(5 / 6) and report["worst_case_accuracy"] == 0.0
    assert report["unfoolable_share"] == 0.0 and report["fooled"] == 5
    searched = [o for o in result.outcomes if o.original.correct]
    assert report["forwards"]["images"] == 6 + sum(o.tried for o in searched)
    assert report["forwards"]["batches"] == math.ceil(6 / batch_size) + sum(math.ceil(o.tried / batch_size) for o in searched)
    assert report["forwards"]["images"] <= report["forwards"]["bound_images"] == 6 * 6


def test_the_curve_steps_down_where_each_sample_meets_the_planted_background(data, tmp_path):
    result = _run(data, tmp_path / "out", batch_size=2)
    positions = sorted(o.fooled_at for o in result.outcomes if o.fooled_at)
    expected = [(1 + sum(p > n for p in positions)) / 6 - 1 / 6 for n in range(6)]
    expected[0] = 5 / 6
    assert result.report["curve"] == pytest.approx(expected)
    shorter = _run(data, tmp_path / "short", batch_size=2, candidates=2)
    assert shorter.report["curve"] == pytest.approx(expected[:3])  # a smaller N is a prefix of the order


def test_fooling_composites_load_as_the_worst_background_config(data, tmp_path):
    import datasets

    result = _run(data, tmp_path / "out", batch_size=3)
    ds = datasets.load_dataset(str(tmp_path / "out"), "worst_background", split="train")
    assert len(ds) == 5 and set(ds["scenario"]) == {"worst_background"}
    assert PLANTED not in ds["source_id"]
    for row in ds:
        prov = json.loads(row["provenance"])
        assert prov["background_id"] == PLANTED and prov["background_kind"] == "sample_background"
        assert prov["candidate_index"] == {o.sample.source_id: o.fooled_at for o in result.outcomes}[row["source_id"]]
        image = np.asarray(row["image"])
        assert _close(image[2, 2], BACKGROUNDS[PLANTED]) and _close(image[H // 2, W // 2], OBJECT_COLOURS[row["class_key"]])
        assert np.asarray(row["mask"]).astype(bool)[14:34, 22:42].all()
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "config_name: worst_background" in card and "Worst-case background challenge" in card
    for name in ("report.json", "report.md", "curve.png", "samples.jsonl"):
        assert (tmp_path / "out" / name).is_file()
    # .cache keeps only the folder's manifest (issue 25): the work part is gone
    assert sorted(p.name for p in (tmp_path / "out" / ".cache").iterdir()) == [".gitignore", "ximagenet12-output.json"]


def test_library_photos_and_ai_background_rows_join_the_pool(data, tmp_path):
    import shutil

    import yaml

    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shutil.copytree(copy / "data" / "original", copy / "data" / "ai_background")
    text = (copy / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    meta["configs"].append({"config_name": "ai_background",
                            "data_files": [{"split": "train", "path": "data/ai_background/train-*.parquet"}]})
    (copy / "README.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n", encoding="utf-8")
    result = _run(copy, tmp_path / "out", use_library=True, candidates=50, batch_size=8)
    assert result.report["pool"] == {"sample_background": 6, "library": 5, "ai_background": 6}
    assert {o.available for o in result.outcomes} == {6 + 5 + 6 - 2}  # never its own background, nor its own ai row
    assert any("fewer than 50 candidates" in w for w in result.report["warnings"])
    assert result.report["library_check"] == []  # the default photos show no class of the data


def test_same_seed_same_search_other_seed_other_order(data, tmp_path):
    a = _run(data, tmp_path / "a", batch_size=2)
    b = _run(data, tmp_path / "b", batch_size=2)
    c = _run(data, tmp_path / "c", batch_size=2, seed=7)
    fooled = lambda r: [o.fooled_at for o in r.outcomes]  # noqa: E731
    assert fooled(a) == fooled(b) and fooled(a) != fooled(c)


def test_tiny_vit_pipeline_through_the_cli(data, tmp_path, capsys):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=2, id2label=dict(enumerate(CLASSES)),
                       label2id={c: i for i, c in enumerate(CLASSES)})
    ViTForImageClassification(config).save_pretrained(tmp_path / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "vit")
    argv = ["challenge", "--model", str(tmp_path / "vit"), "--data", str(data), "--candidates", "4",
            "--out", str(tmp_path / "out"), "--batch-size", "3", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["label_mapping"]["kind"] == "dataset_classes" and len(report["curve"]) == 5
    assert report["forwards"]["images"] <= 6 * 5 and "worst-case accuracy" in printed
    assert all(x >= y for x, y in zip(report["curve"], report["curve"][1:]))  # more candidates never help


# -- bad input ----------------------------------------------------------------------------


def test_candidates_zero_is_refused_by_the_cli_and_the_function(data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["challenge", "--model", "m", "--data", str(data), "--candidates", "0", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2 and "--candidates: must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="candidates must be at least 1, got 0"):
        _run(data, tmp_path / "o", candidates=0)
    with pytest.raises(TypeError, match="batch_size must be an integer, got float"):
        _run(data, tmp_path / "o", batch_size=2.0)


def test_a_model_whose_labels_do_not_map_is_refused_before_any_search(data, tmp_path, capsys):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=37, num_labels=2)  # LABEL_0, LABEL_1
    ViTForImageClassification(config).save_pretrained(tmp_path / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "vit")
    argv = ["challenge", "--model", str(tmp_path / "vit"), "--data", str(data), "--candidates", "3",
            "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cannot map the labels of model" in err and "2 of 2 classes not found" in err
    assert not (tmp_path / "out").exists()


def test_data_without_original_and_a_foreign_out_folder_are_refused(data, tmp_path):
    with pytest.raises(ValueError, match="refusing to write into .*: it is not empty and holds no ximagenet12 challenge output"):
        (tmp_path / "busy").mkdir()
        (tmp_path / "busy" / "notes.txt").write_text("mine", encoding="utf-8")
        _run(data, tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(FileNotFoundError, match="has no README.md dataset card"):
        _run(tmp_path / "busy", tmp_path / "out")
    blurred = tmp_path / "blurred"
    build_dataset(str(data.parent / "release"), blurred, scenarios="blur_background", progress=False)
    with pytest.raises(ValueError, match="has no 'original' config: the challenge searches backgrounds for its samples"):
        _run(blurred, tmp_path / "out")
    _run(data, tmp_path / "again")
    _run(data, tmp_path / "again")  # an earlier challenge output is replaced
    assert os.listdir(tmp_path / "again" / "data") == ["worst_background"]


def test_a_fooling_background_the_model_calls_the_class_it_named_is_reported(data, tmp_path):
    # alone (hole inpainted, no object), the planted background reads as the blue class,
    # flipped to CLASSES[0]: the class-1 samples it "fooled" into CLASSES[0] were shown
    # a background the model itself calls CLASSES[0]; the class-0 samples were fooled
    result = _run(data, tmp_path / "out", batch_size=2)
    showing = result.report["fooling_backgrounds_showing_a_class"]
    fooled_class1 = sorted(o.sample.source_id for o in result.outcomes
                           if o.candidate is not None and o.sample.class_key == CLASSES[1])
    assert len(fooled_class1) == 2
    assert showing == [{"background_id": PLANTED, "background_kind": "sample_background", "shows": CLASSES[0],
                        "shows_name": CLASSES[0], "score": 0.9, "fooled": 2, "source_ids": fooled_class1}]
    assert any(w.startswith("2 of 5 fooled sample(s) were fooled by a background that the model") and PLANTED in w
               for w in result.report["warnings"])
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert f"{PLANTED} ({CLASSES[0]}, 2 sample(s))" in md
    assert json.loads((tmp_path / "out" / "report.json").read_text())["fooling_backgrounds_showing_a_class"] == showing


def test_a_library_photo_that_shows_a_class_of_the_data_is_named(data, tmp_path):
    import skimage.data

    from ximagenet12.scenarios.backgrounds import BackgroundLibrary

    folder = tmp_path / "library"
    folder.mkdir()
    Image.fromarray(skimage.data.coffee()).save(folder / "coffee.png")
    library = BackgroundLibrary.from_folder(folder)
    # the data's classes are not ImageNet's espresso: only the 12 XImageNet-12 classes are checked
    result = _run(data, tmp_path / "out", batch_size=2, use_library=True, backgrounds=library)
    assert result.report["library_check"] == []
    from ximagenet12.evaluation.background_check import check_background_library

    findings = check_background_library(library, classes=["n07920052"], models=["efficientnet-lite0"])
    assert [(f.background_id, f.name, f.rank) for f in findings] == [("coffee.png", "espresso", 1)]
