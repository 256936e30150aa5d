"""The submission form in a real browser: headless Chromium fills the Submit tab of a site served
by `ximagenet12 leaderboard --serve`, against the loopback Hub, and sees the request go
PENDING → RUNNING → FINISHED as a worker takes and evaluates it; a second submission of the
same model is refused with one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = pytest.mark.slow

WAIT_S = 90
_CARD = "---\nlicense: mit\ndatasets: [imagenet-1k, laion/laion400m]\n---\n\n# a tiny ViT\n"


def _wait(predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _statuses(driver) -> dict[str, str]:
    """model -> status, read from the request table's cells."""
    heads, rows = driver.execute_script("""
        const root = document.getElementById('requests-table');
        if (!root) return [[], []];
        const heads = [...root.querySelectorAll('thead th')].map(th => th.getAttribute('title') || th.textContent.trim());
        const rows = {};
        for (const cell of root.querySelectorAll('[role=gridcell][data-row]')) {
            (rows[+cell.dataset.row] = rows[+cell.dataset.row] || [])[+cell.dataset.col] = cell.textContent.trim();
        }
        return [heads, Object.values(rows)];
    """)
    return {r[heads.index("model")]: r[heads.index("status")] for r in rows if "model" in heads and r}




def _serve(site, hub, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(GRADIO_ANALYTICS_ENABLED="False", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
               HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_OFFLINE="0", HF_TOKEN="hf_space_token_not_secret",
               HF_HOME=str(tmp_path / "space_hf_home"))
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ximagenet12.cli", "leaderboard", "--serve", str(site), "--port",
                             str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}: {(tmp_path / 'serve.log').read_text()}")
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return False

    _wait(up, f"the leaderboard on {url}")
    return proc, log, url


def test_the_form_files_a_request_and_shows_it_pending_running_finished(
        reports, run_client, hub, browser, tmp_path, make_tiny_vit):
    from selenium.webdriver.common.by import By

    from ximagenet12.cli import main

    model = make_tiny_vit(tmp_path / "vit", 0, reports["data"])
    (model / "README.md").write_text(_CARD, encoding="utf-8")
    run_client(f"""
        from huggingface_hub import HfApi
        HfApi().create_repo("owner/vit")
        HfApi().upload_folder(folder_path={str(model)!r}, repo_id="owner/vit")
    """)
    site = tmp_path / "site"
    assert main(["leaderboard", str(reports["lite0"]), "--out", str(site), "--requests", "owner/requests"]) == 0
    assert "ximagenet12[leaderboard]>=" in (site / "requirements.txt").read_text()
    proc, log, url = _serve(site, hub, tmp_path)
    try:
        browser.get(url)
        _wait(lambda: browser.find_elements(By.XPATH, "//button[@role='tab'][normalize-space()='Submit']"), "the Submit tab")
        browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Submit']").click()
        _wait(lambda: browser.find_element(By.CSS_SELECTOR, "#submit-model textarea, #submit-model input").is_displayed(),
              "the form")
        browser.find_element(By.CSS_SELECTOR, "#submit-model textarea, #submit-model input").send_keys("owner/vit")
        browser.find_element(By.CSS_SELECTOR, "#submit-submitter textarea, #submit-submitter input").send_keys("carol")
        browser.find_element(By.ID, "submit-button").click()
        answer = _wait(lambda: (t := browser.find_element(By.ID, "submit-answer").text) and "PENDING" in t and t,
                       "the form's answer")
        assert "owner/vit" in answer
        _wait(lambda: _statuses(browser).get("owner/vit") == "PENDING", "the request listed PENDING")

        browser.find_element(By.ID, "submit-button").click()  # the same model again: one line, refused
        refused = _wait(lambda: (t := browser.find_element(By.ID, "submit-answer").text) and "Refused" in t and t,
                        "the refusal")
        assert "is already PENDING" in refused and "\n" not in refused.strip()

        run_client("""
            from ximagenet12.leaderboard import submissions as S
            assert S.claim(S.RequestsRepo("owner/requests"), worker="w1") is not None
        """)
        browser.find_element(By.ID, "requests-refresh").click()
        _wait(lambda: _statuses(browser).get("owner/vit") == "RUNNING", "the request listed RUNNING")

        run_client(f"""
            from ximagenet12.leaderboard import submissions as S
            from ximagenet12.leaderboard.worker import process_request
            repo = S.RequestsRepo("owner/requests")
            request = S.read_requests("owner/requests")[0]
            outcome = process_request(repo, request, results="owner/results", data={str(reports["data"])!r}, worker="w1",
                                      options={{"device": "cpu", "num_workers": 0}})
            assert outcome.status == "FINISHED", outcome
        """, timeout=600)
        browser.find_element(By.ID, "requests-refresh").click()
        _wait(lambda: _statuses(browser).get("owner/vit") == "FINISHED", "the request listed FINISHED")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    stored = json.loads(next(v for k, v in hub.files("dataset", "owner/requests").items() if k.startswith("requests/")))
    assert stored["submitter"] == "carol"
    assert [h["status"] for h in stored["history"]] == ["PENDING", "RUNNING", "FINISHED"]
    rows = hub.files("dataset", "owner/results")
    assert "data/results/results.parquet" in rows
