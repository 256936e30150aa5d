"""Fixtures for the leaderboard tests: report folders written by the real evaluator.

The data is the builder's embedded sample (photographs with hand-checked masks, twelve of
them) built for five scenarios; it is evaluated by the real EfficientNet-Lite0 and by two tiny
random ViTs (wide initialisation, so their accuracy differs between scenarios). One ViT
sees only three configs, so its BG-Gap and mixed_* columns are missing. The reports are
made once per test run and shared by the xdist workers (a file lock guards the build).
The loopback Hub fixtures come from tests/hub/conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before datasets / huggingface_hub are imported
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

_TESTS = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_hub = _load("ximagenet12_tests_hub_conftest", _TESTS / "hub" / "conftest.py")
hub = _hub.hub  # the loopback Hub and its client runner, shared with the publishing tests
run_client = _hub.run_client
folders = _hub.folders

SCENARIOS = ["original", "blur_background", "image_grey", "mixed_same", "mixed_rand"]
#: Round-robin over the sample's classes: one photo of each, two of the first two (mixed_same needs a
#: second photo of the class; the others are recorded skips), so the evaluations stay quick.
MAX_SAMPLES = 12
PARTIAL = "original,blur_background,image_grey"


def tiny_vit(out: Path, seed: int, data: Path) -> Path:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from ximagenet12.evaluation.data import class_info

    names, _ = class_info(data, "original")
    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, num_labels=len(names), initializer_range=1.0,
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
    )
    ViTForImageClassification(config).save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def evaluate_to(model, data: Path, out: Path, *, scenarios: str = "all") -> Path:
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import write_report

    result = evaluate_classification(str(model), data, scenarios=scenarios, device="cpu", num_workers=0, progress=False)
    return write_report(result, out)


def _make_reports(root: Path) -> None:
    from ximagenet12.builder import build_dataset

    os.environ["XIMAGENET12_CACHE"] = str(root / "cache")
    data = root / "data"
    build_dataset(None, data, scenarios=SCENARIOS, progress=False, max_samples=MAX_SAMPLES)
    evaluate_to(tiny_vit(root / "models" / "vit-a", 0, data), data, root / "reports" / "vit-a")
    evaluate_to(tiny_vit(root / "models" / "vit-b", 1, data), data, root / "reports" / "vit-b", scenarios=PARTIAL)
    evaluate_to("efficientnet-lite0", data, root / "reports" / "lite0")
    (root / "done").write_text("ok")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, worker_id) -> Path:
    """This test run's temporary folder, shared by its xdist workers (not by other runs)."""
    base = tmp_path_factory.getbasetemp()
    return base if worker_id == "master" else base.parent


@pytest.fixture(scope="session")
def reports(run_dir):
    """``{"data", "vit_a", "vit_b", "lite0"}``: the built data folder and three report folders."""
    from filelock import FileLock

    root = run_dir / "leaderboard-reports"
    old = os.environ.get("XIMAGENET12_CACHE")
    try:
        with FileLock(str(root) + ".lock"):
            if not (root / "done").is_file():
                _make_reports(root)
    finally:
        if old is None:
            os.environ.pop("XIMAGENET12_CACHE", None)
        else:
            os.environ["XIMAGENET12_CACHE"] = old
    out = {"data": root / "data"}
    out.update({k: root / "reports" / k.replace("_", "-") for k in ("vit_a", "vit_b", "lite0")})
    return out


@pytest.fixture
def make_tiny_vit():
    """:func:`tiny_vit`, for tests that save their own tiny model (conftest is not importable here)."""
    return tiny_vit


#: Debian's chromium and chromedriver (.ci/run installs them), run headless with no network chatter.
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1500,1100")


@pytest.fixture(scope="module")
def browser():
    """A real headless Chromium (selenium), one per test module, with a throw-away profile."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ximagenet12-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
