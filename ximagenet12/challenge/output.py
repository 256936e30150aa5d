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
from ximagenet12.builder.schema import arrow_schema, build_features
from ximagenet12.builder.worker import Row, result_row
from ximagenet12.builder.writer import PartWriter, atomic_write_bytes, finalize_parts
from ximagenet12.challenge.candidates import SCENARIO, compose
from ximagenet12.challenge.search import Outcome
from ximagenet12.engine import ScenarioResult
from ximagenet12.registry import Scenario, Variant
from ximagenet12.rng import derive_seed
from ximagenet12.types import Sample

__all__ = ["REPORT_FILE", "ConfigWriter", "prepare_out_dir", "write_card", "write_report_files", "VARIANT"]

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
_OWNED = ("data", "README.md", REPORT_FILE, "samples.jsonl", "curve.png", "report.md", ".cache")


def prepare_out_dir(out: Path) -> None:
    """Refuse a non-empty folder that is not an earlier challenge output; clear an earlier one."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        try:
            previous = json.loads((out / REPORT_FILE).read_text(encoding="utf-8")).get("task") == TASK
        except (OSError, ValueError):
            previous = False
        if not previous:
            raise ValueError(f"refusing to write into {out}: it is not empty and holds no earlier challenge report")
        import shutil

        for name in _OWNED:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


class ConfigWriter:
    """Streams fooled samples' rows into the ``worst_background`` config."""

    def __init__(self, out: Path, class_names: Sequence[str], *, seed: int, extra: dict[str, Any]):
        self.out, self.seed, self.extra = out, int(seed), extra
        self.features = build_features(list(class_names))
        self.schema = arrow_schema(self.features)
        self._part = out / ".cache" / "ximagenet12-challenge" / f"{SCENARIO}.parquet"
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
        self._writer.write(self._pending)
        self._writer.commit()
        files, rows, nbytes = finalize_parts([self._part], self.out / "data" / SCENARIO, self.schema)
        import shutil

        shutil.rmtree(self.out / ".cache", ignore_errors=True)
        return ConfigSummary(SCENARIO, SCENARIO, None, "RGB", rows, nbytes, sum(f.stat().st_size for f in files),
                             [f.relative_to(self.out).as_posix() for f in files])

    def abort(self) -> None:
        self._writer.abort()


def write_card(out: Path, config: ConfigSummary, features: Any, *, report: dict, class_keys: Sequence[str],
               class_names: Sequence[str], license: str) -> None:
    """The dataset card, by the builder's renderer, with the challenge described in its notes."""
    from ximagenet12.dataset_card.render import render_card

    summary = BuildSummary(out_dir=out, source=str(report["data"]), seed=report["seed"], split="train",
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
    atomic_write_bytes(out / "README.md", card.encode("utf-8"))


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


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


def write_report_files(out: Path, report: dict, samples: Sequence[dict]) -> None:
    atomic_write_bytes(out / REPORT_FILE, json.dumps(report, indent=2).encode("utf-8"))
    atomic_write_bytes(out / "samples.jsonl", "".join(json.dumps(s) + "\n" for s in samples).encode("utf-8"))
    atomic_write_bytes(out / "report.md", _markdown(report).encode("utf-8"))
    _curve_plot(report, out / "curve.png")
