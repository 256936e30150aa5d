"""Report folder of an evaluation: ``report.json``, ``predictions.parquet``, plots, ``report.md``.

Layout (the same for classification and segmentation)::

    <out>/report.json          # model, data, mode, per scenario: metric, n, n_failed, per_class; robustness
    <out>/predictions.parquet  # one row per sample
    <out>/heatmap.png          # scenario x class (the paper's density map), values annotated
    <out>/scenarios.png        # metric per scenario, the original as a dashed reference line
    <out>/report.md            # ties them together

The robustness score is computed by the ``robustness_score`` metric's functional core
(:mod:`ximagenet12.metrics.robustness_score.functional`) over every evaluated scenario
except ``original`` (the reference μ) and the non-paper severity levels
(``<name>_level<k>`` configs), so that a ladder does not weigh one scenario five times.
Its internal term: under ``formula`` the per-class values on ``original`` around μ, as the
printed formula says; under ``table3`` none (σ_i = 0), since the paper's internal term comes
from models trained within each scenario (EX2), which one evaluation cannot provide.

S_robust is computed over a named scenario set (default ``background``: the paper's
scenarios that change only the background; see the metric's ``SCENARIO_SETS``), recorded
in the block as ``scenario_set`` with the evaluated configs it left out. Since S_robust
measures spread around μ, the block also carries μ's one-sided exact binomial test against
chance (1 / number of dataset classes, for accuracies), ``mu_above_chance`` and the
``warnings`` to print beside the score.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "REPORT_FILES",
    "per_class_table",
    "robustness_block",
    "robustness_line",
    "robustness_of",
    "robustness_scenarios",
    "write_report",
    "read_report",
    "check_report",
    "FRACTION_KEYS",
]

REPORT_FILES = ("report.json", "predictions.parquet", "heatmap.png", "scenarios.png", "report.md")
_LEVEL_CONFIG = re.compile(r"_level\d+$")
ORIGINAL = "original"


def per_class_table(frame, keys: Sequence[str], *, metric: str, name: str) -> dict[str, dict]:
    """``{class_key: {name: mean of metric, "n": count}}`` for every class (n = 0 → null)."""
    out: dict[str, dict] = {}
    groups = frame.groupby("class_key")[metric] if len(frame) else None
    for key in keys:
        if groups is not None and key in groups.groups:
            values = groups.get_group(key)
            out[key] = {name: float(values.mean()), "n": int(len(values))}
        else:
            out[key] = {name: None, "n": 0}
    return out


def robustness_scenarios(configs: Sequence[str], *, scenario_set: str | Sequence[str] | None = None) -> list[str]:
    """The configs that enter the robustness score (see the module docstring).

    Only XImageNet-12 scenarios at the paper's level count (a config of another name, a
    dataset with configs of its own, is listed in the block's ``not_scenarios``), and of
    them only the members of ``scenario_set`` (default: the metric's default set).
    """
    return _scenario_set(configs, scenario_set)["members"]


def _scenario_set(configs: Sequence[str], scenario_set: str | Sequence[str] | None) -> dict:
    from ximagenet12.metrics.robustness_score.functional import KNOWN_SCENARIOS, resolve_scenario_set

    candidates = [c for c in configs if c != ORIGINAL and not _LEVEL_CONFIG.search(c) and c in KNOWN_SCENARIOS]
    chosen = resolve_scenario_set(scenario_set, candidates)
    chosen["excluded"] = [c for c in configs if c != ORIGINAL and c not in chosen["members"]]
    return chosen


def robustness_block(
    values: Mapping[str, float | None],
    *,
    config: str = "table3",
    per_class_original: Mapping[str, float | None] | None = None,
    scenario_set: str | Sequence[str] | None = None,
    n_original: int | None = None,
    n_classes: int | None = None,
) -> dict:
    """The robustness score of per-scenario values, through the metric's functional core.

    ``per_class_original`` (class key -> value on ``original``) is the internal term of the
    ``formula`` configuration; ``table3`` has no internal term here (see the module docstring).
    ``scenario_set`` names the scenarios S is computed over; ``n_original`` and ``n_classes``
    (accuracies only) let μ be tested against chance.
    """
    reference = values.get(ORIGINAL)
    chosen = _scenario_set(list(values), scenario_set)
    external = {c: values[c] for c in chosen["members"] if values[c] is not None}
    chosen["missing"] += [c for c in chosen["members"] if c not in external]  # evaluated, but no value
    chosen["members"] = list(external)
    if reference is None:
        return {"s_robust": None, "config": config, "reason": "the 'original' config was not evaluated"}
    from ximagenet12.metrics.robustness_score.functional import BG_GAP_SCENARIOS, KNOWN_SCENARIOS, robustness_score

    block = {"config": config, "mu": float(reference), "external_reference": float(reference),
             "scenarios": list(external)}
    others = [c for c in values if c != ORIGINAL and not _LEVEL_CONFIG.search(c) and c not in KNOWN_SCENARIOS]
    if others:
        block["not_scenarios"] = others
    same, rand = (values.get(name) for name in BG_GAP_SCENARIOS)
    if same is not None and rand is not None:  # ImageNet-9's BG-Gap: same-class minus random background
        block["bg_gap"] = float(same) - float(rand)
    if not external:
        return {**block, "s_robust": None, "scenario_set": chosen,
                "reason": f"no scenario of set {chosen['name']!r} besides 'original' was evaluated"}
    internal = None
    if config == "formula" and per_class_original:
        internal = {k: float(v) for k, v in per_class_original.items() if v is not None}
        block["internal"] = "per-class values on 'original' around μ"
    try:
        result = robustness_score(
            dict(external),
            external_reference=float(reference),
            internal=internal or None,
            internal_reference=float(reference) if internal else None,
            config=config,
            scenario_set=chosen["members"],
            n_original=n_original if n_classes else None,
            n_classes=n_classes if n_original else None,
        )
    except (ValueError, ZeroDivisionError) as exc:  # e.g. one scenario under a (n - 1) reading
        return {**block, "s_robust": None, "scenario_set": chosen, "reason": f"robustness_score: {exc}"}
    from ximagenet12.metrics.robustness_score.functional import scenario_set_warning

    result["scenario_set"] = chosen  # the set's name and what it left out, not the metric's "custom"
    result["warnings"] = list(result["warnings"]) + ([scenario_set_warning(chosen)] if chosen["missing"] else [])
    return {**block, **{k: _plain(v) for k, v in dict(result).items()}}


def robustness_of(scenarios: Mapping[str, Mapping], *, metric: str, config: str = "table3",
                  scenario_set: str | Sequence[str] | None = None) -> dict:
    """:func:`robustness_block` of report entries (``{config: {metric: ..., "per_class": ..., "n": ...}}``).

    For accuracies μ is tested against chance 1 / (number of classes of ``original``'s
    per-class table); other metrics (IoU) have no chance level here and say so.
    """
    original = scenarios.get(ORIGINAL)
    per_class = None
    n_original = n_classes = None
    if original is not None:
        per_class = {k: v.get(metric) for k, v in original["per_class"].items() if v.get("n")}
        n_original = original.get("n")
        if metric == "accuracy":
            n_classes = len(original["per_class"])
    block = robustness_block({c: e[metric] for c, e in scenarios.items()}, config=config,
                             per_class_original=per_class, scenario_set=scenario_set,
                             n_original=n_original, n_classes=n_classes)
    if metric != "accuracy" and block.get("s_robust") is not None:
        others = [w for w in block.get("warnings") or [] if not w.startswith("μ was not tested against chance")]
        block["warnings"] = [f"μ ({metric} on 'original') has no chance level to be tested against: a model that "
                             "fails everywhere also has S_robust near 1, so read S only beside μ", *others]
    return block


def robustness_line(block: Mapping[str, Any]) -> str:
    """One line for S_robust that never shows S without μ, the chance verdict and the set.

    ``S = 0.9794 (μ = 0.8125, above chance 1/12: p = 3e-40; set 'background', 10 scenarios)``;
    a model not above chance reads ``NOT ABOVE CHANCE`` in the line itself.
    """
    mu = block.get("mu", block.get("external_reference"))
    chance = block.get("chance")
    if chance:
        verdict = (f"above chance 1/{chance['n_classes']}" if chance["mu_above_chance"]
                   else f"NOT ABOVE CHANCE 1/{chance['n_classes']}") + f": p = {chance['p_value']:.2g}"
    else:
        verdict = "not tested against chance"
    sset = block.get("scenario_set") or {}
    members = sset.get("members") or block.get("scenarios") or []
    ci = block.get("s_robust_ci")
    interval = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
    return (f"S = {block['s_robust']:.4f}{interval} (μ = {_fmt_mu(mu)}, {verdict}; "
            f"set {sset.get('name', '?')!r}, {len(members)} scenarios)")


def _fmt_mu(mu: Any) -> str:
    return "n/a" if mu is None else f"{float(mu):.4f}"


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


#: Report values that are shares of images or of attribution: finite and within [0, 1].
FRACTION_KEYS = frozenset({"accuracy", "object_focus", "pointing_hit", "miou", "mean_iou", "pixel_accuracy"})


def _check_fraction(value: Any, where: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} is {value!r}: expected a number from 0 to 1 or null")
    if not 0.0 <= float(value) <= 1.0:  # also NaN and infinities
        raise ValueError(f"{where} is {value!r}: a share of images must lie from 0 to 1; the report is damaged or "
                         "not one of ximagenet12's")


def check_report(report: Any, path: str | os.PathLike) -> dict:
    """``report`` if it has the shape every reader relies on; else one ``ValueError`` naming ``path``.

    A JSON object; ``scenarios`` (when present) maps names to objects, and their
    ``per_class`` tables map class keys to objects; every accuracy-like value
    (:data:`FRACTION_KEYS`) is null or a number from 0 to 1 -- an accuracy of 7.5 or -3
    would otherwise flow into a regression or a score as if it were measured.
    """
    where = os.fspath(path)
    if not isinstance(report, dict):
        kind = {list: "list", str: "string", bool: "boolean", int: "number", float: "number"}.get(type(report), "null")
        raise ValueError(f"{where!r} holds a JSON {kind}, not a report (a JSON object)")
    scenarios = report.get("scenarios", {})
    if not isinstance(scenarios, dict):
        raise ValueError(f"{where!r}: 'scenarios' is a {type(scenarios).__name__}, expected an object")
    for name, entry in scenarios.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{where!r}: scenario {name!r} is a {type(entry).__name__}, expected an object")
        for key in FRACTION_KEYS & entry.keys():
            _check_fraction(entry[key], f"{where!r}: scenario {name!r} {key}")
        per_class = entry.get("per_class") or {}
        if not isinstance(per_class, dict):
            raise ValueError(f"{where!r}: scenario {name!r} per_class is a {type(per_class).__name__}, expected an object")
        for cls, cell in per_class.items():
            if not isinstance(cell, dict):
                raise ValueError(f"{where!r}: scenario {name!r} class {cls!r} is a {type(cell).__name__}, "
                                 "expected an object")
            for key in FRACTION_KEYS & cell.keys():
                _check_fraction(cell[key], f"{where!r}: scenario {name!r} class {cls!r} {key}")
            n = cell.get("n")
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
                raise ValueError(f"{where!r}: scenario {name!r} class {cls!r} n is {n!r}: expected a count")
    return report


def read_report(folder: str | os.PathLike) -> dict:
    """``report.json`` of ``folder``, checked by :func:`check_report`."""
    path = Path(folder) / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(folder)!r} is not an evaluation report folder (no report.json)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    return check_report(report, path)


# --------------------------------------------------------------------------- writing
def write_report(result: Any, out: str | os.PathLike | Any, *, overwrite: bool = False) -> Path:
    """Write every file of :data:`REPORT_FILES` for ``result`` (an ``EvaluationResult``).

    ``out``: a folder, or an :class:`ximagenet12.io.owned.OwnedFolder` a command has
    already opened (``evaluate`` opens it before the model runs; ``train`` passes its run
    folder). A folder holding files ximagenet12 did not write is refused unless
    ``overwrite``, and no such file is ever replaced (issue 25). Each file is written under a
    temporary name and renamed when complete, so a failure half-way never leaves a
    truncated file under a report file's name.
    """
    from ximagenet12.io.owned import OwnedFolder

    folder = out if isinstance(out, OwnedFolder) else OwnedFolder.open(
        out, command="evaluate", overwrite=overwrite, planned=REPORT_FILES)
    report = result.report
    text = json.dumps(_json_safe(report), indent=2, ensure_ascii=False) + "\n"
    folder.write_text("report.json", text)
    folder.write_with("predictions.parquet", lambda p: result.predictions.to_parquet(p, index=False))
    folder.write_with("heatmap.png", lambda p: _heatmap(report, p))
    folder.write_with("scenarios.png", lambda p: _scenarios_plot(report, p))
    folder.write_text("report.md", _markdown(report))
    return folder.root


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return _plain(value)


def _metric_name(report: dict) -> str:
    return report.get("metric", "accuracy")


def _class_labels(report: dict) -> tuple[list[str], list[str]]:
    classes = report.get("classes") or []
    return [c["key"] for c in classes], [c["name"] for c in classes]


def _matrix(report: dict) -> tuple[list[str], list[str], list[list[float | None]]]:
    metric = _metric_name(report)
    keys, names = _class_labels(report)
    configs = list(report["scenarios"])
    rows = []
    for c in configs:
        per = report["scenarios"][c]["per_class"]
        rows.append([per.get(k, {}).get(metric) for k in keys])
    return configs, names, rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _heatmap(report: dict, path: Path) -> None:
    import numpy as np

    plt = _pyplot()
    configs, names, rows = _matrix(report)
    values = np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float).reshape(len(configs), len(names))
    width = max(5.0, 1.0 + 0.75 * len(names))
    height = max(2.5, 0.9 + 0.42 * len(configs))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#d9d9d9")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(configs)))
    ax.set_yticklabels(configs, fontsize=8)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            text = "–" if np.isnan(v) else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color="black")
    metric = _metric_name(report)
    mode = f" ({report['mode']})" if report.get("mode") else ""
    ax.set_title(f"{metric}{mode} per scenario and class — {report['model']}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _series(report: dict) -> list[tuple[str, list[float | None]]]:
    configs = list(report["scenarios"])
    if report.get("task") == "classification":
        primary = report.get("mode", "restricted")
        order = [primary] + [m for m in report["scenarios"][configs[0]]["modes"] if m != primary]
        return [(m, [report["scenarios"][c]["modes"][m]["accuracy"] for c in configs]) for m in order]
    return [
        ("IoU", [report["scenarios"][c]["iou"] for c in configs]),
        ("pixel accuracy", [report["scenarios"][c]["pixel_accuracy"] for c in configs]),
    ]


def _scenarios_plot(report: dict, path: Path) -> None:
    import numpy as np

    plt = _pyplot()
    configs = list(report["scenarios"])
    series = _series(report)
    width = min(16.0, max(6.5, 3.0 + 0.28 * len(configs) * len(series)))
    fig, ax = plt.subplots(figsize=(width, 4.4), dpi=110)
    x = np.arange(len(configs))
    bar_w = 0.8 / len(series)
    colors = plt.get_cmap("tab10").colors
    for k, (label, values) in enumerate(series):
        heights = [np.nan if v is None else v for v in values]
        pos = x - 0.4 + bar_w * (k + 0.5)
        bars = ax.bar(pos, heights, width=bar_w, color=colors[k], label=label)
        for b, h in zip(bars, heights):
            if not np.isnan(h):
                ax.text(b.get_x() + b.get_width() / 2, h + 0.01, f"{h:.2f}", ha="center", va="bottom", fontsize=6)
        if ORIGINAL in configs and values[configs.index(ORIGINAL)] is not None:
            ref = values[configs.index(ORIGINAL)]
            ax.axhline(ref, color=colors[k], linestyle="--", linewidth=1, label=f"original {label} ({ref:.2f})")
    ax.set_xticks(x)
    ax.set_xticklabels(configs, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(" / ".join(label for label, _ in series) if report.get("task") != "classification" else "accuracy")
    ax.set_title(f"{_metric_name(report)} per scenario — {report['model']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.4f}"


def _markdown_header(report: dict) -> list[str]:
    """Title, what was evaluated and how, and everything the run skipped or warned about."""
    lines = [
        f"# Evaluation report: {report['model']}",
        "",
        f"- **Model:** `{report['model']}`",
        f"- **Data:** `{report['data']}`",
        f"- **Task:** {report.get('task')}; metric: {_metric_name(report)}",
    ]
    fingerprint = (report.get("dataset") or {}).get("fingerprint") or {}
    if fingerprint:
        lines.append(f"- **Dataset fingerprint:** {fingerprint.get('kind')} `{fingerprint.get('value')}`")
    if report.get("task") == "classification":
        lines += [
            f"- **Primary scoring mode:** `{report['mode']}` (both modes below): {report.get('mode_reason', '')}",
            f"  - `strict`: {report['modes']['strict']}",
            f"  - `restricted`: {report['modes']['restricted']}",
            f"- **Label mapping:** {report['label_mapping']['kind']}",
        ]
        if report.get("prompts"):  # zero-shot: what the model was asked
            lines.append(f"- **Zero-shot prompts** ({report.get('pipeline_task')}, template "
                         f"`{report.get('prompt_template')}`): " + ", ".join(f"`{p}`" for p in report["prompts"]))
    else:
        labels = report.get("object_labels")
        lines.append(f"- **Object labels:** {labels.get('rule') if isinstance(labels, dict) else labels}")
    lines += [
        f"- **RGBA images:** {report.get('alpha_flattening')}",
        f"- **Samples that failed to decode:** {report.get('n_failed', 0)}",
        f"- **Damaged shards (rest of the shard skipped):** {report.get('n_bad_shards', 0)}",
        "",
    ]
    lines += [f"> **Warning:** {w}\n" for w in report.get("warnings") or []]
    for skipped in report.get("skipped_configs") or []:
        lines.append(f"- config `{skipped['config']}` skipped: {skipped['reason']}")
    return lines


def _corruption_markdown(summary: dict | None) -> list[str]:
    """The masked-corruption section: accuracy per corruption with the corruption on the
    background vs on the object (``corruption_summary``), and what the run did not cover."""
    if not summary:
        return []
    lines = ["", "## Masked corruptions", "",
             f"Accuracy on `original` = {_fmt(summary.get('reference'))}; mean over severities present "
             "(gap = background − object: negative means the corrupted background hurts more).", "",
             "| corruption | background | object | gap |", "|---|---:|---:|---:|"]
    for name, e in summary["per_corruption"].items():
        lines.append(f"| {name} | {_fmt(e['background'])} | {_fmt(e['object'])} | {_fmt(e['gap'])} |")
    lines.append(f"| **mean** | {_fmt(summary.get('background'))} | {_fmt(summary.get('object'))} | |")
    missing = summary.get("missing") or []
    if missing:
        shown = ", ".join(missing[:8]) + (f", … ({len(missing)} in all)" if len(missing) > 8 else "")
        lines += ["", f"> **Partial:** not every corruption × region × severity was evaluated; missing: {shown}."]
    return lines


def _markdown(report: dict) -> str:
    configs = list(report["scenarios"])
    lines = _markdown_header(report)
    lines += ["", "## Per scenario", ""]
    if report.get("task") == "classification":
        lines += ["| scenario | n | failed | strict | restricted |", "|---|---:|---:|---:|---:|"]
        for c in configs:
            e = report["scenarios"][c]
            lines.append(
                f"| {c} | {e['n']} | {e['n_failed']} | {_fmt(e['modes']['strict']['accuracy'])} | "
                f"{_fmt(e['modes']['restricted']['accuracy'])} |"
            )
    else:
        lines += ["| scenario | n | failed | IoU | pixel accuracy |", "|---|---:|---:|---:|---:|"]
        for c in configs:
            e = report["scenarios"][c]
            lines.append(f"| {c} | {e['n']} | {e['n_failed']} | {_fmt(e['iou'])} | {_fmt(e['pixel_accuracy'])} |")
    lines += ["", "![metric per scenario](scenarios.png)", "", "## Per scenario and class", ""]
    keys, names = _class_labels(report)
    lines.append("| scenario | " + " | ".join(names) + " |")
    lines.append("|---|" + "---:|" * len(names))
    metric = _metric_name(report)
    for c in configs:
        per = report["scenarios"][c]["per_class"]
        lines.append(f"| {c} | " + " | ".join(_fmt(per.get(k, {}).get(metric)) for k in keys) + " |")
    lines += ["", "![density map](heatmap.png)", "", "## Robustness score", ""]
    rb = report.get("robustness") or {}
    if rb.get("s_robust") is None:
        lines.append(f"Not computed: {rb.get('reason', 'unknown')}.")
    else:
        if report.get("warnings"):
            lines.append("> **Unreliable:** read the warning(s) at the top of this report before this score.\n")
        for warning in rb.get("warnings") or []:
            lines.append(f"> **Warning:** {warning}\n")
        sset = rb.get("scenario_set") or {}
        lines.append(
            f"S_robust = **{rb['s_robust']:.4f}** (configuration `{rb.get('config')}`, "
            f"μ = {_metric_name(report)} on `original` = **{rb['external_reference']:.4f}**, "
            f"scenario set `{sset.get('name')}`: {len(rb.get('scenarios', []))} scenarios: "
            f"{', '.join(rb.get('scenarios', []))})."
        )
        chance = rb.get("chance")
        if chance:
            lines.append(f"- μ against chance 1/{chance['n_classes']}: one-sided exact binomial p = "
                         f"{chance['p_value']:.3g} ({chance['correct']}/{chance['n']} right; "
                         f"{'above' if chance['mu_above_chance'] else 'NOT above'} chance at level {chance['alpha']:g})")
        if sset.get("excluded"):
            lines.append(f"- not in the set (accuracy reported, not scored): {', '.join(sset['excluded'])}")
        for k in ("sigma2_e", "sigma_e"):
            if k in rb and rb[k] is not None:
                lines.append(f"- {k} = {rb[k]:.6f}")
        if rb.get("internal_term") == "absent":
            lines.append("- no internal term (σ_i = 0): EX1 measures the external spread only")
        elif rb.get("sigma_i") is not None:
            lines.append(f"- sigma2_i = {rb['sigma2_i']:.6f}, sigma_i = {rb['sigma_i']:.6f} ({rb.get('internal')})")
    if rb.get("bg_gap") is not None:
        lines.append(f"- BG-Gap = {_metric_name(report)}(mixed_same) − {_metric_name(report)}(mixed_rand) "
                     f"= {rb['bg_gap']:+.4f}")
    by_mode = report.get("robustness_by_mode") or {}
    if by_mode:
        lines.append("")
        for m, b in by_mode.items():
            lines.append(f"- `{m}`: S_robust = {_fmt(b.get('s_robust'))}, μ = {_fmt(b.get('mu'))}"
                         + ("" if b.get("mu_above_chance") is not False else " (**μ not above chance**)"))
    lines += _corruption_markdown(report.get("corruptions"))
    failures = report.get("failures") or []
    if failures:
        lines += ["", "## Samples that failed to decode", ""]
        for f in failures[:50]:
            lines.append(f"- `{f['config']}` / `{f['source_id']}`: {f['error']}")
        if len(failures) > 50:
            lines.append(f"- … and {len(failures) - 50} more (see report.json)")
    lines += ["", "Files: `report.json`, `predictions.parquet`, `heatmap.png`, `scenarios.png`.", ""]
    return "\n".join(lines)
