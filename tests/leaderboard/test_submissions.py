"""Submissions on the loopback Hub: `ximagenet12 submit` checks and files requests, workers race for
them (each taken once), a request whose worker died is taken again after its lease, and
`ximagenet12 leaderboard worker` evaluates requests with the real evaluator and appends rows once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_CARD = "---\nlicense: apache-2.0\ndatasets:\n- imagenet-1k\n---\n\n# a tiny ViT\n"


def _result(proc) -> dict:
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


def _model_folder(make, root: Path, data: Path, *, seed: int = 0, card: str | None = _CARD) -> Path:
    folder = make(root, seed, data)
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")
    return folder


_UPLOAD = """
    from huggingface_hub import HfApi
    api = HfApi()
    def upload(repo, folder):
        api.create_repo(repo, exist_ok=True)
        return api.upload_folder(folder_path=folder, repo_id=repo).oid
"""


def _request_file(hub, repo: str, request_id: str) -> dict:
    return json.loads(hub.files("dataset", repo)[f"requests/{request_id}.json"])


def test_submit_files_a_pending_request_and_each_check_refuses_with_one_line(
        reports, run_client, hub, tmp_path, make_tiny_vit):
    ok = _model_folder(make_tiny_vit, tmp_path / "ok", reports["data"])
    bare = _model_folder(make_tiny_vit, tmp_path / "bare", reports["data"], card=None)
    unlicensed = _model_folder(make_tiny_vit, tmp_path / "unlicensed", reports["data"], card="---\ndatasets: [imagenet-1k]\n---\n# x\n")
    code = _UPLOAD + f"""
    import json
    from ximagenet12.cli import main
    from ximagenet12.leaderboard.submissions import SubmissionRefused, read_requests, submit
    commit = upload("owner/vit-ok", {str(ok)!r})
    upload("owner/vit-bare", {str(bare)!r})
    upload("owner/vit-unlicensed", {str(unlicensed)!r})
    upload("owner/vit-flagged", {str(ok)!r})
    upload("owner/vit-more", {str(ok)!r})
    first = submit("owner/vit-ok", "owner/requests")
    api.upload_file(path_or_fileobj=json.dumps({{"owner/vit-flagged": "weights copied from another model"}}).encode(),
                    path_in_repo="flagged.json", repo_id="owner/requests", repo_type="dataset")
    refusals = {{}}
    def refused(name, *args, **kwargs):
        try:
            submit(*args, **kwargs)
        except SubmissionRefused as exc:
            refusals[name] = str(exc)
    refused("again", "owner/vit-ok", "owner/requests")
    refused("missing", "owner/no-such-model", "owner/requests")
    refused("revision", "owner/vit-ok", "owner/requests", revision="no-such-branch")
    refused("card", "owner/vit-bare", "owner/requests")
    refused("licence", "owner/vit-unlicensed", "owner/requests")
    refused("flagged", "owner/vit-flagged", "owner/requests")
    refused("zero-shot", "owner/vit-ok", "owner/requests", task="zero-shot")
    refused("local", {str(ok)!r}, "owner/requests")
    submit("owner/vit-ok", "owner/requests", precision="float16", submitter="alice", rate_limit=2)
    submit("owner/vit-ok", "owner/requests", precision="bfloat16", submitter="alice", rate_limit=2)
    refused("rate", "owner/vit-more", "owner/requests", submitter="alice", rate_limit=2)
    rc = main(["submit", "owner/vit-bare", "--leaderboard", "owner/requests"])
    rc_worker = main(["leaderboard", "worker", "--requests", "owner/no-such-requests", "--results", "owner/results",
                      "--data", "owner/data"])
    queue = read_requests("owner/requests")
    print("RESULT " + json.dumps({{"first": first.__dict__, "commit": commit, "refusals": refusals, "rc": [rc, rc_worker],
                                  "queue": [[r.model, r.precision, r.submitter, r.status] for r in queue]}}))
    """
    proc = run_client(code, timeout=300)
    result = _result(proc)
    first = result["first"]
    assert first["status"] == "PENDING" and first["submitter"] == "tester"  # the token's user (/api/whoami-v2)
    assert first["revision"] == result["commit"] and first["attempts"] == 0
    stored = _request_file(hub, "owner/requests", first["request_id"])
    assert stored["status"] == "PENDING" and stored["history"][0]["status"] == "PENDING"
    r = result["refusals"]
    assert set(r) == {"again", "missing", "revision", "card", "licence", "flagged", "zero-shot", "local", "rate"}
    assert "is already PENDING" in r["again"]
    assert r["missing"] == "model owner/no-such-model does not exist on the Hub (or is private to you)"
    assert r["revision"] == "model owner/vit-ok has no revision 'no-such-branch' on the Hub"
    assert "has no model card (README.md)" in r["card"]
    assert "declares no licence" in r["licence"]
    assert r["flagged"] == "model owner/vit-flagged is on the leaderboard's flagged list: weights copied from another model"
    assert "task 'zero-shot' is not run by this leaderboard's evaluator yet" in r["zero-shot"]
    assert "is not a Hub model id" in r["local"]
    assert "submitter alice filed 2 requests in the last 7 day(s) (limit 2)" in r["rate"]
    assert all("\n" not in line for line in r.values())
    assert result["rc"] == [1, 1]
    assert "ximagenet12 leaderboard-worker: error: cannot read requests repo 'owner/no-such-requests': " \
           "RepositoryNotFoundError" in proc.stderr
    refusal = [line for line in proc.stderr.splitlines() if line.startswith("ximagenet12 submit: refused:")]
    assert len(refusal) == 1 and "has no model card" in refusal[0] and "Traceback" not in proc.stderr
    assert result["queue"] == [["owner/vit-ok", "float32", "tester", "PENDING"],
                               ["owner/vit-ok", "float16", "alice", "PENDING"],
                               ["owner/vit-ok", "bfloat16", "alice", "PENDING"]]


def test_racing_workers_take_each_request_exactly_once(
        reports, run_client, hub, tmp_path, make_tiny_vit):
    # Every worker reads the queue at the same head, then all commit: the Hub takes one commit per
    # head and answers the others 412, so they read again and move on to the next request.
    ok = _model_folder(make_tiny_vit, tmp_path / "ok", reports["data"])
    code = _UPLOAD + f"""
    import json, threading
    from ximagenet12.leaderboard import submissions as S
    upload("owner/vit", {str(ok)!r})
    ids = [S.submit("owner/vit", "owner/requests", precision=p).request_id for p in S.PRECISIONS]
    n_workers = 4
    barrier = threading.Barrier(n_workers)
    class RacingRepo(S.RequestsRepo):
        first = True
        def write(self, request, **kw):
            if self.first:  # line the workers up: all of them commit on the head they all read
                self.first = False
                barrier.wait(timeout=60)
            return super().write(request, **kw)
    taken = {{}}
    def work(name):
        repo = RacingRepo("owner/requests")
        got = []
        while (request := S.claim(repo, worker=name)) is not None:
            got.append(request.request_id)
        taken[name] = got
    threads = [threading.Thread(target=work, args=(f"w{{i}}",)) for i in range(n_workers)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    final = {{r.request_id: [r.status, r.lease["worker"], [h["status"] for h in r.history]]
             for r in S.read_requests("owner/requests")}}
    print("RESULT " + json.dumps({{"ids": ids, "taken": taken, "final": final}}))
    """
    result = _result(run_client(code, timeout=300))
    claims = [rid for got in result["taken"].values() for rid in got]
    assert sorted(claims) == sorted(result["ids"])  # every request taken, none twice
    for rid, (status, worker, history) in result["final"].items():
        assert status == "RUNNING" and history == ["PENDING", "RUNNING"]
        assert rid in result["taken"][worker]
    refused = [s for m, p, s in hub.requests if m == "POST" and "/commit/" in p and s == 412]
    assert len(refused) >= 3  # four workers committed on one head: three were refused at least once


def test_a_dead_workers_request_is_taken_again_after_its_lease_never_twice(
        reports, run_client, hub, tmp_path, make_tiny_vit):
    ok = _model_folder(make_tiny_vit, tmp_path / "ok", reports["data"])
    code = _UPLOAD + f"""
    import json
    from ximagenet12.leaderboard import submissions as S
    upload("owner/vit", {str(ok)!r})
    rid = S.submit("owner/vit", "owner/requests").request_id
    repo = S.RequestsRepo("owner/requests")
    t0 = 1_900_000_000.0
    a = S.claim(repo, worker="A", lease_s=60, now=lambda: t0)
    held = S.claim(repo, worker="B", lease_s=60, now=lambda: t0 + 30)  # A's lease still runs: nothing to take
    renewed = S.renew_lease(repo, rid, worker="A", lease_s=60, now=lambda: t0 + 50)  # A is alive: lease to t0 + 110
    still = S.claim(repo, worker="B", lease_s=60, now=lambda: t0 + 100)
    b = S.claim(repo, worker="B", lease_s=60, now=lambda: t0 + 111)  # A died at t0 + 50
    late = [S.finish(repo, rid, worker="A", status="FINISHED", now=lambda: t0 + 112),
            S.renew_lease(repo, rid, worker="A", now=lambda: t0 + 112)]
    c = S.claim(repo, worker="C", lease_s=60, now=lambda: t0 + 200)  # B died too
    gone = S.claim(repo, worker="D", lease_s=60, now=lambda: t0 + 300)  # third worker died: FAILED, not a 4th try
    final = S.read_requests("owner/requests")[0]
    print("RESULT " + json.dumps({{"a": a.attempts, "held": held, "renewed": renewed, "still": still,
        "b": [b.attempts, b.reason], "late": late, "c": c.attempts, "gone": gone,
        "final": [final.status, final.reason, [[h["status"], h.get("worker")] for h in final.history]]}}))
    """
    result = _result(run_client(code, timeout=300))
    assert result["a"] == 1 and result["held"] is None and result["renewed"] is True and result["still"] is None
    assert result["b"] == [2, "re-taken: the lease of worker A expired"]
    assert result["late"] == [False, False]  # A lost the request: it may change nothing
    assert result["c"] == 3 and result["gone"] is None
    status, reason, history = result["final"]
    assert status == "FAILED" and reason.startswith("taken 3 times and never finished")
    assert history == [["PENDING", None], ["RUNNING", "A"], ["RUNNING", "B"], ["RUNNING", "C"], ["FAILED", "D"]]


def test_worker_evaluates_requests_appends_rows_with_provenance_once_and_fails_with_the_reason(
        reports, run_client, hub, tmp_path, make_tiny_vit):
    ok = _model_folder(make_tiny_vit, tmp_path / "ok", reports["data"])
    broken = _model_folder(make_tiny_vit, tmp_path / "broken", reports["data"], seed=1)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    code = _UPLOAD + f"""
    import json
    from ximagenet12.cli import main
    from ximagenet12.leaderboard import submissions as S
    from ximagenet12.leaderboard.results import push_entry, read_results, ReportEntry
    commit = upload("owner/vit", {str(ok)!r})
    upload("owner/vit-broken", {str(broken)!r})
    S.submit("owner/vit", "owner/requests")
    S.submit("owner/vit-broken", "owner/requests")
    repo = S.RequestsRepo("owner/requests")  # a zero-shot request written past `submit`: the worker refuses it
    zero_shot = S.Request(request_id=S.request_id_of("owner/vit", commit, "zero-shot", "float32"), model="owner/vit",
                          revision=commit, task="zero-shot", precision="float32", submitter="tester",
                          submitted_at="2026-01-01T00:00:00+00:00")
    repo.write(zero_shot, parent=repo.head()[0], message="by hand")
    rc = main(["leaderboard", "worker", "--requests", "owner/requests", "--results", "owner/results",
               "--data", {str(reports["data"])!r}, "--device", "cpu", "--num-workers", "0", "--worker-id", "w1"])
    again = main(["leaderboard", "worker", "--requests", "owner/requests", "--results", "owner/results",
                  "--data", {str(reports["data"])!r}, "--device", "cpu", "--num-workers", "0"])
    back = read_results("owner/results")
    row = back.rows[0]
    # a second append of the same request (a worker that took it over) commits nothing
    twice = push_entry(ReportEntry(row=dict(row, report_id="other"), predictions=back.predictions[row["report_id"]]),
                       "owner/results")
    resubmit = None
    try:
        S.submit("owner/vit", "owner/requests", precision="float32", results="owner/results", submitter="bob")
    except S.SubmissionRefused as exc:
        resubmit = str(exc)
    queue = {{r.model + " " + r.task: [r.status, r.reason, r.report_id] for r in S.read_requests("owner/requests")}}
    keys = ["request_id", "submitter", "precision", "model_revision", "architecture", "training_data",
            "preprocessing", "source_split", "model_family", "model_params", "report_id", "evaluated_at"]
    print("RESULT " + json.dumps({{"rc": [rc, again], "commit": commit, "rows": len(back.rows),
        "row": {{k: row[k] for k in keys}}, "twice": twice, "queue": queue, "resubmit": resubmit,
        "provenance": json.loads(row["report_json"])["provenance"]["model"]}}))
    """
    proc = run_client(code, timeout=600)
    result = _result(proc)
    assert result["rc"] == [1, 0]  # one request FAILED; the second run finds nothing left
    assert result["rows"] == 1 and result["twice"] is None
    row = result["row"]
    finished, failed = result["queue"]["owner/vit image-classification"], result["queue"]["owner/vit-broken image-classification"]
    assert result["queue"]["owner/vit zero-shot"] == [
        "FAILED", "task 'zero-shot' is not run by this worker's evaluator (it runs image-classification)", None]
    assert finished == ["FINISHED", None, row["report_id"]]
    assert failed[0] == "FAILED" and failed[1] and "\n" not in failed[1]
    assert row["submitter"] == "tester" and row["precision"] == "float32" and row["model_revision"] == result["commit"]
    assert row["architecture"] == "ViTForImageClassification" and row["model_family"] == "vit"
    assert row["training_data"] == "ImageNet-1k"
    assert row["preprocessing"] == "resize 32×32, no crop, bilinear"
    assert row["source_split"] == "unknown"  # the sample build records no source split
    import safetensors.numpy

    expected = sum(v.size for v in safetensors.numpy.load_file(str(ok / "model.safetensors")).values())
    assert row["model_params"] == expected
    assert result["provenance"]["requested_revision"] == result["commit"]
    assert "is already FINISHED" in result["resubmit"]
    assert f"{row['request_id']} owner/vit: FINISHED (report {row['report_id']})" in proc.stdout
    assert "3 request(s) taken; 1 finished, 2 failed" in proc.stdout
    assert "0 request(s) taken" in proc.stdout


def test_a_killed_worker_process_leaves_its_request_to_the_next_worker(
        reports, run_client, hub, tmp_path, make_tiny_vit):
    ok = _model_folder(make_tiny_vit, tmp_path / "ok", reports["data"])
    setup = _UPLOAD + f"""
    import json
    from ximagenet12.leaderboard import submissions as S
    upload("owner/vit", {str(ok)!r})
    print("RESULT " + json.dumps({{"id": S.submit("owner/vit", "owner/requests").request_id}}))
    """
    rid = _result(run_client(setup, timeout=300))["id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_TOKEN="hf_test_token_not_secret",
               HF_HOME=str(tmp_path / "hf_home_killed"), NO_PROXY="127.0.0.1,localhost")
    # killed as soon as its RUNNING commit lands, long before an evaluation could finish
    worker = subprocess.Popen(
        [sys.executable, "-m", "ximagenet12.cli", "leaderboard", "worker", "--requests", "owner/requests",
         "--results", "owner/results", "--data", str(reports["data"]), "--device", "cpu", "--num-workers", "0",
         "--worker-id", "doomed", "--lease", "4"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _request_file(hub, "owner/requests", rid)["status"] != "RUNNING":
            assert worker.poll() is None, worker.stdout.read().decode()
            assert time.monotonic() < deadline, "the worker never took the request"
            time.sleep(0.05)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    taken = _request_file(hub, "owner/requests", rid)
    assert taken["lease"]["worker"] == "doomed"
    code = f"""
    import json, time
    from datetime import datetime
    from ximagenet12.leaderboard import submissions as S
    from ximagenet12.leaderboard.worker import run_worker
    from ximagenet12.leaderboard.results import read_results
    repo = S.RequestsRepo("owner/requests")
    early = S.claim(repo, worker="eager", lease_s=600)  # the dead worker's lease has not expired yet
    expires = datetime.fromisoformat(S.read_requests("owner/requests")[0].lease["expires_at"]).timestamp()
    time.sleep(max(0.0, expires - time.time()) + 0.5)
    outcomes = run_worker("owner/requests", "owner/results", data={str(reports["data"])!r}, worker="rescuer",
                          options={{"device": "cpu", "num_workers": 0}})
    final = S.read_requests("owner/requests")[0]
    rows = read_results("owner/results").rows
    print("RESULT " + json.dumps({{"early": early is None, "outcomes": [[o.status, o.request_id] for o in outcomes],
        "history": [[h["status"], h.get("worker")] for h in final.history], "reason": final.history[-2].get("reason"),
        "rows": [r["request_id"] for r in rows]}}))
    """
    result = _result(run_client(code, timeout=600))
    assert result["early"] is True
    assert result["outcomes"] == [["FINISHED", rid]]
    assert result["history"] == [["PENDING", None], ["RUNNING", "doomed"], ["RUNNING", "rescuer"], ["FINISHED", "rescuer"]]
    assert result["reason"] == "re-taken: the lease of worker doomed expired"
    assert result["rows"] == [rid]  # appended once


def test_bad_requests_and_worker_options_are_refused_before_the_hub_is_asked(capsys):
    from ximagenet12.cli import main
    from ximagenet12.leaderboard.submissions import Request, SubmissionRefused, finish, submit
    from ximagenet12.leaderboard.worker import run_worker

    assert main(["submit", "owner/vit", "--leaderboard", "owner/requests", "--task", "zero-shot"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("ximagenet12 submit: refused: task 'zero-shot' is not run by this leaderboard's evaluator yet "
                   "(it runs image-classification)")
    with pytest.raises(SubmissionRefused, match="unknown precision 'int8'; expected one of float32, float16, bfloat16"):
        submit("owner/vit", "owner/requests", precision="int8")
    with pytest.raises(SubmissionRefused, match="unknown task 'detection'"):
        submit("owner/vit", "owner/requests", task="detection")
    with pytest.raises(ValueError, match="max_requests must be at least 1, got 0"):
        run_worker("owner/requests", "owner/results", data="owner/data", max_requests=0)
    with pytest.raises(ValueError, match="lease must be positive, got -1"):
        run_worker("owner/requests", "owner/results", data="owner/data", lease_s=-1)
    with pytest.raises(ValueError, match="a request finishes FINISHED or FAILED, not 'RUNNING'"):
        finish(None, "id", worker="w", status="RUNNING")
    with pytest.raises(ValueError, match="owner/r/requests/x.json: unknown status 'DONE'"):
        Request.from_json(json.dumps({"request_id": "x", "model": "a/b", "revision": "c", "task": "image-classification",
                                      "precision": "float32", "submitter": "s", "submitted_at": "2026-01-01T00:00:00+00:00",
                                      "status": "DONE"}), where="owner/r/requests/x.json")
    with pytest.raises(ValueError, match="owner/r/requests/y.json is not a request file"):
        Request.from_json("[1, 2]", where="owner/r/requests/y.json")
