"""EX1 and EX2 as the paper ran them, by linear probe or Trainer fine-tuning.

``ex1`` (external): the model is trained on the ``original`` images of every fold but one
(fold 0 of the assignment is the held-out test part) and tested on that held-out part of
*every* config, so no test source image was seen in training in any scenario.
``ex2`` (internal): within each config, k-fold cross-validation (paper: 12 folds); every
sample is predicted once, by the model of the fold that held it out. ``original`` is
always part of an ex2 run: its accuracy is the internal protocol's own μ.

Stages (each a function below): check the options, plan the configs, read the source
table and assign folds, load the model with its new head (every bad input fails here,
before any training), then run the folds (:func:`_probe_ex1`, :func:`_probe_ex2`,
:func:`_finetune_ex1`, :func:`_finetune_ex2`), skipping those the run folder has.
:mod:`ximagenet12.training.report` assembles the report from the finished folds.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Sequence

import numpy as np

from ximagenet12.core.constants import TRAIN_METHODS, TRAIN_PROTOCOLS
from ximagenet12.evaluation import data as D
from ximagenet12.training import folds as F
from ximagenet12.training.backbone import LoadedModel, decode_all, extract_features, install_head, load_for_training
from ximagenet12.training.data import SourceTable, load_images, read_sources
from ximagenet12.training.finetune import MIXED_PRECISION, FinetuneOptions, ImageDataset, finetune
from ximagenet12.training.probe import DEFAULT_C, fit_probe
from ximagenet12.training.runs import RunFolder

__all__ = ["PROTOCOLS", "METHODS", "DEFAULT_FOLDS", "TrainSettings", "RunContext", "check_settings", "prepare_run",
           "run_folds", "prediction_frame", "finetune_job"]

Protocol = Literal["ex1", "ex2"]
Method = Literal["linear-probe", "finetune"]
PROTOCOLS: tuple[str, ...] = TRAIN_PROTOCOLS
METHODS: tuple[str, ...] = TRAIN_METHODS
#: ex2: the paper's 12 folds; ex1: one fold of 5 (20 %) is the held-out test part.
DEFAULT_FOLDS = {"ex1": 5, "ex2": 12}
EX1_TEST_FOLD = 0


@dataclass(frozen=True)
class TrainSettings:
    """What defines a run (all of it goes to ``run.json``; see ``runs.RESUME_KEYS``)."""

    protocol: Protocol
    method: Method
    model: str
    data: str
    scenarios: tuple[str, ...]
    folds: int
    seed: int = 0
    epochs: int = 10
    lr: float = 5e-5
    batch_size: int = 32
    val_fraction: float = 0.1
    patience: int = 3
    mixed_precision: str = "no"
    dtype: str = "auto"
    revision: str | None = None
    limit: int | None = None
    probe_c: float = DEFAULT_C
    save_models: bool = False


@dataclass
class RunContext:
    """Everything the fold loops share."""

    settings: TrainSettings
    folder: RunFolder
    configs: list[str]
    table: SourceTable
    folds: dict[str, int]
    loaded: LoadedModel
    num_workers: int
    progress: bool
    failures: list[dict] = field(default_factory=list)
    resumed: bool = False
    engine: Any = None  # None: this process; else training.on_ray.RayTraining (features, fine-tuning jobs)


def check_settings(s: TrainSettings, *, device: str) -> None:
    """The option errors, before anything is read."""
    if s.protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {s.protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    if s.method not in METHODS:
        raise ValueError(f"unknown method {s.method!r}; expected one of {', '.join(METHODS)}")
    if s.mixed_precision not in MIXED_PRECISION:
        raise ValueError(f"unknown mixed precision {s.mixed_precision!r}; expected one of {', '.join(MIXED_PRECISION)}")
    _check_mixed_precision(s, device=device)
    for name in ("epochs", "batch_size", "patience"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"--{name.replace('_', '-')} must be an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if not s.lr > 0 or not s.probe_c > 0:
        raise ValueError(f"--lr and the probe's C must be positive, got {s.lr} and {s.probe_c}")
    if not 0.0 < s.val_fraction < 1.0:
        raise ValueError(f"--val-fraction must be in (0, 1), got {s.val_fraction}")
    if s.limit is not None and s.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {s.limit}")


def _check_mixed_precision(s: TrainSettings, *, device: str) -> None:
    """fp16 needs CUDA (the device ``auto`` resolves to counts); bf16 runs on CPU as torch's CPU
    autocast through the Trainer; the linear probe runs no mixed precision at all."""
    import torch

    from ximagenet12.evaluation.models import resolve_device

    if s.mixed_precision == "fp16" and resolve_device(device).type != "cuda":
        why = "this machine has no CUDA device" if not torch.cuda.is_available() else f"--device {device}"
        raise ValueError(f"--mixed-precision fp16 needs a CUDA device ({why}): use --mixed-precision bf16 "
                         "(CPU autocast) or no")
    if s.mixed_precision != "no" and s.method != "finetune":
        raise ValueError(f"--mixed-precision {s.mixed_precision} applies to --method finetune only: the linear "
                         "probe extracts float32 features and fits them in float64")


def plan_configs(data: str, protocol: str, scenarios: str | Sequence[str]) -> list[str]:
    """The configs of a run, ``original`` first; both protocols need ``original``."""
    configs = D.resolve_scenarios(data, scenarios)
    if D.ORIGINAL not in configs:
        if D.ORIGINAL not in D.available_configs(data):
            raise ValueError(
                f"the data {data!r} has no 'original' config: {protocol} needs it "
                f"({'the training images' if protocol == 'ex1' else 'the internal reference μ'})"
            )
        configs.insert(0, D.ORIGINAL)
    return configs


def prepare_run(settings: TrainSettings, *, out: str | os.PathLike, device: str, num_workers: int,
                progress: bool, engine: Any = None) -> RunContext:
    """Every check of the issue, then the run folder: nothing trains before this returns."""
    import torch

    check_settings(settings, device=device)
    configs = plan_configs(settings.data, settings.protocol, list(settings.scenarios))
    table = read_sources(settings.data, configs, limit=settings.limit)
    folds = F.assign_folds(table, n_folds=settings.folds, seed=settings.seed)
    if settings.method == "finetune":
        F.check_validation_parts(table, folds, test_folds=[EX1_TEST_FOLD] if settings.protocol == "ex1"
                                 else range(settings.folds))
    torch.manual_seed(settings.seed)  # the new head's initial weights
    here = device if engine is None else "auto"  # on Ray the replicas take --device; this process what it has
    loaded = load_for_training(settings.model, class_names=table.class_names, device=here,
                               dtype=settings.dtype, revision=settings.revision)
    folder = RunFolder(out)
    settings = TrainSettings(**{**asdict(settings), "scenarios": tuple(configs)})
    resumed = folder.start(asdict(settings), folds)
    return RunContext(settings, folder, configs, table, folds, loaded, num_workers, progress, resumed=resumed,
                      engine=engine)


def prediction_frame(config: str, source_ids: Sequence[str], labels: np.ndarray, logits: np.ndarray,
                     keys: Sequence[str], *, fold: int):
    """Prediction rows in the evaluator's columns, plus ``fold``. The trained head is over the
    dataset's classes, so ``strict`` and ``restricted`` coincide."""
    import pandas as pd

    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    pred = prob.argmax(axis=1)
    score = prob[np.arange(len(pred)), pred]
    correct = pred == labels
    names = [keys[p] for p in pred]
    return pd.DataFrame({
        "config": config, "scenario": config, "source_id": list(source_ids), "label": labels.astype(np.int64),
        "class_key": [keys[y] for y in labels], "prediction": names, "score": score, "correct": correct,
        "strict_label": names, "strict_prediction": names, "strict_score": score, "strict_correct": correct,
        "restricted_prediction": names, "restricted_score": score, "restricted_correct": correct,
        "fold": np.int64(fold),
    })


# --------------------------------------------------------------------------- linear probe
def _features(ctx: RunContext, config: str) -> dict[str, np.ndarray]:
    """Pooled features of every row of ``config``: from the cache, or computed once (here, or
    shared over the engine's replicas) and cached."""
    cached = ctx.folder.load_features(config)
    if cached is None:
        compute = ctx.engine.features if ctx.engine is not None else _extract_here
        ctx.folder.save_features(config, **compute(ctx, config))
        cached = ctx.folder.load_features(config)
    ctx.failures += [{"config": config, "source_id": str(s), "error": str(e)}
                     for s, e in zip(cached["failed_ids"], cached["failed_errors"])]
    return cached


def _extract_here(ctx: RunContext, config: str) -> dict[str, np.ndarray]:
    """The arrays of a config's feature cache, computed in this process."""
    rows = load_images(ctx.settings.data, config, limit=ctx.settings.limit)
    started = time.perf_counter()
    feats, ok, failures, forward_s = extract_features(
        ctx.loaded, rows.images, source_ids=rows.source_ids, batch_size=ctx.settings.batch_size,
        num_workers=ctx.num_workers, progress=ctx.progress, desc=f"features {config}")
    return dict(features=feats, ok=ok, labels=rows.labels, source_ids=np.array(rows.source_ids),
                failed_ids=np.array([f["source_id"] for f in failures], dtype=str),
                failed_errors=np.array([f["error"] for f in failures], dtype=str),
                seconds=np.array([time.perf_counter() - started, forward_s]))


def training_rows(ctx: RunContext, config: str, fold: int, source_ids: Sequence[str]) -> dict:
    """The training record saved with a model: which rows (validation rows included, as
    they chose the epoch) of which data it was fitted on."""
    from ximagenet12.evaluation.models import data_fingerprint

    data = ctx.settings.data
    return {"data": data, "data_fingerprint": data_fingerprint(data) if os.path.isdir(data) else None,
            "config": config, "protocol": ctx.settings.protocol, "method": ctx.settings.method,
            "held_out_fold": fold, "n": len(set(source_ids)), "source_ids": sorted(set(map(str, source_ids)))}


def _probe_fold(ctx: RunContext, config: str, cache: dict, fold: int, train: np.ndarray, test: np.ndarray) -> None:
    started = time.perf_counter()
    x, y, sids = cache["features"], cache["labels"], cache["source_ids"]
    head = fit_probe(x[train], y[train], num_classes=len(ctx.table.class_names), c=ctx.settings.probe_c)
    frame = prediction_frame(config, sids[test].tolist(), y[test], head.logits(x[test]), ctx.table.class_keys, fold=fold)
    result = {"config": config, "fold": fold, "accuracy": float(frame["correct"].mean()) if len(frame) else None,
              "n": int(test.sum()), "train_n": int(train.sum()), "val_n": 0, "epochs": head.n_iter,
              "epochs_unit": "L-BFGS iterations", "converged": head.converged,
              "train_accuracy": head.train_accuracy, "curve": [], "seconds": round(time.perf_counter() - started, 4)}
    save = ctx.settings.save_models and ctx.settings.protocol == "ex2"
    if save:
        install_head(ctx.loaded, head.weight, head.bias)
        ctx.folder.save_model(ctx.folder.model_dir(config, fold), ctx.loaded.model, ctx.loaded.processor,
                              training_rows=training_rows(ctx, config, fold, sids[train].tolist()))
    ctx.folder.write_fold(config, fold, result, frame)


def _probe_ex2(ctx: RunContext) -> None:
    for config in ctx.configs:
        cache = _features(ctx, config)
        fold_rows = F.fold_of_rows(cache["source_ids"].tolist(), ctx.folds, config=config)
        for k in range(ctx.settings.folds):
            if not ctx.folder.fold_done(config, k):
                _probe_fold(ctx, config, cache, k, (fold_rows != k) & cache["ok"], (fold_rows == k) & cache["ok"])


def _probe_ex1(ctx: RunContext) -> None:
    """Fit once on original (all folds but the test fold), test every config's test fold.
    The fit is deterministic and takes seconds, so a resumed run refits instead of caching it."""
    original = _features(ctx, D.ORIGINAL)
    fold_rows = F.fold_of_rows(original["source_ids"].tolist(), ctx.folds, config=D.ORIGINAL)
    train = (fold_rows != EX1_TEST_FOLD) & original["ok"]
    x, y = original["features"], original["labels"]
    head = fit_probe(x[train], y[train], num_classes=len(ctx.table.class_names), c=ctx.settings.probe_c)
    for config in ctx.configs:
        if ctx.folder.fold_done(config, EX1_TEST_FOLD):
            continue
        cache = original if config == D.ORIGINAL else _features(ctx, config)
        rows = F.fold_of_rows(cache["source_ids"].tolist(), ctx.folds, config=config)
        test = (rows == EX1_TEST_FOLD) & cache["ok"]
        frame = prediction_frame(config, cache["source_ids"][test].tolist(), cache["labels"][test],
                                 head.logits(cache["features"][test]), ctx.table.class_keys, fold=EX1_TEST_FOLD)
        ctx.folder.write_fold(config, EX1_TEST_FOLD, {
            "config": config, "fold": EX1_TEST_FOLD, "accuracy": float(frame["correct"].mean()) if len(frame) else None,
            "n": int(test.sum()), "train_n": int(train.sum()), "val_n": 0, "epochs": head.n_iter,
            "epochs_unit": "L-BFGS iterations", "converged": head.converged, "train_accuracy": head.train_accuracy,
            "curve": [], "trained_on": D.ORIGINAL}, frame)
    if not (ctx.folder.model_dir() / "config.json").is_file():
        install_head(ctx.loaded, head.weight, head.bias)
        ctx.folder.save_model(ctx.folder.model_dir(), ctx.loaded.model, ctx.loaded.processor,
                              training_rows=training_rows(ctx, D.ORIGINAL, EX1_TEST_FOLD,
                                                          original["source_ids"][train].tolist()))


# --------------------------------------------------------------------------- fine-tuning
def _finetune_options(ctx: RunContext, fold: int) -> FinetuneOptions:
    s = ctx.settings
    return FinetuneOptions(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, patience=s.patience,
                           seed=s.seed + fold, mixed_precision=s.mixed_precision,
                           use_cpu=ctx.loaded.device.type == "cpu", num_workers=ctx.num_workers, progress=ctx.progress)


def _decoded_rows(ctx: RunContext, config: str, *, record: bool = True):
    """A config's rows and which decode; failures recorded in the run (and its folder, for resumes)."""
    rows = load_images(ctx.settings.data, config, limit=ctx.settings.limit)
    decoded = decode_all(rows.images, rows.source_ids)
    ok = np.array([not isinstance(x, D.DecodeError) for x in decoded])
    failures = [{"config": config, "source_id": s, "error": str(x)}
                for s, x in zip(rows.source_ids, decoded) if isinstance(x, D.DecodeError)]
    if record:
        ctx.folder.save_failures(config, failures)
        ctx.failures += failures
    return rows, ok


def _known_failures(ctx: RunContext, config: str) -> None:
    """A config skipped on resume still reports the images that failed to decode."""
    ctx.failures += ctx.folder.load_failures(config) or []


def _subset(rows, mask: np.ndarray, processor) -> ImageDataset:
    idx = np.flatnonzero(mask)
    return ImageDataset([rows.images[i] for i in idx], rows.labels[idx].tolist(),
                        [rows.source_ids[i] for i in idx], processor)


def _train_fold(ctx: RunContext, rows, train_mask: np.ndarray, test_mask: np.ndarray | None, fold: int, initial: dict):
    """Restore the initial weights, carve validation sources, fine-tune; (result, test logits)."""
    ctx.loaded.model.load_state_dict(initial)
    sids = np.array(rows.source_ids)
    held = F.validation_split(sids[train_mask].tolist(), rows.labels[train_mask], fraction=ctx.settings.val_fraction,
                              seed=ctx.settings.seed + fold)
    is_val = np.isin(sids, list(held)) & train_mask
    proc = ctx.loaded.processor
    test = _subset(rows, test_mask, proc) if test_mask is not None else None
    started = time.perf_counter()
    result = finetune(ctx.loaded.model, proc, train=_subset(rows, train_mask & ~is_val, proc),
                      val=_subset(rows, is_val, proc), test=test, options=_finetune_options(ctx, fold),
                      workdir=ctx.folder.path / "tmp")
    info = {"fold": fold, "train_n": int((train_mask & ~is_val).sum()), "val_n": int(is_val.sum()),
            "epochs": result.epochs, "epochs_unit": "epochs", "best_epoch": result.best_epoch, "curve": result.curve,
            "train_accuracy": (result.curve[-1]["train_accuracy"] if result.curve else None),
            "seconds": round(time.perf_counter() - started, 3)}
    return info, result.logits


def _initial_state(ctx: RunContext) -> dict:
    return {k: v.detach().clone() for k, v in ctx.loaded.model.state_dict().items()}


def _finetune_ex2(ctx: RunContext) -> None:
    todo = {c: [k for k in range(ctx.settings.folds) if not ctx.folder.fold_done(c, k)] for c in ctx.configs}
    if ctx.engine is not None:  # one Ray task per (config, fold); each writes its fold as below
        ctx.engine.run_jobs(ctx, [(c, k) for c, folds in todo.items() for k in folds])
        for config in ctx.configs:
            _known_failures(ctx, config)
        return
    initial = _initial_state(ctx)
    for config in ctx.configs:
        if todo[config]:
            _finetune_folds(ctx, config, todo[config], initial)
        else:
            _known_failures(ctx, config)


def _finetune_folds(ctx: RunContext, config: str, folds: Sequence[int], initial: dict) -> None:
    """Train, test and write ``folds`` of ``config``, each from the ``initial`` weights."""
    rows, ok = _decoded_rows(ctx, config)
    fold_rows = F.fold_of_rows(rows.source_ids, ctx.folds, config=config)
    for k in folds:
        test = (fold_rows == k) & ok
        info, logits = _train_fold(ctx, rows, (fold_rows != k) & ok, test, k, initial)
        frame = prediction_frame(config, np.array(rows.source_ids)[test].tolist(), rows.labels[test], logits,
                                 ctx.table.class_keys, fold=k)
        if ctx.settings.save_models:
            ctx.folder.save_model(ctx.folder.model_dir(config, k), ctx.loaded.model, ctx.loaded.processor,
                                  training_rows=training_rows(ctx, config, k,
                                                              np.array(rows.source_ids)[(fold_rows != k) & ok].tolist()))
        ctx.folder.write_fold(config, k, {"config": config, **info, "accuracy": float(frame["correct"].mean()),
                                          "n": int(test.sum())}, frame)


def _train_ex1(ctx: RunContext) -> None:
    """EX1's one training job: fit on original but the test fold; the model and its training record saved."""
    rows, ok = _decoded_rows(ctx, D.ORIGINAL, record=False)  # recorded when its test part is scored
    fold_rows = F.fold_of_rows(rows.source_ids, ctx.folds, config=D.ORIGINAL)
    train = (fold_rows != EX1_TEST_FOLD) & ok
    info, _ = _train_fold(ctx, rows, train, None, EX1_TEST_FOLD, _initial_state(ctx))
    ctx.folder.write_text("ex1_training.json", json.dumps(info, indent=2))
    ctx.folder.save_model(ctx.folder.model_dir(), ctx.loaded.model, ctx.loaded.processor,
                          training_rows=training_rows(ctx, D.ORIGINAL, EX1_TEST_FOLD, np.array(rows.source_ids)[train].tolist()))


def finetune_job(ctx: RunContext, config: str, fold: int | None) -> None:
    """One fine-tuning job as a worker runs it: fold ``fold`` of ``config`` (ex2), or with
    ``fold`` ``None`` ex1's training job; written into the run folder as a local run writes it."""
    if fold is None:
        _train_ex1(ctx)
    else:
        _finetune_folds(ctx, config, [fold], _initial_state(ctx))


def _load_saved(target: "os.PathLike[str]"):
    """The ex1 model an earlier run (or a Ray task) saved, through the same pre-flight as any model folder:
    a save cut short by a kill is refused in one line, never run with re-initialised weights."""
    from transformers import AutoModelForImageClassification

    from ximagenet12.evaluation.models import check_model_folder, load_report

    check_model_folder(target)
    with load_report() as report:
        model = AutoModelForImageClassification.from_pretrained(target, weights_only=True)
    refusal = report.refusal(str(target))
    if refusal:
        raise ValueError(refusal + "; delete the run's model folder to train it again")
    return model


def _finetune_ex1(ctx: RunContext) -> None:
    target = ctx.folder.model_dir()
    if not (target / "config.json").is_file() and ctx.engine is None:
        _train_ex1(ctx)
    else:  # trained by an earlier run, or just now by a Ray task: load what it saved
        if not (target / "config.json").is_file():
            ctx.engine.run_jobs(ctx, [(D.ORIGINAL, None)])
        ctx.loaded.model = _load_saved(target).to(ctx.loaded.device).eval()
    info = json.loads((ctx.folder.path / "ex1_training.json").read_text(encoding="utf-8"))
    for config in ctx.configs:
        if ctx.folder.fold_done(config, EX1_TEST_FOLD):
            _known_failures(ctx, config)
            continue
        rows, ok = _decoded_rows(ctx, config)
        test = (F.fold_of_rows(rows.source_ids, ctx.folds, config=config) == EX1_TEST_FOLD) & ok
        logits = predict_logits(ctx, _subset(rows, test, ctx.loaded.processor))
        frame = prediction_frame(config, np.array(rows.source_ids)[test].tolist(), rows.labels[test], logits,
                                 ctx.table.class_keys, fold=EX1_TEST_FOLD)
        ctx.folder.write_fold(config, EX1_TEST_FOLD, {**info, "config": config, "trained_on": D.ORIGINAL,
                                                      "accuracy": float(frame["correct"].mean()), "n": int(test.sum())}, frame)


def predict_logits(ctx: RunContext, dataset: ImageDataset) -> np.ndarray:
    """Logits of the run's model on ``dataset``, in batches, in inference mode."""
    import torch

    model = ctx.loaded.model.eval()
    dtype = next(model.parameters()).dtype
    loader = torch.utils.data.DataLoader(dataset, batch_size=ctx.settings.batch_size, shuffle=False)
    out = []
    with torch.inference_mode():
        for batch in loader:
            out.append(model(pixel_values=batch["pixel_values"].to(ctx.loaded.device, dtype=dtype)).logits.float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(ctx.table.class_names)), dtype=np.float32)


def run_folds(ctx: RunContext) -> None:
    """Run every fold the run folder does not have yet."""
    stage = {("ex1", "linear-probe"): _probe_ex1, ("ex2", "linear-probe"): _probe_ex2,
             ("ex1", "finetune"): _finetune_ex1, ("ex2", "finetune"): _finetune_ex2}
    stage[(ctx.settings.protocol, ctx.settings.method)](ctx)
