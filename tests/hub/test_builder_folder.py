"""The real builder's output passes the Hub validation and round-trips through push."""

from __future__ import annotations

import json

import pytest

from ximagenet12.hub.validate import validate_folder


@pytest.fixture(scope="module")
def builder_folder(tmp_path_factory):
    try:
        from ximagenet12.builder import build_dataset
        from ximagenet12.builder.sample import sample_source
    except ImportError:
        pytest.skip("the dataset builder has not landed yet")
    out = tmp_path_factory.mktemp("builder") / "built"
    build_dataset(sample_source(), out, scenarios=["original", "blur_background"], progress=False)
    return out


def test_builder_output_has_no_hub_problems(builder_folder):
    problems = validate_folder(builder_folder)
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_builder_output_round_trips_through_the_hub(builder_folder, run_client):
    code = f"""
import json, datasets
from ximagenet12.hub.publish import push
push({str(builder_folder)!r}, "owner/ximagenet12")
out = {{}}
for config in ("original", "blur_background"):
    remote = datasets.load_dataset("owner/ximagenet12", config, split="train")
    local = datasets.load_dataset({str(builder_folder)!r}, config, split="train")
    raw = lambda ds: ds.cast_column("image", datasets.Image(decode=False)).cast_column("mask", datasets.Image(decode=False)).to_list()
    out[config] = [len(remote), raw(remote) == raw(local)]
print("RESULT " + json.dumps(out))
"""
    proc = run_client(code)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert all(same for _, same in result.values()), result
    assert all(n > 0 for n, _ in result.values()), result


@pytest.mark.slow
def test_the_evaluator_reads_a_pushed_dataset_by_its_repo_id(builder_folder, run_client):
    pytest.importorskip("torch")
    code = f"""
import json
from ximagenet12.hub.publish import push
from ximagenet12.evaluation import evaluate_classification
push({str(builder_folder)!r}, "owner/ximagenet12")
out = {{}}
for data in ("owner/ximagenet12", {str(builder_folder)!r}):
    result = evaluate_classification("efficientnet-lite0", data, device="cpu", progress=False, num_workers=0)
    out[data] = {{c: [e["n"], e["modes"]["strict"]["accuracy"]] for c, e in result.report["scenarios"].items()}}
print("RESULT " + json.dumps(out))
"""
    proc = run_client(code, timeout=300)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    remote, local = result["owner/ximagenet12"], result[str(builder_folder)]
    assert list(remote) == ["original", "blur_background"] and remote == local
    assert all(n == 20 for n, _ in remote.values())  # the embedded sample: 10 classes x 2
