"""Parquet writing: atomic part files per block, merged into Hub-sized shards.

Every file is written under a temporary name in its final folder and moved into place
with :func:`os.replace`, so a file under a final name is always complete.

A build writes one *part* per (block of samples, config), as it goes; when every block
is done, :func:`finalize_parts` always streams a config's parts through
:func:`merge_parts` into shards named ``<split>-00000-of-0000N.parquet``, in row groups
of :data:`~ximagenet12.constants.ROWS_PER_ROW_GROUP` rows (fewer only for the last group,
or when 100 rows would hold more than :data:`~ximagenet12.constants.ROW_GROUP_IMAGE_BYTES`
of images, so the Hub's viewer still reads them), closing a shard once it holds
``MAX_SHARD_BYTES`` of data. A part's own row groups follow the builder's write buffer
(often 10-30 rows), so no part is ever published as it is.

Shards are written the way ``datasets`` writes parquet by default (its ``ParquetWriter``
and ``Dataset.to_parquet``): a page index, content-defined chunking with
``datasets.config.DEFAULT_CDC_OPTIONS`` (recorded in the file's key-value metadata, as
``datasets`` does; it lets the Hub's Xet storage deduplicate a re-published shard), image
bytes stored uncompressed with PLAIN encoding (JPEG and PNG do not shrink further), the
other columns snappy-compressed with dictionaries. Parts are temporary and skip the
page index and chunking.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ximagenet12.builder.schema import COLUMNS
from ximagenet12.builder.worker import Row
from ximagenet12.constants import MAX_SHARD_BYTES, ROW_GROUP_IMAGE_BYTES, ROWS_PER_ROW_GROUP

__all__ = [
    "Row",
    "PartWriter",
    "arrow_num_bytes",
    "atomic_write_bytes",
    "cdc_options",
    "finalize_parts",
    "merge_parts",
    "rows_to_table",
    "shard_name",
]

#: The leaves of the embedded image columns: stored uncompressed and PLAIN-encoded.
_EMBEDDED = ("image", "mask")


def _column_options(schema: pa.Schema) -> dict[str, Any]:
    """Per-leaf ``compression``, ``use_dictionary`` and ``column_encoding``, as ``datasets`` sets them.

    (``datasets.arrow_writer.get_parquet_column_options`` does the same from the features,
    but only in releases newer than this project's ``datasets`` floor.)
    """
    compression: dict[str, str] = {}
    dictionary: list[str] = []
    encoding: dict[str, str] = {}
    for field in schema:
        leaves = [f"{field.name}.{child.name}" for child in field.type] if pa.types.is_struct(field.type) else [field.name]
        for leaf in leaves:
            if field.name in _EMBEDDED:
                compression[leaf] = "NONE"
                encoding[leaf] = "PLAIN"
            else:
                compression[leaf] = "SNAPPY"
                dictionary.append(leaf)
    return {"compression": compression, "use_dictionary": dictionary, "column_encoding": encoding}


def cdc_options() -> dict[str, int]:
    """``datasets``' default content-defined chunking options (importing ``datasets`` costs
    ~0.6 s: a build reads them once in the driver and hands them to the merging workers)."""
    from datasets import config

    return dict(config.DEFAULT_CDC_OPTIONS)


def _writer(path: Path, schema: pa.Schema, *, final: bool = True,
            cdc: dict[str, int] | None = None) -> pq.ParquetWriter:
    """A parquet writer for a shard (``final``: page index and content-defined chunking) or a part."""
    if not final:
        return pq.ParquetWriter(str(path), schema, **_column_options(schema))
    cdc = cdc_options() if cdc is None else cdc
    writer = pq.ParquetWriter(
        str(path), schema, write_page_index=True, use_content_defined_chunking=cdc, **_column_options(schema)
    )
    writer.add_key_value_metadata({"content_defined_chunking": json.dumps(cdc)})
    return writer


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        tmp.write_bytes(data)
    except BaseException:  # e.g. a full disk: no half-written temporary file stays behind
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def rows_to_table(rows: Sequence[Row], schema: pa.Schema) -> pa.Table:
    """Rows (tuples in :data:`COLUMNS` order) as an Arrow table with ``schema``."""
    columns: list[Any] = list(zip(*rows)) if rows else [[] for _ in COLUMNS]
    arrays = []
    for name, values in zip(COLUMNS, columns):
        field = schema.field(name)
        if name in ("image", "mask"):
            arrays.append(
                pa.StructArray.from_arrays(
                    [pa.array(values, type=pa.binary()), pa.nulls(len(values), type=pa.string())],
                    fields=list(field.type),
                )
            )
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class PartWriter:
    """Streams rows of one (block, config) into ``path``; the file appears only on :meth:`commit`."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path = Path(path)
        self.schema = schema
        self.rows = 0
        self._tmp = _tmp_name(self.path)
        self._writer: pq.ParquetWriter | None = None

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = _writer(self._tmp, self.schema, final=False)
        self._writer.write_table(rows_to_table(rows, self.schema), row_group_size=ROWS_PER_ROW_GROUP)
        self.rows += len(rows)

    def commit(self) -> None:
        """Close and move into place (an empty part is written too: it records the block)."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = _writer(self._tmp, self.schema, final=False)
        self._writer.close()
        self._writer = None
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the temporary file; never raises (it runs while another error is on its way)."""
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - e.g. a full disk: the first error is the one to report
                pass
            self._writer = None
        try:
            self._tmp.unlink(missing_ok=True)
        except OSError:
            pass


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def _batch_bytes(table: pa.Table) -> int:
    return int(table.nbytes)


def _row_bytes(table: pa.Table) -> np.ndarray:
    """Bytes of image + mask per row: what decides a row group's size."""
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for name in ("image", "mask"):
        column = table.column(name).combine_chunks()
        sizes += pc.fill_null(pc.binary_length(column.field("bytes")), 0).to_numpy(zero_copy_only=False)
    return sizes


def merge_parts(
    parts: Iterable[Path],
    folder: Path,
    schema: pa.Schema,
    *,
    split: str = "train",
    rows_per_group: int = ROWS_PER_ROW_GROUP,
    max_group_bytes: int = ROW_GROUP_IMAGE_BYTES,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    cdc: dict[str, int] | None = None,
) -> tuple[list[Path], int, int]:
    """Stream ``parts`` (in order) into shards in ``folder``.

    Row groups hold ``rows_per_group`` rows, or fewer where those rows' images would
    exceed ``max_group_bytes``. ``cdc``: :func:`cdc_options`, when the caller has them.

    Returns (shard paths, rows, bytes of Arrow data written). Any earlier shard of
    ``split`` in ``folder`` is removed first, so a merge can be re-run after a crash.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{split}-*.parquet"):
        old.unlink()
    for old in folder.glob(f".{split}-*.tmp"):
        old.unlink()
    tmps: list[Path] = []
    writer: pq.ParquetWriter | None = None
    shard_bytes = total_rows = total_bytes = 0
    pending: list[pa.Table] = []
    pending_rows = pending_bytes = 0

    def flush(n: int) -> None:
        nonlocal writer, shard_bytes, total_rows, total_bytes, pending, pending_rows, pending_bytes
        table = pa.concat_tables(pending)
        sizes = _row_bytes(table)
        n = max(1, int((np.cumsum(sizes[:n]) <= max_group_bytes).sum()))  # fewer rows if images are big
        group, rest = table.slice(0, n), table.slice(n)
        pending, pending_rows, pending_bytes = ([rest] if rest.num_rows else []), rest.num_rows, int(sizes[n:].sum())
        size = _batch_bytes(group)
        if writer is not None and shard_bytes + size > max_shard_bytes:  # this group starts the next shard
            writer.close()
            writer = None
        if writer is None:
            tmps.append(folder / f".{split}-{len(tmps):05d}.{os.getpid()}.tmp")
            writer = _writer(tmps[-1], schema, cdc=cdc)
            shard_bytes = 0
        writer.write_table(group, row_group_size=n)
        shard_bytes += size
        total_bytes += size
        total_rows += group.num_rows
        if shard_bytes >= max_shard_bytes:
            writer.close()
            writer = None

    try:
        for part in parts:
            pf = pq.ParquetFile(part)
            for i in range(pf.num_row_groups):
                table = pf.read_row_group(i)
                if table.num_rows == 0:
                    continue
                pending.append(table.replace_schema_metadata(schema.metadata))
                pending_rows += table.num_rows
                pending_bytes += int(_row_bytes(table).sum())
                while pending_rows >= rows_per_group or pending_bytes >= max_group_bytes:
                    flush(rows_per_group)
        while pending_rows:
            flush(pending_rows)
        if writer is None and not tmps:  # no rows at all: one empty shard keeps the config loadable
            tmps.append(folder / f".{split}-00000.{os.getpid()}.tmp")
            writer = _writer(tmps[-1], schema, cdc=cdc)
        if writer is not None:
            writer.close()
            writer = None
    except BaseException:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - e.g. a full disk: the first error is the one to report
                pass
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    finals = [folder / shard_name(split, i, len(tmps)) for i in range(len(tmps))]
    for tmp, final in zip(tmps, finals):
        os.replace(tmp, final)
    return finals, total_rows, total_bytes


def finalize_parts(
    parts: Iterable[Path],
    folder: Path,
    schema: pa.Schema,
    *,
    split: str = "train",
    max_shard_bytes: int = MAX_SHARD_BYTES,
    cdc: dict[str, int] | None = None,
) -> tuple[list[Path], int, int]:
    """A config's parts (in block order) as its shards in ``folder``, always regrouped.

    Returns (shard paths, rows, ``num_bytes``: the in-memory Arrow size ``datasets``
    computes for the split). Re-running it after a crash gives the same shards; the
    parts are left in place.
    """
    files, rows, _ = merge_parts(list(parts), folder, schema, split=split, max_shard_bytes=max_shard_bytes, cdc=cdc)
    return files, rows, sum(arrow_num_bytes(f) for f in files)


def arrow_num_bytes(path: Path) -> int:
    """The in-memory Arrow size of a shard as ``datasets`` measures it when it loads the file.

    ``datasets``' parquet loader scans the file as a ``pyarrow.dataset`` fragment in
    batches of the first row group's size (no readahead) and adds up ``Table.nbytes``;
    the same scan is made here. (The tables sliced and concatenated during the merge
    differ from those by a few bitmap bytes, so the file is read back.) Each batch's
    memory is handed back at once, so memory stays flat whatever the shard's size.
    """
    import pyarrow.dataset as pads

    with open(path, "rb") as fh:
        scan = pads.ParquetFragmentScanOptions(pre_buffer=False)  # read one row group at a time
        fragment = pads.ParquetFileFormat(default_fragment_scan_options=scan).make_fragment(fh)
        if not fragment.row_groups:
            return 0
        total = 0
        batches = fragment.to_batches(batch_size=fragment.row_groups[0].num_rows, batch_readahead=0, use_threads=False,
                                      fragment_readahead=0)
        for batch in batches:
            total += pa.Table.from_batches([batch]).nbytes
            del batch
            pa.default_memory_pool().release_unused()
        return total
