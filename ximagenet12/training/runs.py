"""The run folder: settings, fold assignment, finished folds, feature cache, models.

Layout::

    <out>/run.json                       # settings + provenance; a rerun must match them (resume)
    <out>/folds.json                     # {source_id: fold}
    <out>/features/<config>.npz          # linear probe: pooled features, computed once per config
    <out>/folds/<config>/fold-KK.json    # one finished fold: accuracy, n, train n, epochs, curve
    <out>/folds/<config>/fold-KK.parquet # its predictions
    <out>/failures/<config>.json         # fine-tuning: images that failed to decode (left out)
    <out>/model/                         # ex1: the trained model (save_pretrained + processor)
    <out>/model/training_rows.json       # the rows it was trained on (source ids, config, data fingerprint)
    <out>/models/<config>/fold-KK/       # ex2 with --save-models (each with its training_rows.json)
    <out>/report.json, predictions.parquet, report.md, heatmap.png, scenarios.png, curves.png

Every file is written to a temporary name and renamed, and a fold's ``.json`` is renamed
last: a fold is finished exactly when its ``.json`` exists, so a run killed at any point
resumes with the folds that are not.
"""

from __future__ import annotations

from ximagenet12.evaluation.training_rows import TRAINING_ROWS_FILE, read_training_rows  # noqa: F401 (re-exported)

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["RESUME_KEYS", "RunFolder", "TRAINING_ROWS_FILE", "atomic_write_text", "read_training_rows"]

#: Written into every saved model folder: the rows the model was trained on, so that
#: ``evaluate``, ``score`` and the leaderboard never score a model on them silently.

#: Settings that must match for a rerun to continue a run folder (device, workers and
#: progress bars may change between tries).
RESUME_KEYS = (
    "protocol", "method", "model", "data", "scenarios", "folds", "seed", "epochs", "lr", "batch_size",
    "val_fraction", "patience", "mixed_precision", "dtype", "revision", "limit", "probe_c",
)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Files at the top of a run folder (the evaluator's report files come on top).
TOP_FILES = ("run.json", "folds.json", "ex1_training.json", "curves.png")
#: Sub-folders a run writes into: never a link (issue 25).
SUB_FOLDERS = ("folds", "features", "failures", "model", "models", "tmp")


class RunFolder:
    """One run's folder (see the module docstring): an owned output folder
    (:class:`ximagenet12.io.owned.OwnedFolder`, command ``train``), so a folder holding
    another tool's files is refused, no link in it is followed, and its files (but the saved
    models, written whole by ``save_pretrained``) are written through the folder's manifest."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.owned: Any = None

    def check(self) -> None:
        """The folder's refusals (not a folder, another tool's files, a link), with nothing
        created: the CLI calls it before the model is loaded."""
        self._open(exists=(self.path / "run.json").is_file(), create=False)

    def _open(self, *, exists: bool, create: bool = True) -> None:
        """Take the folder (``exists``: it holds a run of this project, maybe from before manifests)."""
        from ximagenet12.io.owned import MANIFEST, OwnedFolder, refuse_links
        from ximagenet12.evaluation.report import REPORT_FILES

        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--out {str(self.path)!r} exists and is not a folder")
        if not exists and self.path.is_dir() and any(self.path.iterdir()) and not (self.path / ".cache").is_dir():
            raise ValueError(f"--out {str(self.path)!r} is a non-empty folder that holds no run (no run.json)")
        legacy = exists and not (self.path / MANIFEST).is_file()
        owned = (OwnedFolder.open if create else OwnedFolder.check)(
            self.path, command="train", overwrite=legacy, planned=() if legacy else (*TOP_FILES, *REPORT_FILES))
        if not create:
            refuse_links(self.path, SUB_FOLDERS, what="write into")
            return
        self.owned = owned
        if legacy:  # a run folder from before manifests: its own files are the run's
            for name in (*TOP_FILES, *REPORT_FILES):
                if (self.path / name).is_file() and not (self.path / name).is_symlink():
                    self.owned.claim(name)
        refuse_links(self.path, SUB_FOLDERS, what="write into")

    def write_text(self, rel: str, text: str) -> None:
        """A file of the run, through its manifest (temporary name, then rename)."""
        if self.owned is None:  # a worker's view of the folder (Ray): the run's main process opened it
            atomic_write_text(self.path / rel, text)
        else:
            self.owned.write_text(rel, text)

    # ----------------------------------------------------------------- settings
    def start(self, settings: Mapping[str, Any], folds: Mapping[str, int]) -> bool:
        """Write ``run.json``/``folds.json``, or check that they match; ``True`` if resuming."""
        run_json = self.path / "run.json"
        settings = json.loads(json.dumps(dict(settings)))  # tuples as JSON lists, as run.json holds them
        self._open(exists=run_json.is_file())
        if run_json.is_file():
            old = json.loads(run_json.read_text(encoding="utf-8"))
            diff = [k for k in RESUME_KEYS if old.get("settings", {}).get(k) != settings.get(k)]
            if diff:
                shown = "; ".join(f"{k}: {old.get('settings', {}).get(k)!r} there, {settings.get(k)!r} now" for k in diff[:4])
                raise ValueError(
                    f"--out {str(self.path)!r} holds a run with other settings ({shown}): use another --out, "
                    "or the same settings to resume it"
                )
            saved = json.loads((self.path / "folds.json").read_text(encoding="utf-8"))
            if saved != dict(folds):
                raise ValueError(f"--out {str(self.path)!r} holds another fold assignment (the data changed?)")
            return True
        self.write_text("folds.json", json.dumps(dict(folds), indent=0, sort_keys=True))
        self.write_text("run.json", json.dumps({"settings": dict(settings)}, indent=2))
        return False

    def update_run_json(self, **fields: Any) -> None:
        run_json = self.path / "run.json"
        doc = json.loads(run_json.read_text(encoding="utf-8"))
        doc.update(fields)
        self.write_text("run.json", json.dumps(doc, indent=2, default=str))

    # ----------------------------------------------------------------- folds
    def _fold_base(self, config: str, fold: int) -> Path:
        return self.path / "folds" / config / f"fold-{fold:02d}"

    def fold_done(self, config: str, fold: int) -> bool:
        return self._fold_base(config, fold).with_suffix(".json").is_file()

    def write_fold(self, config: str, fold: int, result: Mapping[str, Any], predictions) -> None:
        rel = self._fold_base(config, fold).relative_to(self.path).as_posix()
        self._write(f"{rel}.parquet", lambda tmp: predictions.to_parquet(tmp, index=False))
        self._write(f"{rel}.json", lambda tmp: tmp.write_text(json.dumps(dict(result), indent=2), encoding="utf-8"))

    def _write(self, rel: str, write: Any) -> None:
        """One file of the run: through the run's manifest (temporary name, then rename); in a
        Ray worker, which has no manifest of its own, through a temporary name as well."""
        if self.owned is not None:
            self.owned.write_with(rel, write)
            return
        path = self.path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            write(Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def read_fold(self, config: str, fold: int):
        import pandas as pd

        base = self._fold_base(config, fold)
        result = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        return result, pd.read_parquet(base.with_suffix(".parquet"))

    # ----------------------------------------------------------------- feature cache
    def features_path(self, config: str) -> Path:
        return self.path / "features" / f"{config}.npz"

    def save_features(self, config: str, **arrays: np.ndarray) -> None:
        rel = self.features_path(config).relative_to(self.path).as_posix()
        self._write(rel, lambda tmp: np.savez(tmp, **arrays))

    def load_features(self, config: str) -> dict[str, np.ndarray] | None:
        path = self.features_path(config)
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # ----------------------------------------------------------------- decode failures
    def save_failures(self, config: str, failures: list[dict]) -> None:
        self._write(f"failures/{config}.json",
                    lambda tmp: tmp.write_text(json.dumps(failures, indent=1), encoding="utf-8"))

    def load_failures(self, config: str) -> list[dict] | None:
        path = self.path / "failures" / f"{config}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    # ----------------------------------------------------------------- models
    def model_dir(self, config: str | None = None, fold: int | None = None) -> Path:
        if config is None:
            return self.path / "model"
        return self.path / "models" / config / f"fold-{fold:02d}"

    def save_model(self, target: Path, model: Any, processor: Any, *, training_rows: Mapping[str, Any]) -> Path:
        """``save_pretrained`` of model and processor into ``target`` with its
        :data:`TRAINING_ROWS_FILE` (``training_rows``: data, config, source ids ...), atomically."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            model.save_pretrained(tmp)
            processor.save_pretrained(tmp)
            (tmp / TRAINING_ROWS_FILE).write_text(json.dumps(dict(training_rows), indent=1), encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return target


