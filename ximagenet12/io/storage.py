"""Output destinations: a local folder, or a folder (prefix) in an object store named by an fsspec URL.

The same URLs name ``--data`` for the commands that read a finished build
(:func:`data_source`; the evaluator's :mod:`ximagenet12.evaluation.data` reads the prefix
through :meth:`StorePath.open`, :meth:`StorePath.glob` and :meth:`StorePath.listing`).

``ximagenet12 build --out`` takes a local path, a ``file://`` URL (both: a local
:class:`pathlib.Path`) or any URL whose fsspec protocol package is installed — ``s3://``
(``s3fs``: ``pip install 'ximagenet12[s3]'``), ``gs://`` (``gcsfs``:
``pip install 'ximagenet12[gcs]'``), ``memory://`` (tests; it lives in one process, so
only with ``num_proc=1``) — which becomes a
:class:`StorePath`: the protocol, the ``bucket/prefix`` path and the storage options.

Credentials are read the way each library reads them (s3fs/botocore: ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for
S3-compatible stores, instance roles; gcsfs: ``GOOGLE_APPLICATION_CREDENTIALS``, the gcloud
login), or passed as storage options (``--storage-options JSON``, e.g.
``{"endpoint_url": "http://minio:9000", "key": "...", "secret": "..."}``). Storage options
travel with the block tasks to Ray workers; they are never written to any file, and every
error message built here has their secret values replaced by ``***``
(:func:`scrub`).

Object stores have no rename. Every object is written in one request from a complete local
file (one PUT, or one multipart upload, which the store makes visible only once complete),
so an object under its final key is always whole; the build's commit marker is
``build_info.json``, uploaded last (see :mod:`ximagenet12.builder.finalize`).

Hand-written as a thin layer over fsspec (rather than ``universal_pathlib``) because the
builder needs only a dozen operations, each with the one-line, secret-free errors above.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping
from urllib.parse import unquote, urlsplit

__all__ = [
    "PROTOCOL_EXTRAS",
    "StoreError",
    "StorePath",
    "destination",
    "data_source",
    "cli_data",
    "DATA_STORAGE_OPTIONS_HELP",
    "parse_storage_options",
    "scrub",
]

#: The extra that installs each protocol's fsspec package (others: the package fsspec names).
PROTOCOL_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
#: Storage option names whose values are secrets (never shown in a message).
_SECRET_KEY = re.compile(r"key|secret|token|password|credential|signature|sas", re.IGNORECASE)
#: Environment variables whose values are secrets.
_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")


class StoreError(ValueError):
    """An object-store URL this install cannot write (unknown protocol, missing package, credentials in it)."""


def _secrets(options: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for key, value in options.items():
        if isinstance(value, Mapping):
            found += _secrets(value)
        elif isinstance(value, str) and _SECRET_KEY.search(str(key)) and len(value) >= 4:
            found.append(value)
    return found


def scrub(text: str, options: Mapping[str, Any] | None = None) -> str:
    """``text`` with the secret storage options and secret environment variables replaced by ``***``."""
    values = _secrets(options or {}) + [os.environ[name] for name in _SECRET_ENV if len(os.environ.get(name, "")) >= 4]
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


@dataclass(frozen=True)
class StorePath:
    """A file or folder in an object store: ``protocol://path`` plus the options to open it.

    Enough of :class:`pathlib.Path` for the build's layout (``/``, ``name``, ``parent``,
    ``is_file``, ``read_text``); picklable, so Ray tasks carry it; its options are never
    shown (``repr`` and ``str`` give the URL only).
    """

    protocol: str
    path: str
    options: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ naming
    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __truediv__(self, other: str | os.PathLike[str]) -> StorePath:
        return StorePath(self.protocol, f"{self.path}/{PurePosixPath(other).as_posix()}", self.options)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> StorePath:
        return StorePath(self.protocol, self.path.rsplit("/", 1)[0], self.options)

    def relative(self, key: str) -> str:
        """``key`` (a path the file system listed under this folder) relative to it."""
        return key[len(self.path) + 1 :] if key.startswith(self.path + "/") else key

    @property
    def fs(self) -> Any:
        import fsspec

        return fsspec.filesystem(self.protocol, **self.options)

    @contextmanager
    def _io(self, verb: str) -> Iterator[None]:
        """Any failure of the store as one ``OSError`` line naming this object, secrets removed."""
        try:
            yield
        except FileExistsError:
            raise
        except Exception as exc:  # noqa: BLE001 - botocore/google errors are not OSErrors; all become one line
            kind = PermissionError if isinstance(exc, PermissionError) else FileNotFoundError \
                if isinstance(exc, FileNotFoundError) else OSError
            reason = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, self.options)
            raise kind(f"cannot {verb} {self}: {reason}") from None

    # ------------------------------------------------------------------ reading
    def exists(self) -> bool:
        with self._io("read"):
            self.fs.invalidate_cache(self.path)  # fresh: another client (datasets, a build) may have listed or written
            return bool(self.fs.exists(self.path))

    def info(self) -> dict[str, Any]:
        """The object's metadata from a fresh request: ``FileNotFoundError`` when it is missing, and
        an unreachable store or refused credentials as their own one-line errors (where ``exists``
        and ``is_file`` of fsspec would answer ``False``)."""
        with self._io("read"):
            self.fs.invalidate_cache(self.path)
            return dict(self.fs.info(self.path))

    def is_file(self) -> bool:
        with self._io("read"):
            self.fs.invalidate_cache(self.path)
            return bool(self.fs.isfile(self.path))

    def read_bytes(self) -> bytes:
        with self._io("read"):
            return bytes(self.fs.cat_file(self.path))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def size(self) -> int:
        with self._io("read"):
            return int(self.fs.size(self.path) or 0)

    def files(self) -> list[str]:
        """Every file under this folder, as paths relative to it (fresh listing, no cache)."""
        with self._io("list"):
            self.fs.invalidate_cache(self.path)
            if not self.fs.exists(self.path):
                return []
            return sorted(self.relative(k) for k in self.fs.find(self.path) if k.startswith(self.path + "/"))

    @contextmanager
    def open(self) -> Iterator[Any]:
        """This object as a seekable binary file read by ranged requests (parquet footers and
        row groups are fetched as pyarrow asks for them; the object is never downloaded whole)."""
        with self._io("read"):
            self.fs.invalidate_cache(self.path)  # the size comes from a fresh HEAD, not an old listing
            handle = self.fs.open(self.path, "rb")
        with handle:
            yield handle

    def glob(self, pattern: str) -> list[StorePath]:
        """The files under this folder that ``pattern`` (relative, ``*``/``**``) matches, sorted."""
        with self._io("list"):
            self.fs.invalidate_cache(self.path)
            keys = self.fs.glob(f"{self.path}/{pattern}")
        return [StorePath(self.protocol, k, self.options) for k in sorted(keys) if k.startswith(self.path + "/")]

    def listing(self, under: str = "") -> dict[str, dict[str, Any]]:
        """``{relative key: {"size", "etag"}}`` of every file under this folder (or its sub-folder
        ``under``), from one listing: no object is read. ``etag``: the store's ETag (S3), MD5 or
        generation (GCS), or ``None`` where the store keeps none."""
        root = f"{self.path}/{under}".rstrip("/")
        with self._io("list"):
            self.fs.invalidate_cache(root)
            found = self.fs.find(root, detail=True) if self.fs.exists(root) else {}
        out: dict[str, dict[str, Any]] = {}
        for key, info in found.items():
            if key.startswith(self.path + "/") and info.get("type", "file") == "file":
                tag = next((info[k] for k in ("ETag", "etag", "md5Hash", "generation") if info.get(k)), None)
                out[self.relative(key)] = {"size": int(info.get("size") or 0),
                                           "etag": None if tag is None else str(tag).strip('"')}
        return dict(sorted(out.items()))

    def download(self, local: Path) -> None:
        """Copy every file under this folder to the local folder ``local``."""
        for rel in self.files():
            target = local / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with self._io("download"):
                self.fs.get_file(f"{self.path}/{rel}", str(target))

    # ------------------------------------------------------------------ writing
    def write_bytes(self, data: bytes) -> None:
        """Write the whole object in one request (it is never seen half-written)."""
        with self._io("write to"):
            self.fs.pipe_file(self.path, data)

    def create(self, data: bytes) -> None:
        """Write the object only if no object has this key (``FileExistsError`` otherwise).

        Atomic where the store supports conditional writes (S3 ``If-None-Match: *``,
        GCS generation match, ``memory://``); a check-then-write elsewhere.
        """
        with self._io("write to"):
            self.fs.pipe_file(self.path, data, mode="create")

    def upload(self, local: Path) -> None:
        """Upload a complete local file in one request (a multipart upload appears only when complete)."""
        with self._io("write to"):
            self.fs.put_file(str(local), self.path)

    def unlink(self, missing_ok: bool = True) -> None:
        with self._io("delete"):
            try:
                self.fs.rm_file(self.path)
            except FileNotFoundError:
                if not missing_ok:
                    raise

    def remove_tree(self) -> None:
        """Delete every object under this folder."""
        keys = [f"{self.path}/{rel}" for rel in self.files()]
        if keys:
            with self._io("delete"):
                self.fs.rm(keys)


def parse_storage_options(text: str | None) -> dict[str, Any]:
    """``--storage-options``: a JSON object (``None``/empty: no options)."""
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--storage-options is not valid JSON ({exc.msg} at character {exc.pos}); "
                         'expected an object such as {"endpoint_url": "http://127.0.0.1:9000"}') from None
    if not isinstance(value, dict):
        raise ValueError(f"--storage-options must be a JSON object, got {type(value).__name__}")
    return value


def destination(out: str | os.PathLike[str], *, storage_options: Mapping[str, Any] | None = None,
                _role: tuple[str, str] = ("output", "writing to")) -> Path | StorePath:
    """The output as a local :class:`Path` (a path or ``file://`` URL) or a :class:`StorePath` (any other URL).

    Raises :class:`StoreError` (a ``ValueError``) for an unknown protocol, a missing protocol
    package (naming the extra to install), credentials inside the URL, or storage options
    given for a local folder.
    """
    noun, verb = _role
    text = os.fspath(out)
    if not isinstance(text, str) or "://" not in text:
        if storage_options:
            raise StoreError(f"--storage-options apply to object-store URLs (s3://, gs://, ...), not the local folder {text}")
        return Path(text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StoreError(f"{noun} {text!r}: a file:// URL names a local path (file:///abs/path), not host {parts.netloc!r}")
        return destination(unquote(parts.path), storage_options=storage_options, _role=_role)
    if "@" in parts.netloc:
        raise StoreError(f"{noun} {scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}: put credentials in the "
                         "environment or --storage-options, never in the URL (it is printed and recorded)")
    import fsspec

    try:
        cls = fsspec.get_filesystem_class(scheme)
    except ValueError:
        raise StoreError(f"{noun} {text!r}: unknown protocol {scheme}://; use a local folder, file://, s3://, gs:// "
                         "or another fsspec protocol") from None
    except ImportError:
        extra = PROTOCOL_EXTRAS.get(scheme)
        how = f"pip install 'ximagenet12[{extra}]'" if extra else f"install the fsspec package for {scheme}://"
        raise StoreError(f"{verb} {scheme}:// needs a package that is not installed: {how}") from None
    path = str(cls._strip_protocol(text)).rstrip("/")
    if not path.strip("/"):
        raise StoreError(f"{noun} {text!r} names no bucket: expected {scheme}://BUCKET/PREFIX")
    return StorePath(scheme, path, dict(storage_options or {}))


def data_source(data: str | os.PathLike[str] | StorePath, *,
                storage_options: Mapping[str, Any] | None = None) -> str | os.PathLike[str] | StorePath:
    """``--data`` as the evaluator's data layer takes it: a :class:`StorePath` for an object-store
    URL (``s3://bucket/prefix``, with ``storage_options``), a local path for a ``file://`` URL,
    and anything else (a local folder, a Hub dataset id) unchanged.

    The same one-line :class:`StoreError` as :func:`destination` for what cannot be read
    (unknown protocol, missing package naming the extra, credentials in the URL, storage
    options for a folder or a Hub id).
    """
    if isinstance(data, StorePath):
        return StorePath(data.protocol, data.path, {**data.options, **(storage_options or {})})
    text = os.fspath(data)
    if "://" not in text:
        if storage_options:
            raise StoreError(f"--storage-options apply to object-store URLs (s3://, gs://, ...), not {text!r}")
        return data
    found = destination(text, storage_options=storage_options, _role=("data", "reading from"))
    return str(found) if isinstance(found, Path) else found


#: ``--storage-options`` help for the commands that read ``--data``.
DATA_STORAGE_OPTIONS_HELP = ("fsspec storage options for an object-store --data (s3://BUCKET/PREFIX of a finished build), "
                             'as a JSON object, e.g. \'{"endpoint_url": "http://minio:9000"}\'; credentials may also '
                             "come from the environment (AWS_*), and are never written or printed")


def cli_data(data: str, storage_options: str | None) -> str | os.PathLike[str] | StorePath:
    """``--data`` and ``--storage-options`` of a command as the evaluator's data layer takes them
    (:func:`data_source` after :func:`parse_storage_options`)."""
    return data_source(data, storage_options=parse_storage_options(storage_options))
