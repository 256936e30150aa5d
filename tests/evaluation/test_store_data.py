"""Reading a build where `build --out s3://…` left it: the evaluator's data layer over an object store.

One moto S3 server on 127.0.0.1 for the module and one real build into it; a local copy of the
same objects (as `aws s3 sync` makes it) is the reference. A store build gives the report and
predictions of its local copy, its shards are read in place (never downloaded whole), no
credential reaches a report, and a bucket, prefix or install that cannot serve is one line.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "builder"))  # `import s3_server` (shared with tests/builder)

from s3_server import KEY_ID, SECRET, moto_endpoint  # noqa: E402,F401 - the session's moto server fixture

from ximagenet12.cli import main  # noqa: E402
from ximagenet12.evaluation import data as D  # noqa: E402
from ximagenet12.io.storage import StorePath, data_source  # noqa: E402

SCENARIOS = ["original", "image_grey", "transparent_image"]
BUCKET = "ximagenet12-store-read"
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
           "AWS_ENDPOINT_URL_S3")


def _options(endpoint: str) -> dict[str, str]:
    return {"key": KEY_ID, "secret": SECRET, "endpoint_url": endpoint}


@pytest.fixture(scope="module")
def stored(moto_endpoint, tmp_path_factory):
    """``(url, options, local copy)`` of one finished build on the moto server."""
    import s3fs

    from ximagenet12.builder import build_dataset

    with pytest.MonkeyPatch.context() as mp:
        for name in AWS_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent")
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **_options(moto_endpoint))
        # pytest-xdist may tear this module fixture down and set it up again in the same worker
        # (when the worker's tests of this module are not contiguous): the session's server then
        # already has the bucket, so each set-up builds under a prefix of its own.
        if not fs.exists(BUCKET):
            fs.mkdir(BUCKET)
        prefix = f"builds/xin12-{uuid.uuid4().hex[:8]}"
        url = f"s3://{BUCKET}/{prefix}"
        build_dataset(None, url, scenarios=SCENARIOS, max_samples=4, block_samples=2, progress=False,
                      storage_options=_options(moto_endpoint))
        local = tmp_path_factory.mktemp("copy") / "xin12"
        fs.get(f"{BUCKET}/{prefix}/", str(local), recursive=True)
        s3fs.S3FileSystem.clear_instance_cache()
    return url, _options(moto_endpoint), local


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint):
    """No AWS credentials in the environment unless a test sets them; no metadata-service probe."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


@pytest.fixture(scope="module")
def vit_dir(stored, tmp_path_factory, save_tiny_vit):
    names, _ = D.class_info(stored[2], "original")
    return save_tiny_vit(tmp_path_factory.mktemp("vit"), names)


@pytest.fixture
def no_download(monkeypatch):
    """Fail the test if any object is copied whole to a local file (shards must be read in place)."""
    import s3fs

    def refuse(*args, **kwargs):
        pytest.fail("an object was downloaded whole")

    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", refuse)
    monkeypatch.setattr(StorePath, "download", refuse)


# --------------------------------------------------------------------------- same report as a local copy


def _evaluate(args: list[str], out: Path, vit_dir: Path) -> dict:
    assert main(["evaluate", "--model", str(vit_dir), *args, "--out", str(out), "--device", "cpu",
                 "--batch-size", "4", "--no-progress"]) == 0
    return json.loads((out / "report.json").read_text())


def test_evaluate_from_s3_gives_the_report_and_predictions_of_a_local_copy(stored, vit_dir, tmp_path, aws_env,
                                                                           no_download, capsys):
    url, options, local = stored
    remote = _evaluate(["--data", url, "--storage-options", json.dumps(options)], tmp_path / "store", vit_dir)
    copy = _evaluate(["--data", str(local)], tmp_path / "local", vit_dir)
    for key in ("scenarios", "robustness", "robustness_by_mode", "classes", "label_mapping", "n_failed", "bad_shards"):
        strip = (lambda v: {c: {k: x for k, x in e.items() if k != "seconds"} for c, e in v.items()}) \
            if key == "scenarios" else (lambda v: v)
        assert strip(remote[key]) == strip(copy[key]), key
    assert list(remote["scenarios"]) == SCENARIOS and all(e["n"] == 4 for e in remote["scenarios"].values())
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "store" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "predictions.parquet"))
    # the data named by its URL; the build's own fingerprint, so store and copy reports are comparable
    assert remote["data"] == url and remote["dataset"]["source"] == url
    fp, local_fp = remote["dataset"]["fingerprint"], copy["dataset"]["fingerprint"]
    assert (fp["kind"], fp["value"]) == (local_fp["kind"], local_fp["value"]) and fp["value"]
    assert fp["objects"].startswith("sha256:") and fp["store"] == url
    assert remote["provenance"]["data"] == {"kind": "store", "url": url, "fingerprint": fp["objects"]}
    out = capsys.readouterr()
    for blob in [*(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file()),
                 out.out.encode(), out.err.encode()]:
        assert SECRET.encode() not in blob and KEY_ID.encode() not in blob


def test_credentials_and_endpoint_from_the_environment_alone_and_never_in_the_report(stored, vit_dir, tmp_path,
                                                                                     aws_env, capsys):
    url, options, _ = stored
    aws_env.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    aws_env.setenv("AWS_ENDPOINT_URL", options["endpoint_url"])
    report = _evaluate(["--data", url, "--scenarios", "original", "--limit", "2"], tmp_path / "r", vit_dir)
    assert report["scenarios"]["original"]["n"] == 2
    out = capsys.readouterr()
    for blob in [*(p.read_bytes() for p in (tmp_path / "r").rglob("*") if p.is_file()), out.out.encode(),
                 out.err.encode()]:
        assert SECRET.encode() not in blob and KEY_ID.encode() not in blob


def test_the_objects_digest_changes_when_a_shard_is_rewritten(stored, aws_env):
    url, options, _ = stored
    store = data_source(url, storage_options=options)
    before = D.store_objects_digest(store)
    assert D.store_objects_digest(store) == before
    key = f"{store.path}/README.md"
    card = store.fs.cat_file(key)
    store.fs.pipe_file(key, card + b"\n")
    try:
        assert D.store_objects_digest(store) != before
    finally:
        store.fs.pipe_file(key, card)


# --------------------------------------------------------------------------- the rest of the data layer


def test_row_counts_spans_and_training_rows_read_the_store_like_the_local_copy(stored, aws_env, no_download):
    from ximagenet12.training.data import load_images, read_sources

    url, options, local = stored
    store = data_source(url, storage_options=options)
    assert D.available_configs(store) == D.available_configs(local)
    assert [D.count_rows(store, c) for c in SCENARIOS] == [D.count_rows(local, c) for c in SCENARIOS] == [4, 4, 4]
    assert [n for _, n in D.file_row_counts(store, "original")] == [n for _, n in D.file_row_counts(local, "original")]
    cols = ["source_id", "label", "image"]
    assert list(D.span_rows(store, "image_grey", (1, 3), columns=cols, log=None)) == \
        list(D.span_rows(local, "image_grey", (1, 3), columns=cols, log=None))
    remote_sources, copy_sources = read_sources(store, SCENARIOS), read_sources(local, SCENARIOS)
    assert (remote_sources.source_ids, remote_sources.labels.tolist(), remote_sources.class_names) == \
        (copy_sources.source_ids, copy_sources.labels.tolist(), copy_sources.class_names)
    remote, copy = load_images(store, "transparent_image"), load_images(local, "transparent_image")
    assert (remote.images, remote.source_ids, remote.labels.tolist()) == \
        (copy.images, copy.source_ids, copy.labels.tolist())


# --------------------------------------------------------------------------- one-line errors


def _error(args: list[str], capsys) -> str:
    assert main(["evaluate", "--model", "efficientnet-lite0", *args, "--out", "/nonexistent/never-written",
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and SECRET not in err and KEY_ID not in err, err
    return err


def test_a_bucket_that_does_not_exist_is_one_line(stored, aws_env, capsys):
    _, options, _ = stored
    err = _error(["--data", "s3://no-such-bucket-x/xin12", "--storage-options", json.dumps(options)], capsys)
    assert err == ("ximagenet12 evaluate: error: data s3://no-such-bucket-x/xin12: the bucket s3://no-such-bucket-x "
                   "does not exist (or these credentials cannot see it)\n")


def test_an_unreachable_endpoint_is_one_line_naming_it_not_a_missing_bucket(aws_env, capsys):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {**_options(f"http://127.0.0.1:{port}"), "config_kwargs": {"retries": {"max_attempts": 1}}}
    err = _error(["--data", f"s3://{BUCKET}/xin12", "--storage-options", json.dumps(options)], capsys)
    assert err.startswith(f"ximagenet12 evaluate: error: cannot read s3://{BUCKET}/xin12/build_info.json: "
                          f"Could not connect to the endpoint URL: \"http://127.0.0.1:{port}/")


def test_a_prefix_without_build_info_is_an_unfinished_build_and_an_empty_one_no_build(stored, aws_env, capsys):
    url, options, _ = stored
    store = data_source(f"s3://{BUCKET}/half", storage_options=options)
    store.fs.pipe_file(f"{store.path}/README.md", b"---\nconfigs: []\n---\n")  # a build killed before its marker
    err = _error(["--data", str(store), "--storage-options", json.dumps(options)], capsys)
    assert err.startswith(f"ximagenet12 evaluate: error: data {store} is an unfinished build (no build_info.json, "
                          f"which a build writes last): finish it with `ximagenet12 build --out {store} --resume`")
    err = _error(["--data", f"s3://{BUCKET}/nothing-here", "--storage-options", json.dumps(options)], capsys)
    assert err == f"ximagenet12 evaluate: error: data s3://{BUCKET}/nothing-here holds no ximagenet12 build " \
        "(nothing under the prefix)\n"


def test_a_missing_s3fs_names_the_extra(aws_env, monkeypatch, capsys):
    def missing(protocol):
        raise ImportError(f"Install s3fs to access {protocol}")

    monkeypatch.setattr(fsspec, "get_filesystem_class", missing)
    err = _error(["--data", "s3://bucket/xin12"], capsys)
    assert err == ("ximagenet12 evaluate: error: reading from s3:// needs a package that is not installed: "
                   "pip install 'ximagenet12[s3]'\n")


@pytest.mark.parametrize(
    ("data", "options", "match"),
    [
        ("./built", '{"anon": true}',
         r"^--storage-options apply to object-store URLs \(s3://, gs://, \.\.\.\), not './built'$"),
        ("s3://bucket/x", "[1]", r"^--storage-options must be a JSON object, got list$"),
        ("s3://AKID:pw@bucket/x", None, r"^data s3://bucket/x: put credentials in the environment or --storage-options"),
        ("nosuch://bucket/x", None, r"^data 'nosuch://bucket/x': unknown protocol nosuch://"),
    ],
)
def test_a_data_source_that_cannot_be_read_is_refused_before_any_work(data, options, match):
    from ximagenet12.io.storage import cli_data

    with pytest.raises(ValueError, match=match):
        cli_data(data, options)


# --------------------------------------------------------------------------- the other commands that take --data


@pytest.mark.slow
def test_explain_and_challenge_read_the_store_with_storage_options(stored, vit_dir, tmp_path, aws_env, capsys):
    url, options, local = stored
    store_args = ["--data", url, "--storage-options", json.dumps(options)]
    explain = ["explain", "--model", str(vit_dir), "--method", "rollout", "--scenarios", "original,image_grey",
               "--limit", "2", "--device", "cpu", "--no-progress", "--n-bootstrap", "20", "--dtype", "float32"]
    assert main([*explain, *store_args, "--out", str(tmp_path / "explain")]) == 0
    assert main([*explain, "--data", str(local), "--out", str(tmp_path / "explain-local")]) == 0
    remote, copy = (json.loads((tmp_path / f / "report.json").read_text()) for f in ("explain", "explain-local"))
    assert remote["data"] == url
    assert {c: e["object_focus"] for c, e in remote["scenarios"].items()} == \
        {c: e["object_focus"] for c, e in copy["scenarios"].items()}
    challenge = ["challenge", "--model", str(vit_dir), "--candidates", "2", "--limit", "2", "--no-library",
                 "--device", "cpu", "--no-progress", "--mode", "restricted"]
    assert main([*challenge, *store_args, "--out", str(tmp_path / "challenge")]) == 0
    report = json.loads((tmp_path / "challenge" / "report.json").read_text())
    assert report["data"] == url and report["n"] == 2
    out = capsys.readouterr()
    for blob in [*(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()), out.out.encode(), out.err.encode()]:
        assert SECRET.encode() not in blob and KEY_ID.encode() not in blob


def test_train_reads_the_store_through_the_environment_as_it_reads_a_local_copy(stored, vit_dir, tmp_path, aws_env,
                                                                                 capsys):
    url, options, local = stored
    aws_env.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    aws_env.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    aws_env.setenv("AWS_ENDPOINT_URL", options["endpoint_url"])
    errors = []
    for data in (url, str(local)):  # 4 sources of 10 classes: the fold plan refuses both the same way
        assert main(["train", "--protocol", "ex1", "--folds", "2", "--model", str(vit_dir), "--data", data,
                     "--out", str(tmp_path / "run"), "--no-progress"]) == 1
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1], errors  # the source table was read from the store
    assert errors[0].startswith("ximagenet12 train: error: 10 class(es) have fewer source images than --folds 2: ")


@pytest.mark.slow
@pytest.mark.xdist_group("ray")
def test_evaluate_on_ray_replicas_reads_the_store_and_gives_the_local_report(stored, vit_dir, tmp_path, aws_env):
    pytest.importorskip("ray")
    url, options, local = stored
    remote = _evaluate(["--data", url, "--storage-options", json.dumps(options), "--engine", "ray", "--replicas", "2",
                        "--ray-num-cpus", "2"], tmp_path / "ray", vit_dir)
    copy = _evaluate(["--data", str(local)], tmp_path / "local", vit_dir)
    assert len(remote["engine"]["shards"]) == 2  # the store's footers gave row counts, so configs were split
    assert {c: e["modes"] for c, e in remote["scenarios"].items()} == \
        {c: e["modes"] for c, e in copy["scenarios"].items()}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "ray" / "predictions.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "predictions.parquet"))
