"""Stage 3 of a build, ``finalize`` (once): parts -> Hub shards, ``skipped.jsonl``, card, ``build_info.json``.

Each config's parts, in block order, become ``data/<config>/<split>-XXXXX-of-YYYYY.parquet``
(hard-linked when they already make good shards, merged into 100-row groups otherwise);
then the skip list, the dataset card and ``build_info.json`` are written, each
atomically, and the work folder is removed.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pyarrow as pa

from ximagenet12 import __version__
from ximagenet12.builder.layout import BUILD_INFO, CARD_FILE, DATA_DIR, SKIPPED_FILE, part_path
from ximagenet12.builder.plan import BuildPlan
from ximagenet12.builder.writer import atomic_write_bytes, finalize_parts
from ximagenet12.types import Skipped

__all__ = ["BuildSummary", "CardOptions", "ConfigSummary", "finalize_build"]


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
        lines = [
            f"built {len(self.configs)} config(s), {self.rows} rows, {self.download_size / 2**20:.1f} MiB "
            f"from {self.samples} sample(s) of {self.source!r} in {self.elapsed:.1f} s -> {self.out_dir}",
        ]
        if self.resumed_blocks:
            lines.append(f"resumed: {self.resumed_blocks} block(s) were already done")
        width = max((len(n) for n in self.configs), default=6)
        for c in self.configs.values():
            lines.append(f"  {c.name:<{width}}  {c.rows:>7} rows  {c.download_size / 2**20:8.2f} MiB  {len(c.files)} file(s)")
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


@dataclass(frozen=True)
class CardOptions:
    """What the card says beyond the data: licence id, title, Hub repo for its examples."""

    license: str | None = None
    pretty_name: str = "XImageNet-12"
    repo_id: str | None = None


def _merge_config(job: tuple[list[Path], Path, pa.Schema, str]) -> tuple[list[Path], int, int]:
    parts, folder, schema, split = job
    return finalize_parts(parts, folder, schema, split=split)


def merge_configs(plan: BuildPlan, work: Path, out: Path, schema: pa.Schema, *,
                  mapper: Callable[..., Iterable[Any]] = map) -> dict[str, ConfigSummary]:
    """Every config's parts as its shards under ``out/data/<config>/``; ``mapper`` (e.g. the
    executor's ``map``) may merge several configs at once: they are independent."""
    jobs = [([part_path(work, v.config_name, b.index) for b in plan.blocks], out / DATA_DIR / v.config_name,
             schema, plan.split) for v in plan.variants]
    summaries: dict[str, ConfigSummary] = {}
    for variant, (files, rows, nbytes) in zip(plan.variants, mapper(_merge_config, jobs)):
        name = variant.config_name
        summaries[name] = ConfigSummary(
            name=name, scenario=variant.name, level=variant.effective_level, mode=variant.scenario.mode,
            rows=rows, num_bytes=nbytes, download_size=sum(f.stat().st_size for f in files),
            files=[f.relative_to(out).as_posix() for f in files],
        )
    return summaries


def finalize_build(plan: BuildPlan, work: Path, out: Path, *, skipped: list[Skipped], resumed_blocks: int,
                   features: Any, card: CardOptions, started: float,
                   mapper: Callable[..., Iterable[Any]] = map) -> BuildSummary:
    """Shards, ``skipped.jsonl``, card and ``build_info.json``; then the work folder goes."""
    import time

    from ximagenet12.builder.schema import arrow_schema
    from ximagenet12.dataset_card.render import render_card

    src = plan.source
    summary = BuildSummary(
        out_dir=out, source=str(getattr(src, "name", src)), seed=plan.seed, split=plan.split,
        samples=len(plan.items), classes=plan.classes, class_names=plan.class_names,
        configs=merge_configs(plan, work, out, arrow_schema(features), mapper=mapper), skipped=skipped, elapsed=0.0,
        resumed_blocks=resumed_blocks, license=card.license or getattr(src, "license", None) or "unknown",
    )
    atomic_write_bytes(out / SKIPPED_FILE, "".join(json.dumps(s.to_dict()) + "\n" for s in skipped).encode("utf-8"))
    text = render_card(summary, list(plan.variants), features, pretty_name=card.pretty_name, repo_id=card.repo_id,
                       license_name=getattr(src, "license_name", None), source_notes=getattr(src, "notes", None))
    atomic_write_bytes(out / CARD_FILE, text.encode("utf-8"))
    summary.elapsed = time.perf_counter() - started
    atomic_write_bytes(out / BUILD_INFO, json.dumps(build_info(summary, plan), indent=2).encode("utf-8"))
    shutil.rmtree(work, ignore_errors=True)
    try:
        (out / ".cache").rmdir()  # only if nothing else (e.g. the ai_background cache) is in it
    except OSError:
        pass
    return summary


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
        "generation": repr(plan.generation) if plan.generative else None,
        "license": summary.license,
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
