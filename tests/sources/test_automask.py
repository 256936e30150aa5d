"""Mask makers for photos without masks (issue 22): GrabCut, rembg, transformers, the registry."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pytest

from ximagenet12.sources import MASK_MAKERS, mask_maker
from ximagenet12.sources.automask import (
    GrabCutMaskMaker,
    MaskMaker,
    auto_masked_sample,
    centre_box,
    check_coverage,
    fill_holes,
    grabcut_mask,
    largest_component,
    mask_iou,
    names_match,
    skipped_masks_note,
)
from ximagenet12.sources.automask_models import RembgMaskMaker, TransformersMaskMaker, choose_segments
from ximagenet12.core.types import SampleError, Skipped


def disc_photo(h: int = 120, w: int = 160, *, centre=(80, 60), radius=30, seed=0):
    """A red disc on a textured green background, and the disc's true mask."""
    rng = np.random.default_rng(seed)
    image = np.empty((h, w, 3), np.uint8)
    image[..., 0] = rng.integers(20, 60, (h, w))
    image[..., 1] = rng.integers(110, 170, (h, w))
    image[..., 2] = rng.integers(20, 60, (h, w))
    yy, xx = np.mgrid[:h, :w]
    disc = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2
    image[disc] = rng.integers(190, 240, (int(disc.sum()), 3)) * np.array([1, 0.2, 0.2])
    return image, disc


# --------------------------------------------------------------------------- GrabCut


def test_grabcut_finds_the_object_in_the_centred_box_deterministically():
    image, truth = disc_photo()
    before = image.copy()
    mask = grabcut_mask(image)
    assert mask.dtype == bool and mask.shape == truth.shape
    assert mask_iou(mask, truth) > 0.9
    assert np.array_equal(image, before)  # input not mutated
    assert np.array_equal(grabcut_mask(image), mask)  # OpenCV's RNG is seeded: same photo, same mask


def test_grabcut_shrinks_large_photos_and_upsamples_the_mask():
    image, truth = disc_photo(480, 640, centre=(320, 240), radius=120)
    mask = grabcut_mask(image, max_side=160)
    assert mask.shape == (480, 640)
    assert mask_iou(mask, truth) > 0.9


def test_grabcut_starts_from_the_given_box():
    image, left = disc_photo(120, 240, centre=(60, 60), radius=30)
    right = np.zeros_like(left)
    right[:, 120:] = np.fliplr(left)[:, 120:]
    image[right] = image[left][: int(right.sum())]
    mask = grabcut_mask(image, box=(20, 20, 80, 80))
    assert mask_iou(mask, left) > 0.9
    assert not mask[right].any()


def test_grabcut_refuses_a_box_with_no_room():
    image, _ = disc_photo()
    with pytest.raises(ValueError, match=r"leaves under 2×2 pixels"):
        grabcut_mask(image, box=(500, 500, 10, 10))


def test_centre_box_and_its_margin():
    assert centre_box(100, 200, margin=0.1) == pytest.approx((20, 10, 160, 80))
    with pytest.raises(ValueError, match=r"margin must be a fraction of the side in \(0, 0.5\), got 0.5"):
        centre_box(100, 200, margin=0.5)


def test_post_processing_keeps_the_largest_region_and_fills_its_holes():
    mask = np.zeros((10, 12), bool)
    mask[1:8, 1:8] = True
    mask[3:5, 3:5] = False  # a hole
    mask[8:10, 10:12] = True  # a smaller region
    kept = fill_holes(largest_component(mask))
    expected = np.zeros_like(mask)
    expected[1:8, 1:8] = True
    assert np.array_equal(kept, expected)
    ring = np.zeros((6, 6), bool)
    ring[0, :] = True  # background touching the border is not a hole
    assert np.array_equal(fill_holes(ring), ring)


# --------------------------------------------------------------------------- coverage and failures


def test_coverage_outside_1_to_95_percent_is_a_skip():
    mask = np.zeros((100, 100), bool)
    mask[:5, :10] = True  # 0.5 %
    with pytest.raises(SampleError, match=r"automatic mask \(grabcut\) covers 0.5% of the frame, under the 1% minimum"):
        check_coverage(mask, source_id="a", maker="grabcut")
    with pytest.raises(SampleError, match=r"covers 96.0% of the frame, over the 95% maximum"):
        check_coverage(np.arange(10000).reshape(100, 100) >= 400, source_id="a", maker="grabcut")
    check_coverage(np.arange(10000).reshape(100, 100) < 5000, source_id="a", maker="grabcut")


@dataclass(frozen=True)
class _Broken(MaskMaker):
    kind = "broken"

    def make_mask(self, image, *, box=None, class_name=None):
        raise RuntimeError("the model ran out of memory\nsecond line")


def test_a_maker_failing_on_one_photo_is_that_photos_skip():
    image, _ = disc_photo()
    with pytest.raises(SampleError, match=r"^automatic mask \(broken\) failed: RuntimeError: the model ran out of "
                       r"memory \(source cat/1\)$"):
        auto_masked_sample(image, maker=_Broken(), box=None, source_id="cat/1", class_key="cat", class_name="cat")


def test_auto_masked_sample_records_its_maker():
    image, truth = disc_photo()
    sample = auto_masked_sample(image, maker=GrabCutMaskMaker(), box=None, source_id="s", class_key="k",
                                class_name=None)
    assert sample.mask_source == "grabcut" and mask_iou(sample.mask, truth) > 0.9


def test_the_card_counts_photos_left_out_for_their_mask():
    skipped = [Skipped("a", "automatic mask (grabcut) covers 0.2% of the frame, under the 1% minimum: ..."),
               Skipped("b", "automatic mask (grabcut) covers 99.0% of the frame, over the 95% maximum: ..."),
               Skipped("c", "automatic mask (grabcut) failed: ValueError: x"),
               Skipped("d", "image is truncated"), Skipped("e", "x", scenario="mixed_same")]
    assert skipped_masks_note(skipped).startswith("3 photo(s) were left out for their automatic mask: 1 covering "
                                                  "under 1% of the frame, 1 over 95%, 1 where the mask maker failed")
    assert "no photo was left out" in skipped_masks_note([])


# --------------------------------------------------------------------------- the registry


def test_mask_maker_resolves_names_then_models():
    assert isinstance(mask_maker("grabcut"), GrabCutMaskMaker)
    assert mask_maker("grabcut", margin=0.2).margin == 0.2
    assert set(MASK_MAKERS) >= {"grabcut", "rembg", "transformers"}
    other = mask_maker("some-org/some-model")
    assert isinstance(other, TransformersMaskMaker) and other.name == "transformers:some-org/some-model"
    with pytest.raises(ValueError, match="grabcut needs no model"):
        mask_maker("grabcut", model="x.onnx")
    with pytest.raises(ValueError, match="--auto-mask-model is for rembg"):
        mask_maker("some-org/some-model", model="x.onnx")
    with pytest.raises(TypeError, match="auto-mask must be a mask maker name"):
        mask_maker("")
    with pytest.raises(ValueError, match=r"auto-mask margin must be a fraction of the side in \(0, 0.5\), got 0.7"):
        mask_maker("grabcut", margin=0.7).check()
    with pytest.raises(ValueError, match="grabcut iterations must be a positive integer, got 0"):
        GrabCutMaskMaker(iterations=0).check()


def test_the_fingerprint_holds_every_setting():
    import cv2

    assert GrabCutMaskMaker().fingerprint() == {"mask_source": "grabcut", "margin": 0.1, "iterations": 3,
                                                "max_side": 200, "seed": 0, "opencv": cv2.__version__}
    assert GrabCutMaskMaker(margin=0.2).fingerprint() != GrabCutMaskMaker().fingerprint()


def test_names_match_the_class_name_or_a_synonym():
    assert names_match("Tabby_Cat", ["tabby, tabby cat"])
    assert names_match("tabby", ["tabby, tabby cat"])
    assert not names_match("cat", ["tabby, tabby cat"])


# --------------------------------------------------------------------------- rembg


def _tiny_onnx(path):
    """A U2-Net-shaped ONNX model: the mean over the colour channels (bright = object)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 320, 320])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 320, 320])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph([helper.make_node("ReduceMean", ["input", "axes"], ["out"], keepdims=1)], "mean", [x], [y],
                              initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_rembg_runs_a_staged_onnx_model(tmp_path, monkeypatch):
    pytest.importorskip("rembg")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path))
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    maker = mask_maker("rembg", model=model)
    maker.check()
    image = np.zeros((48, 64, 3), np.uint8)
    image[10:40, 15:50] = 200
    mask = maker.make_mask(image)
    expected = np.zeros((48, 64), bool)
    expected[10:40, 15:50] = True
    assert maker.name == "rembg:tiny" and np.array_equal(mask, expected)
    assert maker.fingerprint()["model_file"] != RembgMaskMaker(model_path=str(tmp_path / "other.onnx")).fingerprint()[
        "model_file"]


def test_rembg_errors_are_one_line(tmp_path, monkeypatch):
    pytest.importorskip("rembg")
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "home"))
    with pytest.raises(ValueError, match=r"needs the model file you staged: --auto-mask-model"):
        mask_maker("rembg").check()
    with pytest.raises(ValueError, match=r"rembg model file not found: .*missing.onnx"):
        mask_maker("rembg", model=tmp_path / "missing.onnx").check()
    elsewhere = _tiny_onnx(tmp_path / "tiny.onnx")
    with pytest.raises(ValueError, match=r"rembg only loads a custom model from its model folder .*set U2NET_HOME"):
        mask_maker("rembg", model=elsewhere).check()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"rembg cannot load the model .*bad.onnx"):
        mask_maker("rembg", model=tmp_path / "home" / "bad.onnx").check()


def test_rembg_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rembg", None)
    with pytest.raises(ValueError, match=r"needs the rembg package and onnxruntime .*pip install "
                       r"'ximagenet12\[automask\]'"):
        mask_maker("rembg", model="x.onnx").check()


# --------------------------------------------------------------------------- transformers


def test_transformers_not_installed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ValueError, match=r"needs torch and transformers .*pip install 'ximagenet12\[eval\]'"):
        mask_maker("org/model").check()


def test_a_model_that_cannot_load_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match=r"cannot load the mask model 'no-org/no-model' \(model id \(not in the local "
                       r"cache\?\)\): "):
        mask_maker("no-org/no-model").check()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"cannot load the mask model .*empty' \(folder\)"):
        mask_maker(str(tmp_path / "empty")).check()


def test_choose_segments_prefers_the_class_label_then_the_box():
    a, b, c = (np.zeros((10, 10), bool) for _ in range(3))
    a[0:3, 0:3] = True
    b[4:9, 4:9] = True
    c[:, :] = True
    segments = [("tabby", 0.2, a), ("grass", 0.9, b), ("background", 1.0, c)]
    assert np.array_equal(choose_segments(segments, box=(4, 4, 5, 5), class_names=["tabby, tabby cat"]), a)
    both = choose_segments(segments + [("Tabby Cat", 0.1, b)], box=(0, 0, 1, 1), class_names=["tabby, tabby cat"])
    assert np.array_equal(both, a | b)
    assert np.array_equal(choose_segments(segments, box=(4, 4, 5, 5), class_names=["zebra"]), b)  # background never
    with pytest.raises(ValueError, match=r"only background segments \(background\)"):
        choose_segments([("background", 1.0, c)], box=(0, 0, 5, 5), class_names=[])
    with pytest.raises(ValueError, match="no segment"):
        choose_segments([], box=(0, 0, 5, 5), class_names=[])


@pytest.fixture(scope="module")
def tiny_segformer(tmp_path_factory):
    """A tiny random Segformer (labels background / tabby / grass) saved like a Hub model."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    torch.manual_seed(0)
    labels = ["background", "tabby", "grass"]
    config = SegformerConfig(num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], patch_sizes=[3],
                             strides=[2], num_attention_heads=[1], mlp_ratios=[1], decoder_hidden_size=8,
                             num_labels=3, id2label=dict(enumerate(labels)),
                             label2id={n: i for i, n in enumerate(labels)})
    out = tmp_path_factory.mktemp("segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(out)
    SegformerImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(out)
    return str(out)


def test_an_image_segmentation_pipeline_makes_the_mask(tiny_segformer):
    maker = mask_maker(tiny_segformer)
    maker.check()
    image, _ = disc_photo(48, 64, centre=(32, 24), radius=10)
    mask = maker.make_mask(image, class_name="tabby")
    assert mask.dtype == bool and mask.shape == (48, 64)
    # the same pipeline's own segments: the mask is the "tabby" segment when the model found one
    from PIL import Image

    from ximagenet12.sources.automask_models import _LOADED

    pipe = _LOADED[("transformers", tiny_segformer, False, "cpu")][1]
    segments = {s["label"]: np.asarray(s["mask"]) > 127 for s in pipe(Image.fromarray(image))}
    if "tabby" in segments:
        assert np.array_equal(mask, segments["tabby"])


def test_sam_is_prompted_with_the_box(tmp_path):
    import torch
    from transformers import SamConfig, SamImageProcessorPil, SamModel, SamProcessor

    torch.manual_seed(0)
    config = SamConfig(
        vision_config=dict(hidden_size=16, output_channels=8, num_hidden_layers=1, num_attention_heads=1,
                           image_size=64, patch_size=16, mlp_dim=16, global_attn_indexes=[0], window_size=0,
                           num_pos_feats=4),
        prompt_encoder_config=dict(hidden_size=8, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=1, mlp_dim=16,
                                 iou_head_hidden_dim=8),
    )
    SamModel(config).save_pretrained(tmp_path)
    SamProcessor(SamImageProcessorPil(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})).save_pretrained(
        tmp_path)
    maker = mask_maker(str(tmp_path))
    maker.check()
    image, _ = disc_photo(48, 64, centre=(32, 24), radius=10)
    a = maker.make_mask(image, box=(20, 12, 24, 24))
    assert a.dtype == bool and a.shape == (48, 64)
    assert np.array_equal(a, maker.make_mask(image, box=(20, 12, 24, 24)))


_SALIENCY_CODE = '''
import torch
from transformers import PretrainedConfig, PreTrainedModel


class TinySalConfig(PretrainedConfig):
    model_type = "tinysal"

    def __init__(self, image_size=32, **kwargs):
        self.image_size = image_size
        super().__init__(**kwargs)


class TinySal(PreTrainedModel):
    config_class = TinySalConfig

    def __init__(self, config):
        super().__init__(config)
        self.conv = torch.nn.Conv2d(3, 1, 1)
        self.post_init()

    def forward(self, pixel_values):
        return [self.conv(pixel_values) * 0.5, self.conv(pixel_values)]
'''


def test_a_remote_code_saliency_model_is_thresholded(tmp_path):
    """A BiRefNet-style folder: its own modeling code, one output channel, no image processor."""
    import importlib.util

    import torch

    (tmp_path / "modeling_tinysal.py").write_text(_SALIENCY_CODE)
    spec = importlib.util.spec_from_file_location("modeling_tinysal", tmp_path / "modeling_tinysal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.TinySal(module.TinySalConfig(image_size=32))
    with torch.no_grad():  # brightness: normalised bright pixels are > 0, dark ones < 0
        net.conv.weight.fill_(1 / 3)
        net.conv.bias.zero_()
    net.save_pretrained(tmp_path)
    import json

    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "modeling_tinysal.TinySalConfig",
                          "AutoModelForImageSegmentation": "modeling_tinysal.TinySal"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="cannot load the mask model"):  # its own code runs only when allowed
        mask_maker(str(tmp_path)).check()
    maker = mask_maker(str(tmp_path), trust_remote_code=True)
    maker.check()
    image = np.zeros((48, 64, 3), np.uint8)
    image[8:40, 16:48] = 230
    expected = np.zeros((48, 64), bool)
    expected[8:40, 16:48] = True
    assert mask_iou(maker.make_mask(image), expected) > 0.9


def test_sam3_is_refused_in_one_line(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "sam3"}))
    with pytest.raises(ValueError, match=r"cannot load the mask model .*SAM 3 \(text prompts\) is not supported yet"):
        mask_maker(str(tmp_path)).check()


def test_a_photo_loaded_again_reuses_its_mask(tmp_path, monkeypatch):
    """A mixed_* donor drawn again is not masked again; the memo gives the very same mask."""
    from PIL import Image

    from ximagenet12.sources import automask

    image, truth = disc_photo()
    Image.fromarray(image).save(tmp_path / "a.png")
    calls = []

    @dataclass(frozen=True)
    class Counting(GrabCutMaskMaker):
        def make_mask(self, image, *, box=None, class_name=None):
            calls.append(1)
            return super().make_mask(image, box=box, class_name=class_name)

    monkeypatch.setattr(automask, "_MEMO", automask._MaskMemo(10**6))
    kw = dict(maker=Counting(), box=None, source_id="a", class_key="k", class_name=None, max_pixels=None)
    first = automask.load_auto_masked(str(tmp_path / "a.png"), **kw)
    again = automask.load_auto_masked(str(tmp_path / "a.png"), **kw)
    assert len(calls) == 1 and np.array_equal(first.mask, again.mask) and again.mask_source == "grabcut"
    other = automask.load_auto_masked(str(tmp_path / "a.png"), **{**kw, "box": (10, 10, 100, 100)})
    assert len(calls) == 2 and other.mask.shape == truth.shape
    tiny = automask._MaskMemo(limit=1)  # over the limit: nothing is kept
    tiny.put("k", truth)
    assert tiny.get("k") is None and tiny.used == 0
