"""EX1: run an image classifier on every scenario config and score it.

The model runs as a ``transformers`` ``image-classification`` pipeline: each image is
decoded (RGBA flattened on black, see :mod:`ximagenet12.evaluation.data`) and passed
through the pipeline's own ``preprocess`` in background threads, batches of
``batch_size`` go through the pipeline's ``forward`` (device placement, inference
mode), and the logits over *all* model classes are scored in both modes of
:mod:`ximagenet12.evaluation.labels` (``strict`` and ``restricted``). Going through
``preprocess``/``forward`` instead of ``pipe(images)`` keeps the full logit vector
(``top_k`` never truncates it) and lets decoding overlap the model.

``task="zero-shot"`` runs a CLIP-like ``zero-shot-image-classification`` model instead:
one prompt per dataset class (:mod:`ximagenet12.evaluation.zero_shot`), encoded once per
run; its outputs are the dataset's classes, so both modes are the same argmax over them.

A plain callable is accepted too: ``model(list_of_pil_images)`` must return, per image,
a list of ``{"label": str, "score": float}`` (the pipeline's output format); its labels
are mapped the same way (restricted mode then takes the best returned label that is one
of the dataset's classes).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ximagenet12.evaluation import data as D
from ximagenet12.evaluation.labels import (
    SCORING_MODES,
    LabelMapping,
    ScoringMode,
    map_labels,
    normalize_label,
    score_logits,
)
from ximagenet12.evaluation.models import is_pipeline, load_pipeline, model_name, run_provenance
from ximagenet12.evaluation.report import per_class_table, robustness_line, robustness_of
from ximagenet12.evaluation.zero_shot import (
    DEFAULT_PROMPT_TEMPLATE,
    EVALUATION_TASKS,
    ZERO_SHOT_PIPELINE_TASK,
    EvaluationTask,
    ZeroShotHead,
    check_prompt_template,
    check_zero_shot_model,
    class_prompts,
    readable_class_names,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EvaluationResult",
    "evaluate_classification",
    "MIN_RESTRICTED_CLASSES",
    "check_options",
    "check_task",
    "default_num_workers",
    "primary_mode",
    "run_record",
    "summarise",
]

DEFAULT_BATCH_SIZE = 32
#: Below this many classes, restricted scoring is not the default headline (see primary_mode).
MIN_RESTRICTED_CLASSES = 10
#: Background decode/preprocess threads by default (at most this many).
MAX_DEFAULT_WORKERS = 4
PREDICTION_COLUMNS = (
    "config", "scenario", "source_id", "label", "class_key",
    "prediction", "score", "correct",
    "strict_label", "strict_prediction", "strict_score", "strict_correct",
    "restricted_prediction", "restricted_score", "restricted_correct",
)


def default_num_workers() -> int:
    return max(1, min(MAX_DEFAULT_WORKERS, (os.cpu_count() or 1)))


@dataclass
class EvaluationResult:
    """A finished evaluation: the report (JSON-able) and one prediction row per sample."""

    report: dict
    predictions: Any  # pandas.DataFrame
    failures: list[dict] = field(default_factory=list)


class _LabelResolver:
    """Label string -> dataset class index (-1: none), for callables that return labels."""

    def __init__(self, names: Sequence[str], keys: Sequence[str]):
        self.names, self.keys = list(names), list(keys)
        self.cache: dict[str, int] = {}

    def __call__(self, label: str) -> int:
        if label not in self.cache:
            self.cache[label] = self._resolve(label)
        return self.cache[label]

    def _resolve(self, label: str) -> int:
        x = normalize_label(label)
        for c, (n, k) in enumerate(zip(self.names, self.keys)):
            if x == normalize_label(n) or (k and x == normalize_label(k)):
                return c
        from ximagenet12.evaluation.labels import _labels_as_wnids

        wnid = _labels_as_wnids([label])[0]
        if wnid:
            for c, k in enumerate(self.keys):
                if k == wnid:
                    return c
        return -1


def _model_labels(pipe: Any) -> dict[int, str]:
    config = getattr(getattr(pipe, "model", None), "config", None)
    id2label = getattr(config, "id2label", None)
    if not id2label:
        raise ValueError(f"model {model_name(pipe)!r} has no id2label in its config: cannot map its outputs")
    return {int(k): str(v) for k, v in id2label.items()}


def _collate(tensors: list[Any]) -> list[tuple[list[int], dict]]:
    """Group per-image pipeline inputs of equal shapes into batches (positions, inputs)."""
    import torch

    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        sig = tuple((k, tuple(v.shape)) for k, v in sorted(t.items()) if hasattr(v, "shape"))
        groups.setdefault(sig, []).append(i)
    out = []
    for positions in groups.values():
        first = tensors[positions[0]]
        batch = {}
        for key in first.keys():
            values = [tensors[i][key] for i in positions]
            batch[key] = torch.cat(values) if hasattr(values[0], "shape") else values[0]
        out.append((positions, batch))
    return out


def primary_mode(mode: ScoringMode | None, n_classes: int) -> tuple[ScoringMode, str]:
    """The headline scoring mode and why it was chosen.

    Restricted scoring (argmax over the dataset's classes) gets easy as the class set
    shrinks: over 3 classes even a background-only image is right one time in three, and a
    model that knows the objects can score 1.0 on every scenario. Below
    :data:`MIN_RESTRICTED_CLASSES` classes the default headline is therefore strict.
    """
    if mode is not None:
        if mode not in SCORING_MODES:
            raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(SCORING_MODES)}")
        if mode == "restricted" and n_classes < MIN_RESTRICTED_CLASSES:
            return mode, (f"restricted, as asked, although it covers only {n_classes} classes "
                          f"(fewer than {MIN_RESTRICTED_CLASSES}): its scores are easy to reach; compare strict")
        return mode, f"{mode}, as asked"
    if n_classes < MIN_RESTRICTED_CLASSES:
        return "strict", (f"strict, because restricted scoring over only {n_classes} classes (fewer than "
                          f"{MIN_RESTRICTED_CLASSES}) is too easy to be a headline: a guess among {n_classes} "
                          "classes is already right often")
    return "restricted", (f"restricted: argmax over the data's {n_classes} classes (the default when the data has "
                          f"at least {MIN_RESTRICTED_CLASSES} classes; strict is reported too)")


def evaluate_classification(
    model: str | os.PathLike | Any,
    data: str | os.PathLike,
    *,
    scenarios: str | Sequence[str] = "all",
    mode: ScoringMode | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    num_workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    robustness_config: str = "table3",
    dtype: str | None = None,
    revision: str | None = None,
    spans: Mapping[str, tuple[int, int]] | None = None,
    task: EvaluationTask = "image-classification",
    prompt_template: str | None = None,
    include_training_rows: bool = False,
) -> EvaluationResult:
    """Evaluate ``model`` on each scenario config of ``data``.

    A model folder written by ``ximagenet12 train`` records the rows it was trained on
    (``training_rows.json``): their source ids are left out of every config (the same
    object and photo under another background is no held-out test either), and the report
    says how many (``report["training_rows"]``). ``include_training_rows=True`` scores them
    anyway, loudly, and the report records it (the leaderboard then refuses the report).

    ``mode`` is the *primary* scoring mode (``report["mode"]``, the ``prediction`` and
    ``accuracy`` fields); ``None`` picks it by :func:`primary_mode`. Both modes are always
    computed and reported. ``limit`` caps the samples per config (first rows), for quick
    looks. ``task="zero-shot"`` scores a CLIP-like model through one prompt per class
    (``prompt_template``, default :data:`DEFAULT_PROMPT_TEMPLATE`). Every option is
    checked before any model or data is loaded.
    """
    check_options(batch_size=batch_size, limit=limit, robustness_config=robustness_config, mode=mode)
    template = check_task(task, prompt_template, model)
    with D.library_progress(progress):
        return _evaluate(model, data, scenarios=scenarios, mode=mode, batch_size=batch_size, device=device,
                         workers=default_num_workers() if num_workers is None else num_workers,
                         limit=limit, progress=progress, robustness_config=robustness_config,
                         dtype=dtype, revision=revision, spans=spans, task=task, template=template,
                         include_training_rows=include_training_rows)


def check_task(task: str, prompt_template: str | None, model: Any = None) -> str | None:
    """The prompt template to use (``None`` for image classification), or a one-line error."""
    if task not in EVALUATION_TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(EVALUATION_TASKS)}")
    if task == "image-classification":
        if prompt_template is not None:
            raise ValueError("a prompt template (--prompt-template) applies to --task zero-shot only")
        return None
    check_zero_shot_model(model)
    return check_prompt_template(DEFAULT_PROMPT_TEMPLATE if prompt_template is None else prompt_template)


def training_rows_section(record: dict | None, log: D.RunLog, *, include: bool, model: str) -> dict | None:
    """``report["training_rows"]``: the model's training record and what was done with it."""
    if record is None:
        return None
    excluded = sum(log.excluded.values())
    if include:
        log.warn(f"{model} was trained on {len(record['source_ids'])} of these source ids ({record['path']}) and "
                 "they were scored anyway (include_training_rows): these accuracies are not held-out")
    elif excluded:
        log.warn(f"left out {excluded} row(s) of source ids {model} was trained on ({record['path']}; "
                 + ", ".join(f"{c}: {n}" for c, n in log.excluded.items()) + ")")
    return {"record": record["path"], "data": record.get("data"), "data_fingerprint": record.get("data_fingerprint"),
            "config": record.get("config"), "trained_on": len(record["source_ids"]), "included": bool(include),
            "excluded": dict(log.excluded), "n_excluded": excluded}


def check_options(*, batch_size: int, limit: int | None, robustness_config: str, mode: str | None = None) -> None:
    """Reject bad options up front, before any work (shared with the segmentation evaluator)."""
    from ximagenet12.metrics.robustness_score.functional import resolve_config

    if mode is not None and mode not in SCORING_MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(SCORING_MODES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    resolve_config(robustness_config)  # "unknown robustness_score config 'x'; known configs: ..."


def _evaluate(model, data, *, scenarios, mode, batch_size, device, workers, limit, progress,
              robustness_config, dtype=None, revision=None, spans=None, task="image-classification",
              template=None, include_training_rows=False) -> EvaluationResult:
    from ximagenet12.evaluation.training_rows import read_training_rows

    record = read_training_rows(model)
    exclude = frozenset(record["source_ids"]) if record is not None and not include_training_rows else frozenset()

    configs = D.resolve_scenarios(data, scenarios)
    names, keys = D.dataset_classes(data, configs)
    keys = [k or n for k, n in zip(keys, names)]
    mode, mode_reason = primary_mode(mode, len(names))
    name = model_name(model)
    loaded = dict(device=device, dtype=dtype, revision=revision)
    if task == "zero-shot":
        pipe, zero_shot, mapping = _load_zero_shot(model, names, keys, template, name=name, **loaded)
        mode_reason = (f"{mode}; zero-shot: strict and restricted are the same argmax over the {len(names)} "
                       f"dataset classes' prompts (no 1000-class mode; chance is 1/{len(names)})")
    else:
        pipe, zero_shot = load_pipeline(model, task="image-classification", **loaded), None
        mapping = map_labels(_model_labels(pipe), names, keys, model=name) if is_pipeline(pipe) else None
    use_pipeline = is_pipeline(pipe)
    resolver = None if use_pipeline else _LabelResolver(names, keys)
    root = D.data_root(data)

    def prepare(row: dict) -> Any:
        image = D.decode_rgb(row["image"], source_id=row.get("source_id", "?"), root=root)
        if zero_shot is not None:
            return zero_shot.prepare(image)
        return pipe.preprocess(image) if use_pipeline else image

    def process(config: str, good: list) -> list[dict]:
        if not use_pipeline:
            return _score_callable(config, [r for r, _ in good], pipe([x for _, x in good]), resolver, keys)
        logits = np.zeros((len(good), len(mapping.model_labels)), dtype=np.float32)
        for positions, inputs in _collate([x for _, x in good]):
            logits[positions] = zero_shot.logits(inputs) if zero_shot else pipe.forward(inputs)["logits"].float().numpy()
        return _score_pipeline(config, [r for r, _ in good], logits, mapping, keys)

    log = D.RunLog()
    started = time.perf_counter()
    rows_out = D.run_configs(data, configs, prepare, process, columns=["image", "label", "class_key", "source_id", "scenario"],
                             batch_size=batch_size, num_workers=workers, limit=limit, progress=progress, log=log, spans=spans,
                             exclude=exclude)
    training = training_rows_section(record, log, include=include_training_rows, model=model_name(model))
    predictions = _prediction_frame(rows_out, mode)
    done = [c for c in configs if c in log.seconds]
    scen = {c: _scenario_entry(predictions, c, keys, log) for c in done}
    report = {
        "task": "classification",
        "metric": "accuracy",
        "model": name,
        "data": D.data_name(data),
        "mode": mode,
        "mode_reason": mode_reason,
        "modes": dict(_MODES_ZERO_SHOT if zero_shot else _MODES),
        "pipeline_task": ZERO_SHOT_PIPELINE_TASK if zero_shot else "image-classification",
        "label_mapping": mapping.describe() if mapping else {"kind": "callable labels"},
        "classes": [{"index": i, "name": n, "key": k} for i, (n, k) in enumerate(zip(names, keys))],
        "alpha_flattening": D.ALPHA_FLATTENING,
        "scenarios": scen,
        "robustness": robustness_of(scen, metric="accuracy", config=robustness_config),
        "robustness_by_mode": {
            m: robustness_of({c: {**e["modes"][m], "n": e["n"]} for c, e in scen.items()}, metric="accuracy",
                             config=robustness_config)
            for m in SCORING_MODES
        },
        **run_record(log, data=data, pipe=pipe, batch_size=batch_size, workers=workers, limit=limit, started=started,
                     model=model, dtype=dtype, revision=revision),
        "training_rows": training,
    }
    _complete_report(report, zero_shot=zero_shot, template=template, n_classes=len(names))
    return EvaluationResult(report=report, predictions=predictions, failures=log.failures)


def _prediction_frame(rows: list, mode: str) -> Any:
    """One row per scored sample, with both modes' columns and the headline mode's as ``correct``/...."""
    import pandas as pd

    predictions = pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))
    for m in SCORING_MODES:
        predictions[f"{m}_correct"] = predictions[f"{m}_correct"].astype(bool)
    predictions["correct"] = predictions[f"{mode}_correct"]
    predictions["prediction"] = predictions[f"{mode}_prediction"]
    predictions["score"] = predictions[f"{mode}_score"]
    return predictions


def _complete_report(report: dict, *, zero_shot: Any, template: str | None, n_classes: int) -> None:
    """The report's zero-shot record, its chance warning and the corruption summary (in place)."""
    if zero_shot is not None:
        report["prompt_template"] = template
        report["prompts"] = list(zero_shot.prompts)
        report["provenance"]["task"] = {"pipeline_task": ZERO_SHOT_PIPELINE_TASK, "prompt_template": template,
                                        "prompts": list(zero_shot.prompts), "text_encoded": "once per run"}
        if n_classes < MIN_RESTRICTED_CLASSES:
            report["warnings"].append(
                f"zero-shot over only {n_classes} classes (fewer than {MIN_RESTRICTED_CLASSES}): every score is an "
                f"argmax among {n_classes} prompts, right by chance 1 time in {n_classes}"
            )
    chance = (report["robustness"].get("chance") or {}).get("warning")
    if chance:  # S_robust of a model at chance is near 1 by construction: a report-level warning
        report["warnings"] = [*report["warnings"], chance]
    scen = report["scenarios"]
    if any(c.startswith("corrupt_") for c in scen):
        from ximagenet12.scenarios.corruptions import corruption_summary

        report["corruptions"] = corruption_summary({c: e["accuracy"] for c, e in scen.items()})


def _load_zero_shot(model, names, keys, template, *, name, device, dtype, revision):
    """The zero-shot pipeline, its prompts encoded once, and the mapping "prompt c is class c"."""
    check_zero_shot_model(model)  # a folder that is not CLIP-like: refused before it is loaded
    prompts = class_prompts(readable_class_names(names, keys), template)
    pipe = load_pipeline(model, task=ZERO_SHOT_PIPELINE_TASK, device=device, dtype=dtype, revision=revision)
    head = ZeroShotHead.build(pipe, prompts, model=name)
    mapping = LabelMapping("zero_shot_prompts", tuple(names), tuple(keys), tuple(prompts), tuple(range(len(names))))
    return pipe, head, mapping


_MODES = {
    "strict": "top-1 over all model classes must be the sample's class",
    "restricted": "argmax over the dataset's classes only",
}
_MODES_ZERO_SHOT = {
    "strict": "argmax over one prompt per dataset class (zero-shot has no 1000-class mode: the same as restricted)",
    "restricted": "argmax over one prompt per dataset class (the same as strict)",
}


def _scenario_entry(predictions, config: str, keys: Sequence[str], log: D.RunLog) -> dict:
    sub = predictions[predictions["config"] == config]
    return {
        "accuracy": _mean(sub["correct"]),
        "n": int(len(sub)),
        "n_failed": sum(1 for f in log.failures if f["config"] == config),
        "per_class": per_class_table(sub, keys, metric="correct", name="accuracy"),
        "modes": {
            m: {
                "accuracy": _mean(sub[f"{m}_correct"]),
                "per_class": per_class_table(sub, keys, metric=f"{m}_correct", name="accuracy"),
            }
            for m in SCORING_MODES
        },
        "seconds": log.seconds.get(config),
    }


def run_record(log: D.RunLog, *, data, pipe, batch_size: int, workers: int, limit: int | None, started: float,
               model: Any = None, dtype: str | None = None, revision: str | None = None) -> dict:
    """The report fields about the run itself: what was skipped, the data's identity, versions."""
    return {
        "interrupted": log.interrupted,
        "n_failed": len(log.failures),
        "failures": log.failures,
        "skipped_configs": log.skipped_configs,
        "bad_shards": log.bad_shards,
        "n_bad_shards": len(log.bad_shards),
        "warnings": log.warnings,
        "dataset": {"source": D.data_name(data), "fingerprint": D.dataset_fingerprint(data)},
        "batch_size": batch_size,
        "device": str(getattr(pipe, "device", "n/a")),
        "num_workers": workers,
        "limit": limit,
        "seconds": round(time.perf_counter() - started, 3),
        "versions": _versions(),
        "provenance": run_provenance(model, data, loaded=pipe, revision=revision, dtype=dtype),
    }


def _mean(series) -> float | None:
    return float(series.mean()) if len(series) else None


def _score_pipeline(config, rows, logits, mapping: LabelMapping, keys) -> list[dict]:
    s = score_logits(logits, mapping)
    out = []
    for i, row in enumerate(rows):
        label = int(row["label"])
        strict_class = int(s.strict_class[i])
        rc = int(s.restricted_class[i])
        out.append(
            {
                "config": config,
                "scenario": row.get("scenario") or config,
                "source_id": row.get("source_id"),
                "label": label,
                "class_key": row.get("class_key") or keys[label],
                "strict_label": mapping.model_labels[int(s.strict_model_index[i])],
                "strict_prediction": keys[strict_class] if strict_class >= 0 else None,
                "strict_score": float(s.strict_score[i]),
                "strict_correct": strict_class == label,
                "restricted_prediction": keys[rc],
                "restricted_score": float(s.restricted_score[i]),
                "restricted_correct": rc == label,
            }
        )
    return out


def _score_callable(config, rows, outputs, resolver: _LabelResolver, keys) -> list[dict]:
    if not isinstance(outputs, (list, tuple)) or len(outputs) != len(rows):
        raise TypeError(
            f"the model callable must return one prediction list per image ({len(rows)}), got "
            f"{type(outputs).__name__}{'' if not hasattr(outputs, '__len__') else f' of length {len(outputs)}'}"
        )
    out = []
    for row, preds in zip(rows, outputs):
        if isinstance(preds, dict):
            preds = [preds]
        ranked = sorted(preds, key=lambda p: float(p["score"]), reverse=True)
        if not ranked:
            raise TypeError(f"the model callable returned no prediction for sample {row.get('source_id')!r}")
        label = int(row["label"])
        top = ranked[0]
        strict_class = resolver(str(top["label"]))
        mapped = [(resolver(str(p["label"])), float(p["score"])) for p in ranked]
        mapped = [(c, sc) for c, sc in mapped if c >= 0]
        rc, rscore = mapped[0] if mapped else (-1, 0.0)
        out.append(
            {
                "config": config,
                "scenario": row.get("scenario") or config,
                "source_id": row.get("source_id"),
                "label": label,
                "class_key": row.get("class_key") or keys[label],
                "strict_label": str(top["label"]),
                "strict_prediction": keys[strict_class] if strict_class >= 0 else None,
                "strict_score": float(top["score"]),
                "strict_correct": strict_class == label,
                "restricted_prediction": keys[rc] if rc >= 0 else None,
                "restricted_score": rscore,
                "restricted_correct": rc == label,
            }
        )
    return out


def _versions() -> dict:
    import datasets
    import torch
    import transformers

    from ximagenet12 import __version__

    return {
        "ximagenet12": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "datasets": datasets.__version__,
    }


def summarise(report: dict) -> str:
    """The table printed at the end of a run."""
    metric = report.get("metric", "accuracy")
    lines = []
    if report.get("task") == "classification":
        lines.append(f"{'scenario':<28} {'n':>6} {'failed':>6} {'strict':>8} {'restricted':>10}")
        for config, e in report["scenarios"].items():
            s = e["modes"]["strict"]["accuracy"]
            r = e["modes"]["restricted"]["accuracy"]
            lines.append(f"{config:<28} {e['n']:>6} {e['n_failed']:>6} {_fmt(s):>8} {_fmt(r):>10}")
    else:
        lines.append(f"{'scenario':<28} {'n':>6} {'failed':>6} {'IoU':>8} {'pixel acc':>10}")
        for config, e in report["scenarios"].items():
            lines.append(
                f"{config:<28} {e['n']:>6} {e['n_failed']:>6} {_fmt(e['iou']):>8} {_fmt(e['pixel_accuracy']):>10}"
            )
    for skipped in report.get("skipped_configs") or []:
        lines.append(f"{skipped['config']:<28} skipped: {skipped['reason']}")
    for shard in report.get("bad_shards") or []:
        lines.append(f"damaged shard {shard['file']} ({shard['config']}): {shard['rows_read']} row(s) read, rest skipped")
    rb = report.get("robustness") or {}
    if rb.get("s_robust") is not None:
        caveat = f" -- UNRELIABLE: see the {len(report['warnings'])} warning(s)" if report.get("warnings") else ""
        lines.append(f"robustness ({report.get('mode') or metric}, {rb.get('config')}): {robustness_line(rb)}{caveat}")
        lines += [f"  WARNING: {w}" for w in rb.get("warnings") or []]
    elif rb.get("reason"):
        lines.append(f"robustness: not computed ({rb['reason']})")
    if report.get("mode_reason"):
        lines.append(f"headline mode: {report['mode_reason']}")
    training = report.get("training_rows")
    if training and training.get("included"):
        lines.append(f"TRAINING ROWS SCORED: the model was trained on {training['trained_on']} of these source ids "
                     "(--include-training-rows); these are not held-out accuracies")
    elif training:
        lines.append(f"left out {training['n_excluded']} row(s) of the {training['trained_on']} source ids the model "
                     f"was trained on ({training['record']}); --include-training-rows scores them")
    labels = report.get("object_labels")
    if isinstance(labels, dict):
        lines.append(f"object labels: {labels.get('rule')}")
    if report.get("interrupted"):
        lines.append("INTERRUPTED: only the configs above were scored")
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"
