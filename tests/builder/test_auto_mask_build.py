"""``build --auto-mask`` end to end (issue 22): photos without masks -> configs with automatic masks."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ximagenet12.builder import build_dataset
from ximagenet12.cli import main
from ximagenet12.sources import MASK_MAKERS, MaskMaker, open_source, register_mask_maker
from ximagenet12.sources.automask import mask_iou

SCENARIOS = ["original", "blur_background"]


def disc_photo(h=90, w=120, *, seed=0, centres=None):
    """A red disc (or one per centre) on textured green; the image and the first disc's mask."""
    rng = np.random.default_rng(seed)
    image = np.stack([rng.integers(20, 60, (h, w)), rng.integers(110, 170, (h, w)), rng.integers(20, 60, (h, w))],
                     axis=-1).astype(np.uint8)
    yy, xx = np.mgrid[:h, :w]
    discs = [(xx - x) ** 2 + (yy - y) ** 2 <= (h // 5) ** 2 for x, y in (centres or [(w // 2, h // 2)])]
    for disc in discs:
        image[disc] = (220, 40, 40)
    return image, discs[0]


def box_around(mask, pad=4):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()) - pad, int(ys.min()) - pad, int(xs.max() - xs.min()) + 1 + 2 * pad,
            int(ys.max() - ys.min()) + 1 + 2 * pad]


def write_photos(root, classes=("cat", "dog"), per_class=2):
    """``root/<class>/<k>.png``: red discs on textured green, no masks; returns the true masks by source id."""
    truth = {}
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            image, disc = disc_photo(seed=10 * c + k)
            Image.fromarray(image).save(root / cls / f"{k}.png")
            truth[f"{cls}/{k}"] = disc
    return truth


def rows(out, config):
    table = pq.read_table(sorted((out / "data" / config).glob("*.parquet")))
    return table.to_pylist()


def decode_mask(row):
    return np.asarray(Image.open(io.BytesIO(row["mask"]["bytes"]))) > 0


def test_grabcut_build_of_photos_without_masks(tmp_path):
    truth = write_photos(tmp_path / "photos")
    out = tmp_path / "out"
    summary = build_dataset(tmp_path / "photos", out, scenarios=SCENARIOS, auto_mask="grabcut", progress=False)
    assert summary.rows == 8 and not summary.skipped
    for row in rows(out, "blur_background"):
        assert json.loads(row["provenance"])["mask_source"] == "grabcut"
        assert mask_iou(decode_mask(row), truth[row["source_id"]]) > 0.9
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "**The masks are automatic**" in card and "GrabCut (OpenCV" in card
    assert "no photo was left out for its mask" in card
    settings = json.loads((out / "build_info.json").read_text())["settings"]
    assert settings["auto_mask"]["mask_source"] == "grabcut"


def test_masks_made_in_worker_processes_give_the_same_files(tmp_path):
    write_photos(tmp_path / "photos", per_class=2)
    one = build_dataset(tmp_path / "photos", tmp_path / "one", scenarios=["original"], auto_mask="grabcut",
                        progress=False, block_samples=2)
    two = build_dataset(tmp_path / "photos", tmp_path / "two", scenarios=["original"], auto_mask="grabcut",
                        progress=False, block_samples=2, num_proc=2)
    assert one.rows == two.rows == 4
    for a, b in zip(one.configs["original"].files, two.configs["original"].files):
        assert (tmp_path / "one" / a).read_bytes() == (tmp_path / "two" / b).read_bytes()


@dataclass(frozen=True)
class BrightMaskMaker(MaskMaker):
    """A registered maker for these tests: the object is what is brighter than mid-grey."""

    kind = "bright"

    def make_mask(self, image, *, box=None, class_name=None):
        return image.mean(axis=-1) > 127


@pytest.fixture
def bright_maker():
    register_mask_maker("bright", BrightMaskMaker)
    yield
    MASK_MAKERS.pop("bright", None)


def test_masks_outside_1_to_95_percent_are_recorded_skips(tmp_path, bright_maker):
    photos = tmp_path / "photos" / "cls"
    photos.mkdir(parents=True)
    half = np.zeros((40, 40, 3), np.uint8)
    half[:, :20] = 255
    Image.fromarray(half).save(photos / "half.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photos / "dark.png")
    Image.fromarray(np.full((40, 40, 3), 255, np.uint8)).save(photos / "bright.png")
    out = tmp_path / "out"
    summary = build_dataset(tmp_path / "photos", out, scenarios=SCENARIOS, auto_mask="bright", progress=False)
    assert summary.rows == 2
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [(s["source_id"], s["scenario"]) for s in skipped] == [("cls/bright", None), ("cls/dark", None)]
    assert "covers 100.0% of the frame, over the 95% maximum" in skipped[0]["reason"]
    assert "covers 0.0% of the frame, under the 1% minimum" in skipped[1]["reason"]
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "2 photo(s) were left out for their automatic mask: 1 covering under 1% of the frame, 1 over 95%" in card
    assert json.loads(rows(out, "original")[0]["provenance"])["mask_source"] == "bright"


def test_resume_refuses_another_mask_maker(tmp_path):
    write_photos(tmp_path / "photos", per_class=1)
    out = tmp_path / "out"
    build_dataset(tmp_path / "photos", out, scenarios=["original"], auto_mask="grabcut", progress=False)
    with pytest.raises(ValueError, match="other settings"):
        build_dataset(tmp_path / "photos", out, scenarios=["original"], progress=False, resume=True,
                      auto_mask=MASK_MAKERS["grabcut"](margin=0.2))


def test_coco_boxes_start_grabcut(tmp_path):
    images = tmp_path / "coco" / "images"
    images.mkdir(parents=True)
    image, disc = disc_photo(centres=[(90, 45), (30, 45)])  # two discs: the box says which is the object
    second, _ = disc_photo(seed=3)
    Image.fromarray(image).save(images / "a.png")
    Image.fromarray(second).save(images / "b.png")
    box = box_around(disc)
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 90, "width": 120},
                      {"id": 2, "file_name": "b.png", "height": 90, "width": 120}],
           "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": box},
                           {"id": 8, "image_id": 2, "category_id": 1}],
           "categories": [{"id": 1, "name": "disc"}]}
    (tmp_path / "coco" / "instances.json").write_text(json.dumps(doc))
    source = open_source(tmp_path / "coco", auto_mask="grabcut")
    assert [s.reason for s in source.skipped] == [
        "annotation 8 has no usable bbox [x, y, width, height] (--auto-mask starts from the object's box)"]
    sample = next(iter(source.items())).load()
    assert sample.mask_source == "grabcut" and mask_iou(sample.mask, disc) > 0.9
    plain = open_source(tmp_path / "coco")  # without --auto-mask, a box is not a mask
    assert not len(plain) and "has no segmentation (bounding box only)" in plain.skipped[0].reason


def test_labelme_rectangles_start_grabcut(tmp_path):
    folder = tmp_path / "labelme" / "disc"
    folder.mkdir(parents=True)
    image, disc = disc_photo(centres=[(90, 45), (30, 45)])
    Image.fromarray(image).save(folder / "a.png")
    x, y, w, h = box_around(disc)
    shape = {"label": "disc", "shape_type": "rectangle", "points": [[x, y], [x + w - 1, y + h - 1]]}
    (folder / "a.json").write_text(json.dumps({"shapes": [shape], "imagePath": "a.png", "imageHeight": 90,
                                               "imageWidth": 120}))
    sample = next(iter(open_source(tmp_path / "labelme", auto_mask="grabcut").items())).load()
    assert sample.mask_source == "grabcut" and mask_iou(sample.mask, disc) > 0.9


def test_photo_folder_layout_errors(tmp_path):
    (tmp_path / "loose").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "loose" / "a.png")
    with pytest.raises(ValueError, match=r"1 photo\(s\) lie directly in .*expected layout is .*/<class>/<name>.jpg"):
        open_source(tmp_path / "loose", auto_mask="grabcut")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos found under"):
        open_source(tmp_path / "empty", auto_mask="grabcut")
    release = tmp_path / "release"
    write_photos(release, per_class=1)
    with pytest.raises(TypeError, match="auto_mask needs the source as a path"):
        build_dataset(open_source(release, auto_mask="grabcut"), tmp_path / "o", auto_mask="grabcut",
                      progress=False)


def test_cli_auto_mask(tmp_path, capsys):
    write_photos(tmp_path / "photos", per_class=1)
    out = tmp_path / "out"
    code = main(["build", "--source", str(tmp_path / "photos"), "--out", str(out), "--scenarios", "original",
                 "--auto-mask", "grabcut", "--auto-mask-margin", "0.05", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "2 sample(s)" in capsys.readouterr().out
    assert json.loads((out / "build_info.json").read_text())["settings"]["auto_mask"]["margin"] == 0.05


@pytest.mark.parametrize(("args", "message"), [
    (["--auto-mask-model", "m.onnx"], "--auto-mask-model is only used with --auto-mask"),
    (["--auto-mask", "rembg"], "--auto-mask rembg needs the model file you staged: --auto-mask-model"),
    (["--auto-mask", "grabcut", "--auto-mask-model", "m.onnx"], "grabcut needs no model"),
    (["--auto-mask", "grabcut", "--auto-mask-margin", "0.6"], "auto-mask margin must be a fraction"),
    (["--auto-mask", "no-org/no-model"], "cannot load the mask model 'no-org/no-model'"),
])
def test_cli_auto_mask_errors_are_one_line(tmp_path, capsys, args, message):
    pytest.importorskip("rembg")
    write_photos(tmp_path / "photos", per_class=1)
    out = tmp_path / "out"
    code = main(["build", "--source", str(tmp_path / "photos"), "--out", str(out), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_names_the_extra_when_rembg_is_missing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "rembg", None)
    write_photos(tmp_path / "photos", per_class=1)
    code = main(["build", "--source", str(tmp_path / "photos"), "--out", str(tmp_path / "out"), "--no-progress",
                 "--auto-mask", "rembg", "--auto-mask-model", str(tmp_path / "m.onnx")])
    assert code == 1 and "pip install 'ximagenet12[automask]'" in capsys.readouterr().err


def test_a_release_layout_is_read_as_photos_and_its_masks_are_not_used(tmp_path):
    write_photos(tmp_path / "release" / "image")
    (tmp_path / "release" / "masks").mkdir()
    source = open_source(tmp_path / "release", auto_mask="grabcut")
    assert source.classes == ["cat", "dog"] and len(source) == 4
    write_photos(tmp_path / "photos", classes=("images", "dog"), per_class=1)  # without masks/, `images` is a class
    assert open_source(tmp_path / "photos", auto_mask="grabcut").classes == ["dog", "images"]


def test_cli_auto_mask_without_source_masks_the_embedded_samples_photos(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["build", "--out", str(out), "--scenarios", "original", "--auto-mask", "grabcut", "--max-samples", "2",
                 "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "'ximagenet12-sample-automask'" in capsys.readouterr().out
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "**The masks are automatic**" in card and "ten photographs of ten ImageNet-1k classes" in card
    assert "with object masks made for the package" not in card  # the hand masks are not used
    assert "license: other" in card


def test_a_saved_dataset_of_photos_is_masked_from_its_bytes(tmp_path):
    import datasets

    images, truths = [], []
    for k in range(3):
        image, disc = disc_photo(seed=k)
        images.append(Image.fromarray(image))
        truths.append(disc)
    ds = datasets.Dataset.from_dict({"image": images, "label": [0, 1, 1]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.ClassLabel(names=["a", "b"])}))
    ds.save_to_disk(str(tmp_path / "saved"))
    out = tmp_path / "out"
    summary = build_dataset(tmp_path / "saved", out, scenarios=["original"], auto_mask="grabcut", progress=False)
    assert summary.rows == 3 and not summary.skipped
    for row in rows(out, "original"):
        assert json.loads(row["provenance"])["mask_source"] == "grabcut"
        assert mask_iou(decode_mask(row), truths[int(row["source_id"])]) > 0.9
    in_memory = open_source(ds, auto_mask="grabcut")  # a datasets.Dataset object, too
    assert in_memory.mask_maker.name == "grabcut" and len(in_memory) == 3
