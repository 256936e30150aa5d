"""Attribution methods: exact on planted models, fitted to architectures, refusing what does not fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as T
from torch import nn

from ximagenet12.explain.methods import (
    TARGET_LAYERS,
    default_target_layer,
    fitting_methods,
    make_explainer,
    resolve_layer,
    resolve_method,
)
from ximagenet12.explain.scores import focus_metrics

SIZE = 16
REGION = torch.zeros(SIZE, SIZE, dtype=torch.bool)
REGION[4:12, 3:9] = True


class Gate(nn.Module):
    """Zeroes the feature map outside a fixed region."""

    def __init__(self, region: torch.Tensor):
        super().__init__()
        self.register_buffer("region", region.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.region


class PlantedCNN(nn.Module):
    """Class 0's logit is the mean of a positive feature map that exists only inside ``region``."""

    def __init__(self, region: torch.Tensor):
        super().__init__()
        self.features = nn.Conv2d(3, 4, kernel_size=1)
        nn.init.constant_(self.features.weight, 0.25)
        nn.init.zeros_(self.features.bias)
        self.gate = Gate(region)
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0] * 4, [-1.0] * 4]))
            self.head.bias.zero_()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.head(self.gate(self.features(pixel_values)).mean(dim=(2, 3)))


class PlantedLinear(nn.Module):
    """Logits are weighted sums of the pixels inside ``region`` only."""

    def __init__(self, region: torch.Tensor):
        super().__init__()
        self.register_buffer("region", region.float())
        self.weight = nn.Parameter(torch.linspace(0.5, 2.0, 3 * SIZE * SIZE).reshape(3, SIZE, SIZE))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        s = (pixel_values * self.weight * self.region).sum(dim=(1, 2, 3))
        return torch.stack([s, -s], dim=1)


def _inputs(n: int = 3) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) + 0.1


@pytest.mark.parametrize("inside, expected", [(True, 1.0), (False, 0.0)])
def test_gradcam_on_a_planted_cnn_finds_the_region(inside, expected):
    region = REGION if inside else ~REGION
    explainer = make_explainer(PlantedCNN(region), "gradcam", target_layer="gate")
    maps = explainer.attribute(_inputs(), torch.zeros(3, dtype=torch.long))
    assert maps.shape == (3, SIZE, SIZE)
    for m in maps:
        assert focus_metrics(m, REGION.numpy())["object_focus"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("inside, expected", [(True, 1.0), (False, 0.0)])
def test_integrated_gradients_on_a_planted_linear_model_is_exact(inside, expected):
    region = REGION if inside else ~REGION
    explainer = make_explainer(PlantedLinear(region), "integrated_gradients", ig_steps=8)
    maps = explainer.attribute(_inputs(), torch.zeros(3, dtype=torch.long))
    for m in maps:
        assert focus_metrics(m, REGION.numpy())["object_focus"] == pytest.approx(expected, abs=1e-6)
    # linear model: IG is exactly input x weight, and complete
    x = _inputs()
    expected_map = (x * PlantedLinear(region).weight.detach() * region).sum(dim=1).numpy()
    np.testing.assert_allclose(maps, expected_map, rtol=1e-4, atol=1e-5)
    assert np.all(explainer.last_extra["ig_relative_delta"] < 1e-4)


def test_gradcam_on_the_real_lite0_is_deterministic_and_nonnegative():
    from ximagenet12.evaluation.models import build_efficientnet_lite0

    model = build_efficientnet_lite0()
    explainer = make_explainer(model, "gradcam")
    assert (explainer.target_layer, explainer.layer_choice) == ("net._bn1", "architecture table (ximagenet12_efficientnet_lite)")
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)) * 2 - 1
    a = explainer.attribute(x, torch.tensor([281]))
    b = explainer.attribute(x, torch.tensor([281]))
    assert a.shape == (1, 224, 224) and a.min() >= 0 and a.max() > 0
    np.testing.assert_array_equal(a, b)


def _tiny(kind: str) -> nn.Module:
    torch.manual_seed(0)
    configs = {
        "resnet": (T.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1]), T.ResNetForImageClassification),
        "convnext": (T.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2), T.ConvNextForImageClassification),
        "convnextv2": (T.ConvNextV2Config(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2),
                       T.ConvNextV2ForImageClassification),
        "bit": (T.BitConfig(embedding_size=8, hidden_sizes=[16, 32], depths=[1, 1], num_groups=4),
                T.BitForImageClassification),
        "regnet": (T.RegNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], groups_width=8),
                   T.RegNetForImageClassification),
        "efficientnet": (T.EfficientNetConfig(image_size=32, width_coefficient=0.1, depth_coefficient=0.1, hidden_dim=128),
                         T.EfficientNetForImageClassification),
        "mobilenet_v2": (T.MobileNetV2Config(image_size=32, depth_multiplier=0.25), T.MobileNetV2ForImageClassification),
        "mobilenet_v1": (T.MobileNetV1Config(image_size=32, depth_multiplier=0.25), T.MobileNetV1ForImageClassification),
    }
    config, cls = configs[kind]
    config.num_labels = 3
    return cls(config)


@pytest.mark.parametrize("kind", sorted(set(TARGET_LAYERS) - {"ximagenet12_efficientnet_lite"}))
def test_transformers_cnns_get_their_table_layer_and_a_full_size_map(kind):
    model = _tiny(kind)
    name, how = default_target_layer(model)
    assert how == f"architecture table ({kind})"
    assert name == resolve_layer(model, TARGET_LAYERS[kind])[0] and "-1" not in name
    assert fitting_methods(model) == ["gradcam", "integrated_gradients"]
    maps = make_explainer(model, "gradcam").attribute(torch.randn(2, 3, 32, 32), torch.tensor([0, 2]))
    assert maps.shape == (2, 32, 32) and np.all(maps >= 0)


def test_unknown_cnn_falls_back_to_its_last_conv():
    name, how = default_target_layer(PlantedCNN(REGION))
    assert name == "features" and how.startswith("last Conv2d")


def _tiny_vit() -> nn.Module:
    torch.manual_seed(0)
    return T.ViTForImageClassification(T.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                                   num_attention_heads=2, intermediate_size=37, num_labels=3))


def test_rollout_on_a_vit_switches_to_eager_attention_and_is_patchwise():
    vit = _tiny_vit()
    assert fitting_methods(vit) == ["integrated_gradients", "rollout"]
    explainer = make_explainer(vit, "rollout")
    assert "switched from 'sdpa' to 'eager'" in explainer.notes[0]
    maps = explainer.attribute(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    assert maps.shape == (2, 32, 32)
    assert np.all(maps[:, :8, :8] == maps[:, :1, :1])  # one value per 8 x 8 patch
    # the class token's row over the 16 patches plus its own share sums to 1
    assert np.all(maps[:, ::8, ::8].sum(axis=(1, 2)) < 1.0)


def test_method_names_and_aliases():
    assert resolve_method("IG") == "integrated_gradients"
    assert resolve_method("grad-cam") == "gradcam"


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: make_explainer(PlantedCNN(REGION), "shap"), ValueError,
         "unknown attribution method 'shap'; expected one of gradcam, integrated_gradients, rollout"),
        (lambda: make_explainer(PlantedCNN(REGION), 3), TypeError, "method must be a string"),
        (lambda: make_explainer(_tiny_vit(), "gradcam"), ValueError,
         r"gradcam does not fit model ViTForImageClassification \(vit\).*methods that fit it: integrated_gradients, rollout"),
        (lambda: make_explainer(_tiny("resnet"), "rollout"), ValueError,
         r"rollout does not fit model ResNetForImageClassification \(resnet\).*methods that fit it: gradcam, integrated_gradients"),
        (lambda: make_explainer(_tiny("resnet"), "gradcam", target_layer="resnet.encoder.stages.7"), ValueError,
         r"target layer 'resnet.encoder.stages.7' does not exist in model .*: resnet.encoder.stages has no '7' "
         r"\(it has: 0, 1\); the model's last convolutional layers are: resnet\."),
        (lambda: make_explainer(PlantedCNN(REGION), "integrated_gradients", target_layer="gate"), ValueError,
         "a target layer is only used by gradcam, not by integrated_gradients"),
        (lambda: make_explainer(PlantedCNN(REGION), "integrated_gradients", ig_steps=1), ValueError,
         "ig_steps must be an int of at least 2"),
        (lambda: make_explainer("efficientnet-lite0", "gradcam"), TypeError, "explanations need a torch model"),
    ],
)
def test_bad_requests_are_refused_with_the_fitting_methods(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_a_target_layer_without_a_feature_map_is_refused():
    explainer = make_explainer(_tiny_vit(), "gradcam", target_layer="vit.layers.-1.mlp")
    with pytest.raises(ValueError, match="Grad-CAM needs a convolutional feature map"):
        explainer.attribute(torch.randn(1, 3, 32, 32), torch.tensor([0]))
