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
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, Sequence

import pyarrow as pa

from ximagenet12.builder.layout import block_record, part_path
from ximagenet12.builder.plan import Block, BuildPlan
from ximagenet12.builder.worker import process_sample, result_row
from ximagenet12.builder.writer import PartWriter, Row, atomic_write_bytes
from ximagenet12.engine import RunContext
from ximagenet12.registry import Variant
from ximagenet12.types import SampleError, Skipped, SourceItem

__all__ = [
    "WRITE_BUFFER_BYTES",
    "BlockResult",
    "BlockTask",
    "Executor",
    "ProcessOutcome",
    "WorkerSetup",
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
    """One block for a worker: its samples (``start`` is the first one's index) and its work folder."""

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


class Executor(Protocol):
    """Runs :func:`process_block` over tasks; yields the results in task order."""

    def run(self, tasks: Iterable[BlockTask], setup: WorkerSetup) -> Iterator[BlockResult]: ...


def process_block(task: BlockTask, setup: WorkerSetup) -> BlockResult:
    """Build the block's non-generative rows and write its parts (one per config, empty ones too)."""
    out = BlockResult(task.block)
    writers = {v.config_name: PartWriter(part_path(task.work, v.config_name, task.block), setup.schema)
               for v in setup.variants}
    try:
        pending: dict[str, list[Row]] = defaultdict(list)
        pending_bytes = 0
        for j, item in enumerate(task.items):
            res = process_sample(item, setup.variants, setup.context, setup.class_index, index=task.start + j)
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
    return out


# --------------------------------------------------------------------------- the driver


@dataclass
class ProcessOutcome:
    """What the process stage leaves for ``finalize``: rows and skips of every block."""

    rows: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    resumed_blocks: int = 0


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
            outcome.skipped += [Skipped(d["source_id"], d["reason"], d["scenario"]) for d in done["skipped"]]
            outcome.rows += done["rows"]
            outcome.resumed_blocks += 1
        else:
            todo.append(block)
    bar = _progress_bar(len(plan.items), len(plan.items) - sum(b.stop - b.start for b in todo), outcome.rows,
                        progress)
    tasks = (BlockTask(b.index, b.start, plan.items[b.start : b.stop], work) for b in todo)
    try:
        with contextlib.closing(executor.run(tasks, worker_setup(plan, schema, strict=strict))) as results:
            for block, result in zip(todo, results):
                if result.error is not None:
                    raise SampleError(*result.error)
                if plan.generative:
                    _generate_block(plan, block, result, work, schema, strict=strict)
                atomic_write_bytes(block_record(work, block.index), json.dumps(
                    {"rows": result.rows, "skipped": [s.to_dict() for s in result.skipped]}).encode())
                outcome.skipped += result.skipped
                outcome.rows += result.rows
                if bar is not None:
                    bar.update(block.stop - block.start)
                    bar.set_postfix(outputs=outcome.rows)
    finally:
        if bar is not None:
            bar.close()
    return outcome


def _progress_bar(total: int, done: int, outputs: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit="sample", desc="building", file=sys.stderr, dynamic_ncols=True)
    if done:  # resumed blocks
        bar.update(done)
        bar.set_postfix(outputs=outputs)
    return bar


def _generate_block(plan: BuildPlan, block: Block, result: BlockResult, work: Path, schema: pa.Schema, *,
                    strict: bool) -> None:
    """Run the generative variants on the block's decoded samples here (batched), write their parts.

    Adds their rows and skips to ``result``; ``strict`` stops at a sample that failed to
    generate (hard samples skipped by policy are not errors).
    """
    loaded = [plan.items[block.start + j] for j in result.loaded]
    for variant in plan.generative:
        writer = PartWriter(part_path(work, variant.config_name, block.index), schema)
        try:
            rows, skipped, errors = generate_rows(variant, loaded, plan=plan, cache_dir=work.parent)
            if strict and errors:
                raise errors[0]
            writer.write(rows)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        result.skipped += skipped
        result.rows += len(rows)


def generate_rows(variant: Variant, loaded: Sequence[SourceItem], *, plan: BuildPlan, cache_dir: Path,
                  generator: Any = None) -> tuple[list[Row], list[Skipped], list[SampleError]]:
    """A generative variant's rows for ``loaded`` samples, with every skip and, apart, the failures."""
    from ximagenet12.generation import generate_variant

    samples = [item.load() for item in loaded]
    results = generate_variant(variant, samples, seed=plan.seed, options=plan.generation, cache_dir=cache_dir,
                               class_names=dict(zip(plan.classes, plan.class_names)), generator=generator)
    rows: list[Row] = []
    skipped: list[Skipped] = []
    errors: list[SampleError] = []
    class_index = plan.class_index
    for sample, res in zip(samples, results):
        if isinstance(res, Skipped):
            skipped.append(Skipped(res.source_id, res.reason, variant.config_name))
        elif isinstance(res, SampleError):
            skipped.append(Skipped(sample.source_id, res.reason, variant.config_name))
            errors.append(SampleError(sample.source_id, f"{variant.config_name}: {res.reason}"))
        else:
            rows.append(result_row(variant, sample, res, class_index[sample.class_key]))
    return rows, skipped, errors
