"""EX3: run a segmentation model on every scenario config and score its object masks.

The model runs as a ``transformers`` ``image-segmentation`` pipeline (batched, on the
requested device). Its predicted object mask is the union of the returned segments whose
label counts as *object* (:func:`ximagenet12.evaluation.labels.object_label_policy`): the
labels named in ``object_labels``; every label but ``background_labels``; for a model whose
labels are a known label space (ADE20k-150, COCO-panoptic-133, Cityscapes-19, Pascal
VOC-21), its *thing* labels, its *stuff* labels being background; every label but the
model's background label. A model that fits none of these stops with an error asking for
one of the two options. Against the ground-truth ``mask`` column each sample gets

- IoU = |pred ∩ true| / |pred ∪ true| (1.0 when both are empty), and
- pixel accuracy = fraction of pixels where pred == true,

averaged per scenario and per scenario × class, in the same report layout as
classification (``metric = "iou"``).

A plain callable is accepted: ``model(list_of_pil_images)`` returns per image either a
list of ``{"label", "mask"}`` segments (the pipeline's format) or an ``HxW`` array whose
non-zero pixels are the object.

Semantic segmentation models (those whose image processor only has
``post_process_semantic_segmentation``, e.g. Segformer) skip the pipeline's
post-processing, which upsamples every class's logits (150 for ADE20k) to the image size
before the argmax and then cuts one PIL mask per label: here the argmax is taken at the
model's output resolution, the object/background decision is made per label there, and
only that one boolean map is upsampled (nearest) to the image size. The masks differ from
the pipeline's only along label boundaries, by at most about one output pixel
(``benchmarks/bench_segmentation.py`` measures the speed-up and the IoU difference).
"""

from __future__ import annotations

import os
import time
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from PIL import Image

from ximagenet12.evaluation import data as D
from ximagenet12.evaluation.classification import EvaluationResult, check_options, default_num_workers, run_record
from ximagenet12.evaluation.labels import BACKGROUND_LABELS, ObjectLabelPolicy, object_label_policy
from ximagenet12.evaluation.models import BUILTIN_MODELS, is_pipeline, load_pipeline, model_name
from ximagenet12.evaluation.report import per_class_table, robustness_of

__all__ = ["BACKGROUND_LABELS", "evaluate_segmentation", "full_cover_warning", "mask_scores", "object_mask"]

DEFAULT_SEG_BATCH_SIZE = 8
#: A predicted object covering at least this fraction of an image covers "all" of it ...
FULL_COVER_FRACTION = 0.99
#: ... and when more than this share of the images are covered so, the report warns.
FULL_COVER_SHARE = 0.5
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
    policy: ObjectLabelPolicy | None = None,
) -> tuple[np.ndarray, list[str]]:
    """The predicted object mask (``shape``) and the labels that went into it.

    ``policy`` says which segment labels are the object (:func:`object_label_policy`);
    ``None``: every label except :data:`BACKGROUND_LABELS`.
    """
    if isinstance(prediction, np.ndarray) or (hasattr(prediction, "shape") and not isinstance(prediction, list)):
        return _segment_mask(prediction, shape), ["<mask>"]
    if isinstance(prediction, dict):
        prediction = [prediction]
    if not isinstance(prediction, (list, tuple)):
        raise TypeError(
            f"a segmentation prediction must be a list of {{'label', 'mask'}} segments or an HxW array, "
            f"got {type(prediction).__name__}"
        )
    policy = policy or object_label_policy(None)
    out = np.zeros(shape, dtype=bool)
    used = []
    for seg in prediction:
        if policy.is_object(str(seg.get("label", ""))):
            out |= _segment_mask(seg["mask"], shape)
            used.append(str(seg.get("label")))
    return out, used


def full_cover_warning(predicted_fraction: Sequence[float], policy: ObjectLabelPolicy) -> str | None:
    """A warning when the predicted object covers nearly the whole image in most images.

    Such a mask makes IoU equal to the object's area whatever the model sees: the object
    labels then almost surely include the background.
    """
    fractions = np.asarray(predicted_fraction, dtype=float)
    if not len(fractions):
        return None
    full = int((fractions >= FULL_COVER_FRACTION).sum())
    if full <= FULL_COVER_SHARE * len(fractions):
        return None
    return (
        f"the predicted object covers >= {FULL_COVER_FRACTION:.0%} of the pixels in {full} of {len(fractions)} "
        f"images: IoU then only measures the object's area. Either the object labels ({policy.describe()['rule']}) "
        "include the background, or the model calls the whole image an object; check --object-labels / "
        "--background-labels before reading these scores"
    )


def evaluate_segmentation(
    model: str | os.PathLike | Any,
    data: str | os.PathLike,
    *,
    scenarios: str | Sequence[str] = "all",
    object_labels: Sequence[str] | None = None,
    background_labels: Sequence[str] | None = None,
    batch_size: int = DEFAULT_SEG_BATCH_SIZE,
    device: str = "auto",
    num_workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    robustness_config: str = "table3",
    dtype: str | None = None,
    revision: str | None = None,
    spans: Mapping[str, tuple[int, int]] | None = None,
) -> EvaluationResult:
    """Evaluate a segmentation model's object masks on each scenario config of ``data``.

    Which predicted labels are the object: see :func:`object_label_policy` (the labels named
    in ``object_labels``; all but ``background_labels``; the *thing* labels of a known label
    space; all but the model's background label; otherwise a ``ValueError``).
    """
    check_options(batch_size=batch_size, limit=limit, robustness_config=robustness_config)
    if isinstance(model, str) and model in BUILTIN_MODELS:
        raise ValueError(f"{model!r} is an image classifier; evaluate-segmentation needs an image-segmentation "
                         "model (a Hub id or a local model directory)")
    if object_labels and background_labels:
        raise ValueError("give either object labels (--object-labels) or background labels (--background-labels), not both")
    with D.library_progress(progress):
        return _evaluate(model, data, scenarios=scenarios, object_labels=object_labels,
                         background_labels=background_labels, batch_size=batch_size, device=device,
                         workers=default_num_workers() if num_workers is None else num_workers,
                         limit=limit, progress=progress, robustness_config=robustness_config,
                         dtype=dtype, revision=revision, spans=spans)


#: Take the argmax at the model's output resolution for semantic models (see the module
#: docstring); ``False`` runs the pipeline's own post-processing (the benchmark's baseline).
LOW_RES_ARGMAX = True


def _semantic_only(pipe: Any) -> bool:
    """Whether the pipeline post-processes ``pipe`` as semantic segmentation (its only option)."""
    proc = getattr(pipe, "image_processor", None)
    return (is_pipeline(pipe) and proc is not None and hasattr(proc, "post_process_semantic_segmentation")
            and not hasattr(proc, "post_process_panoptic_segmentation")
            and not hasattr(proc, "post_process_instance_segmentation"))


class _Decided(NamedTuple):
    """An object mask already decided from a model's output, with the labels in it."""

    mask: np.ndarray
    used: list[str]


class _LowResSemantic:
    """Object masks of a semantic model: forward, argmax at output size, upsample one map."""

    def __init__(self, pipe: Any, policy: ObjectLabelPolicy):
        labels = _model_labels(pipe) or []
        self.pipe = pipe
        self.labels = labels
        self.is_object = np.array([policy.is_object(label) for label in labels], dtype=bool)

    def prepare(self, image: Image.Image) -> Any:
        return self.pipe.preprocess(image)["pixel_values"][0]

    def predict(self, inputs: list[Any], shapes: list[tuple[int, int]]) -> list["_Decided"]:
        import torch

        from ximagenet12.evaluation.classification import _collate

        out: list[_Decided | None] = [None] * len(inputs)
        device = self.pipe.device
        with torch.inference_mode():
            for positions, batch in _collate([{"pixel_values": x[None]} for x in inputs]):
                logits = self.pipe.model(pixel_values=batch["pixel_values"].to(device)).logits
                ids = logits.argmax(dim=1).cpu().numpy()
                for k, label_map in zip(positions, ids):
                    out[k] = self._mask(label_map, shapes[k])
        return out  # type: ignore[return-value]

    def _mask(self, label_map: np.ndarray, shape: tuple[int, int]) -> "_Decided":
        small = self.is_object[label_map]
        present = np.unique(label_map[small])
        h, w = shape
        if small.shape != shape:
            small = np.asarray(Image.fromarray(small.astype(np.uint8)).resize((w, h), Image.NEAREST)).astype(bool)
        return _Decided(small, [self.labels[i] for i in present])


def _model_labels(pipe: Any) -> list[str] | None:
    if not is_pipeline(pipe):
        return None
    id2label = getattr(pipe.model.config, "id2label", None) or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)]


def _evaluate(model, data, *, scenarios, object_labels, background_labels, batch_size, device, workers, limit,
              progress, robustness_config, dtype=None, revision=None, spans=None) -> EvaluationResult:
    import pandas as pd

    configs = D.resolve_scenarios(data, scenarios)
    names, keys = D.dataset_classes(data, configs)
    keys = [k or n for k, n in zip(keys, names)]
    pipe = load_pipeline(model, task="image-segmentation", device=device, dtype=dtype, revision=revision)
    name = model_name(model)
    policy = object_label_policy(_model_labels(pipe), object_labels=object_labels,
                                 background_labels=background_labels, model=name)
    root = D.data_root(data)
    fast = _LowResSemantic(pipe, policy) if LOW_RES_ARGMAX and _semantic_only(pipe) else None

    def prepare(row: dict) -> tuple[Any, np.ndarray]:
        sid = row.get("source_id", "?")
        image = D.decode_rgb(row["image"], source_id=sid, root=root)
        mask = D.decode_mask_array(row["mask"], source_id=sid, root=root)
        if mask.shape != (image.height, image.width):
            raise D.DecodeError(
                f"mask {mask.shape[1]}x{mask.shape[0]} of sample {sid!r} does not match its image "
                f"{image.width}x{image.height}"
            )
        return (fast.prepare(image) if fast is not None else image), mask

    def process(config: str, good: list) -> list[dict]:
        if fast is not None:
            masks = fast.predict([x for _, (x, _) in good], [true.shape for _, (_, true) in good])
            return [_score_row(config, row, true, mask, policy, keys) for (row, (_, true)), mask in zip(good, masks)]
        images = [x[0] for _, x in good]
        preds = pipe(images, batch_size=len(images)) if is_pipeline(pipe) else pipe(images)
        if len(images) == 1 and isinstance(preds, list) and preds and isinstance(preds[0], dict):
            preds = [preds]
        if not isinstance(preds, (list, tuple)) or len(preds) != len(images):
            raise TypeError(
                f"the segmentation model must return one prediction per image ({len(images)}), "
                f"got {type(preds).__name__}"
            )
        return [_score_row(config, row, true, pred, policy, keys) for (row, (_, true)), pred in zip(good, preds)]

    log = D.RunLog()
    started = time.perf_counter()
    rows_out = D.run_configs(data, configs, prepare, process,
                             columns=["image", "mask", "label", "class_key", "source_id", "scenario"],
                             batch_size=batch_size, num_workers=workers, limit=limit, progress=progress, log=log, spans=spans)
    predictions = pd.DataFrame(rows_out, columns=list(PREDICTION_COLUMNS))
    warning = full_cover_warning(predictions["predicted_fraction"], policy)
    if warning:
        log.warn(warning)
    scen = {c: _scenario_entry(predictions, c, keys, log) for c in configs if c in log.seconds}
    report = {
        "task": "segmentation",
        "metric": "iou",
        "model": name,
        "data": D.data_name(data),
        "mode": None,
        "object_labels": policy.describe(),
        "classes": [{"index": i, "name": n, "key": k} for i, (n, k) in enumerate(zip(names, keys))],
        "alpha_flattening": D.ALPHA_FLATTENING,
        "scenarios": scen,
        "robustness": robustness_of(scen, metric="iou", config=robustness_config),
        **run_record(log, data=data, pipe=pipe, batch_size=batch_size, workers=workers, limit=limit, started=started,
                     model=model, dtype=dtype, revision=revision),
    }
    return EvaluationResult(report=report, predictions=predictions, failures=log.failures)


def _score_row(config: str, row: dict, true: np.ndarray, pred: Any, policy: ObjectLabelPolicy, keys) -> dict:
    # pred: the model's prediction, or an already decided (mask, object labels) pair
    mask, used = pred if isinstance(pred, _Decided) else object_mask(pred, true.shape, policy=policy)
    iou, acc = mask_scores(mask, true)
    label = int(row["label"])
    return {
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


def _scenario_entry(predictions, config: str, keys: Sequence[str], log: D.RunLog) -> dict:
    sub = predictions[predictions["config"] == config]
    iou_pc = per_class_table(sub, keys, metric="iou", name="iou")
    acc_pc = per_class_table(sub, keys, metric="pixel_accuracy", name="pixel_accuracy")
    return {
        "iou": float(sub["iou"].mean()) if len(sub) else None,
        "pixel_accuracy": float(sub["pixel_accuracy"].mean()) if len(sub) else None,
        "n": int(len(sub)),
        "n_failed": sum(1 for f in log.failures if f["config"] == config),
        "per_class": {k: {**iou_pc[k], "pixel_accuracy": acc_pc[k]["pixel_accuracy"]} for k in keys},
        "seconds": log.seconds.get(config),
    }
