"""``train --engine ray``: feature extraction over model replicas, fine-tuning jobs as Ray tasks.

    ximagenet12 train --engine ray [--ray-address HOST:PORT] [--replicas N] [--gpus-per-replica G] ...

What runs where:

- **linear-probe**: extracting a config's pooled features (the expensive part) is cut into
  contiguous row shares, one per replica (:func:`ximagenet12.engines.ray.plan_shards`,
  cuts on batch boundaries so every replica forms the batches a local run forms); each
  replica is a Ray actor that loads the model once and serves every config. The shares
  are concatenated in row order into the per-config cache a local run writes
  (``<out>/features/<config>.npz``); the folds are then fitted in this process as locally
  (seconds each), so the same ``--seed`` gives the same numbers.
- **finetune**: each (scenario, fold) job of ex2, and ex1's single training job, is a Ray
  task with ``gpus_per_replica`` GPUs (default 1 when the cluster has GPUs, else 0) that
  loads the model with its new head exactly as a local run does (same seed, same initial
  weights) and writes its fold (and model) into the run folder with the local code, so a
  rerun skips the finished folds. A task whose worker dies is retried.

The run folder and the data must be readable (and the run folder writable) on every node:
a shared file system. Ray is an optional dependency: ``pip install 'ximagenet12[ray]'``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ximagenet12.engines.ray import MAX_RETRIES, RayExecutor, get_or_raise_cause, plan_shards, replica_device

__all__ = ["RayTraining"]


@dataclass(frozen=True)
class _ModelSpec:
    """What a worker needs to load the run's model as the driver did."""

    model: str
    class_names: tuple[str, ...]
    device: str
    dtype: str
    revision: str | None
    seed: int


class RayTraining:
    """The Ray engine of one training run (see the module docstring); :meth:`preflight` first."""

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, replicas: int | None = None,
                 gpus_per_replica: float | None = None, device: str = "auto"):
        if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
            raise ValueError(f"--replicas must be a positive integer, got {replicas!r}")
        if gpus_per_replica is not None and gpus_per_replica < 0:
            raise ValueError(f"--gpus-per-replica must be >= 0, got {gpus_per_replica!r}")
        self.executor = RayExecutor(address, num_cpus=num_cpus)
        self.replicas, self.gpus_per_replica, self.device = replicas, gpus_per_replica, device
        self._actors: list[Any] = []

    # ------------------------------------------------------------------ connection
    def preflight(self) -> None:
        """Import Ray and connect now: a missing extra or an unreachable cluster is one line, before any work."""
        self.executor.preflight()
        gpus = self.executor.cluster_gpus()
        if self.gpus_per_replica is None:
            self.gpus_per_replica = 1.0 if gpus else 0.0
        if self.replicas is None:
            self.replicas = max(1, int(gpus // self.gpus_per_replica)) if self.gpus_per_replica else 2
        replica_device(self.device, self.gpus_per_replica)  # --device cuda without GPUs: one line, now

    def close(self) -> None:
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        self.executor.close()

    def describe(self) -> dict:
        """The engine's record for ``run.json``."""
        return {"name": "ray", "replicas": self.replicas, "gpus_per_replica": self.gpus_per_replica}

    def _spec(self, ctx: Any) -> _ModelSpec:
        s = ctx.settings
        device = replica_device(self.device, self.gpus_per_replica or 0.0)
        return _ModelSpec(s.model, tuple(ctx.table.class_names), device, s.dtype, s.revision, s.seed)

    # ------------------------------------------------------------------ linear probe
    def features(self, ctx: Any, config: str) -> dict[str, np.ndarray]:
        """The arrays of ``config``'s feature cache (as ``protocols._extract_here`` makes them), its
        rows shared over the replicas and concatenated in row order."""
        from ximagenet12.evaluation import data as D

        s = ctx.settings
        counts = D.file_row_counts(s.data, config)
        total = None if counts is None else sum(n for _, n in counts)
        if total is not None and s.limit is not None:
            total = min(total, s.limit)
        shards = plan_shards({config: total}, replicas=self.replicas, batch_size=s.batch_size)
        actors = self._replicas(ctx, len(shards))
        started = time.perf_counter()
        refs = [a.extract.remote(s.data, config, shard.spans.get(config), s.limit, s.batch_size, ctx.num_workers)
                for a, shard in zip(actors, shards)]
        parts = get_or_raise_cause(refs)
        failures = [f for p in parts for f in p["failures"]]
        dims = [p["features"].shape[1] for p in parts if p["features"] is not None]
        if not dims:  # as extract_features says it for the whole config
            raise ValueError(f"features {config}: none of the {sum(len(p['ok']) for p in parts)} images could be decoded")
        return {
            "features": np.concatenate([p["features"] if p["features"] is not None
                                        else np.zeros((len(p["ok"]), dims[0]), np.float32) for p in parts]),
            "ok": np.concatenate([p["ok"] for p in parts]),
            "labels": np.concatenate([p["labels"] for p in parts]),
            "source_ids": np.array([sid for p in parts for sid in p["source_ids"]]),
            "failed_ids": np.array([f["source_id"] for f in failures], dtype=str),
            "failed_errors": np.array([f["error"] for f in failures], dtype=str),
            "seconds": np.array([time.perf_counter() - started, sum(p["forward_s"] for p in parts)]),
        }

    def _replicas(self, ctx: Any, count: int) -> list[Any]:
        """``count`` feature replicas (actors), started on first use and kept for every config."""
        import ray

        if len(self._actors) < count:
            actor = ray.remote(num_cpus=1, num_gpus=self.gpus_per_replica, max_restarts=MAX_RETRIES,
                               max_task_retries=MAX_RETRIES)(_FeatureReplica)
            spec = self._spec(ctx)
            self._actors += [actor.remote(spec) for _ in range(count - len(self._actors))]
        return self._actors[:count]

    # ------------------------------------------------------------------ fine-tuning
    def run_jobs(self, ctx: Any, jobs: Sequence[tuple[str, int | None]]) -> None:
        """Each ``(config, fold)`` job as a Ray task writing into the run folder (``fold`` ``None``:
        ex1's training job). Returns when all are written; the first failure is raised."""
        import ray

        if not jobs:
            return
        task = ray.remote(num_cpus=1, num_gpus=self.gpus_per_replica, max_retries=MAX_RETRIES)(_finetune_task)
        parts = {"settings": ctx.settings, "folder": str(ctx.folder.path), "configs": list(ctx.configs),
                 "table": ctx.table, "folds": dict(ctx.folds), "num_workers": ctx.num_workers}
        shared = ray.put(parts)  # sent to the object store once, not with every job
        get_or_raise_cause([task.remote(self._spec(ctx), shared, config, fold) for config, fold in jobs])


def _load(spec: _ModelSpec) -> Any:
    """The run's model with its new head, as :func:`ximagenet12.training.protocols.prepare_run` loads it."""
    import torch

    from ximagenet12.training.backbone import load_for_training

    torch.manual_seed(spec.seed)  # the new head's initial weights, as in the driver
    return load_for_training(spec.model, class_names=spec.class_names, device=spec.device, dtype=spec.dtype,
                             revision=spec.revision)


class _FeatureReplica:
    """A Ray actor: the run's model, loaded once, extracting the features of row shares."""

    def __init__(self, spec: _ModelSpec):
        self.loaded = _load(spec)

    def extract(self, data: str, config: str, span: tuple[int, int] | None, limit: int | None, batch_size: int,
                num_workers: int) -> dict[str, Any]:
        from ximagenet12.evaluation import data as D
        from ximagenet12.training.backbone import decode_all, extract_features

        images, labels, sids = _share_rows(data, config, span, limit)
        try:
            feats, ok, failures, forward_s = extract_features(
                self.loaded, images, source_ids=sids, batch_size=batch_size, num_workers=num_workers,
                desc=f"features {config} rows {span or 'all'}")
        except ValueError:  # none of the share's images decodes: fatal only if none of the config's does
            decoded = decode_all(images, sids)
            failures = [{"source_id": i, "error": str(x)} for i, x in zip(sids, decoded) if isinstance(x, D.DecodeError)]
            if not images or len(failures) != len(images):
                raise
            return {"features": None, "ok": np.zeros(len(images), bool), "labels": labels, "source_ids": sids,
                    "failures": failures, "forward_s": 0.0}
        return {"features": feats, "ok": ok, "labels": labels, "source_ids": sids, "failures": failures,
                "forward_s": forward_s}


def _share_rows(data: str, config: str, span: tuple[int, int] | None,
                limit: int | None) -> tuple[list[bytes], np.ndarray, list[str]]:
    """Image bytes, labels and source ids of rows ``span`` of ``config`` (all of them, as
    :func:`ximagenet12.training.data.load_images` reads them, when ``span`` is ``None``)."""
    from ximagenet12.evaluation import data as D
    from ximagenet12.training.data import load_images

    if span is None:
        rows = load_images(data, config, limit=limit)
        return rows.images, rows.labels, list(rows.source_ids)
    images, labels, sids = [], [], []
    for row in D.span_rows(data, config, span, columns=["image", "label", "source_id"], log=None):
        value = row["image"]
        data_bytes = value.get("bytes") if isinstance(value, dict) else value
        if data_bytes is None and isinstance(value, dict) and value.get("path"):  # as load_images reads it
            data_bytes = Path(value["path"]).read_bytes()
        images.append(data_bytes or b"")
        labels.append(int(row["label"]))
        sids.append(row["source_id"])
    return images, np.array(labels, dtype=np.int64), sids


def _finetune_task(spec: _ModelSpec, parts: dict, config: str, fold: int | None) -> None:
    """A Ray task: one fine-tuning job, run by the local code into the shared run folder."""
    from ximagenet12.training.protocols import RunContext, finetune_job
    from ximagenet12.training.runs import RunFolder

    ctx = RunContext(parts["settings"], RunFolder(Path(parts["folder"])), parts["configs"], parts["table"],
                     parts["folds"], _load(spec), parts["num_workers"], progress=False)
    finetune_job(ctx, config, fold)
