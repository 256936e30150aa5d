"""Hostile folders and leaky errors: `push` uploads only what a dataset repo is made of.

Every case plants something in an otherwise valid built folder and checks that
validation names it with the reason, that `push` refuses the folder before a single
request reaches the (loopback) Hub, and that no token, from any source, shows in any
message or log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from ximagenet12.hub.publish import FolderInUseError, mask_tokens, push
from ximagenet12.hub.validate import check_regular_file, scan_folder, upload_paths, validate_folder
from ximagenet12.io.locking import folder_lock

_spec = importlib.util.spec_from_file_location(
    "ximagenet12_tests_hub_conftest", Path(__file__).resolve().parents[1] / "hub" / "conftest.py"
)
_hub_conftest = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _hub_conftest
_spec.loader.exec_module(_hub_conftest)
built_folder, folders, hub, run_client = (  # the publishing tests' fixtures, shared
    _hub_conftest.built_folder,
    _hub_conftest.folders,
    _hub_conftest.hub,
    _hub_conftest.run_client,
)

SECRET_TEXT = "hf_PRIVATEKEYmaterial0123456789abcdef"


@pytest.fixture
def secret_file(tmp_path) -> Path:
    """A file outside the dataset folder that must never leave the machine."""
    path = tmp_path / "outside" / "token.txt"
    path.parent.mkdir()
    path.write_text(SECRET_TEXT)
    return path


def _errors(folder: Path) -> dict[str, str]:
    return {p.where: p.message for p in validate_folder(folder) if p.severity == "error"}


# ------------------------------------------------------------------ what is refused, and why

PLANTED = [
    # (relative path, content, expected words in the reason)
    (".env", "HF_TOKEN=x", "hidden file or folder"),
    ("data/original/.secret", "x", "hidden file or folder"),
    ("LOADER.PY", "print()", "code or binary file (.py)"),
    ("ximagenet12.Py", "print()", "code or binary file (.py)"),
    ("data/original/run.Sh", "rm -rf /", "code or binary file (.sh)"),
    ("notebook.IPYNB", "{}", "code or binary file (.ipynb)"),
    ("data/original/lib.so", "\x7fELF", "code or binary file (.so)"),
    ("model.PKL", "x", "code or binary file (.pkl)"),
    ("notes.txt", "x", "not part of a dataset repo"),
    ("data/original/train.csv", "a,b", "not part of a dataset repo"),
    ("readme.md", "---\n---\n", "must be spelled 'README.md' exactly"),
    ("data/original/train-00009.PARQUET", "x", "parquet file outside data/<config>/"),
    ("data/original/nested/train.parquet", "x", "parquet file outside data/<config>/"),
    ("stray.parquet", "x", "parquet file outside data/<config>/"),
]


@pytest.mark.parametrize("rel, content, reason", PLANTED, ids=[p[0] for p in PLANTED])
def test_every_unlisted_file_is_an_error_with_its_reason(built_folder, rel, content, reason):
    path = built_folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    errors = _errors(built_folder)
    assert list(errors) == [rel], errors
    assert reason in errors[rel]
    assert rel not in upload_paths(built_folder)


@pytest.mark.parametrize("folder_name", [".ssh", "data/.hidden", "data/original/.git"])
def test_dot_folders_are_errors_and_never_walked(built_folder, folder_name):
    (built_folder / folder_name).mkdir(parents=True)
    (built_folder / folder_name / "id_rsa").write_text(SECRET_TEXT)
    errors = _errors(built_folder)
    assert errors == {folder_name + "/": "hidden folder: a dataset repo publishes no dot-folders"}
    assert not any(p.startswith(folder_name) for p in upload_paths(built_folder))


def test_git_and_cache_at_the_top_are_never_uploaded_and_said_so(built_folder):
    for name in (".git", ".cache"):
        (built_folder / name).mkdir()
        (built_folder / name / "x").write_text("x")
    problems = validate_folder(built_folder)
    assert [str(p) for p in problems] == [
        "warning: .cache/: never uploaded (git or build cache folder)",
        "warning: .git/: never uploaded (git or build cache folder)",
    ]
    assert upload_paths(built_folder) == [
        "README.md", "build_info.json",
        "data/blur_background/train-00000-of-00001.parquet", "data/original/train-00000-of-00001.parquet",
        "skipped.jsonl",
    ]


def test_file_symlink_to_a_secret_outside_is_refused(built_folder, secret_file):
    (built_folder / "build_info.json").unlink()
    (built_folder / "build_info.json").symlink_to(secret_file)  # an allowed name, hostile content
    errors = _errors(built_folder)
    assert "symbolic link" in errors["build_info.json"]
    assert "build_info.json" not in upload_paths(built_folder)


def test_symlinked_shard_and_folder_are_refused(built_folder, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shard = built_folder / "data" / "original" / "train-00000-of-00001.parquet"
    shard.rename(outside / "real.parquet")
    shard.symlink_to(outside / "real.parquet")
    (built_folder / "data" / "linked").symlink_to(outside, target_is_directory=True)
    errors = _errors(built_folder)
    assert "symbolic link" in errors["data/original/train-00000-of-00001.parquet"]
    assert errors["data/linked"].startswith("symbolic link to a folder")
    assert not any("linked" in p or p.startswith("data/original/") for p in upload_paths(built_folder))


def test_a_fifo_is_not_a_regular_file(built_folder):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(built_folder / "data" / "original" / "pipe.parquet")
    errors = _errors(built_folder)
    assert errors["data/original/pipe.parquet"] == "not a regular file (device, pipe or socket)"


def test_a_file_swapped_for_a_link_after_validation_is_refused(built_folder, secret_file):
    check_regular_file(built_folder, "build_info.json")  # fine now
    (built_folder / "build_info.json").unlink()
    (built_folder / "build_info.json").symlink_to(secret_file)
    with pytest.raises(ValueError, match=r"build_info.json in .* cannot be uploaded: symbolic link"):
        check_regular_file(built_folder, "build_info.json")
    (built_folder / "build_info.json").unlink()
    with pytest.raises(ValueError, match="disappeared after the validation"):
        check_regular_file(built_folder, "build_info.json")


def test_zero_row_config_is_an_error(tmp_path, folders):
    import pyarrow.parquet as pq

    folder = folders.make_folder(tmp_path / "f", {"original": 6, "mixed_same": 6})
    shard = folder / "data" / "mixed_same" / "train-00000-of-00001.parquet"
    pq.write_table(pq.read_table(shard).slice(0, 0), shard)  # same schema, 0 rows
    folders.write_card(folder, folders.card_metadata({"original": 6, "mixed_same": 0}))
    errors = _errors(folder)
    assert list(errors) == ["README.md configs[mixed_same]"]
    assert errors["README.md configs[mixed_same]"].startswith("0 rows: an empty config fails to load")


def test_check_only_lists_every_hostile_file(built_folder, secret_file, capsys):
    from ximagenet12.cli import main

    (built_folder / "skipped.jsonl").unlink()
    (built_folder / "skipped.jsonl").symlink_to(secret_file)
    (built_folder / "Run.BAT").write_text("x")
    (built_folder / ".hidden").mkdir()
    assert main(["push", str(built_folder), "--repo", "owner/x", "--check-only"]) == 1
    out = capsys.readouterr().out
    assert "error: skipped.jsonl: symbolic link" in out
    assert "error: Run.BAT: code or binary file (.bat)" in out
    assert "error: .hidden/: hidden folder" in out
    assert out.strip().endswith("3 error(s), 0 warning(s)")


# ------------------------------------------------------------------ nothing reaches the Hub

HOSTILE_PUSH = """
import json
from ximagenet12.hub.publish import push
try:
    push({folder!r}, "owner/ximagenet12")
except ValueError as exc:
    print("REFUSED " + json.dumps(str(exc)))
"""


def test_hostile_folder_is_refused_before_any_request(built_folder, secret_file, hub, run_client):
    (built_folder / "data" / "original" / "key.parquet").symlink_to(secret_file)
    (built_folder / ".env").write_text(SECRET_TEXT)
    proc = run_client(HOSTILE_PUSH.format(folder=str(built_folder)))
    message = json.loads(proc.stdout.split("REFUSED ", 1)[1])
    assert "2 problem(s) the Hub would refuse" in message
    assert "data/original/key.parquet: symbolic link" in message and ".env: hidden file" in message
    assert hub.requests == []
    assert SECRET_TEXT not in proc.stdout + proc.stderr


SWAP_AFTER_VALIDATION = """
import json, pathlib
import ximagenet12.hub.publish as hub_module
original = hub_module.upload_paths

def upload_paths_then_swap(root):
    paths = original(root)
    target = pathlib.Path(root) / "build_info.json"
    target.unlink()
    target.symlink_to({secret!r})   # the race: validated as a file, a link by upload time
    return paths

hub_module.upload_paths = upload_paths_then_swap
try:
    hub_module.push({folder!r}, "owner/ximagenet12")
except ValueError as exc:
    print("REFUSED " + json.dumps(str(exc)))
"""


def test_a_link_swapped_in_during_the_push_is_never_sent(built_folder, secret_file, hub, run_client):
    proc = run_client(SWAP_AFTER_VALIDATION.format(folder=str(built_folder), secret=str(secret_file)))
    assert "build_info.json in" in proc.stdout and "cannot be uploaded: symbolic link" in proc.stdout
    repo = hub.repos.get(("dataset", "owner/ximagenet12"))
    sent = {} if repo is None else hub.files("dataset", "owner/ximagenet12")
    assert SECRET_TEXT.encode() not in b"".join(sent.values())
    assert not any(SECRET_TEXT.encode() in blob for blob in hub.lfs_store.values())


# ------------------------------------------------------------------ tokens never leak

LEAKY_PUSH = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from ximagenet12.hub.publish import push, PushError
try:
    push({folder!r}, "owner/ximagenet12"{extra})
except PushError as exc:
    print("PUSHERROR " + str(exc))
    logging.getLogger("ximagenet12").error("push failed", exc_info=True)
"""


@pytest.mark.parametrize("source", ["argument", "HF_TOKEN", "stored login"])
def test_a_token_echoed_by_the_server_is_masked_everywhere(built_folder, hub, run_client, tmp_path, source):
    secret = "hf_" + "Zq9" * 12  # shaped like a real Hub token
    hub.echo_authorization = True
    hub.fail_commits = {1}
    extra, env_token = "", None
    if source == "argument":
        extra = f", token={secret!r}"
    elif source == "HF_TOKEN":
        env_token = secret
    else:
        (tmp_path / "hf_home").mkdir(exist_ok=True)
        (tmp_path / "hf_home" / "token").write_text(secret)
    proc = run_client(LEAKY_PUSH.format(folder=str(built_folder), extra=extra), token=env_token)
    assert f"Bearer {secret}" in hub.authorizations  # the token was really used ...
    assert "request had Authorization: Bearer ***" in proc.stdout  # ... echoed, and masked
    assert secret not in proc.stdout and secret not in proc.stderr


def test_a_short_custom_token_is_masked_too(built_folder, hub, run_client):
    secret = "my-private-gateway-key-42"  # not Hub-shaped: known only because it was given
    hub.echo_authorization = True
    hub.fail_commits = {1}
    proc = run_client(LEAKY_PUSH.format(folder=str(built_folder), extra=""), token=secret)
    assert "PUSHERROR" in proc.stdout
    assert secret not in proc.stdout + proc.stderr


def test_cli_masks_a_token_in_a_refusal(built_folder, hub, run_client):
    secret = "hf_" + "Cli7" * 9
    hub.echo_authorization = True
    hub.fail_commits = {1}
    code = f"from ximagenet12.cli import main\nraise SystemExit(main({['push', str(built_folder), '--repo', 'owner/x', '--token', secret]!r}))"
    proc = run_client(code, token=None, check=False)
    assert proc.returncode == 1 and "ximagenet12 push: error: push of" in proc.stderr
    assert secret not in proc.stdout + proc.stderr


def test_mask_tokens_covers_every_form():
    text = "token hf_abcdefghijklmnopqrstuvwxyz012345 and Authorization: Bearer opaque.jwt.value, key s3cr3t-key"
    masked = mask_tokens(text, ["s3cr3t-key"])
    assert masked == "token *** and Authorization: Bearer *** key ***"


# ------------------------------------------------------------------ one push at a time


def test_a_locked_folder_is_refused_while_in_use(built_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with folder_lock(built_folder, purpose="build"):
        assert validate_folder(built_folder) == []  # the lock file is no problem and is never uploaded
        assert ".cache/ximagenet12.lock" not in upload_paths(built_folder)
        with pytest.raises(FolderInUseError, match=rf"is in use by process {os.getpid()} \(build\)"):
            push(built_folder, "owner/x")
    with folder_lock(built_folder):  # released: it can be taken again
        pass


def test_cli_push_stops_at_once_when_a_build_holds_the_folder(built_folder, hub, run_client):
    code = f"from ximagenet12.cli import main\nraise SystemExit(main({['push', str(built_folder), '--repo', 'owner/x']!r}))"
    with folder_lock(built_folder, purpose="build"):  # held by this process, as a build would hold it
        proc = run_client(code, check=False)
    assert proc.returncode == 1
    assert "ximagenet12 push: error:" in proc.stderr and f"is in use by process {os.getpid()} (build)" in proc.stderr
    assert hub.requests == []
    assert "Traceback" not in proc.stderr
    assert scan_folder(built_folder).problems == []


def test_a_read_only_folder_is_checked_and_pushed_without_a_lock(built_folder, monkeypatch):
    import ximagenet12.hub.publish as hub_module

    def unwritable(folder, *, purpose):  # what ximagenet12.io.locking raises on a read-only folder
        raise PermissionError(f"cannot write to {folder}: Read-only file system")

    monkeypatch.setattr(hub_module, "folder_lock", unwritable)
    (built_folder / "x.py").write_text("")
    with pytest.raises(ValueError, match=r"x.py: code or binary file"):  # it went on to the validation
        push(built_folder, "owner/x")


def test_a_warning_without_any_logging_set_up_is_masked_too():
    import subprocess

    secret = "hf_" + "NoHandler5" * 4
    code = f"""
import logging
from ximagenet12.hub.publish import _masked_logs
with _masked_logs([{secret!r}]):  # no handler anywhere: logging's last resort prints the warning
    logging.getLogger("huggingface_hub.x").warning("failed with Authorization: Bearer %s", {secret!r})
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "failed with Authorization: Bearer ***" in proc.stderr and secret not in proc.stderr
