"""Building into an object store: an s3:// prefix on a moto S3 server (127.0.0.1), memory:// for
the quick cases. The same files and rows as a local build, parts and files never visible
half-written, build_info.json last, resume and overwrite as locally, a lock object that keeps a
second build out, one-line errors before any work, and no credential in any object, output or
message. (gs:// follows the same code path through gcsfs; no GCS server runs offline, so only
its error for a missing package is tested.)"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import fsspec
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # `import s3_server` (shared with tests/scale)

from s3_server import KEY_ID, SECRET, moto_endpoint, s3, s3_env  # noqa: E402,F401 - fixtures

from ximagenet12.builder import build_dataset  # noqa: E402
from ximagenet12.cli import main  # noqa: E402
from ximagenet12.io.locking import FolderInUseError, folder_lock  # noqa: E402
from ximagenet12.io.storage import StorePath, destination, parse_storage_options, scrub  # noqa: E402

SCENARIOS = ["original", "image_rainbow", "transparent_image"]
WORK = ".cache/ximagenet12-build"
LOCK = ".cache/ximagenet12.lock"


def _local_files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _without_elapsed(files: dict[str, bytes]) -> dict[str, bytes]:
    info = json.loads(files["build_info.json"])
    info.pop("elapsed_s")
    return {**files, "build_info.json": json.dumps(info, sort_keys=True).encode()}


# --------------------------------------------------------------------------- the build


def test_a_build_to_s3_writes_the_files_of_a_local_build_byte_for_byte(tmp_path, s3_env):
    kwargs = dict(scenarios=SCENARIOS, max_samples=4, block_samples=2, progress=False)
    summary = build_dataset(None, s3_env.url(), **kwargs)  # credentials and endpoint from AWS_* only
    build_dataset(None, tmp_path / "local", **kwargs)
    stored = s3_env.objects()
    assert _without_elapsed(stored) == _without_elapsed(_local_files(tmp_path / "local"))
    assert not any(k.startswith(".cache/") for k in stored)  # work prefix and lock object removed
    assert summary.rows == 12 and str(summary.out_dir) == s3_env.url()
    assert f'data_files="{s3_env.url()}/data/original/train-*.parquet"' in str(summary)


def test_resume_on_a_finished_store_build_does_nothing_and_other_settings_need_overwrite(s3_env):
    url = s3_env.url()
    build_dataset(None, url, scenarios=["original", "image_grey"], max_samples=2, progress=False)
    again = build_dataset(None, url, scenarios=["original", "image_grey"], max_samples=2, progress=False, resume=True)
    assert again.nothing_to_do and again.rows == 4
    with pytest.raises(ValueError, match=rf"^refusing to rebuild {url}: it holds a finished build with other settings"):
        build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False)
    build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False, overwrite=True)
    assert sorted(k for k in s3_env.objects() if k.startswith("data/")) == ["data/original/train-00000-of-00001.parquet"]


def test_a_prefix_holding_other_objects_is_refused_and_overwrite_never_deletes_them(s3_env):
    fs, url = s3_env.fs(), s3_env.url()
    fs.pipe_file(f"{s3_env.bucket}/out/notes.txt", b"mine")
    with pytest.raises(ValueError, match=rf"^refusing to write into {url}: it is not empty and holds no ximagenet12 build"):
        build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False)
    fs.pipe_file(f"{s3_env.bucket}/out/README.md", b"my card")
    with pytest.raises(ValueError, match=r"README\.md would be replaced but no ximagenet12 build wrote it"):
        build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False, overwrite=True)
    fs.rm_file(f"{s3_env.bucket}/out/README.md")
    build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False, overwrite=True)
    assert s3_env.objects()["notes.txt"] == b"mine"


# --------------------------------------------------------------------------- killed, resumed


def test_a_build_that_fails_while_uploading_its_files_is_unfinished_and_resume_completes_it(tmp_path, s3_env,
                                                                                          monkeypatch):
    kwargs = dict(scenarios=["original", "image_grey"], max_samples=4, progress=False)
    real = StorePath.upload

    def upload(self, local):
        if self.name == "README.md":
            raise OSError(f"cannot write to {self}: connection reset")
        real(self, local)

    monkeypatch.setattr(StorePath, "upload", upload)
    with pytest.raises(OSError, match=r"^could not write the build in s3://.*connection reset.*rerun with --resume"):
        build_dataset(None, s3_env.url(), **kwargs)
    left = s3_env.objects()
    assert "data/original/train-00000-of-00001.parquet" in left  # uploaded whole, but not committed:
    assert "build_info.json" not in left and "README.md" not in left
    assert json.loads(left[f"{WORK}/state.json"])["files"][-1] == "build_info.json"  # the upload list, first
    monkeypatch.setattr(StorePath, "upload", real)
    build_dataset(None, s3_env.url(), resume=True, **kwargs)
    build_dataset(None, tmp_path / "local", **kwargs)
    assert _without_elapsed(s3_env.objects()) == _without_elapsed(_local_files(tmp_path / "local"))

def test_an_interrupted_build_releases_its_lock_and_leaves_only_finished_blocks(tmp_path, s3_env, monkeypatch):
    import ximagenet12.builder.worker as worker

    real, calls = worker.process_sample, []

    def interrupt_at_the_third(*args, **kwargs):  # Ctrl-C (or SIGTERM, which the CLI turns into it)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "process_sample", interrupt_at_the_third)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    kwargs = dict(scenarios=["original"], max_samples=4, block_samples=2, progress=False)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(None, s3_env.url(), **kwargs)
    assert not list(scratch.iterdir())  # the unfinished part's local file is gone
    left = s3_env.objects()
    assert LOCK not in left and not any(not k.startswith(f"{WORK}/") for k in left)
    assert sorted(k for k in left if "/blocks/" in k) == [f"{WORK}/blocks/block-000000.json"]
    assert sorted(k for k in left if "/parts/" in k) == [f"{WORK}/parts/original/block-000000.parquet"]
    monkeypatch.setattr(worker, "process_sample", real)
    assert build_dataset(None, s3_env.url(), resume=True, **kwargs).resumed_blocks == 1


_SLOW_BUILD = """
import sys, time
import ximagenet12.builder.worker as worker
real = worker.process_sample
def slow(*a, **k):
    time.sleep(0.5)
    return real(*a, **k)
worker.process_sample = slow
from ximagenet12.cli import main
sys.exit(main(["build", "--out", sys.argv[1], "--scenarios", "original,image_rainbow", "--max-samples", "8",
               "--block-samples", "2", "--no-progress"]))
"""


@pytest.mark.slow
def test_a_killed_build_leaves_nothing_that_looks_final_and_resume_finishes_it(tmp_path, s3_env):
    script = tmp_path / "slow_build.py"
    script.write_text(textwrap.dedent(_SLOW_BUILD))
    proc = subprocess.Popen([sys.executable, str(script), s3_env.url()], stderr=subprocess.PIPE, cwd=tmp_path)
    fs, blocks = s3_env.fs(), f"{s3_env.bucket}/out/{WORK}/blocks"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        fs.invalidate_cache()
        if fs.exists(blocks) and fs.find(blocks):
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.kill()
    proc.wait(timeout=30)
    left = s3_env.objects()
    assert not any(k in left for k in ("build_info.json", "README.md", "skipped.jsonl"))
    assert not any(k.startswith("data/") for k in left)
    assert f"{WORK}/state.json" in left and LOCK in left  # the dead holder's lock stays in the store
    kwargs = dict(scenarios=["original", "image_rainbow"], max_samples=8, block_samples=2, progress=False)
    with pytest.raises(ValueError, match=rf"^{s3_env.url()} holds an interrupted build: pass resume=True"):
        build_dataset(None, s3_env.url(), **kwargs)
    resumed = build_dataset(None, s3_env.url(), resume=True, **kwargs)  # its holder is dead: the lock is taken over
    assert resumed.resumed_blocks >= 1
    build_dataset(None, tmp_path / "local", **kwargs)
    assert _without_elapsed(s3_env.objects()) == _without_elapsed(_local_files(tmp_path / "local"))


# --------------------------------------------------------------------------- the lock


def test_a_second_build_on_a_locked_prefix_stops_naming_the_holder(s3_env):
    out = destination(s3_env.url())
    with folder_lock(out, purpose="build"):
        assert json.loads(s3_env.objects()[LOCK])["pid"] == os.getpid()
        with pytest.raises(FolderInUseError, match=rf"^{s3_env.url()} is in use by process {os.getpid()} "
                           rf"\(build on host {socket.gethostname()}\)"):
            build_dataset(None, s3_env.url(), scenarios=["original"], max_samples=2, progress=False)
    assert LOCK not in s3_env.objects()


def test_the_lock_object_is_created_with_a_conditional_put(s3_env):
    lock = destination(s3_env.url()) / LOCK
    lock.create(b"first")
    with pytest.raises(FileExistsError):  # S3 If-None-Match: *, answered by the server
        lock.create(b"second")
    assert lock.read_bytes() == b"first"


def test_the_lock_is_refreshed_while_held_and_never_after_another_run_took_it_over():
    from ximagenet12.io.locking import _store_lock

    out = destination("memory://locks/refresh")
    lock = out / LOCK
    with _store_lock(out, purpose="build", refresh_s=0.05):
        first = json.loads(lock.read_text())
        deadline = time.monotonic() + 10
        while json.loads(lock.read_text())["time"] == first["time"] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert json.loads(lock.read_text())["time"] > first["time"]
        lock.write_bytes(json.dumps({**first, "token": "another run", "time": time.time()}).encode())
        time.sleep(0.3)  # several refresh periods
        assert json.loads(lock.read_text())["token"] == "another run"
    assert json.loads(lock.read_text())["token"] == "another run"  # nor removed on release
    lock.unlink()


def test_of_builds_racing_for_the_lock_exactly_one_gets_it(s3_env):
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    lock = destination(s3_env.url()) / LOCK
    start = Barrier(6)

    def take(i: int) -> bool:
        start.wait()
        try:
            lock.create(str(i).encode())
            return True
        except FileExistsError:
            return False

    with ThreadPoolExecutor(6) as pool:
        won = list(pool.map(take, range(6)))
    assert won.count(True) == 1 and lock.read_bytes() == str(won.index(True)).encode()


def _plant_lock(s3, **holder) -> None:
    body = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": "build", "token": "x", "time": time.time()}
    s3.fs().pipe_file(f"{s3.bucket}/out/{LOCK}", json.dumps({**body, **holder}).encode())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("holder", [{"pid": "dead"}, {"host": "elsewhere", "time": 0.0}, {"bad": True}],
                         ids=["dead-process-here", "not-refreshed-for-long", "unreadable"])
def test_a_stale_lock_is_taken_over(s3_env, holder):
    if holder.get("pid") == "dead":
        holder = {"pid": _dead_pid()}
    if "bad" in holder:
        s3_env.fs().pipe_file(f"{s3_env.bucket}/out/{LOCK}", b"{not json")
    else:
        _plant_lock(s3_env, **holder)
    assert build_dataset(None, s3_env.url(), scenarios=["original"], max_samples=2, progress=False).rows == 2
    assert LOCK not in s3_env.objects()


def test_a_fresh_lock_of_another_host_is_respected(s3_env):
    _plant_lock(s3_env, host="node-7", pid=4242)
    with pytest.raises(FolderInUseError, match=r"is in use by process 4242 \(build on host node-7\)"):
        build_dataset(None, s3_env.url(), scenarios=["original"], max_samples=2, progress=False)
    assert json.loads(s3_env.objects()[LOCK])["host"] == "node-7"  # not removed by the loser


# --------------------------------------------------------------------------- errors and secrets


def test_a_bucket_that_does_not_exist_fails_in_one_line_before_any_work(s3, monkeypatch):
    import ximagenet12.builder.worker as worker

    monkeypatch.setattr(worker, "process_sample", lambda *a, **k: pytest.fail("a sample was processed"))
    url = f"s3://no-such-bucket-{s3.bucket}/out"
    with pytest.raises(FileNotFoundError, match=rf"^cannot write to {url}: [^\n]+$"):
        build_dataset(None, url, scenarios=["original"], max_samples=2, progress=False, storage_options=s3.options)


def test_no_credentials_at_all_fail_in_one_line(s3, monkeypatch):
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to ask for, quickly
    with pytest.raises(OSError, match=rf"^cannot write to {s3.url()}: Unable to locate credentials$"):
        build_dataset(None, s3.url(), scenarios=["original"], max_samples=2, progress=False,
                      storage_options={"endpoint_url": s3.endpoint})


@pytest.fixture
def s3_with_auth():
    """A moto S3 server (its own process) that checks credentials after its first request,
    which creates the bucket; it knows no access key, so every later request is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "1"}
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the moto server did not start"
                time.sleep(0.1)
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                     region_name="us-east-1").create_bucket(Bucket="guarded")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_refused_credentials_fail_in_one_line_before_any_work(s3_with_auth, monkeypatch):
    import ximagenet12.builder.worker as worker

    monkeypatch.setattr(worker, "process_sample", lambda *a, **k: pytest.fail("a sample was processed"))
    options = {"key": KEY_ID, "secret": SECRET, "endpoint_url": s3_with_auth}
    with pytest.raises(PermissionError, match=r"^cannot write to s3://guarded/out: The AWS Access Key Id you provided "
                       r"does not exist in our records\.$") as caught:
        build_dataset(None, "s3://guarded/out", scenarios=["original"], max_samples=2, progress=False,
                      storage_options=options)
    assert SECRET not in str(caught.value) and KEY_ID not in str(caught.value)


@pytest.mark.slow
def test_credentials_never_reach_an_object_the_output_or_an_error(s3, capsys):
    options = json.dumps(s3.options)
    assert main(["build", "--out", s3.url(), "--scenarios", "original,image_grey", "--max-samples", "4",
                 "--no-progress", "--storage-options", options]) == 0
    out = capsys.readouterr()
    objects = s3.objects()
    assert "build_info.json" in objects and "data/image_grey/train-00000-of-00001.parquet" in objects
    for blob in [*objects.values(), out.out.encode(), out.err.encode()]:
        assert SECRET.encode() not in blob and KEY_ID.encode() not in blob
    bad = s3.url().replace("s3://", "s3://no-such-") + "-x"
    assert main(["build", "--out", bad, "--scenarios", "original", "--no-progress", "--storage-options", options]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"ximagenet12 build: error: cannot write to {bad}: ") and err.count("\n") == 1
    assert SECRET not in err and KEY_ID not in err


def test_scrub_hides_secret_options_and_environment(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    text = "token tok-123456 with env-secret-value at http://127.0.0.1:9000"
    assert scrub(text, {"token": "tok-123456", "endpoint_url": "http://127.0.0.1:9000"}) == \
        "token *** with *** at http://127.0.0.1:9000"


@pytest.mark.parametrize(
    ("out", "options", "match"),
    [
        ("nosuch://bucket/out", None, r"^output 'nosuch://bucket/out': unknown protocol nosuch://"),
        ("s3://AKID:secret@bucket/out", None, r"^output s3://bucket/out: put credentials in the environment or "
         r"--storage-options, never in the URL"),
        ("s3://", None, r"^output 's3://' names no bucket: expected s3://BUCKET/PREFIX$"),
        ("plain/folder", {"anon": True}, r"^--storage-options apply to object-store URLs"),
    ],
)
def test_a_destination_that_cannot_be_used_is_refused_in_one_line(out, options, match):
    with pytest.raises(ValueError, match=match):
        destination(out, storage_options=options)


def test_a_missing_protocol_package_names_the_extra(monkeypatch):
    def missing(protocol):
        raise ImportError(f"Install gcsfs to access {protocol}")

    monkeypatch.setattr(fsspec, "get_filesystem_class", missing)
    with pytest.raises(ValueError, match=r"^writing to gs:// needs a package that is not installed: "
                       r"pip install 'ximagenet12\[gcs\]'$"):
        build_dataset(None, "gs://bucket/out", scenarios=["original"], progress=False)


@pytest.mark.parametrize(("text", "match"), [("{nope", r"^--storage-options is not valid JSON"),
                                              ("[1]", r"^--storage-options must be a JSON object, got list$")])
def test_storage_options_must_be_a_json_object(text, match):
    with pytest.raises(ValueError, match=match):
        parse_storage_options(text)


# --------------------------------------------------------------------------- memory://, any fsspec protocol


def test_any_fsspec_protocol_takes_the_same_path():
    out = destination("memory://bucket/any")
    assert isinstance(out, StorePath) and str(out) == "memory:///bucket/any"
    summary = build_dataset(None, "memory://bucket/any", scenarios=["original"], max_samples=2, progress=False)
    fs = fsspec.filesystem("memory")
    names = sorted(k.split("/any/", 1)[1] for k in fs.find("/bucket/any"))
    assert names == ["README.md", "build_info.json", "data/original/train-00000-of-00001.parquet", "skipped.jsonl"]
    assert summary.rows == 2
    fs.rm("/bucket/any", recursive=True)


# --------------------------------------------------------------------------- generative configs


@pytest.mark.slow
def test_ai_background_into_a_store_writes_the_rows_of_a_local_build(tmp_path, s3_env, release):
    pytest.importorskip("diffusers")
    from ximagenet12.builder.layout import generation_cache_dir
    from ximagenet12.scenarios.generation import GenerationOptions
    from ximagenet12.scenarios.generation.testing import save_tiny_sdxl_inpainting

    model = str(save_tiny_sdxl_inpainting(tmp_path / "tiny-sdxl-inpaint"))
    kwargs = dict(scenarios=["original", "ai_background"], progress=False, max_samples=2,
                  generation=GenerationOptions(model=model, device="cpu", steps=2, batch_size=2))
    stored = build_dataset(str(release), s3_env.url(), **kwargs)
    cache = generation_cache_dir(destination(s3_env.url()) / WORK)
    assert any(cache.rglob("*.png"))  # the generation cache of a store build stays on this machine
    shutil.rmtree(cache)
    build_dataset(str(release), tmp_path / "local", **kwargs)
    local = {k: v for k, v in _local_files(tmp_path / "local").items() if not k.startswith(".cache/")}
    assert stored.configs["ai_background"].rows > 0
    assert _without_elapsed(s3_env.objects()) == _without_elapsed(local)


def test_finalize_frees_each_configs_local_parts_once_merged(monkeypatch):
    from ximagenet12.builder import finalize

    real, seen = finalize.finalize_parts, []

    def recording(parts, folder, *args, **kwargs):
        parts = list(parts)
        seen.append(sorted(p.parent.name for p in parts[0].parent.parent.rglob("*.parquet")))
        return real(parts, folder, *args, **kwargs)

    monkeypatch.setattr(finalize, "finalize_parts", recording)
    build_dataset(None, "memory://bucket/free", scenarios=["original", "image_grey", "image_rainbow"], max_samples=2,
                  block_samples=1, progress=False)
    assert seen == [["image_grey"] * 2 + ["image_rainbow"] * 2 + ["original"] * 2,
                    ["image_grey"] * 2 + ["image_rainbow"] * 2, ["image_rainbow"] * 2]
    fsspec.filesystem("memory").rm("/bucket/free", recursive=True)


def test_a_build_whose_lock_was_taken_over_while_it_stalled_publishes_nothing(s3_env, monkeypatch):
    import ximagenet12.builder.build as build
    from ximagenet12.io.locking import LockLostError

    real = build.run_process_stage

    def stalled_then_overtaken(*args, **kwargs):
        outcome = real(*args, **kwargs)
        # as if this run had been suspended past LOCK_STALE_S and another build took the lock over
        taken = {"host": "other-host", "pid": 4242, "purpose": "build", "token": "the other run", "time": time.time()}
        (destination(s3_env.url()) / LOCK).write_bytes(json.dumps(taken).encode())
        return outcome

    monkeypatch.setattr(build, "run_process_stage", stalled_then_overtaken)
    with pytest.raises(LockLostError, match=rf"^{s3_env.url()}: this run stalled for over 600 s and process 4242 on "
                       r"host other-host took its lock over; stopped before publishing anything more"):
        build_dataset(None, s3_env.url(), scenarios=["original"], max_samples=2, progress=False)
    objects = s3_env.objects()
    assert "build_info.json" not in objects and not any(k.startswith("data/") for k in objects)
    assert json.loads(objects[LOCK])["token"] == "the other run"  # the new holder's lock is left alone
