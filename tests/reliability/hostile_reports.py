"""Hostile evaluation reports, shared by ``test_reports_hostile.py`` and the reliability tally.

:func:`report` is a small valid report (per-class accuracies on three scenarios);
:data:`DAMAGED` breaks it in each way the hostile pass found (a JSON list, accuracies of
7.5 and -3, NaN, text, tables that are not objects) with the refusal each must get.
"""

from __future__ import annotations

import json
from pathlib import Path

CLASSES = [{"index": 0, "name": "red", "key": "n01"}, {"index": 1, "name": "blue", "key": "n02"}]
SCENARIOS = ("original", "blur_background", "image_grey")


def report(protocol: str | None = None, *, scale: float = 1.0) -> dict:
    """A small valid report: per-class accuracies on three scenarios (``scale`` multiplies them)."""
    scenarios = {}
    for k, s in enumerate(SCENARIOS):
        per = {c["key"]: {"accuracy": scale * (0.9 - 0.1 * k - 0.05 * i), "n": 10} for i, c in enumerate(CLASSES)}
        scenarios[s] = {"accuracy": scale * (0.875 - 0.1 * k), "n": 20, "per_class": per}
    doc = {"task": "classification", "model": "m", "data": "/data", "metric": "accuracy", "classes": CLASSES,
           "scenarios": scenarios, "provenance": {"data": {"kind": "local", "fingerprint": "sha256:aa"}}}
    if protocol:
        doc.update(protocol=protocol, method="linear-probe", n_folds=12)
    return doc


def folder(root: Path, doc) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "report.json").write_text(json.dumps(doc))
    return root


def _set(path: tuple, value):
    def change(doc: dict) -> dict:
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return doc
    return change


#: name -> (how the report is damaged, the refusal).
DAMAGED = {
    "json_list": (lambda doc: [doc], r"holds a JSON list, not a report"),
    "json_string": (lambda doc: "report", r"holds a JSON string, not a report"),
    "accuracy_7_5": (_set(("scenarios", "image_grey", "accuracy"), 7.5),
                     r"scenario 'image_grey' accuracy is 7\.5: a share of images must lie from 0 to 1"),
    "per_class_accuracy_minus_3": (_set(("scenarios", "original", "per_class", "n01", "accuracy"), -3),
                                   r"scenario 'original' class 'n01' accuracy is -3"),
    "accuracy_nan": (_set(("scenarios", "original", "accuracy"), float("nan")), r"accuracy is nan"),
    "accuracy_text": (_set(("scenarios", "original", "accuracy"), "0.9"), r"expected a number from 0 to 1"),
    "per_class_a_list": (_set(("scenarios", "original", "per_class"), [0.9]), r"per_class is a list"),
    "scenarios_a_list": (_set(("scenarios",), ["original"]), r"'scenarios' is a list"),
    "count_negative": (_set(("scenarios", "original", "per_class", "n01", "n"), -1), r"n is -1: expected a count"),
}
