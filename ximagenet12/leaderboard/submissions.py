"""Submissions: the requests queue that lets anyone put a model on the leaderboard.

A requests repo is a Hub dataset repo::

    README.md                      card; its metadata marks the repo (``ximagenet12_requests: 1``)
    requests/<request_id>.json     one request: what to evaluate, its status and its history
    flagged.json                   optional, kept by the maintainers: {model id: reason} never evaluated

:func:`submit` checks a request (:data:`SUBMIT_RULES`: the model exists at that revision,
has a card and a licence, is not evaluated or queued already, is not flagged, and the
submitter is under the rate limit) and writes it with status ``PENDING``. Workers
(:mod:`ximagenet12.leaderboard.worker`) move it to ``RUNNING``, then ``FINISHED`` or
``FAILED`` (with the reason).

Every change of a request is one commit based on the head commit that was read
(``parent_commit``): when two workers race for one request, the Hub accepts exactly one
``PENDING → RUNNING`` commit and answers the other 412, and that worker reads the queue
again and finds the request taken. A ``RUNNING`` request carries a lease (worker id,
heartbeat time, expiry); the worker renews it while it evaluates. A killed worker stops
renewing, and once the lease expires the request can be taken again, at most
:data:`MAX_ATTEMPTS` times; a worker whose lease was taken over may no longer change the
request. The request id is a digest of (model, revision, task, precision), and it is the
results row's idempotency key: a result is appended once however often it is evaluated.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import random
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Literal

__all__ = [
    "Request",
    "RequestsRepo",
    "SubmissionRefused",
    "submit",
    "claim",
    "renew_lease",
    "finish",
    "read_requests",
    "request_id_of",
    "supported_tasks",
    "REQUESTS_SCHEMA_NAME",
    "REQUESTS_SCHEMA_VERSION",
    "STATUSES",
    "TASKS",
    "PRECISIONS",
    "RATE_LIMIT",
    "RATE_WINDOW_S",
    "LEASE_S",
    "MAX_ATTEMPTS",
    "SUBMIT_RULES",
]

logger = logging.getLogger(__name__)

#: Card metadata key that marks a requests repo, and the version of its layout.
REQUESTS_SCHEMA_NAME = "ximagenet12_requests"
REQUESTS_SCHEMA_VERSION = 1
REQUESTS_DIR = "requests"
FLAGGED_FILE = "flagged.json"
Status = Literal["PENDING", "RUNNING", "FINISHED", "FAILED"]
STATUSES: tuple[str, ...] = ("PENDING", "RUNNING", "FINISHED", "FAILED")
#: What a request may ask for. ``zero-shot`` is part of the request format; whether this install
#: runs it is :func:`supported_tasks`.
TASKS: tuple[str, ...] = ("image-classification", "zero-shot")
#: Weights' precision the evaluator runs a model in (its ``dtype``).
PRECISIONS: tuple[str, ...] = ("float32", "float16", "bfloat16")
#: A submitter may file this many requests per window (failed ones count too: they cost a worker).
RATE_LIMIT = 5
RATE_WINDOW_S = 7 * 24 * 3600
#: A RUNNING request's lease: a worker that has not renewed it for this long is taken for dead.
LEASE_S = 600.0
#: Times a request is taken (the first run plus re-takes after a worker died) before it is FAILED.
MAX_ATTEMPTS = 3
#: Times a state change is re-read and retried when another commit landed in between.
COMMIT_ATTEMPTS = 8


class SubmissionRefused(ValueError):
    """A request failed a check; the message is the one line the submitter sees."""


def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="seconds")


def _epoch(text: str) -> float:
    return _dt.datetime.fromisoformat(text).timestamp()


def supported_tasks() -> tuple[str, ...]:
    """The request tasks this install's evaluator runs (the others are refused with one line)."""
    return ("image-classification",)


def request_id_of(model: str, revision: str, task: str, precision: str) -> str:
    """The request's id: one per (model, resolved revision, task, precision)."""
    text = json.dumps([model, revision, task, precision])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Request:
    """One request file. ``lease`` is set while RUNNING: ``{worker, heartbeat_at, expires_at}``."""

    request_id: str
    model: str
    revision: str
    task: str
    precision: str
    submitter: str
    submitted_at: str
    status: str = "PENDING"
    updated_at: str = ""
    reason: str | None = None
    attempts: int = 0
    lease: dict | None = None
    report_id: str | None = None
    history: list[dict] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"{REQUESTS_DIR}/{self.request_id}.json"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: str) -> "Request":
        try:
            data = json.loads(text)
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            request = cls(**fields)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where} is not a request file: {exc}") from None
        if request.status not in STATUSES:
            raise ValueError(f"{where}: unknown status {request.status!r} (expected {', '.join(STATUSES)})")
        return request

    def moved(self, status: str, *, at: float, worker: str | None = None, reason: str | None = None,
              lease: dict | None = None, **changes) -> "Request":
        """A copy in ``status`` with the change recorded in its history."""
        entry = {"status": status, "at": _iso(at)}
        if worker is not None:
            entry["worker"] = worker
        if reason is not None:
            entry["reason"] = reason
        return replace(self, status=status, updated_at=_iso(at), reason=reason, lease=lease,
                       history=[*self.history, entry], **changes)

    def lease_expired(self, now: float) -> bool:
        return self.status == "RUNNING" and (not self.lease or _epoch(self.lease["expires_at"]) <= now)


def _card(repo_id: str) -> str:
    import yaml

    meta = {"license": "cc-by-4.0", "pretty_name": "XImageNet-12 leaderboard requests",
            REQUESTS_SCHEMA_NAME: REQUESTS_SCHEMA_VERSION}
    body = (
        "# XImageNet-12 leaderboard requests\n\n"
        f"One JSON file per request under `{REQUESTS_DIR}/`, written by `ximagenet12 submit MODEL --leaderboard "
        f"{repo_id}` (or the leaderboard Space's form) and moved PENDING → RUNNING → FINISHED / FAILED by "
        "`ximagenet12 leaderboard worker`. Each change is one commit; a RUNNING request carries its worker's lease. "
        f"`{FLAGGED_FILE}` ({{model id: reason}}) lists models the maintainers do not evaluate.\n"
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body


class RequestsRepo:
    """A requests repo on the Hub: read at a commit, change one request per commit."""

    def __init__(self, repo_id: str, *, token: str | None = None) -> None:
        from huggingface_hub import HfApi

        from ximagenet12.hub.publish import _check_repo_id

        _check_repo_id(repo_id)
        self.repo_id = repo_id
        self.token = token
        self.api = HfApi(token=token)

    def head(self) -> tuple[str, list[str]]:
        """``(head commit, files)`` of the repo; one line when it is missing or not a requests repo."""
        try:
            info = self.api.repo_info(self.repo_id, repo_type="dataset", files_metadata=False)
        except Exception as exc:  # the Hub client raises many types; make it one clear line
            raise ValueError(f"cannot read requests repo {self.repo_id!r}: {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
        return info.sha, [s.rfilename for s in info.siblings or []]

    def create(self, *, private: bool = False) -> str:
        """Create the repo with its card when missing; returns the head commit."""
        from huggingface_hub import CommitOperationAdd

        self.api.create_repo(self.repo_id, repo_type="dataset", private=private, exist_ok=True)
        sha, files = self.head()
        if "README.md" in files:
            self._check_card(sha)
            return sha
        operation = CommitOperationAdd("README.md", _card(self.repo_id).encode())
        return self._commit([operation], parent=sha, message="Create the requests repo")

    def _download(self, path: str, sha: str) -> str:
        from huggingface_hub import hf_hub_download

        local = hf_hub_download(self.repo_id, path, repo_type="dataset", revision=sha, token=self.token)
        with open(local, encoding="utf-8") as fh:
            return fh.read()

    def _check_card(self, sha: str) -> None:
        from ximagenet12.hub.validate import read_card_metadata

        with tempfile.TemporaryDirectory() as tmp:
            card = os.path.join(tmp, "README.md")
            with open(card, "w", encoding="utf-8") as fh:
                fh.write(self._download("README.md", sha))
            try:
                meta = read_card_metadata(card)
            except ValueError as exc:
                raise ValueError(f"{self.repo_id!r} is not a ximagenet12 requests repo: {exc}") from None
        version = meta.get(REQUESTS_SCHEMA_NAME)
        if version is None:
            raise ValueError(f"{self.repo_id!r} is not a ximagenet12 requests repo: its card has no "
                             f"`{REQUESTS_SCHEMA_NAME}:` version")
        if version != REQUESTS_SCHEMA_VERSION:
            raise ValueError(f"{self.repo_id!r} holds requests v{version}; this ximagenet12 reads "
                             f"v{REQUESTS_SCHEMA_VERSION}")

    def read(self, sha: str, files: list[str]) -> dict[str, Request]:
        """Every request at commit ``sha`` (a foreign repo is refused with one line)."""
        if "README.md" not in files:
            raise ValueError(f"{self.repo_id!r} is not a ximagenet12 requests repo: no README.md card "
                             f"(create one with `ximagenet12 submit ... --leaderboard {self.repo_id}`)")
        self._check_card(sha)
        out = {}
        for path in sorted(f for f in files if f.startswith(REQUESTS_DIR + "/") and f.endswith(".json")):
            request = Request.from_json(self._download(path, sha), where=f"{self.repo_id}/{path}")
            out[request.request_id] = request
        return out

    def flagged(self, files: list[str], sha: str) -> dict[str, str]:
        if FLAGGED_FILE not in files:
            return {}
        try:
            data = json.loads(self._download(FLAGGED_FILE, sha))
        except ValueError as exc:
            raise ValueError(f"{self.repo_id}/{FLAGGED_FILE} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{self.repo_id}/{FLAGGED_FILE} must map model ids to reasons, got {type(data).__name__}")
        return {str(k): str(v) for k, v in data.items()}

    def _commit(self, operations: list, *, parent: str, message: str) -> str:
        from huggingface_hub.errors import HfHubHTTPError

        from ximagenet12.hub.publish import ConcurrentCommitError

        try:
            info = self.api.create_commit(self.repo_id, operations, commit_message=message, repo_type="dataset",
                                          parent_commit=parent)
        except HfHubHTTPError as exc:
            if getattr(exc.response, "status_code", None) == 412:
                raise ConcurrentCommitError(f"requests repo {self.repo_id} moved past {parent[:12]}") from None
            raise ValueError(f"cannot write to requests repo {self.repo_id!r}: {str(exc).splitlines()[0]}") from None
        return info.oid

    def write(self, request: Request, *, parent: str, message: str) -> str:
        """Commit ``request`` on top of ``parent``; ``ConcurrentCommitError`` when the repo moved."""
        from huggingface_hub import CommitOperationAdd

        return self._commit([CommitOperationAdd(request.path, request.to_json().encode())], parent=parent,
                            message=message)


def read_requests(repo_id: str, *, token: str | None = None) -> list[Request]:
    """Every request of ``repo_id`` at its head, oldest submission first."""
    repo = RequestsRepo(repo_id, token=token)
    sha, files = repo.head()
    return sorted(repo.read(sha, files).values(), key=lambda r: (r.submitted_at, r.request_id))


def _jitter(attempt: int) -> None:
    time.sleep(random.SystemRandom().uniform(0.02, 0.2) * attempt)  # so racing writers part


def _change(repo: RequestsRepo, request_id: str, change: Callable[[Request], Request | None], message: str
            ) -> Request | None:
    """Apply ``change`` to the request at the head and commit it; re-read on 412. ``change`` returns
    None when the request (as now read) must not be changed; then nothing is committed."""
    from ximagenet12.hub.publish import ConcurrentCommitError

    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        sha, files = repo.head()
        current = repo.read(sha, files).get(request_id)
        if current is None:
            raise ValueError(f"requests repo {repo.repo_id} has no request {request_id}")
        new = change(current)
        if new is None:
            return None
        try:
            repo.write(new, parent=sha, message=message)
            return new
        except ConcurrentCommitError:
            logger.info("request %s: the requests repo moved (attempt %d); reading it again", request_id, attempt)
            _jitter(attempt)
    raise ValueError(f"requests repo {repo.repo_id} kept moving: could not change request {request_id} "
                     f"in {COMMIT_ATTEMPTS} attempts")


# --------------------------------------------------------------------------- submit
@dataclass
class _Submission:
    """What a submit check sees."""

    model: str
    revision: str
    task: str
    precision: str
    submitter: str
    info: object  # huggingface_hub ModelInfo at the resolved revision
    requests: dict[str, Request]
    flagged: dict[str, str]
    evaluated: set[tuple[str, str]]
    now: float
    rate_limit: int
    rate_window_s: float


def _has_card(s: _Submission) -> str | None:
    files = {x.rfilename for x in s.info.siblings or []}
    if "README.md" not in files:
        return f"model {s.model} at {s.revision[:12]} has no model card (README.md): say what it is and how it was trained"
    return None


def _licence(info) -> str | None:
    card = getattr(info, "card_data", None)
    value = card.get("license") if card is not None else None
    if not value:
        value = next((t.split(":", 1)[1] for t in info.tags or [] if t.startswith("license:")), None)
    return value


def _has_licence(s: _Submission) -> str | None:
    if not _licence(s.info):
        return (f"model {s.model} at {s.revision[:12]} declares no licence: add `license:` to its card's metadata "
                "so others may use the results")
    return None


def _not_flagged(s: _Submission) -> str | None:
    reason = s.flagged.get(s.model)
    return None if reason is None else f"model {s.model} is on the leaderboard's flagged list: {reason}"


def _not_done(s: _Submission) -> str | None:
    rid = request_id_of(s.model, s.revision, s.task, s.precision)
    existing = s.requests.get(rid)
    if existing is not None and existing.status != "FAILED":
        return (f"model {s.model} at {s.revision[:12]} ({s.task}, {s.precision}) is already {existing.status} "
                f"(request {rid}, submitted {existing.submitted_at} by {existing.submitter})")
    if (s.model, s.revision) in s.evaluated:
        return f"model {s.model} at {s.revision[:12]} is already on the leaderboard (its results repo has that revision)"
    return None


def _under_rate_limit(s: _Submission) -> str | None:
    since = s.now - s.rate_window_s
    recent = [r for r in s.requests.values() if r.submitter == s.submitter and _epoch(r.submitted_at) > since]
    if len(recent) >= s.rate_limit:
        first = min(_epoch(r.submitted_at) for r in recent)
        return (f"submitter {s.submitter} filed {len(recent)} requests in the last {s.rate_window_s / 86400:g} day(s) "
                f"(limit {s.rate_limit}); the next one is accepted after {_iso(first + s.rate_window_s)}")
    return None


#: The checks a request passes before it is written, in order: (name, check → refusal line or None).
SUBMIT_RULES: tuple[tuple[str, Callable[[_Submission], str | None]], ...] = (
    ("card", _has_card),
    ("licence", _has_licence),
    ("flagged", _not_flagged),
    ("not already evaluated", _not_done),
    ("rate limit", _under_rate_limit),
)


def _model_info(model: str, revision: str | None, token: str | None):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return HfApi(token=token).model_info(model, revision=revision)
    except RevisionNotFoundError:
        raise SubmissionRefused(f"model {model} has no revision {revision!r} on the Hub") from None
    except RepositoryNotFoundError:
        raise SubmissionRefused(f"model {model} does not exist on the Hub (or is private to you)") from None
    except Exception as exc:  # offline, refused: one line
        raise ValueError(f"cannot look up model {model!r}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _evaluated(results: str | None, token: str | None) -> set[tuple[str, str]]:
    if results is None:
        return set()
    from ximagenet12.leaderboard.results import _existing_rows

    return {(r["model"], r["model_revision"]) for r in _existing_rows(results, token=token)}


def _submitter(submitter: str | None, token: str | None) -> str:
    if submitter is not None:
        if not submitter.strip() or "/" in submitter:
            raise SubmissionRefused(f"submitter must be a Hub user name, got {submitter!r}")
        return submitter.strip()
    from huggingface_hub import HfApi

    try:
        return HfApi(token=token).whoami()["name"]
    except Exception as exc:
        raise SubmissionRefused(f"cannot tell who submits: log in to the Hub (HF_TOKEN or `hf auth login`) "
                                f"({type(exc).__name__})") from None


def submit(model: str, leaderboard: str, *, revision: str | None = None, task: str = "image-classification",
           precision: str = "float32", submitter: str | None = None, results: str | None = None,
           token: str | None = None, rate_limit: int = RATE_LIMIT, rate_window_s: float = RATE_WINDOW_S,
           now: Callable[[], float] = _now) -> Request:
    """Check and file a request to evaluate ``model`` (a Hub model id) in the requests repo ``leaderboard``.

    ``revision`` (branch, tag or commit; default the main branch) is resolved to its commit,
    which the request records. ``submitter`` defaults to the Hub user of ``token``;
    ``results`` is the results repo, consulted so a revision already on the leaderboard is
    refused. Raises :class:`SubmissionRefused` (one line) when a check fails.
    """
    from ximagenet12.hub.publish import ConcurrentCommitError, _check_repo_id

    if task not in TASKS:
        raise SubmissionRefused(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task not in supported_tasks():
        raise SubmissionRefused(f"task {task!r} is not run by this leaderboard's evaluator yet "
                                f"(it runs {', '.join(supported_tasks())})")
    if precision not in PRECISIONS:
        raise SubmissionRefused(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if os.path.exists(os.path.expanduser(model)) or model.count("/") != 1 or model.startswith((".", "/", "~")):
        raise SubmissionRefused(f"model {model!r} is not a Hub model id 'owner/name': a worker can only "
                                "evaluate what it can download")
    _check_repo_id(leaderboard)
    who = _submitter(submitter, token)
    info = _model_info(model, revision, token)
    repo = RequestsRepo(leaderboard, token=token)
    repo.create()
    evaluated = _evaluated(results, token)
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        sha, files = repo.head()
        state = _Submission(model=model, revision=info.sha, task=task, precision=precision, submitter=who, info=info,
                            requests=repo.read(sha, files), flagged=repo.flagged(files, sha), evaluated=evaluated,
                            now=now(), rate_limit=rate_limit, rate_window_s=rate_window_s)
        for _, rule in SUBMIT_RULES:
            refusal = rule(state)
            if refusal is not None:
                raise SubmissionRefused(refusal)
        at = state.now
        request = Request(request_id=request_id_of(model, info.sha, task, precision), model=model, revision=info.sha,
                          task=task, precision=precision, submitter=who, submitted_at=_iso(at))
        request = request.moved("PENDING", at=at, reason=None)
        try:
            repo.write(request, parent=sha, message=f"Request {model}@{info.sha[:12]} ({task}, {precision})")
            return request
        except ConcurrentCommitError:
            _jitter(attempt)
    raise ValueError(f"requests repo {leaderboard} kept moving: the request was not filed; submit again")


# --------------------------------------------------------------------------- workers
def _lease(worker: str, at: float, lease_s: float) -> dict:
    return {"worker": worker, "heartbeat_at": _iso(at), "expires_at": _iso(at + lease_s)}


def _takeable(request: Request, now: float) -> bool:
    return request.status == "PENDING" or request.lease_expired(now)


def claim(repo: RequestsRepo, *, worker: str, lease_s: float = LEASE_S, now: Callable[[], float] = _now
          ) -> Request | None:
    """Take the oldest PENDING request (or a RUNNING one whose lease expired) for ``worker``.

    The ``→ RUNNING`` change is a commit on the head that was read, so of two workers racing
    for one request exactly one gets it. A request already taken :data:`MAX_ATTEMPTS` times
    is marked FAILED instead. Returns None when nothing is left to take.
    """
    from ximagenet12.hub.publish import ConcurrentCommitError

    for attempt in range(1, COMMIT_ATTEMPTS * 4 + 1):
        sha, files = repo.head()
        t = now()
        queue = sorted((r for r in repo.read(sha, files).values() if _takeable(r, t)),
                       key=lambda r: (r.status != "PENDING", r.submitted_at, r.request_id))
        if not queue:
            return None
        current = queue[0]
        if current.attempts >= MAX_ATTEMPTS:
            new = current.moved("FAILED", at=t, worker=worker, reason=(
                f"taken {current.attempts} times and never finished (worker died or lost its lease each time)"))
            message = f"FAILED {current.request_id}"
        else:
            dead = current.lease["worker"] if current.status == "RUNNING" and current.lease else None
            new = current.moved("RUNNING", at=t, worker=worker, lease=_lease(worker, t, lease_s),
                                reason=None if dead is None else f"re-taken: the lease of worker {dead} expired",
                                attempts=current.attempts + 1)
            message = f"RUNNING {current.request_id} ({worker})"
        try:
            repo.write(new, parent=sha, message=message)
        except ConcurrentCommitError:
            _jitter(min(attempt, 4))
            continue
        if new.status == "RUNNING":
            return new
    raise ValueError(f"requests repo {repo.repo_id} kept moving: no request could be taken")


def _holds(request: Request, worker: str) -> bool:
    return request.status == "RUNNING" and bool(request.lease) and request.lease["worker"] == worker


def renew_lease(repo: RequestsRepo, request_id: str, *, worker: str, lease_s: float = LEASE_S,
                now: Callable[[], float] = _now) -> bool:
    """Renew ``worker``'s lease on a RUNNING request; False when the worker no longer holds it."""
    def change(current: Request) -> Request | None:
        if not _holds(current, worker):
            return None
        t = now()
        return replace(current, lease=_lease(worker, t, lease_s), updated_at=_iso(t))

    return _change(repo, request_id, change, f"heartbeat {request_id} ({worker})") is not None


def finish(repo: RequestsRepo, request_id: str, *, worker: str, status: Literal["FINISHED", "FAILED"],
           reason: str | None = None, report_id: str | None = None, now: Callable[[], float] = _now) -> bool:
    """Mark ``worker``'s RUNNING request FINISHED or FAILED (``reason``: one line); False when the
    worker lost the request (its lease was taken over), in which case nothing is changed."""
    if status not in ("FINISHED", "FAILED"):
        raise ValueError(f"a request finishes FINISHED or FAILED, not {status!r}")

    def change(current: Request) -> Request | None:
        if not _holds(current, worker):
            return None
        return current.moved(status, at=now(), worker=worker, reason=reason,
                             report_id=report_id if report_id is not None else current.report_id)

    return _change(repo, request_id, change, f"{status} {request_id} ({worker})") is not None
