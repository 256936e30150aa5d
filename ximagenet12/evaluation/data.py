"""Reading scenario configs for evaluation: which configs exist, their classes, their rows.

``data`` is a built dataset folder (the folder contract: ``README.md`` with YAML
``configs:``, ``data/<config>/*.parquet``) or a Hub dataset repo id. Configs are read
with ``datasets.load_dataset(data, config, split="train", streaming=True)``: rows are
streamed from the parquet shards (no copy into the ``datasets`` cache), with image
columns left undecoded so that the evaluator decodes them itself, in background
threads, and counts the images that fail to decode instead of crashing.

RGBA scenarios (``segmented_image``, ``transparent_image``)
    Images with an alpha channel are flattened by compositing them on **black**:
    ``rgb_out = round(rgb * alpha / 255)``. This is what the paper's segmented images
    show (object on a black background), so ``transparent_image`` is scored on the same
    pixels as ``segmented_image`` would be for the same object.
"""

from __future__ import annotations

import io
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
from PIL import Image

__all__ = [
    "ORIGINAL",
    "SPLIT",
    "ALPHA_FLATTENING",
    "DecodeError",
    "is_local",
    "available_configs",
    "resolve_scenarios",
    "open_config",
    "class_info",
    "count_rows",
    "decode_rgb",
    "decode_mask_array",
    "flatten_alpha",
    "prefetch_batches",
    "config_batches",
    "progress_bar",
]

ORIGINAL = "original"
SPLIT = "train"
#: How RGBA images are fed to models; recorded in every report.
ALPHA_FLATTENING = "alpha composited on black: rgb * alpha / 255 (the paper's segmented look)"

T = TypeVar("T")
R = TypeVar("R")


class DecodeError(ValueError):
    """One image or mask could not be decoded (counted and reported, not fatal)."""


def is_local(data: str | os.PathLike) -> bool:
    return os.path.isdir(os.fspath(data))


def _card_configs(folder: Path) -> list[str]:
    """Config names of a built folder's card, read the way ``datasets`` reads them."""
    card = folder / "README.md"
    if not card.is_file():
        raise FileNotFoundError(f"data folder {str(folder)!r} has no README.md dataset card (not a built folder)")
    from ximagenet12.hub_validate import read_card_configs

    return read_card_configs(card)


def available_configs(data: str | os.PathLike) -> list[str]:
    """Config names of a built folder (its card's YAML ``configs:``) or of a Hub dataset."""
    if is_local(data):
        return _card_configs(Path(data))
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
                from ximagenet12.registry import resolve

                try:
                    names = [v.config_name for v in resolve(tok)]
                except (ValueError, KeyError):
                    names = []
            missing = [n for n in names if n not in available] or ([] if names else [tok])
            if missing:
                raise ValueError(
                    f"scenario {tok!r} is not in the data {os.fspath(data)!r}; available configs: "
                    f"{', '.join(available)}"
                )
        wanted += [n for n in names if n not in wanted]
    if ORIGINAL in wanted:
        wanted.remove(ORIGINAL)
        wanted.insert(0, ORIGINAL)
    return wanted


def open_config(data: str | os.PathLike, config: str, *, columns: Sequence[str]):
    """A streaming dataset of ``config`` with only ``columns``; image columns undecoded."""
    import datasets

    try:
        ds = datasets.load_dataset(os.fspath(data), config, split=SPLIT, streaming=True)
    except Exception as exc:
        raise ValueError(f"could not open config {config!r} of {os.fspath(data)!r}: {type(exc).__name__}: {exc}") from exc
    features = ds.features or {}
    missing = [c for c in columns if features and c not in features]
    if missing:
        raise ValueError(
            f"config {config!r} of {os.fspath(data)!r} lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(features)}"
        )
    for col in columns:
        if isinstance(features.get(col), datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
    return ds.select_columns(list(columns))


def class_info(data: str | os.PathLike, config: str) -> tuple[list[str], list[str]]:
    """(class names from the ``label`` ClassLabel, class key per class from ``class_key``).

    A class that never appears in ``config`` keeps an empty key.
    """
    import datasets

    try:
        full = datasets.load_dataset(os.fspath(data), config, split=SPLIT, streaming=True)
    except Exception as exc:
        raise ValueError(f"could not open config {config!r} of {os.fspath(data)!r}: {type(exc).__name__}: {exc}") from exc
    features = full.features or {}
    feature = features.get("label")
    if not isinstance(feature, datasets.ClassLabel):
        raise ValueError(
            f"config {config!r} of {os.fspath(data)!r}: column 'label' must be a ClassLabel, got {feature!r}"
        )
    names = list(feature.names)
    keys = [""] * len(names)
    if "class_key" in features:
        # column projection: only these two columns are read from the parquet shards
        keyed = datasets.load_dataset(
            os.fspath(data), config, split=SPLIT, streaming=True, columns=["label", "class_key"]
        )
        for row in keyed:
            if 0 <= row["label"] < len(keys) and not keys[row["label"]]:
                keys[row["label"]] = row["class_key"] or ""
                if all(keys):
                    break
    return names, keys


def count_rows(data: str | os.PathLike, config: str) -> int | None:
    """Rows of a local config from its parquet footers (no data read); ``None`` if unknown."""
    if not is_local(data):
        return None
    import pyarrow.parquet as pq

    files = sorted((Path(data) / "data" / config).glob("*.parquet"))
    if not files:
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


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


def _bytes_of(value: Any, *, what: str, source_id: str) -> bytes:
    if isinstance(value, dict):
        data = value.get("bytes")
        if data is None and value.get("path"):
            try:
                with open(value["path"], "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise DecodeError(f"{what} of sample {source_id!r}: cannot read {value['path']!r}: {exc}") from exc
        value = data
    if not isinstance(value, (bytes, bytearray)) or not value:
        raise DecodeError(f"{what} of sample {source_id!r} has no bytes")
    return bytes(value)


def _why(exc: Exception, data: bytes) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return f"not a recognised image file ({len(data)} bytes starting {data[:8]!r})"
    return f"{type(exc).__name__}: {exc}"


def decode_rgb(value: Any, *, source_id: str = "?") -> Image.Image:
    """Decode an undecoded ``datasets.Image`` value to an RGB PIL image (alpha on black)."""
    data = _bytes_of(value, what="image", source_id=source_id)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return flatten_alpha(img)
    except DecodeError:
        raise
    except Exception as exc:  # PIL raises several types for corrupt data
        raise DecodeError(f"image of sample {source_id!r} failed to decode: {_why(exc, data)}") from exc


def decode_mask_array(value: Any, *, source_id: str = "?") -> np.ndarray:
    """Decode a mask to ``HxW bool`` (any non-zero colour value is object)."""
    data = _bytes_of(value, what="mask", source_id=source_id)
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


def progress_bar(enabled: bool, *, total: int | None, desc: str):
    """A tqdm bar over images, or ``None`` when progress is off."""
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="img", leave=True)


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

    The loop both evaluators share: each config is streamed (first ``limit`` rows),
    prepared ahead on ``num_workers`` threads, shown in a progress bar; rows that fail to
    decode are appended to ``failures`` (config, source id, error) instead of stopping
    the run, and each config's wall time goes to ``seconds``. An empty config is an error.
    """
    for config in configs:
        total = count_rows(data, config)
        if total == 0:
            raise ValueError(f"config {config!r} of {os.fspath(data)!r} is empty (0 rows)")
        ds = open_config(data, config, columns=columns)
        rows = ds if limit is None else ds.take(limit)
        bar = progress_bar(progress, total=min(total, limit) if total and limit else (total or limit), desc=config)
        seen = 0
        started = time.perf_counter()
        try:
            for batch in prefetch_batches(rows, prepare, batch_size=batch_size, num_workers=num_workers):
                seen += len(batch)
                good = []
                for row, x in batch:
                    if isinstance(x, DecodeError):
                        failures.append({"config": config, "source_id": row.get("source_id"), "error": str(x)})
                    else:
                        good.append((row, x))
                if good:
                    yield config, good
                if bar is not None:
                    bar.update(len(batch))
        finally:
            if bar is not None:
                bar.close()
        if seen == 0:
            raise ValueError(f"config {config!r} of {os.fspath(data)!r} is empty (0 rows)")
        seconds[config] = round(time.perf_counter() - started, 3)
