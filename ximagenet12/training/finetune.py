"""Full fine-tuning through ``transformers.Trainer``.

One :func:`finetune` call trains a model (with its fresh head) on the training rows of
a fold, with early stopping on a validation part carved from them (whole source images,
stratified by class: :func:`ximagenet12.training.folds.validation_split`), keeps the
best epoch's weights (``load_best_model_at_end``) and predicts the test rows. Images are
decoded and run through the model's own image processor per item, in the ``DataLoader``.
The training accuracy of each epoch is counted from the logits the training steps
already compute (no extra pass), the validation accuracy by the Trainer's evaluation.

Best epoch: the library's ``EarlyStoppingCallback`` stops training; the best epoch's
weights are kept *in memory* by a small callback and restored at the end, instead of
``load_best_model_at_end``: with transformers 5.24 that route reloads the best checkpoint
with the pre-5.0 parameter names of ViT (``vit.encoder.layer.*`` vs ``vit.layers.*``),
so most weights silently stay those of the last epoch (seen in this project's tests).
It also spares writing a checkpoint per epoch.

Mixed precision: ``bf16`` is the Trainer's ``bf16=True``, which on CPU runs the forward
passes under ``torch.autocast("cpu", dtype=torch.bfloat16)`` (``test_finetune`` checks the
head's outputs are bfloat16 during training and prediction); ``fp16`` needs CUDA and is
refused before training on a machine without it (:mod:`ximagenet12.training.protocols`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
import torch

from ximagenet12.core.constants import MIXED_PRECISION
from ximagenet12.evaluation import data as D

__all__ = ["MIXED_PRECISION", "FinetuneOptions", "FinetuneResult", "ImageDataset", "build_trainer", "finetune",
           "training_arguments"]

MixedPrecision = Literal["no", "fp16", "bf16"]


@dataclass(frozen=True)
class FinetuneOptions:
    epochs: int
    lr: float
    batch_size: int
    patience: int
    seed: int
    mixed_precision: MixedPrecision = "no"
    use_cpu: bool = True
    num_workers: int = 0
    progress: bool = False


@dataclass
class FinetuneResult:
    logits: np.ndarray  # [n_test, classes]
    epochs: int
    best_epoch: int | None
    curve: list[dict] = field(default_factory=list)  # {"epoch", "train_accuracy", "val_accuracy"}


class ImageDataset(torch.utils.data.Dataset):
    """Encoded images + labels -> ``{"pixel_values", "labels"}`` through the model's processor."""

    def __init__(self, images: Sequence[bytes], labels: Sequence[int], source_ids: Sequence[str], processor: Any):
        self.images, self.labels, self.source_ids, self.processor = list(images), list(labels), list(source_ids), processor

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        image = D.decode_rgb({"bytes": self.images[i]}, source_id=self.source_ids[i])
        pixels = self.processor(image, return_tensors="pt")["pixel_values"][0]
        return {"pixel_values": pixels, "labels": int(self.labels[i])}


def _accuracy(eval_pred) -> dict:
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels))}


def training_arguments(output_dir: str, options: FinetuneOptions, *, evaluate: bool = True):
    """The ``TrainingArguments`` of a fold (the benchmark builds its Trainer from these too)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=options.epochs,
        learning_rate=options.lr,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="no",
        load_best_model_at_end=False,
        metric_for_best_model="accuracy" if evaluate else None,
        greater_is_better=True if evaluate else None,
        logging_strategy="epoch",
        report_to="none",
        seed=options.seed,
        data_seed=options.seed,
        use_cpu=options.use_cpu,
        fp16=options.mixed_precision == "fp16",
        bf16=options.mixed_precision == "bf16",
        dataloader_num_workers=options.num_workers,
        remove_unused_columns=False,
        disable_tqdm=not options.progress,
    )


def _trainer_class():
    from transformers import PrinterCallback, Trainer, TrainerCallback

    class AccuracyTrainer(Trainer):
        """Counts correct training predictions from the logits the steps compute anyway, and
        keeps the best validation epoch's weights in memory (see the module docstring)."""

        def __init__(self, *args: Any, quiet: bool = True, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.train_counts = [torch.zeros((), dtype=torch.long), 0]
            self.train_curve: dict[int, float] = {}
            self.best: tuple[float, int, dict] | None = None
            this = self

            class EpochEnd(TrainerCallback):
                def on_epoch_end(self, args, state, control, **kw):
                    correct, seen = this.train_counts
                    this.train_curve[int(round(state.epoch or 0))] = float(correct) / seen if seen else float("nan")
                    this.train_counts = [torch.zeros((), dtype=torch.long), 0]

                def on_evaluate(self, args, state, control, metrics=None, **kw):
                    acc = (metrics or {}).get("eval_accuracy")
                    if acc is not None and (this.best is None or acc > this.best[0]):
                        state_dict = {k: v.detach().to("cpu", copy=True) for k, v in this.model.state_dict().items()}
                        this.best = (acc, int(round(state.epoch or 0)), state_dict)

            self.add_callback(EpochEnd())
            if quiet:
                self.remove_callback(PrinterCallback)

        def restore_best(self) -> int | None:
            if self.best is None:
                return None
            self.model.load_state_dict(self.best[2])
            return self.best[1]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels")
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
            if model.training and labels is not None:
                logits = outputs["logits"] if isinstance(outputs, dict) else outputs[1]
                self.train_counts[0] = self.train_counts[0] + (logits.argmax(-1) == labels).sum().detach().cpu()
                self.train_counts[1] += int(labels.shape[0])
            return (loss, outputs) if return_outputs else loss

    return AccuracyTrainer


def build_trainer(model: Any, output_dir: str, train: Any, val: Any | None, options: FinetuneOptions):
    """The fold's Trainer: accuracy metric, early stopping, best weights kept (no eval if ``val`` is None)."""
    from transformers import EarlyStoppingCallback

    evaluate = val is not None
    return _trainer_class()(
        model=model,
        args=training_arguments(output_dir, options, evaluate=evaluate),
        train_dataset=train,
        eval_dataset=val,
        compute_metrics=_accuracy if evaluate else None,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=options.patience)] if evaluate else [],
        quiet=not options.progress,
    )


def finetune(
    model: Any,
    processor: Any,
    *,
    train: ImageDataset,
    val: ImageDataset,
    test: ImageDataset | None,
    options: FinetuneOptions,
    workdir: str | os.PathLike,
) -> FinetuneResult:
    """Train ``model`` in place on ``train`` (early stopping on ``val``) and predict ``test``."""
    from ximagenet12.training.backbone import quiet_transformers

    Path(workdir).mkdir(parents=True, exist_ok=True)
    out = tempfile.mkdtemp(prefix="trainer-", dir=workdir)
    try:
        with quiet_transformers():
            trainer = build_trainer(model, out, train, val, options)
            trainer.train()
            best_epoch = trainer.restore_best()
            logits = np.zeros((0, model.config.num_labels), dtype=np.float32)
            if test is not None and len(test):
                logits = trainer.predict(test).predictions
                logits = logits[0] if isinstance(logits, tuple) else logits
        val_curve = {int(round(e["epoch"])): e["eval_accuracy"] for e in trainer.state.log_history if "eval_accuracy" in e}
        epochs = sorted(set(val_curve) | set(trainer.train_curve))
        curve = [
            {"epoch": e, "train_accuracy": trainer.train_curve.get(e), "val_accuracy": val_curve.get(e)} for e in epochs
        ]
        return FinetuneResult(np.asarray(logits, dtype=np.float32), int(round(trainer.state.epoch or 0)), best_epoch, curve)
    finally:
        shutil.rmtree(out, ignore_errors=True)
