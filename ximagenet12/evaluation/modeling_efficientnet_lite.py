"""EfficientNet-Lite as a ``transformers`` image classifier, in one self-contained file.

This module is the custom-model code that a saved built-in model folder carries: its
``config.json`` has ``auto_map`` entries pointing here, and ``save_pretrained`` copies
this file beside the weights, so plain ``transformers`` loads the folder in a process that
never imports ``ximagenet12``::

    AutoModelForImageClassification.from_pretrained(folder, trust_remote_code=True)
    pipeline("image-classification", model=folder, trust_remote_code=True)

It may therefore import only ``torch``, ``transformers`` and ``efficientnet_lite_pytorch``
(the network code the weights were trained with), never anything from ``ximagenet12``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

__all__ = ["EfficientNetLiteConfig", "EfficientNetLiteForImageClassification"]


class EfficientNetLiteConfig(PretrainedConfig):
    """Configuration of :class:`EfficientNetLiteForImageClassification`.

    ``variant`` is an ``efficientnet_lite_pytorch`` model name (``efficientnet-lite0`` ..
    ``efficientnet-lite4``); ``image_size`` the input size its static "same" padding is
    built for.
    """

    model_type = "ximagenet12_efficientnet_lite"

    def __init__(self, variant: str = "efficientnet-lite0", image_size: int = 224, **kwargs: Any):
        self.variant = variant
        self.image_size = image_size
        super().__init__(**kwargs)


class EfficientNetLiteForImageClassification(PreTrainedModel):
    """The ``efficientnet_lite_pytorch`` network as a ``transformers`` image classifier.

    ``forward(pixel_values)`` returns an ``ImageClassifierOutput`` whose ``logits`` are
    exactly the wrapped network's output; the network's parameters live under ``net.``
    and its classification head is ``net._fc`` (sized by ``config.num_labels``).
    """

    config_class = EfficientNetLiteConfig
    base_model_prefix = "net"
    main_input_name = "pixel_values"

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name(
            config.variant, num_classes=config.num_labels, image_size=config.image_size
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # Pretrained weights come from a checkpoint; only a new head (``num_labels`` changed,
        # ``ignore_mismatched_sizes=True``) is missing from it: give it nn.Linear's own init.
        if isinstance(module, nn.Linear):
            module.reset_parameters()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs: Any,
    ) -> ImageClassifierOutput | tuple:
        logits = self.net(pixel_values)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.float(), labels)
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return ImageClassifierOutput(loss=loss, logits=logits)
