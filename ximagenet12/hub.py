"""Publish a built dataset folder and the robustness metric to the Hugging Face Hub.

:func:`push` validates the folder (:mod:`ximagenet12.hub_validate`) and refuses it with
every problem listed before a single request is made; then it creates the dataset repo
if needed and uploads in commits of at most ``commit_batch_size`` files, skipping files
the repo already holds with the same content. A push that was interrupted (network,
quota, Ctrl-C) is resumed by running it again: only what is missing is uploaded. The
card (``README.md``) is committed last, so the viewer only sees the configs once all
their data is there.

:func:`push_metric` publishes the ``evaluate`` module ``metrics/robustness_score`` as a
Gradio Space, the form ``evaluate.load("owner/robustness_score")`` reads.

Tokens are resolved by ``huggingface_hub`` (``token=`` argument, then ``HF_TOKEN``, then
the stored login) and never logged or put in a message.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ximagenet12.hub_validate import format_problems, read_card_metadata, upload_paths, validate_folder

__all__ = [
    "push",
    "push_metric",
    "space_card_problems",
    "PushSummary",
    "PushError",
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
_HASH_CHUNK = 8 * 1024 * 1024
_NEVER_PUBLISHED_METRIC_FILES = frozenset({"__init__.py"})


class PushError(RuntimeError):
    """The Hub refused or dropped a request; rerunning the same push resumes it."""


@dataclass
class PushSummary:
    """What a push did: files uploaded and skipped, commits made."""

    repo_id: str
    repo_type: str
    revision: str
    url: str
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str = "main",
    token: str | None = None,
    commit_batch_size: int = COMMIT_BATCH_SIZE,
) -> PushSummary:
    """Upload a built dataset folder to the dataset repo ``repo_id``.

    Raises ValueError listing every problem :func:`validate_folder` finds (nothing is
    sent then), and :class:`PushError` when the Hub fails part-way (rerun to resume).
    """
    root = Path(folder)
    _check_repo_id(repo_id)
    if not 1 <= commit_batch_size <= 1000:
        raise ValueError(f"commit_batch_size must be between 1 and 1000, got {commit_batch_size}")
    problems = validate_folder(root)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise ValueError(
            f"{root} cannot be pushed to {repo_id}: {len(errors)} problem(s) the Hub would refuse:\n"
            + format_problems(problems)
        )
    for problem in problems:
        logger.warning("%s", problem)
    paths = upload_paths(root)
    return _upload(root, paths, repo_id, "dataset", private=private, revision=revision, token=token,
                   commit_batch_size=commit_batch_size, space_sdk=None)


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
    if (folder / _CARD).is_file():
        problems += space_card_problems(folder / _CARD)
    if problems:
        raise ValueError(f"metric folder {folder} cannot be pushed to {repo_id}:\n" + "\n".join(f"  - {p}" for p in problems))
    paths = [
        p
        for p in upload_paths(folder)
        if "/" not in p and p not in _NEVER_PUBLISHED_METRIC_FILES and not p.endswith((".pyc", ".pyo"))
    ]
    return _upload(folder, paths, repo_id, "space", private=private, revision="main", token=token,
                   commit_batch_size=COMMIT_BATCH_SIZE, space_sdk=SPACE_SDK)


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
    if not isinstance(repo_id, str):
        raise TypeError(f"repo_id must be a string 'owner/name', got {type(repo_id).__name__}")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1()
    digest.update(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _same_content(path: Path, remote) -> bool:
    """Whether a local file equals a remote ``RepoFile`` (LFS sha256 or git blob id)."""
    if remote.size != path.stat().st_size:
        return False
    if remote.lfs is not None:
        return remote.lfs.sha256 == _sha256(path)
    return remote.blob_id == _git_blob_sha1(path)


def _remote_files(api, repo_id: str, repo_type: str, revision: str) -> dict:
    from huggingface_hub.errors import RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        entries = api.list_repo_tree(repo_id, repo_type=repo_type, revision=revision, recursive=True)
        return {e.path: e for e in entries if isinstance(e, RepoFile)}
    except RevisionNotFoundError:
        return {}


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
) -> PushSummary:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    done = 0
    summary = PushSummary(repo_id=repo_id, repo_type=repo_type, revision=revision, url="")
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, space_sdk=space_sdk)
        summary.url = str(url)
        if revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        remote = _remote_files(api, repo_id, repo_type, revision)
        todo = []
        for rel in paths:
            if rel in remote and _same_content(root / rel, remote[rel]):
                summary.skipped.append(rel)
            else:
                todo.append(rel)
        # the card last, in a commit of its own, once every data file is in
        data = [p for p in todo if p != _CARD]
        batches = [data[i : i + commit_batch_size] for i in range(0, len(data), commit_batch_size)]
        if _CARD in todo:
            batches.append([_CARD])
        if summary.skipped:
            logger.info("%s: %d file(s) already on the Hub with the same content", repo_id, len(summary.skipped))
        for n, batch in enumerate(batches, start=1):
            operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(root / rel)) for rel in batch]
            message = (
                "Upload dataset card" if batch == [_CARD] else f"Upload {len(batch)} file(s) ({n}/{len(batches)})"
            )
            info = api.create_commit(
                repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision
            )
            summary.commits.append(info.oid)
            summary.uploaded.extend(batch)
            done = n
            logger.info("%s: commit %d/%d: %d file(s)", repo_id, n, len(batches), len(batch))
    except (HfHubHTTPError, OSError, *_transport_errors()) as exc:
        raise PushError(
            f"push of {root} to {repo_type} repo {repo_id} failed after {done} commit(s) "
            f"({len(summary.uploaded)} file(s) committed, {len(summary.skipped)} already there): "
            f"{_describe(exc, token)}; run the same push again to resume"
        ) from None
    return summary


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection errors of the HTTP library huggingface_hub uses (httpx2, httpx or requests)."""
    errors: list[type[BaseException]] = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            errors.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _describe(exc: Exception, token: str | None) -> str:
    """The HTTP status line and the server's own message, with no token riding along."""
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    server_message = getattr(exc, "server_message", None)
    if server_message and server_message not in text:
        text += f" ({' '.join(server_message.split())})"
    return text.replace(token, "***") if token else text
