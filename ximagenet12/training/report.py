"""A training run's report, in the evaluator's layout plus what training adds.

``report.json`` has the evaluator's fields (``scenarios[name].accuracy``, ``n``,
``per_class``, ``modes`` with ``strict`` and ``restricted``, which coincide for a head
trained over the dataset's classes) plus ``protocol``, ``method``, ``n_folds``,
``training`` (the settings) and ``provenance``; per scenario ``folds`` (accuracy, n,
train n, validation n, epochs run, curve) and ``fold_accuracy_mean`` /
``fold_accuracy_std`` (sample standard deviation over folds, ex2). The scenario accuracy
is the pooled out-of-fold accuracy (each sample predicted once). An ex2 report carries
``internal`` (its per-scenario accuracies around its own μ on ``original``): the internal
term that ``ximagenet12 score`` combines with an ex1 (or evaluate) report.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ximagenet12.evaluation.classification import EvaluationResult
from ximagenet12.evaluation.report import per_class_table, robustness_of, robustness_scenarios, write_report
from ximagenet12.training.protocols import EX1_TEST_FOLD, RunContext

__all__ = ["assemble", "write_training_report", "internal_block"]


def _fold_ids(ctx: RunContext) -> list[int]:
    return list(range(ctx.settings.folds)) if ctx.settings.protocol == "ex2" else [EX1_TEST_FOLD]


def _scenario_entry(ctx: RunContext, config: str):
    import pandas as pd

    results, frames = zip(*(ctx.folder.read_fold(config, k) for k in _fold_ids(ctx)))
    preds = pd.concat(frames, ignore_index=True)
    keys = list(ctx.table.class_keys)
    accs = [r["accuracy"] for r in results if r.get("accuracy") is not None]
    acc = float(preds["correct"].mean()) if len(preds) else None
    per_class = per_class_table(preds, keys, metric="correct", name="accuracy")
    entry: dict[str, Any] = {
        "accuracy": acc,
        "n": int(len(preds)),
        "n_failed": sum(1 for f in ctx.failures if f["config"] == config),
        "per_class": per_class,
        "modes": {m: {"accuracy": acc, "per_class": per_class} for m in ("strict", "restricted")},
        "folds": [dict(r) for r in results],
        "fold_accuracy_mean": float(np.mean(accs)) if accs else None,
        "fold_accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else None,
    }
    return entry, preds


def internal_block(scenarios: dict) -> dict:
    """An ex2 run's internal term: per-scenario accuracy and its own μ (``original``).

    Every scenario of the run is listed (scenario set ``all``): ``score`` picks the members
    of the set it is asked for."""
    mu = scenarios.get("original", {}).get("accuracy")
    values = {c: scenarios[c]["accuracy"] for c in robustness_scenarios(list(scenarios), scenario_set="all")
              if scenarios[c]["accuracy"] is not None}
    return {"reference": mu, "scenarios": values,
            "note": "models trained and tested within each scenario (k-fold); reference = the same protocol on original"}


def assemble(ctx: RunContext, *, provenance: dict, robustness_config: str = "table3") -> EvaluationResult:
    """The report and predictions of every finished fold of the run."""
    import pandas as pd

    scen, frames = {}, []
    for config in ctx.configs:
        scen[config], preds = _scenario_entry(ctx, config)
        frames.append(preds)
    s = ctx.settings
    names, keys = ctx.table.class_names, ctx.table.class_keys
    report: dict[str, Any] = {
        "task": "classification", "metric": "accuracy", "model": s.model, "data": s.data, "mode": "restricted",
        "modes": {"strict": "top-1 over all model classes must be the sample's class",
                  "restricted": "argmax over the dataset's classes only"},
        "label_mapping": {"kind": "dataset_classes",
                          "note": "a head trained over the dataset's classes: strict and restricted coincide"},
        "classes": [{"index": i, "name": n, "key": k} for i, (n, k) in enumerate(zip(names, keys))],
        "alpha_flattening": "alpha composited on black: rgb * alpha / 255 (the paper's segmented look)",
        "protocol": s.protocol, "method": s.method, "n_folds": s.folds, "seed": s.seed,
        "training": asdict(s), "scenarios": scen, "provenance": provenance,
        "n_failed": len(ctx.failures), "failures": ctx.failures, "resumed": ctx.resumed,
    }
    if s.protocol == "ex1":
        report["test_part"] = f"fold {EX1_TEST_FOLD} of {s.folds} (whole source images, stratified by class)"
        report["robustness"] = robustness_of(scen, metric="accuracy", config=robustness_config)
        chance = (report["robustness"].get("chance") or {}).get("warning")
        if chance:  # a model trained to chance has S_robust near 1 by construction
            report["warnings"] = [*report.get("warnings", []), chance]
    else:
        report["internal"] = internal_block(scen)
        report["robustness"] = {"s_robust": None, "config": robustness_config,
                                "reason": "an ex2 run is the internal term; combine it with an ex1 run: ximagenet12 score"}
    report["robustness_by_mode"] = {m: report["robustness"] for m in ("strict", "restricted")}
    return EvaluationResult(report=report, predictions=pd.concat(frames, ignore_index=True), failures=ctx.failures)


def _curves_plot(report: dict, path: Path) -> None:
    """Fig. 8 of the paper: train and validation accuracy per epoch per scenario (fine-tuning,
    mean over folds), or train and held-out accuracy per fold (linear probe)."""
    from ximagenet12.evaluation.report import _pyplot

    plt = _pyplot()
    # two legend entries per scenario: the figure grows with them so none is cut off
    fig, ax = plt.subplots(figsize=(7.5, max(4.4, 0.5 + 0.3 * len(report["scenarios"]))), dpi=110)
    colors = plt.get_cmap("tab10").colors
    for i, (config, entry) in enumerate(report["scenarios"].items()):
        color = colors[i % len(colors)]
        curves = [f["curve"] for f in entry["folds"] if f.get("curve")]
        if curves:
            epochs = sorted({p["epoch"] for c in curves for p in c})
            for key, style in (("train_accuracy", ":"), ("val_accuracy", "-")):
                ys = [np.nanmean([p[key] for c in curves for p in c if p["epoch"] == e and p[key] is not None] or [np.nan])
                      for e in epochs]
                ax.plot(epochs, ys, style, color=color, marker="o", ms=3, label=f"{config} {key.split('_')[0]}")
            ax.set_xlabel("epoch (mean over folds)")
        else:
            folds = [f["fold"] for f in entry["folds"]]
            ax.plot(folds, [f.get("train_accuracy") for f in entry["folds"]], ":", color=color, marker="o", ms=3,
                    label=f"{config} train")
            ax.plot(folds, [f.get("accuracy") for f in entry["folds"]], "-", color=color, marker="o", ms=3,
                    label=f"{config} held-out")
            ax.set_xticks(folds)
            ax.set_xlabel("fold")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{report['protocol']} {report['method']} — {report['model']}", fontsize=9)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _fmt(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def _training_markdown(report: dict) -> str:
    t = report["training"]
    lines = ["", "## Training", "",
             f"- **Protocol:** `{report['protocol']}`; **method:** `{report['method']}`; **folds:** {report['n_folds']} "
             f"(stratified by class, grouped by source id, seed {report['seed']})",
             f"- **Settings:** epochs {t['epochs']}, lr {t['lr']}, batch size {t['batch_size']}, "
             f"mixed precision {t['mixed_precision']}, dtype {t['dtype']}",
             f"- **Model commit:** `{report['provenance']['model'].get('resolved_commit')}`; **data:** "
             f"`{report['provenance']['data'].get('fingerprint') or report['provenance']['data'].get('resolved_revision')}`",
             "", "| scenario | pooled accuracy | fold mean | fold std | folds |", "|---|---:|---:|---:|---:|"]
    for c, e in report["scenarios"].items():
        lines.append(f"| {c} | {_fmt(e['accuracy'])} | {_fmt(e['fold_accuracy_mean'])} | "
                     f"{_fmt(e['fold_accuracy_std'])} | {len(e['folds'])} |")
    lines += ["", "![training curves](curves.png)", ""]
    return "\n".join(lines)


def write_training_report(result: EvaluationResult, out: Any) -> Path:
    """The evaluator's report files, plus ``curves.png`` and a training section in ``report.md``.

    ``out``: the run's :class:`ximagenet12.training.runs.RunFolder` (its owned folder takes
    the files), or a folder path (opened as the ``train`` command's owned folder)."""
    from ximagenet12.io.owned import OwnedFolder

    owned = getattr(out, "owned", None) or OwnedFolder.open(out, command="train")
    folder = write_report(result, owned)
    owned.write_with("curves.png", lambda p: _curves_plot(result.report, p))
    owned.write_text("report.md", (folder / "report.md").read_text(encoding="utf-8") + _training_markdown(result.report))
    return folder
