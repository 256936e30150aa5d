"""push_metric: the evaluate module as a Gradio Space, loadable with evaluate.load."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from ximagenet12.hub.publish import METRIC_NAME, push_metric

SCRIPT = '''"""A stand-in for the robustness metric with the same file layout."""
import datasets
import evaluate

from .functional import mean_accuracy


class RobustnessScore(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="stand-in",
            citation="",
            inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return {"accuracy": mean_accuracy(predictions, references)}
'''
FUNCTIONAL = '''def mean_accuracy(predictions, references):
    return sum(int(p == r) for p, r in zip(predictions, references)) / len(references)
'''
CARD = """---
title: robustness_score
sdk: gradio
app_file: app.py
tags: [evaluate, metric]
---

# robustness_score
"""


def make_metric(root: Path, *, card: str = CARD) -> Path:
    folder = root / METRIC_NAME
    folder.mkdir(parents=True)
    (folder / f"{METRIC_NAME}.py").write_text(SCRIPT)
    (folder / "functional.py").write_text(FUNCTIONAL)
    (folder / "README.md").write_text(card)
    (folder / "app.py").write_text("import evaluate\nfrom evaluate.utils import launch_gradio_widget\n")
    (folder / "requirements.txt").write_text("evaluate>=0.4.1\ndatasets\n")
    (folder / "__init__.py").write_text("")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    return folder


def test_push_metric_then_evaluate_load(tmp_path, hub, run_client):
    folder = make_metric(tmp_path)
    code = f"""
import json, evaluate
from ximagenet12.hub.publish import push_metric
summary = push_metric("owner/{METRIC_NAME}", source={str(folder)!r})
metric = evaluate.load("owner/{METRIC_NAME}")
result = metric.compute(predictions=[1, 2, 3, 4], references=[1, 2, 0, 0])
print("RESULT " + json.dumps({{"uploaded": summary.uploaded, "url": summary.url, "result": result}}))
"""
    proc = run_client(code)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["result"] == {"accuracy": 0.5}
    assert result["url"].endswith(f"/spaces/owner/{METRIC_NAME}")
    assert sorted(result["uploaded"]) == sorted(
        ["README.md", "app.py", "functional.py", f"{METRIC_NAME}.py", "requirements.txt"]
    )
    assert result["uploaded"][-1] == "README.md"
    repo = hub.repos[("space", f"owner/{METRIC_NAME}")]
    assert repo.sdk == "gradio"


def test_push_metric_refuses_wrong_name_and_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = make_metric(tmp_path, card="---\ntitle: x\n---\n")
    (folder / "app.py").unlink()
    with pytest.raises(ValueError, match=r"(?s)must be named 'robustness_score'.*app.py is missing.*needs `sdk: gradio`"):
        push_metric("owner/robustness", source=folder)
    with pytest.raises(FileNotFoundError, match="metric folder .* does not exist"):
        push_metric("owner/robustness_score", source=tmp_path / "nope")


def test_default_source_is_the_installed_metric_module():
    folder = Path(str(resources.files("ximagenet12.metrics") / METRIC_NAME))
    assert folder.is_dir()
    if not (folder / f"{METRIC_NAME}.py").is_file():
        pytest.skip("the metric module has not landed yet")
    required = [f"{METRIC_NAME}.py", "README.md", "app.py", "requirements.txt"]
    missing = [name for name in required if not (folder / name).is_file()]
    assert missing == [], f"the metric folder lacks {missing}"


@pytest.mark.slow
def test_the_installed_metric_pushes_and_loads_back_with_evaluate(run_client, hub):
    code = """
        import json
        import evaluate
        from ximagenet12.hub.publish import push_metric
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
                       scenarios=["original", "original", "image_r", "image_r", "image_g", "image_g"])
        print("RESULT " + json.dumps({
            "uploaded": sorted(summary.uploaded),
            "table3": table3.compute(**kwargs),
            "formula": formula.compute(**kwargs),
            "samples": table3.compute(**samples),
        }))
    """
    proc = run_client(code, timeout=300)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["uploaded"] == ["README.md", "app.py", "functional.py", "requirements.txt", "robustness_score.py"]
    assert result["table3"]["sigma2_e"] == pytest.approx(0.0885, abs=2e-4)
    assert result["table3"]["sigma2_i"] == pytest.approx(0.0052, abs=2e-4)
    assert result["table3"]["s_robust"] == pytest.approx(0.9062, abs=2e-4)
    assert result["formula"]["config"] == "formula" and result["formula"]["dispersion"] == "std"
    assert result["samples"]["accuracy"] == {"original": 1.0, "image_r": 0.5, "image_g": 1.0}
    assert hub.repos[("space", "owner/robustness_score")].sdk == "gradio"
