"""Stage 2 of a build, ``process``: per block, decode once, apply every scenario, encode, write parts.

:func:`process_block` runs in a worker (a local process, a Ray task, or in-process): it
builds every non-generative variant of the block's samples and writes the block's part
files itself, each under a temporary name until complete. :func:`run_process_stage` is
the driver: it hands blocks to an executor, takes their results back in block order,
runs the generative variants (``ai_background``) on the samples that loaded, and records
each block as done only once all its parts are in place, so ``resume`` skips it and the
rows are the same whatever the executor or the number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import numpy as np
import pyarrow as pa

from ximagenet12.builder.layout import block_record, generation_cache_dir, open_part, part_path
from ximagenet12.builder.plan import Block, BuildPlan
from ximagenet12.builder import worker
from ximagenet12.builder.writer import Row, atomic_write_bytes
from ximagenet12.scenarios.engine import RunContext
from ximagenet12.scenarios.registry import Variant
from ximagenet12.io.storage import StorePath
from ximagenet12.core.types import SampleError, Skipped, SourceItem

__all__ = [
    "WRITE_BUFFER_BYTES",
    "BlockResult",
    "BlockTask",
    "Executor",
    "ProcessOutcome",
    "GenerationJob",
    "WorkerSetup",
    "generate_rows",
    "process_block",
    "run_process_stage",
]

#: Encoded rows buffered (all configs together) before they are written to the parts.
WRITE_BUFFER_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs, sent once per worker: variants, their inputs, the schema."""

    variants: tuple[Variant, ...]
    context: RunContext
    class_index: dict[str, int]
    schema: pa.Schema
    strict: bool = False


@dataclass(frozen=True)
class BlockTask:
    """One block for a worker: its samples (``start`` is the first one's index) and its work folder
    (local, or a :class:`ximagenet12.io.storage.StorePath`: the worker uploads its parts itself)."""

    block: int
    start: int
    items: tuple[SourceItem, ...]
    work: Path


@dataclass
class BlockResult:
    """What a worker reports for a block; its parts are already in place."""

    block: int
    rows: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    loaded: list[int] = field(default_factory=list)  # indices in the block of samples that decoded
    error: tuple[str, str] | None = None  # strict: (source id, reason) of the first bad sample; no part written
    #: where and when the worker ran it (process id, wall-clock start and end, CPU seconds): bench_ray.py's timeline
    timing: tuple[int, float, float, float] = (0, 0.0, 0.0, 0.0)


class Executor(Protocol):
    """Runs :func:`process_block` over tasks; yields the results in task order."""

    def run(self, tasks: Iterable[BlockTask], setup: WorkerSetup) -> Iterator[BlockResult]: ...


def process_block(task: BlockTask, setup: WorkerSetup) -> BlockResult:
    """Build the block's non-generative rows and write its parts (one per config, empty ones too)."""
    started, cpu = time.time(), time.process_time()
    out = BlockResult(task.block)
    writers = {v.config_name: open_part(part_path(task.work, v.config_name, task.block), setup.schema)
               for v in setup.variants}
    try:
        pending: dict[str, list[Row]] = defaultdict(list)
        pending_bytes = 0
        for j, item in enumerate(task.items):
            res = worker.process_sample(item, setup.variants, setup.context, setup.class_index, index=task.start + j)
            if setup.strict and res.skipped:
                s = res.skipped[0]
                out.error = (s.source_id, s.reason if s.scenario is None else f"{s.scenario}: {s.reason}")
                for writer in writers.values():
                    writer.abort()
                return out
            out.skipped += res.skipped
            if res.loaded:
                out.loaded.append(j)
            for config, row in res.rows.items():
                pending[config].append(row)
                pending_bytes += len(row[0]) + len(row[1])
            out.rows += len(res.rows)
            if pending_bytes >= WRITE_BUFFER_BYTES:  # memory stays bounded; fewer, larger writes
                for config, rows in pending.items():
                    writers[config].write(rows)
                pending, pending_bytes = defaultdict(list), 0
        for config, rows in pending.items():
            writers[config].write(rows)
        for writer in writers.values():
            writer.commit()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    out.timing = (os.getpid(), started, time.time(), time.process_time() - cpu)
    return out


# --------------------------------------------------------------------------- the driver


@dataclass
class ProcessOutcome:
    """What the process stage leaves for ``finalize``: rows and skips of every block."""

    rows: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    resumed_blocks: int = 0
    #: recorded blocks built again on resume because their samples' bytes changed
    changed_blocks: int = 0


#: Files up to this size are digested whole; a larger one (over the readers' size limit for
#: any image, :func:`ximagenet12.io.imageio.max_file_bytes`) by its size and first and last MiB.
_DIGEST_WHOLE_BYTES = 2 * 1024**3


def _feed(h: Any, value: Any) -> None:
    """Add one argument of an item's ``load`` to a digest: a file path by its bytes, bytes and
    arrays as they are, anything else by its ``repr`` (options, ids, annotations)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        h.update(b"b%d:" % len(value))
        h.update(value)
    elif isinstance(value, str) and value and os.path.isfile(value):
        with open(value, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            h.update(b"f%d:" % size)
            if size > _DIGEST_WHOLE_BYTES:  # beyond any image the reader accepts: it is refused, not built
                h.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                h.update(fh.read(1 << 20))
            else:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    elif isinstance(value, np.ndarray):
        h.update(f"a{value.dtype}{value.shape}:".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (list, tuple)):
        h.update(b"l%d:" % len(value))
        for v in value:
            _feed(h, v)
    elif isinstance(value, (set, frozenset)):  # its order changes with the hash seed between runs
        _feed(h, sorted(repr(v) for v in value))
    else:
        h.update(f"r{value!r}".encode())
    h.update(b"\x1e")


def content_digest(items: Sequence[SourceItem]) -> str:
    """A digest of what the samples are made from: every argument of each item's ``load``
    (a ``functools.partial`` of a reader's loader), files by their *bytes*, not their names,
    so ``resume`` never reuses a block whose image changed under the same name (issue 25)."""
    h = hashlib.blake2b(digest_size=16)
    for item in items:
        load = item.load
        func = getattr(load, "func", load)
        name = f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', type(func).__name__)}"
        h.update(f"{item.class_key}\x1f{item.source_id}\x1f{name}".encode())
        for value in getattr(load, "args", ()):
            _feed(h, value)
        for key, value in sorted((getattr(load, "keywords", None) or {}).items()):
            h.update(key.encode())
            _feed(h, value)
    return h.hexdigest()


def worker_setup(plan: BuildPlan, schema: pa.Schema, *, strict: bool) -> WorkerSetup:
    return WorkerSetup(tuple(plan.plain), plan.context, plan.class_index, schema, strict)


def run_process_stage(plan: BuildPlan, work: Path, executor: Executor, schema: pa.Schema, *,
                      strict: bool, progress: bool) -> ProcessOutcome:
    """Process every block not yet recorded as done in ``work``; in block order."""
    outcome = ProcessOutcome()
    todo: list[Block] = []
    for block in plan.blocks:
        record = block_record(work, block.index)
        if record.is_file():
            done = json.loads(record.read_text(encoding="utf-8"))
            # a block is reused only while its samples' bytes are the ones it was built from (issue 25)
            if done.get("content") == content_digest(plan.items[block.start : block.stop]):
                outcome.skipped += [Skipped(d["source_id"], d["reason"], d["scenario"]) for d in done["skipped"]]
                outcome.rows += done["rows"]
                outcome.resumed_blocks += 1
                continue
            outcome.changed_blocks += 1
        todo.append(block)
    bar = _progress_bar(len(plan.items), len(plan.items) - sum(b.stop - b.start for b in todo), outcome.rows,
                        progress)
    digests: dict[int, str] = {}

    def task(b: Block) -> BlockTask:
        items = plan.items[b.start : b.stop]
        digests[b.index] = content_digest(items)  # before the worker reads them: a later change shows on resume
        return BlockTask(b.index, b.start, items, work)

    tasks = (task(b) for b in todo)
    job = GenerationJob.of(plan, generation_cache_dir(work)) if plan.generative else None
    generated = _generated_stream(executor, job, todo)
    try:
        with contextlib.closing(executor.run(tasks, worker_setup(plan, schema, strict=strict))) as results, \
                contextlib.closing(generated) if generated is not None else contextlib.nullcontext():
            for block, result in zip(todo, results):
                if result.error is not None:
                    raise SampleError(*result.error)
                if job is not None:
                    _generate_block(job, block, result, work, schema, strict=strict,
                                    generated=next(generated) if generated is not None else None)
                _write_record(block_record(work, block.index), json.dumps(
                    {"rows": result.rows, "skipped": [s.to_dict() for s in result.skipped],
                     "content": digests[block.index]}).encode())
                outcome.skipped += result.skipped
                outcome.rows += result.rows
                if bar is not None:
                    bar.update(block.stop - block.start)
                    bar.set_postfix(outputs=outcome.rows)
    finally:
        if bar is not None:
            bar.close()
    return outcome


def _write_record(path: Path | StorePath, data: bytes) -> None:
    """A block's record: through a temporary name and a rename locally, in one PUT in an object store."""
    if isinstance(path, StorePath):
        path.write_bytes(data)
    else:
        atomic_write_bytes(path, data)


def _generated_stream(executor: Executor, job: "GenerationJob | None", blocks: list[Block]) -> Any:
    """The executor's own generative rows per block, in block order (Ray: an actor pool), if it has them."""
    if job is None or not blocks or not hasattr(executor, "generate"):
        return None
    return executor.generate(job, blocks)


def _progress_bar(total: int, done: int, outputs: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="sample", desc="building", file=sys.stderr, dynamic_ncols=True)
    if done:  # resumed blocks
        bar.update(done)
        bar.set_postfix(outputs=outputs)
    return bar


@dataclass(frozen=True)
class GenerationJob:
    """What a generative worker (this process, or a Ray actor) needs: picklable, no source object."""

    variants: tuple[Variant, ...]
    items: tuple[SourceItem, ...]
    seed: int
    options: Any  # GenerationOptions
    class_names: dict[str, str]  # class key -> name, for prompts
    class_index: dict[str, int]
    cache_dir: Path

    @classmethod
    def of(cls, plan: BuildPlan, cache_dir: Path) -> "GenerationJob":
        return cls(tuple(plan.generative), plan.items, plan.seed, plan.generation,
                   dict(zip(plan.classes, plan.class_names)), plan.class_index, cache_dir)


#: One generative variant's outcome on some samples: rows, every skip, and apart the failures.
GeneratedRows = tuple[list[Row], list[Skipped], list[SampleError]]


def _generate_block(job: GenerationJob, block: Block, result: BlockResult, work: Path, schema: pa.Schema, *,
                    strict: bool, generated: dict[str, GeneratedRows] | None = None) -> None:
    """Write the block's generative parts (adding their rows and skips to ``result``).

    ``generated``: the rows per config when an executor made them (Ray actors); else they
    are made here, batched, on the samples that decoded. ``strict`` stops at a sample that
    failed to generate (hard samples skipped by policy are not errors).
    """
    loaded = [job.items[block.start + j] for j in result.loaded]
    for variant in job.variants:
        writer = open_part(part_path(work, variant.config_name, block.index), schema)
        try:
            if generated is not None:
                rows, skipped, errors = generated[variant.config_name]
            else:
                rows, skipped, errors = generate_rows(job, variant, loaded)
            if strict and errors:
                raise errors[0]
            writer.write(rows)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        result.skipped += skipped
        result.rows += len(rows)


def generate_rows(job: GenerationJob, variant: Variant, loaded: Sequence[SourceItem]) -> GeneratedRows:
    """A generative variant's rows for ``loaded`` samples (decoded here), with skips and failures."""
    from ximagenet12.scenarios.generation import generate_variant

    samples = [item.load() for item in loaded]
    results = generate_variant(variant, samples, seed=job.seed, options=job.options, cache_dir=job.cache_dir,
                               class_names=job.class_names)
    rows: list[Row] = []
    skipped: list[Skipped] = []
    errors: list[SampleError] = []
    for sample, res in zip(samples, results):
        if isinstance(res, Skipped):
            skipped.append(Skipped(res.source_id, res.reason, variant.config_name))
        elif isinstance(res, SampleError):
            skipped.append(Skipped(sample.source_id, res.reason, variant.config_name))
            errors.append(SampleError(sample.source_id, f"{variant.config_name}: {res.reason}"))
        else:
            rows.append(worker.result_row(variant, sample, res, job.class_index[sample.class_key]))
    return rows, skipped, errors
