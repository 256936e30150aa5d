"""Where a build's files live: the output folder, its work folder, parts and block records.

``<out>/data/<config>/*.parquet``, ``README.md``, ``skipped.jsonl`` and
``build_info.json`` are the build's own files (the only ones ``overwrite`` replaces);
``<out>/.cache/ximagenet12-build/`` holds ``state.json`` (the settings fingerprint),
one part per (config, block) under ``parts/`` and one record per finished block under
``blocks/``. ``.cache`` is never uploaded to the Hub.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ximagenet12.builder.writer import atomic_write_bytes

__all__ = [
    "BUILD_INFO",
    "CARD_FILE",
    "DATA_DIR",
    "OWNED",
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
]

BUILD_INFO = "build_info.json"
SKIPPED_FILE = "skipped.jsonl"
CARD_FILE = "README.md"
DATA_DIR = "data"
#: Work folder for parts and block records (``.cache`` is never uploaded to the Hub).
WORK_DIR = Path(".cache") / "ximagenet12-build"
STATE_FORMAT = 1
#: What a build owns in its output folder (all that ``overwrite`` may replace).
OWNED = (DATA_DIR, CARD_FILE, SKIPPED_FILE, BUILD_INFO)


def is_previous_build(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a (finished or interrupted) ximagenet12 build."""
    folder = Path(folder)
    info = folder / BUILD_INFO
    if info.is_file():
        try:
            return json.loads(info.read_text(encoding="utf-8")).get("builder") == "ximagenet12"
        except (OSError, ValueError):
            return False
    return (folder / WORK_DIR / "state.json").is_file()


def destination_path(out: str | os.PathLike[str]) -> Path:
    """The output folder as a local path: a path, or a ``file://`` URL (a shared file system on a cluster).

    Fails now, before any work, when the folder cannot be created or written to.
    """
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
    probe_at = next((p for p in (path, *path.parents) if p.exists()), Path.cwd())
    if probe_at.is_dir():
        _check_writable(path, probe_at)
    return path


def _check_writable(path: Path, existing: Path) -> None:
    try:  # a real probe, not os.access: root, read-only mounts and ACLs all answer truthfully
        fd, probe = tempfile.mkstemp(prefix=".ximagenet12-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"cannot write the output {path}: {existing} is not writable ({exc.strerror or exc})") from exc


def block_record(work: Path, block: int) -> Path:
    """The file whose presence says that ``block`` is done (rows and skips inside)."""
    return work / "blocks" / f"block-{block:06d}.json"


def part_path(work: Path, config: str, block: int) -> Path:
    """The part file of one (config, block)."""
    return work / "parts" / config / f"block-{block:06d}.parquet"


def prepare_out_dir(out: Path, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> Path:
    """Check ``out`` against the options and make its work folder; returns the work folder.

    A fresh build removes what a build owns (:data:`OWNED`) and leaves anything else alone;
    ``resume`` keeps finished blocks when the settings ``fingerprint`` is unchanged.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder")
    work = out / WORK_DIR
    state_path = work / "state.json"
    if out.is_dir() and any(out.iterdir()) and not is_previous_build(out) and not overwrite:
        raise ValueError(
            f"refusing to write into {out}: it is not empty and holds no ximagenet12 build "
            f"({BUILD_INFO}); choose an empty or new folder, or pass overwrite=True (--overwrite), "
            f"which replaces only {', '.join(OWNED)} there"
        )
    if resume and state_path.is_file():
        _check_resumable(out, state_path, fingerprint)
        return work
    if state_path.is_file() and not resume and not overwrite:
        raise ValueError(
            f"{out} holds an interrupted build: pass resume=True (--resume) to continue it "
            "or overwrite=True (--overwrite) to start again"
        )
    for name in OWNED:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    atomic_write_bytes(state_path, json.dumps({"format": STATE_FORMAT, "fingerprint": fingerprint}).encode())
    return work


def remembered_block_samples(work: Path) -> int | None:
    """The block size an earlier run of this build chose automatically (``None``: none yet)."""
    path = work / "blocks.json"
    return int(json.loads(path.read_text(encoding="utf-8"))["block_samples"]) if path.is_file() else None


def remember_block_samples(work: Path, block_samples: int) -> None:
    """Keep the block size, so a resumed build cuts the same blocks whatever its worker count."""
    atomic_write_bytes(work / "blocks.json", json.dumps({"block_samples": int(block_samples)}).encode())


def _check_resumable(out: Path, state_path: Path, fingerprint: dict[str, Any]) -> None:
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except ValueError:
        state = {}
    before = state.get("fingerprint", {})
    if before != fingerprint:
        changed = sorted(k for k in set(fingerprint) | set(before) if fingerprint.get(k) != before.get(k))
        raise ValueError(
            f"cannot resume the build in {out}: it was started with different settings "
            f"({', '.join(changed) or 'unknown format'}); rerun without resume and with overwrite=True "
            "(--overwrite) to start again"
        )
