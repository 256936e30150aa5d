"""What keeps a build from destroying or mixing data (issue 17), as small named steps.

- :func:`check_out_vs_source`: an output folder that is, contains or lies inside the
  source is refused before anything is touched.
- :func:`plan_out_dir`: decide what a build does with its output folder — start fresh,
  resume an interrupted build, or nothing (the same build is already finished) — and
  which files it may delete first: only those a ximagenet12 build wrote, as listed in the
  folder's own manifest (``build_info.json`` ``files``), never a user's ``README.md`` or
  ``data/``. :func:`plan_store` makes the same decision for a folder (prefix) in an
  object store, from a listing of its keys.
- :func:`remove_temporary_files`: after a failure, no ``*.tmp`` file is left behind.

The lock that keeps two runs out of one folder is :mod:`ximagenet12.io.locking`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal

from ximagenet12.io.owned import _link_on_the_way, exact_paths, is_exact_path, refuse_links

__all__ = [
    "BUILD_INFO",
    "CARD_FILE",
    "DATA_DIR",
    "SKIPPED_FILE",
    "WORK_DIR",
    "OutPlan",
    "apply_fresh",
    "apply_fresh_store",
    "check_out_vs_source",
    "manifest_files",
    "plan_out_dir",
    "plan_store",
    "read_build_info",
    "remove_temporary_files",
    "source_roots",
]

BUILD_INFO = "build_info.json"
SKIPPED_FILE = "skipped.jsonl"
CARD_FILE = "README.md"
DATA_DIR = "data"
#: Work folder for parts and block records (``.cache`` is never uploaded to the Hub).
WORK_DIR = Path(".cache") / "ximagenet12-build"
#: What a build writes at the top of its folder (besides ``data/``).
_TOP_FILES = (CARD_FILE, SKIPPED_FILE, BUILD_INFO)


# --------------------------------------------------------------------------- source vs out


def source_roots(spec: Any, source: Any) -> list[Path]:
    """The folders a source reads from: the path given, and the reader's own folders."""
    roots: list[Path] = []
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        roots.append(path.parent if path.is_file() else path)
    for attr in ("root", "images_dir", "masks_dir"):
        value = getattr(source, attr, None)
        if isinstance(value, (str, os.PathLike)):
            roots.append(Path(value))
    return roots


def check_out_vs_source(out: Path, roots: Iterable[Path]) -> None:
    """Refuse an output folder that is, contains, or lies inside a source folder."""
    target = out.resolve()
    for root in roots:
        real = root.resolve()
        if target == real or target.is_relative_to(real) or real.is_relative_to(target):
            where = "is" if target == real else "lies inside" if target.is_relative_to(real) else "contains"
            raise ValueError(
                f"refusing to build into {out}: it {where} the source folder {root}; "
                "choose an output folder outside the source"
            )


# --------------------------------------------------------------------------- manifest


def read_build_info(out: Path) -> dict[str, Any] | None:
    """The folder's ``build_info.json`` when it is a ximagenet12 build's, else ``None``."""
    try:
        info = json.loads((out / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("builder") == "ximagenet12" else None


class _LegacyShards(str):
    """``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` of a build from before the ``files``
    list: matched by that exact shape of name inside that one folder (not a glob)."""

    folder: str
    split: str

    def __new__(cls, config: str, split: str) -> _LegacyShards:
        self = super().__new__(cls, f"{DATA_DIR}/{config}/{split}-NNNNN-of-NNNNN.parquet")
        self.folder, self.split = f"{DATA_DIR}/{config}", split
        return self

    def matches(self, name: str) -> bool:
        return re.fullmatch(re.escape(self.split) + r"-\d{5}-of-\d{5}\.parquet", name) is not None


def manifest_files(info: dict[str, Any]) -> list[str]:
    """Relative paths of the files a finished build wrote, from its ``build_info.json``.

    Builds that predate the ``files`` list wrote the card, ``skipped.jsonl``,
    ``build_info.json`` and ``data/<config>/<split>-NNNNN-of-NNNNN.parquet`` of their configs
    (such an entry matches that shape of name in that folder only). Entries that are not
    exact relative paths (globs, ``..``, absolute paths) are dropped: they name nothing.
    """
    files = info.get("files")
    if isinstance(files, list) and all(isinstance(f, str) for f in files):
        return exact_paths(files)
    split = str(info.get("split", "train"))
    configs = [c for c in (info.get("rows") or {}) if is_exact_path(c) and "/" not in c]
    return [*_TOP_FILES, *(_LegacyShards(c, split) for c in configs)]


def _expand(out: Path, entries: Iterable[str]) -> set[Path]:
    """The regular files ``entries`` name in ``out``: exact relative paths only (issue 25: a
    tampered manifest's ``*``, ``**/*``, ``..`` or absolute path names nothing), never
    through a symbolic link. Legacy shard names (:func:`manifest_files`) match a fixed
    pattern of names in their one folder, never a glob."""
    found: set[Path] = set()
    for entry in entries:
        if isinstance(entry, _LegacyShards):
            folder = out / entry.folder
            if folder.is_dir() and not folder.is_symlink() and _link_on_the_way(out, entry.folder) is None:
                found.update(p for p in folder.iterdir() if entry.matches(p.name) and p.is_file() and not p.is_symlink())
        elif is_exact_path(entry) and _link_on_the_way(out, entry) is None:
            path = out / entry
            if path.is_file():
                found.add(path)
    return found


# --------------------------------------------------------------------------- the plan


@dataclass
class OutPlan:
    """What the build does with its output folder.

    ``action``: ``fresh`` (delete ``delete``, then build), ``resume`` (continue the
    interrupted build in the work folder) or ``finished`` (the same build is already
    there: nothing to do). ``info``: the finished build's ``build_info.json``.
    """

    action: Literal["fresh", "resume", "finished"]
    delete: list[Path] = field(default_factory=list)
    info: dict[str, Any] | None = None


def _changed(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return ", ".join(keys) or "unknown format"


def _foreign(out: Path, owned: set[Path]) -> list[str]:
    """Files where the build writes (the card, skipped.jsonl, build_info.json, data/)
    that no ximagenet12 build wrote."""
    places = [out / name for name in _TOP_FILES if (out / name).exists() or (out / name).is_symlink()]
    data = out / DATA_DIR
    if data.is_dir() and not data.is_symlink():
        places += [p for p in data.rglob("*") if not p.is_dir() or p.is_symlink()]
    elif data.exists() or data.is_symlink():
        places.append(data)
    return sorted(p.relative_to(out).as_posix() for p in places if p not in owned)


def _decide(out: Any, *, state: dict[str, Any] | None, info: dict[str, Any] | None, other_files: bool,
            resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan | None:
    """The choice every destination shares: resume, nothing to do, refuse (``ValueError``),
    or ``None``: start fresh (after the caller's check of what would be replaced)."""
    if state is not None:  # an interrupted build
        if resume:
            if state.get("fingerprint") != fingerprint:
                raise ValueError(
                    f"cannot resume the build in {out}: it was started with different settings "
                    f"({_changed(fingerprint, state.get('fingerprint') or {})}); rerun without resume and with "
                    "overwrite=True (--overwrite) to start again"
                )
            return OutPlan("resume")
        if not overwrite:
            raise ValueError(
                f"{out} holds an interrupted build: pass resume=True (--resume) to continue it "
                "or overwrite=True (--overwrite) to start again"
            )
    elif info is not None:  # a finished build
        same = info.get("settings") == fingerprint
        if same and resume:
            return OutPlan("finished", info=info)
        if not same and not overwrite:
            verb = "resume into" if resume else "rebuild"
            raise ValueError(
                f"refusing to {verb} {out}: it holds a finished build with other settings "
                f"({_changed(fingerprint, info.get('settings') or {})}); pass overwrite=True (--overwrite) "
                "to replace it, or choose another folder"
            )
    elif other_files and not overwrite:
        raise ValueError(
            f"refusing to write into {out}: it is not empty and holds no ximagenet12 build "
            f"({BUILD_INFO}); choose an empty or new folder, or pass overwrite=True (--overwrite), "
            "which never deletes files a build did not write"
        )
    return None


def _refuse_foreign(out: Any, foreign: list[str]) -> None:
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        them = "it" if len(foreign) == 1 else "them"
        raise ValueError(
            f"refusing to build into {out}: {shown} would be replaced but no ximagenet12 build wrote "
            f"{them}; move {them} away or choose another folder"
        )


def plan_out_dir(out: Path, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan:
    """Decide what to do with ``out`` (see :class:`OutPlan`); raise ``ValueError`` to refuse.

    Nothing is changed here: the caller applies the plan with :func:`apply_fresh`.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder")
    # a link at .cache, the work folder or data/ would make the build write (and clean) a user's folder
    refuse_links(out, [(WORK_DIR / "state.json").as_posix(), DATA_DIR], what="build into")
    work = out / WORK_DIR
    state = _read_json(work / "state.json")
    info = read_build_info(out)
    other = out.is_dir() and any(p.name != ".cache" for p in out.iterdir())
    decided = _decide(out, state=state, info=info, other_files=other, resume=resume, overwrite=overwrite,
                      fingerprint=fingerprint)
    if decided is not None:
        return decided
    owned = _expand(out, manifest_files(info)) if info is not None else set()
    if state is not None:  # files an interrupted build had started to put in place
        owned |= _expand(out, [f for f in state.get("files") or [] if isinstance(f, str)])
    _refuse_foreign(out, _foreign(out, owned))
    # build_info.json first: a half-emptied folder must never look like a finished build
    return OutPlan("fresh", delete=sorted(owned, key=lambda p: (p != out / BUILD_INFO, p.as_posix())))


# --------------------------------------------------------------------------- object stores


def _store_json(path: Any) -> dict[str, Any] | None:
    """An object's JSON (``None``: no such object; ``{}``: unreadable), like :func:`_read_json`."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text())
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _matches(rel: str, entries: Iterable[str]) -> bool:
    """Whether ``rel`` is one of the manifest's exact paths (or a legacy shard name; never a glob)."""
    for entry in entries:
        if isinstance(entry, _LegacyShards):
            folder, _, name = rel.rpartition("/")
            if folder == entry.folder and entry.matches(name):
                return True
        elif entry == rel and is_exact_path(entry):
            return True
    return False


def plan_store(out: Any, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan:
    """:func:`plan_out_dir` for a folder (prefix) in an object store (a
    :class:`ximagenet12.io.storage.StorePath`); ``delete`` holds keys relative to ``out``."""
    if out.is_file():
        raise ValueError(f"output {out} is an object, not a folder (prefix)")
    files = out.files()
    state = _store_json(out / WORK_DIR / "state.json")
    info = _store_json(out / BUILD_INFO)
    if info is not None and info.get("builder") != "ximagenet12":
        info = None
    mine = [f for f in files if not f.startswith(".cache/")]
    decided = _decide(out, state=state, info=info, other_files=bool(mine), resume=resume, overwrite=overwrite,
                      fingerprint=fingerprint)
    if decided is not None:
        return decided
    patterns = manifest_files(info) if info is not None else []
    if state is not None:
        patterns += [f for f in state.get("files") or [] if isinstance(f, str)]
    owned = {f for f in mine if _matches(f, patterns)}
    places = [f for f in mine if f in _TOP_FILES or f.startswith(f"{DATA_DIR}/") or f == DATA_DIR]
    _refuse_foreign(out, sorted(f for f in places if f not in owned))
    return OutPlan("fresh", delete=sorted(owned, key=lambda f: (f != BUILD_INFO, f)))


def apply_fresh_store(out: Any, plan: OutPlan) -> None:
    """:func:`apply_fresh` for an object store: the listed keys (``build_info.json`` first),
    then the old work folder."""
    for rel in plan.delete:
        (out / rel).unlink()
    (out / WORK_DIR).remove_tree()


def apply_fresh(out: Path, plan: OutPlan) -> None:
    """Delete what the plan lists (``build_info.json`` first, so a half-deleted folder
    never looks finished), empty folders under ``data/`` and the old work folder."""
    for path in plan.delete:
        path.unlink(missing_ok=True)
    data = out / DATA_DIR
    if data.is_dir():
        for folder in sorted((p for p in data.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            _rmdir(folder)
        _rmdir(data)
    if (out / WORK_DIR).exists():
        shutil.rmtree(out / WORK_DIR)


def _rmdir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- failures


def remove_temporary_files(out: Path) -> None:
    """Remove the build's temporary files (``.<name>.<pid>.tmp``) anywhere in ``out``.

    (An object store holds none: its objects are uploaded whole from local scratch.)"""
    if not isinstance(out, Path):
        return
    found = [*out.glob(".*.tmp"), *(out / DATA_DIR).rglob(".*.tmp"), *(out / WORK_DIR).rglob(".*.tmp")]
    for path in found:
        try:
            if path.is_file() and not path.is_symlink():
                path.unlink()
        except OSError:
            pass
