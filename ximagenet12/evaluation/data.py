"""Reading scenario configs for evaluation: which configs exist, their classes, their rows.

``data`` is a built dataset folder (the folder contract: ``README.md`` with YAML
``configs:``, ``data/<config>/*.parquet``), a finished build in an object store (an
``s3://bucket/prefix`` URL, credentials from the environment, or a
:class:`~ximagenet12.io.storage.StorePath` carrying storage options: see
:func:`ximagenet12.io.storage.data_source`) or a Hub dataset repo id. Image columns stay
undecoded: the evaluator decodes them itself, in background threads, and counts the
images that fail to decode instead of crashing.

What is read, and what never is
    A local folder's configs are read shard by shard with pyarrow, from the files its
    card's ``data_files`` match *inside* the folder (a pattern or link leading out is an
    error). A damaged shard is named, the rest of it skipped with a warning, counted in the
    report, and the next shard read (``datasets`` streaming would stop the whole config
    with an error naming no file). A row's image ``path`` is read only when the row has no
    embedded bytes and the path lies inside the local folder. Hub configs are read the same
    way, shard by shard, from the ``hf://`` files ``datasets`` resolves for the config
    (through ``HfFileSystem``; anything that is not plain parquet falls back to
    ``datasets`` streaming), and their row paths are never read. Error messages never echo
    file content.

Object stores
    A store prefix is read like a local folder, through fsspec: the card and
    ``build_info.json`` (the build's commit marker: a prefix without it is an unfinished
    build and is refused), the shards its card's ``data_files`` match under the prefix,
    their footers for row counts, and their rows row group by row group through ranged
    reads (a shard is never downloaded whole, the prefix never copied). Row paths are never
    read, as for the Hub. The fingerprint is the build's own (the same as a local copy's)
    plus a digest of the objects' names, sizes and ETags; no storage option is recorded.

RGBA scenarios (``segmented_image``, ``transparent_image``)
    Images with an alpha channel are flattened by compositing them on **black**:
    ``rgb_out = round(rgb * alpha / 255)``. This is what the paper's segmented images
    show (object on a black background), so ``transparent_image`` is scored on the same
    pixels as ``segmented_image`` would be for the same object.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import time
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

import numpy as np
from PIL import Image

from ximagenet12.io.storage import StorePath

__all__ = [
    "ORIGINAL",
    "SPLIT",
    "ALPHA_FLATTENING",
    "DecodeError",
    "is_local",
    "is_store",
    "store_of",
    "data_name",
    "available_configs",
    "resolve_scenarios",
    "open_config",
    "class_info",
    "dataset_classes",
    "count_rows",
    "decode_rgb",
    "decode_mask_array",
    "flatten_alpha",
    "prefetch_batches",
    "progress_bar",
    "library_progress",
    "data_root",
    "config_files",
    "hub_files",
    "dataset_fingerprint",
    "store_objects_digest",
    "RunLog",
    "run_configs",
    "config_batches",
    "file_row_counts",
    "span_rows",
    "nothing_to_evaluate",
]

ORIGINAL = "original"
SPLIT = "train"
#: How RGBA images are fed to models; recorded in every report.
ALPHA_FLATTENING = "alpha composited on black: rgb * alpha / 255 (the paper's segmented look)"

T = TypeVar("T")
R = TypeVar("R")


class DecodeError(ValueError):
    """One image or mask could not be decoded (counted and reported, not fatal)."""


def is_local(data: str | os.PathLike | StorePath) -> bool:
    return not isinstance(data, StorePath) and os.path.isdir(os.fspath(data))


def store_of(data: str | os.PathLike | StorePath) -> StorePath | None:
    """``data`` as a :class:`StorePath` when it names an object store, else ``None``.

    A URL string is resolved with the environment's credentials only; a caller with storage
    options passes the :class:`StorePath` of :func:`ximagenet12.io.storage.data_source`.
    """
    if isinstance(data, StorePath):
        return data
    if "://" not in os.fspath(data):
        return None
    from ximagenet12.io.storage import data_source

    found = data_source(data)
    return found if isinstance(found, StorePath) else None


def is_store(data: str | os.PathLike | StorePath) -> bool:
    """Whether ``data`` is a build in an object store (read through :mod:`ximagenet12.io.storage`)."""
    return store_of(data) is not None


def data_name(data: str | os.PathLike | StorePath) -> str:
    """How ``data`` is named in reports and messages (a store: its URL, never its options)."""
    return str(data) if isinstance(data, StorePath) else os.fspath(data)


def _finished_store(store: StorePath) -> StorePath:
    """``store`` once it is known to hold a finished build; every failure one ``ValueError`` line.

    ``build_info.json`` is the build's commit marker (written last): without it the prefix
    is an unfinished build, a missing bucket, or no build at all — each said as such.
    """
    try:
        try:
            (store / "build_info.json").info()  # not is_file(): fsspec answers False for an unreachable store
            return store
        except FileNotFoundError:
            pass
        bucket = StorePath(store.protocol, store.path.split("/", 1)[0], store.options)
        if not bucket.exists():
            raise ValueError(f"data {store}: the bucket {bucket} does not exist (or these credentials cannot see it)")
        if store.exists():
            raise ValueError(f"data {store} is an unfinished build (no build_info.json, which a build writes last): "
                             f"finish it with `ximagenet12 build --out {store} --resume` or name a finished build")
    except OSError as exc:  # refused credentials, an unreachable endpoint: StorePath's one secret-free line
        raise ValueError(str(exc)) from None
    raise ValueError(f"data {store} holds no ximagenet12 build (nothing under the prefix)")


def _root(data: str | os.PathLike | StorePath) -> Path | StorePath:
    return store_of(data) or Path(data)


def _card_path(folder: Path | StorePath) -> Path | StorePath:
    card = folder / "README.md"
    if not card.is_file():
        raise FileNotFoundError(f"data folder {str(folder)!r} has no README.md dataset card (not a built folder)")
    return card


def _card_configs(folder: Path | StorePath) -> list[str]:
    """Config names of a built folder's card, read the way ``datasets`` reads them."""
    from ximagenet12.hub.validate import read_card_configs

    return read_card_configs(_card_path(folder))


def _card_entries(folder: Path | StorePath) -> list[dict]:
    """The ``configs:`` entries of a built folder's card (each with a ``config_name``), in card order."""
    from ximagenet12.hub.validate import read_card_metadata

    card = _card_path(folder)
    names = _card_configs(folder)
    raw = read_card_metadata(card).get("configs") or []
    by_name = {c.get("config_name"): c for c in raw if isinstance(c, dict)}
    return [by_name.get(n) or {"config_name": n} for n in names]


def available_configs(data: str | os.PathLike) -> list[str]:
    """Config names of a built folder or store prefix (its card's YAML ``configs:``) or of a Hub dataset."""
    if is_local(data):
        return _card_configs(Path(data))
    store = store_of(data)
    if store is not None:
        return _card_configs(_finished_store(store))
    text = os.fspath(data)
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise FileNotFoundError(f"data folder {text!r} does not exist")
    import datasets

    try:
        return list(datasets.get_dataset_config_names(text))
    except Exception as exc:  # the Hub client raises many types; make it one clear line
        raise ValueError(
            f"could not read the configs of dataset {text!r} (a built folder or a Hub dataset id): "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root`` (symlinks resolved)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop, an unreadable component
        return False


def config_files(folder: str | os.PathLike | StorePath, config: str) -> list[Path] | list[StorePath]:
    """The parquet shards of ``config`` in a built folder or store prefix, from its card's ``data_files``.

    Patterns are matched inside the folder only: a pattern or a link that leads outside
    it is an error, so the evaluator never reads files beyond the dataset.
    """
    root = _root(folder)
    entry = next((c for c in _card_entries(root) if c["config_name"] == config), None)
    if entry is None:
        raise ValueError(f"config {config!r} is not in the card of {str(root)!r}")
    spec = entry.get("data_files") or f"data/{config}/*.parquet"
    if isinstance(spec, dict):  # {split: pattern(s)}
        spec = spec.get(SPLIT) or []
    items = spec if isinstance(spec, list) else [spec]
    patterns: list[str] = []
    for item in items:
        if isinstance(item, str):
            patterns.append(item)
        elif isinstance(item, dict) and item.get("split", SPLIT) == SPLIT:
            paths = item.get("path")
            patterns += [paths] if isinstance(paths, str) else [p for p in paths or [] if isinstance(p, str)]
    files: list = []
    for pattern in patterns:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"config {config!r}: data_files pattern {pattern!r} points outside the dataset folder")
        if isinstance(root, StorePath):  # keys under the prefix: a store has no links to follow out
            files += [f for f in root.glob(pattern) if f.path.endswith(".parquet") and f not in files]
            continue
        for path in sorted(root.glob(pattern)):
            if not path.is_file() or path.suffix != ".parquet" or path in files:
                continue
            if not _inside(path, root):
                raise ValueError(f"config {config!r}: {path.relative_to(root).as_posix()} leads outside the dataset folder")
            files.append(path)
    return files


def resolve_scenarios(data: str | os.PathLike, scenarios: str | Sequence[str] = "all") -> list[str]:
    """Config names to evaluate, ``original`` first.

    ``"all"``: every config of the data. Otherwise config names (``blur_background``,
    ``blur_background_level5``) or registry tokens (``blur_background@5``), comma
    separated or as a list; one the data lacks is a ``ValueError`` listing what exists.
    """
    available = available_configs(data)
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    tokens = [t.strip() for s in scenarios for t in str(s).split(",") if t.strip()]
    if not tokens:
        raise ValueError("no scenario named")
    wanted: list[str] = []
    for tok in tokens:
        if tok == "all":
            names = list(available)
        elif tok in available:
            names = [tok]
        else:
            names = []
            if "@" in tok:
                from ximagenet12.scenarios.registry import resolve

                try:
                    names = [v.config_name for v in resolve(tok)]
                except (ValueError, KeyError):
                    names = []
            missing = [n for n in names if n not in available] or ([] if names else [tok])
            if missing:
                raise ValueError(
                    f"scenario {tok!r} is not in the data {data_name(data)!r}; available configs: "
                    f"{', '.join(available)}"
                )
        wanted += [n for n in names if n not in wanted]
    if ORIGINAL in wanted:
        wanted.remove(ORIGINAL)
        wanted.insert(0, ORIGINAL)
    return wanted


def open_config(data: str | os.PathLike, config: str, *, columns: Sequence[str]):
    """A streaming dataset of ``config`` with only ``columns``; image columns undecoded.

    A store config streams its shards through ``datasets``' parquet loader with the store's
    options (``datasets`` takes no bucket folder as a dataset path), reading only ``columns``.
    """
    import datasets

    store = store_of(data)
    try:
        if store is not None:
            urls = [str(f) for f in config_files(store, config)]
            if not urls:
                raise ValueError(f"config {config!r} of {store}: its data_files match no object")
            ds = datasets.load_dataset("parquet", data_files={SPLIT: urls}, split=SPLIT, streaming=True,
                                       storage_options=dict(store.options), columns=list(columns))
        else:
            ds = datasets.load_dataset(os.fspath(data), config, split=SPLIT, streaming=True)
    except Exception as exc:
        raise ValueError(f"could not open config {config!r} of {data_name(data)!r}: {type(exc).__name__}: {exc}") from exc
    features = ds.features or {}
    missing = [c for c in columns if features and c not in features]
    if missing:
        raise ValueError(
            f"config {config!r} of {data_name(data)!r} lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(features)}"
        )
    for col in columns:
        if isinstance(features.get(col), datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
    return ds.select_columns(list(columns))


def _rel(path: Path | StorePath, root: Path | StorePath) -> str:
    if isinstance(path, StorePath) and isinstance(root, StorePath):
        return root.relative(path.path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


@contextmanager
def _opened(shard: Path | StorePath) -> Iterator[Any]:
    """What pyarrow opens a shard from: a local path as is, a store object as a ranged-read file."""
    if isinstance(shard, StorePath):
        with shard.open() as handle:
            yield handle
    else:
        yield shard


def _footer(shard: Path | StorePath):
    """The parquet metadata (footer) of a shard; a store reads only the file's tail."""
    import pyarrow.parquet as pq

    with _opened(shard) as handle:
        return pq.ParquetFile(handle).metadata


def _local_features(data: str | os.PathLike | StorePath, config: str, files: Sequence[Path | StorePath]):
    """The ``datasets`` features of a local (or store) config, from the first shard whose footer reads."""
    import datasets
    import pyarrow.parquet as pq

    errors = []
    for f in files:
        try:
            with _opened(f) as handle:  # the arrow schema with its `huggingface` feature metadata
                return datasets.Features.from_arrow_schema(pq.ParquetFile(handle).schema_arrow)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError ... for a damaged footer
            errors.append(f"{_rel(f, _root(data))}: {type(exc).__name__}")
    raise ValueError(
        f"config {config!r} of {data_name(data)!r}: no readable parquet shard"
        + (f" ({'; '.join(errors)})" if errors else " (its data_files match no file)")
    )


def class_info(data: str | os.PathLike, config: str) -> tuple[list[str], list[str]]:
    """(class names from the ``label`` ClassLabel, class key per class from ``class_key``).

    A class that never appears in ``config`` keeps an empty key. Local folders are read with
    pyarrow, shard by shard (a damaged shard is passed over here and reported by the run).
    """
    import datasets

    local = is_local(data) or is_store(data)
    if local:
        files = config_files(data, config)
        features = _local_features(data, config, files)
    else:
        try:
            features = datasets.load_dataset(os.fspath(data), config, split=SPLIT, streaming=True).features or {}
        except Exception as exc:
            raise ValueError(f"could not open config {config!r} of {data_name(data)!r}: {type(exc).__name__}: {exc}") from exc
    feature = features.get("label")
    if not isinstance(feature, datasets.ClassLabel):
        raise ValueError(
            f"config {config!r} of {data_name(data)!r}: column 'label' must be a ClassLabel, got {feature!r}"
        )
    names = list(feature.names)
    keys = [""] * len(names)
    if "class_key" in features:
        rows = (_local_rows(data, config, files, columns=["label", "class_key"], log=None) if local else
                datasets.load_dataset(os.fspath(data), config, split=SPLIT, streaming=True, columns=["label", "class_key"]))
        for row in rows:
            if 0 <= row["label"] < len(keys) and not keys[row["label"]]:
                keys[row["label"]] = row["class_key"] or ""
                if all(keys):
                    break
    return names, keys


def dataset_classes(data: str | os.PathLike, configs: Sequence[str]) -> tuple[list[str], list[str]]:
    """:func:`class_info` of the first config that gives it (a damaged config is passed over)."""
    errors: list[ValueError] = []
    for config in configs:
        try:
            return class_info(data, config)
        except ValueError as exc:
            errors.append(exc)
    raise errors[0] if errors else ValueError("no config to read the classes from")


def count_rows(data: str | os.PathLike, config: str) -> int | None:
    """Rows of a local config from its parquet footers (no data read); ``None`` if unknown.

    A shard whose footer does not read makes the count unknown (the run then reads, names
    and reports that shard), so a damaged config is never taken for an empty one.
    """
    if not is_local(data) and not is_store(data):
        return None
    files = config_files(data, config)
    if not files:
        return 0
    total = 0
    for f in files:
        try:
            total += _footer(f).num_rows
        except Exception:  # a damaged footer: reported as a bad shard when the rows are read
            return None
    return total


@dataclass
class RunLog:
    """What a run could not use, kept for the report: nothing is dropped silently."""

    failures: list[dict] = field(default_factory=list)  # samples: config, source_id, error
    bad_shards: list[dict] = field(default_factory=list)  # config, file, rows_read, error
    skipped_configs: list[dict] = field(default_factory=list)  # config, reason
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: the configs finished before it are kept
    #: rows left out because the model was trained on them (config -> count; see ``exclude``)
    excluded: dict[str, int] = field(default_factory=dict)

    def warn(self, message: str) -> None:
        """Record a warning for the report and raise it as a Python warning now."""
        self.warnings.append(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def _local_rows(data: str | os.PathLike, config: str, files: Sequence[Path], *, columns: Sequence[str],
                log: RunLog | None) -> Iterator[dict]:
    """Rows of a local (or store) config's shards (see :func:`_shard_rows`)."""
    root = _root(data)
    return _shard_rows([(_rel(f, root), _source_of(f)) for f in files], config=config, columns=columns, log=log)


def _source_of(shard: Path | StorePath) -> Any:
    """What :func:`_shard_rows` opens: a local path, or a callable opening a store object."""
    return (lambda: shard.open()) if isinstance(shard, StorePath) else shard


def hub_files(repo: str, config: str) -> list[str]:
    """The ``hf://`` parquet files of a Hub config at its resolved revision (via ``datasets``)."""
    import datasets

    builder = datasets.load_dataset_builder(repo, config)
    files = [str(f) for f in (builder.config.data_files or {}).get(SPLIT, [])]
    if not files or not all(f.startswith("hf://") and f.endswith(".parquet") for f in files):
        raise ValueError(f"config {config!r} of {repo!r} is not a set of parquet files on the Hub")
    return files


def _hub_rows(repo: str, config: str, files: Sequence[str], *, columns: Sequence[str], log: RunLog) -> Iterator[dict]:
    """Rows of a Hub config's shards, opened through ``HfFileSystem`` (see :func:`_shard_rows`)."""
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem()
    named = [(re.sub(r"^hf://datasets/[^@]+@[^/]+/", "", f), lambda f=f: fs.open(f, "rb")) for f in files]
    return _shard_rows(named, config=config, columns=columns, log=log)


def _shard_rows(shards: Sequence[tuple[str, Any]], *, config: str, columns: Sequence[str], log: RunLog | None,
                batch_rows: int = 64) -> Iterator[dict]:
    """Rows of parquet shards, one after the other; a damaged shard is named and skipped.

    ``shards``: (name for messages, a path or a callable opening a binary file). Read with
    pyarrow rather than ``datasets`` streaming, which stops the whole config at the first
    unreadable shard with an error that does not name the file.
    """
    import pyarrow.parquet as pq

    for name, source in shards:
        read = 0
        try:
            with ExitStack() as stack:
                handle = stack.enter_context(source()) if callable(source) else source
                pf = stack.enter_context(pq.ParquetFile(handle))
                missing = [c for c in columns if c not in pf.schema_arrow.names]
                if missing:
                    raise ValueError(f"lacks the column(s) {', '.join(missing)}")
                for batch in pf.iter_batches(batch_size=batch_rows, columns=list(columns)):
                    for row in batch.to_pylist():
                        read += 1
                        yield row
        except Exception as exc:  # pyarrow: ArrowInvalid, OSError, ... for truncated or corrupt data
            if log is None:
                continue
            log.bad_shards.append({"config": config, "file": name, "rows_read": read,
                                   "error": f"{type(exc).__name__}: {_first_line(exc)}"})
            log.warn(f"config {config!r}: shard {name} could not be read after {read} row(s) "
                     f"({type(exc).__name__}: {_first_line(exc)}); skipped the rest of it")


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text[:limit]


def dataset_fingerprint(data: str | os.PathLike) -> dict:
    """What identifies the evaluated data, so that reports over different data are never mixed.

    A local folder: the sha256 of the build's own fingerprint in ``build_info.json`` when it
    has one, else of the parquet shards' relative names and sizes. A store prefix: the value
    a local copy of it gives (so reports over the store and over a copy are comparable),
    plus ``objects``, :func:`store_objects_digest` (keys, sizes and ETags).
    A Hub dataset: the resolved revision (commit sha) of the repo.
    """
    import hashlib
    import json

    store = store_of(data)
    if store is not None:
        return _store_fingerprint(store)
    if is_local(data):
        root = Path(data)
        info = root / "build_info.json"
        try:
            recorded = json.loads(info.read_text(encoding="utf-8")).get("fingerprint") if info.is_file() else None
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded:
            digest = hashlib.sha256(json.dumps(recorded, sort_keys=True, default=str).encode()).hexdigest()
            return {"kind": "build_info", "value": digest}
        files = [(_rel(f, root), f.stat().st_size) for f in root.glob("data/**/*.parquet")
                 if f.is_file() and _inside(f, root)]
        return {"kind": "parquet_files", "value": _files_digest(files)}
    try:
        from huggingface_hub import HfApi

        sha = HfApi().dataset_info(os.fspath(data)).sha
    except Exception as exc:  # offline, private, gone: recorded, and analyze warns
        return {"kind": "hub_revision", "value": None, "error": f"{type(exc).__name__}: {_first_line(exc)}"}
    return {"kind": "hub_revision", "value": sha}


def store_objects_digest(store: StorePath) -> str:
    """``sha256:<hex>`` of a store build's card, ``build_info.json`` and parquet shards: each
    object's relative key, size and ETag, from one listing (no object is read; ETags change
    with any rewritten object). Never the storage options or any credential."""
    import hashlib

    digest = hashlib.sha256()
    for rel, info in store.listing().items():
        if rel in ("README.md", "build_info.json") or (rel.startswith("data/") and rel.endswith(".parquet")):
            digest.update(f"{rel}\0{info['size']}\0{info['etag'] or ''}\n".encode())
    return f"sha256:{digest.hexdigest()}"


def _files_digest(files: Iterable[tuple[str, int]]) -> str:
    """sha256 of ``(relative path, size)`` pairs in path order (a local folder and a store alike)."""
    import hashlib

    h = hashlib.sha256()
    for rel, size in sorted(files, key=lambda item: item[0].split("/")):
        h.update(f"{rel}\0{size}\n".encode())
    return h.hexdigest()


def _store_fingerprint(store: StorePath) -> dict:
    """:func:`dataset_fingerprint` of a store prefix: what a local copy gives, plus ``objects``."""
    import hashlib
    import json

    try:
        recorded = json.loads((store / "build_info.json").read_text()).get("fingerprint")
        listing = store.listing("data")
        objects = store_objects_digest(store)
    except (OSError, ValueError, AttributeError) as exc:  # recorded, and analyze warns
        return {"kind": "parquet_files", "value": None, "store": str(store),
                "error": f"{type(exc).__name__}: {_first_line(exc)}"}
    if recorded:
        value = hashlib.sha256(json.dumps(recorded, sort_keys=True, default=str).encode()).hexdigest()
        return {"kind": "build_info", "value": value, "store": str(store), "objects": objects}
    shards = [(rel, info["size"]) for rel, info in listing.items() if rel.endswith(".parquet")]
    return {"kind": "parquet_files", "value": _files_digest(shards), "store": str(store), "objects": objects}


def flatten_alpha(image: Image.Image) -> Image.Image:
    """RGB, with any alpha channel composited on black (:data:`ALPHA_FLATTENING`)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )
    if not has_alpha:
        return image if image.mode == "RGB" else image.convert("RGB")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
    alpha = rgba[..., 3:4]
    # round(rgb * a / 255) in integers
    rgb = (rgba[..., :3] * alpha + 127) // 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


#: Longest path echoed in an error message.
_MAX_PATH_SHOWN = 120


def _bytes_of(value: Any, *, what: str, source_id: str, root: Path | None) -> bytes:
    """The encoded bytes of an undecoded image value.

    A value without embedded bytes may name a file by ``path``: it is read only when it lies
    inside the local dataset folder ``root`` (symlinks resolved), never for Hub data, so a
    hostile row cannot make the evaluator read, and report on, files beyond the dataset.
    """
    if isinstance(value, dict):
        data = value.get("bytes")
        path = value.get("path")
        if data is None and path:
            data = _read_inside(str(path), what=what, source_id=source_id, root=root)
        value = data
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise DecodeError(f"{what} of sample {source_id!r} has no bytes")
    return bytes(value)


def _read_inside(path: str, *, what: str, source_id: str, root: Path | None) -> bytes:
    shown = path if len(path) <= _MAX_PATH_SHOWN else path[:_MAX_PATH_SHOWN] + "..."
    if root is None:
        raise DecodeError(f"{what} of sample {source_id!r} has no embedded bytes, only a path ({shown!r}); "
                          "paths are read only inside a local dataset folder")
    target = Path(path) if Path(path).is_absolute() else root / path
    if not _inside(target, root):
        raise DecodeError(f"{what} of sample {source_id!r}: its path {shown!r} lies outside the dataset folder; not read")
    try:
        with open(target.resolve(), "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DecodeError(f"{what} of sample {source_id!r}: cannot read {shown!r}: {type(exc).__name__}") from exc


def _why(exc: Exception, data: bytes) -> str:
    """Why decoding failed, without echoing any of the data itself."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return f"not a recognised image file ({len(data)} bytes)"
    return f"{type(exc).__name__}: {_first_line(exc)}"


def decode_rgb(value: Any, *, source_id: str = "?", root: str | os.PathLike | None = None) -> Image.Image:
    """Decode an undecoded ``datasets.Image`` value to an RGB PIL image (alpha on black).

    ``root``: the local dataset folder, the only place a value's ``path`` may be read from.
    """
    data = _bytes_of(value, what="image", source_id=source_id, root=None if root is None else Path(root))
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return flatten_alpha(img)
    except DecodeError:
        raise
    except Exception as exc:  # PIL raises several types for corrupt data
        raise DecodeError(f"image of sample {source_id!r} failed to decode: {_why(exc, data)}") from exc


def decode_mask_array(value: Any, *, source_id: str = "?", root: str | os.PathLike | None = None) -> np.ndarray:
    """Decode a mask to ``HxW bool`` (any non-zero colour value is object)."""
    data = _bytes_of(value, what="mask", source_id=source_id, root=None if root is None else Path(root))
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            arr = np.asarray(img if img.mode in ("L", "1", "P", "I", "I;16") else img.convert("RGB"))
    except Exception as exc:
        raise DecodeError(f"mask of sample {source_id!r} failed to decode: {_why(exc, data)}") from exc
    return arr.any(axis=-1) if arr.ndim == 3 else arr != 0


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _settle(future: Future) -> Any:
    try:
        return future.result()
    except DecodeError as exc:
        return exc


def prefetch_batches(
    rows: Iterable[T],
    fn: Callable[[T], R],
    *,
    batch_size: int,
    num_workers: int,
    prefetch: int = 2,
) -> Iterator[list[tuple[T, R | DecodeError]]]:
    """Batches of ``(row, fn(row))``, computed ahead by ``num_workers`` threads.

    While the caller works on batch *k* (the model's forward), batches *k+1 ..
    k+prefetch* are decoded and preprocessed in the background (PIL decoding and
    resizing release the GIL). A :class:`DecodeError` from ``fn`` is returned in place
    of the result; any other exception propagates.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be 0 or more, got {num_workers}")
    if num_workers == 0:
        for chunk in _chunks(rows, batch_size):
            out = []
            for row in chunk:
                try:
                    out.append((row, fn(row)))
                except DecodeError as exc:
                    out.append((row, exc))
            yield out
        return
    pending: deque[list[tuple[T, Future]]] = deque()
    with ThreadPoolExecutor(max_workers=num_workers, thread_name_prefix="ximagenet12-data") as pool:
        try:
            for chunk in _chunks(rows, batch_size):
                pending.append([(row, pool.submit(fn, row)) for row in chunk])
                if len(pending) > prefetch:
                    yield [(row, _settle(f)) for row, f in pending.popleft()]
            while pending:
                yield [(row, _settle(f)) for row, f in pending.popleft()]
        finally:
            for batch in pending:
                for _, f in batch:
                    f.cancel()


def progress_bar(enabled: bool, *, total: int | None, desc: str, position: int = 0, leave: bool = True):
    """A tqdm bar over images, or ``None`` when progress is off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=leave, position=position, dynamic_ncols=True)


@contextmanager
def library_progress(enabled: bool) -> Iterator[None]:
    """With ``enabled=False``, silence the progress bars of transformers, datasets and the Hub client."""
    if enabled:
        yield
        return
    import datasets
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as hf_logging

    before = (datasets.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled(),
              hf_logging.is_progress_bar_enabled())
    datasets.disable_progress_bars()
    hub_utils.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if before[0]:
            datasets.enable_progress_bars()
        if not before[1]:
            hub_utils.enable_progress_bars()
        if before[2]:
            hf_logging.enable_progress_bar()


def data_root(data: str | os.PathLike) -> Path | None:
    """The local dataset folder (the only place a row's image ``path`` may be read), or ``None``."""
    return Path(data) if is_local(data) else None


def _planned(data: str | os.PathLike, config: str, limit: int | None,
             span: tuple[int, int] | None = None) -> int | None:
    if span is not None:
        return span[1] - span[0]
    total = count_rows(data, config)
    return total if total is None or limit is None else min(total, limit)


def file_row_counts(data: str | os.PathLike | StorePath, config: str) -> list[tuple[Path | StorePath, int]] | None:
    """``(shard, rows)`` of a local or store config from its parquet footers; ``None`` when a footer
    does not read or the data is on the Hub (its rows cannot then be addressed by position)."""
    if not is_local(data) and not is_store(data):
        return None
    out = []
    for f in config_files(data, config):
        try:
            out.append((f, _footer(f).num_rows))
        except Exception:  # a damaged footer: see count_rows
            return None
    return out


def span_rows(data: str | os.PathLike, config: str, span: tuple[int, int], *, columns: Sequence[str],
              log: RunLog | None) -> Iterator[dict]:
    """Rows ``[start, stop)`` of a local config, by position in its shards (footer counts).

    Each shard that overlaps the span is read from its start, so a damaged shard stops at
    the same row, and is reported the same way, as in a whole-config read; shards wholly
    outside the span are not opened. Used to split one config over several model replicas
    (``evaluate --engine ray``): the spans of a config, concatenated, give its rows in order.
    """
    start, stop = span
    counts = file_row_counts(data, config)
    if counts is None:
        raise ValueError(f"config {config!r} of {data_name(data)!r}: rows can be addressed by position only in a "
                         "local folder or store prefix whose parquet footers read")
    root, offset = _root(data), 0
    for path, n in counts:
        lo, hi = max(start - offset, 0), min(stop - offset, n)
        offset += n
        if lo >= hi:
            continue
        rows = _shard_rows([(_rel(path, root), _source_of(path))], config=config, columns=columns, log=log)
        try:
            yield from itertools.islice(rows, lo, hi)
        finally:
            rows.close()


def run_configs(
    data: str | os.PathLike,
    configs: Sequence[str],
    prepare: Callable[[dict], R],
    process: Callable[[str, list[tuple[dict, R]]], list[dict]],
    *,
    columns: Sequence[str],
    batch_size: int,
    num_workers: int,
    limit: int | None,
    progress: bool,
    log: RunLog,
    spans: Mapping[str, tuple[int, int]] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[dict]:
    """Score every config: ``process(config, [(row, prepare(row)), ...])`` returns result rows.

    ``exclude``: source ids never scored (the model's training rows), counted per config
    in ``log.excluded``; ``limit`` counts the rows that remain.

    The loop both evaluators share. Each config is streamed (first ``limit`` rows), prepared
    ahead on ``num_workers`` threads and shown in a per-config bar under one overall bar
    (with an ETA where row counts are known). Nothing is lost silently and one config never
    costs the others their results: a sample that fails to decode goes to ``log.failures``;
    a damaged shard to ``log.bad_shards`` (the rest of the config is still read); an empty
    config, or one that fails as a whole, to ``log.skipped_configs`` with a warning. Only
    when every config fails is the first error raised. An interrupt (Ctrl-C) stops the run
    but returns what the finished configs gave (``log.interrupted``), so it can be reported.

    ``spans``: for the configs it names, only rows ``[start, stop)`` by position
    (:func:`span_rows`; ``limit`` does not apply to them). Any ``spans`` (even ``{}``) marks
    the run as one share of a larger one (``evaluate --engine ray``): a share in which no
    config could be scored returns nothing, its skips and damaged shards recorded in ``log``,
    instead of raising, since other shares may have scored the same configs.
    """
    share = spans is not None
    spans = spans or {}
    planned: dict[str, int | None] = {}
    for config in configs:
        try:
            planned[config] = _planned(data, config, limit, spans.get(config))
        except (ValueError, OSError) as exc:
            _skip(log, config, f"{type(exc).__name__}: {_first_line(exc)}")
            continue
        if planned[config] == 0:
            _skip(log, config, "empty (0 rows)")
    todo = [c for c in configs if planned.get(c, 0) != 0]
    known = [planned[c] for c in todo]
    overall = progress_bar(progress, total=None if None in known else sum(known), desc="all configs")
    out: list[dict] = []
    errors: list[Exception] = []
    try:
        for config in todo:
            try:
                out += _run_config(data, config, prepare, process, columns=columns, batch_size=batch_size,
                                   num_workers=num_workers, limit=limit, total=planned[config],
                                   progress=progress, log=log, overall=overall, span=spans.get(config),
                                   exclude=exclude)
            except KeyboardInterrupt:
                log.interrupted = True
                for rest in todo[todo.index(config):]:
                    log.skipped_configs.append({"config": rest, "reason": "interrupted"})
                log.warn(f"interrupted during config {config!r}: the report holds the configs finished before it")
                break
            except Exception as exc:  # keep the other configs' results; see the docstring
                errors.append(exc)
                _skip(log, config, f"failed: {type(exc).__name__}: {_first_line(exc)}")
    finally:
        if overall is not None:
            overall.close()
    if errors and len(errors) == len(todo) and not share:
        raise errors[0]
    if log.interrupted and not log.seconds:
        raise KeyboardInterrupt
    if not log.seconds and not share:
        raise nothing_to_evaluate(data, log.skipped_configs)
    return out


def nothing_to_evaluate(data: str | os.PathLike, skipped: Sequence[dict]) -> ValueError:
    """The error of a run in which every config was skipped, with the reasons."""
    reasons = "; ".join(f"{s['config']}: {s['reason']}" for s in skipped)
    return ValueError(f"nothing to evaluate in {data_name(data)!r}: every config was skipped ({reasons})")


def _skip(log: RunLog, config: str, reason: str) -> None:
    log.skipped_configs.append({"config": config, "reason": reason})
    log.warn(f"config {config!r} skipped: {reason}")


def _without(rows: Iterable[dict], exclude: frozenset[str], counts: dict[str, int], config: str) -> Iterator[dict]:
    for row in rows:
        if str(row.get("source_id")) in exclude:
            counts[config] = counts.get(config, 0) + 1
        else:
            yield row


def _run_config(data, config, prepare, process, *, columns, batch_size, num_workers, limit, total,
                progress, log: RunLog, overall, span: tuple[int, int] | None = None,
                exclude: frozenset[str] = frozenset()) -> list[dict]:
    if span is not None:
        rows: Iterable[dict] = span_rows(data, config, span, columns=columns, log=log)
        if exclude:
            rows = _without(rows, exclude, log.excluded, config)
    else:
        rows = _config_rows(data, config, columns=columns, log=log)
        if exclude:
            rows = _without(rows, exclude, log.excluded, config)
        if limit is not None:
            rows = itertools.islice(rows, limit)
    bar = progress_bar(progress, total=total, desc=config, position=1, leave=False)
    shards_before = len(log.bad_shards)
    seen = 0
    out: list[dict] = []
    started = time.perf_counter()
    try:
        for n, good in _decoded_batches(rows, prepare, config=config, failures=log.failures, batch_size=batch_size,
                                        num_workers=num_workers):
            seen += n
            if good:
                out += process(config, good)
            for b in (bar, overall):
                if b is not None:
                    b.update(n)
    finally:
        if bar is not None:
            bar.close()
    if seen == 0:
        damaged = len(log.bad_shards) - shards_before
        if log.excluded.get(config):
            _skip(log, config, f"every row ({log.excluded[config]}) is one the model was trained on "
                               "(left out; --include-training-rows scores them)")
        else:
            _skip(log, config, f"no readable rows ({damaged} damaged shard(s))" if damaged else "empty (0 rows)")
        return []
    log.seconds[config] = round(time.perf_counter() - started, 3)
    return out


def _decoded_batches(rows: Iterable[dict], prepare, *, config: str, failures: list[dict], batch_size: int,
                     num_workers: int) -> Iterator[tuple[int, list]]:
    """``(rows in the batch, [(row, prepare(row)), ...] of those that decoded)`` per batch;
    a sample that failed to decode goes to ``failures`` with its config and source id."""
    for batch in prefetch_batches(rows, prepare, batch_size=batch_size, num_workers=num_workers):
        good = []
        for row, x in batch:
            if isinstance(x, DecodeError):
                failures.append({"config": config, "source_id": row.get("source_id"), "error": str(x)})
            else:
                good.append((row, x))
        yield len(batch), good


def _config_rows(data, config: str, *, columns: Sequence[str], log: RunLog) -> Iterable[dict]:
    """The rows of one config, shard by shard (local folder or Hub), or streamed by ``datasets``."""
    if is_local(data) or is_store(data):
        return _local_rows(data, config, config_files(data, config), columns=columns, log=log)
    try:
        files = hub_files(os.fspath(data), config)
    except Exception:  # not plain parquet on the Hub (a script, another format): let datasets stream it
        files = []
    return (_hub_rows(os.fspath(data), config, files, columns=columns, log=log) if files
            else open_config(data, config, columns=columns))


def config_batches(
    data: str | os.PathLike,
    configs: Sequence[str],
    prepare: Callable[[dict], R],
    *,
    columns: Sequence[str],
    batch_size: int,
    num_workers: int,
    limit: int | None,
    progress: bool,
    failures: list[dict],
    seconds: dict[str, float],
) -> Iterator[tuple[str, list[tuple[dict, R]]]]:
    """``(config, [(row, prepare(row)), ...])`` for every batch of every config, in order.

    For callers that drive their own loop (``explain``); the evaluators use
    :func:`run_configs`. Rows are read as there (shard by shard: a damaged shard is named,
    skipped and warned about), samples that fail to decode go to ``failures``, each
    config's wall time to ``seconds``; an empty config is a ``ValueError``.
    """
    log = RunLog(failures=failures, seconds=seconds)
    for config in configs:
        total = _planned(data, config, limit)
        if total == 0:
            raise ValueError(f"config {config!r} of {data_name(data)!r} is empty (0 rows)")
        rows = _config_rows(data, config, columns=columns, log=log)
        rows = rows if limit is None else itertools.islice(rows, limit)
        bar = progress_bar(progress, total=total, desc=config)
        seen, started = 0, time.perf_counter()
        try:
            for n, good in _decoded_batches(rows, prepare, config=config, failures=failures, batch_size=batch_size,
                                            num_workers=num_workers):
                seen += n
                if good:
                    yield config, good
                if bar is not None:
                    bar.update(n)
        finally:
            if bar is not None:
                bar.close()
        if seen == 0:
            raise ValueError(f"config {config!r} of {data_name(data)!r} has no readable rows")
        seconds[config] = round(time.perf_counter() - started, 3)
