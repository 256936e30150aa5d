"""Explain a classifier on every scenario config: where does its evidence lie?

Reads configs with the evaluator's data path (:func:`ximagenet12.evaluation.data.config_batches`:
streamed rows, background decoding, failures recorded, progress bar, ``limit``), loads the
model with the evaluator's :func:`~ximagenet12.evaluation.models.load_pipeline`, sends images
*and masks* through the pipeline's own preprocessing (:mod:`ximagenet12.explain.geometry`),
computes one attribution map per image in batches on the model's device
(:mod:`ximagenet12.explain.methods`) and scores it against the mask
(:mod:`ximagenet12.explain.scores`).

Resumable per config: with ``checkpoint_dir``, each finished config is saved there
(``<config>.parquet`` rows + ``<config>.npz`` overlay samples, written under temporary
names and renamed) next to ``settings.json``; a later run with ``resume=True`` and the
same settings reuses them. Overlay samples per config are the ``overlay_samples`` rows
with the smallest seeded hash of their source id (:func:`ximagenet12.core.rng.derive_seed`),
so the choice depends only on the seed and the ids, not on order or batch size.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ximagenet12.evaluation import data as D
from ximagenet12.explain.constants import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_N_BOOTSTRAP,
    DEFAULT_OVERLAY_SAMPLES,
    TARGETS,
    Target,
)

__all__ = ["Overlay", "ExplainResult", "explain_classification", "EXPLANATION_COLUMNS"]

EXPLANATION_COLUMNS = (
    "config", "scenario", "source_id", "label", "class_key", "target_index", "target_label",
    "prediction", "correct", "strict_correct", "restricted_correct",
    "object_focus", "focus_ratio", "pointing_hit", "mask_area", "positive_mass", "ig_relative_delta",
)
_SETTINGS = "settings.json"


class SampleSkipped(D.DecodeError):
    """A sample that cannot be explained (recorded with the decode failures, not fatal)."""


@dataclass
class Overlay:
    """One sample drawn for the overlay grid: model-input image, mask and map."""

    config: str
    source_id: str
    image: np.ndarray  # H x W x 3 uint8 (the model's input, de-normalised)
    mask: np.ndarray  # H x W bool
    attribution: np.ndarray  # H x W float32
    object_focus: float
    correct: bool
    class_key: str


@dataclass
class ExplainResult:
    report: dict
    explanations: Any  # pandas.DataFrame, one row per sample (EXPLANATION_COLUMNS)
    overlays: dict[str, list[Overlay]] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


def _check_options(method: str, target: str, mode: str, batch_size: int, limit: int | None,
                   overlay_samples: int) -> str:
    from ximagenet12.evaluation.labels import SCORING_MODES
    from ximagenet12.explain.methods import resolve_method

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if mode not in SCORING_MODES:
        raise ValueError(f"unknown scoring mode {mode!r}; expected one of {', '.join(SCORING_MODES)}")
    for name, value, low in (("batch_size", batch_size, 1), ("limit", limit, 1), ("overlay_samples", overlay_samples, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise ValueError(f"{name} must be an int of at least {low}, got {value!r}")
    return resolve_method(method)


def explain_classification(
    model: str | os.PathLike | Any,
    data: str | os.PathLike,
    *,
    scenarios: str | Sequence[str] = "all",
    method: str = "gradcam",
    target: Target = "true",
    target_layer: str | None = None,
    mode: str = "restricted",
    ig_steps: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    num_workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    overlay_samples: int = DEFAULT_OVERLAY_SAMPLES,
    seed: int = 0,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dtype: str | None = None,
    revision: str | None = None,
) -> ExplainResult:
    """Attribution maps of ``model`` on each scenario config of ``data``, scored against the masks.

    ``target``: the sample's true class, or the ``mode`` prediction (``restricted``: best of
    the dataset's classes; ``strict``: top-1 over all model classes). ``correct`` in every
    row follows ``mode``. See the module docstring for checkpoints and overlay samples.
    """
    from ximagenet12.evaluation.classification import default_num_workers
    from ximagenet12.evaluation.models import run_provenance
    from ximagenet12.explain.summary import build_report

    method = _check_options(method, target, mode, batch_size, limit, overlay_samples)
    configs = D.resolve_scenarios(data, scenarios)
    ctx, names, settings = _load(model, data, configs[0], method=method, target=target, target_layer=target_layer,
                                 mode=mode, ig_steps=ig_steps, batch_size=batch_size, device=device, limit=limit,
                                 seed=seed, overlay_samples=overlay_samples, dtype=dtype, revision=revision)
    store = _Checkpoints(checkpoint_dir, settings, resume=resume)
    workers = default_num_workers() if num_workers is None else num_workers
    started = time.perf_counter()
    frames, overlays, failures, seconds = _explain_configs(ctx, data, configs, store, batch_size=batch_size,
                                                           workers=workers, limit=limit, progress=progress)
    explanations = _concat(frames)
    extra = {"batch_size": batch_size, "num_workers": workers, "device": str(ctx.pipe.device),
             "resumed_configs": store.resumed,
             "dataset": {"source": D.data_name(data), "fingerprint": D.dataset_fingerprint(data)},
             "provenance": run_provenance(model, data, loaded=ctx.pipe, revision=revision, dtype=dtype),
             "seconds": round(time.perf_counter() - started, 3)}
    report = build_report(explanations, settings=settings, explainer=ctx.explainer, mapping=ctx.mapping, names=names,
                          keys=ctx.keys, configs=configs, failures=failures, seconds=seconds,
                          n_bootstrap=n_bootstrap, extra=extra)
    return ExplainResult(report=report, explanations=explanations, overlays=overlays, failures=failures)


def _load(model: Any, data: Any, first_config: str, *, method: str, target: str, target_layer: str | None,
          mode: str, ig_steps: int | None, batch_size: int, device: str, limit: int | None, seed: int,
          overlay_samples: int, dtype: str | None, revision: str | None) -> tuple[_Context, list[str], dict]:
    """Load the pipeline, map its labels onto the dataset's classes and make the explainer.

    Returns the run's context, the class names and the settings a checkpoint must match.
    """
    import torch

    from ximagenet12.evaluation.classification import _model_labels
    from ximagenet12.evaluation.labels import map_labels
    from ximagenet12.evaluation.models import is_pipeline, load_pipeline, model_name
    from ximagenet12.explain.constants import DEFAULT_IG_STEPS
    from ximagenet12.explain.geometry import input_space
    from ximagenet12.explain.methods import make_explainer

    names, keys = D.class_info(data, first_config)
    keys = [k or n for k, n in zip(keys, names)]
    pipe = load_pipeline(model, task="image-classification", device=device, dtype=dtype, revision=revision)
    if not is_pipeline(pipe):
        raise TypeError(f"explain needs a transformers image-classification pipeline or model, got {type(pipe).__name__}")
    name = model_name(model)
    mapping = map_labels(_model_labels(pipe), names, keys, model=name)
    space = input_space(pipe.preprocess)
    explainer = make_explainer(
        pipe.model, method, target_layer=target_layer, ig_steps=ig_steps or DEFAULT_IG_STEPS,
        baseline=torch.from_numpy(space.baseline()), internal_batch_size=batch_size,
    )
    settings = {"model": name, "data": D.data_name(data), "method": method, "target": target, "mode": mode,
                "target_layer": explainer.target_layer, "ig_steps": explainer.ig_steps, "limit": limit,
                "seed": seed, "overlay_samples": overlay_samples}
    ctx = _Context(pipe=pipe, explainer=explainer, mapping=mapping, keys=keys, space=space, target=target,
                   mode=mode, seed=seed, overlay_samples=overlay_samples)
    return ctx, names, settings


def _explain_configs(ctx: _Context, data: Any, configs: list[str], store: _Checkpoints, *, batch_size: int,
                     workers: int, limit: int | None, progress: bool) -> tuple[list, dict, list[dict], dict]:
    """Every config, from its checkpoint when one is there: (frames, overlays, failures, seconds)."""
    frames, overlays, failures, seconds = [], {}, [], {}
    for config in configs:
        done = store.load(config)
        if done is None:
            done = _explain_config(ctx, data, config, batch_size=batch_size, workers=workers, limit=limit,
                                   progress=progress)
            store.save(config, done)
        frame, overlays[config], fails, seconds[config] = done
        frames.append(frame)
        failures += fails
    return frames, overlays, failures, seconds


@dataclass
class _Context:
    pipe: Any
    explainer: Any
    mapping: Any
    keys: list[str]
    space: Any
    target: str
    mode: str
    seed: int
    overlay_samples: int


def _concat(frames):
    import pandas as pd

    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(EXPLANATION_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _prepare(space, row: dict) -> tuple[dict, np.ndarray]:
    sid = row.get("source_id", "?")
    image = D.decode_rgb(row["image"], source_id=sid)
    mask = D.decode_mask_array(row["mask"], source_id=sid)
    if mask.shape != (image.height, image.width):
        raise SampleSkipped(
            f"sample {sid!r}: mask {mask.shape[1]}x{mask.shape[0]} does not match image {image.width}x{image.height}"
        )
    if not mask.any():
        raise SampleSkipped(f"sample {sid!r}: the object mask is empty, so object focus is undefined")
    inputs = space.preprocess(image)
    mask_in = space.mask(mask)
    if not mask_in.any():
        raise SampleSkipped(f"sample {sid!r}: the object lies outside the model's input crop")
    return inputs, mask_in


def _explain_config(ctx: _Context, data, config: str, *, batch_size: int, workers: int, limit: int | None,
                    progress: bool) -> tuple[Any, list[Overlay], list[dict], float | None]:
    import pandas as pd

    rows: list[dict] = []
    heap: list[tuple[int, int, Overlay]] = []
    failures: list[dict] = []
    seconds: dict[str, float] = {}
    columns = ["image", "mask", "label", "class_key", "source_id", "scenario"]
    for _, good in D.config_batches(data, [config], lambda row: _prepare(ctx.space, row), columns=columns,
                                    batch_size=batch_size, num_workers=workers, limit=limit,
                                    progress=progress, failures=failures, seconds=seconds):
        for out_row, overlay in _explain_batch(ctx, config, good):
            rows.append(out_row)
            _keep_overlay(ctx, heap, overlay, len(rows))
    frame = pd.DataFrame(rows, columns=list(EXPLANATION_COLUMNS))
    chosen = [o for _, _, o in sorted(heap, key=lambda t: (-t[0], t[1]))]
    return frame, chosen, failures, seconds.get(config)


def _keep_overlay(ctx: _Context, heap: list, overlay: Overlay, counter: int) -> None:
    from ximagenet12.core.rng import derive_seed

    if ctx.overlay_samples == 0:
        return
    key = derive_seed(ctx.seed, overlay.source_id, f"explain-overlay:{overlay.config}", None)
    item = (-key, counter, overlay)  # max-heap on the key: keep the smallest keys
    if len(heap) < ctx.overlay_samples:
        heapq.heappush(heap, item)
    elif item[0] > heap[0][0]:
        heapq.heapreplace(heap, item)


def _explain_batch(ctx: _Context, config: str, good: list) -> list[tuple[dict, Overlay]]:
    import torch

    from ximagenet12.evaluation.classification import _collate
    from ximagenet12.evaluation.labels import score_logits
    from ximagenet12.explain.methods import _logits_fn
    from ximagenet12.explain.scores import focus_metrics

    out: list[tuple[dict, Overlay]] = []
    for positions, inputs in _collate([x[0] for _, x in good]):
        pixels = inputs["pixel_values"].to(ctx.pipe.device).float()
        with torch.no_grad():
            logits = _logits_fn(ctx.explainer.model)(pixels).float().cpu().numpy()
        scored = score_logits(logits, ctx.mapping)
        labels = np.array([int(good[i][0]["label"]) for i in positions])
        targets = _targets(ctx, scored, labels)
        maps = ctx.explainer.attribute(pixels, torch.as_tensor(targets, device=pixels.device))
        delta = ctx.explainer.last_extra.get("ig_relative_delta")
        for j, i in enumerate(positions):
            row, (_, mask_in) = good[i]
            sid = str(row.get("source_id"))
            figures = focus_metrics(maps[j], mask_in, what=f"sample {sid!r} of {config!r}")
            rc, sc = int(scored.restricted_class[j]), int(scored.strict_class[j])
            label = int(labels[j])
            correct = {"restricted": rc == label, "strict": sc == label}
            record = {
                "config": config, "scenario": row.get("scenario") or config, "source_id": sid, "label": label,
                "class_key": row.get("class_key") or ctx.keys[label], "target_index": int(targets[j]),
                "target_label": ctx.mapping.model_labels[int(targets[j])],
                "prediction": ctx.keys[rc] if ctx.mode == "restricted" else (ctx.keys[sc] if sc >= 0 else None),
                "correct": correct[ctx.mode], "strict_correct": correct["strict"],
                "restricted_correct": correct["restricted"], **figures,
                "ig_relative_delta": float(delta[j]) if delta is not None else None,
            }
            overlay = Overlay(config=config, source_id=sid, image=ctx.space.to_uint8(pixels[j].cpu().numpy()),
                              mask=mask_in, attribution=maps[j].copy(), object_focus=figures["object_focus"],
                              correct=correct[ctx.mode], class_key=record["class_key"])
            out.append((record, overlay))
    return out


def _targets(ctx: _Context, scored, labels: np.ndarray) -> np.ndarray:
    """Model output index to explain per sample (true class, or the ``mode`` prediction)."""
    index = np.asarray(ctx.mapping.model_index)
    if ctx.target == "true":
        return index[labels]
    if ctx.mode == "strict":
        return np.asarray(scored.strict_model_index)
    return index[np.asarray(scored.restricted_class)]


class _Checkpoints:
    """Per-config results saved under ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike | None, settings: dict, *, resume: bool):
        self.folder = Path(folder) if folder is not None else None
        self.settings = settings
        self.resumed: list[str] = []
        if self.folder is None:
            return
        from ximagenet12.io.owned import OwnedFolder

        # an owned folder (issue 25): only files a run wrote are ever deleted, never through a link
        self.owned = OwnedFolder.open(self.folder, command="explain-checkpoints", planned=[_SETTINGS])
        saved = self.folder / _SETTINGS
        if resume and saved.is_file():
            old = json.loads(saved.read_text(encoding="utf-8"))
            if old != json.loads(json.dumps(settings)):
                changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise ValueError(
                    f"cannot resume from {str(self.folder)!r}: it was written with other settings "
                    f"({', '.join(changed)} differ); run without --resume to start again"
                )
        else:
            self.owned.clear()
        self.owned.write_text(_SETTINGS, json.dumps(settings, indent=2))

    def discard(self) -> None:
        """Remove the checkpoints (the run is finished and its report written)."""
        if self.folder is not None:
            self.owned.discard()

    def load(self, config: str):
        if self.folder is None:
            return None
        rows, arrays = self.folder / f"{config}.parquet", self.folder / f"{config}.npz"
        meta = self.folder / f"{config}.json"
        if not (rows.is_file() and arrays.is_file() and meta.is_file()):
            return None
        import pandas as pd

        info = json.loads(meta.read_text(encoding="utf-8"))
        with np.load(arrays, allow_pickle=False) as z:
            overlays = [
                Overlay(config=config, image=z[f"image{i}"], mask=z[f"mask{i}"], attribution=z[f"attr{i}"], **o)
                for i, o in enumerate(info["overlays"])
            ]
        self.resumed.append(config)
        return pd.read_parquet(rows), overlays, info["failures"], info["seconds"]

    def save(self, config: str, done) -> None:
        if self.folder is None:
            return
        import io

        frame, overlays, failures, seconds = done
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        self.owned.write_bytes(f"{config}.parquet", buf.getvalue())
        arrays: dict[str, np.ndarray] = {}
        for i, o in enumerate(overlays):
            arrays.update({f"image{i}": o.image, f"mask{i}": o.mask, f"attr{i}": o.attribution})
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        self.owned.write_bytes(f"{config}.npz", buf.getvalue())
        info = {"failures": failures, "seconds": seconds, "overlays": [
            {"source_id": o.source_id, "object_focus": o.object_focus, "correct": bool(o.correct),
             "class_key": o.class_key} for o in overlays]}
        self.owned.write_bytes(f"{config}.json", json.dumps(info).encode("utf-8"))  # last: marks it done
