"""Build a Hub-ready dataset folder from a source: one parquet config per scenario variant.

A build is three stages, each in the module of its name (STYLE.md §7, "encode once,
where it is cheap"):

1. ``plan`` (:mod:`~ximagenet12.builder.plan`): open the source, check every option,
   fingerprint the settings and cut the samples into blocks;
2. ``process`` (:mod:`~ximagenet12.builder.process`): per block, in a worker, decode each
   sample ONCE, apply every requested variant, encode JPEG/PNG bytes and write the
   block's part files under ``<out>/.cache/ximagenet12-build/``; generative variants
   (``ai_background``) run batched on the block's samples; a block is recorded as done
   only once all its parts are in place, so ``resume=True`` skips finished blocks;
3. ``finalize`` (:mod:`~ximagenet12.builder.finalize`): each config's parts become its
   ``data/<config>/<split>-XXXXX-of-YYYYY.parquet`` shards in a staging folder, with
   ``skipped.jsonl``, the card ``README.md`` and ``build_info.json`` (the manifest of every
   file written), which get their final names by renames only, ``build_info.json`` last.

Only the executor (:mod:`~ximagenet12.engines.local`: in-process, a local process
pool, or Ray) differs between engines. What keeps a build from destroying or mixing data
(the source check, the manifest, the folder lock) is in
:mod:`ximagenet12.builder.safety` and :mod:`ximagenet12.io.locking`. Every random draw comes
from a generator derived from (seed, source id, scenario, level) and results are taken in
block order, so the rows do not depend on the engine or ``num_proc``.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from ximagenet12.scenarios.backgrounds import BackgroundLibrary
from ximagenet12.engines.local import make_executor
from ximagenet12.builder.finalize import BuildSummary, CardOptions, ConfigSummary, finalize_build, finished_summary
from ximagenet12.builder.layout import (
    WORK_DIR,
    destination_path,
    is_previous_build,
    prepare_out_dir,
    remember_block_samples,
    remembered_block_samples,
    write_error,
)
from ximagenet12.builder.plan import BLOCK_SAMPLES, plan_build, resolve_block_samples, source_skipped
from ximagenet12.builder.process import run_process_stage
from ximagenet12.builder.safety import check_out_vs_source, remove_temporary_files, source_roots
from ximagenet12.hub.validate import card_text, check_repo_id
from ximagenet12.io.locking import folder_lock
from ximagenet12.scenarios.registry import Variant

__all__ = [
    "BLOCK_SAMPLES",
    "BuildSummary",
    "ConfigSummary",
    "WORK_DIR",
    "build_dataset",
    "is_previous_build",
]


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
    block_samples: int | None = None,
    generation: Any = None,
    pretty_name: str = "XImageNet-12",
    repo_id: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    executor: Any = None,
    storage_options: dict[str, Any] | None = None,
    auto_mask: Any = None,
    source_split: str | None = None,
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
    only that many samples, taken round-robin over classes. ``block_samples``: samples per
    resumable block (default: about 32 blocks of 8 to ``BLOCK_SAMPLES`` samples, the
    same for any ``num_proc`` or engine, so the output files are the same bytes).
    ``generation``: a :class:`ximagenet12.scenarios.generation.GenerationOptions` for generative
    scenarios (``ai_background``). ``repo_id``: the Hub repo named in the card's examples. ``out_dir`` may be a ``file://`` or object-store URL (``s3://bucket/prefix``,
    ``gs://...``: :mod:`ximagenet12.io.storage`; with ``storage_options``). ``engine``: ``local``
    (``num_proc`` processes) or ``ray`` (block tasks on the Ray cluster at ``ray_address``, default
    ``$RAY_ADDRESS``, else a local Ray instance; see :mod:`ximagenet12.engines.ray`).
    ``executor``: an executor object instead (e.g. a configured
    :class:`ximagenet12.engines.ray.RayExecutor`); the caller closes it. ``auto_mask``: make the
    masks of a source of photos without masks: a maker name (``grabcut``, ``rembg``), a
    ``transformers`` model id or folder, or a :class:`ximagenet12.sources.automask.MaskMaker`;
    masks are made in the workers, every row's provenance records ``mask_source``, and masks
    covering under 1 % or over 95 % of the frame are recorded skips.

    Safety (issue 17): an ``out_dir`` that is, holds or lies inside the source is refused
    before anything is touched; the folder is locked for the whole build
    (:func:`ximagenet12.io.locking.folder_lock`: a second run stops with "in use by process
    N"); only files listed in the folder's own manifest (``build_info.json`` ``files``)
    are ever deleted; a finished build with other settings is replaced only with
    ``overwrite``, and ``resume`` on the same finished build does nothing and says so.
    Shards are written under a staging folder and get their final names only when every
    config is complete; a failed write (full disk) is one ``OSError`` line, with the
    temporary files removed. A config no sample can fill is left out (named in the
    summary and ``build_info.json``). ``source_split``: where the source images come from
    (:data:`~ximagenet12.core.constants.SOURCE_SPLITS`; default: the source's ``source_split``
    attribute, else ``unknown``), recorded in ``build_info.json``.
    """
    from ximagenet12.core.constants import SOURCE_SPLITS

    if source_split is not None and source_split not in SOURCE_SPLITS:
        raise ValueError(f"source_split must be one of {', '.join(SOURCE_SPLITS)}, got {source_split!r}")
    started = time.perf_counter()
    if repo_id is not None:  # the card names it: refused before any work (newlines, HTML, links, `..`)
        check_repo_id(repo_id, option="--repo-id")
    card_text(pretty_name)  # a line break or control character has no place in the card's title
    with _executor(executor, engine=engine, num_proc=num_proc, ray_address=ray_address) as executor:
        out = destination_path(out_dir, storage_options=storage_options)
        _check_out(out, source, None)  # before the source is even listed
        plan = plan_build(source, scenarios=scenarios, seed=seed, split=split, block_samples=block_samples,
                          max_samples=max_samples, backgrounds=backgrounds, generation=generation, strict=strict,
                          auto_mask=auto_mask)
        _check_out(out, source, plan.source)
        return _locked_build(plan, out, executor, resume=resume, overwrite=overwrite, strict=strict,
                             progress=progress, card=CardOptions(license, pretty_name, repo_id, source_split), started=started)


@contextmanager
def _executor(executor: Any, *, engine: str, num_proc: int, ray_address: str | None) -> Iterator[Any]:
    """The caller's executor as is, or one made for ``engine`` and closed on the way out."""
    if executor is not None:
        yield executor
        return
    executor = make_executor(engine, num_proc=num_proc, **({"address": ray_address} if engine == "ray" else {}))
    try:
        yield executor
    finally:
        if hasattr(executor, "close"):
            executor.close()


def _locked_build(plan: Any, out: Any, executor: Any, **options: Any) -> BuildSummary:
    """Lock the folder, connect the executor, build; a failed write becomes one ``OSError`` line."""
    with folder_lock(out, purpose="build"):
        if hasattr(executor, "preflight"):  # connect to a cluster before the folder is changed
            executor.preflight()
        try:
            return _build(plan, out, executor, **options)
        except OSError as exc:
            remove_temporary_files(out)
            raise write_error(out, exc) from exc


def _check_out(out: Any, spec: Any, source: Any) -> None:
    """Refuse a local output folder that is, holds or lies inside the source (a store cannot)."""
    if isinstance(out, Path):
        check_out_vs_source(out, source_roots(spec, source))


def _build(plan: Any, out: Any, executor: Any, *, resume: bool, overwrite: bool, strict: bool, progress: bool,
           card: CardOptions, started: float) -> BuildSummary:
    """The locked part: prepare the folder, process the blocks, finalize."""
    from ximagenet12.builder.schema import arrow_schema, build_features

    out_plan = prepare_out_dir(out, resume=resume, overwrite=overwrite, fingerprint=plan.fingerprint)
    if out_plan.action == "finished":
        return finished_summary(out, out_plan.info or {})
    work = out / WORK_DIR
    plan = resolve_block_samples(plan, remembered=remembered_block_samples(work))
    remember_block_samples(work, plan.block_samples)
    features = build_features(plan.class_names)
    outcome = run_process_stage(plan, work, executor, arrow_schema(features), strict=strict, progress=progress)
    return finalize_build(plan, work, out, skipped=source_skipped(plan) + outcome.skipped,
                          resumed_blocks=outcome.resumed_blocks, features=features, card=card, started=started,
                          strict=strict, mapper=getattr(executor, "map", map))
