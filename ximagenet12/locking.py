"""An exclusive lock on a dataset folder, held for a whole build (or push) of it.

Two processes that write (or upload) one folder at once mix rows from two runs or
publish a half-written folder, so every command that writes or publishes a folder holds
:func:`folder_lock` on it. A second one stops at once with "in use by process N"
(the message names what the holder is doing)::

    from ximagenet12.locking import folder_lock
    with folder_lock(out_dir, purpose="push"):
        ...

The lock is ``fcntl.flock`` on ``<folder>/.cache/ximagenet12.lock``: the kernel
releases it when the holder exits in any way (even SIGKILL), so a crash never leaves a
stale lock. The file holds the holder's pid and purpose, for the message; it is removed
on release. ``.cache`` is the folder's work area, which is never published.

Hand-written on ``fcntl`` rather than with the ``filelock`` package: ``filelock`` opens
the lock file with ``O_TRUNC``, which would erase the holder's pid that the second
process needs for its message.
"""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["LOCK_FILE", "FolderInUseError", "folder_lock", "lock_path"]

#: Where the lock file lies, relative to the locked folder.
LOCK_FILE = Path(".cache") / "ximagenet12.lock"


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock."""

    def __init__(self, folder: Path, pid: int | None, purpose: str | None):
        self.folder, self.pid, self.purpose = folder, pid, purpose
        holder = f"process {pid}" if pid else "another process"
        doing = f" ({purpose})" if purpose else ""
        super().__init__(
            f"{folder} is in use by {holder}{doing}; wait for it to finish, or use another folder"
        )


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of ``folder`` (so validators can leave it out of what they check)."""
    return Path(folder) / LOCK_FILE


def _holder(path: Path) -> tuple[int | None, str | None]:
    try:
        pid_text, _, purpose = path.read_text(encoding="utf-8").partition(" ")
        return int(pid_text), purpose.strip() or None
    except (OSError, ValueError):
        return None, None


def _try_lock(fd: int) -> None:
    """Take an exclusive lock on ``fd`` without waiting (``OSError`` when another process holds it)."""
    try:
        import fcntl
    except ImportError:  # Windows (not exercised by this project's tests): lock the first byte
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _acquire(path: Path, purpose: str) -> int:
    """Lock ``path`` (creating it) and return its descriptor; retry if it was replaced meanwhile."""
    while True:
        # O_NOFOLLOW: a planted symlink must not make us truncate some other file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            _try_lock(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, getattr(errno, "EDEADLOCK", -1)):
                raise FolderInUseError(path.parent.parent, *_holder(path)) from None
            raise
        try:  # the holder before us may have removed the file after we opened it: lock the new one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {purpose}".encode())
            return fd
        os.close(fd)


@contextmanager
def folder_lock(folder: str | os.PathLike[str], *, purpose: str = "build") -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the ``with`` block.

    Raises :class:`FolderInUseError` at once when another process holds it, and
    ``PermissionError`` with a one-line message when the folder cannot be written.
    Yields the folder.
    """
    folder = Path(folder)
    path = lock_path(folder)
    created = [p for p in (folder, path.parent) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _acquire(path, purpose)
    except FolderInUseError:
        _remove_empty(created)
        raise
    except OSError as exc:  # no permission, a read-only file system, a full disk, a file in the way...
        _remove_empty(created)
        kind = PermissionError if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else OSError
        raise kind(f"cannot write to {folder}: {exc.strerror or exc}") from None
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield folder
    finally:
        try:
            path.unlink()
        except OSError:
            pass
        os.close(fd)  # releases the lock
        _remove_empty([path.parent] + created)


def _remove_empty(folders: list[Path]) -> None:
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): leave it
            pass
