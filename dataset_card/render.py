"""Render the dataset card (``README.md``) of a built folder from ``template.md``.

Plain :class:`string.Template` substitution (no templating dependency). The YAML block
is produced with ``yaml.safe_dump`` from data, never by string pasting: ``configs``
(one per config, ``original`` the default), ``dataset_info`` (features, split sizes,
download and dataset sizes per config), ``license``, ``task_categories``,
``size_categories``, ``pretty_name`` and tags. The scenario table comes from the
registry, so it cannot drift from the code.
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Sequence

import yaml

from ximagenet12 import __version__
from ximagenet12.registry import SCENARIOS, Variant

if TYPE_CHECKING:  # pragma: no cover
    import datasets

    from ximagenet12.builder.build import BuildSummary

__all__ = ["render_card", "card_metadata", "size_category", "DEFAULT_CONFIG", "TASK_CATEGORIES", "LICENSE_TEXTS"]

DEFAULT_CONFIG = "original"
TASK_CATEGORIES = ("image-classification", "image-segmentation")
TAGS = ("robustness", "background", "explainability", "imagenet", "xai", "ximagenet-12")
#: Hub size buckets: (upper bound exclusive, name).
_SIZE_BUCKETS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
#: Card text for licence ids the builder knows; others get a generic line.
LICENSE_TEXTS = {
    "cc0-1.0": "CC0 1.0 (public domain dedication): the images may be used for any purpose.",
    "cc-by-4.0": "Creative Commons Attribution 4.0.",
    "cc-by-nc-4.0": "Creative Commons Attribution-NonCommercial 4.0: no commercial use.",
    "unknown": "Unknown: the licence of the source images was not given to the builder "
    "(`ximagenet12 build --license ID`). Check it before you publish or reuse this dataset.",
}


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    return next((name for bound, name in _SIZE_BUCKETS if n < bound), "n>1B")


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def card_metadata(
    summary: "BuildSummary", features: "datasets.Features", *, pretty_name: str
) -> dict[str, Any]:
    """The card's YAML metadata as a dict."""
    names = list(summary.configs)
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in names else names[0]
    configs = []
    for name in names:
        entry: dict[str, Any] = {
            "config_name": name,
            "data_files": [{"split": summary.split, "path": f"data/{name}/{summary.split}-*.parquet"}],
        }
        if name == default:
            entry["default"] = True
        configs.append(entry)
    info = []
    feature_list = features._to_yaml_list()
    for c in summary.configs.values():
        info.append(
            {
                "config_name": c.name,
                "features": feature_list,
                "splits": [{"name": summary.split, "num_bytes": c.num_bytes, "num_examples": c.rows}],
                "download_size": c.download_size,
                "dataset_size": c.num_bytes,
            }
        )
    return {
        "pretty_name": pretty_name,
        "license": summary.license,
        "task_categories": list(TASK_CATEGORIES),
        "size_categories": [size_category(summary.rows)],
        "tags": list(TAGS),
        "configs": configs,
        "dataset_info": info,
    }


def _scenario_rows(variants: Sequence[Variant]) -> list[str]:
    built = {v.name: v.scenario for v in variants}  # the variants' own scenarios: run-wide overrides show
    rows = []
    for sc in SCENARIOS.values():
        if sc.name not in built:
            continue
        sc = built[sc.name]
        params = ", ".join(f"`{k}={json.dumps(_plain(v))}`" for k, v in sc.params.items()) or "—"
        if sc.levels:
            levels = "; ".join(
                f"{lv}{'*' if lv == sc.paper_level else ''}: "
                + ", ".join(f"{k}={json.dumps(_plain(v))}" for k, v in sc.levels[lv].items())
                for lv in sorted(sc.levels)
            )
        else:
            levels = "—"
        extra = {"background": " Needs a background photo.", "donor": " Needs another sample (donor)."}.get(
            sc.needs or "", ""
        )
        rows.append(
            f"| `{sc.name}` | {_cell(sc.description + extra)} | {sc.mode} | {_cell(params)} | {_cell(levels)} |"
        )
    return rows


def render_card(
    summary: "BuildSummary",
    variants: Sequence[Variant],
    features: "datasets.Features",
    *,
    pretty_name: str = "XImageNet-12",
    repo_id: str | None = None,
    license_name: str | None = None,
    source_notes: str | None = None,
) -> str:
    """The card's Markdown, YAML metadata included."""
    from ximagenet12.builder.schema import PROVENANCE_COLUMNS

    template = Template(resources.files("ximagenet12.dataset_card").joinpath("template.md").read_text("utf-8"))
    meta = card_metadata(summary, features, pretty_name=pretty_name)
    if license_name:
        meta["license_name"] = license_name
    metadata = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000).rstrip("\n")
    config_rows = [
        f"| `{c.name}` | `{c.scenario}` | {'—' if c.level is None else c.level} | {c.mode} | {c.rows} | "
        f"{c.download_size / 2**20:.1f} MiB |"
        for c in summary.configs.values()
    ]
    class_rows = [f"| {i} | `{key}` | {_cell(name)} |" for i, (key, name) in enumerate(zip(summary.classes, summary.class_names))]
    if summary.skipped:
        by_reason: dict[str, int] = {}
        for s in summary.skipped:
            by_reason[s.reason] = by_reason.get(s.reason, 0) + 1
        listed = "\n".join(f"- {n} × {_cell(reason)}" for reason, n in sorted(by_reason.items(), key=lambda x: -x[1])[:20])
        skipped_text = (
            f"{len(summary.skipped)} (sample, scenario) pair(s) were not built; `skipped.jsonl` lists each "
            f"with its reason. Most common reasons:\n\n{listed}"
        )
    else:
        skipped_text = "None: every source sample was built in every config."
    lic = summary.license
    license_text = f"`{lic}` — " + LICENSE_TEXTS.get(lic, f"see the licence `{lic}`{f' ({license_name})' if license_name else ''}.")
    return template.substitute(
        metadata=metadata,
        pretty_name=pretty_name,
        source=_cell(summary.source),
        source_notes=f"\n\n{source_notes}" if source_notes else "",
        samples=summary.samples,
        num_classes=len(summary.classes),
        seed=summary.seed,
        num_configs=len(summary.configs),
        total_rows=summary.rows,
        repo_id=repo_id or "<owner>/ximagenet12",
        split=summary.split,
        config_table="\n".join(config_rows),
        class_table="\n".join(class_rows),
        scenario_table="\n".join(_scenario_rows(variants)),
        column_table="\n".join(f"| `{name}` | {_cell(text)} |" for name, text in PROVENANCE_COLUMNS),
        skipped_text=skipped_text,
        license_text=license_text,
        version=__version__,
    )
