"""A moto S3 server on 127.0.0.1 with one bucket, for the object-store benchmarks.

Shared by bench_object_store.py (writing a build to s3://) and bench_store_read.py
(reading one back). Not a real store: its figures measure the toolkit's request pattern
over loopback, not a cloud's latency or bandwidth.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

__all__ = ["moto_bucket"]


@contextmanager
def moto_bucket(bucket: str = "bench") -> Iterator[dict[str, str]]:
    """Start the server, create ``bucket`` and yield the s3fs storage options that reach it."""
    import s3fs
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {"key": "bench", "secret": "bench-secret", "endpoint_url": f"http://{host}:{port}"}
        s3fs.S3FileSystem(skip_instance_cache=True, **options).mkdir(bucket)
        yield options
    finally:
        server.stop()
