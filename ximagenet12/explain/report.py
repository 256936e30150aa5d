"""The explain report folder, in the evaluator's layout::

    <out>/report.json            # settings, per scenario (and class): focus, ratio, pointing game, CIs
    <out>/explanations.parquet   # one row per sample (EXPLANATION_COLUMNS)
    <out>/focus.png              # object focus per scenario with CIs, mask area as the no-preference level
    <out>/heatmap.png            # object focus per scenario and class
    <out>/overlays.png           # heat-map over the model input, mask outline, for seeded samples
    <out>/report.md              # ties them together

Every file is written under a temporary name and renamed, so an interrupted write never
leaves half a file under a final name.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["EXPLAIN_REPORT_FILES", "write_explain_report"]

EXPLAIN_REPORT_FILES = ("report.json", "explanations.parquet", "focus.png", "heatmap.png", "overlays.png", "report.md")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_explain_report(result: Any, out: str | os.PathLike | Any, *, overwrite: bool = False) -> Path:
    """Write :data:`EXPLAIN_REPORT_FILES` for ``result`` (an ``ExplainResult``) into ``out``.

    ``out``: a folder or an :class:`ximagenet12.io.owned.OwnedFolder` the command opened
    before the run; a folder holding files ximagenet12 did not write is refused unless
    ``overwrite``, and no such file is ever replaced (issue 25)."""
    from ximagenet12.io.owned import OwnedFolder
    from ximagenet12.evaluation.report import _heatmap, _json_safe, _pyplot

    folder = out if isinstance(out, OwnedFolder) else OwnedFolder.open(
        out, command="explain", overwrite=overwrite, planned=EXPLAIN_REPORT_FILES)
    report = result.report
    folder.write_text("report.json", json.dumps(_json_safe(report), indent=2, ensure_ascii=False) + "\n")
    folder.write_with("explanations.parquet", lambda p: result.explanations.to_parquet(p, index=False))
    plt = _pyplot()
    folder.write_bytes("focus.png", _png(_focus_plot(plt, report)))
    # the evaluator's density map, focus in [0, 1]
    folder.write_with("heatmap.png", lambda p: _heatmap({**report, "mode": report.get("method")}, p))
    folder.write_bytes("overlays.png", _png(_overlay_grid(plt, report, result.overlays)))
    plt.close("all")
    folder.write_text("report.md", _markdown(report))
    return folder.root


def _focus_plot(plt, report: dict):
    configs = list(report["scenarios"])
    entries = [report["scenarios"][c] for c in configs]
    x = np.arange(len(configs))
    fig, ax = plt.subplots(figsize=(min(16.0, max(6.5, 2.0 + 0.55 * len(configs))), 4.4), dpi=110)
    focus = np.array([np.nan if e["object_focus"] is None else e["object_focus"] for e in entries])
    low = np.array([np.nan if not e["object_focus_ci"] else e["object_focus_ci"][0] for e in entries])
    high = np.array([np.nan if not e["object_focus_ci"] else e["object_focus_ci"][1] for e in entries])
    err = np.vstack([np.nan_to_num(focus - low), np.nan_to_num(high - focus)])
    ax.bar(x, focus, color="#4c72b0", yerr=err, capsize=3, label="object focus (95% CI)")
    area = [np.nan if e["mask_area"] is None else e["mask_area"] for e in entries]
    ax.scatter(x, area, marker="_", s=400, color="#c44e52", zorder=3, label="mask area (no preference)")
    for xi, v in zip(x, focus):
        if not np.isnan(v):
            ax.text(xi, 0.02, f"{v:.2f}", ha="center", va="bottom", fontsize=7, color="white")
    ax.set_xticks(x)
    ax.set_xticklabels(configs, rotation=35, ha="right", fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("share of positive attribution on the object")
    ax.set_title(f"object focus per scenario — {report['model']} ({report['method']}, target: {report['target']})",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return fig


def _overlay_grid(plt, report: dict, overlays: dict[str, list]):
    configs = [c for c in report["scenarios"] if overlays.get(c)]
    cols = max([len(overlays[c]) for c in configs] or [1])
    rows = max(1, len(configs))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols + 1.2, 2.5 * rows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if not configs:
        axes[0, 0].text(0.5, 0.5, "no samples to show", ha="center", va="center")
    for r, config in enumerate(configs):
        for c, o in enumerate(overlays[config]):
            ax = axes[r, c]
            heat = np.clip(o.attribution, 0, None)
            top = float(heat.max())
            ax.imshow(o.image)
            ax.imshow(heat / top if top > 0 else heat, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
            ax.contour(o.mask.astype(float), levels=[0.5], colors="white", linewidths=1.2)
            focus = "n/a" if o.object_focus != o.object_focus else f"{o.object_focus:.2f}"
            ax.set_title(f"{o.source_id}\nfocus {focus}, {'right' if o.correct else 'wrong'}", fontsize=7)
        axes[r, 0].text(-0.08, 0.5, config, transform=axes[r, 0].transAxes, rotation=90, ha="right",
                        va="center", fontsize=8)
    fig.suptitle(f"{report['model']}: {report['method']} (positive part, per-image scale), mask outline in white",
                 fontsize=9)
    fig.tight_layout()
    return fig


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:.3f}"


def _ci(v: Any) -> str:
    return "–" if not v else f"[{v[0]:.3f}, {v[1]:.3f}]"


def _markdown(report: dict) -> str:
    lines = [
        f"# Explanation report: {report['model']}",
        "",
        f"- **Model:** `{report['model']}`; **data:** `{report['data']}`",
        f"- **Method:** {report['method_description']}",
        f"- **Target:** {report['target']} class (correctness: `{report['mode']}` scoring)",
    ]
    if report.get("target_layer"):
        lines.append(f"- **Target layer:** `{report['target_layer']}` ({report.get('layer_choice')})")
    lines += [f"- **{k}:** {v}" for k, v in report["definitions"].items()]
    lines += [f"- **Note:** {n}" for n in report.get("notes", [])]
    lines += [f"- **WARNING:** {w}" for w in report.get("warnings", [])]
    lines += ["", "## Per scenario", "",
              "| scenario | n | failed | undefined | object focus | 95% CI | mask area | focus/area | pointing game "
              "| accuracy | focus right | focus wrong |",
              "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for c, e in report["scenarios"].items():
        rw = e["right_vs_wrong"]
        lines.append(
            f"| {c} | {e['n']} | {e['n_failed']} | {e['n_undefined']} | {_fmt(e['object_focus'])} | "
            f"{_ci(e['object_focus_ci'])} | {_fmt(e['mask_area'])} | {_fmt(e['focus_ratio'])} | "
            f"{_fmt(e['pointing_game'])} | {_fmt(e['accuracy'])} | {_fmt(rw['right']['mean'])} (n={rw['right']['n']}) | "
            f"{_fmt(rw['wrong']['mean'])} (n={rw['wrong']['n']}) |"
        )
    rw = report.get("right_vs_wrong") or {}
    if rw.get("difference") is not None:
        lines += ["", f"Over all scenarios, focus(right) − focus(wrong) = {rw['difference']:+.3f} "
                  f"(95% CI {_ci(rw.get('difference_ci'))})."]
    lines += ["", "![object focus per scenario](focus.png)", "", "## Object focus per scenario and class", ""]
    classes = report["classes"]
    lines.append("| scenario | " + " | ".join(c["name"] for c in classes) + " |")
    lines.append("|---|" + "---:|" * len(classes))
    for c, e in report["scenarios"].items():
        lines.append(f"| {c} | " + " | ".join(_fmt(e["per_class"][k["key"]]["object_focus"]) for k in classes) + " |")
    lines += ["", "![object focus per scenario and class](heatmap.png)", "", "## Samples", "",
              "![overlays](overlays.png)", ""]
    failures = report.get("failures") or []
    if failures:
        lines += ["## Samples not explained", ""]
        lines += [f"- `{f['config']}` / `{f['source_id']}`: {f['error']}" for f in failures[:50]]
        if len(failures) > 50:
            lines.append(f"- … and {len(failures) - 50} more (see report.json)")
        lines.append("")
    return "\n".join(lines)
