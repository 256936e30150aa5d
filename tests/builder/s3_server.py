"""A moto S3 server on 127.0.0.1 (one per test process) and helpers to point s3fs at it."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import pytest

#: A secret no message, object or log may ever contain.
SECRET = "sEcReT-never-shown-0123456789"
KEY_ID = "AKIDXIMAGENET12TEST"


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    @property
    def options(self) -> dict[str, str]:
        """Explicit storage options (what --storage-options carries)."""
        return {"key": KEY_ID, "secret": SECRET, "endpoint_url": self.endpoint}

    def url(self, prefix: str = "out") -> str:
        return f"s3://{self.bucket}/{prefix}"

    def fs(self):
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.options)

    def objects(self, prefix: str = "out") -> dict[str, bytes]:
        """Every object under the prefix, by key relative to it."""
        fs = self.fs()
        root = f"{self.bucket}/{prefix}"
        return {k[len(root) + 1 :]: fs.cat_file(k) for k in sorted(fs.find(root))}


@pytest.fixture(scope="session")
def moto_endpoint():
    pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log on the tests' stderr
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint, monkeypatch) -> S3:
    """A fresh bucket; the environment holds no AWS credentials (tests set what they need)."""
    import s3fs

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    s3fs.S3FileSystem.clear_instance_cache()
    store = S3(moto_endpoint, f"bucket-{uuid.uuid4().hex[:12]}")
    store.fs().mkdir(store.bucket)
    yield store
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_env(s3, monkeypatch) -> S3:
    """The bucket, with credentials and endpoint in the environment only (as botocore reads them)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    return s3
