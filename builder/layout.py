"""Where a build's files live: the output folder, its work folder, parts and block records.

``<out>/data/<config>/*.parquet``, ``README.md``, ``skipped.jsonl`` and
``build_info.json`` are the build's own files; ``<out>/.cache/ximagenet12-build/`` holds
``state.json`` (the settings fingerprint), ``blocks.json`` (the block size), one part per
(config, block) under ``parts/``, one record per finished block under ``blocks/`` and the
staged shards under ``final/``. ``.cache`` is never uploaded to the Hub. What the build
may delete and when it refuses a folder is decided in :mod:`ximagenet12.builder.safety`.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ximagenet12.builder.safety import (
    BUILD_INFO,
    CARD_FILE,
    DATA_DIR,
    SKIPPED_FILE,
    WORK_DIR,
    OutPlan,
    apply_fresh,
    plan_out_dir,
    read_build_info,
)
from ximagenet12.builder.writer import atomic_write_bytes

__all__ = [
    "BUILD_INFO",
    "CARD_FILE",
    "DATA_DIR",
    "SKIPPED_FILE",
    "STATE_FORMAT",
    "WORK_DIR",
    "block_record",
    "destination_path",
    "is_previous_build",
    "part_path",
    "prepare_out_dir",
    "remember_block_samples",
    "remembered_block_samples",
    "write_error",
]

STATE_FORMAT = 1


def is_previous_build(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a (finished or interrupted) ximagenet12 build."""
    folder = Path(folder)
    return read_build_info(folder) is not None or (folder / WORK_DIR / "state.json").is_file()


def destination_path(out: str | os.PathLike[str]) -> Path:
    """The output folder as a local path: a path, or a ``file://`` URL (a shared file system on a cluster)."""
    text = os.fspath(out)
    if isinstance(text, str) and "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "file":
            raise ValueError(
                f"output {text!r}: only local paths and file:// URLs are written to; for {parts.scheme}:// "
                "mount the bucket (e.g. s3fs, gcsfuse) on every node and pass the mount path"
            )
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"output {text!r}: a file:// URL names a local path (file:///abs/path), not host {parts.netloc!r}")
        text = unquote(parts.path)
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output path {path} exists and is not a folder")
    return path


def prepare_out_dir(out: Path, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan:
    """Plan what to do with ``out`` (refusing what would destroy or mix data), then do it."""
    plan = plan_out_dir(out, resume=resume, overwrite=overwrite, fingerprint=fingerprint)
    if plan.action == "fresh":
        apply_fresh(out, plan)
        work = out / WORK_DIR
        work.mkdir(parents=True)
        atomic_write_bytes(work / "state.json", json.dumps({"format": STATE_FORMAT, "fingerprint": fingerprint}).encode())
    return plan


def block_record(work: Path, block: int) -> Path:
    """The file whose presence says that ``block`` is done (rows and skips inside)."""
    return work / "blocks" / f"block-{block:06d}.json"


def part_path(work: Path, config: str, block: int) -> Path:
    """The part file of one (config, block)."""
    return work / "parts" / config / f"block-{block:06d}.parquet"


def remembered_block_samples(work: Path) -> int | None:
    """The block size an earlier run of this build chose automatically (``None``: none yet)."""
    path = work / "blocks.json"
    return int(json.loads(path.read_text(encoding="utf-8"))["block_samples"]) if path.is_file() else None


def remember_block_samples(work: Path, block_samples: int) -> None:
    """Keep the block size, so a resumed build cuts the same blocks whatever its worker count."""
    atomic_write_bytes(work / "blocks.json", json.dumps({"block_samples": int(block_samples)}).encode())


def write_error(out: Path, exc: OSError) -> OSError:
    """One clear line for a failed write (full disk, no permission, ...)."""
    what = exc.strerror or str(exc)
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
