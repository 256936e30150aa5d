"""Stage 3 of a build, ``finalize`` (once): parts -> Hub shards, ``skipped.jsonl``, card, ``build_info.json``.

Each config's parts, in block order, become ``data/<config>/<split>-XXXXX-of-YYYYY.parquet``
(hard-linked when they already make good shards, merged into 100-row groups otherwise) in
a staging folder, with the skip list, the dataset card and ``build_info.json`` (the
manifest of every file written); :func:`publish` then gives them their final names by
renames only, ``build_info.json`` last, and the work folder is removed. A config no sample
could fill is left out and named.

For a folder in an object store (:func:`finalize_to_store`), which has no rename, the parts
are downloaded to local scratch, finalized there exactly as above, and the result uploaded
file by file, each in one request (an object appears only complete), ``build_info.json``
last: it is the commit marker. Until it is there, the prefix is an interrupted build
(its ``.cache/ximagenet12-build/state.json`` lists the files already uploaded, so
``--resume`` finishes them and ``--overwrite`` may replace them), never a finished one.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from ximagenet12 import __version__
from ximagenet12.builder.layout import BUILD_INFO, CARD_FILE, DATA_DIR, SKIPPED_FILE, WORK_DIR, part_path
from ximagenet12.builder.plan import BuildPlan
from ximagenet12.builder.writer import atomic_write_bytes, cdc_options, finalize_parts
from ximagenet12.io.locking import check_lock_held
from ximagenet12.scenarios.registry import Variant
from ximagenet12.io.storage import StorePath
from ximagenet12.core.types import Skipped

__all__ = ["BuildSummary", "CardOptions", "ConfigSummary", "empty_configs", "finalize_build", "finalize_to_store",
           "finished_summary", "publish", "publish_to_store"]


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
    #: where the source images come from (``build --source-split``), or unknown
    source_split: str = "unknown"
    #: configs left out because no sample gave them a row: name -> why
    empty_configs: dict[str, str] = field(default_factory=dict)
    #: hidden files of the source left out on purpose
    hidden_files: int = 0
    #: the same build was already finished in ``out_dir``: nothing was done
    nothing_to_do: bool = False
    #: background photos that show a class of this build (``check_background_library``)
    background_findings: list = field(default_factory=list)
    #: why the background photos could not be checked, else None
    background_unchecked: str | None = None

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.configs.values())

    @property
    def download_size(self) -> int:
        return sum(c.download_size for c in self.configs.values())

    def load_line(self, config: str | None = None) -> str:
        config = config or ("original" if "original" in self.configs else next(iter(self.configs)))
        if isinstance(self.out_dir, StorePath):  # datasets takes a store's files, not its folder, as a path
            return (f'datasets.load_dataset("parquet", data_files="{self.out_dir}/{DATA_DIR}/{config}/{self.split}-*.parquet", '
                    f'split="{self.split}")  # + storage_options=... as for the build')
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
        lines += background_warning(self.background_findings)
        if self.background_unchecked:
            lines.append(f"WARNING: {self.background_unchecked}; look at the photos yourself "
                         "(recorded in build_info.json 'background_check')")
        lines.append("load it with:")
        lines.append(f"  import datasets; ds = {self.load_line()}")
        return "\n".join(lines)


@dataclass(frozen=True)
class CardOptions:
    """What the card says beyond the data: licence id, title, Hub repo for its examples."""

    license: str | None = None
    pretty_name: str = "XImageNet-12"
    repo_id: str | None = None
    source_split: str | None = None


def _merge_config(job: tuple[list[Path], Path, pa.Schema, str, dict[str, int]]) -> tuple[list[Path], int, int]:
    parts, folder, schema, split, cdc = job
    return finalize_parts(parts, folder, schema, split=split, cdc=cdc)


def empty_configs(plan: BuildPlan, work: Path, skipped: list[Skipped]) -> dict[str, str]:
    """Configs none of whose parts holds a row, with the first reason recorded for them."""
    import pyarrow.parquet as pq

    empty: dict[str, str] = {}
    for variant in plan.variants:
        name = variant.config_name
        if any(pq.ParquetFile(part_path(work, name, b.index)).metadata.num_rows for b in plan.blocks):
            continue
        why = next((s.reason for s in skipped if s.scenario == name), None)
        empty[name] = why or next((s.reason for s in skipped if s.scenario is None), "every sample was skipped")
    return empty


def merge_configs(variants: list[Variant], plan: BuildPlan, work: Path, stage: Path, schema: pa.Schema, *,
                  mapper: Callable[..., Iterable[Any]] = map) -> dict[str, ConfigSummary]:
    """Every config's parts as its shards under ``stage/data/<config>/``; ``mapper`` (e.g. the
    executor's ``map``) may merge several configs at once: they are independent."""
    cdc = cdc_options()  # read here: a merging worker then need not import datasets (~0.6 s each)
    jobs = [([part_path(work, v.config_name, b.index) for b in plan.blocks], stage / DATA_DIR / v.config_name,
             schema, plan.split, cdc) for v in variants]
    summaries: dict[str, ConfigSummary] = {}
    for variant, (files, rows, nbytes) in zip(variants, mapper(_merge_config, jobs)):
        name = variant.config_name
        summaries[name] = ConfigSummary(
            name=name, scenario=variant.name, level=variant.effective_level, mode=variant.scenario.mode,
            rows=rows, num_bytes=nbytes, download_size=sum(f.stat().st_size for f in files),
            files=[f"{DATA_DIR}/{f.relative_to(stage / DATA_DIR).as_posix()}" for f in files],
        )
    return summaries


def finalize_build(plan: BuildPlan, work: Path, out: Path, *, skipped: list[Skipped], resumed_blocks: int,
                   features: Any, card: CardOptions, started: float, strict: bool = False,
                   mapper: Callable[..., Iterable[Any]] = map) -> BuildSummary:
    """Parts -> shards in a staging folder, moved into place; then ``skipped.jsonl``, the card
    and, last, ``build_info.json`` (whose presence marks a finished build); the work folder goes.

    A config no sample gave a row is left out and named (with ``strict``: an error).
    An object-store ``out`` goes through :func:`finalize_to_store`.
    """
    import time

    if isinstance(out, StorePath):
        return finalize_to_store(plan, work, out, skipped=skipped, resumed_blocks=resumed_blocks, features=features,
                                 card=card, started=started, strict=strict)

    from ximagenet12.builder.schema import arrow_schema
    from ximagenet12.dataset_card.render import render_card

    empty = empty_configs(plan, work, skipped)
    if len(empty) == len(plan.variants):
        shutil.rmtree(work)  # nothing to resume: the next run starts afresh
        raise ValueError("no config of the build has any row, so nothing was written: " + "; ".join(
            f"{name}: {why}" for name, why in list(empty.items())[:3]))
    if empty and strict:
        raise ValueError("config(s) " + "; ".join(f"{n} would be empty ({why})" for n, why in empty.items())
                         + "; an empty config is never written")
    built = [v for v in plan.variants if v.config_name not in empty]
    stage = work / "final"
    if stage.exists():
        shutil.rmtree(stage)
    src = plan.source
    summary = BuildSummary(
        out_dir=out, source=str(getattr(src, "name", src)), seed=plan.seed, split=plan.split,
        samples=len(plan.items), classes=plan.classes, class_names=plan.class_names,
        configs=merge_configs(built, plan, work, stage, arrow_schema(features), mapper=mapper), skipped=skipped,
        elapsed=0.0, resumed_blocks=resumed_blocks, license=card.license or getattr(src, "license", None) or "unknown",
        source_split=card.source_split or getattr(src, "source_split", None) or "unknown", empty_configs=empty,
        hidden_files=len(getattr(src, "hidden", ()) or ()),
        background_findings=list(plan.background_findings), background_unchecked=plan.background_unchecked,
    )
    files = [f for c in summary.configs.values() for f in c.files] + [SKIPPED_FILE, CARD_FILE, BUILD_INFO]
    atomic_write_bytes(stage / SKIPPED_FILE, "".join(json.dumps(s.to_dict()) + "\n" for s in skipped).encode("utf-8"))
    text = render_card(summary, built, features, pretty_name=card.pretty_name, repo_id=card.repo_id,
                       license_name=getattr(src, "license_name", None), source_notes=_source_notes(src, skipped),
                       background_ids=list(plan.backgrounds.ids) if plan.backgrounds is not None else None,
                       source_datasets=getattr(src, "source_datasets", None))
    atomic_write_bytes(stage / CARD_FILE, text.encode("utf-8"))
    summary.elapsed = time.perf_counter() - started
    info = build_info(summary, plan)
    info.update(settings=plan.fingerprint, files=files, empty_configs=empty, hidden_files=summary.hidden_files)
    atomic_write_bytes(stage / BUILD_INFO, json.dumps(info, indent=2).encode("utf-8"))
    publish(out, stage, files)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def _source_notes(src: Any, skipped: list[Skipped]) -> str | None:
    """The source's own card notes, plus how many photos automatic masks left out (``--auto-mask``)."""
    notes = getattr(src, "notes", None)
    if getattr(src, "mask_maker", None) is None:
        return notes
    from ximagenet12.sources.automask import skipped_masks_note

    return "\n\n".join(n for n in (notes, skipped_masks_note(skipped)) if n)


def publish(out: Path, stage: Path, files: list[str]) -> None:
    """Give the complete staged build its final names: renames only (no new bytes, so a
    full disk cannot stop it half-way), ``build_info.json`` last."""
    work = out / WORK_DIR
    state = json.loads((work / "state.json").read_text(encoding="utf-8"))
    atomic_write_bytes(work / "state.json", json.dumps({**state, "files": files}).encode())  # ours, if we crash now
    if (out / DATA_DIR).exists():  # only an earlier try of this very build can have put it there
        shutil.rmtree(out / DATA_DIR)
    for name in (DATA_DIR, SKIPPED_FILE, CARD_FILE, BUILD_INFO):
        os.replace(stage / name, out / name)


def _merge_and_free(fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[Any]:
    """Merge configs one by one in this process, deleting each config's local parts once its
    shards exist: local scratch peaks near the output's size plus one config, not twice it."""
    for job in jobs:
        result = fn(job)
        for part in job[0]:
            part.unlink(missing_ok=True)
        yield result


def finalize_to_store(plan: BuildPlan, work: StorePath, out: StorePath, **options: Any) -> BuildSummary:
    """:func:`finalize_build` for an object store: parts -> local scratch (``$TMPDIR``, about
    the output's size plus one config) -> finalized there -> uploaded by
    :func:`publish_to_store`; then the work prefix is removed. Configs merge in this process:
    Ray workers on other nodes cannot see this machine's scratch."""
    with tempfile.TemporaryDirectory(prefix="ximagenet12-finalize-") as tmp:
        local = Path(tmp) / "out"
        work.download(local / WORK_DIR)
        try:
            summary = finalize_build(plan, local / WORK_DIR, local, mapper=_merge_and_free, **options)
        except ValueError:
            if not (local / WORK_DIR).exists():  # no config has a row: nothing to resume, as locally
                work.remove_tree()
            raise
        info = json.loads((local / BUILD_INFO).read_text(encoding="utf-8"))
        publish_to_store(local, out, [f for f in info["files"] if isinstance(f, str)])
    work.remove_tree()
    summary.out_dir = out  # type: ignore[assignment]
    return summary


def publish_to_store(local: Path, out: StorePath, files: list[str]) -> None:
    """Upload the finished folder ``local`` to ``out``: first the file list into the work
    prefix's ``state.json`` (so a crash leaves them owned by this build), then every file
    whole, one request each, ``build_info.json`` last; shards an earlier try of this very
    build left under ``data/`` and no longer listed are deleted."""
    check_lock_held(out)  # a run that lost its lock while stalled publishes nothing
    state_path = out / WORK_DIR / "state.json"
    state = json.loads(state_path.read_text())
    state_path.write_bytes(json.dumps({**state, "files": files}).encode())
    for rel in (out / DATA_DIR).files():
        if f"{DATA_DIR}/{rel}" not in files:
            (out / DATA_DIR / rel).unlink()
    for rel in [f for f in files if f != BUILD_INFO]:
        (out / rel).upload(local / rel)
    check_lock_held(out)  # the commit marker only while the lock is still this run's
    (out / BUILD_INFO).upload(local / BUILD_INFO)


def _size(path: Path | StorePath) -> int:
    return path.size() if isinstance(path, StorePath) else path.stat().st_size


def finished_summary(out: Path, info: dict[str, Any]) -> BuildSummary:
    """The summary of the finished build already in ``out`` (for a ``--resume`` that has nothing to do)."""
    files = [f for f in info.get("files") or [] if isinstance(f, str)]
    configs = {}
    for name, rows in (info.get("rows") or {}).items():
        mine = [f for f in files if f.startswith(f"{DATA_DIR}/{name}/")]
        configs[name] = ConfigSummary(name=name, scenario=name, level=None, mode="", rows=int(rows), files=mine,
                                      download_size=sum(_size(out / f) for f in mine if (out / f).is_file()))
    return BuildSummary(
        out_dir=out, source=str(info.get("source")), seed=int(info.get("seed", 0)), split=str(info.get("split")),
        samples=int(info.get("samples", 0)), classes=list(info.get("classes") or []),
        class_names=list(info.get("class_names") or []), configs=configs, skipped=[], elapsed=0.0,
        license=str(info.get("license")), source_split=str(info.get("source_split") or "unknown"),
        empty_configs=dict(info.get("empty_configs") or {}),
        hidden_files=int(info.get("hidden_files") or 0), nothing_to_do=True,
    )


def background_warning(findings: Sequence[Any]) -> list[str]:
    """The build report's loud lines about library photos that show a class of the build."""
    if not findings:
        return []
    photos = sorted({f.background_id for f in findings})
    lines = [f"WARNING: {len(photos)} background photo(s) show a class this build uses, so random_background rows "
             "on them hold two objects and a model that names the photo's object is scored wrong "
             "(recorded in build_info.json 'background_check'; replace them or pick another --backgrounds folder):"]
    lines += [f"  - {f}" for f in findings[:20]]
    if len(findings) > 20:
        lines.append(f"  ... and {len(findings) - 20} more")
    return lines


def background_check_record(findings: Sequence[Any], *, unchecked: str | None = None) -> dict[str, Any]:
    """``build_info.json`` ``background_check``: how photos were checked and what was found."""
    from ximagenet12.evaluation.background_check import CHECK_MIN_SCORE, CHECK_TOP_K
    from ximagenet12.core.constants import BUILTIN_MODELS

    return {"checked": unchecked is None, "reason": unchecked, "models": list(BUILTIN_MODELS), "top_k": CHECK_TOP_K, "min_score": CHECK_MIN_SCORE,
            "rule": "a build class (ImageNet-1k wnid) is a classifier's top-1, or in its top-k with p >= min_score",
            "findings": [f.to_dict() for f in findings]}


def build_info(summary: BuildSummary, plan: BuildPlan) -> dict[str, Any]:
    """``build_info.json``: the settings and library versions that produced the folder."""
    import cv2
    import datasets

    return {
        "builder": "ximagenet12",
        "source": summary.source,
        "seed": summary.seed,
        "split": summary.split,
        "scenarios": list(plan.configs),
        "samples": summary.samples,
        "classes": summary.classes,
        "class_names": summary.class_names,
        "rows": {c.name: c.rows for c in summary.configs.values()},
        "skipped": len(summary.skipped),
        "backgrounds": list(plan.backgrounds.ids) if plan.backgrounds is not None else None,
        "background_check": (background_check_record(plan.background_findings, unchecked=plan.background_unchecked)
                             if plan.backgrounds is not None else None),
        "generation": repr(plan.generation) if plan.generative else None,
        "license": summary.license,
        "source_split": summary.source_split,
        "elapsed_s": round(summary.elapsed, 3),
        "versions": {
            "ximagenet12": __version__,
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "pyarrow": pa.__version__,
            "datasets": datasets.__version__,
        },
    }
