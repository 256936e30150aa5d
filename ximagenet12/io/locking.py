"""An exclusive lock on a dataset folder, held for a whole build (or push) of it.

Two processes that write (or upload) one folder at once mix rows from two runs or
publish a half-written folder, so every command that writes or publishes a folder holds
:func:`folder_lock` on it. A second one stops at once with "in use by process N"
(the message names what the holder is doing)::

    from ximagenet12.io.locking import folder_lock
    with folder_lock(out_dir, purpose="push"):
        ...

The lock is ``fcntl.flock`` on ``<folder>/.cache/ximagenet12.lock``: the kernel
releases it when the holder exits in any way (even SIGKILL), so a crash never leaves a
stale lock. The file holds the holder's pid and purpose, for the message; it is removed
on release. ``.cache`` is the folder's work area, which is never published.

Hand-written on ``fcntl`` rather than with the ``filelock`` package: ``filelock`` opens
the lock file with ``O_TRUNC``, which would erase the holder's pid that the second
process needs for its message.

A folder in an object store (a :class:`ximagenet12.io.storage.StorePath`) has no kernel
lock: its lock is the object ``<prefix>/.cache/ximagenet12.lock``, created with a
conditional write (S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``: of two builds
that start together exactly one succeeds; on stores without conditional writes it is a
check-then-write, so advisory). It names the holder's host, pid and purpose; the holder
rewrites it every :data:`LOCK_REFRESH_S` seconds. A killed holder cannot remove it, so a
lock whose holder is a dead process on this host, or which was last refreshed more than
:data:`LOCK_STALE_S` seconds ago (by the holder's clock), is taken over. A run that
stalled that long (a suspended machine) has lost its lock: the refresh notices and stops,
and :func:`check_lock_held`, which the build calls before it publishes and again before
its commit marker, stops it with :class:`LockLostError`, so two runs never both publish.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["LOCK_FILE", "LOCK_REFRESH_S", "LOCK_STALE_S", "FolderInUseError", "LockLostError", "check_lock_held",
           "folder_lock", "lock_path"]

#: Where the lock file lies, relative to the locked folder.
LOCK_FILE = Path(".cache") / "ximagenet12.lock"
#: An object-store lock is rewritten this often while held ...
LOCK_REFRESH_S = 60.0
#: ... and taken over when not rewritten for this long (its holder is gone).
LOCK_STALE_S = 600.0


class FolderInUseError(RuntimeError):
    """Another process holds the folder's lock."""

    def __init__(self, folder: Path, pid: int | None, purpose: str | None):
        self.folder, self.pid, self.purpose = folder, pid, purpose
        holder = f"process {pid}" if pid else "another process"
        doing = f" ({purpose})" if purpose else ""
        super().__init__(
            f"{folder} is in use by {holder}{doing}; wait for it to finish, or use another folder"
        )


class LockLostError(RuntimeError):
    """An object-store lock this run held was taken over by another run (this one stalled
    for longer than the stale limit); the run must not publish anything more."""


#: Store folders locked by this process -> the check that their lock is still ours.
_HELD_STORE_LOCKS: dict[str, Any] = {}


def check_lock_held(folder: Any) -> None:
    """Raise :class:`LockLostError` when the object-store lock on ``folder`` is no longer this
    run's. Builds call it before they publish; a local folder's ``flock`` cannot be taken over,
    so for it (and for a folder this process does not lock) this does nothing."""
    check = _HELD_STORE_LOCKS.get(str(folder))
    if check is not None:
        check()


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

    Raises :class:`FolderInUseError` at once when another process holds it,
    ``PermissionError`` with a one-line message when the folder cannot be written, and
    ``ValueError`` when ``.cache`` is a symbolic link (issue 25; a link at the lock file
    itself is never followed: ``O_NOFOLLOW``).
    Yields the folder.
    """
    from ximagenet12.io.storage import StorePath

    if isinstance(folder, StorePath):
        with _store_lock(folder, purpose=purpose):
            yield folder
        return
    folder = Path(folder)
    path = lock_path(folder)
    from ximagenet12.io.owned import refuse_links

    refuse_links(folder, [LOCK_FILE.parent.as_posix()], what="lock")  # .cache: never a lock (or work) through a link
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


# --------------------------------------------------------------------------- object stores


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _store_holder(lock: Any) -> dict[str, Any]:
    try:
        value = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _stale(holder: dict[str, Any], *, stale_s: float) -> bool:
    """Whether the lock's holder is gone: a dead process on this host, or no refresh for ``stale_s``."""
    if not holder:
        return True  # unreadable: locks are written whole, so this one is damaged
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
        return True
    return time.time() - float(holder.get("time") or 0) > stale_s


def _in_use(folder: Any, holder: dict[str, Any]) -> FolderInUseError:
    pid = holder.get("pid") if isinstance(holder.get("pid"), int) else None
    purpose = holder.get("purpose") or None
    if holder.get("host"):
        purpose = f"{purpose or 'busy'} on host {holder['host']}"
    return FolderInUseError(folder, pid, purpose)


def _take(lock: Any, folder: Any, body: Any, *, stale_s: float) -> None:
    """Create the lock object, or take over a stale one; ``FolderInUseError`` when it is held."""
    try:
        try:
            lock.create(body())
        except FileExistsError:
            holder = _store_holder(lock)
            if not _stale(holder, stale_s=stale_s):
                raise _in_use(folder, holder) from None
            lock.unlink()
            try:
                lock.create(body())
            except FileExistsError:  # another run took it over first
                raise _in_use(folder, _store_holder(lock)) from None
    except OSError as exc:  # no bucket, no credentials, no permission: one line, before any work
        reason = str(exc).split(f"{lock}: ", 1)[-1]
        raise type(exc)(f"cannot write to {folder}: {reason}") from None


@contextmanager
def _store_lock(folder: Any, *, purpose: str, refresh_s: float = LOCK_REFRESH_S,
                stale_s: float = LOCK_STALE_S) -> Iterator[None]:
    """The lock object of an object-store folder (see the module's docstring)."""
    lock = folder / LOCK_FILE
    token = uuid.uuid4().hex

    def body() -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "purpose": purpose, "token": token,
                           "time": time.time()}).encode()

    _take(lock, folder, body, stale_s=stale_s)
    stop, lost = threading.Event(), threading.Event()

    def refresh() -> None:
        while not stop.wait(refresh_s):
            try:
                if _store_holder(lock).get("token") != token:
                    lost.set()  # taken over as stale (we stalled for stale_s): never overwrite the new holder's
                    return
                lock.write_bytes(body())
            except OSError:  # a transient store error: the next refresh tries again
                pass

    def check() -> None:
        if not lost.is_set() and _store_holder(lock).get("token") != token:
            lost.set()
        if lost.is_set():
            holder = _store_holder(lock)
            who = f"process {holder.get('pid')} on host {holder.get('host')}" if holder else "another run"
            raise LockLostError(
                f"{folder}: this run stalled for over {stale_s:.0f} s and {who} took its lock over; stopped before "
                "publishing anything more: rerun with --resume once that run has finished"
            )

    thread = threading.Thread(target=refresh, name="ximagenet12-store-lock", daemon=True)
    thread.start()
    _HELD_STORE_LOCKS[str(folder)] = check
    try:
        yield
    finally:
        _HELD_STORE_LOCKS.pop(str(folder), None)
        stop.set()
        thread.join()
        try:
            if _store_holder(lock).get("token") == token:  # never remove a lock another run took over
                lock.unlink()
        except OSError:
            pass
