"""What the challenge writes: the ``worst_background`` config, the report, the curve.

The config is written with the builder's own pieces (feature schema, row encoding,
part writer, shard finalisation, dataset card), so ``load_dataset(DIR,
"worst_background")`` reads it like any built config; ``report.json``, ``samples.jsonl``,
``curve.png`` and ``report.md`` sit beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ximagenet12.builder.build import BuildSummary, ConfigSummary
from ximagenet12.io.owned import OwnedFolder
from ximagenet12.builder.schema import arrow_schema, build_features
from ximagenet12.builder.worker import Row, result_row
from ximagenet12.builder.writer import PartWriter, finalize_parts
from ximagenet12.challenge.candidates import SCENARIO, compose
from ximagenet12.challenge.search import Outcome
from ximagenet12.scenarios.engine import ScenarioResult
from ximagenet12.scenarios.registry import Scenario, Variant
from ximagenet12.core.rng import derive_seed
from ximagenet12.core.types import Sample

__all__ = ["REPORT_FILE", "ConfigWriter", "check_out_dir", "prepare_out_dir", "write_card", "write_report_files", "VARIANT"]

REPORT_FILE = "report.json"
TASK = "worst_background_challenge"
#: Not a registered scenario (its output depends on a model), but described like one.
VARIANT = Variant(
    Scenario(
        SCENARIO,
        compose,
        "The object, in place, on the first candidate background (in a seeded order) that made the model "
        "wrong: another sample's object-free background (hole inpainted), a library photo or an "
        "ai_background row. One row per fooled sample.",
        family="backgrounds_challenge",
    )
)
#: What the challenge writes at the top of its folder (``data/worst_background/`` holds the shards).
_TOP_FILES = ("README.md", REPORT_FILE, "samples.jsonl", "curve.png", "report.md")
_WORK = ".cache/ximagenet12-challenge"


def check_out_dir(out: Path, *, overwrite: bool = False) -> None:
    """:func:`prepare_out_dir`'s refusals, with nothing created (before the slow work)."""
    OwnedFolder.check(out, command="challenge", overwrite=overwrite, planned=_TOP_FILES)


def prepare_out_dir(out: Path, *, overwrite: bool = False) -> OwnedFolder:
    """Take ``out`` as the challenge's owned output folder
    (:class:`ximagenet12.io.owned.OwnedFolder`): a non-empty folder holding no earlier
    challenge output is refused unless ``overwrite``; the files of an earlier challenge are
    deleted by its manifest, and a file ximagenet12 did not write is never replaced or deleted."""
    folder = OwnedFolder.open(out, command="challenge", overwrite=overwrite, planned=_TOP_FILES)
    folder.clear()
    return folder


class ConfigWriter:
    """Streams fooled samples' rows into the ``worst_background`` config."""

    def __init__(self, out: OwnedFolder, class_names: Sequence[str], *, seed: int, extra: dict[str, Any]):
        self.folder, self.out, self.seed, self.extra = out, out.root, int(seed), extra
        self.features = build_features(list(class_names))
        self.schema = arrow_schema(self.features)
        self._part = out.claim(f"{_WORK}/{SCENARIO}.parquet")
        self._writer = PartWriter(self._part, self.schema)
        self._pending: list[Row] = []

    def add(self, outcome: Outcome) -> None:
        o = outcome
        assert o.composite is not None and o.candidate is not None and o.prediction is not None
        provenance = {
            **o.candidate.provenance(),
            "candidate_index": o.fooled_at,
            "prediction": o.prediction.prediction,
            "score": round(o.prediction.score, 6),
            **self.extra,
        }
        sample = Sample(o.sample.source_id, o.sample.class_key, o.composite.image, o.composite.mask)
        seed = derive_seed(self.seed, o.sample.source_id, SCENARIO, None)
        self._pending.append(result_row(VARIANT, sample, ScenarioResult(o.composite, seed, provenance), o.sample.label))
        if len(self._pending) >= 100:
            self._writer.write(self._pending)
            self._pending = []

    def finish(self) -> ConfigSummary:
        """The part as shards, merged in the work folder and moved into ``data/`` by name."""
        self._writer.write(self._pending)
        self._writer.commit()
        stage = self.out / _WORK / "final"
        files, rows, nbytes = finalize_parts([self._part], stage, self.schema)
        names = []
        for f in files:
            rel = f"data/{SCENARIO}/{f.name}"
            self.folder.write_with(rel, lambda dest, f=f: os.replace(f, dest))
            names.append(rel)
        self.folder.remove(f"{_WORK}/{SCENARIO}.parquet")
        for leftover in (stage, self.out / _WORK):
            try:
                leftover.rmdir()
            except OSError:
                pass
        return ConfigSummary(SCENARIO, SCENARIO, None, "RGB", rows, nbytes,
                             sum((self.out / n).stat().st_size for n in names), names)

    def abort(self) -> None:
        self._writer.abort()


def write_card(out: OwnedFolder, config: ConfigSummary, features: Any, *, report: dict, class_keys: Sequence[str],
               class_names: Sequence[str], license: str) -> None:
    """The dataset card, by the builder's renderer, with the challenge described in its notes."""
    from ximagenet12.dataset_card.render import render_card

    summary = BuildSummary(out_dir=out.root, source=str(report["data"]), seed=report["seed"], split="train",
                           samples=report["n"], classes=list(class_keys), class_names=list(class_names),
                           configs={SCENARIO: config}, skipped=[], elapsed=report["seconds"], license=license)
    notes = (
        f"**Worst-case background challenge** (`ximagenet12 challenge`): model `{report['model']}`, "
        f"{report['mode']} scoring, up to {report['candidates']} candidate backgrounds per sample in a seeded "
        f"order (seed {report['seed']}). Config `{SCENARIO}`: {VARIANT.scenario.description} Worst-case "
        f"accuracy {report['worst_case_accuracy']:.4f} against {report['accuracy']:.4f} on the originals; "
        f"{report['unfoolable_share']:.4f} of the samples could not be fooled. The `provenance` column names "
        "the background (`background_kind`, `background_id`, `donor_class`), its position in the order "
        "(`candidate_index`) and the model's wrong `prediction`."
    )
    card = render_card(summary, [VARIANT], features, pretty_name="XImageNet-12 worst-case backgrounds",
                       source_notes=notes)
    out.write_text("README.md", card)


def _curve_plot(report: dict, path: Path) -> None:
    from ximagenet12.evaluation.report import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    budgets = list(range(len(report["curve"])))
    for key, entry in report["per_class"].items():
        ax.plot(budgets, entry["curve"], lw=0.8, alpha=0.45, label=f"{entry['name']} (n={entry['n']})")
    ax.plot(budgets, report["curve"], color="black", lw=2.2, label="all samples")
    ax.set_xlabel("candidate backgrounds tried per sample (N)")
    ax.set_ylabel("worst-case accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{report['model']} ({report['mode']})", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _markdown(report: dict) -> str:
    f = report["forwards"]
    lines = [
        f"# Worst-case background challenge: `{report['model']}`",
        "",
        f"Data `{report['data']}`, {report['n']} samples, up to {report['candidates']} candidates each "
        f"(seed {report['seed']}), {report['mode']} scoring.",
        "",
        f"- accuracy on the originals: **{report['accuracy']:.4f}**",
        f"- worst-case accuracy at N = {report['candidates']}: **{report['worst_case_accuracy']:.4f}**",
        f"- unfoolable: {report['unfoolable_share']:.4f} of all samples "
        f"({_fmt(report['unfoolable_share_of_correct'])} of those right on the original)",
        f"- forward passes: {f['batches']} batches, {f['images']} images "
        f"({f['images_per_sample']:.2f} per sample; bound 1 + N = {report['candidates'] + 1})",
        "",
        "![worst-case accuracy against N](curve.png)",
        "",
        "| class | n | accuracy | worst-case accuracy | fooled |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {e['name']} (`{k}`) | {e['n']} | {e['accuracy']:.4f} | {e['worst_case_accuracy']:.4f} | {e['fooled']} |"
              for k, e in report["per_class"].items()]
    if report["warnings"]:
        lines += ["", "**Warnings**", ""] + [f"- {w}" for w in report["warnings"]]
    return "\n".join(lines) + "\n"


def write_report_files(out: OwnedFolder, report: dict, samples: Sequence[dict]) -> None:
    out.write_text(REPORT_FILE, json.dumps(report, indent=2))
    out.write_text("samples.jsonl", "".join(json.dumps(s) + "\n" for s in samples))
    out.write_text("report.md", _markdown(report))
    out.write_with("curve.png", lambda tmp: _curve_plot(report, tmp))
