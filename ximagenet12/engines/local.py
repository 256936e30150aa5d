"""Where the ``process`` stage runs: the only part of a build that differs between engines.

An executor takes block tasks and yields their :class:`~ximagenet12.builder.process.BlockResult`
in task order. :class:`LocalExecutor` runs them in this process (``num_proc=1``) or in a
pool of spawned processes; :class:`ximagenet12.engines.ray.RayExecutor` runs them as Ray
tasks on a cluster.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator

from ximagenet12.builder.process import BlockResult, BlockTask, WorkerSetup, process_block
from ximagenet12.builder.worker import exit_with_parent

__all__ = ["LocalExecutor", "make_executor"]

# worker state: set once per pool process by the initializer
_SETUP: dict[str, WorkerSetup] = {}


def _init_pool_worker(setup: WorkerSetup | None, parent_pid: int) -> None:
    """A pool worker: one OpenCV thread, since the pool already keeps every core busy; it
    exits as soon as the build process dies (SIGTERM, SIGKILL), never lingering for minutes."""
    import atexit

    import cv2

    cv2.setNumThreads(1)
    exit_with_parent(parent_pid)
    atexit.register(_exit_now)
    if setup is not None:
        _SETUP["setup"] = setup


def _exit_now() -> None:
    """A pool worker's last act: end the process without tearing the interpreter down.

    It runs at exit, once the worker has sent its last result (the pool's result queue is
    written synchronously) and the pool told it to stop; freeing every module and cache
    one by one took 0.1-0.8 s per worker, which ``close()`` (and so every build) waited for.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


@contextlib.contextmanager
def _main_script_not_rerun() -> Iterator[None]:
    """Start workers without re-running a calling script that is no file (``python -``, a
    notebook's ``<stdin>``): ``spawn`` would try to run ``__main__.__file__`` in each worker and
    fail with a traceback per worker. The workers need nothing from ``__main__`` (they run
    this package's functions), so it is hidden from them while they start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    hide = isinstance(path, str) and not os.path.isfile(path)
    if hide:
        del main.__file__  # type: ignore[union-attr]
    try:
        yield
    finally:
        if hide:
            main.__file__ = path  # type: ignore[union-attr]


def _ready() -> None:
    """A no-op task: submitting one per worker starts every worker at once."""


def _pool_block(task: BlockTask) -> BlockResult:
    return process_block(task, _SETUP["setup"])


class LocalExecutor:
    """Blocks in this process (``num_proc=1``) or in ``num_proc`` spawned worker processes.

    The pool starts with the first block and is kept for :meth:`map` (the finalize stage
    merges configs on it) until :meth:`close`.
    """

    def __init__(self, num_proc: int = 1):
        if not isinstance(num_proc, int) or isinstance(num_proc, bool) or num_proc < 1:
            raise ValueError(f"num_proc must be a positive integer, got {num_proc!r}")
        self.num_proc = num_proc
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallelism(self) -> int:
        return self.num_proc

    def _start(self, setup: WorkerSetup | None) -> ProcessPoolExecutor:
        if self._pool is None:
            with _main_script_not_rerun():
                self._pool = ProcessPoolExecutor(self.num_proc, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_pool_worker, initargs=(setup, os.getpid()))
                for _ in range(self.num_proc):  # spawned pools start workers on demand: start them all now
                    self._pool.submit(_ready)
        return self._pool

    def run(self, tasks: Iterable[BlockTask], setup: WorkerSetup) -> Iterator[BlockResult]:
        if self.num_proc == 1 or not setup.variants:  # nothing CPU-bound to spread: no pool to start
            for task in tasks:
                yield process_block(task, setup)
            return
        pool = self._start(setup)
        ahead: deque[Future] = deque()
        try:
            for task in tasks:
                ahead.append(pool.submit(_pool_block, task))
                if len(ahead) >= 2 * self.num_proc:  # bounded: a few blocks queued per worker
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        except GeneratorExit:  # the driver stopped taking results: stop the workers only if blocks are pending
            if ahead:
                self._abort()
            raise
        except BrokenProcessPool as exc:
            self._abort()
            raise RuntimeError(
                "a build worker process died (killed, out of memory, or unable to start: worker "
                "processes re-import the calling script, whose top level must be guarded by "
                "if __name__ == '__main__'); finished blocks are kept, rerun with resume=True (--resume)"
            ) from exc
        except BaseException:  # an error, an interrupt, or the driver stopped early
            self._abort()
            raise

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` on the pool when one is running (in order)."""
        items = list(items)
        if self._pool is None or len(items) < 2:
            return [fn(x) for x in items]
        try:
            return list(self._pool.map(fn, items))
        except BaseException:
            self._abort()
            raise

    def close(self) -> None:
        if self._pool is not None:
            _restart_a_killed_resource_tracker()
            self._pool.shutdown(wait=True)
            self._pool = None

    def _abort(self) -> None:
        if self._pool is not None:
            _restart_a_killed_resource_tracker()
            _stop_workers(self._pool)
            self._pool = None


def _restart_a_killed_resource_tracker() -> None:
    """If multiprocessing's resource tracker (the helper process that frees the pool's
    semaphores) was killed during the build, start the new one before the pool releases its
    semaphores, with its stderr on ``/dev/null``: left to itself it restarts later and prints a
    warning and one traceback per semaphore it never saw (issue 25). The build itself is not
    affected; one line says what happened."""
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    pid = getattr(tracker, "_pid", None)
    if pid is None:
        return
    try:
        ended, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # already reaped
        ended = pid
    except OSError:
        return
    if ended == 0:  # still running
        return
    import warnings

    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)  # the new tracker inherits this stderr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    print(f"warning: multiprocessing's resource tracker (process {pid}) was killed during the build and has been "
          "restarted; the build's files are not affected", file=sys.stderr)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop now: drop queued blocks and end the worker processes (finished blocks stay)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public terminate before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def make_executor(engine: str = "local", *, num_proc: int = 1, **ray_options: Any) -> Any:
    """The executor for ``engine``: ``local`` (``num_proc`` processes) or ``ray`` (``ray_options``
    for :class:`~ximagenet12.engines.ray.RayExecutor`; Ray sizes itself, ``num_proc`` is not used)."""
    if engine == "local":
        if ray_options:
            raise ValueError(f"options {sorted(ray_options)} apply to engine='ray' only")
        return LocalExecutor(num_proc)
    if engine == "ray":
        from ximagenet12.engines.ray import RayExecutor

        return RayExecutor(**ray_options)
    raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
