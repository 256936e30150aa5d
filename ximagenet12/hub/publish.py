"""Publish a built dataset folder and the robustness metric to the Hugging Face Hub.

:func:`push` holds an exclusive lock on the folder (no build may write it meanwhile),
validates it (:mod:`ximagenet12.hub.validate`: an allow-list of what a dataset repo is
made of, no links, the card, the parquet layout) and refuses it with every problem
listed before a single request is made. Online it then runs the Hub's own card check
(``DatasetCard.validate``), creates the dataset repo if needed and uploads:

- **pipelined path** (``huggingface_hub`` >= 1.20 with ``hf_xet``, what the real Hub
  takes by default): ``HfApi.upload_folder`` restricted to the validated data files,
  which streams, splits large folders into several commits and resumes an interrupted
  upload when rerun; then the card in a commit of its own;
- **batched path** (no ``hf_xet``, or ``HF_HUB_DISABLE_XET=1``, where ``upload_folder``
  makes one single commit): commits of at most ``commit_batch_size`` files through
  ``create_commit``, skipping files the repo already holds with the same content, the
  card last. This is the path the loopback tests exercise.

Either way a push that was interrupted is resumed by running it again, and the card
(``README.md``) comes last, so the viewer only sees the configs once their data is there.

:func:`push_metric` publishes the ``evaluate`` module ``metrics/robustness_score`` as a
Gradio Space, the form ``evaluate.load("owner/robustness_score")`` reads.

Tokens are resolved by ``huggingface_hub`` (``token=`` argument, then ``HF_TOKEN``, then
the stored login). Every token from any of those sources, and anything shaped like a Hub
token, is masked (``***``) in every message this module raises and in every log record
emitted while it runs (:func:`mask_tokens`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator, Literal

from ximagenet12.hub.validate import check_regular_file, format_problems, read_card_metadata, upload_paths, validate_folder
from ximagenet12.io.locking import FolderInUseError, folder_lock

__all__ = [
    "push",
    "push_metric",
    "space_card_problems",
    "mask_tokens",
    "pipelined_upload_available",
    "PushSummary",
    "PushError",
    "ConcurrentCommitError",
    "FolderInUseError",
    "COMMIT_BATCH_SIZE",
    "METRIC_NAME",
    "METRIC_REQUIRED_FILES",
    "SPACE_SDK",
]

logger = logging.getLogger(__name__)

#: The Hub asks for at most ~100 files per commit (large commits time out server-side).
COMMIT_BATCH_SIZE = 100
#: Name of the metric module folder (and of the Space ``evaluate.load`` expects).
METRIC_NAME = "robustness_score"
#: Files an ``evaluate`` metric Space needs (``{name}.py`` is added per metric).
METRIC_REQUIRED_FILES: tuple[str, ...] = ("README.md", "app.py", "requirements.txt")
#: ``evaluate`` metric Spaces are Gradio apps.
SPACE_SDK = "gradio"
_CARD = "README.md"
_NEVER_PUBLISHED_METRIC_FILES = frozenset({"__init__.py"})
_METRIC_SUFFIXES = frozenset({".py", ".md", ".txt"})
_HASH_CHUNK = 8 * 1024 * 1024
#: First huggingface_hub release whose ``upload_folder`` splits and resumes (with hf_xet).
_PIPELINED_UPLOAD_SINCE = (1, 20)
#: Hub user tokens are ``hf_`` and 30-odd letters and digits; masked wherever they appear.
_TOKEN_SHAPE = re.compile(r"\bhf_[A-Za-z0-9]{16,}")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_MASK = "***"


class PushError(RuntimeError):
    """The Hub refused or dropped a request; rerunning the same push resumes it."""


class ConcurrentCommitError(PushError):
    """The branch moved past the ``parent_commit`` a push was based on (HTTP 412): someone
    else committed in between. Nothing of this push was committed; re-read and retry."""


@dataclass
class PushSummary:
    """What a push did: files uploaded and skipped, commits made, the upload path taken."""

    repo_id: str
    repo_type: str
    revision: str
    url: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    path: Literal["batched", "pipelined"] = "batched"  # which upload path ran (see the module docstring)
    deleted: list[str] = field(default_factory=list)  # push-model: another model's files the commit removed


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str = "main",
    token: str | None = None,
    commit_batch_size: int = COMMIT_BATCH_SIZE,
    parent_commit: str | None = None,
) -> PushSummary:
    """Upload a built dataset folder to the dataset repo ``repo_id``.

    Raises ValueError listing every problem :func:`validate_folder` finds (nothing is
    sent then), :class:`FolderInUseError` while a build or another push holds the
    folder, and :class:`PushError` when the Hub fails part-way (rerun to resume).

    ``parent_commit`` (the commit the folder's content was derived from) makes the push
    one all-or-nothing commit that the Hub refuses, with :class:`ConcurrentCommitError`,
    when the branch has moved since: the read-modify-write guard of a repo that several
    writers append to (the results repo of ``evaluate --push-results``).
    """
    root = Path(folder)
    _check_repo_id(repo_id)
    if not 1 <= commit_batch_size <= 1000:
        raise ValueError(f"commit_batch_size must be between 1 and 1000, got {commit_batch_size}")
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist or is not a directory")
    secrets = _known_tokens(token)
    with _push_lock(root), _masked_logs(secrets):
        problems = validate_folder(root)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise ValueError(mask_tokens(
                f"{root} cannot be pushed to {repo_id}: {len(errors)} problem(s) the Hub would refuse:\n"
                + format_problems(problems), secrets))
        for problem in problems:
            logger.warning("%s", problem)
        paths = upload_paths(root)
        return _upload(root, paths, repo_id, "dataset", private=private, revision=revision, token=token,
                       commit_batch_size=commit_batch_size, space_sdk=None, secrets=secrets,
                       parent_commit=parent_commit)


def push_metric(
    repo_id: str,
    *,
    source: str | Path | None = None,
    private: bool = False,
    token: str | None = None,
) -> PushSummary:
    """Publish the metric module folder as a Gradio Space ``repo_id``.

    ``source`` defaults to the installed ``ximagenet12.metrics/robustness_score``. The
    repo name must equal the metric name: ``evaluate.load("owner/x")`` loads ``x.py``.
    Only the metric's own files are sent (script, card, ``app.py``, ``requirements.txt``).
    """
    _check_repo_id(repo_id)
    folder = Path(source) if source is not None else Path(str(resources.files("ximagenet12.metrics") / METRIC_NAME))
    if not folder.is_dir():
        raise FileNotFoundError(f"metric folder {folder} does not exist")
    name = folder.name
    script = f"{name}.py"
    repo_name = repo_id.split("/")[-1]
    problems = []
    if repo_name != name:
        problems.append(
            f"the Space must be named {name!r} (evaluate.load('owner/{repo_name}') looks for {repo_name}.py), "
            f"got {repo_id!r}"
        )
    for required in (script, *METRIC_REQUIRED_FILES):
        if not (folder / required).is_file():
            problems.append(f"{folder / required} is missing")
    paths = _metric_paths(folder, problems)
    if (folder / _CARD).is_file():
        problems += space_card_problems(folder / _CARD)
    if problems:
        raise ValueError(f"metric folder {folder} cannot be pushed to {repo_id}:\n" + "\n".join(f"  - {p}" for p in problems))
    secrets = _known_tokens(token)
    with _masked_logs(secrets):
        return _upload(folder, sorted(paths), repo_id, "space", private=private, revision="main", token=token,
                       commit_batch_size=COMMIT_BATCH_SIZE, space_sdk=SPACE_SDK, secrets=secrets)


def _metric_paths(folder: Path, problems: list[str]) -> list[str]:
    """The metric Space's files: top-level modules (the script imports its siblings), card, app, requirements.

    Links are refused; other files (``__init__.py``, caches, hidden files) are not sent and are logged.
    """
    paths = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_symlink():
            problems.append(f"{path}: symbolic link; links are never published")
        elif path.is_file() and not name.startswith(".") and name not in _NEVER_PUBLISHED_METRIC_FILES and (
            path.suffix in _METRIC_SUFFIXES
        ):
            paths.append(name)
        else:
            logger.info("%s: not part of the metric Space, not sent", path)
    return paths


def mask_tokens(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with every secret, every Hub-shaped token and every bearer credential replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, _MASK)
    text = _BEARER.sub(lambda m: m.group(1) + _MASK, text)
    return _TOKEN_SHAPE.sub(_MASK, text)


def space_card_problems(card: Path) -> list[str]:
    """What a Gradio Space card lacks: readable front matter, ``sdk: gradio``, ``app_file: app.py``."""
    try:
        meta = read_card_metadata(card)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    if meta.get("sdk") != SPACE_SDK:
        problems.append(f"{card}: the Space card needs `sdk: {SPACE_SDK}`, got {meta.get('sdk')!r}")
    if meta.get("app_file", "app.py") != "app.py":
        problems.append(f"{card}: `app_file` must be app.py, got {meta.get('app_file')!r}")
    return problems


# --------------------------------------------------------------------------- internals


def _check_repo_id(repo_id: str) -> None:
    """``owner/name`` by ``huggingface_hub``'s own validator (:func:`ximagenet12.hub.validate.check_repo_id`)."""
    from ximagenet12.hub.validate import check_repo_id

    check_repo_id(repo_id)


@contextlib.contextmanager
def _push_lock(root: Path) -> Iterator[None]:
    """The folder lock (:mod:`ximagenet12.io.locking`) for the push; none needed on a read-only folder."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(root, purpose="push"))
        except PermissionError:  # nobody can build into it either
            logger.info("%s is read-only: pushed without a lock", root)
        yield


def _known_tokens(token: str | None) -> list[str]:
    """Every token this process could send: the argument, the environment, the stored logins."""
    found = {token, os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")}
    try:
        from huggingface_hub import get_token

        found.add(get_token())
    except Exception:  # an OIDC or keyring failure is the upload's to report, not the masking's
        pass
    try:
        from huggingface_hub.utils import get_stored_tokens  # huggingface_hub >= 0.25

        found.update(get_stored_tokens().values())
    except Exception:
        pass
    # longest first, so a token that contains another is masked whole
    return sorted((t.strip() for t in found if isinstance(t, str) and len(t.strip()) >= 4), key=len, reverse=True)


class _MaskFilter(logging.Filter):
    """Rewrites a record's message with every token masked (attached to handlers, so it sees every logger)."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_tokens(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_tokens(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


@contextlib.contextmanager
def _masked_logs(secrets: list[str]) -> Iterator[None]:
    """While it runs, every handler of every logger masks tokens in what it emits."""
    mask = _MaskFilter(secrets)
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    handlers = {id(h): h for lg in loggers for h in lg.handlers}
    if logging.lastResort is not None:  # what prints warnings when no handler is configured
        handlers[id(logging.lastResort)] = logging.lastResort
    for handler in handlers.values():
        handler.addFilter(mask)
    try:
        yield
    finally:
        for handler in handlers.values():
            handler.removeFilter(mask)


def _same_content(path: Path, remote) -> bool:
    """Whether a local file equals a remote ``RepoFile`` (LFS sha256 or git blob id)."""
    from huggingface_hub.utils.sha import git_hash, sha_fileobj

    if remote.size != path.stat().st_size:
        return False
    if remote.lfs is not None:
        with path.open("rb") as fh:
            return remote.lfs.sha256 == sha_fileobj(fh, _HASH_CHUNK).hex()
    return remote.blob_id == git_hash(path.read_bytes())  # regular (non-LFS) files are small


def _remote_files(api, repo_id: str, repo_type: str, revision: str) -> dict:
    from huggingface_hub.errors import RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        entries = api.list_repo_tree(repo_id, repo_type=repo_type, revision=revision, recursive=True)
        return {e.path: e for e in entries if isinstance(e, RepoFile)}
    except RevisionNotFoundError:
        return {}


def pipelined_upload_available() -> bool:
    """Whether ``upload_folder`` splits and resumes here (huggingface_hub >= 1.20 with hf_xet enabled)."""
    import huggingface_hub

    version = tuple(int(x) for x in re.findall(r"\d+", huggingface_hub.__version__)[:2])
    if version < _PIPELINED_UPLOAD_SINCE:
        return False
    from huggingface_hub.utils._runtime import is_xet_available

    return bool(is_xet_available())


def _validate_card_online(root: Path, repo_type: str) -> None:
    """The Hub's own card check (``DatasetCard.validate``), before any file is sent."""
    from huggingface_hub import DatasetCard

    try:
        DatasetCard.load(root / _CARD).validate(repo_type=repo_type)
    except ValueError as exc:
        raise ValueError(f"the Hub refuses the card {root / _CARD}: {' '.join(str(exc).split())}") from None


def _upload(
    root: Path,
    paths: list[str],
    repo_id: str,
    repo_type: str,
    *,
    private: bool,
    revision: str,
    token: str | None,
    commit_batch_size: int,
    space_sdk: str | None,
    secrets: list[str],
    api=None,
    parent_commit: str | None = None,
) -> PushSummary:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = api or HfApi(token=token)
    summary = PushSummary(repo_id=repo_id, repo_type=repo_type, revision=revision, url="")
    try:
        if repo_type == "dataset" and _CARD in paths:
            _validate_card_online(root, repo_type)
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, space_sdk=space_sdk)
        summary.url = str(url)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        if parent_commit is not None:
            _upload_on_parent(api, root, paths, summary, parent_commit)
        elif pipelined_upload_available():
            _upload_pipelined(api, root, paths, summary)
        else:
            _upload_batches(api, root, paths, summary, commit_batch_size=commit_batch_size)
    except ValueError as exc:  # a file swapped for a link since the validation, a card the Hub refuses
        raise ValueError(mask_tokens(str(exc), secrets)) from None
    except HfHubHTTPError as exc:
        if parent_commit is not None and getattr(exc.response, "status_code", None) == 412:
            raise ConcurrentCommitError(
                f"{repo_type} repo {repo_id} moved past commit {parent_commit[:12]} during the push; nothing was committed"
            ) from None
        raise PushError(
            f"push of {root} to {repo_type} repo {repo_id} failed after {len(summary.commits)} commit(s) "
            f"({len(summary.uploaded)} file(s) committed, {len(summary.skipped)} already there): "
            f"{_describe(exc, secrets)}; run the same push again to resume"
        ) from None
    except (OSError, *_transport_errors()) as exc:
        raise PushError(
            f"push of {root} to {repo_type} repo {repo_id} failed after {len(summary.commits)} commit(s) "
            f"({len(summary.uploaded)} file(s) committed, {len(summary.skipped)} already there): "
            f"{_describe(exc, secrets)}; run the same push again to resume"
        ) from None
    return summary


def _card_last(paths: list[str]) -> tuple[list[str], list[str]]:
    return [p for p in paths if p != _CARD], [p for p in paths if p == _CARD]


def _upload_pipelined(api, root: Path, paths: list[str], summary: PushSummary) -> None:
    """``upload_folder`` for the data (it splits, streams and resumes), then the card alone."""
    from huggingface_hub import CommitOperationAdd

    summary.path = "pipelined"
    data, card = _card_last(paths)
    for rel in paths:
        check_regular_file(root, rel)
    if data:
        info = api.upload_folder(
            repo_id=summary.repo_id, folder_path=str(root), repo_type=summary.repo_type, revision=summary.revision,
            allow_patterns=[_glob_escape(p) for p in data], commit_message=f"Upload {len(data)} dataset file(s)",
        )
        summary.commits.append(info.oid)
        summary.uploaded.extend(data)
        logger.info("%s: %d data file(s) committed or already there", summary.repo_id, len(data))
    if card:
        info = api.create_commit(
            summary.repo_id, [CommitOperationAdd(path_in_repo=_CARD, path_or_fileobj=str(root / _CARD))],
            commit_message="Upload dataset card", repo_type=summary.repo_type, revision=summary.revision,
        )
        summary.commits.append(info.oid)
        summary.uploaded.append(_CARD)


def _upload_on_parent(api, root: Path, paths: list[str], summary: PushSummary, parent_commit: str) -> None:
    """Everything that differs from ``parent_commit``'s tree in ONE commit based on it.

    The Hub answers 412 when the branch head is no longer ``parent_commit``, so a writer
    that read the repo, changed it and pushes cannot overwrite a commit it never saw.
    """
    from huggingface_hub import CommitOperationAdd

    remote = _remote_files(api, summary.repo_id, summary.repo_type, parent_commit)
    todo = []
    for rel in paths:
        (summary.skipped if rel in remote and _same_content(root / rel, remote[rel]) else todo).append(rel)
    if not todo:
        return
    operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(check_regular_file(root, rel))) for rel in todo]
    info = api.create_commit(
        summary.repo_id, operations, commit_message=f"Upload {len(todo)} file(s)", repo_type=summary.repo_type,
        revision=summary.revision, parent_commit=parent_commit,
    )
    summary.commits.append(info.oid)
    summary.uploaded.extend(todo)


def _upload_batches(api, root: Path, paths: list[str], summary: PushSummary, *, commit_batch_size: int) -> None:
    """Commits of at most ``commit_batch_size`` files, skipping what the repo already holds; the card last.

    Hand-written because ``create_commit`` makes one commit of everything it is given and
    the pre-1.20 (or xet-less) ``upload_folder`` is one such commit: a large folder would
    time out and an interruption would lose everything.
    """
    from huggingface_hub import CommitOperationAdd

    remote = _remote_files(api, summary.repo_id, summary.repo_type, summary.revision)
    todo = []
    for rel in paths:
        if rel in remote and _same_content(root / rel, remote[rel]):
            summary.skipped.append(rel)
        else:
            todo.append(rel)
    data, card = _card_last(todo)
    batches = [data[i : i + commit_batch_size] for i in range(0, len(data), commit_batch_size)]
    if card:
        batches.append(card)
    if summary.skipped:
        logger.info("%s: %d file(s) already on the Hub with the same content", summary.repo_id, len(summary.skipped))
    for n, batch in enumerate(batches, start=1):
        operations = [
            CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(check_regular_file(root, rel))) for rel in batch
        ]
        message = "Upload dataset card" if batch == [_CARD] else f"Upload {len(batch)} file(s) ({n}/{len(batches)})"
        info = api.create_commit(
            summary.repo_id, operations, commit_message=message, repo_type=summary.repo_type, revision=summary.revision
        )
        summary.commits.append(info.oid)
        summary.uploaded.extend(batch)
        logger.info("%s: commit %d/%d: %d file(s)", summary.repo_id, n, len(batches), len(batch))


def _glob_escape(path: str) -> str:
    """``path`` as an fnmatch pattern that matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", path)


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of the HTTP library huggingface_hub uses (httpx2, httpx or requests)."""
    errors: list[type[BaseException]] = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            errors.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _describe(exc: Exception, secrets: list[str]) -> str:
    """The HTTP status line and the server's own message, with every token masked."""
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    server_message = getattr(exc, "server_message", None)
    if server_message and server_message not in text:
        text += f" ({' '.join(server_message.split())})"
    return mask_tokens(text, secrets)
