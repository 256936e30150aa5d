"""Where a build's files live: the output folder, its work folder, parts and block records.

``<out>/data/<config>/*.parquet``, ``README.md``, ``skipped.jsonl`` and
``build_info.json`` are the build's own files; ``<out>/.cache/ximagenet12-build/`` holds
``state.json`` (the settings fingerprint), ``blocks.json`` (the block size), one part per
(config, block) under ``parts/``, one record per finished block under ``blocks/`` and the
staged shards under ``final/``. ``.cache`` is never uploaded to the Hub. What the build
may delete and when it refuses a folder is decided in :mod:`ximagenet12.builder.safety`.

The output may also be a folder (prefix) in an object store (a
:class:`ximagenet12.io.storage.StorePath`, from an ``s3://``, ``gs://``, ... URL): the same
layout, as keys. There every file is written locally first and uploaded whole in one
request (:func:`write_file`, :class:`StorePartWriter`), since object stores have no
rename; an object under its final key is therefore always complete.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from ximagenet12.builder.safety import (
    BUILD_INFO,
    CARD_FILE,
    DATA_DIR,
    SKIPPED_FILE,
    WORK_DIR,
    OutPlan,
    apply_fresh,
    apply_fresh_store,
    plan_out_dir,
    plan_store,
    read_build_info,
)
from ximagenet12.builder.writer import PartWriter, Row, atomic_write_bytes
from ximagenet12.io.storage import StorePath, destination, scrub

__all__ = [
    "BUILD_INFO",
    "CARD_FILE",
    "DATA_DIR",
    "SKIPPED_FILE",
    "STATE_FORMAT",
    "WORK_DIR",
    "StorePartWriter",
    "block_record",
    "destination_path",
    "generation_cache_dir",
    "is_previous_build",
    "open_part",
    "part_path",
    "prepare_out_dir",
    "remember_block_samples",
    "remembered_block_samples",
    "write_error",
    "write_file",
]

STATE_FORMAT = 1


def is_previous_build(folder: str | os.PathLike[str] | StorePath) -> bool:
    """Whether ``folder`` holds a (finished or interrupted) ximagenet12 build."""
    if isinstance(folder, StorePath):
        return (folder / BUILD_INFO).is_file() or (folder / WORK_DIR / "state.json").is_file()
    folder = Path(folder)
    return read_build_info(folder) is not None or (folder / WORK_DIR / "state.json").is_file()


def destination_path(out: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> Path | StorePath:
    """The output folder: a local path (a path, or a ``file://`` URL: a shared file system on a
    cluster), or a folder in an object store (``s3://``, ``gs://``, ... with ``storage_options``)."""
    path = destination(out, storage_options=storage_options)
    if isinstance(path, Path) and path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a folder")
    return path


def write_file(path: Path | StorePath, data: bytes) -> None:
    """Write a whole file: through a temporary name and a rename locally, in one PUT in a store."""
    if isinstance(path, StorePath):
        path.write_bytes(data)
    else:
        atomic_write_bytes(path, data)


def prepare_out_dir(out: Path | StorePath, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan:
    """Plan what to do with ``out`` (refusing what would destroy or mix data), then do it."""
    store = isinstance(out, StorePath)
    plan = (plan_store if store else plan_out_dir)(out, resume=resume, overwrite=overwrite, fingerprint=fingerprint)
    if plan.action == "fresh":
        if store:
            apply_fresh_store(out, plan)
        else:
            apply_fresh(out, plan)
            (out / WORK_DIR).mkdir(parents=True)
        write_file(out / WORK_DIR / "state.json", json.dumps({"format": STATE_FORMAT, "fingerprint": fingerprint}).encode())
    return plan


class StorePartWriter:
    """A part bound for an object store: streamed by a :class:`PartWriter` into local scratch
    (``$TMPDIR``), uploaded whole on :meth:`commit`; nothing reaches the store on :meth:`abort`."""

    def __init__(self, path: StorePath, schema: pa.Schema):
        self.path = path
        self._scratch = Path(tempfile.mkdtemp(prefix="ximagenet12-part-"))
        self._local = PartWriter(self._scratch / path.name, schema)

    @property
    def rows(self) -> int:
        return self._local.rows

    def write(self, rows: Sequence[Row]) -> None:
        self._local.write(rows)

    def commit(self) -> None:
        try:
            self._local.commit()
            self.path.upload(self._local.path)
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def abort(self) -> None:
        self._local.abort()
        shutil.rmtree(self._scratch, ignore_errors=True)


def open_part(path: Path | StorePath, schema: pa.Schema) -> PartWriter | StorePartWriter:
    """The writer of one part file, local or in an object store."""
    return StorePartWriter(path, schema) if isinstance(path, StorePath) else PartWriter(path, schema)


def generation_cache_dir(work: Path | StorePath) -> Path:
    """Where generated images are cached for resume: ``<out>/.cache`` locally; for an object
    store, a local folder per destination (generation reads and writes it image by image)."""
    if not isinstance(work, StorePath):
        return work.parent
    digest = hashlib.sha256(str(work).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "ximagenet12-generation" / digest


def block_record(work: Path, block: int) -> Path:
    """The file whose presence says that ``block`` is done (rows and skips inside)."""
    return work / "blocks" / f"block-{block:06d}.json"


def part_path(work: Path, config: str, block: int) -> Path:
    """The part file of one (config, block)."""
    return work / "parts" / config / f"block-{block:06d}.parquet"


def remembered_block_samples(work: Path | StorePath) -> int | None:
    """The block size an earlier run of this build chose automatically (``None``: none yet)."""
    path = work / "blocks.json"
    return int(json.loads(path.read_text(encoding="utf-8"))["block_samples"]) if path.is_file() else None


def remember_block_samples(work: Path | StorePath, block_samples: int) -> None:
    """Keep the block size, so a resumed build cuts the same blocks whatever its worker count."""
    write_file(work / "blocks.json", json.dumps({"block_samples": int(block_samples)}).encode())


def write_error(out: Path | StorePath, exc: OSError) -> OSError:
    """One clear line for a failed write (full disk, no permission, ...), with no secret in it."""
    what = scrub(exc.strerror or str(exc), getattr(out, "options", None))
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device"
    where = f" ({Path(exc.filename).name})" if exc.filename else ""
    if isinstance(exc, PermissionError):
        return PermissionError(f"cannot write to {out}: {what}{where}")
    fix = "free space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
    return type(exc)(
        f"could not write the build in {out}: {what}{where}. Temporary files were removed and no file of the "
        f"unfinished build has a final name; finished blocks are kept: {fix} and rerun with --resume"
    )
