"""Publish a leaderboard site as a Gradio Space, and serve it locally.

:func:`push_leaderboard` checks the site the way :func:`ximagenet12.hub.publish.push_metric` checks
a metric folder (the same card rules, :func:`ximagenet12.hub.publish.space_card_problems`) plus the
leaderboard's own files, refuses it with every problem listed before any request, and
uploads it through the same resumable uploader. :func:`serve` runs the site's own
``app.py``, the file the Space runs, on a loopback address.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from ximagenet12.leaderboard.site import SITE_FILES

__all__ = ["site_problems", "push_leaderboard", "load_site_app", "serve", "LOOPBACK"]

LOOPBACK = "127.0.0.1"
_NEVER_PUBLISHED_SUFFIXES = (".pyc", ".pyo")


def site_problems(site: str | os.PathLike) -> list[str]:
    """Everything that keeps ``site`` from being a working leaderboard Space (empty: fine)."""
    from ximagenet12.hub.publish import space_card_problems

    root = Path(site)
    if not root.is_dir():
        raise FileNotFoundError(f"leaderboard site {str(root)!r} does not exist")
    problems = [f"{root / name} is missing" for name in SITE_FILES if not (root / name).is_file()]
    if (root / "README.md").is_file():
        problems += space_card_problems(root / "README.md")
    if (root / "leaderboard.json").is_file():
        try:
            meta = json.loads((root / "leaderboard.json").read_text(encoding="utf-8"))
            boards = meta["boards"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            return problems + [f"{root / 'leaderboard.json'} is not a leaderboard index: {exc}"]
        for board in boards:
            for rel in [board["table"], board["csv"], *(p for f in board["figures"].values() for p in f.values())]:
                if not (root / rel).is_file():
                    problems.append(f"{root / rel} is listed in leaderboard.json but missing")
    return problems


def push_leaderboard(site: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None):
    """Upload the site folder to the Gradio Space ``repo_id``; returns the ``PushSummary``."""
    from ximagenet12.hub.publish import COMMIT_BATCH_SIZE, SPACE_SDK, _check_repo_id, _known_tokens, _masked_logs, _upload

    _check_repo_id(repo_id)
    root = Path(site)
    problems = site_problems(root)
    if problems:
        raise ValueError(f"leaderboard site {root} cannot be pushed to {repo_id}:\n" + "\n".join(f"  - {p}" for p in problems))
    paths = _site_paths(root)
    secrets = _known_tokens(token)  # never in a log line or a message (as push_metric)
    with _masked_logs(secrets):
        return _upload(root, paths, repo_id, "space", private=private, revision="main", token=token,
                       commit_batch_size=COMMIT_BATCH_SIZE, space_sdk=SPACE_SDK, secrets=secrets)


def _site_paths(root: Path) -> list[str]:
    """Every regular file of the site (hub_validate's upload_paths is the allow-list of a *dataset* repo).

    Hidden files and caches are not sent; a link is refused rather than followed.
    """
    from ximagenet12.hub.validate import IGNORED_DIRS

    paths = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") or part in IGNORED_DIRS for part in rel.parts):
            continue
        if path.is_symlink():
            raise ValueError(f"leaderboard site {root}: {rel.as_posix()} is a link; a Space gets regular files only")
        if path.is_file() and not path.name.endswith(_NEVER_PUBLISHED_SUFFIXES):
            paths.append(rel.as_posix())
    return paths


def load_site_app(site: str | os.PathLike):
    """The ``app.py`` module of ``site`` (the code the Space runs), imported from that file."""
    root = Path(site)
    path = root / "app.py"
    if not path.is_file():
        raise FileNotFoundError(f"{str(root)!r} is not a leaderboard site: no app.py (write one with `ximagenet12 leaderboard --out`)")
    name = f"ximagenet12_leaderboard_site_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def serve(site: str | os.PathLike, *, port: int = 7860, block: bool = True):
    """Run the site's app on ``127.0.0.1:port``; with ``block=False`` return the running Blocks."""
    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, got {port}")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local preview
    module = load_site_app(site)
    demo = module.build_app(site)
    demo.launch(server_name=LOOPBACK, server_port=port, allowed_paths=[str(Path(site).resolve())],
                prevent_thread_lock=not block, quiet=not block, show_error=True)
    return demo
