"""Parquet writing: atomic part files per block, merged into Hub-sized shards.

Every file is written under a temporary name in its final folder and moved into place
with :func:`os.replace`, so a file under a final name is always complete.

A build writes one *part* per (block of samples, config), as it goes; when every block
is done, :func:`finalize_parts` always streams a config's parts through
:func:`merge_parts` into shards named ``<split>-00000-of-0000N.parquet``, in row groups
of :data:`~ximagenet12.core.constants.ROWS_PER_ROW_GROUP` rows (fewer only for the last group,
or when 100 rows would hold more than :data:`~ximagenet12.core.constants.ROW_GROUP_IMAGE_BYTES`
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
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ximagenet12.builder.schema import COLUMNS
from ximagenet12.builder.worker import Row
from ximagenet12.core.constants import MAX_SHARD_BYTES, ROW_GROUP_IMAGE_BYTES, ROWS_PER_ROW_GROUP

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
    sink = _ShardSink(folder, schema, split=split, max_shard_bytes=max_shard_bytes, cdc=cdc)
    pending = _PendingRows(max_group_bytes)
    try:
        for table in _row_groups(parts, schema):
            pending.add(table)
            while pending.rows >= rows_per_group or pending.bytes >= max_group_bytes:
                sink.write(pending.take(rows_per_group))
        while pending.rows:
            sink.write(pending.take(pending.rows))
        tmps = sink.close()
    except BaseException:
        sink.abort()
        raise
    finals = [folder / shard_name(split, i, len(tmps)) for i in range(len(tmps))]
    for tmp, final in zip(tmps, finals):
        os.replace(tmp, final)
    return finals, sink.rows, sink.bytes


def _row_groups(parts: Iterable[Path], schema: pa.Schema) -> Iterator[pa.Table]:
    """Every non-empty row group of ``parts``, in order, with ``schema``'s metadata."""
    for part in parts:
        pf = pq.ParquetFile(part)
        for i in range(pf.num_row_groups):
            table = pf.read_row_group(i)
            if table.num_rows:
                yield table.replace_schema_metadata(schema.metadata)


class _PendingRows:
    """Rows read but not yet written, cut into row groups of at most ``max_group_bytes`` of images."""

    def __init__(self, max_group_bytes: int):
        self.max_group_bytes = max_group_bytes
        self.tables: list[pa.Table] = []
        self.rows = self.bytes = 0

    def add(self, table: pa.Table) -> None:
        self.tables.append(table)
        self.rows += table.num_rows
        self.bytes += int(_row_bytes(table).sum())

    def take(self, n: int) -> pa.Table:
        """The next row group: ``n`` rows, or fewer (at least one) if their images are big."""
        table = pa.concat_tables(self.tables)
        sizes = _row_bytes(table)
        n = max(1, int((np.cumsum(sizes[:n]) <= self.max_group_bytes).sum()))
        group, rest = table.slice(0, n), table.slice(n)
        self.tables, self.rows, self.bytes = ([rest] if rest.num_rows else []), rest.num_rows, int(sizes[n:].sum())
        return group


class _ShardSink:
    """Temporary shard files of one split; a shard is closed once it holds ``max_shard_bytes``."""

    def __init__(self, folder: Path, schema: pa.Schema, *, split: str, max_shard_bytes: int,
                 cdc: dict[str, int] | None):
        self.folder, self.schema, self.split, self.cdc = folder, schema, split, cdc
        self.max_shard_bytes = max_shard_bytes
        self.tmps: list[Path] = []
        self.writer: pq.ParquetWriter | None = None
        self.shard_bytes = self.rows = self.bytes = 0

    def write(self, group: pa.Table) -> None:
        size = _batch_bytes(group)
        if self.writer is not None and self.shard_bytes + size > self.max_shard_bytes:  # starts the next shard
            self._close_shard()
        if self.writer is None:
            self._open_shard()
        self.writer.write_table(group, row_group_size=group.num_rows)
        self.shard_bytes += size
        self.bytes += size
        self.rows += group.num_rows
        if self.shard_bytes >= self.max_shard_bytes:
            self._close_shard()

    def close(self) -> list[Path]:
        """Close the last shard; the temporary files, in order (one empty shard if no row came)."""
        if self.writer is None and not self.tmps:  # no rows at all: one empty shard keeps the config loadable
            self._open_shard()
        if self.writer is not None:
            self._close_shard()
        return self.tmps

    def abort(self) -> None:
        """Close quietly and remove every temporary file (the caller re-raises the first error)."""
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - e.g. a full disk: the first error is the one to report
                pass
            self.writer = None
        for tmp in self.tmps:
            tmp.unlink(missing_ok=True)

    def _open_shard(self) -> None:
        self.tmps.append(self.folder / f".{self.split}-{len(self.tmps):05d}.{os.getpid()}.tmp")
        self.writer = _writer(self.tmps[-1], self.schema, cdc=self.cdc)
        self.shard_bytes = 0

    def _close_shard(self) -> None:
        self.writer.close()
        self.writer = None


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
