"""push: the real huggingface_hub and datasets clients against the loopback Hub.

Client code runs in a subprocess (``run_client``) whose HF_ENDPOINT is the loopback
server, because both libraries read the endpoint when imported.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from ximagenet12.hub.publish import PushError, push

ROUND_TRIP = """
import json, datasets
from ximagenet12.hub.publish import push
summary = push({folder!r}, "owner/ximagenet12", commit_batch_size=2)
out = {{"uploaded": summary.uploaded, "commits": len(summary.commits), "url": summary.url}}
for config in ("original", "blur_background"):
    remote = datasets.load_dataset("owner/ximagenet12", config, split="train")
    local = datasets.load_dataset({folder!r}, config, split="train")
    assert remote.features == local.features, (remote.features, local.features)
    raw = lambda ds: ds.cast_column("image", datasets.Image(decode=False)).cast_column("mask", datasets.Image(decode=False)).to_list()
    assert raw(remote) == raw(local), config
    stream = datasets.load_dataset("owner/ximagenet12", config, split="train", streaming=True)
    streamed = [row["source_id"] for row in stream]
    assert streamed == local["source_id"], (streamed, local["source_id"])
    out[config] = len(remote)
default = datasets.load_dataset("owner/ximagenet12", split="train")
out["default_scenario"] = sorted(set(default["scenario"]))
print("RESULT " + json.dumps(out))
"""


def _result(proc) -> dict:
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def test_push_then_load_dataset_returns_the_same_rows(built_folder, hub, run_client):
    result = _result(run_client(ROUND_TRIP.format(folder=str(built_folder))))
    assert result["original"] == 6 and result["blur_background"] == 6
    assert result["default_scenario"] == ["original"]  # the card's default config
    assert result["url"].endswith("/datasets/owner/ximagenet12")
    # 4 data/meta files in batches of 2, then the card alone, last
    assert result["commits"] == 3
    assert result["uploaded"][-1] == "README.md"
    remote = hub.files("dataset", "owner/ximagenet12")
    for path in result["uploaded"]:
        assert remote[path] == (built_folder / path).read_bytes(), path
    assert len(hub.lfs_uploads) == 2  # the two parquet shards went through LFS
    # the repo held no card until every data file was in
    commits = [line for line in hub.log_lines() if "/commit/" in line]
    assert len(commits) == 3


PUSH = """
import json, logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from ximagenet12.hub.publish import push, PushError
try:
    summary = push({folder!r}, "owner/ximagenet12", commit_batch_size={batch}{extra})
except PushError as exc:
    print("PUSHERROR " + str(exc))
    raise SystemExit(3)
print("RESULT " + json.dumps({{"uploaded": summary.uploaded, "skipped": summary.skipped}}))
"""


def test_interrupted_push_resumes_without_reuploading(folders, tmp_path, hub, run_client):
    folder = folders.make_folder(tmp_path / "built", shards=2)  # 4 parquet shards + 3 small files
    hub.fail_commits = {2}
    proc = run_client(PUSH.format(folder=str(folder), batch=2, extra=""), check=False)
    assert proc.returncode == 3, proc.stderr
    assert "failed after 1 commit(s) (2 file(s) committed, 0 already there)" in proc.stdout
    assert "run the same push again to resume" in proc.stdout
    assert "README.md" not in hub.files("dataset", "owner/ximagenet12")  # no card before the data
    uploads_before = list(hub.lfs_uploads)
    # batch 1 = build_info.json + 1 shard; batch 2 (2 shards) reached LFS storage, then its commit failed
    assert len(uploads_before) == 3

    result = _result(run_client(PUSH.format(folder=str(folder), batch=2, extra="")))
    assert result["skipped"] == ["build_info.json", "data/blur_background/train-00000-of-00002.parquet"]
    assert result["uploaded"][-1] == "README.md"
    # only the last shard was sent; the two of the failed commit were found in LFS storage
    assert hub.lfs_uploads[:3] == uploads_before and len(hub.lfs_uploads) == 4
    assert len(set(hub.lfs_uploads)) == 4  # nothing was uploaded twice
    remote = hub.files("dataset", "owner/ximagenet12")
    remote.pop(".gitattributes")
    assert remote == {p: (folder / p).read_bytes() for p in remote} and len(remote) == 7

    # a third run finds everything in place and commits nothing
    commits_before = hub.commit_requests
    result = _result(run_client(PUSH.format(folder=str(folder), batch=2, extra="")))
    assert result["uploaded"] == [] and len(result["skipped"]) == 7
    assert hub.commit_requests == commits_before


def test_changed_file_is_uploaded_again(built_folder, hub, run_client):
    run_client(PUSH.format(folder=str(built_folder), batch=100, extra=""))
    (built_folder / "build_info.json").write_text('{"seed": 1}')
    result = _result(run_client(PUSH.format(folder=str(built_folder), batch=100, extra="")))
    assert result["uploaded"] == ["build_info.json"]
    assert hub.files("dataset", "owner/ximagenet12")["build_info.json"] == b'{"seed": 1}'


def test_invalid_card_is_refused_before_any_request(built_folder, folders, hub, run_client):
    meta = folders.card_metadata({"original": 6, "blur_background": 6})
    meta["license"] = "CC BY 4.0"
    meta["size_categories"] = "100K<n<1M"
    folders.write_card(built_folder, meta)
    code = f"""
from ximagenet12.hub.publish import push
try:
    push({str(built_folder)!r}, "owner/ximagenet12")
except ValueError as exc:
    print("VALUEERROR " + str(exc))
"""
    proc = run_client(code)
    assert "VALUEERROR" in proc.stdout and "2 problem(s) the Hub would refuse" in proc.stdout
    assert "'CC BY 4.0' is not a licence id" in proc.stdout
    assert "'100K<n<1M' does not hold the row count" in proc.stdout
    assert hub.requests == []


def test_token_is_used_but_never_printed(built_folder, hub, run_client):
    secret = "hf_explicitTOKEN0123456789secret"
    hub.fail_commits = {2}
    extra = f", token={secret!r}"
    proc = run_client(PUSH.format(folder=str(built_folder), batch=2, extra=extra), token=None, check=False)
    assert proc.returncode == 3
    assert f"Bearer {secret}" in hub.authorizations  # the explicit token reached the Hub ...
    assert secret not in proc.stdout and secret not in proc.stderr  # ... and no log or error
    assert "injected failure of commit request 2" in proc.stdout


def test_push_needs_a_token_somewhere(built_folder, hub, run_client):
    proc = run_client(PUSH.format(folder=str(built_folder), batch=100, extra=""), token=None, check=False)
    assert proc.returncode == 3
    assert "PUSHERROR push of" in proc.stdout and "401" in proc.stdout
    assert hub.repos == {}


def test_push_to_a_branch(built_folder, hub, run_client):
    proc = run_client(PUSH.format(folder=str(built_folder), batch=100, extra=', revision="v1"'))
    assert _result(proc)["uploaded"][-1] == "README.md"
    assert "README.md" in hub.files("dataset", "owner/ximagenet12", "v1")
    assert "README.md" not in hub.files("dataset", "owner/ximagenet12", "main")


@pytest.mark.parametrize(
    "repo_id, kwargs, error, match",
    [
        ("ximagenet12", {}, ValueError, "repo_id must look like 'owner/name'"),
        ("a/b/c", {}, ValueError, "repo_id must look like 'owner/name'"),
        (3, {}, TypeError, "repo_id must be a string"),
        ("owner/x", {"commit_batch_size": 0}, ValueError, "commit_batch_size must be between 1 and 1000"),
    ],
)
def test_push_argument_errors(built_folder, repo_id, kwargs, error, match, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(error, match=match):
        push(built_folder, repo_id, **kwargs)


def test_push_refuses_a_code_file_in_process(built_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (built_folder / "data" / "original" / "loader.py").write_text("")
    with pytest.raises(ValueError, match=r"(?s)1 problem\(s\).*loader.py: code or binary file"):
        push(built_folder, "owner/x")
    assert issubclass(PushError, RuntimeError)


def test_the_hubs_own_card_check_runs_before_anything_is_sent(built_folder, hub, run_client):
    hub.card_errors = ["task_ids: 'not-a-task' is not a valid task id"]
    code = f"""
from ximagenet12.hub.publish import push
try:
    push({str(built_folder)!r}, "owner/ximagenet12")
except ValueError as exc:
    print("VALUEERROR " + str(exc))
"""
    proc = run_client(code)
    assert "VALUEERROR the Hub refuses the card" in proc.stdout and "'not-a-task' is not a valid task id" in proc.stdout
    assert hub.log_lines() == ["POST /api/validate-yaml -> 400"]  # no repo created, nothing uploaded
    assert hub.repos == {}


def test_a_valid_card_is_checked_online_first(built_folder, hub, run_client):
    run_client(PUSH.format(folder=str(built_folder), batch=100, extra=""))
    assert [line for line in hub.log_lines() if "agent-harnesses" not in line][0] == "POST /api/validate-yaml -> 200"


class _RecordingApi:
    """Stands in for HfApi on the pipelined path, which needs the Hub's Xet storage (not offered here)."""

    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kwargs):
        self.calls.append(("upload_folder", kwargs))
        return SimpleNamespace(oid="c1")

    def create_commit(self, repo_id, operations, **kwargs):
        self.calls.append(("create_commit", [op.path_in_repo for op in operations], kwargs["commit_message"]))
        return SimpleNamespace(oid="c2")


def test_pipelined_path_sends_only_validated_data_files_then_the_card(built_folder, monkeypatch):
    import fnmatch

    import ximagenet12.hub.publish as hub_module
    from ximagenet12.hub.validate import upload_paths

    (built_folder / "notes[1].txt").write_text("x")  # refused by validation, and must not match a pattern
    monkeypatch.setattr(hub_module, "pipelined_upload_available", lambda: True)
    monkeypatch.setattr(hub_module, "_validate_card_online", lambda root, repo_type: None)
    api = _RecordingApi()
    paths = upload_paths(built_folder)
    summary = hub_module._upload(built_folder, paths, "owner/x", "dataset", private=False, revision="main", token=None,
                                 commit_batch_size=100, space_sdk=None, secrets=[], api=api)
    (_, repo), (_, kwargs), card_commit = api.calls
    assert repo == "owner/x" and card_commit == ("create_commit", ["README.md"], "Upload dataset card")
    allowed = kwargs["allow_patterns"]
    every_file = [p.relative_to(built_folder).as_posix() for p in built_folder.rglob("*") if p.is_file()]
    matched = sorted(f for f in every_file if any(fnmatch.fnmatch(f, pattern) for pattern in allowed))
    assert matched == [p for p in paths if p != "README.md"]
    assert summary.path == "pipelined" and summary.uploaded[-1] == "README.md"


def test_the_loopback_tests_take_the_legacy_path(monkeypatch):
    from huggingface_hub import constants

    from ximagenet12.hub.publish import pipelined_upload_available

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    assert pipelined_upload_available() is False
