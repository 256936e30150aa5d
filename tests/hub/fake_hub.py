"""A loopback Hugging Face Hub: just the endpoints the real clients call.

Implemented (each used by ``huggingface_hub`` 2.x or ``datasets`` 5.x, seen in the log):

- ``POST /api/repos/create``; ``POST /api/validate-yaml``;
- ``GET /api/{type}s/{repo}`` and ``.../revision/{rev}`` (repo info with siblings; ``cardData`` and a
  ``license:`` tag from the README's front matter, a model's ``config`` architectures and model_type);
- ``GET /api/whoami-v2`` (the user of a token: ``users`` maps tokens to names, default ``tester``);
- ``POST .../preupload/{rev}``, ``POST /{prefix}{repo}.git/info/lfs/objects/batch``,
  ``PUT /__lfs__/{type}/{repo}/{oid}`` (LFS basic transfer; storage is per repo), ``POST .../commit/{rev}`` (NDJSON);
- ``GET .../tree/{rev}[/{path}]``, ``POST .../paths-info/{rev}``, ``POST .../branch/{name}``;
- ``GET``/``HEAD /{prefix}{repo}/resolve/{rev}/{path}`` with Range, ETag, X-Repo-Commit
  and X-Linked-Etag / X-Linked-Size for LFS files.

State lives in memory; ``requests`` logs every call, ``lfs_uploads`` counts LFS PUTs and
``fail_commits`` makes chosen commit requests (1-based) fail with HTTP 500, to simulate an
interrupted push; ``echo_authorization`` puts the request's Authorization header into every
error message (to prove the client masks it); ``card_errors`` makes ``/api/validate-yaml``
refuse every card with those messages. Xet is not offered: clients must run with ``HF_HUB_DISABLE_XET=1``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeHub"]

_TYPES = {"datasets": "dataset", "spaces": "space", "models": "model"}
_PREFIX = {"dataset": "datasets/", "space": "spaces/", "model": ""}
_LFS_SUFFIXES = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".bin", ".safetensors")
_LFS_MIN_BYTES = 10 * 1024 * 1024
_GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class _File:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def blob_id(self) -> str:
        if self.lfs:
            return git_blob_sha1(_lfs_pointer(self.sha256, len(self.data)))
        return git_blob_sha1(self.data)

    def entry(self, path: str) -> dict:
        out = {"type": "file", "oid": self.blob_id, "size": len(self.data), "path": path}
        if self.lfs:
            pointer = _lfs_pointer(self.sha256, len(self.data))
            out["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": len(pointer)}
        return out


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    sdk: str | None
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, _File]] = field(default_factory=dict)

    def snapshot(self, revision: str) -> tuple[str, dict[str, _File]] | None:
        sha = self.branches.get(revision, revision if revision in self.commits else None)
        return None if sha is None else (sha, self.commits[sha])


def _card_data(card: _File | None) -> dict | None:
    """The YAML front matter of a README.md, as the Hub's ``cardData`` (None without one)."""
    import yaml

    if card is None:
        return None
    text = card.data.decode("utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    head = text[3:].split("\n---", 1)[0]
    try:
        data = yaml.safe_load(head)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class FakeHub:
    """An in-memory Hub served on 127.0.0.1 (port chosen by the OS)."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.lfs_store: dict[tuple[str, str, str], bytes] = {}  # (repo type, repo id, sha256)
        self.requests: list[tuple[str, str, int]] = []
        self.authorizations: list[str | None] = []
        self.lfs_uploads: list[str] = []
        self.commit_requests = 0
        self.fail_commits: set[int] = set()
        self.echo_authorization = False
        self.card_errors: list[str] = []
        self.users: dict[str, str] = {}  # token -> user name for /api/whoami-v2 (default "tester")
        self._lock = threading.RLock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._url = ""
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self._url = f"http://{host}:{port}"  # kept after stop(), so a test can aim at a dead endpoint
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    @property
    def url(self) -> str:
        return self._url

    def log_lines(self) -> list[str]:
        return [f"{method} {path} -> {status}" for method, path, status in self.requests]

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        snap = self.repos[(repo_type, repo_id)].snapshot(revision)
        return {path: f.data for path, f in snap[1].items()}

    # ---------------------------------------------------------------- state
    def _new_sha(self, *parts: str) -> str:
        self._counter += 1
        return hashlib.sha1("|".join((*parts, str(self._counter))).encode()).hexdigest()

    def _repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise _HTTPError(404, f"Repository Not Found for url: {repo_type}s/{repo_id}", "RepoNotFound")
        return repo

    def _snapshot(self, repo: _Repo, revision: str) -> tuple[str, dict[str, _File]]:
        snap = repo.snapshot(revision)
        if snap is None:
            raise _HTTPError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return snap

    def create_repo(self, payload: dict) -> tuple[int, dict]:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        url = f"{self.url}/{_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:  # the Hub names the existing repo's url
            raise _HTTPError(409, "You already created this repo", extra={"url": url})
        if repo_type == "space" and not payload.get("sdk"):
            raise _HTTPError(400, "a Space needs an sdk")
        repo = _Repo(repo_type, repo_id, payload.get("visibility") == "private", payload.get("sdk"))
        sha = self._new_sha(repo_id, "initial")
        repo.commits[sha] = {".gitattributes": _File(_GITATTRIBUTES, lfs=False)}
        repo.branches["main"] = sha
        self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": url, "name": repo_id}

    def commit(self, repo: _Repo, revision: str, body: bytes) -> dict:
        self.commit_requests += 1
        if self.commit_requests in self.fail_commits:
            raise _HTTPError(500, f"injected failure of commit request {self.commit_requests}")
        parent, files = self._snapshot(repo, revision)
        files = dict(files)
        header = {}
        for line in body.decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                data = base64.b64decode(value["content"])
                files[value["path"]] = _File(data, lfs=False)
            elif key == "lfsFile":
                data = self.lfs_store.get((repo.repo_type, repo.repo_id, value["oid"]))
                if data is None:
                    raise _HTTPError(422, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = _File(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise _HTTPError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [p for p in files if p.startswith(prefix)]:
                    del files[path]
            else:
                raise _HTTPError(400, f"unknown commit operation {key!r}")
        if header.get("parentCommit") not in (None, parent):
            raise _HTTPError(412, "A commit has happened since. Please refresh and try again.")
        sha = self._new_sha(repo.repo_id, parent, header.get("summary", ""))
        repo.commits[sha] = files
        if revision in repo.branches:
            repo.branches[revision] = sha
        prefix = _PREFIX[repo.repo_type]
        return {
            "commitUrl": f"{self.url}/{prefix}{repo.repo_id}/commit/{sha}",
            "commitOid": sha,
            "pullRequestUrl": None,
            "success": True,
        }

    def repo_info(self, repo: _Repo, revision: str) -> dict:
        sha, files = self._snapshot(repo, revision)
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        siblings = []
        for path, f in sorted(files.items()):
            entry = f.entry(path)
            sibling = {"rfilename": path, "size": entry["size"], "blobId": entry["oid"]}
            if "lfs" in entry:
                sibling["lfs"] = {"sha256": f.sha256, "size": entry["size"], "pointerSize": entry["lfs"]["pointerSize"]}
            siblings.append(sibling)
        info = {
            "_id": sha[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "createdAt": now,
            "lastModified": now,
            "siblings": siblings,
        }
        if repo.repo_type == "space":
            info["sdk"] = repo.sdk
        card = _card_data(files.get("README.md"))
        if card is not None:  # the Hub parses the card's front matter into cardData and tags
            info["cardData"] = card
            if card.get("license"):
                info["tags"] = [f"license:{card['license']}"]
        if repo.repo_type == "model" and "config.json" in files:
            try:
                config = json.loads(files["config.json"].data)
            except ValueError:
                config = {}
            if isinstance(config, dict):  # the Hub shows a few config fields
                info["config"] = {k: config[k] for k in ("architectures", "model_type") if k in config}
        return info

    @staticmethod
    def tree(files: dict[str, _File], path: str, *, recursive: bool) -> list[dict]:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        out, dirs = [], set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :].split("/")
            for depth in range(1, len(rest)):
                if not recursive and depth > 1:
                    break
                dirs.add(prefix + "/".join(rest[:depth]))
            if recursive or len(rest) == 1:
                out.append(files[name].entry(name))
        if prefix and not out and not dirs:
            raise _HTTPError(404, f"{path} does not exist", "EntryNotFound")
        folders = [{"type": "directory", "oid": git_blob_sha1(d.encode()), "size": 0, "path": d} for d in sorted(dirs)]
        return folders + out

    @staticmethod
    def paths_info(files: dict[str, _File], paths: list[str]) -> list[dict]:
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(files[path].entry(path))
            elif any(name.startswith(path + "/") for name in files) or path == "":
                out.append({"type": "directory", "oid": git_blob_sha1(path.encode()), "size": 0, "path": path})
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, format, *args):  # noqa: A002 - silence stderr; the hub keeps its own log
        pass

    # ------------------------------------------------------------ plumbing
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, head: bool = False) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)
        path = urlsplit(self.path).path
        self.hub.requests.append((self.command, path, status))

    def _json(self, status: int, value) -> None:
        self._send(status, json.dumps(value).encode())

    def _dispatch(self) -> None:
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        self.hub.authorizations.append(self.headers.get("Authorization"))
        try:
            with self.hub._lock:
                self._route(body)
        except _HTTPError as exc:
            if self.hub.echo_authorization:  # like a careless proxy: the credential comes back in the error
                exc.message += f" (request had Authorization: {self.headers.get('Authorization')})"
            headers = {"X-Error-Message": exc.message}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            payload = json.dumps({"error": exc.message, **exc.extra}).encode()
            self._send(exc.status, payload, headers, head=self.command == "HEAD")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _dispatch

    def _require_auth(self) -> None:
        if not (self.headers.get("Authorization") or "").startswith("Bearer "):
            raise _HTTPError(401, "Invalid credentials in Authorization header")

    # ------------------------------------------------------------ routes
    def _route(self, body: bytes) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        query = parse_qs(split.query)
        parts = [unquote(p) for p in split.path.split("/")[1:]]
        method = self.command

        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            self._require_auth()
            status, value = hub.create_repo(json.loads(body))
            return self._json(status, value)
        if parts[:3] == ["api", "repos", "delete"] and method == "DELETE":
            self._require_auth()
            payload = json.loads(body)
            repo_type = payload.get("type") or "model"
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if hub.repos.pop((repo_type, repo_id), None) is None:
                raise _HTTPError(404, f"Repository Not Found for url: {repo_type}s/{repo_id}", "RepoNotFound")
            return self._send(200, b"")
        if parts[:2] == ["api", "whoami-v2"]:  # the user a token belongs to
            self._require_auth()
            token = self.headers["Authorization"][len("Bearer "):]
            name = hub.users.get(token, "tester")
            return self._json(200, {"type": "user", "name": name, "fullname": name, "orgs": [],
                                    "auth": {"type": "access_token", "accessToken": {"role": "write"}}})
        if parts[:2] == ["api", "agent-harnesses"]:  # huggingface_hub's user-agent lookup
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        if parts[:2] == ["api", "validate-yaml"]:
            if hub.card_errors:  # the Hub answers 400 with its findings
                raise _HTTPError(400, "; ".join(hub.card_errors))
            return self._json(200, {"errors": [], "warnings": []})
        if parts[0] == "__lfs__" and method == "PUT":
            repo_type, repo_id, oid = parts[1], f"{parts[2]}/{parts[3]}", parts[4]
            if hashlib.sha256(body).hexdigest() != oid:
                raise _HTTPError(400, "uploaded bytes do not match the LFS oid")
            hub.lfs_store[(repo_type, repo_id, oid)] = body
            hub.lfs_uploads.append(oid)
            return self._send(200, b"")
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in _TYPES:
            repo = hub._repo(_TYPES[parts[1]], f"{parts[2]}/{parts[3]}")
            action, rest = (parts[4], parts[5:]) if len(parts) > 4 else ("info", [])
            return self._api(repo, action, rest, body, query)
        # git-style routes: [datasets/|spaces/]ns/name(.git)/...
        repo_type = _TYPES.get(parts[0], "model") if parts[0] in ("datasets", "spaces") else "model"
        if repo_type != "model":
            parts = parts[1:]
        if len(parts) >= 5 and parts[1].endswith(".git") and parts[2:5] == ["info", "lfs", "objects"]:
            self._require_auth()
            repo = hub._repo(repo_type, f"{parts[0]}/{parts[1][:-4]}")
            return self._lfs_batch(repo, json.loads(body))
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = hub._repo(repo_type, f"{parts[0]}/{parts[1]}")
            return self._resolve(repo, parts[3], "/".join(parts[4:]))
        raise _HTTPError(404, f"no route for {method} {split.path}")

    def _api(self, repo: _Repo, action: str, rest: list[str], body: bytes, query: dict) -> None:
        hub = self.hub
        if action == "info":
            return self._json(200, hub.repo_info(repo, "main"))
        revision = rest[0] if rest else "main"
        if action == "revision":
            return self._json(200, hub.repo_info(repo, revision))
        if action == "preupload":
            self._require_auth()
            _, files = hub._snapshot(repo, revision)
            out = []
            for f in json.loads(body)["files"]:
                sample = base64.b64decode(f["sample"])
                lfs = f["path"].endswith(_LFS_SUFFIXES) or b"\0" in sample or f["size"] >= _LFS_MIN_BYTES
                remote = files.get(f["path"])
                out.append(
                    {
                        "path": f["path"],
                        "uploadMode": "lfs" if lfs else "regular",
                        "shouldIgnore": False,
                        "oid": None if remote is None else (remote.sha256 if remote.lfs else remote.blob_id),
                    }
                )
            return self._json(200, {"files": out, "commitOid": hub._snapshot(repo, revision)[0]})
        if action == "commit":
            self._require_auth()
            return self._json(200, hub.commit(repo, revision, body))
        if action == "tree":
            _, files = hub._snapshot(repo, revision)
            recursive = query.get("recursive", ["False"])[0].lower() in ("1", "true")
            return self._json(200, hub.tree(files, "/".join(rest[1:]), recursive=recursive))
        if action == "paths-info":
            _, files = hub._snapshot(repo, revision)
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body)["paths"]
            else:
                paths = parse_qs(body.decode()).get("paths", [])
            return self._json(200, hub.paths_info(files, paths))
        if action == "branch":
            self._require_auth()
            if revision in repo.branches:
                raise _HTTPError(409, f"branch {revision} already exists")
            repo.branches[revision] = repo.branches["main"]
            return self._json(200, {})
        raise _HTTPError(404, f"no API route {action}")

    def _lfs_batch(self, repo: _Repo, payload: dict) -> None:
        objects = []
        for obj in payload["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if (repo.repo_type, repo.repo_id, obj["oid"]) not in self.hub.lfs_store:
                href = f"{self.hub.url}/__lfs__/{repo.repo_type}/{repo.repo_id}/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href, "header": {}}}
            objects.append(entry)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"})

    def _resolve(self, repo: _Repo, revision: str, path: str) -> None:
        sha, files = self.hub._snapshot(repo, revision)
        f = files.get(path)
        if f is None:
            raise _HTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        data = f.data
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": sha,
            "ETag": f'"{f.blob_id}"',
            "Accept-Ranges": "bytes",
        }
        if f.lfs:
            headers["X-Linked-Etag"] = f'"{f.sha256}"'
            headers["X-Linked-Size"] = str(len(data))
        status = 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "") or "")
        if match and data:
            start_s, end_s = match.groups()
            if start_s == "":
                start, end = max(len(data) - int(end_s), 0), len(data) - 1
            else:
                start, end = int(start_s), min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                raise _HTTPError(416, "range not satisfiable")
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers, head=self.command == "HEAD")
