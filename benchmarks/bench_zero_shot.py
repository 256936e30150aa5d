"""Benchmark: ``evaluate --task zero-shot`` against the zero-shot pipeline's own forward.

A randomly initialised CLIP of ViT-B/32 size (vision: 12 layers of width 768, 32-pixel
patches at 224 px; text: 12 layers of width 512; the tiny character tokenizer of the
tests) runs on CPU over N real photos (crops of scikit-image's bundled images) of a
12-class built folder, one prompt per class. Measured in one run, interleaved, best of
``--repeats``:

(a) the pipeline's own forward on the same rows, batched as generously as the pipeline
    allows: per batch of images, ``pipe.forward`` with the 12 prompts' tokens and the
    batch's pixel values (the model encodes the prompts and the images);
(b) ``evaluate_classification(pipe, folder, task="zero-shot")`` end to end (stream,
    decode, preprocess, prompts encoded once per run, image tower, score, report).

Target (issue 22): (b) <= 1.2 x (a). Usage::

    python benchmarks/bench_zero_shot.py [--n 64] [--batch-size 16] [--repeats 2]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _photos import photo_crops
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: The reference release's 12 classes (SPEC §2), sorted by wnid.
CLASSES = [
    ("n01689811", "alligator lizard"), ("n01693334", "green lizard"), ("n01985128", "crayfish"),
    ("n02066245", "grey whale"), ("n02085936", "Maltese dog"), ("n02119022", "red fox"),
    ("n02607072", "anemone fish"), ("n02692877", "airship"), ("n02974003", "car wheel"),
    ("n02977058", "cash machine"), ("n02992211", "cello"), ("n07614500", "ice cream"),
]
TEMPLATE = "a photo of a {}."


def write_folder(root: Path, images: list[np.ndarray]) -> None:
    import datasets
    import yaml

    names = [n for _, n in CLASSES]
    features = datasets.Features({
        "image": datasets.Image(), "mask": datasets.Image(), "label": datasets.ClassLabel(names=names),
        "class_key": datasets.Value("string"), "source_id": datasets.Value("string"),
        "scenario": datasets.Value("string"),
    })
    mask = io.BytesIO()
    Image.fromarray(np.zeros(images[0].shape[:2], np.uint8)).save(mask, format="PNG")
    rows = []
    for i, img in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=95)
        c = i % len(CLASSES)
        rows.append({"image": {"bytes": buf.getvalue(), "path": None}, "mask": {"bytes": mask.getvalue(), "path": None},
                     "label": c, "class_key": CLASSES[c][0], "source_id": f"s{i}", "scenario": "original"})
    (root / "data" / "original").mkdir(parents=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(
        str(root / "data" / "original" / "train-00000-of-00001.parquet"), batch_size=100)
    meta = {"configs": [{"config_name": "original", "default": True,
                         "data_files": [{"split": "train", "path": "data/original/train-*"}]}]}
    (root / "README.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n", encoding="utf-8")


def base_sized_clip():
    import torch
    import transformers
    from transformers import CLIPConfig, CLIPModel, pipeline

    from ximagenet12.scenarios.generation.testing import _tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = _tokenizer(Path(tmp))
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer.get_vocab()), "hidden_size": 512, "intermediate_size": 2048,
                     "num_attention_heads": 8, "num_hidden_layers": 12, "max_position_embeddings": 77,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1},
        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 768, "intermediate_size": 3072,
                       "num_attention_heads": 12, "num_hidden_layers": 12},
        projection_dim=512,
    )
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    return pipeline("zero-shot-image-classification", model=model, tokenizer=tokenizer,
                    image_processor=getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)(),
                    device="cpu")


def main() -> None:
    import torch

    from ximagenet12.evaluation import data as D
    from ximagenet12.evaluation.classification import default_num_workers, evaluate_classification

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    pipe = base_sized_clip()
    names = [n for _, n in CLASSES]
    images = [np.asarray(c.resize((500, 375), Image.BILINEAR)) for c in photo_crops(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "built"
        write_folder(root, images)
        ds = D.open_config(root, "original", columns=["image"])
        pre = [pipe.preprocess(D.decode_rgb(row["image"]), candidate_labels=names, hypothesis_template=TEMPLATE)
               for row in ds]
        text = pre[0]["text_inputs"][0]
        batches = [torch.cat([p["pixel_values"] for p in pre[i: i + args.batch_size]])
                   for i in range(0, len(pre), args.batch_size)]

        def pipeline_forward() -> None:
            for b in batches:
                pipe.forward({"candidate_labels": names, "text_inputs": [text], "pixel_values": b})

        pipeline_forward()  # warm-up
        evaluate_classification(pipe, root, task="zero-shot", batch_size=args.batch_size, progress=False,
                                limit=args.batch_size)
        fwd, e2e = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            pipeline_forward()
            fwd.append(time.perf_counter() - t)
            t = time.perf_counter()
            res = evaluate_classification(pipe, root, task="zero-shot", batch_size=args.batch_size, progress=False)
            e2e.append(time.perf_counter() - t)
        assert res.report["scenarios"]["original"]["n"] == args.n

    a, b = min(fwd), min(e2e)
    print(json.dumps({
        "n_images": args.n, "classes": len(names), "batch_size": args.batch_size,
        "workers": default_num_workers(), "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "a_pipeline_forward_s": round(a, 3), "b_evaluate_end_to_end_s": round(b, 3),
        "ratio_b_over_a": round(b / a, 3), "target": 1.2,
    }, indent=2))


if __name__ == "__main__":
    main()
