"""The reliability tally of issue 17: every hostile input and injected fault, and what came of it.

    python benchmarks/reliability_tally.py [--verbose] [--only SUBSTRING]

Runs, each in a fresh temporary folder:

- every case of the generated hostile corpus (``tests/reliability/hostile.py``: malformed
  LabelMe / COCO / folder / Hugging Face sources, non-UTF-8 names, declared sizes over the
  bomb limit, huge coordinates, thin images, bad donors), built twice with
  ``ximagenet12 build``;
- output-folder faults (out = / inside / around the source, a user's README under
  --overwrite, other settings, a tampered manifest, --resume on a finished build, a
  symlink planted at the lock file, a read-only folder);
- kills (SIGKILL after 1 and 2 finished blocks, SIGKILL and SIGTERM of the main process with
  ``--num-proc 2``; then ``--resume``), two concurrent builds into one folder, and full
  disks (injected ENOSPC at three points; a real 160 KiB tmpfs where this machine allows
  mounting one).

It prints one line per case with ``--verbose`` and the tally: cases tried / recorded skips /
clear errors / tracebacks / rows lost / bytes that differ between identical runs /
unexpected outcomes. A *recorded skip* is a build that exits 0 with the bad sample in
``skipped.jsonl``; a *clear error* is an exit 1 with one line on stderr (expected for the
fault cases, never for a malformed sample). Tracebacks, rows lost, differing bytes and
unexpected outcomes must all be 0.

Cases owned by other commands (``push``, the evaluator) plug in through
:func:`push_cases` and :func:`evaluator_cases`; issue 25's families through
:func:`model_folder_cases` (damaged model folders through evaluate, train, explain and
challenge), :func:`card_text_cases` (repo ids and class names that would inject text into
a card) and :func:`report_cases` (damaged reports and ``--out`` paths of analyze and score);
and the owned-output families (every command's output folder, resume after a content change,
...) through :func:`owned_output_cases`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))

import hostile  # noqa: E402  (the generated corpus shared with the tests)
import hostile_out  # noqa: E402  (issue 25's owned-output helpers, shared with the tests)
import pyarrow.parquet as pq  # noqa: E402

from ximagenet12.builder import build_dataset  # noqa: E402
from ximagenet12.cli import main  # noqa: E402


@dataclass
class Outcome:
    """What one case gave. ``kind``: skip / error / ok / traceback."""

    kind: str
    expected: str
    rows_lost: int = 0
    bytes_differ: int = 0
    note: str = ""


@dataclass
class Case:
    name: str
    group: str
    run: Callable[[Path], Outcome]


# --------------------------------------------------------------------------- helpers


def cli(args: list[str]) -> tuple[str, int, str, str]:
    """Run the CLI in-process: (kind, exit code, stdout, stderr); kind is ok / error / traceback."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except BaseException as exc:  # noqa: BLE001 - a traceback is what the tally counts
        return "traceback", -1, out.getvalue(), f"{type(exc).__name__}: {exc}"
    text = err.getvalue()
    if "Traceback" in text:
        return "traceback", code, out.getvalue(), text
    if code == 0:
        return "ok", code, out.getvalue(), text
    clear = text.count("\n") == 1 and text.startswith(f"ximagenet12 {args[0]}: error: ")
    return ("error" if clear else "traceback"), code, out.getvalue(), text


def files(out: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "build_info.json":  # its elapsed time differs by nature
            info = json.loads(data)
            info.pop("elapsed_s", None)
            data = json.dumps(info, sort_keys=True).encode()
        found[path.relative_to(out).as_posix()] = data
    return found


def differing_bytes(a: dict[str, bytes], b: dict[str, bytes]) -> int:
    total = 0
    for name in set(a) | set(b):
        x, y = a.get(name, b""), b.get(name, b"")
        total += abs(len(x) - len(y)) + sum(p != q for p, q in zip(x, y))
    return total


def rows(out: Path) -> dict[str, list]:
    return {p.relative_to(out).as_posix(): pq.read_table(p).to_pylist() for p in sorted((out / "data").rglob("*.parquet"))}


def built_ids(out: Path) -> set[str]:
    return {sid for p in (out / "data").rglob("*.parquet") for sid in pq.read_table(p, columns=["source_id"]).column(0).to_pylist()}


def compare_rows(out: Path, clean: Path) -> tuple[int, int]:
    """(rows lost, differing bytes) of ``out`` against a clean build."""
    a, b = rows(out), rows(clean)
    lost = sum(len(v) for v in b.values()) - sum(len(v) for v in a.values())
    return max(lost, 0), differing_bytes({k: v.read_bytes() for k, v in _shards(out).items()},
                                         {k: v.read_bytes() for k, v in _shards(clean).items()})


def _shards(out: Path) -> dict[str, Path]:
    return {p.relative_to(out).as_posix(): p for p in (out / "data").rglob("*.parquet")}


# --------------------------------------------------------------------------- malformed sources


def source_case(case: hostile.HostileCase) -> Case:
    def run(tmp: Path) -> Outcome:
        source = case.make(tmp / "src")
        args = ["build", "--source", str(source), "--scenarios", case.scenarios, "--no-progress"]
        kind, _, printed, err = cli([*args, "--out", str(tmp / "a")])
        expected = "skip" if case.bad else "ok"
        if kind != "ok":
            return Outcome(kind, expected, note=err.strip()[:200])
        skipped = {json.loads(x)["source_id"] for x in (tmp / "a" / "skipped.jsonl").read_text().splitlines()}
        built = built_ids(tmp / "a")
        lost = len(case.good - built) + len(case.bad & built)
        if case.bad and not case.bad <= skipped:
            return Outcome("ok", expected, lost, note=f"not recorded: {sorted(case.bad - skipped)}")
        if case.hidden and f"left out {case.hidden} hidden file(s)" not in printed:
            return Outcome("ok", "ok (hidden files said)", lost, note="hidden files not said in the summary")
        kind2, _, _, err2 = cli([*args, "--out", str(tmp / "b")])
        if kind2 != "ok":
            return Outcome(kind2, expected, note=err2.strip()[:200])
        a, b = files(tmp / "a"), files(tmp / "b")
        b = {k: v.replace(str(tmp / "b").encode(), str(tmp / "a").encode()) for k, v in b.items()}  # the card names its folder
        return Outcome("skip" if case.bad else "ok", expected, lost, differing_bytes(a, b))
    return Case(case.name, "malformed source", run)


# --------------------------------------------------------------------------- output folder


def _src(tmp: Path, per_class: int = 2) -> Path:
    return hostile._folders(tmp / "project" / "src", per_class=per_class)


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refusal(name: str, out_of: Callable[[Path, Path], Path], *, prepare: Callable[[Path, Path], None] | None = None,
            flags: tuple[str, ...] = ("--overwrite",)) -> Case:
    def run(tmp: Path) -> Outcome:
        source = _src(tmp)
        out = out_of(tmp, source)
        if prepare is not None:
            prepare(tmp, source)
        before = _tree(tmp)
        kind, _, _, err = cli(["build", "--source", str(source), "--out", str(out), "--no-progress",
                               "--scenarios", "original", *flags])
        touched = differing_bytes(before, _tree(tmp))
        return Outcome(kind, "error", bytes_differ=touched, note=err.strip()[:200])
    return Case(name, "output folder", run)


def _users_folder(tmp: Path, source: Path) -> None:
    (tmp / "mine" / "data").mkdir(parents=True)
    (tmp / "mine" / "README.md").write_text("# my project")
    (tmp / "mine" / "data" / "table.csv").write_text("1,2")


def _built(flags: tuple[str, ...] = ()) -> Callable[[Path, Path], None]:
    def prepare(tmp: Path, source: Path) -> None:
        assert cli(["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios", "original",
                    "--no-progress", *flags])[0] == "ok"
    return prepare


def resume_finished(tmp: Path) -> Outcome:
    source = _src(tmp)
    args = ["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios", "original", "--no-progress"]
    cli(args)
    before = _tree(tmp / "out")
    kind, _, printed, err = cli([*args, "--resume"])
    ok = kind == "ok" and printed.startswith("nothing to do:")
    return Outcome(kind if ok else "error", "ok", bytes_differ=differing_bytes(before, _tree(tmp / "out")),
                   note=(printed or err).strip()[:120])


def tampered_manifest(tmp: Path) -> Outcome:
    source = _src(tmp)
    out = tmp / "out"
    _built()(tmp, source)
    (tmp / "victim.txt").write_text("precious")
    info = json.loads((out / "build_info.json").read_text())
    info["files"] += ["../victim.txt", str(tmp / "victim.txt")]
    (out / "build_info.json").write_text(json.dumps(info))
    kind, _, _, err = cli(["build", "--source", str(source), "--out", str(out), "--scenarios", "blur_object",
                           "--overwrite", "--no-progress"])
    lost = 0 if (tmp / "victim.txt").exists() else 1
    return Outcome(kind, "ok", bytes_differ=0 if lost == 0 else len("precious"), note=err.strip()[:120])


def planted_lock_symlink(tmp: Path) -> Outcome:
    source = _src(tmp)
    out = tmp / "out"
    (tmp / "victim.txt").write_text("precious")
    (out / ".cache").mkdir(parents=True)
    (out / ".cache" / "ximagenet12.lock").symlink_to(tmp / "victim.txt")
    kind, _, _, err = cli(["build", "--source", str(source), "--out", str(out), "--no-progress"])
    intact = (tmp / "victim.txt").read_text() == "precious"
    return Outcome(kind, "error", bytes_differ=0 if intact else len("precious"), note=err.strip()[:160])


def read_only(tmp: Path) -> Outcome:
    source = _src(tmp)
    folder = tmp / "ro"
    mounted = _mount(folder, "ro,size=64k") if os.geteuid() == 0 else False
    if not mounted:
        folder.mkdir(exist_ok=True)
        folder.chmod(0o500)
    try:
        kind, _, _, err = cli(["build", "--source", str(source), "--out", str(folder / "out"), "--no-progress"])
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o700)
    if os.geteuid() == 0 and not mounted:
        return Outcome("error", "error", note="skipped: root can write a 0500 folder and no mount here")
    return Outcome(kind, "error", note=err.strip()[:200])


def _mount(path: Path, options: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode == 0


# --------------------------------------------------------------------------- kills, concurrency, disks

_KILL_AFTER_BLOCKS = """
import os, signal, sys
from pathlib import Path
import ximagenet12.builder.build as build
import ximagenet12.builder.process as process
real = process.atomic_write_bytes
done = []
def write(path, data):
    real(path, data)
    if Path(path).parent.name == "blocks":
        done.append(path)
        if len(done) == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
process.atomic_write_bytes = write
build.build_dataset(sys.argv[1], sys.argv[2], scenarios=["original", "mixed_rand"], block_samples=2, progress=False)
"""

_SLOW_BUILD = """
import sys, time
import ximagenet12.builder.worker as worker
real = worker.process_sample
def slow(*a, **k):
    time.sleep(2.0)
    return real(*a, **k)
worker.process_sample = slow
from ximagenet12.cli import main
if __name__ == "__main__":
    sys.exit(main(["build", "--source", sys.argv[1], "--out", sys.argv[2], "--scenarios", "original",
                   "--num-proc", "2", "--block-samples", "8", "--no-progress"]))
"""


def kill_after_blocks(k: int) -> Case:
    def run(tmp: Path) -> Outcome:
        source = _src(tmp, per_class=3)
        out = tmp / "out"
        proc = subprocess.run([sys.executable, "-c", _KILL_AFTER_BLOCKS, str(source), str(out), str(k)],
                              capture_output=True, text=True)
        if proc.returncode != -signal.SIGKILL:
            return Outcome("traceback", "ok", note=proc.stderr[-200:])
        if (out / "data").exists() or (out / "README.md").exists():
            return Outcome("ok", "ok", note="final names for an unfinished build")
        build_dataset(source, out, scenarios=["original", "mixed_rand"], block_samples=2, progress=False, resume=True)
        build_dataset(source, tmp / "clean", scenarios=["original", "mixed_rand"], block_samples=2, progress=False)
        lost, differ = compare_rows(out, tmp / "clean")
        return Outcome("ok", "ok", lost, differ)
    return Case(f"sigkill_after_{k}_blocks_then_resume", "kill", run)


def kill_main_with_workers(sig: signal.Signals) -> Case:
    def run(tmp: Path) -> Outcome:
        import psutil

        source = hostile._folders(tmp / "src", per_class=4)
        script = tmp / "slow_build.py"
        script.write_text(textwrap.dedent(_SLOW_BUILD))
        out = tmp / "out"
        proc = subprocess.Popen([sys.executable, str(script), str(source), str(out)], stderr=subprocess.PIPE)
        parent, workers = psutil.Process(proc.pid), []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
            workers = [c for c in parent.children(recursive=True) if _is_worker(c)]
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        _gone, alive = psutil.wait_procs(workers, timeout=10)
        for p in alive:
            p.kill()
        if not workers or alive:
            return Outcome("traceback", "ok", note=f"{len(workers)} workers seen, {len(alive)} alive 10 s after")
        build_dataset(source, out, scenarios=["original"], block_samples=8, progress=False, resume=True)
        build_dataset(source, tmp / "clean", scenarios=["original"], block_samples=8, progress=False)
        lost, differ = compare_rows(out, tmp / "clean")
        return Outcome("ok", "ok", lost, differ, note=f"{len(workers)} workers exited")
    return Case(f"{sig.name.lower()}_main_with_2_workers_then_resume", "kill", run)


def _is_worker(proc) -> bool:
    import psutil

    try:
        return "spawn_main" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


_BUILD = """
import sys, time
import ximagenet12.builder.worker as worker
real = worker.process_sample
def slow(*a, **k):  # 0.5 s a sample, so that the two runs overlap
    time.sleep(0.5)
    return real(*a, **k)
worker.process_sample = slow
from ximagenet12.cli import main
sys.exit(main(["build", "--source", sys.argv[1], "--out", sys.argv[2], "--scenarios", "original,blur_background,mixed_rand",
               "--seed", sys.argv[3], "--no-progress", *sys.argv[4:]]))
"""


def concurrent(flags: tuple[str, ...]) -> Case:
    def run(tmp: Path) -> Outcome:
        source = _src(tmp, per_class=3)
        out = tmp / "out"
        procs = [subprocess.Popen([sys.executable, "-c", _BUILD, str(source), str(out), str(seed), *flags],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        bad = [err for code, err in results if "Traceback" in err or (code != 0 and err.count("\n") != 1)]
        if bad:
            return Outcome("traceback", "ok", note=bad[0][-200:])
        seed = json.loads((out / "build_info.json").read_text())["seed"]
        build_dataset(source, tmp / "clean", scenarios=["original", "blur_background", "mixed_rand"], seed=seed,
                      progress=False)
        lost, differ = compare_rows(out, tmp / "clean")
        stopped = sum("is in use by process" in err for _, err in results)
        refused = sum("other settings" in err for _, err in results)
        return Outcome("ok", "ok", lost, differ, note=f"{stopped} run(s) stopped with 'in use by process N', "
                       f"{refused} refused a finished build with other settings")
    return Case(f"two_concurrent_builds{''.join(flags).replace('--', '_')}", "concurrency", run)


def enospc(at: str) -> Case:
    def run(tmp: Path) -> Outcome:
        import ximagenet12.builder.finalize as build  # the stage that writes shards, card and build_info
        import ximagenet12.builder.writer as writer

        source = _src(tmp, per_class=3)
        out = tmp / "out"

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", "part.parquet")

        saved = (writer.PartWriter.write, build.finalize_parts, build.atomic_write_bytes)
        real_write = build.atomic_write_bytes
        try:
            if at == "part":
                writer.PartWriter.write = full  # type: ignore[method-assign]
            elif at == "merge":
                build.finalize_parts = full  # type: ignore[assignment]
            else:
                build.atomic_write_bytes = lambda p, d: full() if p.name == "README.md" else real_write(p, d)
            kind, _, _, err = cli(["build", "--source", str(source), "--out", str(out), "--scenarios",
                                   "original,blur_object", "--block-samples", "2", "--no-progress"])
        finally:
            writer.PartWriter.write, build.finalize_parts, build.atomic_write_bytes = saved  # type: ignore[method-assign]
        leftovers = list(out.rglob("*.tmp")) + [p for p in (out / "build_info.json", out / "README.md") if p.exists()]
        if leftovers:
            return Outcome("traceback", "error", note=f"left behind: {leftovers[:3]}")
        build_dataset(source, out, scenarios=["original", "blur_object"], block_samples=2, progress=False, resume=True)
        build_dataset(source, tmp / "clean", scenarios=["original", "blur_object"], block_samples=2, progress=False)
        lost, differ = compare_rows(out, tmp / "clean")
        return Outcome(kind, "error", lost, differ, note=err.strip()[:160])
    return Case(f"full_disk_at_{at}_then_resume", "full disk", run)


def real_full_disk(tmp: Path) -> Outcome:
    disk = tmp / "disk"
    if not _mount(disk, "size=160k"):
        return Outcome("error", "error", note="skipped: cannot mount a small file system here")
    try:
        source = hostile._folders(tmp / "src", per_class=4)
        args = ["build", "--source", str(source), "--out", str(disk / "out"), "--scenarios",
                "original,blur_background,image_grey", "--no-progress", "--block-samples", "2"]
        kind, _, _, err = cli(args)
        leftovers = list((disk / "out").rglob("*.tmp")) + [p for p in (disk / "out" / "data",) if p.exists()]
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        if leftovers:
            return Outcome("traceback", "error", note=f"left behind: {leftovers[:3]}")
        if cli([*args, "--resume"])[0] != "ok":
            return Outcome("traceback", "error", note="resume after freeing space failed")
        build_dataset(source, tmp / "clean", scenarios=["original", "blur_background", "image_grey"],
                      block_samples=2, progress=False)
        lost, differ = compare_rows(disk / "out", tmp / "clean")
        return Outcome(kind, "error", lost, differ, note=err.strip()[:160])
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


# --------------------------------------------------------------------------- other commands' hooks


def push_cases() -> list[Case]:
    """``push`` of hostile folders (tests/reliability/test_push_hostile.py has the same and more).

    Each case plants one thing in a valid folder and runs ``ximagenet12 push`` (offline: a
    refused folder never reaches the network). Expected: exit 1, one error line naming
    the file, nothing sent; the token case runs a loopback Hub that echoes credentials.
    """
    secret = "hf_" + "TallySecret9" * 3

    def planted(name: str, plant: Callable[[Path, Path], str]) -> Case:
        def run(tmp: Path) -> Outcome:
            folder = _push_folder(tmp)
            needle = plant(folder, tmp)
            try:
                kind, _, out, err = cli(["push", str(folder), "--repo", "owner/x", "--token", secret])
            finally:
                while _HELD:  # a lock the case took, as a build would hold it
                    _HELD.pop().__exit__(None, None, None)
            text = out + err
            if kind == "ok" or "Traceback" in text or secret in text:
                return Outcome("traceback", "error", note=f"not refused cleanly: {text.strip()[:160]}")
            if not err.startswith("ximagenet12 push: error: ") or needle not in err:
                return Outcome("traceback", "error", note=f"{needle!r} not named: {err.strip()[:160]}")
            return Outcome("error", "error", note=err.strip().splitlines()[-1][:160])
        return Case(f"push_{name}", "push", run)

    def link_to_secret(folder: Path, tmp: Path) -> str:
        (tmp / "key.txt").write_text(secret)
        (folder / "build_info.json").unlink()
        (folder / "build_info.json").symlink_to(tmp / "key.txt")
        return "build_info.json: symbolic link"

    def plant_file(rel: str, words: str, where: str | None = None) -> Callable[[Path, Path], str]:
        def plant(folder: Path, tmp: Path) -> str:
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(secret)
            return f"{where or rel}: {words}"
        return plant

    def fifo(folder: Path, tmp: Path) -> str:
        os.mkfifo(folder / "data" / "original" / "pipe.parquet")
        return "pipe.parquet: not a regular file"

    def leaky_reason(folder: Path, tmp: Path) -> str:
        (folder / "skipped.jsonl").write_text(json.dumps({"source_id": "a", "scenario": None,
                                                          "reason": "bad <_io.BytesIO object at 0x7f00ff>"}) + "\n")
        return "skipped.jsonl line 1: carries a Python object repr"

    def empty_config(folder: Path, tmp: Path) -> str:
        shard = folder / "data" / "blur_background" / "train-00000-of-00001.parquet"
        pq.write_table(pq.read_table(shard).slice(0, 0), shard)
        _push_helpers().write_card(folder, _push_helpers().card_metadata({"original": 6, "blur_background": 0}))
        return "configs[blur_background]: 0 rows"

    def locked(folder: Path, tmp: Path) -> str:
        from ximagenet12.io.locking import folder_lock

        holder = folder_lock(folder, purpose="build")
        holder.__enter__()  # released by the case once the push has run
        _HELD.append(holder)
        return f"is in use by process {os.getpid()} (build)"

    return [
        planted("file_symlink_to_a_secret", link_to_secret),
        planted("dir_symlink", lambda f, t: (f / "data" / "linked").symlink_to(t, target_is_directory=True)
                or "data/linked: symbolic link to a folder"),
        planted("hidden_file", plant_file(".env", "hidden file")),
        planted("dot_folder", plant_file(".ssh/id_rsa", "hidden folder", where=".ssh/")),
        planted("upper_case_script", plant_file("LOADER.PY", "code or binary file (.py)")),
        planted("shared_library", plant_file("data/original/lib.so", "code or binary file (.so)")),
        planted("other_file", plant_file("notes.txt", "not part of a dataset repo")),
        planted("fifo", fifo),
        planted("object_repr_in_skip_reason", leaky_reason),
        planted("zero_row_config", empty_config),
        planted("folder_locked_by_a_build", locked),
        Case("push_token_echoed_by_the_server", "push", _token_echo_case),
    ]


_HELD: list = []


def _push_helpers():
    """tests/hub/conftest.py (folder writer, loopback Hub), loaded by path."""
    import importlib.util

    name = "ximagenet12_tally_hub_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "hub" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _push_folder(tmp: Path) -> Path:
    return _push_helpers().make_folder(tmp / "built", {"original": 6, "blur_background": 6})


def _token_echo_case(tmp: Path) -> Outcome:
    """HF_TOKEN (the recommended way) echoed back in a server error: masked in every output."""
    helpers = _push_helpers()
    folder = _push_folder(tmp)
    secret = "hf_" + "EchoedBack7" * 3
    hub = helpers.fake_hub.FakeHub()
    hub.start()
    hub.echo_authorization, hub.fail_commits = True, {1}
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_TOKEN=secret, HF_HOME=str(tmp / "home"),
                   NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
        code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG)\n"
                f"from ximagenet12.cli import main; sys.exit(main(['push', {str(folder)!r}, '--repo', 'owner/x']))")
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    finally:
        hub.stop()
    text = proc.stdout + proc.stderr
    if secret in text or "Traceback" in text or proc.returncode != 1:
        return Outcome("traceback", "error", note=f"exit {proc.returncode}, token shown: {secret in text}")
    if f"Bearer {secret}" not in hub.authorizations or "Authorization: Bearer ***" not in text:
        return Outcome("traceback", "error", note="the server did not echo the (masked) credential")
    return Outcome("error", "error", note="token echoed by the server, masked")


def evaluator_cases() -> list[Case]:
    """The evaluator's hostile corpus (``tests/reliability/hostile_eval.py``): row paths outside
    the data, secret bytes, damaged shards, an empty config, card patterns leading out, a bad
    option. A secret that reaches the report counts as a traceback."""
    import hostile_eval

    def run(case: hostile_eval.EvalCase) -> Callable[[Path], Outcome]:
        def go(tmp: Path) -> Outcome:
            got = hostile_eval.run_case(case, tmp)
            kind = "traceback" if got["leaked"] else got["kind"]
            return Outcome(kind, case.expected, rows_lost=got["rows_lost"], note=got["note"])

        return go

    return [Case(c.name, "evaluator", run(c)) for c in hostile_eval.CASES]


# --------------------------------------------------------------------------- issue 25: models, card text, reports
#
# Three families of the hostile pass of issue 25, each a clear one-line refusal:
# damaged model folders through every command that loads one (never run on random
# weights, never unpickle code), user text that would be injected into a card (repo ids,
# class folder names), and damaged reports / --out paths of analyze and score. A pickle
# whose code ran counts as a traceback with differing bytes; a class folder lost without a
# word counts as rows lost; a refused command that wrote or changed files counts as bytes
# that differ.


def _one_line(args: list[str]) -> tuple[str, str]:
    """(kind, stderr) of a CLI run expected to refuse: ``error`` only for one line naming the command."""
    kind, _, _, err = cli(args)
    if kind == "traceback" and err.count("\n") == 1 and err.startswith(f"ximagenet12 {args[0]}: error: "):
        kind = "error"  # cli() calls only `build`'s one-line errors clear
    return kind, err


def model_folder_cases() -> list[Case]:
    """Damaged model folders (``tests/reliability/hostile_models.py``) through ``evaluate``, and one
    folder whose checkpoint lacks a backbone weight through ``train``, ``explain`` and ``challenge``."""
    import hostile_eval
    import hostile_models

    def data(tmp: Path) -> Path:
        return hostile_eval.folder(tmp / "built", {"original": [[hostile_eval.row(i) for i in range(4)]]})

    def evaluate(case: hostile_models.ModelCase) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            folder = hostile_models.make(case, tmp)
            before = _tree(folder)
            with _pickle_opt_in(case.pickle_opt_in):
                kind, err = _one_line(["evaluate", "--model", str(folder), "--data", str(data(tmp)),
                                       "--out", str(tmp / "report"), "--device", "cpu", "--no-progress"])
            ran = (folder / hostile_models.PWNED).exists()
            written = (tmp / "report" / "report.json").exists()
            named = str(folder) in err
            return Outcome("traceback" if ran or not named else kind, "error",
                           bytes_differ=differing_bytes(before, _tree(folder)) + int(written),
                           note=("PICKLED CODE RAN " if ran else "") + err.strip()[:160])
        return run

    def command(name: str) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            folder = hostile_models.make(hostile_models.ModelCase("backbone", hostile_models._missing_backbone_weight,
                                                                  ""), tmp)
            args = {"train": ["train", "--protocol", "ex1", "--model", str(folder), "--data", str(data(tmp)),
                              "--out", str(tmp / "run"), "--device", "cpu", "--folds", "2", "--quiet"],
                    "explain": ["explain", "--model", str(folder), "--data", str(data(tmp)), "--out", str(tmp / "run"),
                                "--device", "cpu", "--quiet"],
                    "challenge": ["challenge", "--model", str(folder), "--data", str(data(tmp)), "--candidates", "2",
                                  "--out", str(tmp / "run"), "--device", "cpu", "--quiet"]}[name]
            kind, err = _one_line(args)  # --quiet: their --no-progress leaves transformers' loading bar on
            refused = "randomly initialised" in err
            return Outcome(kind if refused or kind != "error" else "traceback", "error",
                           note=err.strip()[:160] if refused else f"not refused for its missing weight: {err[:160]}")
        return run

    cases = [Case(f"model_{c.name}", "model folder", evaluate(c)) for c in hostile_models.CASES]
    return cases + [Case(f"model_missing_backbone_weight_{name}", "model folder", command(name))
                    for name in ("train", "explain", "challenge")]


@contextlib.contextmanager
def _pickle_opt_in(on: bool):
    from ximagenet12.evaluation.models import ALLOW_PICKLE_ENV

    saved = os.environ.pop(ALLOW_PICKLE_ENV, None)
    if on:
        os.environ[ALLOW_PICKLE_ENV] = "1"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_PICKLE_ENV, None)
        if saved is not None:
            os.environ[ALLOW_PICKLE_ENV] = saved


def card_text_cases() -> list[Case]:
    """Repo ids and class folder names that would inject text into a card, and legal names that need
    escaping (``tests/reliability/hostile_cards.py``)."""
    import hostile_cards

    def repo_id(kind: str) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            source = hostile._folders(tmp / "src")
            before = _tree(tmp)
            out, err = _one_line(["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios",
                                  "original", "--no-progress", "--repo-id", hostile_cards.HOSTILE_REPO_IDS[kind]])
            return Outcome(out, "error", bytes_differ=differing_bytes(before, _tree(tmp)), note=err.strip()[:160])
        return run

    def class_folder(name: str) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            source = hostile_cards.class_folders(tmp / "src", ["cat", name])
            kind, err = _one_line(["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios",
                                   "original", "--no-progress"])
            if kind == "ok":  # built: the class must be there, else it was lost without a word
                lost = 0 if name in _classes_of(tmp / "out") else 2
                return Outcome("ok", "error", rows_lost=lost, note="built instead of refused")
            named = repr(name) in err
            return Outcome(kind if named else "traceback", "error", bytes_differ=int((tmp / "out").exists()),
                           note=err.strip()[:160])
        return run

    def escaped(tmp: Path) -> Outcome:
        from huggingface_hub import DatasetCard
        from markdown_it import MarkdownIt

        names = hostile_cards.ESCAPED_CLASSES
        source = hostile_cards.class_folders(tmp / "src", names)
        kind, _, _, err = cli(["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios", "original",
                               "--no-progress", "--repo-id", "owner/name"])
        if kind != "ok":
            return Outcome(kind, "ok", note=err.strip()[:160])
        lost = len(set(names) - _classes_of(tmp / "out"))
        tokens = MarkdownIt("commonmark").enable("table").parse(DatasetCard.load(tmp / "out" / "README.md").text)
        shown = {"".join(c.content for c in t.children or []) for t in tokens if t.type == "inline"}  # as rendered
        wrong = [n for n in names if n not in shown]
        return Outcome("ok" if not wrong else "traceback", "ok", rows_lost=lost,
                       note=f"not rendered back exactly: {wrong}" if wrong else "")

    cases = [Case(f"repo_id_{k}", "card text", repo_id(k)) for k in sorted(hostile_cards.HOSTILE_REPO_IDS)]
    cases += [Case(f"class_folder_{n.encode('unicode_escape').decode()}", "card text", class_folder(n))
              for n in hostile_cards.UNROUNDTRIPPABLE_CLASSES]
    return cases + [Case("class_names_that_need_escaping_round_trip", "card text", escaped)]


def _classes_of(out: Path) -> set[str]:
    return {k for p in (out / "data").rglob("*.parquet") for k in pq.read_table(p, columns=["class_key"]).column(0).to_pylist()}


def report_cases() -> list[Case]:
    """Damaged reports through ``analyze`` and ``score``, and ``--out`` of the wrong kind
    (``tests/reliability/hostile_reports.py``)."""
    import hostile_reports as R

    def analyze(name: str) -> Callable[[Path], Outcome]:
        def run(tmp: Path) -> Outcome:
            damage, _ = R.DAMAGED[name]
            good, bad = R.folder(tmp / "good", R.report()), R.folder(tmp / "bad", damage(R.report()))
            kind, err = _one_line(["analyze", str(good), str(bad), "--out", str(tmp / "tables")])
            return Outcome(kind if str(bad / "report.json") in err else "traceback", "error",
                           bytes_differ=int((tmp / "tables").exists()), note=err.strip()[:160])
        return run

    def out_of_the_wrong_kind(tmp: Path, command: str) -> Outcome:
        ex1, ex2 = R.folder(tmp / "ex1", R.report()), R.folder(tmp / "ex2", R.report("ex2"))
        target = tmp / "target"
        if command == "analyze":
            target.write_text("mine")
            args = ["analyze", str(ex1), str(R.folder(tmp / "r2", R.report(scale=0.9))), "--out", str(target)]
        else:
            target.mkdir()
            (target / "old.json").write_text("{}")
            args = ["score", str(ex1), str(ex2), "--out", str(target)]
        before = _tree(tmp)
        kind, err = _one_line(args)
        return Outcome(kind, "error", bytes_differ=differing_bytes(before, _tree(tmp)), note=err.strip()[:160])

    cases = [Case(f"analyze_{n}", "reports", analyze(n)) for n in sorted(R.DAMAGED)]
    return cases + [Case("analyze_out_an_existing_file", "reports", lambda t: out_of_the_wrong_kind(t, "analyze")),
                    Case("score_out_an_existing_folder", "reports", lambda t: out_of_the_wrong_kind(t, "score"))]


# --------------------------------------------------------------------------- owned output folders (issue 25)


def _oo_users_folder(name: str, argv_of: Callable[[Path], list[str]]) -> Case:
    def run(tmp: Path) -> Outcome:
        before = hostile_out.plant_user_files(tmp / "mine")
        kind, _, _, err = cli(argv_of(tmp / "mine"))
        return Outcome(kind, "error", bytes_differ=differing_bytes(before, hostile_out.tree(tmp / "mine")),
                       note=err.strip()[:160])
    return Case(f"{name}_into_a_users_folder", "owned output", run)


def _oo_api_refusal(name: str, write: Callable[[Path], object]) -> Case:
    def run(tmp: Path) -> Outcome:
        before = hostile_out.plant_user_files(tmp / "mine")
        try:
            write(tmp / "mine")
            kind, note = "ok", "not refused"
        except ValueError as exc:
            kind, note = ("error", str(exc)[:160]) if "\n" not in str(exc) else ("traceback", str(exc)[:160])
        return Outcome(kind, "error", bytes_differ=differing_bytes(before, hostile_out.tree(tmp / "mine")), note=note)
    return Case(f"{name}_into_a_users_folder", "owned output", run)


def _oo_site(folder: Path) -> object:
    from ximagenet12.leaderboard.results import Results
    from ximagenet12.leaderboard.site import write_site

    return write_site(Results(rows=[{"report_id": "x"}]), folder)


def _oo_score(folder: Path) -> object:
    from ximagenet12.training.score import write_score

    return write_score({"runs": {}, "scores": {}}, folder / "notes.txt")


def _oo_glob_manifest(pattern: str) -> Case:
    def run(tmp: Path) -> Outcome:
        source, out = _src(tmp), tmp / "out"
        _built()(tmp, source)
        (out / "notes.txt").write_text("keep me")
        (out / "sub").mkdir()
        (out / "sub" / "deep.txt").write_text("keep me too")
        before = {k: v for k, v in _tree(out).items() if k in ("notes.txt", "sub/deep.txt")}
        info = json.loads((out / "build_info.json").read_text())
        info["files"].append(pattern)
        (out / "build_info.json").write_text(json.dumps(info))
        kind, _, _, err = cli(["build", "--source", str(source), "--out", str(out), "--scenarios", "blur_object",
                               "--overwrite", "--no-progress"])
        after = {k: v for k, v in _tree(out).items() if k in before}
        return Outcome(kind, "ok", bytes_differ=differing_bytes(before, after), note=err.strip()[:160])
    return Case(f"overwrite_with_{pattern.replace('*', 'star').replace('/', '_')}_in_the_manifest",
                "owned output", run)


def _oo_linked_cache(command: str) -> Case:
    def run(tmp: Path) -> Outcome:
        users = tmp / "users"
        (users / "ximagenet12-build").mkdir(parents=True)
        (users / "ximagenet12-build" / "state.json").write_text("{}")
        (users / "thesis.tex").write_text("...")
        before = _tree(users)
        out = tmp / "out"
        out.mkdir()
        (out / ".cache").symlink_to(users, target_is_directory=True)
        argv = (["build", "--source", str(_src(tmp)), "--out", str(out), "--overwrite", "--no-progress"]
                if command == "build" else dict(hostile_out.commands(tmp / "built"))[command](out))
        kind, _, _, err = cli(argv)
        return Outcome(kind, "error", bytes_differ=differing_bytes(before, _tree(users)), note=err.strip()[:160])
    return Case(f"{command}_with_out_cache_linked_to_a_users_folder", "owned output", run)


def _oo_hf_path_leak(tmp: Path) -> Outcome:
    secret = tmp / "secret.png"
    secret.write_bytes(hostile.png_bytes(hostile.photo(42)))
    saved = hostile_out.path_only_hf(tmp / "hf", secret)
    kind, _, _, err = cli(["build", "--source", str(saved), "--out", str(tmp / "out"), "--scenarios", "original",
                           "--no-progress"])
    if kind != "ok":
        return Outcome(kind, "skip", note=err.strip()[:160])
    built = built_ids(tmp / "out")
    if "secret" in built:
        return Outcome("traceback", "skip", note="leaked: a file outside the dataset folder was read and built")
    return Outcome("skip", "skip", rows_lost=len({"img0", "img1", "img2"} - built))


def _oo_resume_after_content_change(tmp: Path) -> Outcome:
    import numpy as np
    from PIL import Image

    import ximagenet12.builder.process as process

    source = _src(tmp, per_class=3)
    real, written = process._write_record, []

    def stop_after_two(path: Path, data: bytes) -> None:
        real(path, data)
        written.append(path)
        if len(written) == 2:
            raise KeyboardInterrupt

    process._write_record = stop_after_two
    try:
        build_dataset(source, tmp / "out", scenarios=["original"], block_samples=2, progress=False)
    except KeyboardInterrupt:
        pass
    finally:
        process._write_record = real
    first = sorted((source / "images").rglob("*.*"))[0]
    Image.fromarray(255 - np.asarray(Image.open(first).convert("RGB"))).save(first)
    kind, _, _, err = cli(["build", "--source", str(source), "--out", str(tmp / "out"), "--scenarios", "original",
                           "--block-samples", "2", "--no-progress", "--resume"])
    if kind != "ok":
        return Outcome(kind, "ok", note=err.strip()[:160])
    build_dataset(source, tmp / "clean", scenarios=["original"], block_samples=2, progress=False)
    lost, differ = compare_rows(tmp / "out", tmp / "clean")
    return Outcome("ok", "ok", lost, differ)


def _oo_sparse_file(tmp: Path) -> Outcome:
    source = _src(tmp)
    hostile_out.sparse_jpeg(sorted((source / "images").rglob("*.*"))[0])
    proc = subprocess.run([sys.executable, "-c", hostile_out.SPARSE_BUILD, str(source), str(tmp / "out"),
                           str(3 * 1024**3)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        return Outcome("traceback", "skip", note=(proc.stderr or proc.stdout).strip()[-200:])
    return Outcome("skip", "skip", rows_lost=3 - len(built_ids(tmp / "out")))


def _oo_empty_dataset(tmp: Path) -> Outcome:
    kind, _, _, err = cli(["build", "--source", str(hostile_out.empty_hf(tmp)), "--out", str(tmp / "out"),
                           "--no-progress"])
    return Outcome(kind, "error", note=err.strip()[:160])


def _oo_stdin_two_processes(tmp: Path) -> Outcome:
    source = _src(tmp)
    proc = subprocess.run([sys.executable, "-", str(source), str(tmp / "out")], input=hostile_out.STDIN_BUILD,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or "Traceback" in proc.stderr:
        return Outcome("traceback", "ok", note=proc.stderr.strip()[-200:])
    return Outcome("ok", "ok", rows_lost=4 - len(built_ids(tmp / "out")))


def _oo_tracker_killed(tmp: Path) -> Outcome:
    import psutil

    source = hostile._folders(tmp / "src", per_class=4)
    script = tmp / "slow_build.py"
    script.write_text(textwrap.dedent(_SLOW_BUILD).replace('"8"', '"2"'))
    proc = subprocess.Popen([sys.executable, str(script), str(source), str(tmp / "out")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent, tracker = psutil.Process(proc.pid), None
    deadline = time.monotonic() + 120
    while tracker is None and time.monotonic() < deadline and proc.poll() is None:
        for child in parent.children(recursive=True):
            try:
                tracker = child if "resource_tracker" in " ".join(child.cmdline()) else tracker
            except psutil.Error:
                pass
        time.sleep(0.1)
    if tracker is not None:
        tracker.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    if tracker is None or proc.returncode != 0 or "Traceback" in err or len(err.strip().splitlines()) != 1:
        return Outcome("traceback", "ok", note=f"tracker seen: {tracker is not None}; {err.strip()[-200:]}")
    build_dataset(source, tmp / "clean", scenarios=["original"], block_samples=2, progress=False)
    lost, differ = compare_rows(tmp / "out", tmp / "clean")
    return Outcome("ok", "ok", lost, differ, note=err.strip()[:160])


def owned_output_cases() -> list[Case]:
    """Issue 25's families (``tests/reliability/test_owned_outputs.py`` has the same): every
    command's output folder pointed at a user's files, globs in a tampered build manifest, a
    ``.cache`` that links to a user's folder, a Hugging Face row that is a path outside the
    dataset, ``--resume`` after an image's pixels changed under the same name, a 6 GB sparse
    file behind a JPEG header under a 3 GB address-space limit, a saved dataset of 0 rows,
    ``num_proc=2`` from ``python -``, and SIGKILL of multiprocessing's resource tracker.
    Destroyed or changed user bytes count as bytes that differ, a leaked file as a traceback."""


    cases = [_oo_users_folder(name, argv) for name, argv in hostile_out.commands(Path("/nonexistent/built"))]
    cases += [
        _oo_api_refusal("leaderboard", _oo_site),
        _oo_api_refusal("score", _oo_score),
        _oo_glob_manifest("*"),
        _oo_glob_manifest("**/*"),
        _oo_glob_manifest("sub/*"),
        _oo_linked_cache("build"),
        _oo_linked_cache("evaluate"),
        Case("hf_rows_that_are_paths_outside_the_dataset", "owned output", _oo_hf_path_leak),
        Case("resume_after_an_images_pixels_changed", "owned output", _oo_resume_after_content_change),
        Case("sparse_6gb_file_behind_a_jpeg_header_under_a_3gb_limit", "owned output", _oo_sparse_file),
        Case("saved_hf_dataset_with_0_rows", "owned output", _oo_empty_dataset),
        Case("num_proc_2_from_python_stdin", "owned output", _oo_stdin_two_processes),
        Case("sigkill_of_the_resource_tracker_during_num_proc_2", "owned output", _oo_tracker_killed),
    ]
    return cases


# --------------------------------------------------------------------------- the tally


def all_cases() -> list[Case]:
    cases = [source_case(c) for c in hostile.CASES]
    cases += [
        refusal("out_is_the_source", lambda tmp, src: src),
        refusal("out_inside_the_source", lambda tmp, src: src / "images" / "out"),
        refusal("out_contains_the_source", lambda tmp, src: src.parent),
        refusal("overwrite_into_a_users_readme_and_data", lambda tmp, src: tmp / "mine", prepare=_users_folder),
        refusal("rebuild_with_other_settings", lambda tmp, src: tmp / "out", prepare=_built(("--seed", "7")),
                flags=()),
        Case("resume_on_a_finished_build", "output folder", resume_finished),
        Case("overwrite_with_a_tampered_manifest", "output folder", tampered_manifest),
        Case("planted_symlink_at_the_lock_file", "output folder", planted_lock_symlink),
        Case("read_only_out", "output folder", read_only),
        kill_after_blocks(1),
        kill_after_blocks(2),
        kill_main_with_workers(signal.SIGKILL),
        kill_main_with_workers(signal.SIGTERM),
        concurrent(()),
        concurrent(("--resume",)),
        concurrent(("--overwrite",)),
        enospc("part"),
        enospc("merge"),
        enospc("card"),
        Case("full_tmpfs_then_resume", "full disk", real_full_disk),
    ]
    return (cases + push_cases() + evaluator_cases() + model_folder_cases() + card_text_cases() + report_cases()
            + owned_output_cases())


def main_tally(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    cases = [c for c in all_cases() if args.only is None or args.only in c.name]
    totals = dict(cases=0, skips=0, errors=0, tracebacks=0, rows_lost=0, bytes_differ=0, unexpected=0)
    started = time.perf_counter()
    for case in cases:
        tmp = Path(tempfile.mkdtemp(prefix="tally-"))
        try:
            outcome = case.run(tmp)
        except BaseException as exc:  # noqa: BLE001 - the tally counts it
            outcome = Outcome("traceback", "?", note=f"{type(exc).__name__}: {exc}"[:200])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        totals["cases"] += 1
        totals["skips"] += outcome.kind == "skip"
        totals["errors"] += outcome.kind == "error"
        totals["tracebacks"] += outcome.kind == "traceback"
        totals["rows_lost"] += outcome.rows_lost
        totals["bytes_differ"] += outcome.bytes_differ
        unexpected = outcome.kind != outcome.expected.split()[0]
        totals["unexpected"] += unexpected
        if args.verbose or unexpected or outcome.kind == "traceback":
            flag = "UNEXPECTED " if unexpected else ""
            print(f"{flag}[{case.group}] {case.name}: {outcome.kind} (expected {outcome.expected}), "
                  f"rows lost {outcome.rows_lost}, bytes differ {outcome.bytes_differ}"
                  + (f" -- {outcome.note}" if outcome.note else ""), flush=True)
    print()
    print("cases tried | recorded skips | clear errors | tracebacks | rows lost | bytes differ | unexpected")
    print(f"{totals['cases']:>11} | {totals['skips']:>14} | {totals['errors']:>12} | {totals['tracebacks']:>10} | "
          f"{totals['rows_lost']:>9} | {totals['bytes_differ']:>12} | {totals['unexpected']:>10}")
    print(f"(clear errors are the expected answer of the fault cases; {len(push_cases())} push and "
          f"{len(evaluator_cases())} evaluator case(s) included; {time.perf_counter() - started:.0f} s)")
    bad = totals["tracebacks"] + totals["rows_lost"] + totals["bytes_differ"] + totals["unexpected"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_tally())
