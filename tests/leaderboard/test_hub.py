"""Loopback Hub: `evaluate --push-results` appends to a results repo, `leaderboard --results` reads it,
`push-leaderboard` publishes the site as a Gradio Space, a foreign repo is refused before any upload."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _result(proc) -> dict:
    return json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_push_results_then_leaderboard_from_the_repo_then_push_the_space(reports, run_client, hub, tmp_path):
    model = json.loads((reports["vit_a"] / "report.json").read_text())["model"]
    site = tmp_path / "site"
    code = f"""
        import json
        from ximagenet12.cli import main
        from ximagenet12.leaderboard.results import push_results, read_results
        rc1 = main(["evaluate", "--model", {model!r}, "--data", {str(reports["data"])!r}, "--out", {str(tmp_path / "fresh")!r},
                    "--no-progress", "--num-workers", "0", "--device", "cpu", "--push-results", "owner/results"])
        push_results({str(reports["lite0"])!r}, "owner/results")
        back = read_results("owner/results")
        rc2 = main(["leaderboard", "--results", "owner/results", "--out", {str(site)!r}])
        rc3 = main(["push-leaderboard", {str(site)!r}, "--repo", "owner/leaderboard"])
        print("RESULT " + json.dumps({{"rc": [rc1, rc2, rc3], "models": sorted(r["model"] for r in back.rows),
                                      "figures": sorted(sorted(f) for f in back.figures.values())}}))
    """
    proc = run_client(code, timeout=300)
    result = _result(proc)
    assert result["rc"] == [0, 0, 0]
    assert result["models"] == sorted([model, "efficientnet-lite0"])
    assert result["figures"] == [["heatmap.png", "scenarios.png"]] * 2
    assert "results appended to" in proc.stdout
    space = hub.repos[("space", "owner/leaderboard")]
    assert space.sdk == "gradio"
    leaderboard = json.loads((site / "leaderboard.json").read_text())
    assert [b["n_rows"] for b in leaderboard["boards"]] == [2]
    files = hub.files("dataset", "owner/results")
    assert "data/results/results.parquet" in files and len([f for f in files if f.startswith("data/predictions/")]) == 2
    assert {"app.py", "requirements.txt", "README.md", "leaderboard.json"} <= set(hub.files("space", "owner/leaderboard"))


def test_a_foreign_dataset_repo_is_refused_before_anything_is_sent(reports, run_client, hub, folders, tmp_path):
    foreign = folders.make_folder(tmp_path / "foreign")
    code = f"""
        from ximagenet12.hub.publish import push
        from ximagenet12.leaderboard.results import push_results
        push({str(foreign)!r}, "owner/foreign")
        try:
            push_results({str(reports["vit_a"])!r}, "owner/foreign")
        except ValueError as exc:
            print("ERROR " + str(exc).splitlines()[0])
    """
    proc = run_client(code, timeout=300)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("ERROR "))
    assert "'owner/foreign' is not a ximagenet12 results repo: its card has no `ximagenet12_results:`" in line
    commits = [path for method, path, _ in hub.requests if method == "POST" and "/commit/" in path]
    assert len(commits) == 2, commits  # the foreign dataset's data, then its card; nothing from push_results


def test_a_pushed_dataset_has_the_fingerprint_of_its_folder_and_a_hub_model_its_commit(reports, run_client, hub):
    code = f"""
        import json
        from huggingface_hub import HfApi
        from ximagenet12.hub.publish import push
        from ximagenet12.leaderboard.provenance import data_fingerprint, model_provenance
        summary = push({str(reports["data"])!r}, "owner/sample")
        api = HfApi()
        api.create_repo("owner/tiny-vit")
        commit = api.upload_file(path_or_fileobj=b"{{}}", path_in_repo="config.json", repo_id="owner/tiny-vit")
        print("RESULT " + json.dumps({{
            "hub": data_fingerprint("owner/sample"), "local": data_fingerprint({str(reports["data"])!r}),
            "model": model_provenance("owner/tiny-vit"), "commit": commit.oid}}))
    """
    result = _result(run_client(code, timeout=300))
    assert result["hub"][0] == result["local"][0] and result["local"][1] is None
    assert result["hub"][1] == hub.repo_info(hub.repos[("dataset", "owner/sample")], "main")["sha"]
    assert result["model"]["model_revision"] == result["commit"]
    assert result["model"]["model_url"].endswith("/owner/tiny-vit")


def test_a_push_overtaken_by_another_writer_rereads_and_keeps_both_rows(reports, run_client, hub):
    # Writer A reads the (empty) repo; before A commits, writer B appends its row. A's commit,
    # based on the head it read, is refused (412) and A appends again on top of B's.
    code = f"""
        import json
        import ximagenet12.leaderboard.results as results
        reads = []
        real = results._existing_results
        def racing(repo_id, **kw):
            out = real(repo_id, **kw)
            reads.append(out[0])
            if len(reads) == 1:
                results.push_results({str(reports["lite0"])!r}, repo_id)  # writer B lands first
            return out
        results._existing_results = racing
        results.push_results({str(reports["vit_a"])!r}, "owner/race")
        back = results.read_results("owner/race")
        print("RESULT " + json.dumps({{"models": sorted(r["model"] for r in back.rows), "reads": len(reads),
                                      "predictions": len(back.predictions)}}))
    """
    proc = run_client(code, timeout=300)
    result = _result(proc)
    assert result["models"] == sorted([json.loads((reports["vit_a"] / "report.json").read_text())["model"],
                                       "efficientnet-lite0"])
    assert result["predictions"] == 2
    assert result["reads"] == 3  # A, B (inside A's first read), A again after the refusal
    assert "during the push; nothing was committed" in proc.stdout + proc.stderr
