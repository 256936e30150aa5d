"""Render the dataset card (``README.md``) of a built folder.

The YAML metadata is built the way ``datasets.Dataset.push_to_hub`` builds it:
``huggingface_hub``'s :class:`~huggingface_hub.DatasetCardData` for the Hub's fields
(``pretty_name``, ``license``, ``task_categories``, ``task_ids``, ``size_categories``,
``source_datasets``, ``annotations_creators``, tags), ``datasets``'
:class:`~datasets.info.DatasetInfosDict` for ``dataset_info`` (features, split sizes with
``num_bytes`` = the in-memory Arrow size ``datasets`` computes, download and dataset
sizes) and :class:`~datasets.utils.metadata.MetadataConfigs` for ``configs`` (one per
config, ``original`` the default). It is dumped by ``DatasetCardData`` (no YAML
aliases). The Markdown body is ``template.md`` with :class:`string.Template`
substitution; its scenario table comes from the registry, so it cannot drift from the code.
"""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Sequence

from ximagenet12 import __version__
from ximagenet12.hub.validate import card_code, card_text, check_repo_id
from ximagenet12.scenarios.registry import SCENARIOS, Variant

if TYPE_CHECKING:  # pragma: no cover
    import datasets
    from huggingface_hub import DatasetCardData

    from ximagenet12.builder.build import BuildSummary

__all__ = [
    "render_card",
    "card_metadata",
    "card_data",
    "size_category",
    "DEFAULT_CONFIG",
    "TASK_CATEGORIES",
    "TASK_IDS",
    "ANNOTATIONS_CREATORS",
    "LICENSE_TEXTS",
]

DEFAULT_CONFIG = "original"
TASK_CATEGORIES = ("image-classification", "image-segmentation")
#: The Hub's task ids for the two tasks: the label column and the object mask column.
TASK_IDS = ("multi-class-image-classification", "semantic-segmentation")
#: Labels and masks come with the source ("found"); scenario masks are computed ("machine-generated").
ANNOTATIONS_CREATORS = ("found", "machine-generated")
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
_SKIMAGE_PREFIX = "skimage/"


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


def card_data(
    summary: "BuildSummary",
    features: "datasets.Features",
    *,
    pretty_name: str,
    license_name: str | None = None,
    source_datasets: Sequence[str] = ("original",),
) -> "DatasetCardData":
    """The card's metadata, as ``DatasetCardData`` with ``dataset_info`` and ``configs`` filled by ``datasets``."""
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    names = list(summary.configs)
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in names else names[0]
    data = DatasetCardData(
        pretty_name=pretty_name,
        license=summary.license,
        task_categories=list(TASK_CATEGORIES),
        task_ids=list(TASK_IDS),
        size_categories=[size_category(summary.rows)],
        source_datasets=list(source_datasets),
        annotations_creators=list(ANNOTATIONS_CREATORS),
        tags=list(TAGS),
        **({"license_name": license_name} if license_name else {}),
    )
    infos = DatasetInfosDict()
    for c in summary.configs.values():
        splits = SplitDict()
        splits.add(SplitInfo(name=summary.split, num_bytes=c.num_bytes, num_examples=c.rows))
        infos[c.name] = DatasetInfo(
            features=features, splits=splits, download_size=c.download_size, dataset_size=c.num_bytes
        )
    infos.to_dataset_card_data(data)
    MetadataConfigs(
        {
            name: {
                "data_files": [{"split": summary.split, "path": f"data/{name}/{summary.split}-*.parquet"}],
                **({"default": True} if name == default else {}),
            }
            for name in names
        }
    ).to_dataset_card_data(data)
    # datasets sorts both lists by name when it merges them into a card; the build's
    # (registry) order is kept instead, so the viewer lists `original` and then the paper's order.
    for key in ("configs", "dataset_info"):
        if isinstance(data.get(key), list):
            data[key] = sorted(data[key], key=lambda entry: names.index(entry["config_name"]))
    return data


def card_metadata(summary: "BuildSummary", features: "datasets.Features", *, pretty_name: str) -> dict[str, Any]:
    """The card's YAML metadata as a plain dict (what :func:`card_data` dumps)."""
    return card_data(summary, features, pretty_name=pretty_name).to_dict()


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


def _skipped_text(summary: "BuildSummary") -> str:
    if not summary.skipped:
        return "None: every source sample was built in every config."
    by_reason: dict[str, int] = {}
    for s in summary.skipped:
        by_reason[s.reason] = by_reason.get(s.reason, 0) + 1
    listed = "\n".join(f"- {n} × {card_text(reason)}" for reason, n in sorted(by_reason.items(), key=lambda x: -x[1])[:20])
    return (
        f"{len(summary.skipped)} (sample, scenario) pair(s) were not built; `skipped.jsonl` lists each "
        f"with its reason. Most common reasons:\n\n{listed}"
    )


def _image_sources(summary: "BuildSummary", variants: Sequence[Variant], background_ids: Sequence[str] | None) -> str:
    """Where the pixels of each kind of config come from, and under which licence."""
    needs = {v.scenario.needs for v in variants}
    names = {v.name for v in variants}
    lines = [
        f"- **Source photographs and masks** (every config): from the source {card_code(summary.source)}, "
        f"licence `{summary.license}` as above."
    ]
    if "background" in needs:
        if background_ids and all(b.startswith(_SKIMAGE_PREFIX) for b in background_ids):
            from ximagenet12.scenarios.backgrounds import DEFAULT_BACKGROUND_LICENSES

            listed = "; ".join(f"{card_code(b)} ({DEFAULT_BACKGROUND_LICENSES.get(b, 'see skimage.data')})"
                               for b in background_ids)
            lines.append(
                f"- **Background photographs** (`random_background`): photographs bundled with scikit-image, "
                f"textures, a deep-sky photograph and a microscopy stain, chosen to show no object of an ImageNet-1k "
                f"class: {listed}."
            )
        else:
            lines.append(
                "- **Background photographs** (`random_background`): the builder's `--backgrounds` folder; their "
                "licence was not given to the builder (`build_info.json` lists their ids): check it before "
                "publishing."
            )
        findings = getattr(summary, "background_findings", None) or []
        if findings:
            shown = "; ".join(f"`{f.background_id}` shows {_cell(f.name)} (`{f.wnid}`) to {f.model} "
                              f"(rank {f.rank}, p={f.score:.3f})" for f in findings[:20])
            lines.append(
                f"- **Warning: {len({f.background_id for f in findings})} background photo(s) show a class this "
                f"dataset uses** (checked with the built-in ImageNet-1k classifiers; `build_info.json` "
                f"`background_check`): {shown}. `random_background` rows on them hold two objects."
            )
    if "donor" in needs:
        lines.append(
            "- **Donor backgrounds** (`mixed_*`): other photographs of this same source, under the same licence."
        )
    if "ai_background" in names:
        lines.append(
            "- **Generated backgrounds** (`ai_background`): painted by a diffusion inpainting model (by default "
            "`diffusers/stable-diffusion-xl-1.0-inpainting-0.1`, CreativeML Open RAIL++-M: its use restrictions "
            "apply to these images too); `build_info.json` records the model and settings used."
        )
    return "\n".join(lines)


def _example_config(names: list[str], default: str) -> str:
    """The config the card's code example loads: ``blur_background`` when built, else another non-default."""
    if "blur_background" in names:
        return "blur_background"
    return next((n for n in names if n != default), default)


def render_card(
    summary: "BuildSummary",
    variants: Sequence[Variant],
    features: "datasets.Features",
    *,
    pretty_name: str = "XImageNet-12",
    repo_id: str | None = None,
    license_name: str | None = None,
    source_notes: str | None = None,
    background_ids: Sequence[str] | None = None,
    source_datasets: Sequence[str] | None = None,
) -> str:
    """The card's Markdown, YAML metadata included (a :class:`~huggingface_hub.DatasetCard`'s content).

    Every user string goes through one gate: ``repo_id`` through ``huggingface_hub``'s
    validator, text through :func:`~ximagenet12.hub.validate.card_text` and names shown as
    code through :func:`~ximagenet12.hub.validate.card_code`, so the card renders each back
    exactly and nothing in it becomes markup, a link or the end of the YAML block.
    """
    from huggingface_hub import DatasetCard

    from ximagenet12.builder.schema import PROVENANCE_COLUMNS

    template = Template(resources.files("ximagenet12.dataset_card").joinpath("template.md").read_text("utf-8"))
    data = card_data(summary, features, pretty_name=pretty_name, license_name=license_name,
                     source_datasets=source_datasets or ("original",))
    names = list(summary.configs)
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in names else names[0]
    config_rows = [
        f"| `{c.name}` | `{c.scenario}` | {'—' if c.level is None else c.level} | {c.mode} | {c.rows} | "
        f"{c.download_size / 2**20:.1f} MiB |"
        for c in summary.configs.values()
    ]
    if repo_id is not None:
        check_repo_id(repo_id, option="--repo-id")
    class_rows = [f"| {i} | {card_code(key)} | {card_text(name)} |"
                  for i, (key, name) in enumerate(zip(summary.classes, summary.class_names))]
    lic = summary.license
    named = f" ({card_text(license_name)})" if license_name else ""
    license_text = f"{card_code(lic)} — " + LICENSE_TEXTS.get(lic, f"see the licence {card_code(lic)}{named}.")
    body = template.substitute(
        pretty_name=card_text(pretty_name),
        source=card_text(summary.source),
        source_notes=f"\n\n{source_notes}" if source_notes else "",
        samples=summary.samples,
        num_classes=len(summary.classes),
        seed=summary.seed,
        num_configs=len(summary.configs),
        total_rows=summary.rows,
        repo_id=repo_id or "<owner>/ximagenet12",
        split=summary.split,
        example_config=_example_config(names, default),
        default_config=default,
        config_table="\n".join(config_rows),
        class_table="\n".join(class_rows),
        scenario_table="\n".join(_scenario_rows(variants)),
        column_table="\n".join(f"| `{name}` | {_cell(text)} |" for name, text in PROVENANCE_COLUMNS),
        skipped_text=_skipped_text(summary),
        license_text=license_text,
        image_sources=_image_sources(summary, variants, background_ids),
        version=__version__,
    )
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}").content
