"""Build a Hub-ready dataset folder from a source: one parquet config per scenario variant.

Pipeline (STYLE.md §7, "encode once, where it is cheap"):

1. the source's items are cut into fixed *blocks* of ``block_samples`` samples;
2. each sample is decoded ONCE, in a worker, and every requested variant is applied to
   it there (:func:`process_sample`, shared with the ``ximagenet12.py`` builder); the
   outputs are encoded to JPEG/PNG bytes in the same worker;
3. rows stream, in source order, into one *part* file per (block, config) under
   ``<out>/.cache/ximagenet12-build/``; a block is recorded as done only after all its
   parts are in place, so ``resume=True`` skips finished blocks and yields the same rows;
4. at the end each config's parts become its ``data/<config>/<split>-XXXXX-of-YYYYY.parquet``
   shards (hard-linked as they are when big enough, merged otherwise; row groups of at most
   100 rows) in a staging folder, which becomes ``data/`` in one rename; then
   ``skipped.jsonl``, the card ``README.md`` and, last, ``build_info.json`` (the manifest
   of every file written) appear and the work folder is removed.

What keeps a build from destroying or mixing data (the source check, the manifest, the
folder lock) is in :mod:`ximagenet12.builder.safety` and :mod:`ximagenet12.locking`.

Every random draw comes from a generator derived from (seed, source id, scenario, level),
and ``multiprocessing`` workers return results in order, so the rows do not depend on
``num_proc``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections import defaultdict, deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ximagenet12 import __version__
from ximagenet12.backgrounds import BackgroundLibrary
from ximagenet12.builder.schema import arrow_schema, build_features
from ximagenet12.builder.worker import (
    DonorSampler,
    SampleRows,
    _init_pool_worker,
    _init_worker,
    _work_chunk,
    process_sample,
    result_row,
)
from ximagenet12.builder.safety import (
    BUILD_INFO,
    CARD_FILE,
    DATA_DIR,
    SKIPPED_FILE,
    WORK_DIR,
    OutPlan,
    apply_fresh,
    check_out_vs_source,
    plan_out_dir,
    remove_temporary_files,
    source_roots,
)
from ximagenet12.builder.writer import PartWriter, Row, atomic_write_bytes, finalize_parts
from ximagenet12.engine import RunContext
from ximagenet12.locking import folder_lock
from ximagenet12.registry import Variant, resolve
from ximagenet12.types import SampleError, Skipped, SourceItem

__all__ = [
    "BLOCK_SAMPLES",
    "BuildSummary",
    "ConfigSummary",
    "build_dataset",
    "is_previous_build",
]

#: Samples per resumable block (one part file per config per block; at ~100 KB per
#: 500x375 JPEG a block's part is ~100 MB, so it usually becomes a shard without a rewrite).
BLOCK_SAMPLES = 1000
#: Samples handed to a worker at a time.
CHUNK_SAMPLES = 4
#: Encoded rows buffered (all configs together) before they are written to the parts.
WRITE_BUFFER_BYTES = 32 * 1024 * 1024
_STATE_FORMAT = 1


# --------------------------------------------------------------------------- summary


@dataclass
class ConfigSummary:
    name: str
    scenario: str
    level: int | None
    mode: str
    rows: int = 0
    num_bytes: int = 0  # Arrow bytes (what datasets reports as a split's num_bytes)
    download_size: int = 0  # bytes of the parquet files
    files: list[str] = field(default_factory=list)


@dataclass
class BuildSummary:
    """What a build produced; ``str()`` gives the report the CLI prints."""

    out_dir: Path
    source: str
    seed: int
    split: str
    samples: int
    classes: list[str]
    class_names: list[str]
    configs: dict[str, ConfigSummary]
    skipped: list[Skipped]
    elapsed: float
    resumed_blocks: int = 0
    license: str = "unknown"
    #: configs left out because no sample gave them a row: name -> why
    empty_configs: dict[str, str] = field(default_factory=dict)
    #: hidden files of the source left out on purpose
    hidden_files: int = 0
    #: the same build was already finished in ``out_dir``: nothing was done
    nothing_to_do: bool = False

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.configs.values())

    @property
    def download_size(self) -> int:
        return sum(c.download_size for c in self.configs.values())

    def load_line(self, config: str | None = None) -> str:
        config = config or ("original" if "original" in self.configs else next(iter(self.configs)))
        return f'datasets.load_dataset("{self.out_dir}", "{config}", split="{self.split}")'

    def __str__(self) -> str:
        if self.nothing_to_do:
            return (f"nothing to do: {self.out_dir} already holds this build, finished, with the same settings "
                    f"({len(self.configs)} config(s), {self.rows} rows); pass --overwrite to build it again\n"
                    f"load it with:\n  import datasets; ds = {self.load_line()}")
        lines = [
            f"built {len(self.configs)} config(s), {self.rows} rows, {self.download_size / 2**20:.1f} MiB "
            f"from {self.samples} sample(s) of {self.source!r} in {self.elapsed:.1f} s -> {self.out_dir}",
        ]
        if self.resumed_blocks:
            lines.append(f"resumed: {self.resumed_blocks} block(s) were already done")
        width = max((len(n) for n in self.configs), default=6)
        for c in self.configs.values():
            lines.append(f"  {c.name:<{width}}  {c.rows:>7} rows  {c.download_size / 2**20:8.2f} MiB  {len(c.files)} file(s)")
        for name, why in self.empty_configs.items():
            lines.append(f"  {name:<{width}}  left out: no sample gave it a row ({why})")
        if self.hidden_files:
            lines.append(f"left out {self.hidden_files} hidden file(s) of the source on purpose (names starting with '.')")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} (sample, scenario) pair(s), listed in {SKIPPED_FILE}:")
            for s in self.skipped[:20]:
                lines.append(f"  - {s.source_id} [{s.scenario or 'all scenarios'}]: {s.reason}")
            if len(self.skipped) > 20:
                lines.append(f"  ... and {len(self.skipped) - 20} more")
        else:
            lines.append("skipped: none")
        lines.append("load it with:")
        lines.append(f"  import datasets; ds = {self.load_line()}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- the output folder

def is_previous_build(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a (finished or interrupted) ximagenet12 build."""
    from ximagenet12.builder.safety import read_build_info

    folder = Path(folder)
    return read_build_info(folder) is not None or (folder / WORK_DIR / "state.json").is_file()


def _prepare_out_dir(out: Path, *, resume: bool, overwrite: bool, fingerprint: dict[str, Any]) -> OutPlan:
    """Plan what to do with ``out`` (refusing what would destroy or mix data), then do it."""
    plan = plan_out_dir(out, resume=resume, overwrite=overwrite, fingerprint=fingerprint)
    if plan.action == "fresh":
        apply_fresh(out, plan)
        work = out / WORK_DIR
        work.mkdir(parents=True)
        atomic_write_bytes(work / "state.json",
                           json.dumps({"format": _STATE_FORMAT, "fingerprint": fingerprint}).encode())
    return plan


def _block_record(work: Path, block: int) -> Path:
    return work / "blocks" / f"block-{block:06d}.json"


def _part_path(work: Path, config: str, block: int) -> Path:
    return work / "parts" / config / f"block-{block:06d}.parquet"


# --------------------------------------------------------------------------- the build


def _select(items: list[SourceItem], max_samples: int | None) -> list[SourceItem]:
    if max_samples is None or max_samples >= len(items):
        return items
    if max_samples < 1:
        raise ValueError(f"max_samples must be a positive integer, got {max_samples}")
    by_class: dict[str, list[SourceItem]] = defaultdict(list)
    for item in items:
        by_class[item.class_key].append(item)
    chosen: set[str] = set()
    queues = [iter(v) for _, v in sorted(by_class.items())]
    while len(chosen) < max_samples:  # round-robin over classes, so every class shows up
        for queue in queues:
            item = next(queue, None)
            if item is not None and len(chosen) < max_samples:
                chosen.add(item.source_id)
    return [i for i in items if i.source_id in chosen]


def _open(source: Any) -> Any:
    if source is None:
        from ximagenet12.builder.sample import sample_source

        return sample_source()
    if isinstance(source, (str, os.PathLike)):
        from ximagenet12.sources import open_source

        return open_source(source)
    if not (hasattr(source, "items") and hasattr(source, "classes")):
        raise TypeError(f"source must be a Source, a path or None (the embedded sample), got {type(source).__name__}")
    return source


def _fingerprint(source: Any, items: list[SourceItem], variants: list[Variant], seed: int, split: str,
                 block_samples: int, backgrounds: BackgroundLibrary | None) -> dict[str, Any]:
    ids = hashlib.blake2b(digest_size=16)
    for item in items:
        ids.update(f"{item.class_key}\x1f{item.source_id}\x1e".encode())
    return {
        "format": _STATE_FORMAT,
        "version": __version__,
        "source": getattr(source, "name", str(source)),
        "samples": len(items),
        "items": ids.hexdigest(),
        "classes": list(source.classes),
        "configs": [v.config_name for v in variants],
        "seed": int(seed),
        "split": split,
        "block_samples": int(block_samples),
        "backgrounds": list(backgrounds.ids) if backgrounds is not None else None,
    }


def _iter_results(
    items: list[SourceItem], start: int, pool: ProcessPoolExecutor | None, num_proc: int
) -> Iterator[SampleRows]:
    """Each sample's rows, in source order; workers run at most ``2 * num_proc`` chunks ahead."""
    chunks = (
        [(start + j, item) for j, item in enumerate(items[k : k + CHUNK_SAMPLES], start=k)]
        for k in range(0, len(items), CHUNK_SAMPLES)
    )
    if pool is None:
        for chunk in chunks:
            yield from _work_chunk(chunk)
        return
    ahead: deque[Future] = deque()
    try:
        for chunk in chunks:
            ahead.append(pool.submit(_work_chunk, chunk))
            if len(ahead) >= 2 * num_proc:  # bounded: memory does not grow with the source
                yield from ahead.popleft().result()
        while ahead:
            yield from ahead.popleft().result()
    except BrokenProcessPool as exc:
        raise RuntimeError(
            "a build worker process died (killed, out of memory, or unable to start: worker "
            "processes re-import the calling script, so a build started from standard input "
            "needs num_proc=1); finished blocks are kept, rerun with resume=True (--resume)"
        ) from exc
    finally:
        for future in ahead:
            future.cancel()


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop now: drop queued chunks and end the worker processes (finished blocks stay)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public terminate before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()


def build_dataset(
    source: Any = None,
    out_dir: str | os.PathLike[str] = "ximagenet12-out",
    *,
    scenarios: str | Sequence[str] | Sequence[Variant] = "all",
    seed: int = 0,
    num_proc: int = 1,
    resume: bool = False,
    strict: bool = False,
    overwrite: bool = False,
    backgrounds: BackgroundLibrary | str | os.PathLike[str] | None = None,
    split: str = "train",
    progress: bool = True,
    license: str | None = None,
    max_samples: int | None = None,
    block_samples: int = BLOCK_SAMPLES,
    generation: Any = None,
    pretty_name: str = "XImageNet-12",
    repo_id: str | None = None,
) -> BuildSummary:
    """Build ``out_dir`` (a Hub-ready folder: ``data/<config>/*.parquet`` + card) from ``source``.

    ``source``: a :class:`~ximagenet12.sources.Source`, a path for
    :func:`~ximagenet12.sources.open_source`, or ``None`` for the embedded sample.
    ``scenarios``: names, ``<name>@<level>``/``<name>_level<k>``, ``all`` (paper level of
    every non-generative scenario) or ``all-levels``; or :class:`Variant` objects.
    ``backgrounds``: a :class:`BackgroundLibrary` or a folder of photos for
    ``random_background`` (default: scikit-image's photographs).
    ``strict``: stop at the first bad sample (raising its :class:`SampleError`) instead of
    recording it in ``skipped.jsonl``. ``resume``: continue an interrupted build in
    ``out_dir`` (same settings); ``overwrite``: write into a folder that holds something
    else (only the build's own files are replaced). ``license``: the card's licence id
    (default: the source's ``license`` attribute, else ``unknown``). ``max_samples``: build
    only that many samples, taken round-robin over classes. ``generation``: a
    :class:`ximagenet12.generation.GenerationOptions` for generative scenarios
    (``ai_background``). ``repo_id``: the Hub repo named in the card's examples.

    Safety (issue 17): an ``out_dir`` that is, holds or lies inside the source is refused
    before anything is touched; the folder is locked for the whole build
    (:func:`ximagenet12.locking.folder_lock`: a second run stops with "in use by process
    N"); only files listed in the folder's own manifest (``build_info.json`` ``files``)
    are ever deleted; a finished build with other settings is replaced only with
    ``overwrite``, and ``resume`` on the same finished build does nothing and says so.
    Shards are written under a staging folder and get their final names only when every
    config is complete; a failed write (full disk) is one ``OSError`` line, with the
    temporary files removed. A config no sample can fill is left out (named in the
    summary and ``build_info.json``).
    """
    started = time.perf_counter()
    variants = _checked_options(scenarios, num_proc=num_proc, block_samples=block_samples, split=split)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder")
    check_out_vs_source(out, source_roots(source, None))  # before the source is even listed
    src = _open(source)
    check_out_vs_source(out, source_roots(source, src))
    items = _select(list(src.items()), max_samples)
    if not items:
        raise ValueError(f"source {getattr(src, 'name', src)!r} has no usable sample; skipped: "
                         + "; ".join(f"{s.source_id}: {s.reason}" for s in list(src.skipped)[:5]))
    if strict and src.skipped:
        first = src.skipped[0]
        raise SampleError(first.source_id, first.reason)

    plain = [v for v in variants if v.scenario.family != "generative"]
    generative = [v for v in variants if v.scenario.family == "generative"]
    if isinstance(backgrounds, (str, os.PathLike)):
        backgrounds = BackgroundLibrary.from_folder(backgrounds)
    if backgrounds is None and any(v.scenario.needs == "background" for v in plain):
        backgrounds = BackgroundLibrary.default()
    donors = DonorSampler(items) if any(v.scenario.needs == "donor" for v in plain) else None
    fingerprint = _fingerprint(src, items, variants, seed, split, block_samples, backgrounds)
    if generative:
        from ximagenet12.generation import GenerationOptions

        generation = generation or GenerationOptions()
        generation.validate()  # a bad model, device or prompt file fails before anything is written
        fingerprint["generation"] = _generation_fingerprint(generation)
    classes, class_names = list(src.classes), list(src.class_names)
    job = _Job(
        src=src, items=items, variants=variants, plain=plain, generative=generative,
        context=RunContext(seed=int(seed), backgrounds=backgrounds, donors=donors),
        class_index={key: i for i, key in enumerate(classes)}, seed=int(seed), split=split,
        block_samples=block_samples, num_proc=num_proc, strict=strict, progress=progress,
        generation=generation, out=out, features=build_features(class_names),
    )
    with folder_lock(out, purpose="build"):
        try:
            plan = _prepare_out_dir(out, resume=resume, overwrite=overwrite, fingerprint=fingerprint)
            if plan.action == "finished":
                return _finished_summary(out, plan.info or {}, src)
            skipped, resumed = _run_blocks(job)
            summary = _finish(job, skipped, resumed, fingerprint=fingerprint, license=license,
                              pretty_name=pretty_name, repo_id=repo_id, started=started)
        except OSError as exc:
            remove_temporary_files(out)
            raise _write_error(out, exc) from exc
    return summary


def _checked_options(scenarios: Any, *, num_proc: Any, block_samples: Any, split: Any) -> list[Variant]:
    """Check the plain options; returns the variants to build."""
    if not isinstance(num_proc, int) or num_proc < 1:
        raise ValueError(f"num_proc must be a positive integer, got {num_proc!r}")
    if not isinstance(block_samples, int) or block_samples < 1:
        raise ValueError(f"block_samples must be a positive integer, got {block_samples!r}")
    if not isinstance(split, str) or not split.replace("_", "").isalnum():
        raise ValueError(f"split must be a name like 'train', got {split!r}")
    if isinstance(scenarios, str) or (scenarios and not isinstance(scenarios[0], Variant)):
        variants = resolve(scenarios)
    else:
        variants = list(scenarios)
    if not variants:
        raise ValueError("no scenario to build")
    configs = [v.config_name for v in variants]
    if len(set(configs)) != len(configs):
        raise ValueError(f"scenarios name a config twice: {configs}")
    return variants


@dataclass
class _Job:
    """What every stage of one build needs (fixed once the options are checked)."""

    src: Any
    items: list[SourceItem]
    variants: list[Variant]
    plain: list[Variant]
    generative: list[Variant]
    context: RunContext
    class_index: dict[str, int]
    seed: int
    split: str
    block_samples: int
    num_proc: int
    strict: bool
    progress: bool
    generation: Any
    out: Path
    features: Any

    @property
    def work(self) -> Path:
        return self.out / WORK_DIR

    @property
    def n_blocks(self) -> int:
        return (len(self.items) + self.block_samples - 1) // self.block_samples


def _write_error(out: Path, exc: OSError) -> OSError:
    """One clear line for a failed write (full disk, no permission, ...)."""
    import errno

    what = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device"
    where = f" ({Path(exc.filename).name})" if exc.filename else ""
    return type(exc)(
        f"could not write the build in {out}: {what}{where}. Temporary files were removed and no file of the "
        f"unfinished build has a final name; finished blocks are kept: free space and rerun with --resume"
    ) if not isinstance(exc, PermissionError) else PermissionError(f"cannot write to {out}: {what}{where}")


def _run_blocks(job: _Job) -> tuple[list[Skipped], int]:
    """Build every block not done yet into its parts; returns the skips and the resumed block count."""
    skipped: list[Skipped] = list(job.src.skipped)
    schema = arrow_schema(job.features)
    bar = None
    if job.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(job.items), unit="sample", desc="building", file=sys.stderr, dynamic_ncols=True)
    outputs = resumed = 0
    pool = None
    try:
        for block in range(job.n_blocks):
            lo, hi = block * job.block_samples, min(len(job.items), (block + 1) * job.block_samples)
            record = _block_record(job.work, block)
            if record.is_file():
                done = json.loads(record.read_text(encoding="utf-8"))
                skipped += [Skipped(d["source_id"], d["reason"], d["scenario"]) for d in done["skipped"]]
                outputs += done["rows"]
                resumed += 1
                if bar is not None:
                    bar.update(hi - lo)
                    bar.set_postfix(outputs=outputs)
                continue
            if pool is None and job.num_proc > 1 and job.plain:
                pool = ProcessPoolExecutor(
                    job.num_proc, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_pool_worker, initargs=(job.plain, job.context, job.class_index, os.getpid()),
                )
            elif pool is None:
                _init_worker(job.plain, job.context, job.class_index)
            block_rows, block_skipped = _build_block(job, block, lo, hi, pool, schema, bar, outputs)
            atomic_write_bytes(
                record,
                json.dumps({"rows": block_rows, "skipped": [s.to_dict() for s in block_skipped]}).encode(),
            )
            skipped += block_skipped
            outputs += block_rows
    except BaseException:
        if pool is not None:  # stop the workers now; finished blocks stay for resume
            _stop_workers(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if bar is not None:
            bar.close()
    return skipped, resumed


def _build_block(job: _Job, block: int, lo: int, hi: int, pool: ProcessPoolExecutor | None, schema: Any,
                 bar: Any, outputs: int) -> tuple[int, list[Skipped]]:
    """One block's samples into its part files (which appear only when all are complete)."""
    writers = {v.config_name: PartWriter(_part_path(job.work, v.config_name, block), schema) for v in job.variants}
    block_skipped: list[Skipped] = []
    loaded: list[SourceItem] = []
    block_rows = 0
    try:
        pending: dict[str, list[Row]] = defaultdict(list)
        pending_bytes = 0
        for res in _iter_results(job.items[lo:hi], lo, pool, job.num_proc):
            if job.strict and res.skipped:
                s = res.skipped[0]
                raise SampleError(s.source_id, s.reason if s.scenario is None else f"{s.scenario}: {s.reason}")
            block_skipped += res.skipped
            if res.loaded:
                loaded.append(job.items[res.index])
            for config, row in res.rows.items():
                pending[config].append(row)
                pending_bytes += len(row[0]) + len(row[1])
            block_rows += len(res.rows)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(outputs=outputs + block_rows)
            if pending_bytes >= WRITE_BUFFER_BYTES:  # memory stays bounded; fewer, larger writes
                for config, rows in pending.items():
                    writers[config].write(rows)
                pending, pending_bytes = defaultdict(list), 0
        for config, rows in pending.items():
            writers[config].write(rows)
        classes = job.src.classes
        for variant in job.generative:
            rows, gen_skipped, gen_errors = _generate(
                variant, loaded, seed=job.seed, options=job.generation, out=job.out, class_index=job.class_index,
                class_names=dict(zip(classes, job.src.class_names)))
            if job.strict and gen_errors:  # hard samples skipped by policy are not errors
                raise gen_errors[0]
            writers[variant.config_name].write(rows)
            block_skipped += gen_skipped
            block_rows += len(rows)
        for writer in writers.values():
            writer.commit()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return block_rows, block_skipped


def _empty_configs(job: _Job, skipped: list[Skipped]) -> dict[str, str]:
    """Configs none of whose parts holds a row, with the first reason recorded for them."""
    import pyarrow.parquet as pq

    empty: dict[str, str] = {}
    for variant in job.variants:
        name = variant.config_name
        parts = [_part_path(job.work, name, b) for b in range(job.n_blocks)]
        if any(pq.ParquetFile(p).metadata.num_rows for p in parts):
            continue
        why = next((s.reason for s in skipped if s.scenario == name), None)
        why = why or next((s.reason for s in skipped if s.scenario is None), "every sample was skipped")
        empty[name] = why
    return empty


def _finish(job: _Job, skipped: list[Skipped], resumed: int, *, fingerprint: dict[str, Any], license: str | None,
            pretty_name: str, repo_id: str | None, started: float) -> BuildSummary:
    """Parts -> shards in a staging folder, moved into place; then skipped.jsonl, the card and,
    last, build_info.json (whose presence marks a finished build)."""
    out, work, src = job.out, job.work, job.src
    empty = _empty_configs(job, skipped)
    if len(empty) == len(job.variants):
        raise ValueError(f"no config of the build has any row: {next(iter(empty.values()))}; see the skipped samples "
                         f"with strict=False, or in {out / WORK_DIR}")
    if empty and job.strict:
        raise ValueError("config(s) " + "; ".join(f"{n} would be empty ({why})" for n, why in empty.items())
                         + "; an empty config is never written")
    built = [v for v in job.variants if v.config_name not in empty]
    schema = arrow_schema(job.features)
    stage = work / "final"
    if stage.exists():
        shutil.rmtree(stage)
    summaries: dict[str, ConfigSummary] = {}
    for variant in built:
        name = variant.config_name
        parts = [_part_path(work, name, b) for b in range(job.n_blocks)]
        files, rows, nbytes = finalize_parts(parts, stage / DATA_DIR / name, schema, split=job.split)
        summaries[name] = ConfigSummary(
            name=name, scenario=variant.name, level=variant.effective_level, mode=variant.scenario.mode, rows=rows,
            num_bytes=nbytes, download_size=sum(f.stat().st_size for f in files),
            files=[f"{DATA_DIR}/{f.relative_to(stage / DATA_DIR).as_posix()}" for f in files],
        )
    summary = BuildSummary(
        out_dir=out, source=str(getattr(src, "name", src)), seed=job.seed, split=job.split,
        samples=len(job.items), classes=list(src.classes), class_names=list(src.class_names), configs=summaries,
        skipped=skipped, elapsed=0.0, resumed_blocks=resumed,
        license=license or getattr(src, "license", None) or "unknown",
        empty_configs=empty, hidden_files=len(getattr(src, "hidden", ()) or ()),
    )
    files = [f for c in summaries.values() for f in c.files] + [SKIPPED_FILE, CARD_FILE, BUILD_INFO]
    atomic_write_bytes(stage / SKIPPED_FILE, "".join(json.dumps(s.to_dict()) + "\n" for s in skipped).encode("utf-8"))
    from ximagenet12.dataset_card.render import render_card

    card = render_card(summary, built, job.features, pretty_name=pretty_name, repo_id=repo_id,
                       license_name=getattr(src, "license_name", None), source_notes=getattr(src, "notes", None))
    atomic_write_bytes(stage / CARD_FILE, card.encode("utf-8"))
    summary.elapsed = time.perf_counter() - started
    info = _build_info(summary, job.variants, job.context.backgrounds, job.generative, job.generation)
    info.update(settings=fingerprint, files=files, empty_configs=empty, hidden_files=summary.hidden_files)
    atomic_write_bytes(stage / BUILD_INFO, json.dumps(info, indent=2).encode("utf-8"))
    _publish(out, stage, files)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def _publish(out: Path, stage: Path, files: list[str]) -> None:
    """Give the complete staged build its final names: renames only (no new bytes, so a
    full disk cannot stop it half-way), ``build_info.json`` last."""
    work = out / WORK_DIR
    state = json.loads((work / "state.json").read_text(encoding="utf-8"))
    atomic_write_bytes(work / "state.json", json.dumps({**state, "files": files}).encode())  # ours, if we crash now
    if (out / DATA_DIR).exists():  # only an earlier try of this very build can have put it there
        shutil.rmtree(out / DATA_DIR)
    for name in (DATA_DIR, SKIPPED_FILE, CARD_FILE, BUILD_INFO):
        os.replace(stage / name, out / name)


def _finished_summary(out: Path, info: dict[str, Any], src: Any) -> BuildSummary:
    """The summary of the finished build already in ``out`` (for a ``--resume`` that has nothing to do)."""
    files = [f for f in info.get("files") or [] if isinstance(f, str)]
    configs = {}
    for name, rows in (info.get("rows") or {}).items():
        mine = [f for f in files if f.startswith(f"{DATA_DIR}/{name}/")]
        configs[name] = ConfigSummary(name=name, scenario=name, level=None, mode="", rows=int(rows), files=mine,
                                      download_size=sum((out / f).stat().st_size for f in mine if (out / f).is_file()))
    return BuildSummary(
        out_dir=out, source=str(info.get("source")), seed=int(info.get("seed", 0)), split=str(info.get("split")),
        samples=int(info.get("samples", 0)), classes=list(info.get("classes") or []),
        class_names=list(info.get("class_names") or []), configs=configs, skipped=[], elapsed=0.0,
        license=str(info.get("license")), empty_configs=dict(info.get("empty_configs") or {}),
        hidden_files=int(info.get("hidden_files") or 0), nothing_to_do=True,
    )


def _generate(variant: Variant, loaded: list[SourceItem], *, seed: int, options: Any, out: Path,
              class_index: dict[str, int], class_names: dict[str, str],
              ) -> tuple[list[Row], list[Skipped], list[SampleError]]:
    """Run a generative variant on the block's samples in this process (batched).

    Returns the rows, every skip (hard samples by policy and failed samples) and, apart,
    the failures, which ``--strict`` turns into an error.
    """
    from ximagenet12.generation import generate_variant

    samples = [item.load() for item in loaded]
    results = generate_variant(variant, samples, seed=seed, options=options, cache_dir=out / ".cache",
                               class_names=class_names)
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
            rows.append(result_row(variant, sample, res, class_index[sample.class_key]))
    return rows, skipped, errors


#: generation options that do not change a generated image, so a resumed build may change them
_GENERATION_RUN_ONLY = ("batch_size", "device")


def _generation_fingerprint(generation: Any) -> str:
    """What of the generation options must stay equal for ``--resume`` (not batch size or device)."""
    values = {f.name: getattr(generation, f.name) for f in fields(generation)}
    return repr({k: v for k, v in values.items() if k not in _GENERATION_RUN_ONLY})


def _build_info(summary: BuildSummary, variants: list[Variant], backgrounds: BackgroundLibrary | None,
                generative: list[Variant], generation: Any) -> dict[str, Any]:
    import cv2
    import datasets
    import pyarrow

    return {
        "builder": "ximagenet12",
        "source": summary.source,
        "seed": summary.seed,
        "split": summary.split,
        "scenarios": [v.config_name for v in variants],
        "samples": summary.samples,
        "classes": summary.classes,
        "class_names": summary.class_names,
        "rows": {c.name: c.rows for c in summary.configs.values()},
        "skipped": len(summary.skipped),
        "backgrounds": list(backgrounds.ids) if backgrounds is not None else None,
        "generation": repr(generation) if generative else None,
        "license": summary.license,
        "elapsed_s": round(summary.elapsed, 3),
        "versions": {
            "ximagenet12": __version__,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "pyarrow": pyarrow.__version__,
            "datasets": datasets.__version__,
        },
    }
