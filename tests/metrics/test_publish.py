"""The real metric folder published as a Space and loaded back with ``evaluate.load("owner/...")``.

Uses the loopback Hub of ``tests/hub/fake_hub.py``; the client runs in a subprocess because
``huggingface_hub`` and ``evaluate`` read the endpoint when they are imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("evaluate")

_FAKE_HUB = Path(__file__).resolve().parents[1] / "hub" / "fake_hub.py"
_spec = importlib.util.spec_from_file_location("ximagenet12_tests_fake_hub", _FAKE_HUB)
if "ximagenet12_tests_fake_hub" in sys.modules:  # already loaded by tests/hub/conftest.py in this process
    fake_hub = sys.modules["ximagenet12_tests_fake_hub"]
else:
    fake_hub = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = fake_hub
    _spec.loader.exec_module(fake_hub)


@pytest.fixture
def hub():
    server = fake_hub.FakeHub()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_installed_metric_pushes_and_loads_from_the_hub(hub, tmp_path):
    code = """
        import json
        import evaluate
        from ximagenet12.hub import push_metric
        summary = push_metric("owner/robustness_score")          # the installed folder
        table3 = evaluate.load("owner/robustness_score")
        formula = evaluate.load("owner/robustness_score", "formula")
        names = ["blur_background", "blur_object", "image_g", "image_b",
                 "image_grey", "image_r", "random_background", "segmented_image"]
        kwargs = dict(
            external=dict(zip(names, [0.9377, 0.8892, 0.8739, 0.8733, 0.9323, 0.8821, 0.2641, 0.6967])),
            external_reference=0.9740,
            internal=dict(zip(names, [0.9079, 0.8657, 0.8892, 0.8996, 0.9044, 0.8737, 0.6958, 0.9160])),
            internal_reference=0.8622,
        )
        samples = dict(predictions=["a", "b", "a", "a", "b", "b"], references=["a", "b", "a", "b", "b", "b"],
                       scenarios=["original", "original", "x", "x", "y", "y"])
        print("RESULT " + json.dumps({
            "uploaded": sorted(summary.uploaded),
            "table3": table3.compute(**kwargs),
            "formula": formula.compute(**kwargs),
            "samples": table3.compute(**samples),
        }))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf_home"),
        HF_MODULES_CACHE=str(tmp_path / "modules"),
        HF_TOKEN="hf_test_token_not_secret",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, f"{proc.stderr}\n--- server log\n" + "\n".join(hub.log_lines())
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["uploaded"] == ["README.md", "app.py", "functional.py", "requirements.txt", "robustness_score.py"]
    assert result["table3"]["sigma2_e"] == pytest.approx(0.0885, abs=2e-4)
    assert result["table3"]["sigma2_i"] == pytest.approx(0.0052, abs=2e-4)
    assert result["table3"]["s_robust"] == pytest.approx(0.9062, abs=2e-4)
    assert result["formula"]["config"] == "formula" and result["formula"]["dispersion"] == "std"
    assert result["samples"]["accuracy"] == {"original": 1.0, "x": 0.5, "y": 1.0}
    assert hub.repos[("space", "owner/robustness_score")].sdk == "gradio"
