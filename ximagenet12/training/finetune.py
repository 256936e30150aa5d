"""Full fine-tuning through ``transformers.Trainer``.

One :func:`finetune` call trains a model (with its fresh head) on the training rows of
a fold, with early stopping on a validation part carved from them (whole source images,
stratified by class: :func:`ximagenet12.training.folds.validation_split`), keeps the
best epoch's weights (``load_best_model_at_end``) and predicts the test rows. Images are
decoded and run through the model's own image processor per item, in the ``DataLoader``.
The training accuracy of each epoch is counted from the logits the training steps
already compute (no extra pass), the validation accuracy by the Trainer's evaluation.
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

from ximagenet12.evaluation import data as D

__all__ = ["MIXED_PRECISION", "FinetuneOptions", "FinetuneResult", "ImageDataset", "finetune", "training_arguments"]

MixedPrecision = Literal["no", "fp16", "bf16"]
MIXED_PRECISION: tuple[str, ...] = ("no", "fp16", "bf16")


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

    strategy = "epoch" if evaluate else "no"
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=options.epochs,
        learning_rate=options.lr,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        eval_strategy=strategy,
        save_strategy=strategy,
        save_total_limit=1 if evaluate else None,
        save_only_model=True,
        load_best_model_at_end=evaluate,
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
    from transformers import Trainer, TrainerCallback

    class AccuracyTrainer(Trainer):
        """Counts correct training predictions from the logits the steps compute anyway."""

        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.train_counts = [torch.zeros((), dtype=torch.long), 0]
            self.train_curve: dict[int, float] = {}
            this = self

            class EpochEnd(TrainerCallback):
                def on_epoch_end(self, args, state, control, **kw):
                    correct, seen = this.train_counts
                    this.train_curve[int(round(state.epoch or 0))] = float(correct) / seen if seen else float("nan")
                    this.train_counts = [torch.zeros((), dtype=torch.long), 0]

            self.add_callback(EpochEnd())

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels")
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
            if model.training and labels is not None:
                logits = outputs["logits"] if isinstance(outputs, dict) else outputs[1]
                self.train_counts[0] = self.train_counts[0] + (logits.argmax(-1) == labels).sum().detach().cpu()
                self.train_counts[1] += int(labels.shape[0])
            return (loss, outputs) if return_outputs else loss

    return AccuracyTrainer


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
    from transformers import EarlyStoppingCallback

    Path(workdir).mkdir(parents=True, exist_ok=True)
    out = tempfile.mkdtemp(prefix="trainer-", dir=workdir)
    try:
        trainer = _trainer_class()(
            model=model,
            args=training_arguments(out, options),
            train_dataset=train,
            eval_dataset=val,
            compute_metrics=_accuracy,
            callbacks=[EarlyStoppingCallback(early_stopping_patience=options.patience)],
        )
        trainer.train()
        logits = np.zeros((0, model.config.num_labels), dtype=np.float32)
        if test is not None and len(test):
            logits = trainer.predict(test).predictions
            logits = logits[0] if isinstance(logits, tuple) else logits
        val_curve = {int(round(e["epoch"])): e["eval_accuracy"] for e in trainer.state.log_history if "eval_accuracy" in e}
        epochs = sorted(set(val_curve) | set(trainer.train_curve))
        curve = [
            {"epoch": e, "train_accuracy": trainer.train_curve.get(e), "val_accuracy": val_curve.get(e)} for e in epochs
        ]
        best = trainer.state.best_model_checkpoint
        best_epoch = None
        if best is not None and val_curve:
            best_epoch = max(val_curve, key=lambda e: (val_curve[e], -e))
        return FinetuneResult(np.asarray(logits, dtype=np.float32), int(round(trainer.state.epoch or 0)), best_epoch, curve)
    finally:
        shutil.rmtree(out, ignore_errors=True)
