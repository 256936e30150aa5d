"""EX3: run a segmentation model on every scenario config and score its object masks.

The model runs as a ``transformers`` ``image-segmentation`` pipeline (batched, on the
requested device). Its predicted object mask is the union of the returned segments whose
label counts as *object*: the labels named in ``object_labels``, or by default every
label except the background ones (:data:`BACKGROUND_LABELS`, compared case-insensitively).
Against the ground-truth ``mask`` column each sample gets

- IoU = |pred ∩ true| / |pred ∪ true| (1.0 when both are empty), and
- pixel accuracy = fraction of pixels where pred == true,

averaged per scenario and per scenario × class, in the same report layout as
classification (``metric = "iou"``).

A plain callable is accepted: ``model(list_of_pil_images)`` returns per image either a
list of ``{"label", "mask"}`` segments (the pipeline's format) or an ``HxW`` array whose
non-zero pixels are the object.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ximagenet12.evaluation import data as D
from ximagenet12.evaluation.classification import EvaluationResult, _versions, default_num_workers
from ximagenet12.evaluation.labels import BACKGROUND_LABELS, normalize_label
from ximagenet12.evaluation.models import is_pipeline, load_pipeline, model_name, run_provenance

__all__ = ["BACKGROUND_LABELS", "evaluate_segmentation", "mask_scores", "object_mask"]

DEFAULT_SEG_BATCH_SIZE = 8
PREDICTION_COLUMNS = (
    "config", "scenario", "source_id", "label", "class_key",
    "iou", "pixel_accuracy", "predicted_fraction", "true_fraction", "object_segments",
)


def mask_scores(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(IoU, pixel accuracy) of two boolean masks of the same shape."""
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(true, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"predicted mask {pred.shape} does not match the ground truth {true.shape}")
    union = np.logical_or(pred, true).sum()
    inter = np.logical_and(pred, true).sum()
    iou = 1.0 if union == 0 else float(inter) / float(union)
    return iou, float((pred == true).mean())


def _segment_mask(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(mask, Image.Image):
        if mask.size != (shape[1], shape[0]):
            mask = mask.resize((shape[1], shape[0]), Image.NEAREST)
        arr = np.asarray(mask)
    else:
        arr = np.asarray(mask)
        if arr.shape[:2] != shape:
            arr = np.asarray(Image.fromarray((arr != 0).astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.NEAREST))
    return arr.any(axis=-1) if arr.ndim == 3 else arr != 0


def object_mask(
    prediction: Any,
    shape: tuple[int, int],
    *,
    object_labels: Sequence[str] | None = None,
    background_labels: Sequence[str] = BACKGROUND_LABELS,
) -> tuple[np.ndarray, list[str]]:
    """The predicted object mask (``shape``) and the labels that went into it."""
    if isinstance(prediction, np.ndarray) or (hasattr(prediction, "shape") and not isinstance(prediction, list)):
        return _segment_mask(prediction, shape), ["<mask>"]
    if isinstance(prediction, dict):
        prediction = [prediction]
    if not isinstance(prediction, (list, tuple)):
        raise TypeError(
            f"a segmentation prediction must be a list of {{'label', 'mask'}} segments or an HxW array, "
            f"got {type(prediction).__name__}"
        )
    wanted = {normalize_label(x) for x in object_labels} if object_labels else None
    background = {normalize_label(x) for x in background_labels}
    out = np.zeros(shape, dtype=bool)
    used = []
    for seg in prediction:
        label = normalize_label(seg.get("label", ""))
        is_object = label in wanted if wanted is not None else label not in background
        if is_object:
            out |= _segment_mask(seg["mask"], shape)
            used.append(str(seg.get("label")))
    return out, used


def evaluate_segmentation(
    model: str | os.PathLike | Any,
    data: str | os.PathLike,
    *,
    scenarios: str | Sequence[str] = "all",
    object_labels: Sequence[str] | None = None,
    background_labels: Sequence[str] = BACKGROUND_LABELS,
    batch_size: int = DEFAULT_SEG_BATCH_SIZE,
    device: str = "auto",
    num_workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    robustness_config: str = "table3",
    dtype: str | None = None,
    revision: str | None = None,
) -> EvaluationResult:
    """Evaluate a segmentation model's object masks on each scenario config of ``data``."""
    import pandas as pd

    from ximagenet12.evaluation.report import per_class_table, robustness_of

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    workers = default_num_workers() if num_workers is None else num_workers
    configs = D.resolve_scenarios(data, scenarios)
    names, keys = D.class_info(data, configs[0])
    keys = [k or n for k, n in zip(keys, names)]
    pipe = load_pipeline(model, task="image-segmentation", device=device, dtype=dtype, revision=revision)
    name = model_name(model)
    if object_labels and is_pipeline(pipe):
        known = {normalize_label(v) for v in (pipe.model.config.id2label or {}).values()}
        unknown = [x for x in object_labels if normalize_label(x) not in known]
        if unknown:
            raise ValueError(
                f"object label(s) {', '.join(map(repr, unknown))} are not labels of model {name!r}; "
                f"its labels: {', '.join(sorted(map(str, pipe.model.config.id2label.values()))[:30])}"
            )

    def prepare(row: dict) -> tuple[Image.Image, np.ndarray]:
        sid = row.get("source_id", "?")
        image = D.decode_rgb(row["image"], source_id=sid)
        mask = D.decode_mask_array(row["mask"], source_id=sid)
        if mask.shape != (image.height, image.width):
            raise D.DecodeError(
                f"mask {mask.shape[1]}x{mask.shape[0]} of sample {sid!r} does not match its image "
                f"{image.width}x{image.height}"
            )
        return image, mask

    rows_out: list[dict] = []
    failures: list[dict] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    columns = ["image", "mask", "label", "class_key", "source_id", "scenario"]
    for config, good in D.config_batches(data, configs, prepare, columns=columns, batch_size=batch_size,
                                         num_workers=workers, limit=limit, progress=progress,
                                         failures=failures, seconds=seconds):
        images = [x[0] for _, x in good]
        preds = pipe(images, batch_size=len(images)) if is_pipeline(pipe) else pipe(images)
        if len(images) == 1 and isinstance(preds, list) and preds and isinstance(preds[0], dict):
            preds = [preds]
        if not isinstance(preds, (list, tuple)) or len(preds) != len(images):
            raise TypeError(
                f"the segmentation model must return one prediction per image ({len(images)}), "
                f"got {type(preds).__name__}"
            )
        for (row, (image, true)), pred in zip(good, preds):
            mask, used = object_mask(
                pred, true.shape, object_labels=object_labels, background_labels=background_labels
            )
            iou, acc = mask_scores(mask, true)
            label = int(row["label"])
            rows_out.append(
                {
                    "config": config,
                    "scenario": row.get("scenario") or config,
                    "source_id": row.get("source_id"),
                    "label": label,
                    "class_key": row.get("class_key") or keys[label],
                    "iou": iou,
                    "pixel_accuracy": acc,
                    "predicted_fraction": float(mask.mean()),
                    "true_fraction": float(true.mean()),
                    "object_segments": ",".join(used),
                }
            )

    predictions = pd.DataFrame(rows_out, columns=list(PREDICTION_COLUMNS))
    scen: dict[str, dict] = {}
    for config in configs:
        sub = predictions[predictions["config"] == config]
        iou_pc = per_class_table(sub, keys, metric="iou", name="iou")
        acc_pc = per_class_table(sub, keys, metric="pixel_accuracy", name="pixel_accuracy")
        scen[config] = {
            "iou": float(sub["iou"].mean()) if len(sub) else None,
            "pixel_accuracy": float(sub["pixel_accuracy"].mean()) if len(sub) else None,
            "n": int(len(sub)),
            "n_failed": sum(1 for f in failures if f["config"] == config),
            "per_class": {k: {**iou_pc[k], "pixel_accuracy": acc_pc[k]["pixel_accuracy"]} for k in keys},
            "seconds": seconds[config],
        }
    report = {
        "task": "segmentation",
        "metric": "iou",
        "model": name,
        "data": os.fspath(data),
        "mode": None,
        "object_labels": list(object_labels) if object_labels else f"every label except {', '.join(background_labels)}",
        "classes": [{"index": i, "name": n, "key": k} for i, (n, k) in enumerate(zip(names, keys))],
        "alpha_flattening": D.ALPHA_FLATTENING,
        "scenarios": scen,
        "robustness": robustness_of(scen, metric="iou", config=robustness_config),
        "n_failed": len(failures),
        "failures": failures,
        "batch_size": batch_size,
        "device": str(getattr(pipe, "device", "n/a")),
        "num_workers": workers,
        "limit": limit,
        "seconds": round(time.perf_counter() - started, 3),
        "versions": _versions(),
        "provenance": run_provenance(model, data, loaded=pipe, revision=revision, dtype=dtype),
    }
    return EvaluationResult(report=report, predictions=predictions, failures=failures)
