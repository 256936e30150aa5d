"""A generated hostile corpus for the evaluator, shared by its tests and the reliability tally.

Each case builds a small dataset folder with one defect (a row whose image path points
outside the data, bytes that are a secret rather than an image, a damaged shard, an empty
config, a card pattern leading out, a bad option) and says what the evaluator must do:
``skip`` (the defect is recorded in the report and every good row is still evaluated) or
``error`` (one clear ``ValueError`` before any work). :func:`run_case` runs one case
through ``evaluate_classification`` with a callable model (the real data path, no model
weights) and reports what came of it, including whether a secret reached the report.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

CLASSES = ["alligator lizard", "crayfish"]
KEYS = ["n01689811", "n01985128"]
SECRET = "TOP-SECRET-TOKEN-hf_abcdef0123456789"


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def row(i: int, image: dict | None = None) -> dict:
    """One dataset row with an 8x8 image and mask (``image`` replaces the image value)."""
    rng = np.random.default_rng(i)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255
    return {
        "image": image or {"bytes": png(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)), "path": None},
        "mask": {"bytes": png(mask), "path": None},
        "label": i % 2, "class_key": KEYS[i % 2], "source_id": f"s{i}", "scenario": "x",
        "level": None, "seed": i, "provenance": "{}",
    }


def shard(path: Path, rows: list[dict]) -> Path:
    from ximagenet12.builder.schema import arrow_schema, build_features

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema(build_features(CLASSES))), path)
    return path


def folder(root: Path, configs: dict[str, list[list[dict]]], data_files: dict[str, object] | None = None) -> Path:
    """A built folder: per config a list of shards (each a list of rows) and a card."""
    import yaml

    for config, shards in configs.items():
        for k, rows in enumerate(shards):
            shard(root / "data" / config / f"train-{k:05d}-of-{len(shards):05d}.parquet", rows)
    entries = [{"config_name": c, "data_files": [{"split": "train", "path": (data_files or {}).get(c, f"data/{c}/train-*")}]}
               for c in configs]
    (root / "README.md").write_text("---\n" + yaml.safe_dump({"configs": entries}) + "---\n", encoding="utf-8")
    return root


def crayfish(images):
    """A model in the pipeline's output format that always answers crayfish."""
    return [[{"label": "crayfish", "score": 1.0}] for _ in images]


@dataclass
class EvalCase:
    name: str
    expected: str  # "skip" or "error"
    make: Callable[[Path], Path]  # builds the folder in a temporary directory, returns it
    good_rows: int = 0  # rows the evaluator must still score
    options: dict = field(default_factory=dict)


def _secret_outside(tmp: Path) -> Path:
    path = tmp / "outside" / "token.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SECRET, encoding="utf-8")
    return path


def _path_row(kind: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        secret, root = _secret_outside(tmp), tmp / "built"
        path = {"absolute": str(secret), "dotdot": "../outside/token.txt", "symlink": "data/link.png"}[kind]
        if kind == "symlink":
            (root / "data").mkdir(parents=True)
            (root / "data" / "link.png").symlink_to(secret)
        return folder(root, {"original": [[row(0), row(1, {"bytes": None, "path": path}), row(2)]]})

    return make


def _damaged(damage: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        root = folder(tmp / "built", {"original": [[row(i) for i in range(3)], [row(3), row(4)]],
                                      "image_grey": [[row(i) for i in range(2)]]})
        bad = root / "data" / "original" / "train-00001-of-00002.parquet"
        data = bad.read_bytes()
        bad.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage])
        return root

    return make


CASES: list[EvalCase] = [
    EvalCase("row_path_absolute_outside", "skip", _path_row("absolute"), good_rows=2),
    EvalCase("row_path_dotdot_outside", "skip", _path_row("dotdot"), good_rows=2),
    EvalCase("row_path_symlink_leading_out", "skip", _path_row("symlink"), good_rows=2),
    EvalCase("secret_bytes_instead_of_an_image", "skip", lambda tmp: folder(
        tmp / "built", {"original": [[row(0), row(1, {"bytes": SECRET.encode(), "path": None})]]}), good_rows=1),
    EvalCase("truncated_shard", "skip", _damaged("truncated"), good_rows=5),
    EvalCase("garbage_shard", "skip", _damaged("garbage"), good_rows=5),
    EvalCase("empty_shard_file", "skip", _damaged("empty"), good_rows=5),
    EvalCase("empty_config", "skip", lambda tmp: folder(
        tmp / "built", {"original": [[row(0), row(1)]], "image_grey": [[]]}), good_rows=2),
    EvalCase("card_pattern_leading_out", "error", lambda tmp: folder(
        tmp / "built", {"original": [[row(0)]]}, data_files={"original": "../outside/*"})),
    EvalCase("bad_robustness_config", "error", lambda tmp: folder(tmp / "built", {"original": [[row(0)]]}),
             options={"robustness_config": "tabel3"}),
]


def run_case(case: EvalCase, tmp: Path) -> dict:
    """``{"kind": skip/error/ok/traceback, "rows_lost", "leaked", "note"}`` of one case."""
    from ximagenet12.evaluation.classification import evaluate_classification
    from ximagenet12.evaluation.report import write_report

    root = case.make(tmp)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = evaluate_classification(crayfish, root, progress=False, **case.options)
    except ValueError as exc:
        one_line = "\n" not in str(exc)
        return {"kind": "error" if one_line else "traceback", "rows_lost": 0, "leaked": SECRET in str(exc),
                "note": str(exc)[:160]}
    except Exception as exc:  # noqa: BLE001 - anything else is what the tally counts as a traceback
        return {"kind": "traceback", "rows_lost": 0, "leaked": False, "note": f"{type(exc).__name__}: {exc}"[:160]}
    out = write_report(result, tmp / "report")
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.suffix in (".json", ".md"))
    report = result.report
    recorded = report["n_failed"] + report["n_bad_shards"] + len(report["skipped_configs"])
    scored = sum(e["n"] for e in report["scenarios"].values())
    return {"kind": "skip" if recorded else "ok", "rows_lost": max(case.good_rows - scored, 0),
            "leaked": SECRET in text, "note": ""}
