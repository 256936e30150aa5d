"""An *owned output folder*: the guarantees every command's output folder shares (issue 25).

Every command that writes a folder (``build``, ``evaluate``, ``evaluate-segmentation``,
``analyze``, ``explain``, ``challenge``, ``train``, ``leaderboard``) writes it through
:class:`OwnedFolder`, which keeps four promises:

- **a manifest of exact relative paths**: ``.cache/ximagenet12-output.json`` lists every
  file the command wrote (``.cache`` is never published, so a pushed folder does not carry
  it; ``.cache/.gitignore`` keeps it out of git, as pytest's cache does — the outputs
  themselves carry no ``.gitignore``: they are results to commit or publish). A path is put in the manifest *before* the file gets its name, so a crash leaves
  nothing unowned. The build keeps its own manifest, ``build_info.json`` ``files``, and
  uses the same checks (:func:`exact_paths`, :func:`refuse_links`);
- **no globbing**: a manifest entry is one exact path; ``*``, ``**/*``, ``..``, an absolute
  path or a backslash in it is ignored, so a tampered manifest names nothing it did not write;
- **no symbolic link is followed**: a link anywhere on the way to a file the command writes
  or deletes (``.cache`` included) is refused with one line, never written through;
- **a non-empty folder the command does not own is refused** unless ``overwrite`` is given,
  and even then no file the manifest does not list is ever replaced or deleted.

Files are written under a temporary name in the same folder and renamed into place, so
no reader ever sees a half-written file under a final name::

    folder = OwnedFolder.open("reports/x", command="evaluate", overwrite=False,
                              planned=["report.json", "report.md"])
    folder.write_bytes("report.json", data)
    folder.write_with("heatmap.png", lambda tmp: figure.savefig(tmp))
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

__all__ = ["MANIFEST", "OwnedFolder", "exact_paths", "is_exact_path", "refuse_links"]

#: Where an owned folder keeps its manifest, relative to the folder.
MANIFEST = ".cache/ximagenet12-output.json"
_GLOB = frozenset("*?[]")
#: Keeps the bookkeeping folder out of git; the outputs themselves carry no ``.gitignore``
#: (they are results to commit or publish, and ``push`` refuses hidden files).
_CACHE_IGNORE = ".cache/.gitignore"


def is_exact_path(rel: Any) -> bool:
    """Whether ``rel`` is a plain relative POSIX path inside a folder (no glob, no ``..``)."""
    if not isinstance(rel, str) or not rel or "\\" in rel or "\x00" in rel or _GLOB & set(rel):
        return False
    path = PurePosixPath(rel)
    return not path.is_absolute() and ".." not in path.parts and "." not in rel.split("/") and rel == path.as_posix()


def exact_paths(entries: Iterable[Any]) -> list[str]:
    """The entries of a manifest that are exact relative paths (the others name nothing)."""
    return [e for e in entries if is_exact_path(e)]


def _link_on_the_way(root: Path, rel: str) -> str | None:
    """The first component of ``root/rel`` (the file itself included) that is a symbolic link."""
    here = root
    for part in PurePosixPath(rel).parts:
        here = here / part
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return here.relative_to(root).as_posix()
    return None


def refuse_links(root: Path, rels: Iterable[str], *, what: str) -> None:
    """``ValueError`` when a symbolic link lies on the way to any of ``rels`` under ``root``."""
    for rel in rels:
        link = _link_on_the_way(root, rel)
        if link is not None:
            raise ValueError(
                f"refusing to {what} {root}: {link} is a symbolic link (to {os.readlink(root / link)}); "
                "ximagenet12 never writes or deletes through a link: remove it or choose another folder"
            )


def _shown(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


class OwnedFolder:
    """An output folder written by one command (see the module docstring). Open it with :meth:`open`."""

    def __init__(self, root: Path, *, command: str, owned: set[str]):
        self.root, self.command, self._owned = root, command, owned

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, command: str, overwrite: bool = False,
             planned: Iterable[str] = ()) -> OwnedFolder:
        """Check ``path`` and take it for ``command`` (created if missing); ``ValueError`` to refuse.

        ``planned``: the files the command is about to write; one that exists and is not in
        the manifest is refused here, before any work is done.
        """
        folder = cls.check(path, command=command, overwrite=overwrite, planned=planned)
        folder.root.mkdir(parents=True, exist_ok=True)
        folder._save()
        return folder

    @classmethod
    def check(cls, path: str | os.PathLike[str], *, command: str, overwrite: bool = False,
              planned: Iterable[str] = ()) -> OwnedFolder:
        """What :meth:`open` checks, without creating or writing anything (a command checks its
        folder before slow work, and opens it once there is something to write)."""
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise ValueError(f"output path {root} exists and is not a folder")
        refuse_links(root, [MANIFEST], what="write into")
        owned = cls._read_manifest(root, command)
        if owned is None:
            owned = set()
            if root.is_dir() and any(root.iterdir()) and not overwrite:
                raise ValueError(
                    f"refusing to write into {root}: it is not empty and holds no ximagenet12 {command} output "
                    f"({MANIFEST}); choose an empty or new folder, or pass --overwrite, which never replaces or "
                    "deletes a file ximagenet12 did not write"
                )
        folder = cls(root, command=command, owned=owned)
        for rel in planned:
            folder._check(rel)
        return folder

    @staticmethod
    def _read_manifest(root: Path, command: str) -> set[str] | None:
        try:
            doc = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("tool") != "ximagenet12" or doc.get("command") != command:
            return None
        files = doc.get("files")
        return set(exact_paths(files)) if isinstance(files, list) else set()

    # ----------------------------------------------------------------- what it owns
    @property
    def files(self) -> list[str]:
        """The files this folder's manifest lists (exact relative paths)."""
        return sorted(self._owned)

    def owns(self, rel: str) -> bool:
        return rel in self._owned

    def _check(self, rel: str) -> Path:
        """``root/rel`` when the command may write it: an exact path, no link on the way,
        and not a file someone else put there."""
        if not is_exact_path(rel):
            raise ValueError(f"{rel!r} is not a plain relative path inside {self.root}")
        refuse_links(self.root, [rel], what="write into")
        target = self.root / rel
        if rel not in self._owned and (target.exists() or target.is_symlink()):
            kind = "folder" if target.is_dir() else "file"
            raise ValueError(
                f"refusing to write into {self.root}: {rel} would be replaced but it is a {kind} ximagenet12 "
                f"{self.command} did not write; move it away or choose another folder"
            )
        return target

    def _save(self) -> None:
        doc = {"tool": "ximagenet12", "command": self.command, "files": sorted(self._owned)}
        self._place(MANIFEST, lambda tmp: tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8"))
        if not (self.root / _CACHE_IGNORE).exists():  # bookkeeping, never committed (as pytest's cache does)
            self._place(_CACHE_IGNORE, lambda tmp: tmp.write_text("# written by ximagenet12\n*\n", encoding="utf-8"))

    def _place(self, rel: str, write: Callable[[Path], Any]) -> None:
        """``write(tmp)`` in the target's folder, then rename: the final name is only ever complete."""
        target = self.root / rel
        refuse_links(self.root, [rel], what="write into")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")  # suffix kept: savefig reads it
        if tmp.is_symlink() or tmp.exists():  # a leftover, or a link planted at our temporary name: never followed
            tmp.unlink()
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            if tmp.is_file() and not tmp.is_symlink():
                tmp.unlink()

    # ----------------------------------------------------------------- writing
    def write_with(self, rel: str, write: Callable[[Path], Any]) -> Path:
        """Write ``rel`` by calling ``write(temporary path)``; the file then gets its name."""
        target = self._check(rel)
        if rel not in self._owned:
            self._owned.add(rel)
            self._save()  # owned before it has its name: a crash leaves nothing unowned
        self._place(rel, write)
        return target

    def write_bytes(self, rel: str, data: bytes) -> Path:
        return self.write_with(rel, lambda tmp: tmp.write_bytes(data))

    def write_text(self, rel: str, text: str) -> Path:
        return self.write_with(rel, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def claim(self, rel: str) -> Path:
        """Take ``rel`` (a file a library writes itself, e.g. by ``save_pretrained``) into the
        manifest and return its path; refused like a write."""
        target = self._check(rel)
        if rel not in self._owned:
            self._owned.add(rel)
            self._save()
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def remove(self, rel: str) -> None:
        """Delete ``rel`` if the manifest lists it (a file, never through a link); else nothing."""
        if rel not in self._owned:
            return
        refuse_links(self.root, [rel], what="delete from")
        target = self.root / rel
        if target.is_file():
            target.unlink()
        self._owned.discard(rel)
        self._save()

    def clear(self, *, keep: Callable[[str], bool] = lambda rel: False) -> None:
        """Delete every file of the manifest (but those ``keep`` names), then the folders
        that held them once they are empty; nothing else is touched."""
        gone = [rel for rel in sorted(self._owned) if not keep(rel)]
        for rel in gone:
            self.remove(rel)
        parents = {p for rel in gone for p in PurePosixPath(rel).parents if p.as_posix() != "."}
        for folder in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            path = self.root / folder
            if path.is_dir() and not path.is_symlink():
                try:
                    path.rmdir()
                except OSError:  # still holds something: left as it is
                    pass

    def discard(self) -> None:
        """Delete every file of the manifest, the manifest itself, and the folder once empty
        (a work folder at the end of its run); a file ximagenet12 did not write stays."""
        self.clear()
        refuse_links(self.root, [MANIFEST, _CACHE_IGNORE], what="delete from")
        (self.root / MANIFEST).unlink(missing_ok=True)
        (self.root / _CACHE_IGNORE).unlink(missing_ok=True)
        for folder in (self.root / MANIFEST).parent, self.root:
            try:
                folder.rmdir()
            except OSError:  # not empty: something else lives there
                pass
