"""Run a build's ``process`` stage on Ray: block tasks with retries, ``ai_background`` on an actor pool.

    ximagenet12 build --engine ray [--ray-address HOST:PORT]      # default: $RAY_ADDRESS, else a local Ray

The plan and finalize stages run once, in the calling process; each block is a Ray task
(:func:`ximagenet12.builder.process.process_block`) that decodes, transforms, encodes and
writes its own part files, so the destination must be a folder every node sees (a shared
file system; ``file://`` URLs are accepted). Parts appear under their final name only when
complete and a block is recorded as done only by the driver, so a task whose worker dies is
retried (``max_retries``) without duplicate or missing rows.

Generative variants (``ai_background``) run in a Ray Data actor pool: one inpainting
pipeline is loaded per actor, with ``gpus_per_actor`` GPUs each (default 1 when the cluster
has GPUs, else 0) and batches of ``GenerationOptions.batch_size`` samples; generated images
go through the same on-disk cache as local builds, so an interrupted build resumes.

Evaluation (``evaluate --engine ray``, :func:`evaluate_on_ray`): the rows of the configs are
cut into contiguous shares over model replicas (:func:`plan_shards`), each a Ray task, and
merged into the report a local run writes (:func:`merge_evaluations`). Training on Ray
(``train --engine ray``) is :mod:`ximagenet12.training.on_ray`.

Ray is an optional dependency: ``pip install 'ximagenet12[ray]'``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import pickle
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from ximagenet12.builder.plan import Block
from ximagenet12.builder.process import (
    BlockResult,
    BlockTask,
    GeneratedRows,
    GenerationJob,
    WorkerSetup,
    generate_rows,
    process_block,
)
from ximagenet12.core.types import SampleError

__all__ = [
    "MIN_RAY_VERSION",
    "RAY_EXTRA",
    "RayEngineError",
    "RayExecutor",
    "EvalShard",
    "add_engine_arguments",
    "evaluate_on_ray",
    "executor_from_args",
    "merge_evaluations",
    "plan_shards",
    "replica_device",
    "get_or_raise_cause",
    "require_ray",
]

#: Oldest Ray this engine is tested against the API of (``ray.data`` actor pools, ``ActorPoolStrategy(size=)``).
MIN_RAY_VERSION = (2, 10)
RAY_EXTRA = "pip install 'ximagenet12[ray]'"
#: Seconds to wait for a TCP connection to a cluster's address before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Retries of a block task whose worker died (Ray's own default is 3).
MAX_RETRIES = 3


class RayEngineError(ValueError):
    """Ray is missing, too old, or the cluster cannot be reached: one line, before any work."""


def require_ray() -> Any:
    """The ``ray`` module, or a one-line error saying which extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise RayEngineError(f"--engine ray needs Ray, which is not installed: {RAY_EXTRA}") from exc
    found = _version_tuple(getattr(ray, "__version__", "0"))
    if found < MIN_RAY_VERSION:
        need = ".".join(map(str, MIN_RAY_VERSION))
        raise RayEngineError(f"--engine ray needs Ray >= {need}, found {ray.__version__}: {RAY_EXTRA} --upgrade")
    return ray


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _check_reachable(address: str) -> None:
    """A plain TCP connect to ``host:port`` (``ray://`` too), so a wrong address fails in seconds."""
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    if parts.hostname is None or parts.port is None:
        raise RayEngineError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT or 'auto'")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise RayEngineError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc}") from exc


class RayExecutor:
    """Blocks as Ray tasks (results in block order); see the module docstring.

    ``address``: a running cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``; default
    ``$RAY_ADDRESS``, else a new local Ray instance with ``num_cpus`` CPUs). A Ray already
    initialised in this process is used as it is.
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None, max_retries: int = MAX_RETRIES,
                 gpus_per_actor: float | None = None, actors: int | None = None):
        if num_cpus is not None and (not isinstance(num_cpus, int) or num_cpus < 1):
            raise ValueError(f"num_cpus must be a positive integer, got {num_cpus!r}")
        if gpus_per_actor is not None and gpus_per_actor < 0:
            raise ValueError(f"gpus_per_actor must be >= 0, got {gpus_per_actor!r}")
        if actors is not None and (not isinstance(actors, int) or actors < 1):
            raise ValueError(f"actors must be a positive integer, got {actors!r}")
        self.address = address if address is not None else os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.gpus_per_actor = gpus_per_actor
        self.actors = actors
        self._started = False

    # ------------------------------------------------------------------ connection

    def preflight(self) -> None:
        """Import Ray and connect (or start a local instance) now, before the build writes anything."""
        ray = require_ray()
        if ray.is_initialized():
            return
        if self.address and self.address != "auto":
            _check_reachable(self.address)
        try:
            if self.address:
                ray.init(address=self.address, log_to_driver=False)
            else:
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
        except ConnectionError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RayEngineError(f"cannot connect to Ray at {self.address or 'a new local instance'}: {first}") from exc
        self._started = True

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a cluster it joined keeps running)."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    @property
    def parallelism(self) -> int:
        """CPUs of the cluster (blocks are cut so that each gets a few)."""
        self.preflight()
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(x) for x in items]`` as Ray tasks (the finalize stage's config merges), in order."""
        self.preflight()
        import ray

        remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_call)
        return ray.get([remote.remote(fn, x) for x in items])

    def cluster_gpus(self) -> float:
        import ray

        return float(ray.cluster_resources().get("GPU", 0.0))

    # ------------------------------------------------------------------ the process stage

    def run(self, tasks: Iterable[BlockTask], setup: WorkerSetup) -> Iterator[BlockResult]:
        self.preflight()
        import ray

        remote = ray.remote(num_cpus=1, max_retries=self.max_retries, retry_exceptions=False)(_ray_block)
        setup_ref = ray.put(setup)  # sent to the object store once, not with every task
        window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        ahead: deque[Any] = deque()
        try:
            for task in tasks:
                ahead.append(remote.remote(task, setup_ref))
                if len(ahead) >= window:
                    yield ray.get(ahead.popleft())
            while ahead:
                yield ray.get(ahead.popleft())
        finally:
            for ref in ahead:  # stopped early (an error, --strict, an interrupt): drop queued blocks
                ray.cancel(ref, force=True)


    # ------------------------------------------------------------------ generative variants

    def generate(self, job: GenerationJob, blocks: list[Block]) -> Iterator[dict[str, GeneratedRows]]:
        """Per block, in order: each generative config's rows, made by a Ray Data actor pool.

        One pipeline per actor (loaded once, reused for every batch); ``job.options.batch_size``
        samples per call; ``gpus_per_actor`` GPUs per actor.
        """
        self.preflight()
        import ray
        import ray.data

        gpus = self.gpus_per_actor if self.gpus_per_actor is not None else (1.0 if self.cluster_gpus() else 0.0)
        actors = self.actors or max(1, int(self.cluster_gpus() // gpus) if gpus else 1)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come back in sample order
        context.enable_progress_bars = False
        indices = [{"block": b.index, "index": i} for b in blocks for i in range(b.start, b.stop)]
        dataset = ray.data.from_items(indices).map_batches(
            _InpaintActor, fn_constructor_kwargs={"job": ray.put(job)}, batch_size=job.options.batch_size,
            compute=ray.data.ActorPoolStrategy(size=actors), num_gpus=gpus, num_cpus=0 if gpus else 1, batch_format="numpy",
        )
        rows = iter(dataset.iter_rows())
        for block in blocks:
            out: dict[str, tuple[list, list, list]] = {v.config_name: ([], [], []) for v in job.variants}
            for _ in range((block.stop - block.start) * len(job.variants)):
                pending = next(rows)
                if int(pending["block"]) != block.index:
                    raise RuntimeError(f"generated rows out of order: block {pending['block']} while {block.index}")
                kind, value = pickle.loads(pending["payload"])
                rows_, skipped, errors = out[str(pending["config"])]
                if kind == "row":
                    rows_.append(value)
                elif kind == "skip":
                    skipped.append(value)
                elif kind == "error":  # a failure is a skip and, for --strict, an error
                    skipped.append(value[0])
                    errors.append(SampleError(value[1], value[2]))
                # "unloaded": a sample that did not decode is already skipped by the process stage
            yield out  # type: ignore[misc]


class _InpaintActor:
    """A Ray Data actor: one inpainting pipeline, loaded on first use, for every batch it gets."""

    def __init__(self, job: Any):
        import ray

        self.job: GenerationJob = ray.get(job) if isinstance(job, ray.ObjectRef) else job

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        job = self.job
        out: dict[str, list] = {"block": [], "index": [], "config": [], "payload": []}
        indices = [int(i) for i in batch["index"]]
        blocks = [int(b) for b in batch["block"]]
        loaded, unloaded = [], []
        for position, index in enumerate(indices):
            try:
                job.items[index].load()  # cheap to repeat in generate_rows: only to tell which decode
                loaded.append(position)
            except SampleError:
                unloaded.append(position)
        for variant in job.variants:
            rows, skipped, errors = generate_rows(job, variant, [job.items[indices[p]] for p in loaded])
            by_id = {r[4]: ("row", r) for r in rows}
            by_id.update({s.source_id: ("skip", s) for s in skipped})
            failed = {e.source_id: e for e in errors}
            for position, index in enumerate(indices):
                source_id = job.items[index].source_id
                if position in unloaded:
                    value: tuple[str, Any] = ("unloaded", None)
                elif source_id in failed:  # SampleError does not pickle: send its parts
                    value = ("error", (by_id[source_id][1], source_id, failed[source_id].reason))
                else:
                    value = by_id[source_id]
                out["block"].append(blocks[position])
                out["index"].append(index)
                out["config"].append(variant.config_name)
                out["payload"].append(pickle.dumps(value))
        return out


def add_engine_arguments(parser: argparse.ArgumentParser, *, generation: bool = True, replicas: bool = False) -> None:
    """``--engine``, ``--ray-address``, ``--ray-num-cpus``; for builds ``--gpus-per-actor`` and
    ``--ai-actors``, for evaluations (``replicas``) ``--replicas`` and ``--gpus-per-replica``."""
    group = parser.add_argument_group("engine (where the work runs)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help=f"local: this machine; ray: a Ray cluster ({RAY_EXTRA})")
    group.add_argument("--ray-address", default=None, metavar="ADDRESS",
                       help="Ray cluster HOST:PORT, ray://HOST:PORT or auto (default: $RAY_ADDRESS, else a new "
                       "local Ray instance)")
    group.add_argument("--ray-num-cpus", type=int, default=None, metavar="N",
                       help="CPUs of a new local Ray instance (default: all)")
    if generation:
        group.add_argument("--gpus-per-actor", type=float, default=None, metavar="G",
                           help="GPUs per ai_background actor on Ray (default: 1 when the cluster has GPUs, else 0)")
        group.add_argument("--ai-actors", type=int, default=None, metavar="N",
                           help="ai_background actors on Ray (default: cluster GPUs / --gpus-per-actor, or 1)")
    if replicas:
        group.add_argument("--replicas", type=int, default=None, metavar="N",
                           help="model replicas on Ray, each taking an equal contiguous share of the rows to evaluate "
                           "or (train --method linear-probe) to extract features from; one large config is split "
                           "over them (default: cluster GPUs / --gpus-per-replica, or 2)")
        group.add_argument("--gpus-per-replica", type=float, default=None, metavar="G",
                           help="GPUs per model replica, and per fine-tuning job of train, on Ray (default: 1 when "
                           "the cluster has GPUs, else 0)")


def executor_from_args(args: argparse.Namespace) -> RayExecutor | None:
    """A :class:`RayExecutor` for ``--engine ray`` (Ray is imported later, at preflight); ``None`` for local."""
    if getattr(args, "engine", "local") != "ray":
        return None
    return RayExecutor(args.ray_address, num_cpus=args.ray_num_cpus,
                       gpus_per_actor=getattr(args, "gpus_per_actor", None), actors=getattr(args, "ai_actors", None))


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class EvalShard:
    """One model replica's share of an evaluation: configs in run order; those in ``spans``
    only rows ``[start, stop)`` by position, the others whole (``limit`` applying)."""

    configs: tuple[str, ...]
    spans: dict[str, tuple[int, int]]


def plan_shards(counts: Mapping[str, int | None], *, replicas: int, batch_size: int) -> list[EvalShard]:
    """Cut the rows of every config (``counts``, in run order) into ``replicas`` contiguous shares.

    The configs' rows, concatenated in run order, are cut into ``replicas`` runs of about
    equal length, so one large config is split over several replicas and small ones are
    grouped; a cut inside a config falls on a multiple of ``batch_size`` (so each replica
    forms the batches a local run forms). A config of unknown length (a Hub config, a
    damaged footer) or with no rows cannot be cut by position: it goes whole to one replica,
    dealt round-robin, and is read (and reported) exactly as a local run reads it. Shares
    left empty are dropped.

    Hand-written rather than ``datasets.Dataset.shard(contiguous=True)`` or Ray Data's
    ``split``: those cut a loaded (Arrow-cached, resp. Ray-read) dataset, while every replica
    here reads its rows straight from the parquet shards through the evaluator's own reader,
    which names and reports damaged shards; cutting one sequence of row counts is all that is left.
    """
    if not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    total = sum(n for n in counts.values() if n)
    bounds = [k * total // replicas for k in range(replicas + 1)]
    shares: list[dict[str, tuple[int, int] | None]] = [{} for _ in range(replicas)]
    offset, whole = 0, 0
    for config, n in counts.items():
        if not n:  # unknown or empty: whole, round-robin
            shares[whole % replicas][config] = None
            whole += 1
            continue
        cut = [_snap(min(max(b - offset, 0), n), n, batch_size) for b in bounds]
        for k in range(replicas):
            if cut[k] < cut[k + 1]:
                shares[k][config] = None if (cut[k], cut[k + 1]) == (0, n) else (cut[k], cut[k + 1])
        offset += n
    order = {c: i for i, c in enumerate(counts)}
    return [EvalShard(tuple(sorted(share, key=order.__getitem__)),
                      {c: span for c, span in share.items() if span is not None})
            for share in shares if share]


def _snap(x: int, n: int, step: int) -> int:
    """A cut inside ``[0, n]`` moved to the nearest multiple of ``step`` (the ends stay)."""
    return x if x in (0, n) else min(n, step * ((x + step // 2) // step))  # halves round up


def evaluate_on_ray(evaluate: Callable[..., Any], model: Any, data: str | os.PathLike[str], *,
                    scenarios: str | Sequence[str] = "all", replicas: int | None = None,
                    gpus_per_replica: float | None = None, address: str | None = None,
                    num_cpus: int | None = None, **options: Any) -> Any:
    """Run ``evaluate`` (``evaluate_classification`` or ``evaluate_segmentation``) on Ray.

    The rows of the configs are cut into ``replicas`` contiguous shares (:func:`plan_shards`;
    default: one replica per GPU when the cluster has GPUs, else 2), each a Ray task that
    loads the model once with ``gpus_per_replica`` GPUs (default 1 with GPUs, else 0) and
    evaluates its share; a task whose worker dies is retried whole (its result counts only
    when it returns, so no row is lost or doubled). The shares merge into the report a
    local run writes (:func:`merge_evaluations`). ``model`` and ``data`` must be readable
    on every node.
    """
    from ximagenet12.evaluation import data as D

    configs = D.resolve_scenarios(data, scenarios)  # a bad --scenarios fails before Ray starts
    if replicas is not None and (not isinstance(replicas, int) or replicas < 1):
        raise ValueError(f"--replicas must be a positive integer, got {replicas!r}")
    executor = RayExecutor(address, num_cpus=num_cpus)
    executor.preflight()
    try:
        import ray

        gpus = gpus_per_replica if gpus_per_replica is not None else (1.0 if executor.cluster_gpus() else 0.0)
        count = replicas or (max(1, int(executor.cluster_gpus() // gpus)) if gpus else 2)
        options["device"] = replica_device(options.get("device", "auto"), gpus)
        limit = options.get("limit")
        counts = {c: _planned_rows(D, data, c, limit) for c in configs}
        batch_size = options.get("batch_size") or inspect.signature(evaluate).parameters["batch_size"].default
        shards = plan_shards(counts, replicas=count, batch_size=int(batch_size))
        remote = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=MAX_RETRIES)(_evaluate_shard)
        started = time.perf_counter()
        refs = [remote.remote(evaluate, model, data, shard, options) for shard in shards]
        sizes = [sum((s.spans[c][1] - s.spans[c][0]) if c in s.spans else (counts[c] or 0) for c in s.configs)
                 for s in shards]
        _wait_with_progress(refs, sizes, progress=bool(options.get("progress", True)))
        results = get_or_raise_cause(refs)
        merged = merge_evaluations(results, configs, seconds=time.perf_counter() - started,
                                   robustness_config=options.get("robustness_config", "table3"))
        merged.report["engine"] = {"name": "ray", "replicas": len(shards), "gpus_per_replica": gpus,
                                   "shards": [{"configs": list(s.configs), "spans": s.spans} for s in shards]}
        return merged
    finally:
        executor.close()


def _wait_with_progress(refs: Sequence[Any], sizes: Sequence[int], *, progress: bool) -> None:
    """Wait for every share, advancing one bar by a share's rows when it finishes (a failed
    share counts as finished; :func:`get_or_raise_cause` then raises its error)."""
    import ray

    from ximagenet12.evaluation.data import progress_bar

    bar = progress_bar(progress, total=sum(sizes), desc=f"{len(refs)} replica(s)")
    pending = dict(zip(refs, sizes))
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                rows = pending.pop(ref)
                if bar is not None:
                    bar.update(rows)
    finally:
        if bar is not None:
            bar.close()


def get_or_raise_cause(refs: Sequence[Any]) -> list[Any]:
    """``ray.get(refs)``; a task that raised re-raises its own exception (one line for the
    CLI, as in a local run) instead of Ray's wrapper with the remote traceback."""
    import ray

    try:
        return ray.get(list(refs))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, Exception):
            raise cause from None
        raise


def replica_device(device: str, gpus: float) -> str:
    """The ``--device`` of a replica with ``gpus`` GPUs: ``auto`` without GPUs is the CPU
    (whatever the node has); ``cuda`` without GPUs is a ``ValueError``, before any work."""
    if gpus:
        return device
    if str(device).startswith("cuda"):
        raise ValueError(f"--device {device} needs GPUs on the replicas, but --gpus-per-replica is 0 "
                         "(the default when the cluster has no GPUs)")
    return "cpu" if device == "auto" else device


def _planned_rows(D: Any, data: Any, config: str, limit: int | None) -> int | None:
    """Rows a local run would read of ``config`` (footers; ``limit`` applied), ``None`` if unknown."""
    try:
        n = D.count_rows(data, config)
    except (ValueError, OSError):  # the evaluator skips and reports such a config
        return None
    return n if n is None or limit is None else min(n, limit)


def _evaluate_shard(evaluate: Callable[..., Any], model: Any, data: Any, shard: EvalShard,
                    options: dict[str, Any]) -> Any:
    return evaluate(model, data, scenarios=list(shard.configs), spans=shard.spans, **{**options, "progress": False})


def merge_evaluations(results: Sequence[Any], configs: Sequence[str], *, seconds: float,
                      robustness_config: str = "table3") -> Any:
    """One ``EvaluationResult`` from the shares of :func:`plan_shards`, as one local run gives it.

    Predictions and decode failures are concatenated config by config, share by share (the
    local row order); every per-config entry (accuracy or IoU, per class, both scoring modes,
    failures) and the robustness scores are recomputed from them with the evaluator's own
    functions; damaged shards, skipped configs and warnings that several shares recorded are
    kept once. A config's ``seconds`` is the longest of its shares (they run side by side).
    Whole-run summaries (robustness scores, the masked-corruption summary, segmentation's
    full-cover warning) are recomputed over all configs, never taken from one share.
    """
    import pandas as pd

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import EvaluationResult
    from ximagenet12.evaluation.report import robustness_of

    report = dict(results[0].report)
    metric, task = report["metric"], report["task"]
    keys = [c["key"] for c in report["classes"]]
    spent = {c: max(r.report["scenarios"][c]["seconds"] or 0.0 for r in results if c in r.report["scenarios"])
             for c in configs if any(c in r.report["scenarios"] for r in results)}
    done = list(spent)
    _merge_records(report, results, configs, done)
    if report.get("training_rows"):  # each share counted the training rows it left out
        excluded: dict[str, int] = {}
        for r in results:
            for c, n in ((r.report.get("training_rows") or {}).get("excluded") or {}).items():
                excluded[c] = excluded.get(c, 0) + n
        report["training_rows"] = {**report["training_rows"], "excluded": excluded, "n_excluded": sum(excluded.values())}
    if not done:  # every share came back empty: the error a local run raises
        raise D.nothing_to_evaluate(report["data"], report["skipped_configs"])
    frames = [r.predictions[r.predictions["config"] == c] for c in done for r in results]
    predictions = pd.concat(frames, ignore_index=True)
    failures = [f for c in done for r in results for f in r.failures if f["config"] == c]
    log = D.RunLog(failures=failures, seconds=spent)
    scen = {c: _entry_function(task)(predictions, c, keys, log) for c in done}
    _whole_run_warnings(report, predictions)
    report.update(scenarios=scen, failures=failures, n_failed=len(failures), seconds=round(seconds, 3),
                  robustness=robustness_of(scen, metric=metric, config=robustness_config),
                  device=", ".join(sorted({str(r.report.get("device")) for r in results})), replicas=len(results))
    if "robustness_by_mode" in report:
        report["robustness_by_mode"] = {
            m: robustness_of({c: {**e["modes"][m], "n": e["n"]} for c, e in scen.items()}, metric=metric,
                             config=robustness_config)  # with n, as the local evaluator: μ tested against chance
            for m in report["robustness_by_mode"]
        }
    report.pop("corruptions", None)  # one share's summary covers its configs only: recomputed as the evaluator does
    if task == "classification" and any(c.startswith("corrupt_") for c in scen):
        from ximagenet12.scenarios.corruptions import corruption_summary

        report["corruptions"] = corruption_summary({c: e["accuracy"] for c, e in scen.items()})
    return EvaluationResult(report=report, predictions=predictions, failures=failures)


def _entry_function(task: str) -> Callable[..., dict]:
    """The evaluator's own per-config entry, so the merged numbers are computed as locally."""
    if task == "classification":
        from ximagenet12.evaluation.classification import _scenario_entry
    else:
        from ximagenet12.evaluation.segmentation import _scenario_entry
    return _scenario_entry


def _merge_records(report: dict, results: Sequence[Any], configs: Sequence[str], done: Sequence[str]) -> None:
    """Damaged shards, skipped configs, warnings and the interrupt flag of every share, each once.

    A config split over shares is skipped only when no share scored it; whole-run warnings
    are left to :func:`_whole_run_warnings`.
    """
    order = {c: i for i, c in enumerate(configs)}
    skipped: dict[str, dict] = {}
    for s in sorted((s for r in results for s in r.report.get("skipped_configs") or []),
                    key=lambda s: order.get(s["config"], len(order))):
        if s["config"] not in done:
            skipped.setdefault(s["config"], s)
    shards: dict[tuple[str, str], dict] = {}
    for b in (b for r in results for b in r.report.get("bad_shards") or []):
        shards.setdefault((b["config"], b["file"]), b)
    warnings: list[str] = []
    for w in (w for r in results for w in r.report.get("warnings") or []):
        stale = any(w.startswith(f"config {c!r} skipped: ") for c in done)
        if w not in warnings and not stale and not w.startswith(_FULL_COVER_PREFIX):
            warnings.append(w)
    report.update(skipped_configs=list(skipped.values()), warnings=warnings,
                  bad_shards=sorted(shards.values(), key=lambda b: order.get(b["config"], len(order))),
                  interrupted=any(r.report.get("interrupted") for r in results))
    report["n_bad_shards"] = len(report["bad_shards"])


def _whole_run_warnings(report: dict, predictions: Any) -> None:
    """A segmentation run's warning about the predicted object covering the image, over all rows."""
    from ximagenet12.evaluation.segmentation import full_cover_warning

    if report["task"] == "segmentation" and "predicted_fraction" in predictions:
        policy = _Described(report.get("object_labels") or {})
        cover = full_cover_warning(predictions["predicted_fraction"], policy)  # type: ignore[arg-type]
        if cover:
            report["warnings"].append(cover)


#: How the segmentation evaluator's whole-run warning begins (see ``full_cover_warning``).
_FULL_COVER_PREFIX = "the predicted object covers >= "


class _Described:
    """The one thing ``full_cover_warning`` asks of an object-label policy: its description."""

    def __init__(self, described: dict):
        self.described = described

    def describe(self) -> dict:
        return self.described


def _call(fn: Callable[[Any], Any], x: Any) -> Any:
    return fn(x)


def _ray_block(task: BlockTask, setup: WorkerSetup) -> BlockResult:
    """A Ray task: one OpenCV thread, since Ray already runs a task per CPU."""
    import cv2

    cv2.setNumThreads(1)
    return process_block(task, setup)
