"""Attribution methods and which models they fit.

``gradcam``
    ``captum.attr.LayerGradCam`` on a convolutional feature map (the *target layer*),
    ReLU of the gradient-weighted channel sum, upsampled bilinearly to the model input.
    Fits CNNs. The target layer is chosen per architecture (:data:`TARGET_LAYERS`, the
    last feature map before global pooling), or the last ``Conv2d`` of a CNN the table
    does not know, or given by the user (``target_layer="net._bn1"``, negative indices
    allowed: ``"resnet.encoder.stages.-1"``).
``integrated_gradients``
    ``captum.attr.IntegratedGradients`` from a baseline (by default the black image in the
    model's input space) to the input, summed over colour channels. Fits any
    differentiable model. Its completeness gap (captum's convergence delta, relative to
    the logit difference) is reported per sample.
``rollout``
    attention rollout (:mod:`ximagenet12.explain.rollout`) for ViT-style models that
    return attention maps; class-agnostic; upsampled to pixels by repeating each patch's
    value (nearest), since it is a patch-level quantity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ximagenet12.explain.constants import DEFAULT_IG_STEPS, METHODS, Method

__all__ = [
    "Method",
    "METHODS",
    "TARGET_LAYERS",
    "DEFAULT_IG_STEPS",
    "resolve_method",
    "resolve_layer",
    "default_target_layer",
    "is_attention_model",
    "fitting_methods",
    "Explainer",
    "make_explainer",
]

_ALIASES = {"grad-cam": "gradcam", "grad_cam": "gradcam", "ig": "integrated_gradients",
            "integrated-gradients": "integrated_gradients", "attention_rollout": "rollout"}

#: ``config.model_type`` -> the feature map Grad-CAM reads (last one before global pooling).
#: EfficientNet-Lite's activation module is shared by stem and head, so its last batch
#: norm (pre-activation) is taken; HF EfficientNet follows for consistency.
TARGET_LAYERS: dict[str, str] = {
    "ximagenet12_efficientnet_lite": "net._bn1",
    "resnet": "resnet.encoder.stages.-1",
    "convnext": "convnext.encoder.stages.-1",
    "convnextv2": "convnextv2.encoder.stages.-1",
    "regnet": "regnet.encoder.stages.-1",
    "bit": "bit.encoder.stages.-1",
    "efficientnet": "efficientnet.encoder.top_bn",
    "mobilenet_v1": "mobilenet_v1.layer.-1",
    "mobilenet_v2": "mobilenet_v2.conv_1x1",
}
_SHOWN_LAYERS = 8


def resolve_method(method: Any) -> Method:
    """The canonical method name; ``ValueError`` listing :data:`METHODS` for an unknown one."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, one of {', '.join(METHODS)}; got {type(method).__name__}")
    name = _ALIASES.get(method.strip().lower(), method.strip().lower())
    if name not in METHODS:
        raise ValueError(f"unknown attribution method {method!r}; expected one of {', '.join(METHODS)}")
    return name  # type: ignore[return-value]


def _model_label(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or type(model).__name__
    kind = getattr(config, "model_type", None)
    return f"{name} ({kind})" if kind and kind not in name else str(name)


def _conv_layers(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and n]


def resolve_layer(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """(canonical dotted name, module) of ``path``; integer parts index lists, negatives too."""
    if not isinstance(path, str) or not path.strip():
        raise TypeError(f"target layer must be a dotted module name such as 'net._bn1', got {path!r}")
    module: nn.Module = model
    walked: list[str] = []
    for part in path.strip().split("."):
        child = None
        if part.lstrip("-").isdigit() and isinstance(module, (nn.ModuleList, nn.Sequential)):
            index = int(part)
            if -len(module) <= index < len(module):
                child = module[index]
        elif isinstance(getattr(module, part, None), nn.Module):
            child = getattr(module, part)
        if child is None:
            convs = _conv_layers(model)[-_SHOWN_LAYERS:]
            where = ".".join(walked) or "the model"
            children = [n for n, _ in module.named_children()][:_SHOWN_LAYERS]
            raise ValueError(
                f"target layer {path!r} does not exist in model {_model_label(model)}: {where} has no {part!r} "
                f"(it has: {', '.join(children) or 'no sub-modules'}); the model's last convolutional layers are: "
                f"{', '.join(convs) or 'none'}"
            )
        walked.append(part)
        module = child
    name = next((n for n, m in model.named_modules() if m is module), path)
    return name, module


def is_attention_model(model: nn.Module) -> bool:
    """Does the model contain self-attention blocks (a ViT-style model)?"""
    return any(type(m).__name__.endswith(("SelfAttention", "Attention")) for m in model.modules())


def default_target_layer(model: nn.Module) -> tuple[str, str]:
    """(layer name, how it was chosen) for Grad-CAM; ``ValueError`` if the model is no CNN."""
    kind = getattr(getattr(model, "config", None), "model_type", None)
    if kind in TARGET_LAYERS:
        name, _ = resolve_layer(model, TARGET_LAYERS[kind])
        return name, f"architecture table ({kind})"
    convs = _conv_layers(model)
    if convs and not is_attention_model(model):
        return convs[-1], "last Conv2d of the model (architecture not in the table)"
    raise ValueError(
        f"gradcam does not fit model {_model_label(model)}: it is not a CNN with a known feature map; "
        f"methods that fit it: {', '.join(fitting_methods(model))} (or name a convolutional layer with --target-layer)"
    )


def fitting_methods(model: nn.Module) -> list[str]:
    """The methods of :data:`METHODS` this model supports, in order."""
    kind = getattr(getattr(model, "config", None), "model_type", None)
    attention = is_attention_model(model)
    out = []
    if kind in TARGET_LAYERS or (_conv_layers(model) and not attention):
        out.append("gradcam")
    out.append("integrated_gradients")
    if attention:
        out.append("rollout")
    return out


def _logits_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    key = getattr(model, "main_input_name", "pixel_values")

    def forward(x: torch.Tensor) -> torch.Tensor:
        out = model(**{key: x})
        return out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out

    return forward


@dataclass
class Explainer:
    """A method bound to a model: ``attribute(pixel_values, targets)`` -> N x H x W float32 maps."""

    model: nn.Module
    method: Method
    target_layer: str | None = None
    layer_choice: str | None = None
    ig_steps: int = DEFAULT_IG_STEPS
    baseline: torch.Tensor | None = None  # broadcastable to the input (IG)
    internal_batch_size: int | None = None
    notes: list[str] = field(default_factory=list)
    last_extra: dict[str, np.ndarray] = field(default_factory=dict)

    def attribute(self, pixel_values: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        self.last_extra = {}
        x = pixel_values.detach().float()
        if self.method == "gradcam":
            maps = self._gradcam(x, targets)
        elif self.method == "integrated_gradients":
            maps = self._integrated_gradients(x, targets)
        else:
            maps = self._rollout(x)
        return maps.detach().to(torch.float32).cpu().numpy()

    def _gradcam(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        from captum.attr import LayerAttribution, LayerGradCam

        _, layer = resolve_layer(self.model, self.target_layer or "")
        cam = LayerGradCam(_logits_fn(self.model), layer).attribute(x, target=targets, relu_attributions=True)
        if cam.ndim != 4:
            raise ValueError(
                f"target layer {self.target_layer!r} of model {_model_label(self.model)} outputs a "
                f"{cam.ndim}-D tensor; Grad-CAM needs a convolutional feature map (batch x channels x height x width)"
            )
        up = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return up[:, 0]

    def _integrated_gradients(self, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        from captum.attr import IntegratedGradients

        base = torch.zeros_like(x) if self.baseline is None else self.baseline.to(x).expand_as(x).contiguous()
        ig = IntegratedGradients(_logits_fn(self.model))
        attr, delta = ig.attribute(
            x, baselines=base, target=targets, n_steps=self.ig_steps,
            internal_batch_size=self.internal_batch_size or x.shape[0], return_convergence_delta=True,
        )
        with torch.no_grad():
            fn = _logits_fn(self.model)
            rows = torch.arange(x.shape[0], device=x.device)
            gap = (fn(x)[rows, targets] - fn(base)[rows, targets]).abs()
        self.last_extra["ig_relative_delta"] = (delta.abs() / gap.clamp_min(1e-12)).detach().cpu().numpy()
        return attr.sum(dim=1)

    def _rollout(self, x: torch.Tensor) -> torch.Tensor:
        from ximagenet12.explain.rollout import rollout_maps

        key = getattr(self.model, "main_input_name", "pixel_values")
        with torch.no_grad():
            out = self.model(**{key: x}, output_attentions=True)
        attentions = getattr(out, "attentions", None)
        if not attentions:
            raise ValueError(
                f"rollout does not fit model {_model_label(self.model)}: it returned no attention maps; "
                f"methods that fit it: {', '.join(m for m in fitting_methods(self.model) if m != 'rollout')}"
            )
        grid = _patch_grid(self.model, x, attentions[0].shape[-1])
        maps = rollout_maps(attentions, grid=grid)
        up = torch.nn.functional.interpolate(maps[:, None], size=tuple(x.shape[-2:]), mode="nearest")
        return up[:, 0]


def _patch_grid(model: nn.Module, x: torch.Tensor, tokens: int) -> tuple[int, int]:
    patch = getattr(getattr(model, "config", None), "patch_size", None)
    if patch:
        ph, pw = (patch, patch) if isinstance(patch, int) else tuple(patch)
        return x.shape[-2] // ph, x.shape[-1] // pw
    side = int(round((tokens - 1) ** 0.5))
    if side * side != tokens - 1:
        raise ValueError(f"cannot tell the patch grid of {tokens} tokens: the model config has no patch_size")
    return side, side


def make_explainer(
    model: nn.Module,
    method: str,
    *,
    target_layer: str | None = None,
    ig_steps: int = DEFAULT_IG_STEPS,
    baseline: torch.Tensor | None = None,
    internal_batch_size: int | None = None,
) -> Explainer:
    """Check that ``method`` fits ``model`` and bind them (see the module docstring)."""
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"explanations need a torch model (a transformers pipeline's .model), got {type(model).__name__}"
        )
    name = resolve_method(method)
    if isinstance(ig_steps, bool) or not isinstance(ig_steps, int) or ig_steps < 2:
        raise ValueError(f"ig_steps must be an int of at least 2, got {ig_steps!r}")
    model.eval()
    notes: list[str] = []
    layer = choice = None
    if name == "gradcam":
        if target_layer:
            layer, _ = resolve_layer(model, target_layer)
            choice = "given by the user"
        else:
            layer, choice = default_target_layer(model)
    elif target_layer:
        raise ValueError(f"a target layer is only used by gradcam, not by {name}")
    if name == "rollout":
        if not is_attention_model(model):
            raise ValueError(
                f"rollout does not fit model {_model_label(model)}: it has no attention layers (not ViT-style); "
                f"methods that fit it: {', '.join(fitting_methods(model))}"
            )
        impl = getattr(getattr(model, "config", None), "_attn_implementation", None)
        if impl not in (None, "eager") and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation("eager")  # sdpa/flash kernels return no attention maps
            notes.append(f"attention implementation switched from {impl!r} to 'eager' to read attention maps")
    return Explainer(model=model, method=name, target_layer=layer, layer_choice=choice, ig_steps=ig_steps,
                     baseline=baseline, internal_batch_size=internal_batch_size, notes=notes)
