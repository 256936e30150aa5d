"""The leaderboard worker: take a request, evaluate it on the published build, append the result.

:func:`run_worker` takes requests one at a time (:func:`~ximagenet12.leaderboard.submissions.claim`),
renews the lease from a background thread while the real evaluator runs
(:func:`~ximagenet12.evaluation.classification.evaluate_classification` with the request's
revision and precision), appends the report's row to the results repo with the request id
as idempotency key (:func:`~ximagenet12.leaderboard.results.push_entry`) and marks the
request FINISHED, or FAILED with the reason in one line. A worker that lost its lease (it
stalled past the lease and another worker took the request) changes nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ximagenet12.leaderboard.submissions import (
    LEASE_S,
    Request,
    RequestsRepo,
    _now,
    claim,
    finish,
    renew_lease,
    supported_tasks,
)

__all__ = ["run_worker", "process_request", "default_worker_id", "Outcome"]

logger = logging.getLogger(__name__)

#: Files of a model repo that tell what a row shows (architecture, card, processor, size).
_FACT_FILES = ["config.json", "preprocessor_config.json", "README.md", "*.safetensors"]


@dataclass
class Outcome:
    """What the worker did with one request."""

    request_id: str
    model: str
    status: str  # FINISHED, FAILED, or LOST (another worker holds it now)
    reason: str | None = None
    report_id: str | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class _Heartbeat:
    """Renews a lease every ``interval`` seconds until stopped; remembers when it was lost."""

    def __init__(self, repo: RequestsRepo, request: Request, *, worker: str, lease_s: float, interval: float,
                 now: Callable[[], float]) -> None:
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._args = (repo, request.request_id)
        self._kw = {"worker": worker, "lease_s": lease_s, "now": now}
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name=f"lease-{request.request_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not renew_lease(*self._args, **self._kw):
                    self.lost.set()
                    return
            except Exception as exc:  # a missed heartbeat is not fatal: the lease has slack
                logger.warning("request %s: lease renewal failed (%s: %s)", self._args[1], type(exc).__name__, exc)

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _model_files(request: Request, token: str | None) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(request.model, revision=request.revision, allow_patterns=_FACT_FILES,
                                      token=token))
    except Exception as exc:  # facts stay unknown, loudly
        logger.warning("model %s: its config and card could not be read (%s); the row's facts stay unknown",
                       request.model, type(exc).__name__)
        return None


def _build_folder(data: str, token: str | None) -> str:
    """Where the build's build_info.json can be read: the folder, or a download of the Hub repo's."""
    if os.path.isdir(data):
        return data
    from huggingface_hub import hf_hub_download

    try:
        return str(Path(hf_hub_download(data, "build_info.json", repo_type="dataset", token=token)).parent)
    except Exception as exc:
        logger.warning("data %s: no build_info.json read (%s); source split unknown", data, type(exc).__name__)
        return data


def _row_fields(request: Request, data: str, token: str | None) -> dict:
    from ximagenet12.leaderboard.provenance import _safetensors_params, model_facts, source_split_of

    folder = _model_files(request, token)
    facts = model_facts(folder) if folder is not None else model_facts(request.model)
    fields = {"request_id": request.request_id, "submitter": request.submitter, "precision": request.precision,
              "model_revision": request.revision, **facts, "source_split": source_split_of(_build_folder(data, token))}
    if folder is not None:
        params = _safetensors_params(sorted(folder.glob("*.safetensors")))
        if params is not None:
            fields["model_params"] = params
        config = folder / "config.json"
        if config.is_file():
            import json

            fields["model_family"] = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    return fields


def _evaluate(request: Request, data: str, folder: Path, *, options: dict) -> Path:
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import write_report

    result = evaluate_classification(request.model, data, revision=request.revision, dtype=request.precision,
                                     progress=False, **options)
    return write_report(result, folder)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


def process_request(repo: RequestsRepo, request: Request, *, results: str, data: str, worker: str,
                    lease_s: float = LEASE_S, heartbeat_s: float | None = None, token: str | None = None,
                    options: dict | None = None, now: Callable[[], float] = _now) -> Outcome:
    """Evaluate one RUNNING request held by ``worker`` and record the outcome (see the module doc)."""
    from ximagenet12.leaderboard.results import _existing_rows, push_entry, report_entry

    def done(status: str, reason: str | None = None, report_id: str | None = None) -> Outcome:
        kept = finish(repo, request.request_id, worker=worker, status=status, reason=reason, report_id=report_id,
                      now=now)
        if not kept:
            logger.warning("request %s: worker %s lost its lease; another worker holds it", request.request_id, worker)
            return Outcome(request.request_id, request.model, "LOST", reason)
        return Outcome(request.request_id, request.model, status, reason, report_id)

    if request.task not in supported_tasks():
        return done("FAILED", f"task {request.task!r} is not run by this worker's evaluator "
                              f"(it runs {', '.join(supported_tasks())})")
    already = [r for r in _existing_rows(results, token=token) if r.get("request_id") == request.request_id]
    if already:  # a worker appended it and died before marking the request
        return done("FINISHED", "the results repo already held this request's row", already[0]["report_id"])
    interval = heartbeat_s if heartbeat_s is not None else lease_s / 4
    with tempfile.TemporaryDirectory(prefix="ximagenet12-worker-") as tmp, \
            _Heartbeat(repo, request, worker=worker, lease_s=lease_s, interval=interval, now=now) as beat:
        try:
            folder = _evaluate(request, data, Path(tmp) / "report", options=options or {})
            entry = report_entry(folder, data=data)
            entry.row.update(_row_fields(request, data, token))
        except Exception as exc:  # the model does not load, the data does not read: FAILED with the reason
            logger.warning("request %s (%s) failed: %s", request.request_id, request.model, _one_line(exc))
            return done("FAILED", _one_line(exc))
        if beat.lost.is_set():
            return Outcome(request.request_id, request.model, "LOST", "lease taken over during the evaluation")
        push_entry(entry, results, token=token)  # appended once per request id, whoever gets there first
    return done("FINISHED", None, entry.row["report_id"])


def run_worker(requests: str, results: str, *, data: str, worker: str | None = None, lease_s: float = LEASE_S,
               heartbeat_s: float | None = None, max_requests: int | None = None, token: str | None = None,
               options: dict | None = None, now: Callable[[], float] = _now,
               on_claim: Callable[[Request], None] | None = None) -> list[Outcome]:
    """Take and evaluate requests from ``requests`` until none is left (or ``max_requests`` were taken).

    ``options`` go to the evaluator (``scenarios``, ``device``, ``num_workers``, ``limit``,
    ``batch_size``). Returns what happened to each request taken.
    """
    if max_requests is not None and max_requests < 1:
        raise ValueError(f"max_requests must be at least 1, got {max_requests}")
    if lease_s <= 0:
        raise ValueError(f"lease must be positive, got {lease_s}")
    worker = worker or default_worker_id()
    repo = RequestsRepo(requests, token=token)
    outcomes: list[Outcome] = []
    while max_requests is None or len(outcomes) < max_requests:
        request = claim(repo, worker=worker, lease_s=lease_s, now=now)
        if request is None:
            break
        logger.info("worker %s took request %s (%s@%s)", worker, request.request_id, request.model,
                    request.revision[:12])
        if on_claim is not None:
            on_claim(request)
        outcomes.append(process_request(repo, request, results=results, data=data, worker=worker, lease_s=lease_s,
                                        heartbeat_s=heartbeat_s, token=token, options=options, now=now))
    return outcomes


def summary_lines(outcomes: Sequence[Outcome]) -> list[str]:
    """One line per request taken, for the CLI."""
    out = []
    for o in outcomes:
        tail = f": {o.reason}" if o.reason else ""
        report = f" (report {o.report_id})" if o.report_id else ""
        out.append(f"{o.request_id} {o.model}: {o.status}{report}{tail}")
    return out
