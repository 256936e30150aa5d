"""``train``: one call from options to a finished run folder (what ``ximagenet12 train`` runs)."""

from __future__ import annotations

import os
from typing import Sequence

from ximagenet12.evaluation.classification import EvaluationResult, default_num_workers
from ximagenet12.evaluation.models import run_provenance
from ximagenet12.training.probe import DEFAULT_C
from ximagenet12.training.protocols import DEFAULT_FOLDS, TrainSettings, prepare_run, run_folds
from ximagenet12.training.report import assemble, write_training_report

__all__ = ["train"]


def train(
    model: str | os.PathLike,
    data: str | os.PathLike,
    *,
    out: str | os.PathLike,
    protocol: str = "ex2",
    method: str = "linear-probe",
    scenarios: str | Sequence[str] = "all",
    folds: int | None = None,
    seed: int = 0,
    epochs: int = 10,
    lr: float = 5e-5,
    batch_size: int = 32,
    patience: int = 3,
    val_fraction: float = 0.1,
    mixed_precision: str = "no",
    device: str = "auto",
    dtype: str | None = None,
    revision: str | None = None,
    num_workers: int | None = None,
    limit: int | None = None,
    probe_c: float = DEFAULT_C,
    save_models: bool = False,
    progress: bool = True,
    robustness_config: str = "table3",
    engine: str = "local",
    replicas: int | None = None,
    gpus_per_replica: float | None = None,
    ray_address: str | None = None,
    ray_num_cpus: int | None = None,
) -> EvaluationResult:
    """Train and test ``model`` on ``data`` under ``protocol`` (ex1 or ex2) by ``method``
    (linear-probe or finetune), into the run folder ``out``; an existing run folder with
    the same settings is resumed. ``folds`` defaults to 5 for ex1 (fold 0 is the held-out
    test part) and 12 for ex2 (the paper's). Returns the report and predictions, also
    written to ``out``.

    ``engine="ray"`` runs the expensive part on a Ray cluster (``ray_address``, default
    ``$RAY_ADDRESS``, else a new local instance of ``ray_num_cpus`` CPUs): linear-probe
    feature extraction shared over ``replicas`` model replicas, each fine-tuning job a task
    with ``gpus_per_replica`` GPUs (:mod:`ximagenet12.training.on_ray`); the run folder and
    its numbers are those of a local run. Ray is connected to first, so a missing extra or
    an unreachable cluster fails before any work."""
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; expected local or ray")
    if folds is None:
        folds = DEFAULT_FOLDS.get(protocol, 12)
    if isinstance(scenarios, str):
        scenarios = [t.strip() for t in scenarios.split(",") if t.strip()]
    settings = TrainSettings(
        protocol=protocol, method=method, model=os.fspath(model), data=os.fspath(data), scenarios=tuple(scenarios),
        folds=folds, seed=seed, epochs=epochs, lr=lr, batch_size=batch_size, val_fraction=val_fraction,
        patience=patience, mixed_precision=mixed_precision, dtype=dtype or "auto", revision=revision, limit=limit,
        probe_c=probe_c, save_models=save_models,
    )
    workers = default_num_workers() if num_workers is None else num_workers
    on_ray = None
    if engine == "ray":
        from ximagenet12.training.on_ray import RayTraining

        on_ray = RayTraining(ray_address, num_cpus=ray_num_cpus, replicas=replicas, gpus_per_replica=gpus_per_replica,
                             device=device)
        on_ray.preflight()
    try:
        ctx = prepare_run(settings, out=out, device=device, num_workers=workers, progress=progress, engine=on_ray)
        provenance = run_provenance(model, data, loaded=ctx.loaded.model, revision=revision, dtype=dtype)
        ctx.folder.update_run_json(provenance=provenance, **({"engine": on_ray.describe()} if on_ray else {}))
        run_folds(ctx)
    finally:
        if on_ray is not None:
            on_ray.close()
    result = assemble(ctx, provenance=provenance, robustness_config=robustness_config)
    write_training_report(result, ctx.folder)
    return result
