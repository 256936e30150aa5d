"""Hugging Face ``datasets`` reader: a dataset (or one split) with image and mask columns.

Policies:

- The image column must be an ``Image`` feature; it is read with
  ``cast_column(col, Image(decode=False))`` so the encoded bytes are decoded once,
  by :mod:`ximagenet12.io.imageio`, never by ``datasets`` first. The mask column may be
  an ``Image`` feature (read the same way) or an array-like column (``Array2D``,
  nested sequences) whose values are standardised directly.
- Picklable items: each item's ``load`` carries the row's encoded image and mask
  bytes (or the file path, when the dataset stores paths only). They are read
  lazily, row by row, as ``items()`` is iterated, so only the items in flight hold
  bytes, and a worker process needs no access to the dataset or its cache files.
- Classes: the names of a ``ClassLabel`` label column (all of them, so label
  indices stay meaningful), otherwise the distinct values of the label column as
  strings; with ``label_column=None`` every row gets ``default_class``.
- Source ids: the ``id_column`` value when given; otherwise the stem of the image's
  stored file path when every row has one and they are unique (datasets built
  from files keep their names, e.g. ``n01689811_1``); otherwise the zero-padded
  row index.

With ``auto_mask`` (a :class:`~ximagenet12.sources.automask.MaskMaker`; ``build
--auto-mask`` on a saved dataset folder), no mask column is read: each row's mask is made
by the maker from the centred box, in the worker that loads the row.

Recorded in ``skipped``: rows without an image, a mask or a label, rows whose
id is shared with another row, and rows whose image or mask has no embedded bytes but a
file path outside ``root`` (the saved dataset's folder; links resolved): a source never
makes the build read files beyond its own folder (issue 25). An in-memory dataset has no
folder: its path-only rows are read only when ``root=`` names one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
import os
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

import numpy as np

from ximagenet12.io.imageio import decode_mask, read_image, standardize_mask
from ximagenet12.sources.base import LoadOptions, Source, finish_sample
from ximagenet12.core.types import Sample, SampleError, Skipped, SourceItem

__all__ = ["HFDatasetSource", "load_hf_row"]

#: Rows read per Arrow batch while listing.
_LIST_BATCH = 1000


def load_hf_row(
    image: bytes | str, mask: bytes | str | np.ndarray | list, *, source_id: str, class_key: str, options: LoadOptions
) -> Sample:
    """Decode one dataset row's encoded image and mask (bytes, path or mask array)."""
    decoded = read_image(image, source_id=source_id, max_pixels=options.max_pixels)
    if isinstance(mask, (list, tuple)):
        mask = _mask_array(mask, source_id=source_id, max_pixels=options.max_pixels)
    if isinstance(mask, np.ndarray):
        try:
            mask_array = standardize_mask(mask, source_id=source_id)
        except TypeError as exc:  # a row's value, not the caller's: a recorded skip
            raise SampleError(source_id, str(exc).replace(f" (source {source_id})", "")) from None
    else:
        mask_array = decode_mask(mask, source_id=source_id, max_pixels=options.max_pixels)
    return finish_sample(decoded, mask_array, source_id=source_id, class_key=class_key, options=options)


def _mask_array(value: Any, *, source_id: str, max_pixels: int | None) -> np.ndarray:
    """A mask column value (nested lists) as an array; ragged or non-numeric values are a skip."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise SampleError(source_id, "mask value is not a rectangular array of numbers") from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise SampleError(source_id, f"mask value holds {array.dtype.kind!r}-kind values, not numbers")
    if max_pixels is not None and array.ndim >= 2 and array.shape[0] * array.shape[1] > max_pixels:
        raise SampleError(source_id, f"mask of {array.shape[0]}×{array.shape[1]} pixels is over the limit of "
                          f"{max_pixels:,}")
    return array


def _label_key(label: Any, label_names: list[str] | None) -> tuple[str | None, str | None]:
    """(class key, problem) of a row's label value."""
    if label_names is None:
        if isinstance(label, (list, dict)):
            return None, f"label must be a single value, got {type(label).__name__}"
        return str(label), None
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(label_names):
        return None, f"label {label!r} is not a class index 0..{len(label_names) - 1}"
    return label_names[label], None


def _encoded(value: Any) -> bytes | str | None:
    """The bytes (preferred) or path of an undecoded ``Image`` value."""
    if not isinstance(value, dict):
        return None
    return value.get("bytes") or value.get("path") or None


def _encoded_info(column: Any) -> tuple[list[bool], list[str | None], list[bool]]:
    """For an undecoded ``Image`` column (Arrow struct of bytes and path): whether
    each row has bytes or a path, the paths, and whether each row has bytes, without
    copying the bytes."""
    import pyarrow.compute as pc

    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    data, path = pc.struct_field(array, "bytes"), pc.struct_field(array, "path")
    present = pc.and_(array.is_valid(), pc.or_(data.is_valid(), path.is_valid()))
    has_bytes = pc.and_(array.is_valid(), data.is_valid())
    return present.to_pylist(), path.to_pylist(), has_bytes.to_pylist()


def _path_problem(path: str, root: Path | None, *, what: str, row: int) -> str | None:
    """Why a row's file path (no embedded bytes) is not read: paths are read only inside the
    source's own folder (``root``, links resolved), as the evaluator does (issue 25)."""
    shown = path if len(path) <= 120 else path[:120] + "..."
    if root is None:
        return (f"{what} of row {row} has no embedded bytes, only a path ({shown!r}); paths are read only inside "
                "the dataset's folder (open a saved dataset by its folder, or pass root=)")
    target = Path(path) if Path(path).is_absolute() else root / path
    try:
        inside = target.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):
        inside = False
    if not inside:
        return f"{what} path {shown!r} of row {row} lies outside the dataset folder {root}; not read"
    return None


@dataclass(frozen=True)
class _Columns:
    image: str
    mask: str | None  # None: masks are made (auto_mask)
    label: str | None
    id: str | None
    mask_is_image: bool


def _list_rows(
    meta: Any, columns: _Columns, label_names: list[str] | None, default_class: str, root: Path | None = None
) -> tuple[list[tuple[int, str | None, str | None, str | None]], dict[int, str]]:
    """Every row as (row, class key, id, path stem), read in Arrow batches without the
    image bytes, and why rows cannot be used (row -> reason)."""
    rows: list[tuple[int, str | None, str | None, str | None]] = []
    problems: dict[int, str] = {}
    offset = 0
    if len(meta) == 0:  # datasets' batch iterator fails on a table of no rows
        return rows, problems
    for batch in meta.iter(batch_size=_LIST_BATCH):
        image_present, paths, image_bytes = _encoded_info(batch.column(columns.image))
        mask_paths: list[str | None] = [None] * batch.num_rows
        mask_bytes = [True] * batch.num_rows
        if columns.mask is None:
            mask_present = [True] * batch.num_rows
        elif columns.mask_is_image:
            mask_present, mask_paths, mask_bytes = _encoded_info(batch.column(columns.mask))
        else:
            mask_present = batch.column(columns.mask).is_valid().to_pylist()
        labels = batch.column(columns.label).to_pylist() if columns.label is not None else [None] * batch.num_rows
        ids = batch.column(columns.id).to_pylist() if columns.id is not None else [None] * batch.num_rows
        for j in range(batch.num_rows):
            row, label, row_id, path = offset + j, labels[j], ids[j], paths[j]
            if not image_present[j]:
                problems[row] = f"image missing (row {row} has no {columns.image!r} value)"
            elif not mask_present[j]:
                problems[row] = f"mask missing (row {row} has no {columns.mask!r} value)"
            elif columns.label is not None and label is None:
                problems[row] = f"label missing (row {row} has no {columns.label!r} value)"
            elif not image_bytes[j] and (why := _path_problem(str(path), root, what="image", row=row)):
                problems[row] = why
            elif not mask_bytes[j] and (why := _path_problem(str(mask_paths[j]), root, what="mask", row=row)):
                problems[row] = why
            if columns.label is None:
                key = default_class
            elif label is None:
                key = None
            else:
                key, problem = _label_key(label, label_names)
                if problem is not None:
                    problems.setdefault(row, f"{problem} (row {row})")
            stem = PurePosixPath(str(path).replace("\\", "/")).stem if path else None
            rows.append((row, key, None if row_id is None else str(row_id), stem))
        offset += batch.num_rows
    return rows, problems


def _one_split(dataset: Any, split: str | None) -> Any:
    """The ``datasets.Dataset`` to read: ``dataset`` itself, or its ``split`` of a ``DatasetDict``."""
    import datasets

    if isinstance(dataset, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise TypeError("streaming (iterable) datasets are not supported; load the dataset without streaming=True")
    if isinstance(dataset, datasets.DatasetDict):
        if split is None:
            raise TypeError(f"got a DatasetDict; pass split= one of {sorted(dataset)}")
        if split not in dataset:
            raise ValueError(f"split {split!r} not in the dataset; splits: {sorted(dataset)}")
        dataset = dataset[split]
    if not isinstance(dataset, datasets.Dataset):
        raise TypeError(f"expected a datasets.Dataset, got {type(dataset).__name__}")
    return dataset


def _identified_rows(rows: list, problems: dict[int, str], id_column: str | None) -> tuple[list, list[Skipped]]:
    """``(class key, source id, row)`` of every usable row, and a recorded skip for each other row.

    The id is the ``id_column`` value, else the image file's stem when every row has a
    distinct one, else the zero-padded row index."""
    stems = [stem for *_, stem in rows]
    use_stems = id_column is None and all(stems) and len(set(stems)) == len(stems)
    width = len(str(max(len(rows) - 1, 0)))

    def id_of(row: int, row_id: str | None, stem: str | None) -> str:
        if id_column is not None:
            return row_id if row_id is not None else f"{row:0{width}d}"
        return stem if use_stems else f"{row:0{width}d}"

    listed = [(key, id_of(row, row_id, stem), row) for row, key, row_id, stem in rows]
    counts = Counter(source_id for _, source_id, _ in listed)
    entries, skipped = [], []
    for key, source_id, row in listed:
        if id_column is not None and rows[row][2] is None:
            skipped.append(Skipped(source_id, f"id missing (row {row} has no {id_column!r} value)"))
        elif counts[source_id] > 1:
            skipped.append(Skipped(source_id, f"row {row} shares its {id_column!r} value with another row"))
        elif row in problems:
            skipped.append(Skipped(source_id, problems[row]))
        else:
            entries.append((key, source_id, row))
    return entries, skipped


class HFDatasetSource(Source):
    """Samples from a ``datasets.Dataset`` (or a ``DatasetDict`` with ``split=``)."""

    def __init__(
        self,
        dataset: Any,
        *,
        image_column: str = "image",
        mask_column: str = "mask",
        label_column: str | None = "label",
        id_column: str | None = None,
        split: str | None = None,
        default_class: str = "object",
        options: LoadOptions | None = None,
        name: str | None = None,
        auto_mask: Any = None,
        root: str | os.PathLike[str] | None = None,
    ):
        import datasets

        dataset = _one_split(dataset, split)
        if auto_mask is not None:
            mask_column = None  # the maker makes the masks; a mask column, if any, is not read
        wanted = [c for c in (image_column, mask_column, label_column, id_column) if c is not None]
        missing = [c for c in wanted if c not in dataset.column_names]
        if missing:
            raise ValueError(f"column(s) {missing} not in the dataset; columns: {dataset.column_names}")
        features = dataset.features
        if not isinstance(features[image_column], datasets.Image):
            raise TypeError(
                f"column {image_column!r} must be a datasets.Image feature, got {type(features[image_column]).__name__}"
            )
        self.options = options or LoadOptions()
        self.image_column, self.mask_column = image_column, mask_column
        self.mask_maker = auto_mask
        self._mask_is_image = mask_column is not None and isinstance(features[mask_column], datasets.Image)
        encoded = dataset.select_columns(wanted).cast_column(image_column, datasets.Image(decode=False))
        if self._mask_is_image:
            encoded = encoded.cast_column(mask_column, datasets.Image(decode=False))
        self._dataset = encoded

        label_feature = features[label_column] if label_column is not None else None
        label_names = label_feature.names if isinstance(label_feature, datasets.ClassLabel) else None

        columns = _Columns(image_column, mask_column, label_column, id_column, self._mask_is_image)
        #: the only folder a row's file path (a row without embedded bytes) may be read from
        self.root = Path(root) if root is not None else None
        rows, problems = _list_rows(encoded.with_format("arrow"), columns, label_names, default_class, self.root)
        entries, skipped = _identified_rows(rows, problems, id_column)
        self._entries = sorted(entries)
        if label_names is not None:
            classes = set(label_names)
        elif label_column is None:
            classes = {default_class}
        else:
            classes = {key for key, _, _ in entries}
        info_name = getattr(dataset.info, "dataset_name", None) or getattr(dataset.info, "builder_name", None)
        super().__init__(name=name or info_name or "hf_dataset", items=[], skipped=skipped, classes=classes)
        if auto_mask is not None:
            from ximagenet12.sources.photos import automatic_masks_note

            self.notes = automatic_masks_note(auto_mask)

    def items(self) -> Iterator[SourceItem]:
        for class_key, source_id, row in self._entries:
            record = self._dataset[row]
            image = _encoded(record[self.image_column])
            if self.mask_maker is not None:
                from ximagenet12.sources.automask import load_auto_masked
                from ximagenet12.sources.base import class_names_for

                load = partial(load_auto_masked, image, maker=self.mask_maker, box=None, source_id=source_id,
                               class_key=class_key, class_name=class_names_for([class_key])[0],
                               max_pixels=self.options.max_pixels)
                yield SourceItem(source_id, class_key, load)
                continue
            raw_mask = record[self.mask_column]
            mask = _encoded(raw_mask) if self._mask_is_image else raw_mask  # made an array in the worker
            load = partial(load_hf_row, image, mask, source_id=source_id, class_key=class_key, options=self.options)
            yield SourceItem(source_id, class_key, load)

    def __len__(self) -> int:
        return len(self._entries)
